"""The quota on an object store (``goproxy_stores.objusage``): replicas on one bucket keep one
quota. Last uses recorded on one replica count when another evicts; one gc at a time; a
replica killed mid-gc leaves no half-removed version once another takes the lease. On
memory://, file:// and a real S3-compatible server (``weed mini``)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from goproxy_core import AccessRecord, ProxyConfig, compile_config
from goproxy_core.proxy import unit_keys
from goproxy_stores.leases import ObjectLeases
from goproxy_stores.objectstore import ObjectStore, open_object_store
from goproxy_stores.objusage import BATCHES, EVICTING, SNAPSHOT, ObjectPlace
from goproxy_stores.usage import UsageIndex, UsageTracker, _unit
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini

ROOT = Path(__file__).resolve().parents[2]
EXTS = ("info", "mod", "zip")


@pytest.fixture
def s3_env(monkeypatch):
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(params=["s3", "file", "memory"])
def url(request, tmp_path):
    """A store URL (and endpoint) the replicas of one test share."""
    if request.param == "memory":
        return "memory://", ""
    if request.param == "file":
        return (tmp_path / "bucket").as_uri(), ""
    request.getfixturevalue("s3_env")
    server = request.getfixturevalue("weed")
    prefix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    return f"s3://{server.bucket}/{prefix}", server.endpoint


class Fleet:
    """Replicas of one store: each its own ObjectStore (and local state dir) on it."""

    def __init__(self, url: tuple[str, str], tmp_path: Path) -> None:
        self.url, self.endpoint = url
        self.tmp = tmp_path
        self._memory: ObjectStore | None = None
        self.n = 0

    def store(self) -> ObjectStore:
        self.n += 1
        state = str(self.tmp / f"replica{self.n}")
        if self.url == "memory://":
            if self._memory is None:
                self._memory = open_object_store("memory://")
            return ObjectStore(self._memory.inner, url="memory://", state_dir=state)
        return open_object_store(self.url, endpoint=self.endpoint, state_dir=state)


def tracker(store: ObjectStore, **cfg: object) -> UsageTracker:
    config = compile_config(ProxyConfig(**{"min_free_space": 0, **cfg}))  # type: ignore[arg-type]
    return UsageTracker(store, config, settle=0, flush_interval=0.05)


def put(store: ObjectStore, module: str, version: str, size: int) -> None:
    unit = _unit(module, version)
    for ext in EXTS:
        w = store.writer(f"{unit}.{ext}")
        w.write(b"x" * size)
        w.commit()


def rec(module: str, when: float) -> AccessRecord:
    target = f"/{_unit(module, 'v1.0.0')}.zip"
    return AccessRecord("GET", target, 200, 1, "", 0.0, when)


def bucket_total(store: ObjectStore) -> int:
    return sum(size for _, size, _ in store.list_objects())


def present(store: ObjectStore, module: str) -> list[bool]:
    """Which of the version's files are in the store (and none of its other keys)."""
    unit = _unit(module, "v1.0.0")
    found = [store.stat(f"{unit}.{ext}") is not None for ext in EXTS]
    others = [k for k in unit_keys(unit) if k.rpartition(".")[2] not in EXTS]
    assert not [k for k in others if store.stat(k) is not None]
    return found


def test_uses_on_one_replica_count_when_another_evicts(url, tmp_path):
    fleet = Fleet(url, tmp_path)
    sa, sb = fleet.store(), fleet.store()
    a, b = tracker(sa, max_cache_size=1 << 30), tracker(sb, max_cache_size=1 << 30)
    try:
        # Stored through A (its index notes them; B lists the bucket).
        for m in ("example.com/a", "example.com/b", "example.com/c"):
            put(sa, m, "v1.0.0", 100)
        a.flush()  # its batch: the files, with their sizes
        assert a.index.total() == 900
        b.index.reconcile(wait=False)
        assert b.index.total() == 900 == bucket_total(sb)
        now = time.time()
        a.note([rec("example.com/a", now + 100)])  # used on A only
        b.note([rec("example.com/b", now + 200)])  # used on B only
        a.flush()
        b.flush()
        # Batches, not a write per hit: one object per replica and flush.
        names = [n for n, _, _ in sb.own_list(BATCHES)]
        assert len(names) == 3, names
        # B evicts one version (limit 700, low water 90%): c, never used; a's use on A counts.
        result = b.index.gc(limit=700, min_free=0, keep=lambda m: False)
        assert result is not None
        assert [v.module for v in result.evicted] == ["example.com/c"]
        assert present(sb, "example.com/c") == [False, False, False]
        assert present(sb, "example.com/a") == [True, True, True]
        assert present(sb, "example.com/b") == [True, True, True]
        # The fleet's uses as one snapshot; the batches folded into it are gone.
        assert [n for n, _, _ in sb.own_list(BATCHES)] == []
        snap = sb.own_get(SNAPSHOT)
        assert snap is not None
        uses = json.loads(snap.data)["uses"]
        assert uses[_unit("example.com/a", "v1.0.0")] == [now + 100, 1]
        assert uses[_unit("example.com/b", "v1.0.0")] == [now + 200, 1]
        # A takes over the next gc: it did not write that snapshot, so it lists first, and
        # sees the eviction; the uses B folded are its own now.
        a.note([rec("example.com/b", now + 300)])
        a.flush()
        result = a.index.gc(limit=500, min_free=0, keep=lambda m: False)
        # Everything B left, with the _goproxy/evicted mark B wrote (counted, as on disk).
        assert result is not None and result.total_before == bucket_total(sb) + 300
        assert [v.module for v in result.evicted] == ["example.com/a"]
        row = a.index.version("example.com/b", "v1.0.0")
        assert row is not None and row.last_use == now + 300 and row.uses == 2
        assert a.index.total() == bucket_total(sa)
        assert [v.module for v in a.index.versions()] == ["example.com/b"]
        assert sa.own_get(EVICTING) is None
    finally:
        a.stop()
        b.stop()


def test_a_batch_folded_twice_counts_once(url, tmp_path):
    fleet = Fleet(url, tmp_path)
    s = fleet.store()
    t = tracker(s, max_cache_size=1 << 30)
    try:
        put(s, "example.com/a", "v1.0.0", 10)
        t.flush()
        t.note([rec("example.com/a", time.time() + 50)])
        t.flush()
        place = t.index.place
        assert isinstance(place, ObjectPlace)
        # A crash between writing the snapshot and deleting the batches: they are still
        # there, named in the snapshot, and not counted again.
        real = s.own_delete
        s.own_delete = lambda name: None  # type: ignore[method-assign]
        place.before_gc(t.index, compact=True)
        s.own_delete = real  # type: ignore[method-assign]
        assert len(list(s.own_list(BATCHES))) == 2
        place.before_gc(t.index, compact=True)
        assert list(s.own_list(BATCHES)) == []
        snap = s.own_get(SNAPSHOT)
        assert snap is not None
        assert json.loads(snap.data)["uses"][_unit("example.com/a", "v1.0.0")][1] == 1
    finally:
        t.stop()


def test_one_gc_at_a_time(url, tmp_path):
    fleet = Fleet(url, tmp_path)
    sa, sb = fleet.store(), fleet.store()
    for i in range(4):
        put(sa, f"example.com/m{i}", "v1.0.0", 100)
    a, b = UsageIndex(sa, settle=0), UsageIndex(sb, settle=0)
    a.reconcile(wait=False)
    b.reconcile(wait=False)
    with a.place.lock(wait=False) as held:
        assert held
        assert b.place.lock_held()
        assert b.gc(limit=100, min_free=0, keep=lambda m: False) is None  # skipped
    assert not b.place.lock_held()
    result = b.gc(limit=700, min_free=0, keep=lambda m: False)
    assert result is not None and len(result.evicted) == 2
    assert bucket_total(sb) == b.total() == 600 + len(b"%.6f\n" % time.time())


CRASHER = textwrap.dedent(
    """
    import sys, time
    from goproxy_stores.objectstore import open_object_store
    from goproxy_stores.usage import UsageIndex
    store = open_object_store(sys.argv[1], endpoint=sys.argv[2], state_dir=sys.argv[3])
    real = store.delete
    def slow(key):
        real(key)
        print("deleted", key, flush=True)
        time.sleep(60)
    store.delete = slow
    index = UsageIndex(store, settle=0)
    index.reconcile(wait=False)
    index.gc(limit=1000, min_free=0, keep=lambda m: False)
    """
)


@pytest.mark.parametrize("url", ["s3", "file"], indirect=True)
@pytest.mark.parametrize("next_holder", ["gc", "reconcile"])
def test_kill_9_mid_gc_is_finished_by_the_next_holder(url, next_holder, tmp_path):
    fleet = Fleet(url, tmp_path)
    s = fleet.store()
    for i in range(5):
        put(s, f"example.com/m{i}", "v1.0.0", 100)
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'src/frontends'}")
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER, fleet.url, fleet.endpoint, str(tmp_path / "crasher")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("deleted example.com/m"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    # Half removed now: one object gone, the list of what was being evicted in the bucket.
    assert s.own_get(EVICTING) is not None
    halves = [sum(present(s, f"example.com/m{i}")) for i in range(5)]
    assert 2 in halves
    # Another replica (lease time short for the test) takes the lease once it has expired
    # and finishes the removal before it decides anything else.
    leases = s.leases()
    if isinstance(leases, ObjectLeases):
        leases.lease_time = 1.0
    index = UsageIndex(s, settle=0, place=ObjectPlace(s, leases=leases))
    index.reconcile(wait=False)
    deadline = time.monotonic() + 20
    if next_holder == "gc":
        while index.gc(limit=1 << 30, min_free=0, keep=lambda m: False) is None:
            assert time.monotonic() < deadline, "the crashed holder's lease never expired"
            time.sleep(0.3)
    else:  # a replica's scan (at start, hourly) that gets the lease finishes it too
        while s.own_get(EVICTING) is not None:
            assert time.monotonic() < deadline, "the crashed holder's lease never expired"
            time.sleep(0.3)
            index.reconcile(wait=False)
    halves = [sum(present(s, f"example.com/m{i}")) for i in range(5)]
    assert sorted(halves) == [0, 0, 3, 3, 3]  # two versions gone whole, three whole
    assert s.own_get(EVICTING) is None
    assert index.total() == bucket_total(s)
    assert sum(v.bytes for v in index.versions()) == 900


def test_uses_wait_in_memory_while_the_store_is_down(tmp_path, caplog):
    fleet = Fleet(("memory://", ""), tmp_path)
    s = fleet.store()
    t = tracker(s, max_cache_size=1 << 30)
    try:
        put(s, "example.com/a", "v1.0.0", 10)
        t.flush()
        real = s.own_put

        def down(*args, **kw):
            raise OSError("object store: connection refused")

        s.own_put = down  # type: ignore[method-assign]
        now = time.time()
        with caplog.at_level("WARNING", logger="goproxy.quota"):
            for i in range(3):  # three flushes: one warning, nothing raised
                t.note([rec("example.com/a", now + i)])
                t.flush()
        assert len([r for r in caplog.records if "kept for later" in r.message]) == 1
        # Counted locally all along; shared once the store is back, in one batch.
        row = t.index.version("example.com/a", "v1.0.0")
        assert row is not None and row.uses == 3
        s.own_put = real  # type: ignore[method-assign]
        before = {n for n, _, _ in s.own_list(BATCHES)}
        t.flush()
        (new,) = {n for n, _, _ in s.own_list(BATCHES)} - before
        got = s.own_get(new)
        assert got is not None
        assert json.loads(got.data)["uses"] == {_unit("example.com/a", "v1.0.0"): [now + 2, 3]}
    finally:
        t.stop()


def test_a_replicas_own_stale_marks_never_remove_a_version_stored_again(url, tmp_path):
    """A replica killed mid-gc keeps its ``evicting`` rows; by the time it restarts another
    replica may have finished that removal and the version been stored again. Only the
    bucket's list of what is being removed counts: the version stays."""
    fleet = Fleet(url, tmp_path)
    s = fleet.store()
    put(s, "example.com/a", "v1.0.0", 10)
    index = UsageIndex(s, settle=0)
    index.reconcile(wait=False)
    with index._write() as db:
        db.execute("UPDATE versions SET evicting = 1")
    assert index.reconcile(wait=False)
    assert present(s, "example.com/a") == [True, True, True]
    assert [v.module for v in index.versions()] == ["example.com/a"]
    assert index.gc(limit=1 << 30, min_free=0, keep=lambda m: False) is not None
    assert present(s, "example.com/a") == [True, True, True]


def test_a_server_keeps_the_quota_on_a_bucket_only_with_max_cache_size(tmp_path, caplog):
    """min-free-space alone (its default) tracks nothing on a bucket; max-cache-size does, in
    an index under the store's local state dir; without one, a warning and no quota."""
    from goproxy_io.server import ServerBase

    def server(store: ObjectStore, **cfg: object) -> ServerBase:
        return ServerBase(store, ProxyConfig(**cfg), raise_limit=False)  # type: ignore[arg-type]

    inner = open_object_store("memory://").inner
    s = server(ObjectStore(inner, url="memory://", state_dir=str(tmp_path / "a")))
    try:
        assert s.usage is None  # min-free-space 512M by default: nothing to keep on a bucket
    finally:
        s.close()
    with caplog.at_level("WARNING", logger="goproxy.server"):
        s = server(ObjectStore(inner, url="memory://"), max_cache_size=1000)
    try:
        assert s.usage is None
        assert any("no local directory for the usage index" in r.message for r in caplog.records)
    finally:
        s.close()
    s = server(
        ObjectStore(inner, url="memory://", state_dir=str(tmp_path / "b")), max_cache_size=1000
    )
    try:
        assert s.usage is not None and isinstance(s.usage.index.place, ObjectPlace)
        assert s.usage.index.path.startswith(str(tmp_path / "b" / "_goproxy" / "usage-"))
    finally:
        s.close()
