"""The direct-mode flow: one ``direct:`` fetch URL in, resolution and repository queries out,
and the proxy answer (or a zip plan) back; driven here with an in-memory repository."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fakegit import FakeRepo

from goproxy_core import InvalidPathError, InvalidVersionError, PrefixPatterns
from goproxy_core.direct import (
    DIRECT_PREFIX,
    DirectBody,
    DirectError,
    DirectRequest,
    DirectZip,
    OpenRepo,
    ProbeRepo,
    RepoRoot,
    UnsupportedVCSError,
    direct_flow,
    parse_direct_url,
    zip_from_archive,
)

HOST = "git.example.test"
MOD = f"{HOST}/team/repo.git"


@pytest.mark.parametrize(
    ("url", "want"),
    [
        (f"direct:{MOD}/@v/list", DirectRequest(MOD, "list")),
        (f"direct:{MOD}/@latest", DirectRequest(MOD, "latest")),
        (f"direct:{MOD}/@v/v1.0.0.info", DirectRequest(MOD, "v1.0.0.info")),
        (
            "direct:example.com/!upper/@v/v1.0.0-!r!c.zip",
            DirectRequest("example.com/Upper", "v1.0.0-RC.zip"),
        ),
    ],
)
def test_parse(url, want):
    assert parse_direct_url(url) == want


@pytest.mark.parametrize(
    ("url", "err"),
    [
        (f"https://up.example/{MOD}/@v/list", DirectError),
        (f"direct:{MOD}", DirectError),
        (f"direct:{MOD}/@v/", DirectError),
        (f"direct:{MOD}/@v/a/b.info", DirectError),
        ("direct:example.com/Upper/@v/list", InvalidPathError),
        (f"direct:{MOD}/@v/v1.0.0-R.info", InvalidVersionError),
    ],
)
def test_parse_errors(url, err):
    with pytest.raises(err):
        parse_direct_url(url)


def _repo() -> FakeRepo:
    r = FakeRepo()
    c1 = r.commit({"go.mod": f"module {MOD}\n".encode(), "a.go": b"package a\n"}, time=1704067200)
    r.tag("v1.0.0", c1)
    r.commit({"b.go": b"package a\n"}, time=1704070800, keep=True)
    return r


def _drive(url: str, repo: FakeRepo) -> object:
    """Run the flow: the https probe answers, then the repository answers everything."""
    flow = direct_flow(url, PrefixPatterns(""))
    answer: object = None
    opened = None
    try:
        while True:
            q = flow.send(answer)
            if isinstance(q, ProbeRepo):
                answer = q.url.startswith("https://")
            elif isinstance(q, OpenRepo):
                opened = q.root
                answer = None
            else:
                assert opened is not None
                answer = repo.answer(q)
    except StopIteration as stop:
        assert opened == RepoRoot(root=MOD, url=f"https://{HOST}/team/repo", vcs="git")
        return stop.value


def test_list_latest_info_mod():
    repo = _repo()
    got = _drive(f"{DIRECT_PREFIX}{MOD}/@v/list", repo)
    assert got == DirectBody(b"v1.0.0\n", "text/plain; charset=utf-8")
    latest = _drive(f"{DIRECT_PREFIX}{MOD}/@latest", repo)
    assert isinstance(latest, DirectBody) and latest.content_type == "application/json"
    assert json.loads(latest.body)["Version"].startswith("v1.0.1-0.20240101010000-")
    info = _drive(f"{DIRECT_PREFIX}{MOD}/@v/v1.0.0.info", repo)
    assert json.loads(info.body)["Version"] == "v1.0.0"
    assert json.loads(info.body)["Origin"]["Ref"] == "refs/tags/v1.0.0"
    mod = _drive(f"{DIRECT_PREFIX}{MOD}/@v/v1.0.0.mod", repo)
    assert mod.body == f"module {MOD}\n".encode()


def test_zip_plan_and_build():
    repo = _repo()
    plan = _drive(f"{DIRECT_PREFIX}{MOD}/@v/v1.0.0.zip", repo)
    assert isinstance(plan, DirectZip) and plan.module == MOD and plan.version == "v1.0.0"
    out = io.BytesIO()
    zip_from_archive(MOD, "v1.0.0", plan.plan, io.BytesIO(repo.archive(plan.plan.rev)), out)
    names = sorted(zipfile.ZipFile(out).namelist())
    assert names == [f"{MOD}@v1.0.0/a.go", f"{MOD}@v1.0.0/go.mod"]


def test_not_a_protocol_file():
    with pytest.raises(DirectError, match="not a proxy protocol file"):
        _drive(f"{DIRECT_PREFIX}{MOD}/@v/v1.0.0.txt", _repo())


def test_other_version_control_systems_are_refused():
    flow = direct_flow(f"{DIRECT_PREFIX}example.com/r.hg/@v/list")
    q = next(flow)
    assert isinstance(q, ProbeRepo) and q.vcs == "hg"
    with pytest.raises(UnsupportedVCSError, match="hg"):
        flow.send(True)
