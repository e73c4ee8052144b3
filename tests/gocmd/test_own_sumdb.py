"""Our own checksum database, judged by the go command.

The server (``goproxy serve --own-sumdb sumdb.test``) takes public modules from a ``file://``
fixture tree and private ones (``--private git.example.test``) from the git fixture of
``gitrepos.py``. The client sets only ``GOPROXY`` and ``GOSUMDB`` (our key and URL):
``GOPRIVATE``, ``GONOSUMDB`` and ``GONOPROXY`` are empty, so every module, private ones
included, is verified against our database. Then the log is tampered with on disk, and the
server and a process appending to the log are killed with SIGKILL in the middle of their work:
the go command must refuse the tampering with its SECURITY ERROR, and must keep verifying
after the kills.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gitrepos
import pytest
from gitrepos import HOST
from test_go_command import build_tree

from goproxy_core.sumdb import (
    new_signer,
    new_verifier,
    open_tree_note,
    signed_tree,
    stored_hash_index,
    stored_hashes,
)
from serving import Served, go_env, offline_git, run_go, serving

NAME = "sumdb.test"
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Setup:
    tree: Path
    fx: gitrepos.Fixture
    cache: Path
    log: Path


@dataclass
class Client:
    """What a client is told, where it is not what a server printed: GOPROXY, GOSUMDB."""

    url: str
    gosumdb: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    root = tmp_path_factory.mktemp("own-sumdb")
    build_tree(root / "tree")
    fx = gitrepos.build(root / "git")
    return Setup(root / "tree", fx, root / "cache", root / "server.log")


def own(s: Setup) -> contextlib.AbstractContextManager[Served]:
    """``goproxy serve --own-sumdb sumdb.test`` on the fixtures (``serving``: it has printed
    GOPROXY and GOSUMDB, and is stopped or killed on the way out)."""
    return serving(
        "--upstream",
        s.tree.as_uri(),
        "--private",
        HOST,
        "--anonymous",  # plain HTTP: the go command sends no token, so anyone may read
        "*",
        "--own-sumdb",
        NAME,
        cache=s.cache,
        env={"HOME": str(s.fx.home), **offline_git(s.fx.gitconfig)},
        log=s.log,
    )


@pytest.fixture
def server(setup):
    with own(setup) as srv:
        yield srv


def go(s: Setup, server: Served | Client, home: Path, *args: str, cwd: Path | None = None):
    """The go command told only GOPROXY and GOSUMDB; its git config reaches nothing, so every
    module must come through us."""
    home.mkdir(parents=True, exist_ok=True)
    env = go_env(home, server.url, sumdb=server.gosumdb, **offline_git(s.fx.offline_gitconfig))
    return run_go(args, env, cwd or home, timeout=180)


PRIVATE = f"{HOST}/team/repo.git"


def _client_module(s: Setup, server: Served | Client, home: Path, *modules: str) -> Path:
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    r = go(s, server, home, "mod", "init", "example.test/client", cwd=work)
    assert r.returncode == 0, r.show()
    r = go(s, server, home, "get", *modules, cwd=work)
    assert r.returncode == 0, r.show()
    return work


def _db(s: Setup) -> sqlite3.Connection:
    return sqlite3.connect(s.cache / "sumdb" / NAME / "log.db", isolation_level=None)


def _logged(s: Setup) -> dict[tuple[str, str], bytes]:
    with _db(s) as db:
        return {
            (m, v): bytes(t) for m, v, t in db.execute("SELECT module, version, text FROM records")
        }


def test_public_and_private_modules_verify_against_our_database(setup, server, tmp_path):
    home = tmp_path / "client"
    r = go(setup, server, home, "env", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY")
    assert r.stdout.split("\n")[:4] == [server.gosumdb, "", "", ""], r.show()
    assert server.gosumdb.startswith(f"{NAME}+")
    work = _client_module(
        setup,
        server,
        home,
        "example.com/plain@v1.1.0",
        "example.com/Upper/Case@v1.0.0",
        "example.com/incompat@v2.0.0+incompatible",
        f"{PRIVATE}@v1.1.0",
        f"{HOST}/team/nogomod.git@v1.0.0",
    )
    r = go(setup, server, home, "mod", "verify", cwd=work)
    assert r.returncode == 0, r.show()
    assert "all modules verified" in r.stdout
    # The go command checked them against our database: it keeps our signed tree ...
    latest = (home / "gopath" / "pkg" / "sumdb" / NAME / "latest").read_bytes()
    tree = open_tree_note(latest, [new_verifier(server.gosumdb.split()[0])])
    assert tree.N >= 5
    # ... and every go.sum line is one of our records, private modules included.
    logged = b"".join(_logged(setup).values()).decode()
    go_sum = (work / "go.sum").read_text().splitlines()
    assert any(line.startswith(PRIVATE + " v1.1.0 h1:") for line in go_sum)
    assert any(line.startswith("example.com/plain v1.1.0 h1:") for line in go_sum)
    for line in go_sum:
        assert line in logged.splitlines(), line


def test_the_key_alone_reaches_the_database_through_the_proxy(setup, server, tmp_path):
    home = tmp_path / "key-only"
    key_only = Client(server.url, server.gosumdb.split()[0])
    _client_module(setup, key_only, home, "example.com/major/v2@v2.1.0", f"{PRIVATE}@v1.0.0")
    assert (home / "gopath" / "pkg" / "sumdb" / NAME / "latest").exists()


def test_the_proxy_is_the_only_way_in(setup, server, tmp_path):
    # Without the proxy the client's git config reaches nothing: a private module cannot come
    # from anywhere else, so the verification above was of what the proxy served.
    home = tmp_path / "alone"
    cut_off = Client("direct", "off")
    r = go(setup, cut_off, home, "mod", "download", "-json", f"{PRIVATE}@v1.0.0")
    assert r.returncode != 0, r.show()


def _rebuild(s: Setup, module: str, version: str, new_text: bytes) -> None:
    """Rewrite one record, then every hash and the signed tree, with the key on disk.

    What someone who can write the cache directory can do: the log is then consistent and
    signed, so only the go command's own checks can catch it.
    """
    key_dir = s.cache / "sumdb" / NAME
    signer = new_signer((key_dir / "signer.key").read_text().strip())
    with _db(s) as db:
        db.execute("BEGIN IMMEDIATE")
        rows = list(db.execute("SELECT id, module, version, text FROM records ORDER BY id"))
        hashes: dict[int, bytes] = {}

        def read(indexes: list[int]) -> list[bytes]:
            return [hashes[i] for i in indexes]

        for id, m, v, text in rows:
            if (m, v) == (module, version):
                db.execute("UPDATE records SET text = ? WHERE id = ?", (new_text, id))
                text = new_text
            first = stored_hash_index(0, id)
            for i, h in enumerate(stored_hashes(id, bytes(text), read)):
                hashes[first + i] = h
        db.execute("DELETE FROM hashes")
        db.executemany("INSERT INTO hashes VALUES (?, ?)", sorted(hashes.items()))
        note = signed_tree(len(rows), read, signer)
        db.execute("UPDATE tree SET note = ?", (note,))
        db.execute("COMMIT")


def _alter_hash(text: bytes) -> bytes:
    """The record with the zip's h1 replaced by another well-formed one."""
    first, rest = text.split(b"\n", 1)
    head, _, h1 = first.rpartition(b" ")
    other = b"h1:" + bytes(reversed(h1[3:-1])) + b"="
    assert other != h1
    return head + b" " + other + b"\n" + rest


def test_an_altered_record_fails_the_go_command(setup, tmp_path):
    with own(setup) as srv:
        seen = tmp_path / "seen"
        _client_module(setup, srv, seen, "example.com/plain@v1.0.0", "example.com/old@v1.0.0")
        before = _logged(setup)
        # 1. The record alone altered: its hash in the log no longer matches it.
        key = ("example.com/old", "v1.0.0")
        with _db(setup) as db:
            db.execute(
                "UPDATE records SET text = ? WHERE module = ? AND version = ?",
                (_alter_hash(before[key]), *key),
            )
        r = go(setup, srv, tmp_path / "fresh1", "mod", "download", "example.com/old@v1.0.0")
        assert r.returncode != 0, r.show()
        assert "cannot authenticate record data" in r.stderr, r.show()
        with _db(setup) as db:
            db.execute(
                "UPDATE records SET text = ? WHERE module = ? AND version = ?", (before[key], *key)
            )
    # 2. The record altered and the whole log rebuilt and signed again with the key on disk.
    plain = ("example.com/plain", "v1.0.0")
    _rebuild(setup, *plain, _alter_hash(before[plain]))
    try:
        with own(setup) as srv:
            r = go(setup, srv, tmp_path / "fresh2", "mod", "download", "example.com/plain@v1.0.0")
            assert r.returncode != 0, r.show()
            assert "SECURITY ERROR" in r.stderr, r.show()
            assert "does NOT match the one reported by the checksum server" in r.stderr
            # A client that saw the log before sees the fork.
            r = go(setup, srv, seen, "mod", "download", "example.com/Upper/Case@v1.0.0")
            assert r.returncode != 0, r.show()
            assert "SECURITY ERROR" in r.stderr, r.show()
            assert "misbehavior" in r.stderr
    finally:
        _rebuild(setup, *plain, before[plain])


APPENDER = """
import sys
from goproxy_io.sumdb_log import SumdbLog
log = SumdbLog(sys.argv[1], sys.argv[2])
i = int(sys.argv[3])
print("ready", flush=True)
while True:
    mod = f"example.com/appended{i}"
    lines = f"{mod} v1.0.0 h1:{'A' * 43}=\\n{mod} v1.0.0/go.mod h1:{'B' * 43}=\\n"
    log.append(mod, "v1.0.0", lines.encode())
    i += 1
"""


KILLED_LOOKUPS = [
    ("example.com/app", "v1.0.0"),
    ("example.com/plain", "v1.2.0-pre"),
    ("example.com/retract", "v1.0.0"),
    ("example.com/retract", "v1.0.1"),
    ("example.com/retract", "v1.1.0"),
    ("example.com/major/v2", "v2.1.0"),
]


@contextlib.contextmanager
def _appender(directory: Path, first: int) -> Iterator[subprocess.Popen[bytes]]:
    """A process appending to the log, once it is ready; killed on the way out."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC / 'frontends'}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(directory), NAME, str(first)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"ready\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_kill_9_while_appending_then_clients_still_verify(setup, tmp_path):
    home = tmp_path / "client"
    with own(setup) as srv:
        _client_module(setup, srv, home, "example.com/plain@v1.1.0")
    directory = setup.cache / "sumdb" / NAME
    for round in range(6):
        with own(setup) as srv, _appender(directory, round * 100_000) as appender:
            # The server appends too (a lookup of a version not logged), while the other
            # process does; then both die mid-work.
            module, version = KILLED_LOOKUPS[round]
            lookup = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()",
                    f"{srv.gosumdb.split()[1]}/lookup/{module}@{version}",
                ]
            )
            try:
                time.sleep(0.05 + 0.07 * round)
                appender.send_signal(signal.SIGKILL)
                appender.wait(timeout=10)
                srv.kill()
                lookup.wait(timeout=30)
            finally:
                lookup.kill()
                lookup.wait(timeout=10)
    # The log opens (it checks records, hashes and the signed tree agree), and a client that
    # kept the tree from before the kills verifies new modules against the grown log.
    with own(setup) as srv:
        with _db(setup) as db:
            size = db.execute("SELECT size FROM tree").fetchone()[0]
            assert db.execute("SELECT count(*) FROM records").fetchone()[0] == size
        assert size > 10
        r = go(
            setup,
            srv,
            home,
            "get",
            "example.com/app@v1.0.0",
            f"{PRIVATE}@v1.0.0",
            cwd=home / "work",
        )
        assert r.returncode == 0, r.show()
        r = go(setup, srv, home, "mod", "verify", cwd=home / "work")
        assert r.returncode == 0, r.show()
        latest = (home / "gopath" / "pkg" / "sumdb" / NAME / "latest").read_bytes()
        assert size <= open_tree_note(latest, [new_verifier(srv.gosumdb.split()[0])]).N
