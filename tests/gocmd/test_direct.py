"""Direct mode, judged by the go command: through ``goproxy serve --upstream direct`` the go
command must see exactly what it sees fetching the same git repositories itself
(``GOPROXY=direct``).

The repositories (``gitrepos.py``) live on disk; a git config file maps
``https://git.example.test/`` onto them, for the go command's direct mode and for our server
alike. Every case runs the go command twice, each time with a fresh module cache: first
``GOPROXY=direct``, whose answer is also checked against what the fixture was built to show
(so the repositories are proven to cover each case), then through our server, whose answer
must be the same.

No test touches the network: every git URL scheme for the host leads to a local directory,
ssh is switched off, and HTTP(S) proxies point at a closed local port, so any stray fetch
(such as the go command's ``?go-get=1`` look-ups of path prefixes) fails on this machine.
The go command on the proxy side gets a git config leading nowhere: if it ever bypassed our
server, its direct fetches would fail.
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import gitrepos
import pytest
from gitrepos import HOST

from serving import GoResult, Served, go_env, offline_git, run_go, serving


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> gitrepos.Fixture:
    return gitrepos.build(tmp_path_factory.mktemp("gitrepos"))


@pytest.fixture(scope="module")
def server(fx, tmp_path_factory):
    """``goproxy serve --upstream direct --private git.example.test`` on the fixture repos."""
    base = tmp_path_factory.mktemp("direct-server")
    with serving(
        "--upstream",
        "direct",
        "--private",
        HOST,
        "--anonymous",  # plain HTTP: the go command sends no token, so anyone may read
        "*",
        "--frontend",
        "trio",
        cache=base / "cache",
        env={"HOME": str(fx.home), **offline_git(fx.gitconfig)},
        log=base / "server.log",
    ) as served:
        yield served


@dataclass
class Side:
    """One go command setup: ``goproxy`` is ``direct`` or our server's URL."""

    goproxy: str
    gitconfig: Path
    home: Path

    def env(self) -> dict[str, str]:
        return go_env(
            self.home,
            self.goproxy,
            GOPRIVATE=HOST,
            GONOSUMDB=HOST,
            # GONOPROXY defaults to GOPRIVATE (an empty value too), which would send the
            # proxy side straight to the repositories; "none" matches no module.
            GONOPROXY=HOST if self.goproxy == "direct" else "none",
            **offline_git(self.gitconfig),
        )


def go(side: Side, *args: str, cwd: Path | None = None) -> GoResult:
    side.home.mkdir(parents=True, exist_ok=True)
    return run_go(args, side.env(), cwd or side.home)


def direct_side(fx, tmp_path: Path, name: str = "direct") -> Side:
    return Side("direct", fx.gitconfig, tmp_path / name)


def proxy_side(fx, request, tmp_path: Path, name: str = "proxy") -> Side:
    """The go command through our server; asked for only once the direct side is checked."""
    server: Served = request.getfixturevalue("server")
    return Side(server.url, fx.offline_gitconfig, tmp_path / name)


def _json(out: str) -> dict:
    return json.loads(out) if out.strip() else {}


# --- go mod download -json <module>@<query> ---------------------------------------------------
#
# (module under the host, query, the version GOPROXY=direct resolves it to, None for an error).
# {label} in a query or version is commit label's "yyyymmddhhmmss-hash12" (gitrepos.expand);
# {label:hash}, {label:short} and {label:h7} are its full, 12- and 7-digit hashes.
DOWNLOADS = [
    # releases, a prerelease, version queries
    ("team/repo.git", "latest", "v1.1.0"),
    ("team/repo.git", "v1.0.0", "v1.0.0"),  # an annotated tag
    ("team/repo.git", "v1.1.0", "v1.1.0"),
    ("team/repo.git", "v1.2.0-pre", "v1.2.0-pre"),
    ("team/repo.git", "v1", "v1.1.0"),
    ("team/repo.git", "v1.0", "v1.0.0"),
    ("team/repo.git", ">v1.0.0", "v1.1.0"),
    ("team/repo.git", "<v1.1.0", "v1.0.0"),
    ("team/repo.git", "v1.2", None),  # only a prerelease on v1.2
    ("team/repo.git", "v1.3", None),  # the v1.3 tag is not canonical: no version
    ("team/repo.git", "v9.9.9", None),
    ("team/repo.git", "v2.0.0+incompatible", None),
    # v1.0.1+build is not a version, but names a revision: a pseudo-version on v1.0.1
    ("team/repo.git", "v1.0.1+build", "v1.0.2-0.{build1}"),
    ("team/repo.git", "{build1:short}", "v1.0.2-0.{build1}"),
    # branches: form 3 after a prerelease (v1.3 ignored), form 2 after a release
    ("team/repo.git", "main", "v1.2.0-pre.0.{repo5}"),
    ("team/repo.git", "HEAD", "v1.2.0-pre.0.{repo5}"),
    ("team/repo.git", "feature", "v1.1.1-0.{feature1}"),
    ("team/repo.git", "nosuchbranch", None),
    # commit hashes: tagged commits resolve to their tag
    ("team/repo.git", "{feature1:hash}", "v1.1.1-0.{feature1}"),
    ("team/repo.git", "{repo4:short}", "v1.2.0-pre.0.{repo4}"),
    ("team/repo.git", "{repo4:h7}", "v1.2.0-pre.0.{repo4}"),
    ("team/repo.git", "{repo2:hash}", "v1.1.0"),
    ("team/repo.git", "{repo1:short}", "v1.0.0"),
    # explicit pseudo-versions: valid, wrong time, base not an ancestor, unknown commit
    ("team/repo.git", "v1.1.1-0.{feature1}", "v1.1.1-0.{feature1}"),
    ("team/repo.git", "v1.1.1-0.20240101070000-{feature1:short}", None),
    ("team/repo.git", "v1.2.1-0.{feature1}", None),
    ("team/repo.git", "v1.1.1-0.20240101060000-0123456789ab", None),
    # the module in sub/ (sub/ tags; LICENSE comes from the repository root)
    ("team/repo.git/sub", "latest", "v1.1.0"),
    ("team/repo.git/sub", "v1.0.0", "v1.0.0"),
    ("team/repo.git/sub", "main", "v1.1.1-0.{repo5}"),
    ("team/repo.git/sub", "feature", "v1.1.1-0.{feature1}"),
    ("team/repo.git/sub", "{repo1:short}", "v1.0.0"),
    # the nested module (left out of the root module's zips) has no tags: form 1
    ("team/repo.git/nested", "latest", "v0.0.0-{repo5}"),
    # /v2 in a v2/ subdirectory, v1 at the root
    ("team/repo2.git", "latest", "v1.0.0"),
    ("team/repo2.git", "v2.0.0", None),
    ("team/repo2.git/v2", "latest", "v2.1.0"),
    ("team/repo2.git/v2", "v2.0.0", "v2.0.0"),
    ("team/repo2.git/v2", "main", "v2.1.1-0.{r2d}"),
    # /v2 on a major branch named v2 ("v2" as a query is a version prefix)
    ("team/repo3.git", "latest", "v1.0.0"),
    ("team/repo3.git", "v2.0.0", None),
    ("team/repo3.git/v2", "latest", "v2.1.0"),
    ("team/repo3.git/v2", "v2", "v2.1.0"),
    ("team/repo3.git/v2", "v2.0.0", "v2.0.0"),
    ("team/repo3.git/v2", "{r3d:short}", "v2.1.1-0.{r3d}"),
    ("team/repo3.git/v2", "v1.0.0", None),
    # +incompatible
    ("team/incompat.git", "latest", "v3.0.0+incompatible"),
    ("team/incompat.git", "v1.0.0", "v1.0.0"),
    ("team/incompat.git", "v2.0.0", "v2.0.0+incompatible"),
    ("team/incompat.git", "v2.0.0+incompatible", "v2.0.0+incompatible"),
    ("team/incompat.git", "v3.0.0-rc.1", "v3.0.0-rc.1+incompatible"),
    ("team/incompat.git", "dev", "v2.0.1-0.{inc4}+incompatible"),
    # the latest v1 has a go.mod: +incompatible leaves the list, stays reachable by name
    ("team/incompat2.git", "latest", "v1.1.0"),
    ("team/incompat2.git", "v1.0.0", "v1.0.0"),
    ("team/incompat2.git", "v2.0.0+incompatible", "v2.0.0+incompatible"),
    # retractions: retracted versions still download; retracted tags are no pseudo base
    ("team/retract.git", "latest", "v1.0.0"),
    ("team/retract.git", "v1.0.1", "v1.0.1"),
    ("team/retract.git", "v1.1.0", "v1.1.0"),
    ("team/retract.git", "dev", "v1.0.1-0.{ret4}"),
    # no go.mod
    ("team/nogomod.git", "latest", "v1.1.0"),
    ("team/nogomod.git", "v1.0.0", "v1.0.0"),
    # no tags: form 1
    ("team/notags.git", "latest", "v0.0.0-{nt2}"),
    ("team/notags.git", "main", "v0.0.0-{nt2}"),
    ("team/notags.git", "side", "v0.0.0-{nt3}"),
    ("team/notags.git", "{nt1:short}", "v0.0.0-{nt1}"),
    # vendor directories under go 1.21, go 1.24 and no go directive
    ("team/vendor.git", "v1.0.0", "v1.0.0"),
    ("team/vendor.git", "v1.1.0", "v1.1.0"),
    ("team/vendor.git", "v1.2.0", "v1.2.0"),
    # upper case in the module path, the prerelease and the branch name
    ("Team/Upper.git", "latest", "v1.0.0"),
    ("Team/Upper.git", "v1.1.0-RC1", "v1.1.0-RC1"),
    ("Team/Upper.git", "main", "v1.1.0-RC1"),
    ("Team/Upper.git", "Dev", "v1.1.0-RC1.0.{up3}"),
    ("Team/Upper.git", "{up3:hash}", "v1.1.0-RC1.0.{up3}"),
    # .gitattributes: export-ignore and export-subst are off, eol=crlf applies
    ("team/attrs.git", "v1.0.0", "v1.0.0"),
    # a go.mod naming another module still downloads
    ("team/wrongpath.git", "v1.0.0", "v1.0.0"),
    ("team/wrongpath.git", "latest", "v1.1.0"),
    # no such repository
    ("team/nosuch.git", "latest", None),
    ("team/nosuch.git", "v1.0.0", None),
]

# The files GOPROXY=direct puts in a zip (proof that each fixture exercises its rule).
ZIP_FILES = {
    # no symlink, no .hg_archival.txt, no nested module (nested/, sub/, weird/ with GO.MOD)
    ("team/repo.git", "v1.0.0"): ["LICENSE", "README.md", "a.go", "go.mod", "internal/x/x.go"],
    # LICENSE copied from the root; sub/.hg_archival.txt and the symlink left out
    ("team/repo.git/sub", "v1.0.0"): ["LICENSE", "go.mod", "s.go"],
    ("team/repo2.git/v2", "v2.0.0"): ["LICENSE", "a.go", "go.mod"],
    # go 1.21: vendor/modules.txt kept, pkg/vendor/vendor.go dropped (the pre-1.24 rule)
    ("team/vendor.git", "v1.0.0"): ["a.go", "go.mod", "vendor/modules.txt"],
    # go 1.24: vendor/modules.txt dropped, pkg/vendor/vendor.go kept
    ("team/vendor.git", "v1.1.0"): ["a.go", "go.mod", "pkg/vendor/vendor.go"],
    ("team/vendor.git", "v1.2.0"): ["a.go", "go.mod", "vendor/modules.txt"],
    ("team/nogomod.git", "v1.0.0"): ["LICENSE", "a.go", "pkg/p.go"],
    ("team/incompat2.git", "v2.0.0+incompatible"): ["a.go"],
    ("team/attrs.git", "v1.0.0"): [
        ".gitattributes",
        "go.mod",
        "ignored.txt",
        "lines.crlf",
        "subst.txt",
    ],
}
ZIP_BYTES = {
    ("team/attrs.git", "v1.0.0"): {
        "ignored.txt": b"still in the zip\n",
        "subst.txt": b"commit $Format:%H$\n",
        "lines.crlf": b"one\r\ntwo\r\n",
    },
}


def _ids(cases):
    return [f"{m}@{q}" for m, q, *_ in cases]


def _zip_files(result: dict) -> dict[str, bytes]:
    if "Zip" not in result:
        return {}
    with zipfile.ZipFile(result["Zip"]) as z:
        prefix = f"{result['Path']}@{result['Version']}/"
        return {n.removeprefix(prefix): z.read(n) for n in z.namelist()}


def _download(side: Side, module: str, query: str) -> tuple[GoResult, dict]:
    r = go(side, "mod", "download", "-json", f"{module}@{query}")
    return r, _json(r.stdout)


_DOWNLOAD_KEYS = ("Path", "Version", "Sum", "GoModSum")


@pytest.mark.parametrize(("name", "query", "want"), DOWNLOADS, ids=_ids(DOWNLOADS))
def test_mod_download(fx, request, tmp_path, name, query, want):
    module, query = f"{HOST}/{name}", fx.expand(query)
    r, d = _download(direct_side(fx, tmp_path), module, query)
    if want is None:
        assert r.returncode != 0 and d.get("Error"), r.show()
    else:
        assert r.returncode == 0, r.show()
        assert d["Version"] == fx.expand(want)
        files = _zip_files(d)
        if (name, d["Version"]) in ZIP_FILES:
            assert sorted(files) == ZIP_FILES[name, d["Version"]]
        for file, content in ZIP_BYTES.get((name, d["Version"]), {}).items():
            assert files[file] == content

    p, e = _download(proxy_side(fx, request, tmp_path), module, query)
    assert (p.returncode == 0) == (r.returncode == 0), (
        f"direct: {d.get('Error') or 'ok'}\nproxy: {p.show()}"
    )
    assert "Error" in e or p.returncode == 0, p.show()
    got = {k: e.get(k) for k in _DOWNLOAD_KEYS}
    expected = {k: d.get(k) for k in _DOWNLOAD_KEYS}
    if got.get("Sum") != expected.get("Sum") and got.get("Version") == expected.get("Version"):
        ours, theirs = _zip_files(e), _zip_files(d)
        assert sorted(ours) == sorted(theirs), "the zips hold other files"
        assert {f: ours[f] for f in ours if ours[f] != theirs[f]} == {}, "file contents differ"
    assert got == expected
    if "Info" in d and "Info" in e:
        _INFO[name, query] = (_read_info(d), _read_info(e))


# (module, query) -> the .info files test_mod_download saw: direct side, proxy side
_INFO: dict[tuple[str, str], tuple[dict, dict]] = {}


def _read_info(result: dict) -> dict:
    return json.loads(Path(result["Info"]).read_text())


@pytest.mark.parametrize(
    ("name", "query", "want"),
    [c for c in DOWNLOADS if c[2] is not None],
    ids=_ids([c for c in DOWNLOADS if c[2] is not None]),
)
def test_origin_in_info_file(fx, request, tmp_path, name, query, want):
    """The .info the go command keeps in its cache: Version, Time and the Origin block.

    Uses what test_mod_download saw for the same case, else downloads again.
    """
    module, query = f"{HOST}/{name}", fx.expand(query)
    if (name, query) in _INFO:
        direct_info, proxy_info = _INFO[name, query]
    else:
        r, d = _download(direct_side(fx, tmp_path), module, query)
        assert r.returncode == 0, r.show()
        direct_info = _read_info(d)
        p, e = _download(proxy_side(fx, request, tmp_path), module, query)
        assert p.returncode == 0, p.show()
        proxy_info = _read_info(e)
    assert direct_info["Version"] == fx.expand(want)
    assert direct_info["Origin"]["VCS"] == "git"
    assert proxy_info == direct_info


# Revision queries that resolve to a tagged version: the .info of the version must not
# depend on which of the two queries reached the proxy first.
REVISION_THEN_VERSION = [
    ("Team/Upper.git", "main", "v1.1.0-RC1"),
    ("team/repo.git", "{repo2:hash}", "v1.1.0"),
    ("team/repo.git/sub", "{repo1:short}", "v1.0.0"),
    ("team/repo3.git/v2", "v2", "v2.1.0"),
]


@pytest.mark.parametrize(
    ("name", "rev", "version"),
    REVISION_THEN_VERSION,
    ids=[f"{m}@{r} {v}" for m, r, v in REVISION_THEN_VERSION],
)
def test_origin_after_another_query(fx, request, tmp_path, name, rev, version):
    """Each query in its own fresh module cache, in both orders, on both sides."""
    module, rev = f"{HOST}/{name}", fx.expand(rev)
    infos = {}
    for side_name in ("direct", "proxy"):
        for order in ((rev, version), (version, rev)):
            for query in order:
                home = f"{side_name}-{'-'.join(order)}-{query}"
                side = (
                    direct_side(fx, tmp_path, home)
                    if side_name == "direct"
                    else proxy_side(fx, request, tmp_path, home)
                )
                r, d = _download(side, module, query)
                assert r.returncode == 0, r.show()
                assert d["Version"] == version
                infos[side_name, order, query] = _read_info(d)
    for (side_name, order, query), info in infos.items():
        if side_name == "proxy":
            assert info == infos["direct", order, query], (order, query)


# --- go list -m -versions [-retracted] <module> -----------------------------------------------

# module: (go list -m -versions, go list -m -retracted -versions), None for an error
VERSIONS = {
    "team/repo.git": ("v1.0.0 v1.1.0 v1.2.0-pre",) * 2,
    "team/repo.git/sub": ("v1.0.0 v1.1.0",) * 2,
    "team/repo.git/nested": ("",) * 2,
    "team/repo2.git": ("v1.0.0",) * 2,
    "team/repo2.git/v2": ("v2.0.0 v2.1.0",) * 2,
    "team/repo3.git": ("v1.0.0",) * 2,
    "team/repo3.git/v2": ("v2.0.0 v2.1.0",) * 2,
    "team/incompat.git": (
        "v1.0.0 v2.0.0+incompatible v3.0.0-rc.1+incompatible v3.0.0+incompatible",
    )
    * 2,
    "team/incompat2.git": ("v1.0.0 v1.1.0",) * 2,
    "team/retract.git": ("v1.0.0", "v1.0.0 v1.0.1 v1.1.0"),
    "team/nogomod.git": ("v1.0.0 v1.1.0",) * 2,
    "team/notags.git": ("",) * 2,
    "team/vendor.git": ("v1.0.0 v1.1.0 v1.2.0",) * 2,
    "Team/Upper.git": ("v1.0.0 v1.1.0-RC1",) * 2,
    "team/attrs.git": ("v1.0.0",) * 2,
    "team/wrongpath.git": ("v1.0.0 v1.1.0",) * 2,
    "team/nosuch.git": None,
}
VERSION_CASES = [(m, flag) for m in VERSIONS for flag in ("", "-retracted")]


@pytest.mark.parametrize(
    ("name", "flag"), VERSION_CASES, ids=[f"{m} {f}".strip() for m, f in VERSION_CASES]
)
def test_list_versions(fx, request, tmp_path, name, flag):
    module = f"{HOST}/{name}"
    args = ["list", "-m", *([flag] if flag else []), "-versions", module]
    r = go(direct_side(fx, tmp_path), *args)
    want = VERSIONS[name]
    if want is None:
        assert r.returncode != 0, r.show()
    else:
        assert r.returncode == 0, r.show()
        assert r.stdout == f"{module} {want[1 if flag else 0]}".rstrip() + "\n"
    p = go(proxy_side(fx, request, tmp_path), *args)
    assert p.returncode == r.returncode, f"direct: {r.show()}\nproxy: {p.show()}"
    assert p.stdout == r.stdout


# --- go list -m -json [flags] <module>@<query> ------------------------------------------------

# (flags, module, query, the Version GOPROXY=direct gives or None for an error, what else it
# must show)
LIST_JSON = [
    *(((), name, "latest", v, {}) for name, q, v in DOWNLOADS if q == "latest"),
    (("-retracted",), "team/retract.git", "v1.0.1", "v1.0.1", {"Retracted": ["broken"]}),
    (("-retracted",), "team/retract.git", "v1.1.0", "v1.1.0", {"Retracted": ["retracts itself"]}),
    (("-retracted",), "team/retract.git", "v1.0.0", "v1.0.0", {"Retracted": None}),
    ((), "team/retract.git", "v1.0.1", "v1.0.1", {"Retracted": None}),
    (
        ("-u",),
        "team/wrongpath.git",
        "v1.0.0",
        "v1.0.0",
        {"Deprecated": "use git.example.test/team/repo.git instead."},
    ),
    (("-u", "-retracted"), "team/retract.git", "v1.0.1", "v1.0.1", {"Retracted": ["broken"]}),
    ((), "team/repo.git", "feature", "v1.1.1-0.{feature1}", {}),
    ((), "team/repo.git/sub", "main", "v1.1.1-0.{repo5}", {}),
    ((), "Team/Upper.git", "Dev", "v1.1.0-RC1.0.{up3}", {}),
    ((), "team/notags.git", "{nt1:h7}", "v0.0.0-{nt1}", {}),
]
_LIST_KEYS = ("Path", "Version", "Time", "Retracted", "Deprecated", "GoVersion", "Update")


@pytest.mark.parametrize(
    ("flags", "name", "query", "want", "more"),
    LIST_JSON,
    ids=[" ".join([*f, f"{m}@{q}"]) for f, m, q, *_ in LIST_JSON],
)
def test_list_json(fx, request, tmp_path, flags, name, query, want, more):
    args = ["list", "-m", "-json", *flags, f"{HOST}/{name}@{fx.expand(query)}"]
    r = go(direct_side(fx, tmp_path), *args)
    d = _json(r.stdout)
    if want is None:
        assert r.returncode != 0, r.show()
    else:
        assert r.returncode == 0, r.show()
        assert d["Version"] == fx.expand(want)
        for k, v in more.items():
            assert d.get(k) == v, k
    p = go(proxy_side(fx, request, tmp_path), *args)
    assert p.returncode == r.returncode, f"direct: {r.show()}\nproxy: {p.show()}"
    e = _json(p.stdout)
    if "Update" in d:
        for info in (d["Update"], e.get("Update") or {}):
            info.pop("Origin", None)
    assert {k: e.get(k) for k in _LIST_KEYS} == {k: d.get(k) for k in _LIST_KEYS}


# --- a module that requires several of them ---------------------------------------------------

GET = [
    "team/repo.git@latest",
    "team/repo.git/sub@main",
    "team/repo2.git/v2@latest",
    "team/repo3.git/v2@v2",
    "team/incompat.git@latest",
    "team/retract.git@latest",
    "team/nogomod.git@latest",
    "team/notags.git@side",
    "team/vendor.git@v1.1.0",
    "Team/Upper.git@Dev",
    "team/attrs.git@latest",
]


def _go_get(side: Side) -> tuple[str, str]:
    """go.mod and go.sum of a new module after ``go get`` of every module in GET."""
    work = side.home / "work"
    work.mkdir(parents=True)
    r = go(side, "mod", "init", "example.test/scratch", cwd=work)
    assert r.returncode == 0, r.show()
    r = go(side, "get", *(f"{HOST}/{g}" for g in GET), cwd=work)
    assert r.returncode == 0, r.show()
    return (work / "go.mod").read_text(), (work / "go.sum").read_text()


def test_go_get_writes_the_same_go_mod_and_go_sum(fx, request, tmp_path):
    direct_mod, direct_sum = _go_get(direct_side(fx, tmp_path))
    assert f"{HOST}/team/repo.git/sub {fx.expand('v1.1.1-0.{repo5}')}" in direct_mod
    assert f"{HOST}/team/incompat.git v3.0.0+incompatible" in direct_mod
    proxy_mod, proxy_sum = _go_get(proxy_side(fx, request, tmp_path))
    assert proxy_mod == direct_mod
    assert proxy_sum == direct_sum


# --- the proxy side really goes through the proxy ---------------------------------------------


def test_the_proxy_side_goes_through_the_proxy(fx, request, tmp_path):
    module = f"{HOST}/team/repo.git"
    # with the proxy side's git config, direct fetches cannot reach the repositories
    cut_off = Side("direct", fx.offline_gitconfig, tmp_path / "cut-off")
    r = go(cut_off, "mod", "download", "-json", f"{module}@v1.0.0")
    assert r.returncode != 0, r.show()

    side = proxy_side(fx, request, tmp_path)
    server: Served = request.getfixturevalue("server")
    r = go(side, "env", "-json", "GOPROXY", "GONOPROXY", "GOPRIVATE", "GOSUMDB")
    assert r.returncode == 0, r.show()
    assert json.loads(r.stdout) == {
        "GOPROXY": server.url,
        "GONOPROXY": "none",
        "GOPRIVATE": HOST,
        "GOSUMDB": "off",
    }
    r = go(side, "mod", "download", "-json", f"{module}@v1.0.0")
    assert r.returncode == 0, r.show()
    target = f"/{module}/@v/v1.0.0.zip"
    deadline = time.monotonic() + 10
    while target not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert target in server.log.read_text()
