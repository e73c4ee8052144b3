"""``goproxy warm`` against the go command, the judge: the same files, the same graph.

A fixture module tree (with a fixture checksum database mirrored in it, so the warm verifies
everything) holds a small dependency graph: modules that prune (go 1.21) and modules that do
not (no go line), a version only reachable through an unpruned go.mod, a replacement and an
exclusion. For a project over it:

* the acceptance test: ``goproxy warm`` of the project's go.sum fills a cache whose set of
  ``.info``, ``.mod`` and ``.zip`` files equals the go command's own
  ``$GOMODCACHE/cache/download`` after ``go mod download`` of that project;
* graph conformance: ``goproxy warm`` of a go.mod alone (no go.sum) fetches what ``go mod
  download`` fetches for it, with pruning (go 1.21 main module) and without (go 1.16), with
  ``replace`` and ``exclude``; and a go.work over two modules;
* resumability: a warm killed part-way leaves only whole files, and the next run fetches the
  rest and ends with the same set;
* a bad go.sum line is refused with its file and line, exit status 2; an upstream without a
  version is a failure with its reason, exit status 1.
"""

from __future__ import annotations

import functools
import http.server
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from serving import go_env, goproxy, goproxy_env, run_go
from sumdbfix import FixtureDB, add_version

T = "2024-01-02T03:04:05Z"
NAME = "sumdb.test"

# (module, version, go.mod, package source)
MODS = [
    (
        "example.com/a",
        "v1.0.0",
        "go 1.21\n\nrequire (\n\texample.com/b v1.1.0\n\texample.com/c v1.0.0\n)\n",
        'package a\n\nimport _ "example.com/b"\n',
    ),
    ("example.com/b", "v1.0.0", "go 1.21\n", "package b\n"),
    ("example.com/b", "v1.1.0", "go 1.21\n\nrequire example.com/e v1.0.0\n", "package b // 1.1\n"),
    # c does not prune: the go command reads its requirements' go.mod files too.
    ("example.com/c", "v1.0.0", "require example.com/d v1.0.0\n", "package c\n"),
    ("example.com/d", "v1.0.0", "require example.com/f v1.2.0\n", "package d\n"),
    ("example.com/e", "v1.0.0", "go 1.21\n\nrequire example.com/f v1.1.0\n", "package e\n"),
    ("example.com/f", "v1.1.0", "go 1.21\n", "package f\n"),
    ("example.com/f", "v1.2.0", "go 1.21\n", "package f // 1.2\n"),
    ("example.com/f", "v1.3.0", "go 1.21\n", "package f // 1.3\n"),
    ("example.com/g", "v1.0.0", "go 1.21\n", "package g\n"),
    ("example.com/fork", "v1.0.0", "go 1.21\n", "package b // a fork\n"),
]

PROJECT = """module example.com/proj

go 1.21

require (
\texample.com/a v1.0.0
\texample.com/g v1.0.0
)

require (
\texample.com/b v1.1.0 // indirect
\texample.com/c v1.0.0 // indirect
)
"""

MAIN = """package main

import (
\t_ "example.com/a"
\t_ "example.com/g"
)

func main() {}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The module tree with its checksum database mirrored under ``sumdb/``."""
    db = FixtureDB(NAME)
    tree = tmp_path_factory.mktemp("tree")
    for mod, version, body, src in MODS:
        gomod = f"module {mod}\n\n{body}"
        add_version(tree, db, mod, version, gomod, {"x.go": src}, T)
    db.publish_in(tree)
    return {"tree": tree, "vkey": db.vkey}


def _project(root: Path, gomod: str = PROJECT, *, sums: bool, world=None) -> Path:
    """A project directory; with ``sums``, its go.sum as ``go mod tidy`` writes it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(gomod)
    (root / "main.go").write_text(MAIN)
    if sums:
        env = go_env(root / "home", world["tree"].as_uri(), sumdb=world["vkey"])
        r = run_go(["mod", "tidy"], env, root)
        assert r.returncode == 0, r.show()
    return root


def _go_download(world, project: Path, home: Path, *, mod_mod: bool = False) -> set[str]:
    """``go mod download`` in ``project`` with a fresh module cache: the files it fetched."""
    extra = {"GOFLAGS": "-modcacherw -mod=mod"} if mod_mod else {}
    env = go_env(home, world["tree"].as_uri(), sumdb=world["vkey"], **extra)
    r = run_go(["mod", "download"], env, project)
    assert r.returncode == 0, r.show()
    return _files(home / "gopath" / "mod" / "cache" / "download")


def _files(root: Path) -> set[str]:
    """The ``.info``, ``.mod`` and ``.zip`` files of a GOPROXY tree, relative to it."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix in (".info", ".mod", ".zip")
        and p.parent.name == "@v"
        and not p.name.startswith(".")
    }


def _warm(world, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return goproxy(
        "warm",
        "--cache-dir",
        str(cache),
        "--upstream",
        world["tree"].as_uri(),
        "--sumdb",
        world["vkey"],
        "--go-version",
        "1.26.0",
        *args,
    )


def test_warm_of_a_gosum_equals_go_mod_download(world, tmp_path):
    project = _project(tmp_path / "proj", sums=True, world=world)
    want = _go_download(world, project, tmp_path / "home")
    cache = tmp_path / "cache"
    r = _warm(world, cache, str(project / "go.sum"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _files(cache) == want
    assert "0 failed" in r.stdout, r.stdout
    # Verified on the way in: each zip has its record and proof beside it.
    assert (cache / "example.com/a/@v/v1.0.0.lookup").exists()
    # The directory means its go.sum, and a second run fetches nothing.
    r = _warm(world, cache, str(project))
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 fetched" in r.stdout, r.stdout


E_MOD = "example.com/e/@v/v1.0.0.mod"  # read only when the graph is not pruned
F12 = "example.com/f/@v/v1.2.0.mod"  # required by d, which does not prune
FORK = "example.com/fork/@v/v1.0.0.zip"
F13 = "example.com/f/@v/v1.3.0.mod"

GRAPHS = {
    "pruned": (PROJECT, {F12}, {E_MOD, FORK}),
    "unpruned": (PROJECT.replace("go 1.21", "go 1.16"), {E_MOD, F12}, {FORK}),
    "replace-exclude": (
        PROJECT
        + "\nreplace example.com/b v1.1.0 => example.com/fork v1.0.0\n"
        + "\nexclude example.com/f v1.2.0\n",
        {FORK},
        {F12, "example.com/b/@v/v1.1.0.zip"},
    ),
    "replace-all-unpruned": (
        PROJECT.replace("go 1.21", "go 1.16") + "\nreplace example.com/f => example.com/f v1.3.0\n",
        {F13},
        {F12},
    ),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_warm_of_a_gomod_loads_the_graph_as_go_does(world, tmp_path, name):
    gomod, has, lacks = GRAPHS[name]
    project = _project(tmp_path / "proj", gomod, sums=False)
    want = _go_download(world, project, tmp_path / "home", mod_mod=True)
    assert has <= want, want  # the fixture shows what it is meant to
    assert not (lacks & want), want
    project_again = _project(tmp_path / "proj2", gomod, sums=False)
    cache = tmp_path / "cache"
    r = _warm(world, cache, str(project_again / "go.mod"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _files(cache) == want


def test_warm_of_a_workspace(world, tmp_path):
    ws = tmp_path / "ws"
    one = _project(ws / "one", PROJECT.replace("example.com/proj", "example.com/one"), sums=False)
    two = ws / "two"
    two.mkdir()
    (two / "go.mod").write_text(
        "module example.com/two\n\ngo 1.21\n\nrequire example.com/f v1.3.0\n"
    )
    (two / "two.go").write_text('package two\n\nimport _ "example.com/f"\n')
    assert one.exists()
    (ws / "go.work").write_text("go 1.21\n\nuse (\n\t./one\n\t./two\n)\n")
    want = _go_download(world, ws, tmp_path / "home", mod_mod=False)
    cache = tmp_path / "cache"
    r = _warm(world, cache, str(ws))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _files(cache) == want


def test_module_at_version_and_failures(world, tmp_path):
    cache = tmp_path / "cache"
    r = _warm(world, cache, "example.com/g@v1.0.0", "example.com/nosuch@v1.0.0")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (cache / "example.com/g/@v/v1.0.0.zip").exists()
    assert "failed example.com/nosuch/@v/v1.0.0" in r.stdout, r.stdout
    assert "404" in r.stdout
    bad = tmp_path / "go.sum"
    bad.write_text("example.com/g v1.0.0 h1:x=\nexample.com/g v1.0.0\n")
    r = _warm(world, cache, str(bad))
    assert r.returncode == 2
    assert f"malformed go.sum: {bad}:2: wrong number of fields 2" in r.stderr, r.stderr


class _SlowTree(http.server.SimpleHTTPRequestHandler):
    """Serves the module tree, each zip slowly: a warm can be killed part-way."""

    def do_GET(self) -> None:
        if self.path.endswith(".zip"):
            time.sleep(0.4)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


def test_a_killed_warm_finishes_on_the_next_run(world, tmp_path):
    project = _project(tmp_path / "proj", sums=True, world=world)
    want = _go_download(world, project, tmp_path / "home")
    handler = functools.partial(_SlowTree, directory=str(world["tree"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # the killed client
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    cache = tmp_path / "cache"
    args = [
        "warm", "--cache-dir", str(cache), "--upstream", url, "--sumdb", world["vkey"],
        "--go-version", "1.26.0", "--jobs", "1", str(project / "go.sum"),
    ]  # fmt: skip
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "goproxy_cli", *args],
            env=goproxy_env(args),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not list(cache.rglob("*.zip")) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = _files(cache)
        assert first and first < want, first
        r = goproxy(*args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert _files(cache) == want
        assert "already cached" in r.stdout
        present = int(r.stdout.split(" fetched")[1].split(", ")[1].split(" already")[0])
        assert present >= len(first), r.stdout
    finally:
        server.shutdown()
        server.server_close()
