"""Cross-process single-flight (goproxy_stores.leases): lock files, waiting, taking over.

Two executors on one cache directory stand for two processes: an ``flock`` belongs to an
open file, so two executors of one process exclude each other just as two processes do.
"""

from __future__ import annotations

import fcntl
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from goproxy_core import AbortBlob, CommitBlob, FetchUpstream, SaveBlob, UpstreamResult
from goproxy_io import executor as executor_module
from goproxy_io.executor import Executor, Pending
from goproxy_io.upstream import Fetcher, FetchSettings
from goproxy_stores import DiskStore, ops
from goproxy_stores.leases import LEASE_DIR, FileLeases, wait

from support import make_zip

MOD = "example.com/lease"
ZIP_KEY = f"{MOD}/@v/v1.0.0.zip"
MOD_KEY = f"{MOD}/@v/v1.0.0.mod"
GOMOD = b"module example.com/lease\n\ngo 1.21\n"
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "a.go": b"package lease\n"})


class _Gated(http.server.BaseHTTPRequestHandler):
    """Counts requests; each waits for ``gate`` before answering."""

    hits: dict[str, int]
    files: dict[str, bytes]
    gate: threading.Event

    def do_GET(self):
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        self.gate.wait(30)
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    handler = type(
        "H",
        (_Gated,),
        {
            "hits": {},
            "files": {f"/{ZIP_KEY}": ZIP, f"/{MOD_KEY}": GOMOD},
            "gate": threading.Event(),
        },
    )
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        handler.gate.set()
        srv.shutdown()
        srv.server_close()


def _executor(cache: Path, deadline: float = 30.0, idle: float = 30.0) -> Executor:
    settings = FetchSettings(retries=0, fetch_deadline=deadline, read_timeout=idle)
    return Executor(DiskStore(cache), Fetcher(settings))


def _lock_files(cache: Path) -> list[str]:
    d = cache / LEASE_DIR
    return sorted(os.listdir(d)) if d.exists() else []


class _Call:
    """``Executor.perform`` on a thread of its own."""

    def __init__(self, ex: Executor, effect: object, pending: Pending) -> None:
        self.result: object = None
        self.thread = threading.Thread(target=self._run, args=(ex, effect, pending))
        self.thread.start()

    def _run(self, ex: Executor, effect: object, pending: Pending) -> None:
        self.result = ex.perform(effect, pending)

    def join(self) -> object:
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result


def _until(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _zip_fetch(url: str) -> FetchUpstream:
    return FetchUpstream(f"{url}/{ZIP_KEY}", 1 << 20, into=ZIP_KEY)


def test_a_waiter_answers_from_the_holders_commit(tmp_path, upstream):
    handler, url = upstream
    a, b = _executor(tmp_path), _executor(tmp_path)
    pa, pb = Pending(), Pending()
    lead = _Call(a, _zip_fetch(url), pa)
    _until(lambda: handler.hits.get(f"/{ZIP_KEY}") == 1)
    follow = _Call(b, _zip_fetch(url), pb)
    handler.gate.set()
    got = lead.join()
    assert isinstance(got, UpstreamResult) and got.status == 200 and got.stored is None
    time.sleep(0.3)
    assert follow.thread.is_alive()  # the file is not committed yet: still waiting
    assert _lock_files(tmp_path) != []
    a.perform(CommitBlob(ZIP_KEY), pa)
    shared = follow.join()
    assert isinstance(shared, UpstreamResult) and shared.stored is not None
    assert shared.stored.size == len(ZIP)
    assert handler.hits[f"/{ZIP_KEY}"] == 1
    assert _lock_files(tmp_path) == []  # released and removed at the commit
    assert not pb.writes and not pb.leases


def test_an_aborted_write_hands_the_lease_on(tmp_path, upstream):
    handler, url = upstream
    a, b = _executor(tmp_path), _executor(tmp_path)
    pa, pb = Pending(), Pending()
    lead = _Call(a, _zip_fetch(url), pa)
    _until(lambda: handler.hits.get(f"/{ZIP_KEY}") == 1)
    follow = _Call(b, _zip_fetch(url), pb)
    handler.gate.set()
    lead.join()
    a.perform(AbortBlob(ZIP_KEY, refused="bad zip"), pa)
    got = follow.join()
    # The holder stored nothing: the waiter took the lease and fetched for itself.
    assert isinstance(got, UpstreamResult) and got.status == 200 and got.stored is None
    assert handler.hits[f"/{ZIP_KEY}"] == 2
    assert list(pb.leases) == [ZIP_KEY]
    b.abandon(pb)  # the connection ends with the write pending: aborted, lease released
    assert not pb.leases
    assert _lock_files(tmp_path) == []
    assert DiskStore(tmp_path).stat(ZIP_KEY) is None


def test_a_failed_fetch_releases_the_lease_at_once(tmp_path, upstream):
    handler, url = upstream
    a, b = _executor(tmp_path), _executor(tmp_path)
    missing = FetchUpstream(f"{url}/{MOD}/@v/v9.0.0.zip", 1 << 20, into=f"{MOD}/@v/v9.0.0.zip")
    lead = _Call(a, missing, Pending())
    _until(lambda: handler.hits.get(f"/{MOD}/@v/v9.0.0.zip") == 1)
    follow = _Call(b, missing, Pending())
    time.sleep(0.2)
    handler.gate.set()
    assert lead.join().status == 404  # type: ignore[attr-defined]
    assert follow.join().status == 404  # type: ignore[attr-defined]
    assert handler.hits[f"/{MOD}/@v/v9.0.0.zip"] == 2  # the waiter was not left stuck
    assert _lock_files(tmp_path) == []


def test_a_small_file_is_shared_once_saved(tmp_path, upstream):
    handler, url = upstream
    a, b = _executor(tmp_path), _executor(tmp_path)
    pa, pb = Pending(), Pending()
    effect = FetchUpstream(f"{url}/{MOD_KEY}", 1 << 16, immutable=True, saves=MOD_KEY)
    lead = _Call(a, effect, pa)
    _until(lambda: handler.hits.get(f"/{MOD_KEY}") == 1)
    follow = _Call(b, effect, pb)
    handler.gate.set()
    got = lead.join()
    assert isinstance(got, UpstreamResult) and got.body == GOMOD
    time.sleep(0.3)
    assert follow.thread.is_alive()  # held until the leader's flow saves it
    assert a.perform(SaveBlob(MOD_KEY, GOMOD), pa) is True
    shared = follow.join()
    assert isinstance(shared, UpstreamResult) and shared.body == GOMOD
    assert handler.hits[f"/{MOD_KEY}"] == 1
    assert not pa.leases and _lock_files(tmp_path) == []


def test_a_small_file_waits_a_bounded_time(tmp_path, upstream, monkeypatch):
    handler, url = upstream
    handler.gate.set()
    monkeypatch.setattr(executor_module, "SMALL_LEASE_WAIT", 0.3)
    b = _executor(tmp_path)
    held = FileLeases(tmp_path / LEASE_DIR).try_acquire(MOD_KEY)  # a holder that never saves
    assert held is not None
    effect = FetchUpstream(f"{url}/{MOD_KEY}", 1 << 16, immutable=True, saves=MOD_KEY)
    t0 = time.monotonic()
    got = b.perform(effect, Pending())
    assert isinstance(got, UpstreamResult) and got.body == GOMOD  # fetched without the lease
    assert 0.3 <= time.monotonic() - t0 < 5
    held.release()


def test_a_zip_waiter_gives_up_at_its_deadline(tmp_path, upstream):
    handler, url = upstream
    handler.gate.set()
    b = _executor(tmp_path, deadline=0.4, idle=0.5)
    held = FileLeases(tmp_path / LEASE_DIR).try_acquire(ZIP_KEY)
    assert held is not None
    t0 = time.monotonic()
    got = b.perform(_zip_fetch(url), Pending())
    assert isinstance(got, UpstreamResult)
    assert got.status == 0 and got.timeout
    assert f"another process fetching {ZIP_KEY} did not store it" in got.error
    assert time.monotonic() - t0 >= 0.5  # the holder's silence, not just the deadline
    assert handler.hits == {}
    held.release()


def test_a_zip_waiter_waits_while_the_holder_makes_progress(tmp_path, upstream):
    handler, url = upstream
    b = _executor(tmp_path, deadline=0.3, idle=0.6)
    held = FileLeases(tmp_path / LEASE_DIR).try_acquire(ZIP_KEY)
    assert held is not None
    waiter = _Call(b, _zip_fetch(url), Pending())
    for _ in range(8):  # 1.6 s of a body arriving: well past the deadline
        time.sleep(0.2)
        assert held.renew()
    assert waiter.thread.is_alive()
    assert ops.save(DiskStore(tmp_path), ZIP_KEY, ZIP)
    held.release()
    got = waiter.join()
    assert isinstance(got, UpstreamResult) and got.stored is not None
    assert handler.hits == {}


def test_a_holders_write_renews_its_lease(tmp_path):
    leases = FileLeases(tmp_path / LEASE_DIR)
    lease = leases.try_acquire(ZIP_KEY)
    assert lease is not None
    assert leases.idle(ZIP_KEY) < 5
    os.utime(leases.path(ZIP_KEY), (0, 0))  # long silent
    assert leases.idle(ZIP_KEY) > 1e6
    writer = executor_module._RenewingStore(DiskStore(tmp_path), lease).writer(ZIP_KEY)
    writer.write(b"a")  # within a second of the last renewal: not renewed again
    assert leases.idle(ZIP_KEY) > 1e6
    writer._renewed -= 2  # type: ignore[attr-defined]
    writer.write(b"b")
    assert leases.idle(ZIP_KEY) < 5
    writer.abort()
    lease.release()
    assert leases.idle(ZIP_KEY) == float("inf")


def test_a_walk_that_holds_the_lease_fetches_again(tmp_path, upstream):
    """The next upstream of one walk, for the same key, reuses the lease it holds."""
    handler, url = upstream
    handler.gate.set()
    a = _executor(tmp_path)
    pa = Pending()
    first = FetchUpstream(f"{url}/{MOD}/@v/v1.0.0.info", 1 << 16, immutable=True, saves=MOD_KEY)
    assert a.perform(first, pa).status == 404  # type: ignore[attr-defined]
    held = FileLeases(tmp_path / LEASE_DIR).try_acquire(MOD_KEY)
    assert held is not None  # a failed fetch kept nothing
    held.release()
    effect = FetchUpstream(f"{url}/{MOD_KEY}", 1 << 16, immutable=True, saves=MOD_KEY)
    assert a.perform(effect, pa).body == GOMOD  # type: ignore[attr-defined]
    assert list(pa.leases) == [MOD_KEY]
    again = FetchUpstream(f"{url}//{MOD_KEY}", 1 << 16, immutable=True, saves=MOD_KEY)
    a.perform(again, pa)  # held by this very flow: no wait
    a.abandon(pa)
    assert not pa.leases and _lock_files(tmp_path) == []


def test_file_leases_exclude_and_clean_up(tmp_path):
    leases = FileLeases(tmp_path / "leases")
    first = leases.try_acquire("k")
    assert first is not None and first.renew()
    assert leases.try_acquire("k") is None
    assert FileLeases(tmp_path / "leases").try_acquire("k") is None
    other = leases.try_acquire("other")
    assert other is not None
    first.release()
    first.release()  # idempotent
    assert not first.renew()
    assert not os.path.exists(leases.path("k"))
    again = leases.try_acquire("k")
    assert again is not None
    again.release()
    other.release()
    assert os.listdir(tmp_path / "leases") == []


@pytest.mark.parametrize("recreated", [False, True])
def test_a_lock_on_an_unlinked_file_is_not_a_lease(tmp_path, monkeypatch, recreated):
    """A taker whose file was unlinked (by its holder letting go) between its open and its
    lock opens the path again: a lock on a file nobody else can find is no lease."""
    leases = FileLeases(tmp_path)
    path = leases.path("k")
    locks: list[int] = []
    real_flock = fcntl.flock

    def racing(fd: int, op: int) -> None:
        if not locks:
            os.unlink(path)  # the holder let go just now, removing its file
            if recreated:
                Path(path).touch()  # and the next taker already made a new one
        locks.append(fd)
        real_flock(fd, op)

    Path(path).touch()
    monkeypatch.setattr(fcntl, "flock", racing)
    lease = leases.try_acquire("k")
    monkeypatch.undo()
    assert lease is not None and len(locks) == 2
    assert FileLeases(tmp_path).try_acquire("k") is None  # the file at the path is locked
    lease.release()
    assert os.listdir(tmp_path) == []


_HOLDER = """
import sys, time
from goproxy_stores.leases import FileLeases
lease = FileLeases(sys.argv[1]).try_acquire("k")
print("held" if lease else "busy", flush=True)
time.sleep(60)
"""


def test_kill_9_of_the_holder_frees_the_lease(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        leases = FileLeases(tmp_path)
        assert leases.try_acquire("k") is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert os.listdir(tmp_path) != []  # killed before it could remove its file
        assert leases.sweep() == 1  # no process holds it: removed
        assert os.listdir(tmp_path) == []
        lease = leases.try_acquire("k")
        assert lease is not None
        assert leases.sweep() == 0  # a held one stays
        lease.release()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_an_executor_sweeps_at_start(tmp_path):
    d = tmp_path / LEASE_DIR
    d.mkdir(parents=True)
    (d / ("0" * 40 + ".lock")).write_bytes(b"")
    (d / "note.txt").write_bytes(b"")  # not a lock file: left alone
    ex = _executor(tmp_path)
    assert ex.leases is not None
    assert sorted(os.listdir(d)) == ["note.txt"]
    assert FileLeases(tmp_path / "nowhere").sweep() == 0


class _Stub:
    """Leases whose lease frees after ``free_after`` tries."""

    def __init__(self, free_after: int) -> None:
        self.tries = 0
        self.free_after = free_after
        self.released = 0

    def try_acquire(self, key: str):
        self.tries += 1
        if self.tries <= self.free_after:
            return None
        stub = self

        class _L:
            def renew(self) -> bool:
                return True

            def release(self) -> None:
                stub.released += 1

        lease = _L()
        lease.key = key  # type: ignore[attr-defined]
        return lease

    def sweep(self) -> int:
        return 0

    def idle(self, key: str) -> float:
        return self.idle_for

    idle_for = float("inf")


def test_wait_backs_off_and_finds_the_commit():
    pauses: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        pauses.append(s)
        now[0] += s

    answers = iter([None, None, None, None, "stored"])
    got = wait(_Stub(99), "k", lambda: next(answers), 10.0, sleep=sleep, clock=lambda: now[0])
    assert got == "stored"
    assert pauses == [0.05, 0.1, 0.2, 0.4]


def test_wait_takes_over_a_freed_lease_or_gives_up():
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    stub = _Stub(3)
    got = wait(stub, "k", lambda: None, 10.0, sleep=sleep, clock=lambda: now[0])
    assert got is not None and got.key == "k"  # type: ignore[union-attr]
    # Freed by a holder that committed between the two looks: the lease goes back.
    looks = iter([None, "stored"])
    stub = _Stub(0)
    assert wait(stub, "k", lambda: next(looks), 10.0, sleep=sleep) == "stored"
    assert stub.released == 1
    now[0] = 0.0
    assert wait(_Stub(99), "k", lambda: None, 2.0, sleep=sleep, clock=lambda: now[0]) is None
    assert now[0] == pytest.approx(2.0)


def test_wait_past_its_deadline_while_the_holder_renews():
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    stub = _Stub(99)
    stub.idle_for = 0.5  # renewed half a second ago, every time we look
    looks = iter([None] * 30 + ["stored"])
    got = wait(
        stub, "k", lambda: next(looks), 1.0, idle_limit=5.0, sleep=sleep, clock=lambda: now[0]
    )
    assert got == "stored" and now[0] > 5


def test_without_lock_files_a_fetch_goes_on(tmp_path, upstream, caplog):
    """A cache where no lock file can be made (here: its directory is a file) fetches as
    before, one warning said once."""
    handler, url = upstream
    handler.gate.set()
    (tmp_path / "file").write_bytes(b"")
    settings = FetchSettings(retries=0)
    ex = Executor(DiskStore(tmp_path), Fetcher(settings), leases=FileLeases(tmp_path / "file/x"))
    for _ in range(2):
        pending = Pending()
        got = ex.perform(_zip_fetch(url), pending)
        assert isinstance(got, UpstreamResult) and got.status == 200
        ex.abandon(pending)
    assert handler.hits == {f"/{ZIP_KEY}": 2}
    said = [r for r in caplog.records if "cannot take fetch leases" in r.getMessage()]
    assert len(said) == 1


def test_a_store_may_bring_its_own_leases(tmp_path):
    from goproxy_core.testing import MemoryStore

    assert Executor(MemoryStore()).leases is None  # one fetch per file and process

    class _WithLeases(MemoryStore):
        def leases(self) -> FileLeases:
            return FileLeases(tmp_path / "own")

    own = Executor(_WithLeases()).leases
    assert isinstance(own, FileLeases) and own.dir == str(tmp_path / "own")


# Object-store leases (replicas on one bucket): a memory:// store stands for the bucket, and
# an ObjectLeases per executor for each replica (each has its own view of when it first saw
# a lease object's version).


def _bucket(lease_time: float):
    from goproxy_stores.objectstore import open_object_store

    return open_object_store("memory://", lease_time=lease_time)


def _replica(store, deadline: float = 30.0, idle: float = 30.0) -> Executor:
    from goproxy_io.metrics import Metrics

    settings = FetchSettings(retries=0, fetch_deadline=deadline, read_timeout=idle)
    ex = Executor(store, Fetcher(settings))
    ex.metrics = Metrics()
    return ex


def _count(ex: Executor, name: str) -> float:
    assert ex.metrics is not None
    return ex.metrics.registry.get_sample_value(name) or 0.0


def _lease_objects(store) -> list[str]:
    return [name for name, _, _ in store.own_list("leases/")]


def test_the_store_gives_leases_of_its_lease_time():
    from goproxy_stores.leases import ObjectLeases

    leases = _replica(_bucket(7.5)).leases
    assert isinstance(leases, ObjectLeases) and leases.lease_time == 7.5


def test_an_object_lease_waiter_waits_while_its_holder_renews(upstream):
    """The holder rewrites its lease object only every third of the lease time: a waiter
    past its deadline, with a read timeout far shorter than that, keeps waiting (no 504),
    and never takes over a lease that keeps changing."""
    handler, url = upstream
    store = _bucket(1.5)
    holder = store.leases().try_acquire(ZIP_KEY)
    assert holder is not None
    b = _replica(store, deadline=0.2, idle=0.1)
    waiter = _Call(b, _zip_fetch(url), Pending())
    end = time.monotonic() + 3.0  # two lease times of a body arriving, past every limit
    while time.monotonic() < end:
        time.sleep(0.1)
        assert holder.renew()  # writes every 0.5 s
    assert waiter.thread.is_alive()
    assert ops.save(store, ZIP_KEY, ZIP)
    holder.release()
    got = waiter.join()
    assert isinstance(got, UpstreamResult) and got.stored is not None
    assert got.stored.size == len(ZIP)
    assert handler.hits == {}
    assert _count(b, "goproxy_lease_waits_total") == 1
    assert _count(b, "goproxy_lease_takeovers_total") == 0
    assert _lease_objects(store) == []


def test_an_object_lease_waiter_takes_over_a_dead_holder(upstream):
    """A holder that stops renewing (killed) delays a waiter by one lease time: it then takes
    the lease over (counted), fetches, and its commit removes the lease object."""
    handler, url = upstream
    handler.gate.set()
    store = _bucket(1.0)
    dead = store.leases().try_acquire(ZIP_KEY)
    assert dead is not None
    b = _replica(store, deadline=0.2, idle=0.1)
    pb = Pending()
    t0 = time.monotonic()
    got = b.perform(_zip_fetch(url), pb)
    took = time.monotonic() - t0
    assert isinstance(got, UpstreamResult) and got.status == 200, got
    assert 1.0 <= took < 3.0  # one lease time, not the deadline's 504
    assert handler.hits == {f"/{ZIP_KEY}": 1}
    assert _count(b, "goproxy_lease_waits_total") == 1
    assert _count(b, "goproxy_lease_takeovers_total") == 1
    assert b.perform(CommitBlob(ZIP_KEY), pb) is not None
    assert ops.stat(store, ZIP_KEY) is not None
    assert _lease_objects(store) == []
    assert dead.renew() is False  # the old holder learns it lost the lease
    dead.release()  # and leaves the new holder's object alone (already gone here)


def test_a_lost_object_lease_lets_the_holder_finish(upstream, caplog):
    """A holder whose lease was taken over (it stalled for a lease time) logs it and still
    stores the checked file: same bytes, written whole."""
    handler, url = upstream
    handler.gate.set()
    store = _bucket(1.0)
    a = _replica(store)
    pa = Pending()
    got = a.perform(_zip_fetch(url), pa)
    assert isinstance(got, UpstreamResult) and got.status == 200
    lease = pa.leases[ZIP_KEY]
    other = store.leases()
    other._seen[other.name(ZIP_KEY)] = (store.own_get(other.name(ZIP_KEY)).etag, -1e9)
    taken = other.try_acquire(ZIP_KEY)  # expired on its clock: taken over
    assert taken is not None and taken.took_over
    writer = executor_module._RenewingWriter(store.writer("other"), lease)
    writer._renewed -= 2  # type: ignore[attr-defined]
    lease._written -= 10  # type: ignore[attr-defined]
    writer.write(b"x")
    writer.abort()
    assert any("taken over by another process" in r.getMessage() for r in caplog.records)
    assert a.perform(CommitBlob(ZIP_KEY), pa) is not None
    assert ops.stat(store, ZIP_KEY).size == len(ZIP)  # type: ignore[union-attr]
    assert _lease_objects(store) != []  # the new holder's, left alone
    taken.release()
    assert _lease_objects(store) == []


@pytest.mark.parametrize("kind", ["file", "object"])
def test_a_refused_small_files_lease_is_released_when_answered(tmp_path, upstream, kind):
    """A .info/.mod fetched under a lease and refused (never saved): the lease goes when the
    answer is decided, and a waiter takes it at once instead of after SMALL_LEASE_WAIT."""
    handler, url = upstream
    handler.gate.set()
    if kind == "file":
        a, b = _executor(tmp_path), _executor(tmp_path)
    else:
        store = _bucket(30.0)
        a, b = _replica(store), _replica(store)
    pa, pb = Pending(), Pending()
    effect = FetchUpstream(f"{url}/{MOD_KEY}", 1 << 16, immutable=True, saves=MOD_KEY)
    got = a.perform(effect, pa)
    assert isinstance(got, UpstreamResult) and got.body == GOMOD
    assert pa.holds(MOD_KEY) and pa.small == {MOD_KEY}  # the core refuses it: no SaveBlob
    follow = _Call(b, effect, pb)
    time.sleep(0.3)
    assert follow.thread.is_alive()  # waits on the refused file's lease
    t0 = time.monotonic()
    a.answered(pa)
    assert not pa.leases and not pa.small
    got = follow.join()
    assert time.monotonic() - t0 < 2.0  # not SMALL_LEASE_WAIT (10 s)
    assert isinstance(got, UpstreamResult) and got.body == GOMOD
    assert pb.holds(MOD_KEY)  # it fetched under the lease it took
    b.answered(pb)
    assert handler.hits[f"/{MOD_KEY}"] == 2


def test_answered_keeps_a_zips_lease(tmp_path, upstream):
    handler, url = upstream
    handler.gate.set()
    a = _executor(tmp_path)
    pa = Pending()
    got = a.perform(_zip_fetch(url), pa)
    assert isinstance(got, UpstreamResult) and got.status == 200
    a.answered(pa)  # the relayed zip's answer went out before its check and commit
    assert pa.holds(ZIP_KEY)
    assert a.perform(CommitBlob(ZIP_KEY), pa) is not None
    assert not pa.leases


def test_an_async_server_releases_leases_off_its_loop(upstream):
    """AsyncExecutor's answered and abandon hand an object store's lease releases (requests
    to the store) to a thread."""
    from goproxy_io.executor import AsyncExecutor

    handler, url = upstream
    handler.gate.set()
    store = _bucket(30.0)
    released: list[str] = []
    for end in ("answered", "abandon"):
        ex = _replica(store)
        pending = Pending()
        effect = FetchUpstream(f"{url}/{MOD_KEY}", 1 << 16, immutable=True, saves=MOD_KEY)
        ex.perform(effect, pending)
        lease = pending.leases[MOD_KEY]
        inner = lease.release

        def on_thread(inner=inner) -> None:
            released.append(threading.current_thread().name)
            inner()

        lease.release = on_thread  # type: ignore[method-assign]
        getattr(AsyncExecutor(ex), end)(pending)
        assert not pending.leases
        _until(lambda: _lease_objects(store) == [])
    assert released == ["goproxy-lease-release"] * 2


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_a_server_releases_a_refused_infos_lease_with_its_answer(frontend, upstream):
    """Through a server on a bucket: a .info the upstream sends wrong is answered 502, and its
    lease object is gone while the client's connection stays open (not when it closes)."""
    import http.client

    from goproxy_core import ProxyConfig

    from conftest import running

    handler, url = upstream
    handler.gate.set()
    info = f"/{MOD}/@v/v1.0.0.info"
    handler.files[info] = b'{"Version":"v9.9.9","Time":"2024-01-01T00:00:00Z"}'
    store = _bucket(30.0)
    with running(frontend, store, ProxyConfig(upstream=url), FetchSettings(retries=0)) as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", info)
        r = c.getresponse()
        body = r.read()
        assert r.status == 502, body
        assert b"v9.9.9" in body
        _until(lambda: _lease_objects(store) == [], timeout=5)
        c.request("GET", "/healthz")  # the same connection, still open
        assert c.getresponse().read()
        c.close()
    assert handler.hits[info] == 1


def test_a_slow_upload_keeps_its_object_lease(upstream):
    """A zip whose upload (or check) takes longer than the lease time: the holder keeps
    renewing meanwhile, so a waiter on another replica never takes over and fetches again."""
    handler, url = upstream
    handler.gate.set()
    store = _bucket(1.0)
    a, b = _replica(store), _replica(store, deadline=0.2, idle=0.1)
    pa, pb = Pending(), Pending()
    got = a.perform(_zip_fetch(url), pa)
    assert isinstance(got, UpstreamResult) and got.status == 200
    writer = pa.get(ZIP_KEY)
    commit = writer.commit

    def slow_commit():
        time.sleep(2.5)  # two and a half lease times
        return commit()

    writer.commit = slow_commit  # type: ignore[method-assign]
    committing = _Call(a, CommitBlob(ZIP_KEY), pa)
    follow = _Call(b, _zip_fetch(url), pb)
    assert committing.join() is not None
    shared = follow.join()
    assert isinstance(shared, UpstreamResult) and shared.stored is not None
    assert handler.hits == {f"/{ZIP_KEY}": 1}
    assert _count(b, "goproxy_lease_takeovers_total") == 0
    assert _lease_objects(store) == []
