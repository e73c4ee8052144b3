"""The direct-mode flow: one ``FetchDirect`` (module, file) in, resolution and repository
queries out, and the proxy answer (or a zip plan) back; driven with an in-memory repository."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fakegit import FakeRepo

from goproxy_core import InvalidPathError, PrefixPatterns
from goproxy_core.direct import (
    DirectBody,
    DirectError,
    DirectZip,
    OpenRepo,
    ProbeRepo,
    RepoRoot,
    UnsupportedVCSError,
    direct_flow,
    zip_from_archive,
)

HOST = "git.example.test"
MOD = f"{HOST}/team/repo.git"


@pytest.mark.parametrize(
    ("module", "file", "err"),
    [
        (MOD, "", DirectError),
        (MOD, "v1.0.0", DirectError),
        (MOD, ".info", DirectError),
        ("example.com/a//b", "list", InvalidPathError),
    ],
)
def test_bad_requests_are_refused_before_any_lookup(module, file, err):
    with pytest.raises(err):
        next(direct_flow(module, file))


def _repo() -> FakeRepo:
    r = FakeRepo()
    c1 = r.commit({"go.mod": f"module {MOD}\n".encode(), "a.go": b"package a\n"}, time=1704067200)
    r.tag("v1.0.0", c1)
    r.commit({"b.go": b"package a\n"}, time=1704070800, keep=True)
    return r


def _drive(file: str, repo: FakeRepo) -> object:
    """Run the flow for ``file`` of MOD: the https probe answers, then the repository does."""
    flow = direct_flow(MOD, file, PrefixPatterns(""))
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
    got = _drive("list", repo)
    assert got == DirectBody(b"v1.0.0\n", "text/plain; charset=utf-8")
    latest = _drive("latest", repo)
    assert isinstance(latest, DirectBody) and latest.content_type == "application/json"
    assert json.loads(latest.body)["Version"].startswith("v1.0.1-0.20240101010000-")
    info = _drive("v1.0.0.info", repo)
    assert json.loads(info.body)["Version"] == "v1.0.0"
    assert json.loads(info.body)["Origin"]["Ref"] == "refs/tags/v1.0.0"
    mod = _drive("v1.0.0.mod", repo)
    assert mod.body == f"module {MOD}\n".encode()


def test_zip_plan_and_build():
    repo = _repo()
    plan = _drive("v1.0.0.zip", repo)
    assert isinstance(plan, DirectZip) and plan.module == MOD and plan.version == "v1.0.0"
    out = io.BytesIO()
    zip_from_archive(MOD, "v1.0.0", plan.plan, io.BytesIO(repo.archive(plan.plan.rev)), out)
    names = sorted(zipfile.ZipFile(out).namelist())
    assert names == [f"{MOD}@v1.0.0/a.go", f"{MOD}@v1.0.0/go.mod"]


def test_not_a_protocol_file():
    with pytest.raises(DirectError, match="not a proxy protocol file"):
        _drive("v1.0.0.txt", _repo())


def test_other_version_control_systems_are_refused():
    flow = direct_flow("example.com/r.hg", "list")
    q = next(flow)
    assert isinstance(q, ProbeRepo) and q.vcs == "hg"
    with pytest.raises(UnsupportedVCSError, match="hg"):
        flow.send(True)
