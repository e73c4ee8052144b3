"""Across an air gap, end to end: warm, export, import, serve offline, verify everything.

Proxy A is online: a fixture upstream tree holding a fixture checksum database under
``sumdb/<name>/`` (the way a proxy mirrors one). ``goproxy warm`` fills A's cache from a
fixture project's go.sum, ``goproxy export`` writes a bundle of it. Proxy B has no upstream:
``goproxy import`` verifies the bundle with the database's key and fills B's cache, and
``goproxy serve --upstream off`` serves it. Real go clients with only ``GOPROXY`` pointed at B
and ``GOSUMDB`` set to the fixture database's key download, build and verify the project,
and resolve its go.sum afresh through B's checksum-database endpoints: nothing reaches a
network. A bundle with one byte altered in a zip, a manifest line, a tile or the tree head is
refused whole, and a client of the cache it was imported into sees none of it.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from serving import go_env, goproxy, run_go, serving
from sumdbfix import FixtureDB, add_version

NAME = "sumdb.test"
T = "2024-01-02T03:04:05Z"

# A small graph: the project needs lib v1.1.0 (which needs util v1.0.0) and util v1.1.0; lib
# v1.0.0 and util v1.2.0 are in the upstream but not in the project's graph.
MODS = [
    (
        "example.com/util",
        "v1.0.0",
        "module example.com/util\n\ngo 1.21\n",
        {"u.go": "package util\n\nconst V = 0\n"},
    ),
    (
        "example.com/util",
        "v1.1.0",
        "module example.com/util\n\ngo 1.21\n",
        {"u.go": "package util\n\nconst V = 1\n"},
    ),
    (
        "example.com/util",
        "v1.2.0",
        "module example.com/util\n\ngo 1.21\n",
        {"u.go": "package util\n\nconst V = 2\n"},
    ),
    (
        "example.com/lib",
        "v1.0.0",
        "module example.com/lib\n\ngo 1.21\n",
        {"l.go": "package lib\n\nconst L = 0\n"},
    ),
    (
        "example.com/lib",
        "v1.1.0",
        "module example.com/lib\n\ngo 1.21\n\nrequire example.com/util v1.0.0\n",
        {"l.go": 'package lib\n\nimport "example.com/util"\n\nconst L = util.V + 1\n'},
    ),
]

PROJECT_MOD = """module example.com/project

go 1.21

require (
\texample.com/lib v1.1.0
\texample.com/util v1.1.0
)
"""

PROJECT_MAIN = """package main

import (
\t"fmt"

\t"example.com/lib"
\t"example.com/util"
)

func main() { fmt.Println(lib.L, util.V) }
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The upstream tree with its database, a project with its go.sum, a bundle of it."""
    db = FixtureDB(NAME)
    tree = tmp_path_factory.mktemp("upstream")
    for mod, version, gomod, files in MODS:
        add_version(tree, db, mod, version, gomod, files, T)
    db.publish_in(tree)
    home = tmp_path_factory.mktemp("home")
    project = tmp_path_factory.mktemp("project")
    (project / "go.mod").write_text(PROJECT_MOD)
    (project / "main.go").write_text(PROJECT_MAIN)
    # The go.sum as the go command writes it, straight from the upstream tree, database on.
    r = run_go(["mod", "tidy"], go_env(home, tree.as_uri(), sumdb=db.vkey), project)
    assert r.returncode == 0, r.show()
    assert "example.com/lib v1.1.0 h1:" in (project / "go.sum").read_text()
    return {"db": db, "tree": tree, "project": project}


@pytest.fixture(scope="module")
def bundle(world, tmp_path_factory):
    """Proxy A's side: warm a cache from the project's go.sum, export a bundle of it."""
    vkey = world["db"].vkey
    online = ("--upstream", world["tree"].as_uri(), "--sumdb", vkey)
    cache = tmp_path_factory.mktemp("cache-a")
    gosum = str(world["project"] / "go.sum")
    r = goproxy("warm", "--cache-dir", str(cache), *online, gosum)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path_factory.mktemp("transfer") / "modules.tar"
    r = goproxy("export", "--cache-dir", str(cache), *online, "--output", str(out), gosum)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def _client(home: Path, proxy: str, vkey: str):
    # Every proxy setting points at B, every HTTP(S) proxy at a closed port: nothing leaves.
    return go_env(
        home, proxy, sumdb=vkey, HTTPS_PROXY="http://127.0.0.1:1", HTTP_PROXY="http://127.0.0.1:1"
    )


def _served_files(cache: Path) -> set[str]:
    """What a client could be served from ``cache``: every file outside ``_goproxy/``."""
    return {
        str(p.relative_to(cache))
        for p in cache.rglob("*")
        if p.is_file() and not str(p.relative_to(cache)).startswith("_goproxy")
    }


def test_offline_proxy_serves_an_imported_bundle_with_verification_on(world, bundle, tmp_path):
    vkey = world["db"].vkey
    cache = tmp_path / "cache-b"
    r = goproxy("import", "--cache-dir", str(cache), "--sumdb", vkey, str(bundle))
    assert r.returncode == 0, r.stdout + r.stderr
    project = tmp_path / "project"
    shutil.copytree(world["project"], project)
    with serving("--upstream", "off", "--sumdb", vkey, cache=cache) as b:
        env = _client(tmp_path / "client", b.url, vkey)
        for args in (["mod", "download"], ["build", "-o", str(tmp_path / "app"), "."]):
            r = run_go(args, env, project)
            assert r.returncode == 0, r.show()
        r = run_go(["mod", "verify"], env, project)
        assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()
        # Without go.sum, every module is checked against the database through B.
        fresh = tmp_path / "fresh"
        shutil.copytree(world["project"], fresh)
        (fresh / "go.sum").unlink()
        env2 = _client(tmp_path / "client2", b.url, vkey)
        r = run_go(["mod", "tidy"], env2, fresh)
        assert r.returncode == 0, r.show()
        assert (fresh / "go.sum").read_text() == (world["project"] / "go.sum").read_text()
        r = run_go(["mod", "verify"], env2, fresh)
        assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()
        # A version outside the bundle: a clear 404 from B, never a fetch.
        r = run_go(["mod", "download", "example.com/util@v1.2.0"], env2, fresh)
        assert r.returncode != 0 and "not in this offline proxy" in r.stderr, r.show()
    # The same cache as a file:// tree, verification on.
    env3 = _client(tmp_path / "client3", cache.as_uri(), vkey)
    r = run_go(["mod", "download"], env3, project)
    assert r.returncode == 0, r.show()
    r = run_go(["mod", "verify"], env3, project)
    assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t.getmembers()]


def _rewrite(src: Path, dst: Path, pick, change) -> str:
    """Copy the bundle with one byte of the first member ``pick`` accepts changed."""
    members = _members(src)
    name = ""
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            if not name and pick(info.name):
                name = info.name
                data = change(data)
                assert len(data) == info.size
            t.addfile(info, io.BytesIO(data))
    assert name, "no member to alter"
    return name


def _flip(at):
    def change(data: bytes) -> bytes:
        i = at(data)
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]

    return change


TAMPERS = {
    "zip": (lambda n: n.endswith(".zip"), _flip(lambda d: len(d) // 2)),
    "manifest line": (lambda n: n == "manifest.json", _flip(lambda d: d.index(b'"h1:') + 8)),
    "tile": (lambda n: "/tile/" in n, _flip(lambda d: 0)),
    "tree head": (
        lambda n: n == "manifest.json",
        _flip(lambda d: d.index(b"go.sum database tree") + 2),
    ),
}


@pytest.mark.parametrize("what", sorted(TAMPERS))
def test_a_bundle_with_one_altered_byte_is_refused_whole(world, bundle, tmp_path, what):
    vkey = world["db"].vkey
    pick, change = TAMPERS[what]
    bad = tmp_path / "bad.tar"
    _rewrite(bundle, bad, pick, change)
    cache = tmp_path / "cache-b"
    cache.mkdir()
    r = goproxy("import", "--cache-dir", str(cache), "--sumdb", vkey, str(bad))
    assert r.returncode != 0, r.stdout
    assert r.stderr.strip(), "the refusal names what failed"
    assert "Traceback" not in r.stderr, r.stderr
    assert _served_files(cache) == set(), _served_files(cache)
    with serving("--upstream", "off", "--sumdb", vkey, cache=cache) as b:
        env = _client(tmp_path / "client", b.url, vkey)
        r = run_go(["mod", "download", "example.com/lib@v1.1.0"], env, tmp_path)
        assert r.returncode != 0, r.show()
