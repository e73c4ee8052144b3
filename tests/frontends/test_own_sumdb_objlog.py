"""The own checksum database's log in an object store (goproxy_io.sumdb_objlog), on memory://,
file:// and a real S3-compatible server (``weed mini``).

It answers what the SQLite log answers for the same records and key (tree notes, tiles,
lookups, byte for byte); its signer key is made once by racing makers; appenders on one store
(threads of two "replicas" with separate memories, processes) get distinct indexes and one
consistent tree, each version logged once; a crash after the record's create is whole; a
missing bundle is made again; a log opened with another key is an error.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from goproxy_core import ReadSumdb, SumdbPart
from goproxy_core.sumdb import (
    LookupResult,
    generate_key,
    gosum_record,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    signed_tree,
    stored_hashes,
    verify_lookup,
    verify_tile,
)
from goproxy_core.sumdb.tile import new_tiles
from goproxy_io import Executor, Pending
from goproxy_io.sumdb_base import LogError
from goproxy_io.sumdb_log import KEY_FILE, SumdbLog
from goproxy_io.sumdb_objlog import (
    BUNDLE,
    ObjectSumdbLog,
    ObjectSumdbLogs,
    _dump,
    _Record,
    bundle_name,
    object_signer_key,
    record_name,
)
from goproxy_stores.objectstore import ObjectStore, open_object_store
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini

NAME = "sumdb.test"
SRC = Path(__file__).resolve().parents[2] / "src"


def _record(module: str, version: str = "v1.0.0", zh: str = "A") -> bytes:
    return gosum_record(module, version, "h1:" + zh * 43 + "=", "h1:" + "B" * 43 + "=")


def _url(kind: str, request, tmp_path, monkeypatch) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "file":
        return (tmp_path / "bucket").as_uri()
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    server = request.getfixturevalue("weed")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    # A prefix of its own per test: the bucket is shared by the session.
    prefix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    return f"s3://{server.bucket}/{prefix}"


@pytest.fixture(params=["s3", "file", "memory"])
def url(request, tmp_path, monkeypatch) -> str:
    return _url(request.param, request, tmp_path, monkeypatch)


@pytest.fixture(params=["s3", "file"])
def shared_url(request, tmp_path, monkeypatch) -> str:
    """A store several processes share."""
    return _url(request.param, request, tmp_path, monkeypatch)


@pytest.fixture
def store(url) -> ObjectStore:
    return open_object_store(url)


def _check(log: ObjectSumdbLog, versions: list[tuple[str, str]]) -> int:
    """Every tile verifies against the latest tree, and every version's lookup proves it."""
    verifier = new_verifier(log.vkey)
    tree = open_tree_note(log.latest(), [verifier])
    tiles = {}
    for t in new_tiles(8, 0, tree.N):
        data = log.tile(t.path())
        assert data is not None
        tiles[t] = data
    for t, data in tiles.items():
        assert verify_tile(t, data, tree, tiles) is None
    for module, version in versions:
        body = log.lookup(module, version)
        assert body is not None, (module, version)
        assert isinstance(verify_lookup(body, [verifier], tiles, latest=tree), LookupResult)
    return tree.N


# -- the same answers as the SQLite log -------------------------------------------------------


def test_it_answers_what_the_sqlite_log_answers(store, tmp_path):
    skey, _ = generate_key(NAME, os.urandom(32))
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / KEY_FILE).write_text(skey + "\n")
    store.own_put(f"sumdb/{NAME}/signer.key", skey.encode(), create=True)
    sql = SumdbLog(tmp_path / "db", NAME)
    obj = ObjectSumdbLog(store, NAME)
    assert obj.vkey == sql.vkey
    assert obj.latest() == sql.latest() and obj.size() == 0
    n = BUNDLE + 40  # a whole bundle and a partial one
    versions = [(f"example.com/m{i}", "v1.0.0") for i in range(n)]
    for module, version in versions:
        assert obj.append(module, version, _record(module)) == sql.append(
            module, version, _record(module)
        )
    assert obj.size() == sql.size() == n
    assert obj.latest() == sql.latest()
    paths = [t.path() for t in new_tiles(8, 0, n)]
    paths += ["tile/8/0/001.p/3", "tile/8/data/000", "tile/8/data/001.p/40", "tile/8/1/000.p/1"]
    cold = ObjectSumdbLog(store, NAME)  # a new process: reads the bundle and the records
    for path in paths:
        assert obj.tile(path) == sql.tile(path) == cold.tile(path), path
        t = parse_tile_path(path)
        if t.L >= 0 or t.W:
            assert obj.tile(path) is not None
    assert obj.tile("tile/8/0/001.p/41") is None and sql.tile("tile/8/0/001.p/41") is None
    for module, version in [*versions[:: n // 13], versions[-1], ("example.com/no", "v1.0.0")]:
        want = sql.lookup(module, version)
        assert obj.lookup(module, version) == want == cold.lookup(module, version)
    assert _check(cold, versions) == n
    names = [name for name, _, _ in store.own_list(f"sumdb/{NAME}/")]
    assert bundle_name(NAME, 0) in names and bundle_name(NAME, 1) not in names
    sql.close()


def test_effects_and_the_executor(store):
    fx = Executor(store)
    assert isinstance(fx.sumdb_logs, ObjectSumdbLogs)
    log = fx.sumdb_logs.get(NAME)
    log.append("example.com/m", "v1.0.0", _record("example.com/m"))
    got = fx.perform(ReadSumdb(NAME, SumdbPart.LATEST), Pending())
    assert got.found and open_tree_note(got.body, [new_verifier(log.vkey)]).N == 1
    got = fx.perform(ReadSumdb(NAME, SumdbPart.LOOKUP, "example.com/m", "v1.0.0"), Pending())
    assert got.found and got.body.startswith(b"0\nexample.com/m v1.0.0 ")
    got = fx.perform(ReadSumdb(NAME, SumdbPart.LOOKUP, "example.com/x", "v1.0.0"), Pending())
    assert not got.found and not got.error
    got = fx.perform(ReadSumdb(NAME, SumdbPart.TILE, tile="tile/8/0/000.p/2"), Pending())
    assert not got.found and not got.error


# -- the key ----------------------------------------------------------------------------------


def test_racing_makers_make_one_key(store):
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(object_signer_key(store, NAME)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 6 and len(set(keys)) == 1
    got = store.own_get(f"sumdb/{NAME}/signer.key")
    assert got is not None and got.data.decode().strip() == keys[0]


def test_a_bad_key_or_another_key_is_an_error(store):
    store.own_put(f"sumdb/{NAME}/signer.key", b"not a key\n", create=True)
    with pytest.raises(LogError, match=r"\.goproxy/sumdb/sumdb\.test/signer\.key holds no valid"):
        ObjectSumdbLog(store, NAME)
    store.own_delete(f"sumdb/{NAME}/signer.key")
    log = ObjectSumdbLog(store, NAME)
    log.append("example.com/m", "v1.0.0", _record("example.com/m"))
    store.own_delete(f"sumdb/{NAME}/signer.key")  # the key lost: a new one is made
    with pytest.raises(LogError, match="restore the key the log was signed with"):
        ObjectSumdbLog(store, NAME)


# -- appenders together -----------------------------------------------------------------------


def test_two_replicas_append_together(store, url):
    # Two logs on one store, each with its own memory: as two replicas on one bucket.
    replicas = [ObjectSumdbLog(store, NAME), ObjectSumdbLog(open_object_store(url), NAME)]
    if url == "memory://":
        replicas[1] = ObjectSumdbLog(store, NAME)
    got: dict[tuple[str, str], int] = {}
    lock = threading.Lock()

    def work(t: int) -> None:
        log = replicas[t % 2]
        for i in range(12):
            # Every version is appended by two threads, one on each replica.
            module = f"example.com/t{t // 2}/m{i}"
            body = log.append(module, "v1.0.0", _record(module))
            with lock:
                n = int(body.split(b"\n")[0])
                assert got.setdefault((module, "v1.0.0"), n) == n  # one record per version

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got.values()) == list(range(36))  # distinct indexes, no gaps, no duplicates
    for log in replicas:
        assert _check(log, list(got)) == 36
    assert replicas[0].latest() == replicas[1].latest()


APPEND = """
import sys
from goproxy_core.sumdb import gosum_record
from goproxy_io.sumdb_objlog import ObjectSumdbLog
from goproxy_stores.objectstore import open_object_store
log = ObjectSumdbLog(open_object_store(sys.argv[1]), sys.argv[2])
for i in range(30):
    mod = f"example.com/shared{i}"
    log.append(mod, "v1.0.0", gosum_record(mod, "v1.0.0", "h1:" + "A" * 43 + "=", "h1:x="))
"""


def test_processes_append_together(shared_url):
    url = shared_url
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC / 'frontends'}"}
    procs = [subprocess.Popen([sys.executable, "-c", APPEND, url, NAME], env=env) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    log = ObjectSumdbLog(open_object_store(url), NAME)
    assert _check(log, [(f"example.com/shared{i}", "v1.0.0") for i in range(30)]) == 30


# -- crashes ----------------------------------------------------------------------------------


def test_a_record_created_by_an_appender_that_died_is_whole(store):
    log = ObjectSumdbLog(store, NAME)
    log.append("example.com/a", "v1.0.0", _record("example.com/a"))
    # What an appender does up to its create, then nothing more (kill -9 after the create).
    other = ObjectSumdbLog(store, NAME)
    text = _record("example.com/b")
    hashes = stored_hashes(1, text, other._read_hashes)
    note = signed_tree(2, other._with(hashes), other.signer)
    record = _Record("example.com/b", "v1.0.0", text, tuple(hashes), note)
    assert store.own_put(record_name(NAME, 1), _dump(record.encode()), create=True)
    # The first log's memory lacks it: a lookup, a tile and /latest read it from the store.
    assert log.lookup("example.com/b", "v1.0.0") is not None
    assert log.size() == 2 and log.latest() == note
    # An append of the same version finds it: one record, the dead appender's.
    body = log.append("example.com/b", "v1.0.0", _record("example.com/b", zh="C"))
    assert body.startswith(b"1\nexample.com/b v1.0.0 h1:AAA")
    log.append("example.com/c", "v1.0.0", _record("example.com/c"))
    assert _check(ObjectSumdbLog(store, NAME), [("example.com/b", "v1.0.0")]) == 3


def test_a_bundle_lost_in_a_crash_is_made_again(store):
    log = ObjectSumdbLog(store, NAME)
    for i in range(BUNDLE + 1):
        log.append(f"example.com/m{i}", "v1.0.0", _record(f"example.com/m{i}"))
    bundle = store.own_get(bundle_name(NAME, 0))
    assert bundle is not None
    store.own_delete(bundle_name(NAME, 0))  # the appender of record 255 died before it
    cold = ObjectSumdbLog(store, NAME)
    assert cold.size() == BUNDLE + 1 and cold.latest() == log.latest()
    again = store.own_get(bundle_name(NAME, 0))
    assert again is not None and again.data == bundle.data


def test_a_broken_record_is_an_error(store):
    store.own_put(record_name(NAME, 0), b"{not json", create=True)
    with pytest.raises(LogError, match=r"records/000000000000 is not a record of the log"):
        ObjectSumdbLog(store, NAME)


def test_the_same_version_twice_keeps_one_record(store, caplog):
    a, b = ObjectSumdbLog(store, NAME), ObjectSumdbLog(store, NAME)  # b's memory goes stale
    first = a.append("example.com/m", "v1.0.0", _record("example.com/m"))
    assert b.append("example.com/m", "v1.0.0", _record("example.com/m", zh="C")) == first
    assert "the logged one stands" in caplog.text
    assert a.size() == b.size() == 1


KEEP_APPENDING = """
import sys
from goproxy_core.sumdb import gosum_record
from goproxy_io.sumdb_objlog import ObjectSumdbLog
from goproxy_stores.objectstore import open_object_store
log = ObjectSumdbLog(open_object_store(sys.argv[1]), sys.argv[2])
i = int(sys.argv[3])
print("ready", flush=True)
while True:
    mod = f"example.com/k{i % 7}/m{i}"
    log.append(mod, "v1.0.0", gosum_record(mod, "v1.0.0", "h1:" + "A" * 43 + "=", "h1:x="))
    i += 1
"""


def test_kill_9_at_any_point_leaves_a_whole_log(shared_url):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC / 'frontends'}"}
    sizes = []
    for round in range(4):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", KEEP_APPENDING, shared_url, NAME, str(n)],
                stdout=subprocess.PIPE,
                env=env,
            )
            for n in (round * 1_000_000, round * 1_000_000 + 500_000)
        ]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        time.sleep(0.05 * (round + 1))
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(timeout=10)
            assert p.stdout is not None
            p.stdout.close()
        log = ObjectSumdbLog(open_object_store(shared_url), NAME)  # checks the newest tree
        sizes.append(_check(log, []))
        log.append(f"example.com/after{round}", "v1.0.0", _record(f"example.com/after{round}"))
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0], sizes


def test_when_the_store_is_away_memory_answers_and_the_rest_is_an_error(store, monkeypatch):
    log = ObjectSumdbLog(store, NAME)
    body = log.append("example.com/m", "v1.0.0", _record("example.com/m"))
    latest = log.latest()

    def away(*args, **kw):
        raise OSError("object store: connection refused")

    monkeypatch.setattr(store, "own_get", away)
    monkeypatch.setattr(store, "own_put", away)
    assert log.latest() == latest
    assert log.lookup("example.com/m", "v1.0.0") == body
    assert log.tile("tile/8/0/000.p/1") is not None
    with pytest.raises(OSError, match="connection refused"):
        log.lookup("example.com/new", "v1.0.0")
    with pytest.raises(OSError, match="connection refused"):
        log.append("example.com/new", "v1.0.0", _record("example.com/new"))
    got = ObjectSumdbLogs(store).read(ReadSumdb(NAME, SumdbPart.LATEST))
    assert not got.found and "connection refused" in got.error  # a log not yet opened


def test_a_record_whose_tree_is_not_the_logs_is_an_error_every_time(store):
    log = ObjectSumdbLog(store, NAME)
    log.append("example.com/a", "v1.0.0", _record("example.com/a"))
    # Record 1 written by someone else: its tree claims the tree of record 0 again.
    text = _record("example.com/b")
    hashes = stored_hashes(1, text, log._read_hashes)
    forged = _Record("example.com/b", "v1.0.0", text, tuple(hashes), log.latest())
    assert store.own_put(record_name(NAME, 1), _dump(forged.encode()), create=True)
    for _ in range(2):
        with pytest.raises(LogError, match=r"records/000000000001: its tree \(size 1\) is not"):
            log.lookup("example.com/b", "v1.0.0")
    assert len(log._records) == 1 and log.lookup("example.com/a", "v1.0.0") is not None
    with pytest.raises(LogError, match="is not the tree of the log"):
        ObjectSumdbLog(store, NAME)
