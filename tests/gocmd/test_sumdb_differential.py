"""With the checksum database ON, the go command sees through the proxy what it sees directly.

The fixture modules of ``test_go_command`` get a checksum database of their own (built with
the core's note and tlog code, served by a loopback HTTP server). Every query is asked three
ways and must give the same answer, go.sum lines included:

* directly: ``GOPROXY=file://tree`` and ``GOSUMDB="<key> <database URL>"``;
* through the proxy, the database relayed: ``GOSUMDB="<key>"`` alone, so the go command asks
  the proxy's ``sumdb/<name>/supported`` and reaches the database through the proxy;
* through the proxy, the database asked directly by the client.

The proxy verifies every version against the same database before it stores it
(``--sumdb <key>=<URL>``).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from test_go_command import QUERIES, _normal, build_tree

from goproxy_core.module import unescape_path, unescape_version
from serving import go_env, run_go, serving
from sumdbfix import FixtureDB

NAME = "sumdb.test"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The module tree, its database (files served on loopback), and the database's URL."""
    tree = tmp_path_factory.mktemp("tree")
    build_tree(tree)
    db = FixtureDB(NAME)
    for mod_file in sorted(tree.rglob("@v/*.mod")):
        zip_file = mod_file.with_suffix(".zip")
        module = unescape_path(mod_file.parent.parent.relative_to(tree).as_posix())
        version = unescape_version(mod_file.name.removesuffix(".mod"))
        db.add(module, version, mod_file.read_bytes(), zip_file.read_bytes())
    db.publish()
    files = tmp_path_factory.mktemp("sumdb")
    db.write(files)
    handler = functools.partial(_Quiet, directory=str(files))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tree, db, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def proxy(world, tmp_path_factory):
    tree, db, url = world
    cache = tmp_path_factory.mktemp("cache")
    with serving("--upstream", tree.as_uri(), "--sumdb", f"{db.vkey}={url}", cache=cache) as s:
        assert any(line.startswith("verify: ") and db.vkey in line for line in s.lines)
        yield s.url, cache


def test_every_version_is_in_the_database(world):
    tree, db, _ = world
    assert len(db.records) == len(list(tree.rglob("@v/*.zip"))) > 10


@pytest.mark.parametrize("how", ["relayed", "asked directly"])
@pytest.mark.parametrize("args", QUERIES, ids=[" ".join(q[-2:]) for q in QUERIES])
def test_the_same_through_the_proxy_with_the_database_on(args, how, world, proxy, tmp_path):
    tree, db, url = world
    direct_home, proxy_home = tmp_path / "direct", tmp_path / "proxy"
    want = run_go(args, go_env(direct_home, tree.as_uri(), sumdb=f"{db.vkey} {url}"))
    sumdb = db.vkey if how == "relayed" else f"{db.vkey} {url}"
    got = run_go(args, go_env(proxy_home, proxy[0], sumdb=sumdb))
    assert got[0] == want[0], (got, want)
    assert _normal(got[1], proxy_home) == _normal(want[1], direct_home)
    assert "SECURITY ERROR" not in got[2]


@pytest.mark.parametrize("how", ["relayed", "asked directly"])
def test_a_build_verifies_through_the_proxy(how, world, proxy, tmp_path):
    _, db, url = world
    env = go_env(tmp_path, proxy[0], sumdb=db.vkey if how == "relayed" else f"{db.vkey} {url}")
    work: Path = tmp_path / "w"
    work.mkdir()
    assert run_go(["mod", "init", "example.com/scratch"], env, work)[0] == 0
    code, _, err = run_go(
        ["get", "example.com/app@latest", "example.com/Upper/Case@latest"], env, work
    )
    assert code == 0, err
    code, out, err = run_go(["mod", "verify"], env, work)
    assert code == 0, err
    assert "all modules verified" in out
    go_sum = (work / "go.sum").read_text().splitlines()
    records = {line for r in db.records for line in r.decode().splitlines()}
    assert go_sum and set(go_sum) <= records
    # The proxy verified what it stored: the proofs are kept beside the versions.
    assert (proxy[1] / "example.com/app/@v/v1.0.0.lookup").is_file()
