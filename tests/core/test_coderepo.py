"""Direct mode (``_coderepo``): golang/go modfetch coderepo_test.go cases on in-memory repos.

The repositories of the go command's own tests (``testdata/vcstest/git``: vgotest1,
odd-tags, semver-branch, v2sub, retract-pseudo, commit-after-tag, no-tags, gitreposubdir)
are rebuilt in :mod:`fakegit` with the same commit hashes and times, under our own host names,
so the expected versions, pseudo-versions and error texts are Go's.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import zipfile

import msgspec
import pytest
from fakegit import FakeRepo, Link, run, ts

from goproxy_core import LocalProtocolError, error_status
from goproxy_core.direct import (
    CodeRepo,
    CodeRepoError,
    GitLatest,
    GitReadFile,
    GitStat,
    GitTags,
    Origin,
    RepoFileError,
    RevInfo,
    RevResult,
    TagList,
    ZipPlan,
    tag_sum,
    zip_from_archive,
)
from goproxy_core.zip import SourceFile, ZipError, create_zip

HOST = "git.example.test"
V1 = f"{HOST}/rsc/vgotest1"
URL = f"https://{V1}"

# --- the repositories ---------------------------------------------------------------------

LICENSE = b"Copyright (c) 2018 The Authors. All rights reserved.\n"
README = b"This is a test repo for versioned go.\n"


def vgotest1() -> FakeRepo:
    """testdata/vcstest/git/vgotest1.txt, module paths moved to our host."""
    r = FakeRepo(head="master")
    init = r.commit(
        {"LICENSE": LICENSE, "README.md": README}, time="2018-02-19T17:21:09-05:00", branch=None
    )
    p = r.commit(
        {"pkg/p.go": b"package p // pkg/p.go\n"},
        time="2018-02-19T18:10:06-05:00",
        parents=(init,),
        branch=None,
        keep=True,
        hash="80d85c5d4d17598a0e9055e7c175a32b415d6128",
    )
    for t in ("v0.0.0", "v1.0.0", "mytag"):
        r.tag(t, p)
    # The v2 line.
    prev = p
    for when, files, tag, h in [
        (
            "18:14:23",
            {"go.mod": f'module "{V1}/v2" // root go.mod\n'.encode()},
            "v2.0.1",
            "ea65f87c8f52c15ea68f3bdd9925ef17e20d91e9",
        ),
        (
            "18:15:11",
            {"submod/pkg/p.go": b"package p // submod/pkg/p.go\n"},
            "v2.0.2",
            "f7b23352af1cd750b11e4673b20b24c2d239430a",
        ),
        (
            "18:16:04",
            {"v2/go.mod": f'module "{HOST}/rsc/vgotest" // v2/go.mod\n'.encode()},
            "v2.0.3",
            "f18795870fb14388a21ef3ebc1d75911c8694f31",
        ),
        (
            "19:03:38",
            {"v2/go.mod": f'module "{V1}/v2" // v2/go.mod\n'.encode()},
            "v2.0.4",
            "1f863feb76bc7029b78b21c5375644838962f88d",
        ),
        (
            "19:03:59",
            {"go.mod": f'module "{V1}" // root go.mod\n'.encode()},
            "v2.0.5",
            "2f615117ce481c8efef46e0cc0b4b4dccfac8fea",
        ),
    ]:
        prev = r.commit(
            files,
            time=f"2018-02-19T{when}-05:00",
            parents=(prev,),
            branch=None,
            keep=True,
            hash=h,
        )
        r.tag(tag, prev)
    # The v1 line, from mytag.
    prev = p
    root_gomod = f'module "{V1}" // root go.mod\n'.encode()
    submod_gomod = f'module "{HOST}/vgotest1/submod" // submod/go.mod\n'.encode()
    for when, files, tags, h in [
        (
            "18:10:28",
            {"go.mod": root_gomod},
            ["v0.0.1", "v1.0.1"],
            "5a115c66393dd8c4a5cc3215653850d7f5640d0e",
        ),
        (
            "18:11:28",
            {"submod/pkg/p.go": b"package pkg // submod/pkg/p.go\n"},
            ["v1.0.2"],
            "2e38a1a347ba4d9e9946ec0ce480710ff445c919",
        ),
        (
            "18:12:07",
            {"submod/go.mod": submod_gomod},
            ["v1.0.3", "submod/v1.0.4"],
            "8afe2b2efed96e0880ecd2a69b98a53b8c2738b6",
        ),
        (
            "18:12:59",
            {"submod/go.mod": submod_gomod + f'require "{HOST}/vgotest1" v1.1.0\n'.encode()},
            ["submod/v1.0.5"],
            "70fd92eaa4dacf82548d0c6099f5b853ae2c1fc8",
        ),
        (
            "18:13:36",
            {"go.mod": root_gomod + f'require "{V1}/submod" v1.0.5\n'.encode()},
            ["v1.1.0"],
            "b769f2de407a4db81af9c5de0a06016d60d2ea09",
        ),
    ]:
        prev = r.commit(
            files,
            time=f"2018-02-19T{when}-05:00",
            parents=(prev,),
            branch=None,
            keep=True,
            hash=h,
        )
        for t in tags:
            r.tag(t, prev)
    # master.
    r.branch("master", init)
    for when, files in [
        ("17:23:01", {"pkg/p.go": b"package pkg\n"}),
        ("17:30:23", {"go.mod": f'module "{HOST}/vgotest1/v2"\n'.encode()}),
        ("17:30:45", {"go.mod": f'module "{HOST}/vgotest1"\n'.encode()}),
        ("17:31:34", {"v2/go.mod": f'module "{HOST}/vgotest1/v2"\n'.encode()}),
    ]:
        r.commit(files, time=f"2018-02-19T{when}-05:00", branch="master", keep=True)
    tip = r.commit(
        {"go.mod": f'module "{HOST}/vgotest1/v2"\n'.encode()},
        time="2018-02-19T17:32:37-05:00",
        branch="master",
        keep=True,
        hash="a08abb797a6764035a9314ed5f1d757e0224f3bf",
    )
    v206 = r.commit(
        {"README.md": README + b"v2.0.6\n", "v2/pkg/q.go": b"package q\n"},
        time="2018-02-19T17:51:24-05:00",
        parents=(tip,),
        branch=None,
        keep=True,
        hash="a01a0aef06cbd571294fc5451788cd4eadbfd651",
    )
    r.tag("v2.0.6", v206)
    v200 = r.commit(
        {"pkg/p.go": b"package p // pkg/p.go\n"},
        time="2018-07-18T21:21:27-04:00",
        parents=(init,),
        branch=None,
        keep=True,
        hash="45f53230a74ad275c7127e117ac46914c8126160",
    )
    r.tag("v2.0.0", v200)
    return r


ODD = f"{HOST}/git/odd-tags.git"


def odd_tags() -> FakeRepo:
    r = FakeRepo()
    c1 = r.commit(
        {"README.txt": b"This module lacks a go.mod file.\n"},
        time="2022-02-23T13:48:02-05:00",
        hash="12d19af204585b0db3d2a876ceddf5b9323f5a4a",
    )
    r.tag("v2.0.0+incompatible", c1)
    c2 = r.commit(
        {"go.mod": f"module {ODD}\n\ngo 1.18\n".encode()},
        time="2022-02-23T13:48:35-05:00",
        hash="9d863d525bbfcc8eda09364738c4032393711a56",
    )
    r.tag("v0.1.0+build-metadata", c2)
    r.branch("v3-dev", c2)
    c3 = r.commit(
        {"go.mod": f"module {ODD}/v3\n\ngo 1.18\n".encode()},
        time="2022-02-23T14:41:55-05:00",
        branch="v3-dev",
        hash="cce3d0f5d2ec85678cca3c45ac4a87f3be5efaca",
    )
    r.tag("v3.0.0-20220223184802-12d19af20458", c3)
    return r


SEMVER_BRANCH = f"{HOST}/git/semver-branch.git"


def semver_branch() -> FakeRepo:
    r = FakeRepo()
    gomod = f"module {SEMVER_BRANCH}\n\ngo 1.16\n".encode()
    s1 = r.commit(
        {"go.mod": gomod, "pkg/pkg.go": b"package pkg\n"},
        time="2022-02-02T14:15:21-05:00",
        hash="33ea7ee36f3e3f44f528664b3712c9fa0cef7502",
    )
    r.tag("v0.1.0", s1)
    r.branch("v1.0.0", s1)
    r.branch("v2.0.0", s1)
    r.commit(
        {"pkg/pkg.go": b'package pkg\n\nfunc init() {\n\tpanic("TODO")\n}\n'},
        time="2022-02-02T14:19:44-05:00",
        branch="v1.0.0",
        keep=True,
        hash="09c4d8f6938c7b5eeae46858a72712b8700fa46a",
    )
    r.branch("v3.0.0-devel", "v1.0.0")
    s3 = r.commit(
        {"pkg/pkg.go": b"package pkg\n"},
        time="2022-02-03T10:53:13-05:00",
        branch="v3.0.0-devel",
        keep=True,
        hash="d59622f6e4d77f008819083582fde71ea1921b0c",
    )
    r.tag("v4.0.0-beta.1", s3)
    return r


V2SUB = f"{HOST}/git/v2sub.git"


def v2sub() -> FakeRepo:
    r = FakeRepo()
    c1 = r.commit(
        {
            "v2sub.go": b"package v2sub\n",
            "v2/go.mod": f"module {V2SUB}/v2\n\ngo 1.16\n".encode(),
            "v2/v2sub.go": b"package v2sub\n",
        },
        time="2022-02-22T15:53:33-05:00",
        hash="5fcd3eaeeb391d399f562fd45a50dac9fc34ae8b",
    )
    r.tag("v2.0.0", c1)
    r.commit(
        {"README.txt": b"This root module lacks a go.mod file.\n"},
        time="2022-02-22T15:55:07-05:00",
        keep=True,
        hash="80beb17a16036f17a5aedd1bb5bd6d407b3c6dc5",
    )
    return r


RETRACT = f"{HOST}/git/retract-pseudo.git"


def retract_pseudo() -> FakeRepo:
    r = FakeRepo()
    c1 = r.commit(
        {
            "go.mod": f"module {RETRACT}\n\ngo 1.16\n\nretract v1.0.0\n".encode(),
            "p.go": b"package p\n",
        },
        time="2020-10-09T13:37:47-04:00",
        hash="64c061ed4371ef372b6bbfd58ee32015d6bfc3e5",
    )
    r.tag("v1.0.0", c1)
    r.commit(
        {"p.go": None, "q.go": b"package p\n"},
        time="2020-10-09T13:37:47-04:00",
        keep=True,
        hash="713affd19d7b9b6dc876b603017f3dcaab8ba674",
    )
    return r


def cr(path: str, root: str | None = None, **kw) -> CodeRepo:
    root = root or path
    return CodeRepo(path, root, f"https://{root}", **kw)


def vg(path: str = "") -> CodeRepo:
    return cr(V1 + path, V1)


# --- Stat ---------------------------------------------------------------------------------

T1006 = ts("2018-02-19T23:10:06Z")

STAT = [
    # (module path suffix, rev, version or None, full hash or error text)
    ("", "v0.0.0", "v0.0.0", "80d85c5d4d17598a0e9055e7c175a32b415d6128"),
    (
        "",
        "v0.0.0-20180219231006-80d85c5d4d17",
        "v0.0.0-20180219231006-80d85c5d4d17",
        "80d85c5d4d17598a0e9055e7c175a32b415d6128",
    ),
    (
        "",
        "v0.0.1-0.20180219231006-80d85c5d4d17",
        None,
        f"{V1}@v0.0.1-0.20180219231006-80d85c5d4d17: invalid pseudo-version: tag (v0.0.0) found "
        "on revision 80d85c5d4d17 is already canonical, so should not be replaced with a "
        "pseudo-version derived from that tag",
    ),
    ("", "v1.0.0", "v1.0.0", "80d85c5d4d17598a0e9055e7c175a32b415d6128"),
    (
        "/v2",
        "v2.0.0",
        None,
        f"{V1}/v2@v2.0.0: invalid version: missing {V1}/go.mod and .../v2/go.mod at revision "
        "v2.0.0",
    ),
    ("", "80d85c5", "v1.0.0", "80d85c5d4d17598a0e9055e7c175a32b415d6128"),
    ("", "mytag", "v1.0.0", "80d85c5d4d17598a0e9055e7c175a32b415d6128"),
    (
        "/v2",
        "45f53230a",
        None,
        f"{V1}/v2@v2.0.0: invalid version: missing {V1}/go.mod and .../v2/go.mod at revision "
        "v2.0.0",
    ),
    (
        "/v54321",
        "80d85c5",
        None,
        f"{V1}/v54321@v54321.0.0-20180219231006-80d85c5d4d17: invalid version: missing "
        f"{V1}/go.mod and .../v54321/go.mod at revision 80d85c5d4d17",
    ),
    (
        "/submod",
        "v1.0.0",
        None,
        f"{V1}/submod@v1.0.0: invalid version: unknown revision submod/v1.0.0",
    ),
    (
        "/submod",
        "v1.0.3",
        None,
        f"{V1}/submod@v1.0.3: invalid version: unknown revision submod/v1.0.3",
    ),
    ("/submod", "v1.0.4", "v1.0.4", "8afe2b2efed96e0880ecd2a69b98a53b8c2738b6"),
    ("", "v1.1.0", "v1.1.0", "b769f2de407a4db81af9c5de0a06016d60d2ea09"),
    ("/v2", "v2.0.1", "v2.0.1", "ea65f87c8f52c15ea68f3bdd9925ef17e20d91e9"),
    (
        "/v2",
        "v2.0.3",
        None,
        f'{V1}/v2@v2.0.3: invalid version: {V1}/v2/go.mod has non-.../v2 module path "{HOST}/'
        'rsc/vgotest" at revision v2.0.3',
    ),
    (
        "/v2",
        "v2.0.4",
        None,
        f"{V1}/v2@v2.0.4: invalid version: {V1}/go.mod and .../v2/go.mod both have .../v2 "
        "module paths at revision v2.0.4",
    ),
    ("/v2", "v2.0.5", "v2.0.5", "2f615117ce481c8efef46e0cc0b4b4dccfac8fea"),
    (
        "/v2",
        "v2.0.6",
        None,
        f"{V1}/v2@v2.0.6: invalid version: {V1}/go.mod and .../v2/go.mod both have .../v2 "
        "module paths at revision v2.0.6",
    ),
    # The master tip has no tags in its history: a v0.0.0 pseudo-version, and a bad go.mod.
    (
        "",
        "master",
        None,
        f"{V1}@v0.0.0-20180219223237-a08abb797a67: invalid version: go.mod has post-v0 module "
        f'path "{HOST}/vgotest1/v2" at revision a08abb797a67',
    ),
    ("", "nonesuch", None, f"{V1}@nonesuch: invalid version: unknown revision nonesuch"),
]


@pytest.mark.parametrize(("suffix", "rev", "version", "want"), STAT)
def test_stat_vgotest1(suffix, rev, version, want):
    repo = vgotest1()
    if version is None:
        with pytest.raises(CodeRepoError) as e:
            run(vg(suffix).stat(rev), repo)
        assert str(e.value) == want
        assert error_status(e.value) == 404
        return
    got = run(vg(suffix).stat(rev), repo)
    assert got.version == version
    assert got.origin is not None
    assert got.origin.hash == want
    assert got.time == repo.commits[want].time


def test_stat_time_and_origin():
    repo = vgotest1()
    got = run(vg().stat("v0.0.0"), repo)
    assert got.time == T1006
    assert got.origin == Origin(
        vcs="git",
        url=URL,
        hash="80d85c5d4d17598a0e9055e7c175a32b415d6128",
        ref="refs/tags/v0.0.0",
    )
    sub = run(vg("/submod").stat("v1.0.4"), repo)
    assert sub.origin is not None
    assert sub.origin.subdir == "submod"
    assert sub.origin.ref == "refs/tags/submod/v1.0.4"
    assert sub.time == ts("2018-02-19T23:12:07Z")


def test_stat_subdirectory_tag_name():
    # A tag given with its directory prefix resolves too.
    got = run(vg("/submod").stat("submod/v1.0.5"), vgotest1())
    assert got.version == "v1.0.5"


# --- GoMod and Zip ------------------------------------------------------------------------

GOMOD = [
    ("/submod", "v1.0.4", f'module "{HOST}/vgotest1/submod" // submod/go.mod\n'),
    ("", "v1.1.0", f'module "{V1}" // root go.mod\nrequire "{V1}/submod" v1.0.5\n'),
    ("/v2", "v2.0.1", f'module "{V1}/v2" // root go.mod\n'),
    ("/v2", "v2.0.5", f'module "{V1}/v2" // v2/go.mod\n'),
    ("", "v1.0.0", f"module {V1}\n"),  # no go.mod: the synthesized one
    ("", "v0.0.0-20180219231006-80d85c5d4d17", f"module {V1}\n"),
]


@pytest.mark.parametrize(("suffix", "version", "want"), GOMOD)
def test_go_mod(suffix, version, want):
    assert run(vg(suffix).go_mod(version), vgotest1()) == want.encode()


GOMOD_ERRORS = [
    ("", "v1.0", "version v1.0 is not canonical"),
    ("", "v1.0.0+meta", "version v1.0.0+meta is not canonical"),
    ("", "v1.9.9", f"{V1}@v1.9.9: invalid version: unknown revision v1.9.9"),
    ("", "v2.0.0", f"{V1}@v2.0.0: invalid version: should be v0 or v1, not v2"),
    ("/v2", "v1.0.0", f"{V1}/v2@v1.0.0: invalid version: should be v2, not v1"),
    (
        "",
        "v0.0.1-0.20180219231006-80d85c5d4d17",
        f"{V1}@v0.0.1-0.20180219231006-80d85c5d4d17: invalid pseudo-version: tag (v0.0.0) found "
        "on revision 80d85c5d4d17 is already canonical, so should not be replaced with a "
        "pseudo-version derived from that tag",
    ),
    (
        "/v2",
        "v2.0.4",
        f"{V1}/v2@v2.0.4: invalid version: {V1}/go.mod and .../v2/go.mod both have .../v2 "
        "module paths at revision v2.0.4",
    ),
    # Tagged v2 with a go.mod claiming /v2, so not an +incompatible version of the root
    # module (Go names the tag's version in this message).
    (
        "",
        "v2.0.1+incompatible",
        f'{V1}@v2.0.1: invalid version: go.mod has post-v2 module path "{V1}/v2" at revision '
        "v2.0.1",
    ),
]


@pytest.mark.parametrize(("suffix", "version", "want"), GOMOD_ERRORS)
def test_go_mod_errors(suffix, version, want):
    with pytest.raises(CodeRepoError) as e:
        run(vg(suffix).go_mod(version), vgotest1())
    assert str(e.value) == want
    with pytest.raises(CodeRepoError) as e:
        run(vg(suffix).zip_plan(version), vgotest1())
    assert str(e.value) == want


def _h1(path: str, version: str, files: dict[str, bytes]) -> str:
    src = [
        SourceFile(name, len(data), (lambda d=data: io.BytesIO(d))) for name, data in files.items()
    ]
    return create_zip(path, version, src, io.BytesIO())


def _zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.namelist()


def _module_zip(repo: FakeRepo, mod: str, plan: ZipPlan, version: str) -> tuple[str, bytes]:
    out = io.BytesIO()
    archive = io.BytesIO(repo.archive(plan.rev, plan.subdir))
    h1 = zip_from_archive(mod, version, plan, archive, out)
    return h1, out.getvalue()


ZIPS = [
    ("", "v0.0.0", "", ["LICENSE", "README.md", "pkg/p.go"]),
    ("", "v1.0.0", "", ["LICENSE", "README.md", "pkg/p.go"]),
    # submod/ holds another module: left out.
    ("", "v1.1.0", "", ["LICENSE", "README.md", "go.mod", "pkg/p.go"]),
    ("/submod", "v1.0.4", "submod", ["go.mod", "pkg/p.go", "LICENSE"]),
    ("/v2", "v2.0.1", "", ["LICENSE", "README.md", "go.mod", "pkg/p.go"]),
    ("/v2", "v2.0.5", "v2", ["go.mod", "LICENSE"]),
]


@pytest.mark.parametrize(("suffix", "version", "subdir", "names"), ZIPS)
def test_zip(suffix, version, subdir, names):
    repo = vgotest1()
    mod = V1 + suffix
    plan = run(vg(suffix).zip_plan(version), repo)
    assert plan.subdir == subdir
    tree = repo.commits[plan.rev].tree
    assert plan.rev == run(vg(suffix).stat(version), repo).origin.hash
    assert plan.root_license == (LICENSE if subdir else None)
    h1, data = _module_zip(repo, mod, plan, version)
    assert _zip_names(data) == [f"{mod}@{version}/{n}" for n in names]
    prefix = subdir + "/" if subdir else ""
    want = {n: tree.get(prefix + n) or tree[n] for n in names}
    assert h1 == _h1(mod, version, want)


# --- Versions -----------------------------------------------------------------------------

VERSIONS = [
    ("", "", ["v0.0.0", "v0.0.1", "v1.0.0", "v1.0.1", "v1.0.2", "v1.0.3", "v1.1.0"]),
    ("", "v1.0", ["v1.0.0", "v1.0.1", "v1.0.2", "v1.0.3"]),
    ("/v2", "", ["v2.0.0", "v2.0.1", "v2.0.2", "v2.0.3", "v2.0.4", "v2.0.5", "v2.0.6"]),
    ("/submod", "", ["v1.0.4", "v1.0.5"]),
    ("/v3", "", []),
]


@pytest.mark.parametrize(("suffix", "prefix", "want"), VERSIONS)
def test_versions_vgotest1(suffix, prefix, want):
    assert run(vg(suffix).versions(prefix), vgotest1()) == want


def test_versions_odd_tags():
    # v2.0.0+incompatible and v0.1.0+build-metadata are not canonical; the v3 tag looks
    # like a pseudo-version.
    assert run(cr(ODD).versions(), odd_tags()) == []


def test_versions_non_canonical_semver():
    # coderepo_test.go TestNonCanonicalSemver.
    r = FakeRepo()
    c = r.commit({"a.go": b"package a\n"}, time=1)
    for t in ["huh?", "1.0.1", "v1.🐕.🐄", "v1", "v0.1", "v1.0.1"]:
        r.tag(t, c)
    assert run(cr(f"{HOST}/x/issue24476").versions(), r) == ["v1.0.1"]


def _incompatible_repo(gomods: dict[str, bool]) -> FakeRepo:
    """One commit per tag, with or without a go.mod."""
    r = FakeRepo()
    for tag, has_go_mod in gomods.items():
        files: dict[str, bytes | None] = {"a.go": b"package a\n"}
        files["go.mod"] = f"module {HOST}/inc\n".encode() if has_go_mod else None
        c = r.commit(files, time=ts("2020-01-01T00:00:00Z") + len(r.commits), keep=True)
        r.tag(tag, c)
    return r


INCOMPATIBLE = [
    # No compatible versions; v2 and v3 without go.mod.
    (
        {"v2.0.0": False, "v2.1.0": False, "v3.0.0": False},
        ["v2.0.0+incompatible", "v2.1.0+incompatible", "v3.0.0+incompatible"],
    ),
    # The latest compatible version has a go.mod: no +incompatible versions at all.
    ({"v1.0.0": True, "v2.0.0": False}, ["v1.0.0"]),
    # ... but only the latest one counts.
    (
        {"v1.0.0": True, "v1.1.0": False, "v2.0.0": False},
        ["v1.0.0", "v1.1.0", "v2.0.0+incompatible"],
    ),
    # A major version whose latest tag has a go.mod is dropped whole.
    (
        {"v1.0.0": False, "v2.0.0": False, "v2.1.0": True, "v3.0.0": True, "v3.0.1": False},
        ["v1.0.0", "v3.0.0+incompatible", "v3.0.1+incompatible"],
    ),
]


@pytest.mark.parametrize(("gomods", "want"), INCOMPATIBLE)
def test_versions_incompatible(gomods, want):
    assert run(cr(f"{HOST}/inc").versions(), _incompatible_repo(gomods)) == want


def test_versions_incompatible_only_at_root_unsuffixed():
    r = _incompatible_repo({"v2.0.0": False})
    r.tag("sub/v2.0.0", "v2.0.0")
    assert run(cr(f"{HOST}/inc/sub", f"{HOST}/inc").versions(), r) == []
    assert run(cr(f"{HOST}/inc/v2", f"{HOST}/inc").versions(), r) == ["v2.0.0"]


def test_versions_v2sub():
    # Only the root go.mod is consulted for the list (the tag is unusable for stat).
    assert run(cr(V2SUB).versions(), v2sub()) == ["v2.0.0+incompatible"]


def test_versions_gopkg_in_unstable():
    r = _incompatible_repo({"v2.0.0": False})
    assert run(cr("gopkg.in/macaroon-bakery.v2-unstable").versions(), r) == []
    assert r.queries == []


# --- Latest -------------------------------------------------------------------------------

LATEST = [
    (
        "",
        f"{V1}@v0.0.0-20180219223237-a08abb797a67: invalid version: go.mod has post-v0 module "
        f'path "{HOST}/vgotest1/v2" at revision a08abb797a67',
    ),
    (
        "/v2",
        f"{V1}/v2@v2.0.0-20180219223237-a08abb797a67: invalid version: {V1}/go.mod and .../v2/"
        "go.mod both have .../v2 module paths at revision a08abb797a67",
    ),
    (
        "/subdir",
        f"{V1}/subdir@v0.0.0-20180219223237-a08abb797a67: invalid version: missing {V1}/subdir/"
        "go.mod at revision a08abb797a67",
    ),
]


@pytest.mark.parametrize(("suffix", "want"), LATEST)
def test_latest_vgotest1(suffix, want):
    with pytest.raises(CodeRepoError) as e:
        run(vg(suffix).latest(), vgotest1())
    assert str(e.value) == want
    with pytest.raises(CodeRepoError) as e:
        run(vg(suffix).stat("latest"), vgotest1())
    assert str(e.value) == want


def test_latest_empty_repository():
    r = FakeRepo()
    with pytest.raises(CodeRepoError) as e:
        run(cr(f"{HOST}/rsc/empty").latest(), r)
    assert str(e.value) == f"module {HOST}/rsc/empty: no commits"


def test_latest_commit_after_tag():
    mod = f"{HOST}/git/commit-after-tag.git"
    r = FakeRepo(head="master")
    gomod = f"module {mod}\n\ngo 1.13\n".encode()
    c = r.commit(
        {"go.mod": gomod, "main.go": b"package main\n\nfunc main() {}\n"},
        time="2019-07-15T17:16:47-04:00",
        branch="master",
        hash="8da67e0" + "1" * 33,
    )
    r.tag("v1.0.0", c)
    r.commit(
        {"main.go": b"package main\n\nfunc main() {}\nfunc init() {}\n"},
        time="2019-07-15T17:17:27-04:00",
        branch="master",
        keep=True,
        hash="b325d8217783" + "2" * 28,
    )
    got = run(cr(mod).latest(), r)
    assert got.version == "v1.0.1-0.20190715211727-b325d8217783"
    assert got.origin is not None
    assert got.origin.ref == "HEAD"
    assert got.origin.tag_prefix == ""
    assert got.origin.tag_sum == tag_sum("", TagList((("v1.0.0", c),)))


def test_latest_no_tags():
    mod = f"{HOST}/git/no-tags.git"
    r = FakeRepo(head="master")
    r.commit(
        {"go.mod": f"module {mod}\n\ngo 1.13\n".encode(), "main.go": b"package main\n"},
        time="2019-07-15T17:20:47-04:00",
        branch="master",
        hash="e706ba1d9f6d" + "3" * 28,
    )
    got = run(cr(mod).latest(), r)
    assert got.version == "v0.0.0-20190715212047-e706ba1d9f6d"
    # A pseudo-version for "latest" depends on the tags, even with none yet.
    assert got.origin is not None
    assert got.origin.tag_sum == tag_sum("", TagList(()))


def test_latest_subdir_from_go_import():
    # testdata/vcstest/go/gitreposubdir: go-import meta with subdir "foo/subdir".
    mod = f"{HOST}/go/gitreposubdir"
    r = FakeRepo(head="master")
    c = r.commit(
        {
            "foo/subdir/go.mod": f"module {mod}\n\ngo 1.23\n".encode(),
            "foo/subdir/hello.go": b"package greeter\n",
        },
        time="2019-10-07T14:15:32-04:00",
        branch="master",
    )
    r.tag("foo/subdir/v1.2.3", c)
    repo = CodeRepo(mod, mod, f"https://{HOST}/git/gitreposubdir", subdir="foo/subdir")
    got = run(repo.latest(), r)
    assert got.version == "v1.2.3"
    assert got.origin is not None
    assert got.origin.subdir == "foo/subdir"
    assert run(repo.versions(), r) == ["v1.2.3"]
    plan = run(repo.zip_plan("v1.2.3"), r)
    assert plan == ZipPlan(rev=c, subdir="foo/subdir")
    # Tags of other directories in the history are no pseudo-version base.
    r.tag("v9.0.0", c)
    d = r.commit(
        {"foo/subdir/x.go": b"package greeter\n"},
        time=ts("2019-10-08T00:00:00Z"),
        branch="master",
        keep=True,
    )
    assert run(repo.stat(d), r).version == f"v1.2.4-0.20191008000000-{d[:12]}"


def test_latest_subdir_v2_from_go_import():
    # testdata/vcstest/go/gitreposubdirv2: the meta tag names the whole /v2 path.
    mod = f"{HOST}/go/gitreposubdirv2/v2"
    r = FakeRepo(head="master")
    c = r.commit(
        {
            "subdir/go.mod": f"module {mod}\n\ngo 1.23\n".encode(),
            "subdir/hello.go": b"package greeterv2\n",
        },
        time="2019-10-07T14:15:32-04:00",
        branch="master",
    )
    r.tag("subdir/v2.0.0", c)
    repo = CodeRepo(mod, mod, f"https://{HOST}/git/gitreposubdirv2", subdir="subdir")
    assert run(repo.latest(), r).version == "v2.0.0"
    assert run(repo.go_mod("v2.0.0"), r) == f"module {mod}\n\ngo 1.23\n".encode()


# --- +incompatible, odd tags, semver branches ---------------------------------------------

ODD_STAT = [
    # A tag with build metadata is valid, but not canonical: a pseudo-version on top of it.
    (ODD, "v0.1.0+build-metadata", "v0.1.1-0.20220223184835-9d863d525bbf"),
    (ODD, "9d863d525bbf", "v0.1.1-0.20220223184835-9d863d525bbf"),
    (ODD, "latest", "v0.1.1-0.20220223184835-9d863d525bbf"),
    # A "+incompatible" tag is looked up without the suffix...
    (
        ODD,
        "v2.0.0+incompatible",
        f"{ODD}@v2.0.0+incompatible: invalid version: unknown revision v2.0.0",
    ),
    # ... but it still serves as a pseudo-version base.
    (ODD, "12d19af20458", "v2.0.1-0.20220223184802-12d19af20458+incompatible"),
    # A pseudo-version names its commit, whatever tag of that name is elsewhere.
    (
        ODD,
        "v3.0.0-20220223184802-12d19af20458",
        "v3.0.0-20220223184802-12d19af20458+incompatible",
    ),
    # The tag that looks like a pseudo-version is no base either.
    (
        ODD,
        "v3-dev",
        f"{ODD}@v0.1.1-0.20220223194155-cce3d0f5d2ec: invalid version: go.mod has post-v0 "
        f'module path "{ODD}/v3" at revision cce3d0f5d2ec',
    ),
    (ODD + "/v3", "v3-dev", "v3.0.0-20220223194155-cce3d0f5d2ec"),
]


@pytest.mark.parametrize(("mod", "rev", "want"), ODD_STAT)
def test_stat_odd_tags(mod, rev, want):
    _check_stat(cr(mod, ODD), odd_tags(), rev, want)


def _check_stat(repo: CodeRepo, fake: FakeRepo, rev: str, want: str) -> RevResult | None:
    if " " in want:
        with pytest.raises(CodeRepoError) as e:
            run(repo.stat(rev), fake)
        assert str(e.value) == want
        return None
    got = run(repo.stat(rev), fake)
    assert got.version == want
    return got


SEMVER_BRANCH_STAT = [
    # Branches named like versions never resolve to "themselves".
    (
        "v1.0.0",
        f"{SEMVER_BRANCH}@v1.0.0: invalid version: resolves to version "
        "v0.1.1-0.20220202191944-09c4d8f6938c (v1.0.0 is not a tag)",
    ),
    (
        "v2.0.0+incompatible",
        f"{SEMVER_BRANCH}@v2.0.0+incompatible: invalid version: resolves to version v0.1.0 "
        "(v2.0.0 is not a tag)",
    ),
    (
        "v2.0.0",
        f"{SEMVER_BRANCH}@v2.0.0: invalid version: resolves to version v0.1.0 (v2.0.0 is not a "
        "tag)",
    ),
    # v4.0.0-beta.1 is on the commit, but unusable (incompatible, and a go.mod exists).
    (
        "v3.0.0-devel",
        f"{SEMVER_BRANCH}@v3.0.0-devel: invalid version: resolves to version "
        "v0.1.1-0.20220203155313-d59622f6e4d7 (v3.0.0-devel is not a tag)",
    ),
    ("main", "v0.1.0"),
    ("d59622f6e4d7", "v0.1.1-0.20220203155313-d59622f6e4d7"),
    (
        "v4.0.0-beta.1",
        f"{SEMVER_BRANCH}@v4.0.0-beta.1: invalid version: module contains a go.mod file, so "
        f'module path must match major version ("{SEMVER_BRANCH}/v4")',
    ),
]


@pytest.mark.parametrize(("rev", "want"), SEMVER_BRANCH_STAT)
def test_stat_semver_branch(rev, want):
    _check_stat(cr(SEMVER_BRANCH), semver_branch(), rev, want)


V2SUB_STAT = [
    # v2/go.mod exists, so v2 tags belong to the /v2 module...
    (V2SUB, "80beb17a1603", "v0.0.0-20220222205507-80beb17a1603"),
    (
        V2SUB,
        "v2.0.0",
        f"{V2SUB}@v2.0.0: invalid version: module contains a go.mod file, so module path must "
        f'match major version ("{V2SUB}/v2")',
    ),
    (
        V2SUB,
        "v2.0.1-0.20220222205507-80beb17a1603",
        f"{V2SUB}@v2.0.1-0.20220222205507-80beb17a1603: invalid version: module contains a "
        f'go.mod file, so module path must match major version ("{V2SUB}/v2")',
    ),
    # ... unless +incompatible is asked for explicitly (go.dev/issue/51324).
    (V2SUB, "v2.0.0+incompatible", "v2.0.0+incompatible"),
    (
        V2SUB,
        "v2.0.1-0.20220222205507-80beb17a1603+incompatible",
        "v2.0.1-0.20220222205507-80beb17a1603+incompatible",
    ),
    # The /v2 module itself.
    (V2SUB + "/v2", "v2.0.0", "v2.0.0"),
    (V2SUB + "/v2", "80beb17a1603", "v2.0.1-0.20220222205507-80beb17a1603"),
    (
        V2SUB + "/v2",
        "v2.0.0+incompatible",
        f"{V2SUB}/v2@v2.0.0+incompatible: invalid version: +incompatible suffix not allowed: "
        "major version v2 is compatible",
    ),
]


@pytest.mark.parametrize(("mod", "rev", "want"), V2SUB_STAT)
def test_stat_v2sub(mod, rev, want):
    _check_stat(cr(mod, V2SUB), v2sub(), rev, want)


def test_v2sub_subdirectory_module_zip():
    repo, fake = cr(V2SUB + "/v2", V2SUB), v2sub()
    plan = run(repo.zip_plan("v2.0.0"), fake)
    assert plan.subdir == "v2"
    assert plan.root_license is None  # the repository has none
    h1, data = _module_zip(fake, V2SUB + "/v2", plan, "v2.0.0")
    tree = fake.commits[plan.rev].tree
    assert h1 == _h1(
        V2SUB + "/v2", "v2.0.0", {"go.mod": tree["v2/go.mod"], "v2sub.go": tree["v2/v2sub.go"]}
    )
    # The root module's +incompatible zip leaves the v2 module out.
    plan = run(cr(V2SUB).zip_plan("v2.0.0+incompatible"), fake)
    assert plan.subdir == ""
    h1, data = _module_zip(fake, V2SUB, plan, "v2.0.0+incompatible")
    assert _zip_names(data) == [f"{V2SUB}@v2.0.0+incompatible/v2sub.go"]


def test_go_mod_incompatible_without_go_mod():
    fake = _incompatible_repo({"v2.0.0": False})
    mod = f"{HOST}/inc"
    assert run(cr(mod).go_mod("v2.0.0+incompatible"), fake) == f"module {mod}\n".encode()
    assert run(cr(mod).stat("v2.0.0"), fake).version == "v2.0.0+incompatible"


# --- retractions --------------------------------------------------------------------------

RETRACT_STAT = [
    # A retracted version is not a pseudo-version base, nor the version of its own commit.
    ("713affd19d7b", "v0.0.0-20201009173747-713affd19d7b"),
    ("64c061ed4371", "v0.0.0-20201009173747-64c061ed4371"),
    ("latest", "v0.0.0-20201009173747-713affd19d7b"),
    # Asked for by name, it is still itself; and an existing pseudo-version on it is valid.
    ("v1.0.0", "v1.0.0"),
    ("v1.0.1-0.20201009173747-713affd19d7b", "v1.0.1-0.20201009173747-713affd19d7b"),
    (
        "v1.0.1-0.20201009173747-64c061ed4371",
        f"{RETRACT}@v1.0.1-0.20201009173747-64c061ed4371: invalid pseudo-version: tag (v1.0.0) "
        "found on revision 64c061ed4371 is already canonical, so should not be replaced with a "
        "pseudo-version derived from that tag",
    ),
]


@pytest.mark.parametrize(("rev", "want"), RETRACT_STAT)
def test_stat_retract_pseudo(rev, want):
    _check_stat(cr(RETRACT), retract_pseudo(), rev, want)
    assert run(cr(RETRACT).versions(), retract_pseudo()) == ["v1.0.0"]


def test_retractions_come_from_the_highest_release():
    mod = f"{HOST}/ret"
    r = FakeRepo()
    gomod = f"module {mod}\n".encode()
    a = r.commit({"go.mod": gomod}, time=100)
    r.tag("v1.0.0", a)
    b = r.commit({"go.mod": gomod + b"retract v1.0.0\n"}, time=200)
    r.tag("v1.1.0", b)
    # A prerelease above the release does not count; its go.mod retracts v1.1.0.
    c = r.commit({"go.mod": gomod + b"retract v1.1.0\n"}, time=300)
    r.tag("v1.2.0-pre", c)
    d = r.commit({"go.mod": gomod, "x.go": b"package x\n"}, time=400)
    # v1.0.0 retracted (by v1.1.0's go.mod): the base is v1.1.0, then v1.2.0-pre.
    assert run(cr(mod).stat(d), r).version == "v1.2.0-pre.0.19700101000640-" + d[:12]
    r.tags.pop("v1.2.0-pre")
    assert run(cr(mod).stat(d), r).version == "v1.1.1-0.19700101000640-" + d[:12]
    r.tags.pop("v1.1.0")
    # Now v1.0.0 is the highest release and does not retract itself.
    assert run(cr(mod).stat(d), r).version == "v1.0.1-0.19700101000640-" + d[:12]
    # Only prereleases: the highest one decides, and may retract itself.
    r2 = FakeRepo()
    a = r2.commit({"go.mod": gomod}, time=100)
    r2.tag("v1.0.0-a", a)
    b = r2.commit({"go.mod": gomod + b"retract v1.0.0-b\n"}, time=200)
    r2.tag("v1.0.0-b", b)
    c = r2.commit({"go.mod": gomod}, time=300)
    assert run(cr(mod).stat(c), r2).version == "v1.0.0-a.0.19700101000500-" + c[:12]


def test_retractions_ignored_when_latest_go_mod_is_unusable():
    mod = f"{HOST}/ret"
    r = FakeRepo()
    a = r.commit({"go.mod": f"module {mod}\n\nretract v1.0.0\n".encode()}, time=100)
    r.tag("v1.0.0", a)
    # The highest version, on a side branch, has a go.mod for another major: findDir fails
    # and nothing is retracted (no falling back to a lower version's go.mod).
    b = r.commit({"go.mod": f"module {mod}/v3\n".encode()}, time=200, branch="side")
    r.tag("v1.1.0", b)
    c = r.commit({"go.mod": f"module {mod}\n".encode()}, time=300)
    assert run(cr(mod).stat(c), r).version == "v1.0.1-0.19700101000500-" + c[:12]


# --- pseudo-versions ----------------------------------------------------------------------


def _linear() -> tuple[FakeRepo, list[str]]:
    """v1.0.0 -- x -- v1.1.0-pre -- y, plus a side branch z off v1.0.0's parent."""
    mod = f"{HOST}/lin"
    r = FakeRepo()
    gomod = f"module {mod}\n".encode()
    root = r.commit({"go.mod": gomod}, time=ts("2021-01-01T00:00:00Z"))
    a = r.commit({"go.mod": gomod, "a.go": b"package a\n"}, time=ts("2021-01-02T00:00:00Z"))
    r.tag("v1.0.0", a)
    x = r.commit({"go.mod": gomod, "x.go": b"package a\n"}, time=ts("2021-01-03T00:00:00Z"))
    p = r.commit({"go.mod": gomod, "p.go": b"package a\n"}, time=ts("2021-01-04T00:00:00Z"))
    r.tag("v1.1.0-pre", p)
    y = r.commit({"go.mod": gomod, "y.go": b"package a\n"}, time=ts("2021-01-05T00:00:00Z"))
    z = r.commit(
        {"go.mod": gomod, "z.go": b"package a\n"},
        time=ts("2021-01-06T00:00:00Z"),
        parents=(root,),
        branch="side",
    )
    return r, [root, a, x, p, y, z]


LIN = f"{HOST}/lin"


def test_pseudo_version_forms():
    r, (root, _, x, _, y, z) = _linear()
    repo = cr(LIN)
    assert run(repo.stat(root), r).version == f"v0.0.0-20210101000000-{root[:12]}"
    assert run(repo.stat(x), r).version == f"v1.0.1-0.20210103000000-{x[:12]}"
    assert run(repo.stat(y), r).version == f"v1.1.0-pre.0.20210105000000-{y[:12]}"
    assert run(repo.stat("main"), r).version == f"v1.1.0-pre.0.20210105000000-{y[:12]}"
    assert run(repo.stat("side"), r).version == f"v0.0.0-20210106000000-{z[:12]}"
    # Full hashes and short prefixes alike.
    assert run(repo.stat(x[:7]), r).version == f"v1.0.1-0.20210103000000-{x[:12]}"


def _pseudo_errors():
    r, (root, _, x, _, y, z) = _linear()
    ok = f"v1.0.1-0.20210103000000-{x[:12]}"
    e = f"{LIN}@{{}}: invalid pseudo-version: {{}}"
    return r, [
        (ok, ok),
        # Any ancestor tag may be the base, not only the highest.
        (f"v1.0.1-0.20210105000000-{y[:12]}", f"v1.0.1-0.20210105000000-{y[:12]}"),
        (f"v0.0.0-20210105000000-{y[:12]}", f"v0.0.0-20210105000000-{y[:12]}"),
        (
            f"v1.0.1-0.20210103000000-{x[:13]}",
            e.format(
                f"v1.0.1-0.20210103000000-{x[:13]}",
                f"revision is longer than canonical (expected {x[:12]})",
            ),
        ),
        (
            f"v1.0.1-0.20210103000000-{x[:10]}",
            e.format(
                f"v1.0.1-0.20210103000000-{x[:10]}",
                f"revision is shorter than canonical (expected {x[:12]})",
            ),
        ),
        (
            f"v1.0.1-0.20210103000001-{x[:12]}",
            e.format(
                f"v1.0.1-0.20210103000001-{x[:12]}",
                "does not match version-control timestamp (expected 20210103000000)",
            ),
        ),
        (
            f"v1.0.0-20210101000000-{root[:12]}",
            e.format(
                f"v1.0.0-20210101000000-{root[:12]}",
                "major version without preceding tag must be v0, not v1",
            ),
        ),
        (
            f"v1.5.1-0.20210103000000-{x[:12]}",
            e.format(f"v1.5.1-0.20210103000000-{x[:12]}", "preceding tag (v1.5.0) not found"),
        ),
        (
            f"v1.0.1-0.20210106000000-{z[:12]}",
            e.format(
                f"v1.0.1-0.20210106000000-{z[:12]}",
                f"revision {z[:12]} is not a descendent of preceding tag (v1.0.0)",
            ),
        ),
        (
            f"v1.2.0-0.20210103000000-{x[:12]}+incompatible",
            f"{LIN}@v1.2.0-0.20210103000000-{x[:12]}+incompatible: invalid version: "
            "+incompatible suffix not allowed: major version v1 is compatible",
        ),
        # The base would have patch -1: Go names the version without "+incompatible".
        (
            f"v1.0.0-0.20210103000000-{x[:12]}",
            e.format(
                f"v1.0.0-0.20210103000000-{x[:12]}",
                "version before v1.0.0 would have negative patch number",
            ),
        ),
        (
            f"v1.0.1-0.20211303000000-{x[:12]}",
            e.format(f"v1.0.1-0.20211303000000-{x[:12]}", 'malformed time "20211303000000"'),
        ),
        (
            f"v1.0.1-0.20210103000000-{'f' * 12}",
            f"{LIN}@v1.0.1-0.20210103000000-ffffffffffff: invalid version: unknown revision "
            "ffffffffffff",
        ),
    ]


@pytest.mark.parametrize("i", range(len(_pseudo_errors()[1])))
def test_pseudo_version_validation(i):
    r, cases = _pseudo_errors()
    rev, want = cases[i]
    _check_stat(cr(LIN), r, rev, want)


def test_pseudo_version_names_another_commit():
    # A tag spelled like a revision resolves to a commit whose short name differs.
    r, (root, *_) = _linear()
    r.tag("zzzzzzzzzzzz", root)
    pv = "v0.0.0-20210101000000-zzzzzzzzzzzz"
    with pytest.raises(CodeRepoError) as e:
        run(cr(LIN).stat(pv), r)
    assert str(e.value) == (
        f"{LIN}@{pv}: invalid pseudo-version: does not match short name of revision "
        f"(expected {root[:12]})"
    )


def test_pseudo_version_major_from_path():
    mod = f"{HOST}/maj"
    r = FakeRepo()
    c = r.commit({"go.mod": f"module {mod}/v3\n".encode()}, time=ts("2021-01-01T00:00:00Z"))
    got = run(cr(mod + "/v3", mod).stat(c), r)
    assert got.version == f"v3.0.0-20210101000000-{c[:12]}"
    assert got.origin is not None
    assert got.origin.tag_prefix == "v3."
    r.tag("v3.1.0", c)
    d = r.commit({"go.mod": f"module {mod}/v3\n".encode()}, time=ts("2021-01-02T00:00:00Z"))
    r.tag("v1.5.0", d)  # wrong major for the path: not a base
    r.tag("v2.0.0", d)
    got = run(cr(mod + "/v3", mod).stat(d), r)
    assert got.version == f"v3.1.1-0.20210102000000-{d[:12]}"
    # The unsuffixed path: v1.5.0 is on the commit, but its go.mod claims /v3.
    with pytest.raises(CodeRepoError, match="post-v1 module path"):
        run(cr(mod).stat(d), r)


def test_pseudo_version_incompatible_base_in_history():
    mod = f"{HOST}/noinc"
    r = FakeRepo()
    a = r.commit({"a.go": b"package a\n"}, time=ts("2021-01-01T00:00:00Z"))
    r.tag("v2.3.0", a)
    r.tag("v1.9.0", a)
    b = r.commit({"b.go": b"package a\n"}, time=ts("2021-01-02T00:00:00Z"))
    got = run(cr(mod).stat(b), r)
    assert got.version == f"v2.3.1-0.20210102000000-{b[:12]}+incompatible"
    # Tags ending in the module's major (v2/go.mod would claim v2 tags): v1.9.0 only.
    r.commit({"b.go": b"package a\n", "v2/go.mod": f"module {mod}/v2\n".encode()}, time=2)
    got = run(cr(mod).stat("main"), r)
    assert got.version.startswith("v1.9.1-0.")
    assert run(cr(mod).stat("v2.3.0"), r).version == "v2.3.0+incompatible"


# --- Origin and .info ---------------------------------------------------------------------


def _go_tag_sum(lines: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for name, commit in lines:
        h.update(f'"{name}" {commit}\n'.encode())
    return "t1:" + base64.b64encode(h.digest()).decode()


def test_tag_sum():
    tags = TagList(
        (
            ("sub/v1.0.0", "a" * 40),
            ("sub/v1.0.0-20200101000000-abcdefabcdef", "b" * 40),  # pseudo-version: left out
            ("sub/v1.2", "c" * 40),  # incomplete: left out
            ("sub/v1.1.0+meta", "d" * 40),  # kept: a base for pseudo-versions
            ("sub/other", "e" * 40),
            ("subway/v1.0.0", "f" * 40),  # another prefix
        )
    )
    assert tag_sum("sub/", tags) == _go_tag_sum(
        [("sub/v1.0.0", "a" * 40), ("sub/v1.1.0+meta", "d" * 40)]
    )
    assert tag_sum("", TagList(())) == "t1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert tag_sum("v2.", TagList((("v2.0.0", "1" * 40),))) == _go_tag_sum([("v2.0.0", "1" * 40)])


def test_origin_for_pseudo_versions():
    r, (_, _, x, p, _, _) = _linear()
    got = run(cr(LIN).stat(x[:12]), r)
    assert got.origin == Origin(
        vcs="git",
        url=f"https://{LIN}",
        hash=x,
        tag_prefix="",
        tag_sum=_go_tag_sum([("v1.0.0", r.tags["v1.0.0"]), ("v1.1.0-pre", p)]),
    )
    # A branch: its ref is recorded too.
    got = run(cr(LIN).stat("side"), r)
    assert got.origin is not None
    assert got.origin.ref == "refs/heads/side"
    assert got.origin.tag_sum
    # An explicit v0.0.0- pseudo-version does not depend on the tags.
    pv = got.version
    again = run(cr(LIN).stat(pv), r)
    assert again.version == pv
    assert again.origin is not None
    assert (again.origin.tag_prefix, again.origin.tag_sum) == ("", "")
    assert again.origin.ref == "refs/heads/side"  # the branch tip: Go records the ref
    assert "Ref" not in json.loads(again.info_json())["Origin"]
    # Subdirectory and major version give the prefix.
    repo = vgotest1()
    got = run(vg("/v2").stat("v2.0.5"), repo)
    assert got.origin is not None
    assert (got.origin.tag_prefix, got.origin.tag_sum) == ("", "")


def test_info_json():
    origin = Origin(
        vcs="git",
        url="https://git.example.test/a?b=<c>&d",
        subdir="sub",
        hash="a" * 40,
        tag_prefix="sub/",
        tag_sum="t1:xyz",
        ref="refs/tags/sub/v1.0.0",
        repo_sum="r1:abc",
    )
    info = RevResult("v1.0.0", ts("2018-02-19T23:10:06Z"), origin)
    assert info.info_json() == (
        b'{"Version":"v1.0.0","Time":"2018-02-19T23:10:06Z","Origin":{"VCS":"git",'
        b'"URL":"https://git.example.test/a?b=\\u003cc\\u003e\\u0026d","Subdir":"sub",'
        b'"Hash":"' + b"a" * 40 + b'","Ref":"refs/tags/sub/v1.0.0"}}'
    )
    pseudo = RevResult(f"v0.0.0-20180219231006-{'a' * 12}", 0, origin)
    body = json.loads(pseudo.info_json())
    assert body["Time"] == "1970-01-01T00:00:00Z"
    assert "Ref" not in body["Origin"]
    assert RevResult("v1.0.0", 0).info_json() == (
        b'{"Version":"v1.0.0","Time":"1970-01-01T00:00:00Z"}'
    )
    assert json.loads(RevResult("v1.0.0", 0, Origin(url='x"\\\n\x01\u2028é')).info_json()) == {
        "Version": "v1.0.0",
        "Time": "1970-01-01T00:00:00Z",
        "Origin": {"URL": 'x"\\\n\x01\u2028é'},
    }
    assert b"\\u2028" in RevResult("v1.0.0", 0, Origin(url="\u2028\b")).info_json()
    assert b'"URL":"\\ufffd\\b"' in RevResult("v1.0.0", 0, Origin(url="\udcff\b")).info_json()


def test_info_json_from_stat():
    got = run(vg().stat("mytag"), vgotest1())
    assert json.loads(got.info_json()) == {
        "Version": "v1.0.0",
        "Time": "2018-02-19T23:10:06Z",
        "Origin": {
            "VCS": "git",
            "URL": URL,
            "Hash": "80d85c5d4d17598a0e9055e7c175a32b415d6128",
            "Ref": "refs/tags/mytag",
        },
    }
    assert msgspec.json.decode(got.info_json())["Version"] == "v1.0.0"


# --- the repository layer: memo, errors, answers ------------------------------------------


def test_no_query_asked_twice():
    repo = vgotest1()
    run(vg("/v2").go_mod("v2.0.5"), repo)
    assert len(repo.queries) == len(set(repo.queries))
    repo.queries.clear()
    with pytest.raises(CodeRepoError):
        run(vg().latest(), repo)
    assert len(repo.queries) == len(set(repo.queries))


def test_version_read_with_tag_commit():
    # The +incompatible check reads go.mod at the tag's commit, not by tag name.
    r = _incompatible_repo({"v1.0.0": False, "v2.0.0": False})
    run(cr(f"{HOST}/inc").versions(), r)
    reads = [q for q in r.queries if isinstance(q, GitReadFile)]
    assert reads and all(len(q.rev) == 40 and q.max_size == 16 << 20 for q in reads)


def test_too_large_go_mod():
    mod = f"{HOST}/big"
    r = FakeRepo()
    c = r.commit({"go.mod": b"module " + mod.encode() + b"\n" + b"//" * (9 << 20)}, time=1)
    r.tag("v1.0.0", c)
    with pytest.raises(CodeRepoError) as e:
        run(cr(mod).go_mod("v1.0.0"), r)
    assert str(e.value) == (
        f"{mod}@v1.0.0: invalid version: reading {mod}/go.mod at revision v1.0.0: go.mod too large"
    )
    # For the list, Go would fail the whole listing.
    r.tag("v2.0.0", c)
    with pytest.raises(RepoFileError):
        run(cr(mod).versions(), r)


def test_too_large_root_license_left_out():
    mod = f"{HOST}/lic/sub"
    r = FakeRepo()
    c = r.commit(
        {"LICENSE": b"x" * ((16 << 20) + 1), "sub/go.mod": f"module {mod}\n".encode()}, time=1
    )
    r.tag("sub/v1.0.0", c)
    assert run(cr(mod, f"{HOST}/lic").zip_plan("v1.0.0"), r) == ZipPlan(c, "sub", None)


def test_wrong_answers():
    flow = vg().stat("v1.0.0")
    assert next(flow) == GitStat("v1.0.0")
    with pytest.raises(LocalProtocolError, match="has type str"):
        flow.send("nope")
    flow = vg().versions()
    assert next(flow) == GitTags("")
    with pytest.raises(LocalProtocolError):
        flow.send(None)
    flow = vg().latest()
    assert next(flow) == GitLatest()
    with pytest.raises(LocalProtocolError):
        flow.send(3)


def test_wrong_answers_deeper():
    # Answers of the wrong type further into a flow are caught too.
    for query_type, bad in [
        ("GitReadFile", "text"),
        ("GitMergedTags", "v1.0.0"),
        ("GitDescendsFrom", "yes"),
    ]:
        r, (_, _, x, _, _, _) = _linear()
        flow = (
            cr(LIN).stat(f"v1.0.1-0.20210103000000-{x[:12]}")
            if query_type == "GitDescendsFrom"
            else cr(LIN).stat(x)
        )
        query = next(flow)
        with pytest.raises(LocalProtocolError):  # noqa: PT012
            while True:
                if type(query).__name__ == query_type:
                    flow.send(bad)
                query = flow.send(r.answer(query))


def test_tags_answer_filtered_by_prefix():
    # Tags outside the prefix are ignored even if the caller sends them.
    flow = vg("/submod").versions()
    assert next(flow) == GitTags("submod/")
    with pytest.raises(StopIteration) as stop:
        flow.send(TagList((("v1.0.0", "a" * 40), ("submod/v1.0.4", "b" * 40))))
    assert stop.value.value == ["v1.0.4"]


def test_revinfo_version_only_counts_when_a_tag():
    # A branch named like a tag on the same commit is not that tag (Go's statLocal).
    r = FakeRepo()
    mod = f"{HOST}/br"
    c = r.commit({"go.mod": f"module {mod}\n".encode()}, time=ts("2021-01-01T00:00:00Z"))
    r.tag("v1.0.0", c)
    fake = RevInfo(name=c, short=c[:12], version="v0.9.0", time=1, tags=("v1.0.0",))
    flow = cr(mod).stat("v0.9.0")
    assert next(flow) == GitStat("v0.9.0")

    def rest():
        query = flow.send(fake)
        while True:
            query = flow.send(r.answer(query))

    with pytest.raises(CodeRepoError, match=r"resolves to version v1\.0\.0 \(v0\.9\.0 is not"):
        rest()


# --- constructor --------------------------------------------------------------------------


def test_constructor():
    repo = CodeRepo(f"{V1}/sub/v2", V1, URL)
    assert (repo.code_dir, repo.path_prefix, repo.path_major, repo.pseudo_major) == (
        "sub",
        f"{V1}/sub",
        "/v2",
        "v2",
    )
    repo = CodeRepo(f"{V1}/v2", f"{V1}/v2", URL)
    assert (repo.code_dir, repo.path_prefix) == ("", f"{V1}/v2")
    repo = CodeRepo("gopkg.in/yaml.v2", "gopkg.in/yaml.v2", URL)
    assert (repo.code_dir, repo.path_major, repo.pseudo_major) == ("", ".v2", "v2")
    repo = CodeRepo(f"{V1}/a/b", V1, URL, subdir="x/../y")
    assert repo.code_dir == "a/b/y"
    assert "vgotest1" in repr(repo)
    with pytest.raises(CodeRepoError, match=f"^mismatched repo: found {HOST}/other for {V1}$"):
        CodeRepo(V1, f"{HOST}/other", URL)
    with pytest.raises(CodeRepoError, match="mismatched repo"):
        CodeRepo(f"{V1}x", V1, URL)
    with pytest.raises(CodeRepoError) as e:
        CodeRepo("gopkg.in/yaml.v2/abc", "gopkg.in/yaml.v2", URL)
    assert str(e.value) == 'invalid module path "gopkg.in/yaml.v2/abc"'
    with pytest.raises(CodeRepoError, match="mismatched repo"):
        CodeRepo(V1, f"{V1}/sub", URL)
    # A root given with a trailing slash.
    assert CodeRepo(f"{V1}/y", f"{V1}/", URL).code_dir == "y"
    with pytest.raises(CodeRepoError) as e:
        CodeRepo(f"{V1}/v2", f"{V1}/", URL)
    assert str(e.value) == f"repository rooted at {V1}/ cannot contain module {V1}/v2"


def test_gopkg_in():
    r = FakeRepo()
    c = r.commit({"yaml.go": b"package yaml\n"}, time=ts("2018-01-09T11:43:31Z"))
    r.tag("v2.0.0", c)
    r.tag("v2.1", c)
    r.tag("v1.0.0", c)
    repo = CodeRepo("gopkg.in/yaml.v2", "gopkg.in/yaml.v2", "https://example.test/yaml")
    assert run(repo.stat(c[:8]), r).version == "v2.0.0"
    assert run(repo.versions(), r) == ["v2.0.0"]
    assert run(repo.go_mod("v2.0.0"), r) == b"module gopkg.in/yaml.v2\n"
    d = r.commit({"yaml.go": b"package yaml\n"}, time=ts("2018-01-10T00:00:00Z"), parents=())
    r.tag("v2.2", d)
    # Non-canonical semantic version tag: a v2 pseudo-version (for .v2), no base.
    assert run(repo.stat("v2.2"), r).version == f"v2.0.0-20180110000000-{d[:12]}"
    # The historical bug (golang.org/issue/34254): an unversioned path replacing gopkg.in.
    e = r.commit({"go.mod": b"module gopkg.in/yaml.v2\n"}, time=ts("2018-01-11T00:00:00Z"))
    r.tag("v1.5.0", e)
    fork = CodeRepo(f"{HOST}/fork/yaml", f"{HOST}/fork/yaml", "https://example.test/fork")
    assert run(fork.stat("v1.5.0"), r).version == "v1.5.0"


# --- findDir errors -----------------------------------------------------------------------


def _one(files: dict[str, bytes], tag: str = "v1.0.0") -> FakeRepo:
    r = FakeRepo()
    c = r.commit(files, time=ts("2021-01-01T00:00:00Z"))
    r.tag(tag, c)
    return r


FIND_DIR = [
    (f"{HOST}/m", {"go.mod": b"// nothing\n"}, "go.mod is missing module path at revision v1.0.0"),
    (
        f"{HOST}/m",
        {"go.mod": b"module example.test/m/v02\n"},
        'go.mod has malformed module path "example.test/m/v02" at revision v1.0.0',
    ),
    (
        f"{HOST}/m/v2",
        {"go.mod": b"module example.test/m\n"},
        'go.mod has non-.../v2 module path "example.test/m" (and .../v2/go.mod does not exist) '
        "at revision v2.0.0",
    ),
    (
        f"{HOST}/m/v2",
        {"go.mod": b"// nothing\n"},
        "go.mod is missing module path (and .../v2/go.mod does not exist) at revision v2.0.0",
    ),
    (
        f"{HOST}/m/v2",
        {"v2/go.mod": b"// nothing\n"},
        f"{HOST}/m/v2/go.mod is missing module path at revision v2.0.0",
    ),
    (
        f"{HOST}/m/sub",
        {"go.mod": f"module {HOST}/m\n".encode()},
        f"missing {HOST}/m/sub/go.mod at revision sub/v1.0.0",
    ),
]


@pytest.mark.parametrize(("mod", "files", "want"), FIND_DIR)
def test_find_dir_errors(mod, files, want):
    version = "v2.0.0" if mod.endswith("/v2") else "v1.0.0"
    tag = "sub/" + version if mod.endswith("/sub") else version
    with pytest.raises(CodeRepoError) as e:
        run(cr(mod, f"{HOST}/m").go_mod(version), _one(files, tag))
    assert str(e.value) == f"{mod}@{version}: invalid version: {want}"


def test_major_suffix_must_match():
    mod = f"{HOST}/maj"
    r = _one({"go.mod": f"module {mod}/v2\n".encode()})
    with pytest.raises(CodeRepoError) as e:
        run(cr(mod + "/v2", mod).stat("v1.0.0"), r)
    assert str(e.value) == (
        f"{mod}/v2@v1.0.0: invalid version: module path includes a major version suffix, so "
        "major version must match"
    )


def test_short_hash_that_became_ambiguous():
    # Two commits share the 12-digit prefix: the pseudo-version's revision is unknown.
    mod = f"{HOST}/amb"
    r = FakeRepo()
    a = r.commit({"a.go": b"package a\n"}, time=1, hash="abcdefabcdef" + "1" * 28)
    r.commit({"b.go": b"package a\n"}, time=2, hash="abcdefabcdef" + "2" * 28)
    with pytest.raises(CodeRepoError) as e:
        run(cr(mod).stat(a), r)
    assert str(e.value) == (
        f"{mod}@v0.0.0-19700101000001-abcdefabcdef: invalid version: reading {mod}/go.mod at "
        "revision abcdefabcdef: unknown revision abcdefabcdef"
    )


def test_gopkg_in_dot_major_at_root():
    r = _one({"go.mod": b"module gopkg.in/x.v1\n"})
    repo = CodeRepo("gopkg.in/x.v1", "gopkg.in/x.v1", "https://example.test/x")
    assert run(repo.go_mod("v1.0.0"), r) == b"module gopkg.in/x.v1\n"
    r = _one({"go.mod": b"module gopkg.in/x.v3\n"})
    with pytest.raises(CodeRepoError, match=r'go.mod has non-...\.v1 module path "gopkg.in/x.v3"'):
        run(repo.go_mod("v1.0.0"), r)


# --- zips ---------------------------------------------------------------------------------

ZIP_MOD = f"{HOST}/z/sub"


def _archive(entries: list[tuple[str, bytes, int, int]]) -> io.BytesIO:
    """A zip with entries (name, content, create_system, external_attr)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, system, attr in entries:
            zi = zipfile.ZipInfo(name)
            zi.create_system = system
            zi.external_attr = attr
            z.writestr(zi, data, compress_type=zipfile.ZIP_DEFLATED)
    buf.seek(0)
    return buf


def _reg(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    return name, data, 3, 0o100644 << 16


def _dir(name: str) -> tuple[str, bytes, int, int]:
    return name, b"", 3, (0o40755 << 16) | 0x10


def test_zip_from_archive_rules():
    gomod = f"module {ZIP_MOD}\n\ngo 1.21\n".encode()
    entries = [
        _dir("top/"),
        _reg("top/LICENSE", b"root license\n"),
        _reg("top/README", b"root readme\n"),
        _dir("top/sub/"),
        _reg("top/sub/go.mod", gomod),
        _reg("top/sub/a.go", b"package a\n"),
        ("top/sub/link.go", b"a.go", 3, 0o120777 << 16),
        ("top/sub/fifo", b"", 3, 0o010644 << 16),
        ("top/sub/exec.sh", b"#!/bin/sh\n", 3, 0o100755 << 16),
        ("top/sub/dos.txt", b"dos\n", 0, 0x20),
        ("top/sub/dosdir", b"", 11, 0x10),
        ("top/sub/other.txt", b"other\n", 7, 0),
        _reg("top/sub/vendor/modules.txt", b"# vendor\n"),
        _reg("top/sub/vendor/x.test/y/y.go", b"package y\n"),
        _reg("top/sub/inner/go.mod", b"module inner\n"),
        _reg("top/sub/inner/i.go", b"package i\n"),
        _reg("top/sub/pkg/p.go", b"package p\n"),
        _reg("top/subway/w.go", b"package w\n"),
    ]
    plan = ZipPlan("a" * 40, "sub", b"root license\n")
    out = io.BytesIO()
    h1 = zip_from_archive(ZIP_MOD, "v1.0.0", plan, _archive(entries), out)
    kept = {
        "go.mod": gomod,
        "a.go": b"package a\n",
        "exec.sh": b"#!/bin/sh\n",
        "dos.txt": b"dos\n",
        "other.txt": b"other\n",
        "vendor/modules.txt": b"# vendor\n",
        "pkg/p.go": b"package p\n",
        "LICENSE": b"root license\n",
    }
    assert sorted(_zip_names(out.getvalue())) == sorted(f"{ZIP_MOD}@v1.0.0/{n}" for n in kept)
    assert h1 == _h1(ZIP_MOD, "v1.0.0", kept)
    # The module's own LICENSE wins over the root one.
    entries.append(_reg("top/sub/LICENSE", b"module license\n"))
    out = io.BytesIO()
    h1 = zip_from_archive(ZIP_MOD, "v1.0.0", plan, _archive(entries), out)
    assert h1 == _h1(ZIP_MOD, "v1.0.0", {**kept, "LICENSE": b"module license\n"})
    # At the root, the root LICENSE is the archive's; "sub" is the nested module left out.
    root = f"{HOST}/z"
    out = io.BytesIO()
    h1 = zip_from_archive(root, "v1.0.0", ZipPlan("a" * 40, ""), _archive(entries), out)
    assert h1 == _h1(
        root,
        "v1.0.0",
        {"LICENSE": b"root license\n", "README": b"root readme\n", "subway/w.go": b"package w\n"},
    )


def test_zip_from_archive_go_1_24_vendor_rules():
    gomod = f"module {ZIP_MOD}\n\ngo 1.24\n".encode()
    entries = [
        _reg("p/go.mod", gomod),
        _reg("p/vendor/modules.txt", b"# vendor\n"),
        _reg("p/pkg/vendor/v.go", b"package v\n"),
    ]
    out = io.BytesIO()
    h1 = zip_from_archive(ZIP_MOD, "v1.0.0", ZipPlan("a" * 40, ""), _archive(entries), out)
    assert h1 == _h1(ZIP_MOD, "v1.0.0", {"go.mod": gomod, "pkg/vendor/v.go": b"package v\n"})


@pytest.mark.parametrize(
    ("entries", "want"),
    [
        ([_reg("LICENSE", b"x")], "missing top-level directory prefix"),
        (
            [_reg("a/LICENSE", b"x"), _reg("b/README", b"y")],
            "zip file contains more than one top-level directory",
        ),
        ([_reg("a/GO.MOD", b"module x\n")], "go.mod files must have lowercase names"),
    ],
)
def test_zip_from_archive_errors(entries, want):
    with pytest.raises(ZipError, match=want):
        zip_from_archive(ZIP_MOD, "v1.0.0", ZipPlan("a" * 40, ""), _archive(entries), io.BytesIO())


def test_zip_from_archive_not_a_zip():
    with pytest.raises(ZipError, match="not a valid zip file"):
        zip_from_archive(ZIP_MOD, "v1.0.0", ZipPlan("a" * 40, ""), io.BytesIO(b"PK"), io.BytesIO())


def test_zip_from_archive_too_large():
    class Huge(io.BytesIO):
        def seek(self, offset, whence=0):
            return (500 << 20) + 1 if whence == io.SEEK_END else super().seek(offset, whence)

    with pytest.raises(ZipError, match="downloaded zip file too large"):
        zip_from_archive(ZIP_MOD, "v1.0.0", ZipPlan("a" * 40, ""), Huge(), io.BytesIO())


def test_zip_from_archive_streams():
    # A big file goes through in chunks (create_zip reads at most CHUNK_SIZE at a time).
    big = os.urandom(1 << 16) * 40
    entries = [_reg("p/go.mod", f"module {ZIP_MOD}\n".encode()), _reg("p/big.bin", big)]
    out = io.BytesIO()
    h1 = zip_from_archive(ZIP_MOD, "v1.0.0", ZipPlan("a" * 40, ""), _archive(entries), out)
    assert h1 == _h1(ZIP_MOD, "v1.0.0", {"go.mod": f"module {ZIP_MOD}\n".encode(), "big.bin": big})


# --- real git -----------------------------------------------------------------------------


def _git(cwd, *args, env):
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.test", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    ).stdout


@pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0,
    reason="git not available",
)
def test_real_git_archive(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    }
    work = tmp_path / "w"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main", env=env)
    mod = f"{HOST}/real/sub"
    files = {
        "LICENSE": b"root license\n",
        "sub/go.mod": f"module {mod}\n\ngo 1.21\n".encode(),
        "sub/a.go": b"package a\n",
        "sub/doc/readme.txt": b"hello\n",
        "sub/inner/go.mod": b"module inner\n",
        "sub/inner/i.go": b"package i\n",
        "sub/vendor/x/y.go": b"package y\n",
        "other/o.go": b"package o\n",
    }
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    os.symlink("a.go", work / "sub" / "link.go")
    # export-ignore/export-subst must not change the archive (the caller disables them).
    _git(work, "add", "-A", env=env)
    _git(work, "commit", "-q", "-m", "c", env=env)
    _git(work, "tag", "sub/v1.0.0", env=env)
    rev = _git(work, "rev-parse", "HEAD", env=env).decode().strip()

    fake = FakeRepo()
    fake.commit({k: v for k, v in files.items()} | {"sub/link.go": Link("a.go")}, time=1, hash=rev)
    fake.tag("sub/v1.0.0", rev)
    plan = run(CodeRepo(mod, f"{HOST}/real", "https://x.test/real").zip_plan("v1.0.0"), fake)
    assert plan == ZipPlan(rev, "sub", b"root license\n")

    archive = _git(
        work,
        "-c",
        "core.autocrlf=input",
        "-c",
        "core.eol=lf",
        "archive",
        "--format=zip",
        "--prefix=prefix/",
        rev,
        "--",
        "sub",
        env=env,
    )
    out = io.BytesIO()
    h1 = zip_from_archive(mod, "v1.0.0", plan, io.BytesIO(archive), out)
    kept = {
        "go.mod": files["sub/go.mod"],
        "a.go": files["sub/a.go"],
        "doc/readme.txt": files["sub/doc/readme.txt"],
        "LICENSE": files["LICENSE"],
    }
    assert h1 == _h1(mod, "v1.0.0", kept)
    assert sorted(_zip_names(out.getvalue())) == sorted(f"{mod}@v1.0.0/{n}" for n in kept)
    # The fake's archive gives the same module zip.
    h1_fake, _ = _module_zip(fake, mod, plan, "v1.0.0")
    assert h1_fake == h1
