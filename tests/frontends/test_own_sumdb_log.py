"""The own checksum database's log on disk (goproxy_io.sumdb_log), and every server serving it.

The log: its signer key (made once, 0600, the same for racing processes), its checks on
opening (the key it was signed with, records, hashes and tree agreeing), appends that never
change a published record, and concurrent appends from threads and processes. Then every
server (trio, asyncio, sockets, ASGI, WSGI) answers ``/sumdb/<name>/...`` through the shared
executor, and the answers pass the core's client checks.
"""

from __future__ import annotations

import http.client
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_apps import _uvicorn, _wsgiref

from goproxy_apps import asgi_app, wsgi_app
from goproxy_core import AppendSumdb, ProxyConfig, ReadSumdb, SumdbPart
from goproxy_core.sumdb import (
    LookupResult,
    gosum_record,
    new_signer,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    verify_lookup,
    verify_tile,
)
from goproxy_core.sumdb.tile import new_tiles
from goproxy_core.testing import MemoryStore
from goproxy_io import Executor, Pending
from goproxy_io.sumdb_log import KEY_FILE, LogError, SumdbLog, SumdbLogs, signer_key
from goproxy_stores import DiskStore

from conftest import FRONTENDS, running
from support import make_zip

NAME = "sumdb.test"
SRC = Path(__file__).resolve().parents[2] / "src"


def _record(i: int) -> bytes:
    return gosum_record(
        f"example.com/m{i}", "v1.0.0", "h1:" + "A" * 43 + "=", "h1:" + "B" * 43 + "="
    )


def _check_log(log: SumdbLog) -> int:
    """Every record of ``log`` verifies against its latest tree; returns the size."""
    verifier = new_verifier(log.vkey)
    tree = open_tree_note(log.latest(), [verifier])
    tiles = {}
    for t in new_tiles(8, 0, tree.N):
        data = log.tile(t.path())
        assert data is not None
        tiles[t] = data
    for t, data in tiles.items():
        assert verify_tile(t, data, tree, tiles) is None
    db = sqlite3.connect(log.path)
    step = max(1, tree.N // 40)  # a sample of a big log: the first, the last, some between
    rows = db.execute(
        "SELECT module, version FROM records WHERE id % ? = 0 OR id = ?", (step, tree.N - 1)
    )
    for module, version in rows:
        body = log.lookup(module, version)
        assert body is not None
        assert isinstance(verify_lookup(body, [verifier], tiles), LookupResult)
    db.close()
    return tree.N


# -- the key ----------------------------------------------------------------------------------


def test_the_key_is_made_once_and_kept_private(tmp_path):
    skey = signer_key(tmp_path / "db", NAME)
    path = tmp_path / "db" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert new_signer(skey).name == NAME
    assert signer_key(tmp_path / "db", NAME) == skey
    assert [p.name for p in (tmp_path / "db").iterdir()] == [KEY_FILE]  # no leftovers


def test_racing_processes_make_one_key(tmp_path):
    code = (
        "import sys; from goproxy_io.sumdb_log import signer_key; print(signer_key(*sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC / 'frontends'}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "db"), NAME],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0] for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1
    assert keys == {(tmp_path / "db" / KEY_FILE).read_text()}


def test_a_bad_key_file_is_an_error(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / KEY_FILE).write_text("not a key\n")
    with pytest.raises(LogError, match="no valid signer key"):
        signer_key(tmp_path / "db", NAME)
    signer_key(tmp_path / "other", "other.test")
    with pytest.raises(LogError, match=r"key of checksum database other\.test, not sumdb\.test"):
        signer_key(tmp_path / "other", NAME)


def test_a_log_opened_with_another_key_is_an_error(tmp_path):
    log = SumdbLog(tmp_path / "db", NAME)
    log.append("example.com/m", "v1.0.0", _record(0))
    log.close()
    (tmp_path / "db" / KEY_FILE).unlink()
    with pytest.raises(LogError, match="restore the key the log was signed with"):
        SumdbLog(tmp_path / "db", NAME)


def test_an_inconsistent_log_is_an_error(tmp_path):
    log = SumdbLog(tmp_path / "db", NAME)
    for i in range(3):
        log.append(f"example.com/m{i}", "v1.0.0", _record(i))
    log.close()
    with sqlite3.connect(tmp_path / "db" / "log.db") as db:
        db.execute("DELETE FROM hashes WHERE idx = (SELECT max(idx) FROM hashes)")
    with pytest.raises(LogError, match="inconsistent: tree size 3, 3 records, 3 stored hashes"):
        SumdbLog(tmp_path / "db", NAME)


# -- appends ----------------------------------------------------------------------------------


def test_a_published_record_never_changes(tmp_path, caplog):
    log = SumdbLog(tmp_path / "db", NAME)
    assert log.lookup("example.com/m0", "v1.0.0") is None
    first = log.append("example.com/m0", "v1.0.0", _record(0))
    log.append("example.com/m1", "v1.0.0", _record(1))
    again = log.append("example.com/m0", "v1.0.0", _record(7))
    assert again.split(b"\n\n")[0] == first.split(b"\n\n")[0]
    assert "the logged one stands" in caplog.text
    assert log.size() == 2
    assert log.tile("tile/8/0/000.p/3") is None
    assert _check_log(log) == 2


def test_threads_append_together(tmp_path):
    log = SumdbLog(tmp_path / "db", NAME)

    def work(t: int) -> None:
        for i in range(20):
            log.append(f"example.com/t{t}/m{i % 10}", "v1.0.0", _record(i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _check_log(log) == 60


APPEND = """
import sys
from goproxy_core.sumdb import gosum_record
from goproxy_io.sumdb_log import SumdbLog
log = SumdbLog(sys.argv[1], sys.argv[2])
for i in range(40):
    mod = f"example.com/shared{i}"
    log.append(mod, "v1.0.0", gosum_record(mod, "v1.0.0", "h1:" + "A" * 43 + "=", "h1:x="))
"""


def test_processes_append_together(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC / 'frontends'}"}
    procs = [
        subprocess.Popen([sys.executable, "-c", APPEND, str(tmp_path / "db"), NAME], env=env)
        for _ in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert _check_log(SumdbLog(tmp_path / "db", NAME)) == 40  # each version logged once


KEEP_APPENDING = """
import sys
from goproxy_core.sumdb import gosum_record
from goproxy_io.sumdb_log import SumdbLog
log = SumdbLog(sys.argv[1], sys.argv[2])
i = int(sys.argv[3])
print("ready", flush=True)
while True:
    mod = f"example.com/k{i}"
    log.append(mod, "v1.0.0", gosum_record(mod, "v1.0.0", "h1:" + "A" * 43 + "=", "h1:x="))
    i += 1
"""


def test_kill_9_at_any_point_leaves_a_consistent_log(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC / 'frontends'}"}
    sizes = []
    for round in range(6):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", KEEP_APPENDING, str(tmp_path / "db"), NAME, str(n)],
                stdout=subprocess.PIPE,
                env=env,
            )
            for n in (round * 1_000_000, round * 1_000_000 + 500_000)
        ]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        time.sleep(0.004 * (round + 1))
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(timeout=10)
            assert p.stdout is not None
            p.stdout.close()
        log = SumdbLog(tmp_path / "db", NAME)  # checks records, hashes and tree agree
        sizes.append(_check_log(log))
        log.close()
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0], sizes


# -- the executor -----------------------------------------------------------------------------


def test_an_executor_without_local_files_answers_an_error():
    fx = Executor(MemoryStore())
    got = fx.perform(ReadSumdb(NAME, SumdbPart.LATEST), Pending())
    assert not got.found and "keeps no checksum database log" in got.error


def test_the_executor_reports_log_failures(tmp_path):
    store = DiskStore(tmp_path / "cache")
    fx = Executor(store, sumdb_logs=SumdbLogs(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "sumdb.test").write_text("a file where the log's directory goes")
    got = fx.perform(ReadSumdb(NAME, SumdbPart.LATEST), Pending())
    assert not got.found and got.error
    got = fx.perform(AppendSumdb(NAME, "example.com/m", "v1.0.0", "z", "m"), Pending())
    assert not got.found and "left the store" in got.error


# -- every server -----------------------------------------------------------------------------


def build_small_tree(tree: Path) -> Path:
    for module, escaped in (
        ("example.com/m", "example.com/m"),
        ("example.com/Upper", "example.com/!upper"),
    ):
        d = tree / escaped / "@v"
        d.mkdir(parents=True)
        gomod = f"module {module}\n".encode()
        (d / "list").write_text("v1.0.0\n")
        (d / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}')
        (d / "v1.0.0.mod").write_bytes(gomod)
        (d / "v1.0.0.zip").write_bytes(make_zip(module, "v1.0.0", {"go.mod": gomod}))
    return tree


def _get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def _serves_it(port: int, vkey: str) -> None:
    base = f"/sumdb/{NAME}"
    assert _get(port, f"{base}/supported")[0] == 200
    status, body = _get(port, f"{base}/lookup/example.com/m@v1.0.0")
    assert status == 200, body
    status, body2 = _get(port, f"{base}/lookup/example.com/!upper@v1.0.0")
    assert status == 200, body2
    tiles = {}
    for path in ("tile/8/0/000.p/2", "tile/8/data/000.p/2"):
        status, data = _get(port, f"{base}/{path}")
        assert status == 200
        tiles[parse_tile_path(path)] = data
    verifier = new_verifier(vkey)
    status, latest = _get(port, f"{base}/latest")
    tree = open_tree_note(latest, [verifier])
    assert tree.N == 2
    hashes = {k: v for k, v in tiles.items() if k.L >= 0}
    for b in (body, body2):
        # the first lookup's tree (size 1) is checked against the latest, as the go command does
        got = verify_lookup(b, [verifier], hashes, latest=tree)
        assert isinstance(got, LookupResult)
    for t, data in tiles.items():
        assert verify_tile(t, data, tree, hashes) is None


@pytest.mark.parametrize("frontend", [*FRONTENDS, "asgi", "wsgi"])
def test_every_server_serves_the_own_database(frontend, tmp_path):
    tree = build_small_tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), own_sumdb=NAME)
    vkey = SumdbLog(tmp_path / "cache" / "sumdb" / NAME, NAME).vkey
    if frontend in FRONTENDS:
        with running(frontend, store, config) as port:
            _serves_it(port, vkey)
        return
    make, run = (asgi_app, _uvicorn) if frontend == "asgi" else (wsgi_app, _wsgiref)
    with run(make(store, config)) as port:
        _serves_it(port, vkey)
