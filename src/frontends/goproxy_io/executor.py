"""Carrying out the core's store, upstream and check effects: one implementation for every server.

Theory of operation: :class:`Executor` is written once, blocking and thread-safe.
``perform(effect, pending, relay)`` carries out a ``StatBlob``, ``ReadBlob``, ``SaveBlob``,
``FetchUpstream``, ``CheckZip``, ``CommitBlob``, ``AbortBlob``, or the own checksum database's
``ReadSumdb`` and ``AppendSumdb`` (:mod:`goproxy_io.sumdb_log`), and returns the result the core
expects. The plain-socket server and the WSGI app call it on their own threads; the trio and
asyncio servers and the ASGI app call it through :class:`AsyncExecutor`, which answers what
needs no I/O on the spot (an immutable small blob already in :class:`Memo`) and runs the rest in
a worker thread, so the event loop never waits on a disk, an upstream, git, or a zip check.

Why blocking code in threads rather than async code with a generated blocking twin: every
effect here is blocking at its root (file I/O, ``git``, zlib and hashing over a stream), so
an async version would hand each step to a thread anyway, one hop per chunk; a whole effect
per hop is fewer hops, and a single version cannot drift from its twin. Worker threads come
from separate pools per kind (store calls; upstream fetches; direct-mode git; zip checks), so a
hung upstream or a burst of zip checks never takes the threads a cache hit needs.

Store calls never raise into a connection (an I/O failure counts as absent or not saved, and
is logged as one warning line; a failed ``CommitBlob`` or a fetch whose body the store could not
take answers a ``StoreFailure`` naming the cache, which the core answers 507 or 503). A failed
write is always aborted, so it leaves no temporary file. Pending writes are tracked per
connection in a :class:`Pending`, and aborted if the connection ends first. Concurrent misses
for one upstream file share one fetch (:mod:`goproxy_io.flights`).

A ``Revalidate`` (a stale list, ``@latest`` or query answer served at once) is answered at once,
with no thread hop and no I/O, by handing it to :class:`Refresher`: the refresh runs on a
thread of its own, at most :data:`REFRESH_THREADS` at once and one per key, the rest dropped
(the next stale hit asks again); a refresh that stores nothing is logged as one line.

A ``Prefetch`` (the ``.mod`` and ``.info`` files a go.mod fetched cold requires) is answered at
once the same way, by handing it to :class:`Prefetcher`: each file is queued once (one per key,
at most :data:`PREFETCH_QUEUE` waiting, the rest dropped) and fetched by at most
``ProxyConfig.prefetch_concurrency`` threads, through the same core flow and effects as a
client's request. :class:`PrefetchStats` counts them, and the hits they earn.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.from_thread
import anyio.to_thread

from goproxy_core import (
    AbortBlob,
    AppendSumdb,
    BlobData,
    BlobInfo,
    CheckZip,
    CommitBlob,
    FetchDirect,
    FetchUpstream,
    ListKeys,
    Prefetch,
    PrefetchOutcome,
    ReadBlob,
    ReadCatalog,
    ReadSumdb,
    RenderMetrics,
    Revalidate,
    SaveBlob,
    StatBlob,
    StoreSpace,
    SumdbAnswer,
    UpstreamResult,
    WarmCache,
    ZipVerdict,
)
from goproxy_core.storage import LocalBlobStore
from goproxy_stores import ops
from goproxy_stores.leases import LEASE_DIR, FileLeases, Lease, Leases, wait

from .catalog import read_catalog
from .flights import Fetch, Flight, Flights
from .sumdb_objlog import sumdb_logs_for
from .upstream import Fetcher, HashingWriter, Relay

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from goproxy_core.proxy.targets import VersionReq
    from goproxy_core.storage import BlobStore, BlobWriter
    from goproxy_stores.usage import UsageIndex

    from .metrics import Metrics
    from .sumdb_base import LogsBase

__all__ = [
    "MISS",
    "PREFETCH_QUEUE",
    "REFRESH_THREADS",
    "SMALL_BLOB",
    "AsyncExecutor",
    "Executor",
    "Memo",
    "Pending",
    "PrefetchStats",
    "Prefetcher",
    "Refresher",
    "read_blob_whole",
]

SMALL_BLOB = 64 * 1024
"""Blobs up to this size (small zips) are sent from memory once read (:func:`read_blob_whole`)."""

# Worker threads an async server may use at once, per kind of work.
_FETCH_THREADS = 64  # upstream fetches, including followers waiting on a shared one
_DIRECT_THREADS = 16  # direct mode: git may wait up to vcs-timeout
_CHECK_THREADS = 4  # zip checks: CPU-bound, more than the cores buys nothing
_WARM_THREADS = 2  # POST /admin/warm requests run at once; each has WARM_JOBS fetching threads
_RELAY_BUFFER = 4  # relayed chunks (1 MiB each) queued for the loop to send, per fetch

SMALL_LEASE_WAIT = 10.0
"""Seconds a ``.info`` or ``.mod`` waits at most on another process's lease, then fetches."""

REFRESH_THREADS = 4
"""Background refreshes (``Revalidate``) run at once at most; more are dropped."""

refresh_log = logging.getLogger("goproxy.refresh")

PREFETCH_QUEUE = 4096
"""Prefetches waiting at most; more are dropped (the client's own request fetches them)."""

PREFETCH_REMEMBERED = 65536
"""Keys a prefetch stored, remembered to count the first client hit on each (oldest forgotten)."""

prefetch_log = logging.getLogger("goproxy.prefetch")


class _Miss(enum.Enum):
    MISS = "MISS"


MISS = _Miss.MISS
"""What :meth:`Executor.inline` returns when the effect needs I/O."""


def read_blob_whole(store: BlobStore, key: str, size: int, memo: Memo) -> bytes | None:
    """A small immutable blob (a ``SendBlob`` of at most :data:`SMALL_BLOB` bytes), read whole.

    Kept in ``memo``, so the next request for it is sent from memory with no thread hop and
    no system call but the send. None if it is gone or not ``size`` bytes long.
    """
    try:
        f = store.open(key)
        if f is None:
            return None
        with f:
            data = f.read(size + 1)
    except OSError:
        return None
    if len(data) != size:
        return None
    memo.put(key, BlobData(data, 0.0))
    return data


class Memo:
    """Small immutable blobs kept in memory, least recently used first out.

    Only blobs the core marks immutable (``ReadBlob.immutable``) come here, so an entry is
    never stale; a hit answers without a worker thread or a system call.

    Args:
        max_bytes: the most bytes kept.
        max_item: larger blobs are not kept.
    """

    def __init__(self, max_bytes: int = 32 << 20, max_item: int = 256 << 10) -> None:
        self.max_bytes = max_bytes
        self.max_item = max_item
        self._items: collections.OrderedDict[str, BlobData] = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> BlobData | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def has(self, key: str) -> bool:
        """Whether ``key`` is kept (its place in the order unchanged)."""
        return key in self._items

    def blob(self, key: str, size: int) -> bytes | None:
        """A kept blob's bytes if they are exactly ``size`` long (a ``SendBlob`` from memory)."""
        item = self.get(key) if size <= SMALL_BLOB else None
        return item.data if item is not None and len(item.data) == size else None

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._size = 0

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.data)

    def put(self, key: str, item: BlobData | None) -> None:
        if item is None or len(item.data) > self.max_item:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.data)
            self._items[key] = item
            self._size += len(item.data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.data)


class Pending:
    """The pending store writes of one connection, with the flights they lead, and the
    cross-process leases it holds (:mod:`goproxy_stores.leases`), by store key."""

    def __init__(self) -> None:
        self.writes: dict[str, tuple[BlobWriter, Fetch, Flight | None]] = {}
        self.leases: dict[str, Lease] = {}
        self.small: set[str] = set()
        """The keys of :attr:`leases` held for a ``.info`` or ``.mod`` (``FetchUpstream.saves``)."""
        self._lock = threading.Lock()

    def hold(self, key: str, lease: Lease, *, small: bool = False) -> None:
        """Keep ``lease`` until :meth:`release` of ``key`` (or :meth:`release_all`);
        ``small``: a ``.info`` or ``.mod``'s, also released by :meth:`answered`."""
        with self._lock:
            self.leases[key] = lease
            if small:
                self.small.add(key)

    def holds(self, key: str) -> bool:
        return key in self.leases

    def release(self, key: str | None) -> None:
        """Release the lease held on ``key``, if any."""
        if key is None:
            return
        with self._lock:
            lease = self.leases.pop(key, None)
            self.small.discard(key)
        if lease is not None:
            lease.release()

    def take_leases(self, *, small_only: bool = False) -> list[Lease]:
        """Forget every lease held (``small_only``: those of a ``.info`` or ``.mod``) and
        return them, for the caller to release."""
        with self._lock:
            keys = list(self.small) if small_only else list(self.leases)
            self.small.clear()
            return [lease for key in keys if (lease := self.leases.pop(key, None)) is not None]

    def release_all(self) -> None:
        """Release every lease held."""
        for lease in self.take_leases():
            lease.release()

    def add(self, key: str, writer: BlobWriter, effect: Fetch, flight: Flight | None) -> None:
        with self._lock:
            self.writes[key] = (writer, effect, flight)

    def get(self, key: str) -> BlobWriter:
        with self._lock:
            return self.writes[key][0]

    def pop(self, key: str) -> tuple[BlobWriter, Fetch, Flight | None]:
        with self._lock:
            return self.writes.pop(key)

    def take_all(self) -> list[tuple[BlobWriter, Fetch, Flight | None]]:
        with self._lock:
            writes = list(self.writes.values())
            self.writes.clear()
            return writes


class Refresher:
    """Runs background refreshes (``Revalidate``) on threads of their own, never waiting.

    At most ``limit`` run at once and at most one per key; one asked for while its key is being
    refreshed, or while ``limit`` are running, is dropped: the next request that finds the
    answer stale asks again. A refresh that stores nothing (every upstream failed, bad data,
    the cache refused the write, or an error) is logged as one warning line, no traceback.

    Args:
        executor: carries out the refresh's effects.
        limit: the most refreshes at once.
    """

    def __init__(self, executor: Executor, limit: int = REFRESH_THREADS) -> None:
        self.executor = executor
        self.limit = limit
        self.running: set[str] = set()
        self.closed = False
        self._lock = threading.Condition()

    def start(self, effect: Revalidate) -> bool:
        """Start refreshing ``effect.key`` unless it is already, or ``limit`` run, or closed."""
        with self._lock:
            if self.closed or effect.key in self.running or len(self.running) >= self.limit:
                return False
            self.running.add(effect.key)
        try:
            threading.Thread(
                target=self._run, args=(effect,), name="goproxy-refresh", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had (interpreter shutting down, thread limit)
            self._done(effect.key)
            return False
        return True

    def wait(self, timeout: float) -> bool:
        """Wait until no refresh runs (at most ``timeout`` seconds); whether none does."""
        with self._lock:
            return self._lock.wait_for(lambda: not self.running, timeout)

    def close(self) -> None:
        """Start no more refreshes (those running finish on their own)."""
        with self._lock:
            self.closed = True

    def _done(self, key: str) -> None:
        with self._lock:
            self.running.discard(key)
            self._lock.notify_all()

    def _run(self, effect: Revalidate) -> None:
        try:
            try:
                why = self._drive(effect)
            except Exception as e:  # a refresh never takes the process down; one line says why
                why = f"{type(e).__name__}: {e}"
            if why:
                refresh_log.warning("background refresh of %s stored nothing: %s", effect.key, why)
        finally:
            self._done(effect.key)

    def _drive(self, effect: Revalidate) -> str:
        pending = Pending()
        flow = effect.refresh(time.time())
        result: object = None
        try:
            while True:
                try:
                    step = flow.send(result)
                except StopIteration as stop:
                    return str(stop.value)
                result = self.executor.perform(step, pending, None)
        finally:
            self.executor.abandon(pending)


class PrefetchStats:
    """Counters of background prefetches (``Prefetch``); thread-safe.

    ``/metrics`` reads :meth:`snapshot` (``goproxy_prefetch_total``); the server also logs
    :meth:`summary` at shutdown.

    Attributes:
        started: files a prefetch began fetching (queued, then run).
        stored: files a prefetch fetched, verified and stored.
        present: files a prefetch found stored already (nothing fetched).
        failed: files a prefetch could not store (the upstream failed, bad data, the cache).
        dropped: files not prefetched: the queue was full, or the server was closing (a
            file queued or running already is not queued again, and not counted).
        hits: client requests answered from the store for a file a prefetch stored (the first
            answer of each such file counts; the last :data:`PREFETCH_REMEMBERED` are known).
    """

    def __init__(self, remember: int = PREFETCH_REMEMBERED) -> None:
        self.started = 0
        self.stored = 0
        self.present = 0
        self.failed = 0
        self.dropped = 0
        self.hits = 0
        self._remember = remember
        self._keys: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def stored_key(self, key: str) -> None:
        """A prefetch stored ``key``: count it, and its first client hit later."""
        with self._lock:
            self.stored += 1
            self._keys[key] = None
            while len(self._keys) > self._remember:
                self._keys.popitem(last=False)

    def known(self, key: str) -> bool:
        """Whether a prefetch stored ``key`` and no client has asked for it yet."""
        return key in self._keys

    def hit(self, key: str) -> None:
        """A client's request found ``key`` in the store: a hit if a prefetch stored it."""
        if key not in self._keys:  # the common case, without the lock
            return
        with self._lock:
            if self._keys.pop(key, 0) is None:
                self.hits += 1

    def snapshot(self) -> dict[str, int]:
        """Every counter, read at one moment."""
        with self._lock:
            return {
                name: getattr(self, name)
                for name in ("started", "stored", "present", "failed", "dropped", "hits")
            }

    def summary(self) -> str:
        """One line: every counter."""
        return "prefetch: " + ", ".join(f"{k} {v}" for k, v in self.snapshot().items())


class Prefetcher:
    """Runs background prefetches (``Prefetch``) on threads of their own, never waiting.

    Each file of a ``Prefetch`` is queued unless its key is queued or running already, or known
    to be stored (a prefetch stored it, or the memo holds it): then it is skipped, uncounted. It
    is dropped when the queue holds ``limit`` files or the prefetcher is closed (the client's
    own request fetches it). At most ``config.prefetch_concurrency`` threads (the effect's
    config) run the queue, each file through the core's flow (``Prefetch.run``) with the
    executor's effects, as a client's request; a ``Prefetch`` a flow yields is queued the same
    way. A file that could not be stored is logged as one debug line.

    Args:
        executor: carries out the prefetches' effects.
        limit: files waiting at most.
    """

    def __init__(self, executor: Executor, limit: int = PREFETCH_QUEUE) -> None:
        self.executor = executor
        self.limit = limit
        self.stats = executor.prefetch_stats
        self.queue: collections.deque[tuple[Prefetch, VersionReq, str]] = collections.deque()
        self.keys: set[str] = set()  # queued or running
        self.workers = 0
        self.closed = False
        self._lock = threading.Condition()

    def offer(self, effect: Prefetch) -> int:
        """Queue ``effect``'s files (what fits); start threads as needed. How many queued."""
        queued = dropped = 0
        with self._lock:
            for req in effect.requests:
                key = Prefetch.key(req)
                if key in self.keys or self.stats.known(key) or self.executor.memo.has(key):
                    continue  # queued, running or known stored: one per key, and no store read
                if self.closed or len(self.queue) >= self.limit:
                    dropped += 1
                    continue
                self.queue.append((effect, req, key))
                self.keys.add(key)
                queued += 1
            want = min(effect.config.prefetch_concurrency, len(self.queue)) - self.workers
            start = max(0, want)
            self.workers += start
        for _ in range(start):
            try:
                threading.Thread(target=self._work, name="goproxy-prefetch", daemon=True).start()
            except RuntimeError:  # no thread to be had: the others (or none) drain the queue
                with self._lock:
                    self.workers -= 1
                    self._lock.notify_all()
        if dropped:
            self.stats.count("dropped", dropped)
        return queued

    def wait(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (at most ``timeout`` s); whether so."""
        with self._lock:
            return self._lock.wait_for(lambda: not self.keys, timeout)

    def close(self) -> None:
        """Queue no more; forget what waits (the files running finish on their own)."""
        with self._lock:
            self.closed = True
            for _, _, key in self.queue:
                self.keys.discard(key)
            self.stats.count("dropped", len(self.queue))
            self.queue.clear()
            self._lock.notify_all()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self.queue:
                    self.workers -= 1
                    self._lock.notify_all()
                    return
                effect, req, key = self.queue.popleft()
            try:
                self._run(effect, req, key)
            finally:
                with self._lock:
                    self.keys.discard(key)
                    self._lock.notify_all()

    def _run(self, effect: Prefetch, req: VersionReq, key: str) -> None:
        self.stats.count("started")
        try:
            outcome = self._drive(effect, req)
        except Exception as e:  # a prefetch never takes the process down; one line says why
            outcome = PrefetchOutcome(error=f"{type(e).__name__}: {e}")
        if outcome.stored:
            self.stats.stored_key(key)
        elif outcome.present:
            self.stats.count("present")
        else:
            self.stats.count("failed")
            prefetch_log.debug("prefetch of %s stored nothing: %s", key, outcome.error)

    def _drive(self, effect: Prefetch, req: VersionReq) -> PrefetchOutcome:
        pending = Pending()
        flow = effect.run(req, time.time())
        result: object = None
        try:
            while True:
                try:
                    step = flow.send(result)
                except StopIteration as stop:
                    return cast("PrefetchOutcome", stop.value)
                if isinstance(step, Prefetch):
                    self.offer(step)
                    result = None
                elif isinstance(step, ReadBlob):
                    result = self.executor.read(step, client=False)
                else:
                    result = self.executor.perform(step, pending, None)
        finally:
            self.executor.abandon(pending)


class Executor:
    """Carries out store, upstream and check effects with blocking calls; thread-safe.

    Args:
        store: where blobs are kept.
        fetcher: upstream fetching (default: a new :class:`~goproxy_io.upstream.Fetcher`).
        memo: small immutable blobs kept in memory (default: a new :class:`Memo`).
        sumdb_logs: the logs of the proxy's own checksum database (``ReadSumdb``,
            ``AppendSumdb``); default: in an object store's own objects
            (:mod:`goproxy_io.sumdb_objlog`), else under ``sumdb/`` in a local store's
            directory (:mod:`goproxy_io.sumdb_log`).
        leases: the leases that make one process of all those serving the store fetch each
            file (:mod:`goproxy_stores.leases`); default: what the store's own ``leases()``
            method returns, if it has one (an object store's conditional-create leases), else
            lock files under ``_goproxy/leases/`` in a local store's directory (those left by
            a killed process removed now), else none (one fetch per file and process).
    """

    def __init__(
        self,
        store: BlobStore,
        fetcher: Fetcher | None = None,
        memo: Memo | None = None,
        sumdb_logs: LogsBase | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher or Fetcher()
        self.memo = memo if memo is not None else Memo()
        self.flights = Flights()
        if leases is None:
            make_leases = getattr(store, "leases", None)
            if callable(make_leases):
                leases = cast("Leases", make_leases())  # a store with leases of its own
            elif isinstance(store, LocalBlobStore):
                leases = FileLeases(store.local_path(LEASE_DIR))
            if leases is not None:
                with contextlib.suppress(OSError):  # left by holders that died
                    leases.sweep()
        self.leases = leases
        self._lease_failed = False
        if sumdb_logs is None:
            sumdb_logs = sumdb_logs_for(store)
        self.sumdb_logs = sumdb_logs
        self.refresher = Refresher(self)
        self.prefetch_stats = PrefetchStats()
        """Counters of background prefetches; ``/metrics`` reads them (``goproxy_prefetch``)."""
        self.prefetcher = Prefetcher(self)
        self.usage_index: UsageIndex | None = None
        """The disk quota's usage index, when the server keeps one: ``ReadCatalog`` is
        answered from it (else from a bounded listing of the store)."""
        self.metrics: Metrics | None = None
        """The server's metrics (``RenderMetrics`` renders them; single-flight waits and
        checksum-database verifications are counted here); None: ``/metrics`` is a 404."""

    def close(self) -> None:
        """Start no more background work; close the fetcher's pooled connections.

        Logs the prefetch counters as one line, if anything was prefetched.
        """
        self.refresher.close()
        self.prefetcher.close()
        if self.prefetch_stats.started or self.prefetch_stats.dropped:
            prefetch_log.info("%s", self.prefetch_stats.summary())
        self.fetcher.close()

    def inline(self, effect: object) -> object:
        """The answer to ``effect`` if it needs no I/O, else :data:`MISS`.

        A memo hit; a ``Revalidate``: handed to :attr:`refresher` (which starts a thread or
        drops it) and answered None at once; a ``Prefetch``: handed to :attr:`prefetcher`
        (which queues what fits) and answered None at once.
        """
        if isinstance(effect, ReadBlob) and effect.immutable:
            hit = self.memo.get(effect.key)
            if hit is not None:
                self.prefetch_stats.hit(effect.key)
                return hit
        elif isinstance(effect, Revalidate):
            self.refresher.start(effect)
            return None
        elif isinstance(effect, Prefetch):
            self.prefetcher.offer(effect)
            return None
        return MISS

    def read(self, effect: ReadBlob, *, client: bool = True) -> BlobData | None:
        """A ``ReadBlob``: from the memo or the store. ``client``: for a client's request,
        so a file a prefetch stored counts a hit (:attr:`prefetch_stats`)."""
        if client:
            done = self.inline(effect)
            if done is not MISS:
                return cast("BlobData | None", done)
        elif effect.immutable:
            kept = self.memo.get(effect.key)
            if kept is not None:
                return kept
        data = ops.read_small(self.store, effect.key, effect.max_size)
        if effect.immutable:
            self.memo.put(effect.key, data)
        if client and data is not None:
            self.prefetch_stats.hit(effect.key)
        return data

    def perform(self, effect: object, pending: Pending, relay: Relay | None = None) -> object:
        """Carry out one store, upstream or check effect; returns the core's expected result.

        Args:
            effect: the effect the core handed out.
            pending: the connection's pending writes.
            relay: where a relayable fetch sends the body as it arrives (see
                ``FetchUpstream.relay``); None to never relay.
        """
        store = self.store
        if isinstance(effect, (Revalidate, Prefetch)):
            return self.inline(effect)
        if isinstance(effect, StatBlob):
            return ops.stat(store, effect.key)
        if isinstance(effect, ReadBlob):
            return self.read(effect)
        if isinstance(effect, StoreSpace):
            return ops.free_space(store)
        if isinstance(effect, ListKeys):
            return ops.list_keys(store, effect.prefix, effect.limit)
        if isinstance(effect, RenderMetrics):
            return None if self.metrics is None else self.metrics.render()
        if isinstance(effect, SaveBlob):
            # A blob saved again replaces what was there (a tile kept unverified by an older
            # version, healed): never answer the old bytes from memory.
            self.memo.discard(effect.key)
            if self.metrics is not None:
                self.metrics.saved(effect.key, effect.data)
            saved = ops.save(store, effect.key, effect.data)
            pending.release(effect.key)  # a .info or .mod fetched under a lease: others see it
            return saved
        if isinstance(effect, (FetchUpstream, FetchDirect)):
            return self._fetch(effect, pending, relay)
        if isinstance(effect, CheckZip):
            return self._check(effect, pending)
        if isinstance(effect, (ReadSumdb, AppendSumdb)):
            logs = self.sumdb_logs
            if logs is None:
                return SumdbAnswer(False, error="the store keeps no checksum database log")
            if isinstance(effect, ReadSumdb):
                return logs.read(effect)
            return logs.append(effect, store)
        if isinstance(effect, ReadCatalog):
            return read_catalog(
                effect,
                store=store,
                index=self.usage_index,
                fetcher=self.fetcher,
                prefetch=self.prefetch_stats,
                sumdb_logs=self.sumdb_logs,
            )
        if isinstance(effect, WarmCache):
            return self.warm(effect)
        if isinstance(effect, CommitBlob):
            writer, fetch, flight = pending.pop(effect.key)
            with _kept(pending.leases.get(effect.key)):  # an upload may outlast the lease
                committed = ops.commit(store, writer, effect.key)
            pending.release(effect.key)
            info = committed if isinstance(committed, BlobInfo) else None
            if flight is not None:
                self.flights.finish(fetch, flight, info)
            return committed
        if isinstance(effect, AbortBlob):
            writer, fetch, flight = pending.pop(effect.key)
            with contextlib.suppress(OSError):
                writer.abort()
            pending.release(effect.key)
            if flight is not None:
                self.flights.finish(fetch, flight, refused=effect.refused)
            return None
        raise TypeError(f"not a store, upstream or check effect: {effect!r}")

    def warm(self, effect: WarmCache) -> object:
        """``WarmCache`` (``POST /admin/warm``): its files fetched through the engine,
        ``WARM_JOBS`` at once (:class:`goproxy_io.warm.Warmer`); the ``WarmSummary``."""
        from goproxy_core.proxy.warm import WARM_JOBS

        from .warm import Warmer, warm_config

        return Warmer(self, warm_config(effect.config)).run(effect.items, WARM_JOBS)

    def abandon(self, pending: Pending) -> None:
        """A connection ended with writes pending: discard them, release their followers."""
        self._drop_writes(pending)
        pending.release_all()

    def _drop_writes(self, pending: Pending) -> None:
        for writer, effect, flight in pending.take_all():
            with contextlib.suppress(OSError):
                writer.abort()
            if flight is not None:
                self.flights.finish(effect, flight)

    def answered(self, pending: Pending) -> None:
        """A request's answer is decided (the server is sending it): release the leases it
        still holds on a ``.info`` or ``.mod``. A small file's lease is released when the
        file is saved; one still held here was fetched and refused (bad data, a checksum
        mismatch), and others waiting on it take it now, not when this connection ends.
        A zip's lease stays until its pending write is committed or aborted."""
        if pending.small:
            for lease in pending.take_leases(small_only=True):
                lease.release()

    def _check(self, effect: CheckZip, pending: Pending) -> ZipVerdict:
        writer = pending.get(effect.key)
        # The SHA-256 and length were computed as the body streamed in, and the entries read
        # then: the check reads the central directory and what the follower could not prove.
        digest = streamed = None
        if isinstance(writer, HashingWriter):
            digest, streamed = writer.digest(), writer.streamed()
        try:
            stream = writer.reader()
        except OSError as e:
            # Flushing the pending write failed (a full disk): the cache's fault, not the zip's.
            ops.log.warning("store write failed for %s: %s", effect.key, e)
            return ZipVerdict(store_failure=ops.failure(self.store, e))
        with stream, _kept(pending.leases.get(effect.key)):
            return effect.check(stream, digest, streamed)

    def _fetch(
        self, effect: FetchUpstream | FetchDirect, pending: Pending, relay: Relay | None
    ) -> UpstreamResult:
        flight: Flight | None
        flight, leader = self.flights.lead_or_follow(effect)
        if not leader:
            waited = time.monotonic()
            flight.done.wait()
            if self.metrics is not None:
                self.metrics.flight_waited(time.monotonic() - waited)
            shared = flight.follower_result()
            if shared is not None:
                return shared
            flight = None  # the leader's blob was refused or lost: fetch for ourselves
        else:
            shared = self._lease(effect, pending, flight)
            if shared is not None:
                return shared
        lease_key = effect.into or effect.saves
        store = self.store
        lease = pending.leases.get(effect.into) if effect.into is not None else None
        if lease is not None:
            store = cast("BlobStore", _RenewingStore(store, lease))
        try:
            result, writer = self.fetcher.fetch(effect, store, relay)
        except BaseException:
            pending.release(lease_key)
            if flight is not None:
                self.flights.finish(effect, flight)
            raise
        if writer is not None:
            pending.add(effect.into or "", writer, effect, flight)  # ends at commit or abort
        else:
            if result.status != 200 or effect.into is not None:
                # Nothing to save (or already stored): others may lead, or find it stored.
                pending.release(lease_key)
            if flight is not None:
                self.flights.landed(effect, flight, result)
        return result

    def _lease(self, effect: Fetch, pending: Pending, flight: Flight) -> UpstreamResult | None:
        """Before leading ``flight``: take the cross-process lease on the file's store key
        (:mod:`goproxy_stores.leases`), or wait for its holder. None: lead (holding the lease in
        ``pending``); else the answer (stored by another process, or the wait timed out)."""
        key = effect.into or effect.saves
        if key is None:
            return None
        if self.leases is not None and not pending.holds(key):  # held: our walk, next upstream
            try:
                shared = self._lease_or_wait(self.leases, effect, key, pending, flight)
            except OSError as e:  # no lock files here (a read-only cache, no flock): lead
                if not self._lease_failed:
                    self._lease_failed = True
                    ops.log.warning("cannot take fetch leases, fetching without: %s", e)
                shared = None
            if shared is not None:
                return shared
        if effect.into is not None:
            # Led just after another flight landed: the blob may be stored already.
            stored = ops.stat(self.store, effect.into)
            if stored is not None:
                pending.release(key)
                self.flights.finish(effect, flight, stored)
                return UpstreamResult(status=200, stored=stored)
        return None

    def _lease_or_wait(
        self, leases: Leases, effect: Fetch, key: str, pending: Pending, flight: Flight
    ) -> UpstreamResult | None:
        """Take the lease on ``key`` into ``pending`` (None), or wait: see :meth:`_lease`."""
        lease = leases.try_acquire(key)
        if lease is None:
            waited = time.monotonic()
            if self.metrics is not None:
                self.metrics.lease_waited()
            settings = self.fetcher.settings
            deadline = settings.fetch_deadline
            if isinstance(effect, FetchDirect) and settings.vcs is not None:
                deadline = max(deadline, settings.vcs.timeout)  # git may take this long
            # A zip still arriving is waited for: how long a lease may look unchanged while
            # its holder lives depends on the leases (an object store's: until it expires).
            idle = leases.wait_limit(settings.timeout.read or 0.0)
            if effect.into is None:
                # A .info or .mod is saved once checked, and a holder whose check refused
                # it lets go when its answer is decided (``answered``): a holder stuck
                # longer (a checksum-database lookup that hangs) is not waited for.
                deadline, idle = min(deadline, SMALL_LEASE_WAIT), 0.0
            got = wait(
                leases,
                key,
                lambda: self._committed(effect, key),
                waited + deadline,
                idle_limit=idle,
            )
            if self.metrics is not None:
                self.metrics.flight_waited(time.monotonic() - waited)
            if isinstance(got, UpstreamResult):
                self._shared(effect, flight, got)
                return got
            if got is None and effect.into is not None:
                timed_out = UpstreamResult(
                    status=0,
                    error=f"another process fetching {key} did not store it within "
                    f"{deadline:g}s, nor wrote any of it for {idle:g}s",
                    timeout=True,
                )
                self._shared(effect, flight, timed_out)
                return timed_out
            lease = got
        if lease is not None:
            if lease.took_over:
                ops.log.info("took over the fetch lease on %s from a holder that stopped", key)
                if self.metrics is not None:
                    self.metrics.lease_taken_over()
            pending.hold(key, lease, small=effect.into is None)
        return None

    def _committed(self, effect: Fetch, key: str) -> UpstreamResult | None:
        """The file another process stored under ``key`` for ``effect``, as its answer."""
        if effect.into is not None:
            stored = ops.stat(self.store, key)
            return None if stored is None else UpstreamResult(status=200, stored=stored)
        data = ops.read_small(self.store, key, effect.max_size)
        return None if data is None else UpstreamResult(status=200, body=data.data)

    def _shared(self, effect: Fetch, flight: Flight, result: UpstreamResult) -> None:
        """End ``flight`` with what another process's fetch gave."""
        if result.stored is not None:
            self.flights.finish(effect, flight, result.stored)
        else:
            self.flights.landed(effect, flight, result)


@contextlib.contextmanager
def _kept(lease: Lease | None) -> Iterator[None]:
    """Renew ``lease`` (once a second at most) while the holder works on its file with no
    body arriving: a zip's check, its upload to an object store. A large zip's upload can
    take longer than an object-store lease lasts; others would take it over and fetch the
    file again. A lease that is lost stays lost (``renew`` says False: no more tries)."""
    if lease is None:
        yield
        return
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(_KEEP_EVERY):
            try:
                if not lease.renew():
                    return
            except Exception:  # the store failed: the lease lapses, the work goes on
                return

    with contextlib.suppress(RuntimeError):  # no thread to be had: the lease may lapse
        threading.Thread(target=keep, name="goproxy-lease-keep", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


_KEEP_EVERY = 1.0


class _RenewingStore:
    """``store``, whose pending writes renew ``lease`` as the body arrives (once a second at
    most): other processes waiting on it see the fetch alive (``Leases.idle``)."""

    def __init__(self, store: BlobStore, lease: Lease) -> None:
        self._store = store
        self._lease = lease

    def writer(self, key: str) -> BlobWriter:
        return cast("BlobWriter", _RenewingWriter(self._store.writer(key), self._lease))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _RenewingWriter:
    """A pending write that renews a lease while bytes come in."""

    def __init__(self, inner: BlobWriter, lease: Lease) -> None:
        self._inner = inner
        self._lease = lease
        self._renewed = time.monotonic()

    def write(self, data: bytes) -> None:
        self._inner.write(data)
        now = time.monotonic()
        if now - self._renewed >= 1.0 and self._renewed >= 0:
            self._renewed = now
            if not self._lease.renew():
                # Taken over (an object-store lease not renewed in time: a stalled store or
                # process). Carry on: both fetches store the same checked bytes, each write
                # visible whole, so this costs a second fetch, never a wrong file.
                self._renewed = -1.0
                ops.log.warning(
                    "the fetch lease on %s was taken over by another process; "
                    "both fetches will store the same checked file",
                    self._lease.key,
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class AsyncExecutor:
    """:class:`Executor` for trio and asyncio servers: I/O in worker threads, never on the loop.

    Args:
        executor: the blocking executor it runs.

    A relayed body goes from the fetching thread onto a bounded channel (one
    ``anyio.from_thread.run`` per chunk, waiting only while the channel is full) that a task
    on the loop drains through the server's own async send function
    (:meth:`AsyncRelay.drain`), so the upstream read and the client write overlap.
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    @property
    def memo(self) -> Memo:
        return self.executor.memo

    def _limiter(self, effect: object) -> anyio.CapacityLimiter | None:
        if isinstance(effect, FetchUpstream):
            kind = "fetch"
        elif isinstance(effect, FetchDirect):
            kind = "direct"
        elif isinstance(effect, (CheckZip, AppendSumdb)):
            kind = "check"  # CPU-bound: AppendSumdb hashes a whole zip
        elif isinstance(effect, WarmCache):
            kind = "warm"  # long: it waits on many fetches (its own threads do them)
        else:
            return None  # store calls: anyio's default pool
        limiter = self._limiters.get(kind)
        if limiter is None:
            size = {
                "fetch": _FETCH_THREADS,
                "direct": _DIRECT_THREADS,
                "check": _CHECK_THREADS,
                "warm": _WARM_THREADS,
            }
            limiter = self._limiters[kind] = anyio.CapacityLimiter(size[kind])
        return limiter

    async def perform(
        self,
        effect: object,
        pending: Pending,
        relay: AsyncRelay | None = None,
    ) -> object:
        """Carry out one store, upstream or check effect; returns the core's expected result."""
        done = self.executor.inline(effect)
        if done is not MISS:
            return done
        limiter = self._limiter(effect)
        if relay is None or not isinstance(effect, FetchUpstream) or not effect.relay:
            return await anyio.to_thread.run_sync(
                self.executor.perform, effect, pending, None, limiter=limiter
            )
        # The body goes to the client through a bounded channel that a task on the loop
        # drains: the fetching thread's one hop per chunk only queues it, so reading the
        # upstream and writing to the client overlap instead of taking turns.
        send, receive = anyio.create_memory_object_stream[bytes](_RELAY_BUFFER)
        sync_relay = relay.in_thread(send)
        result: object = None

        async def fetch() -> None:
            nonlocal result
            try:
                result = await anyio.to_thread.run_sync(
                    self.executor.perform, effect, pending, sync_relay, limiter=limiter
                )
            finally:
                await send.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch)
            await relay.drain(receive, sync_relay)
        return result

    def abandon(self, pending: Pending) -> None:
        """See :meth:`Executor.abandon` (quick: no I/O but aborting temporary files; the
        leases are released on a thread: an object store's is a request to the store)."""
        self.executor._drop_writes(pending)
        _release_off_loop(pending.take_leases())

    def answered(self, pending: Pending) -> None:
        """See :meth:`Executor.answered`; the releases run on a thread, never on the loop."""
        if pending.small:
            _release_off_loop(pending.take_leases(small_only=True))


def _release_off_loop(leases: list[Lease]) -> None:
    """Release ``leases`` on a thread of its own (an event loop never waits on the store)."""
    if not leases:
        return

    def release() -> None:
        for lease in leases:
            try:
                lease.release()
            except Exception as e:  # left behind: it expires, or the next sweep removes it
                ops.log.warning("releasing the fetch lease on %s failed: %s", lease.key, e)

    try:
        threading.Thread(target=release, name="goproxy-lease-release", daemon=True).start()
    except RuntimeError:  # no thread to be had (shutting down): release here
        release()


class AsyncRelay:
    """An async server's side of a relay: its functions for the head and each chunk.

    Args:
        start: called with the body's length; sends the response head.
        send: sends one chunk to the client.
    """

    def __init__(
        self,
        start: Callable[[int], Coroutine[Any, Any, None]],
        send: Callable[[bytes], Coroutine[Any, Any, None]],
    ) -> None:
        self.start = start
        self.send = send

    def in_thread(self, chunks: MemoryObjectSendStream[bytes]) -> Relay:
        """A :class:`Relay` for the fetching worker thread: the head is sent through a call
        into the loop, each chunk is queued on ``chunks`` (waiting only while it is full)."""

        def start(size: int) -> None:
            anyio.from_thread.run(self.start, size)

        def send(chunk: bytes) -> None:
            anyio.from_thread.run(chunks.send, chunk)

        return Relay(start, send)

    async def drain(self, chunks: MemoryObjectReceiveStream[bytes], relay: Relay) -> None:
        """Send the queued chunks to the client until the fetch ends; a client that goes
        away stops the sending (``relay.client_gone``), not the fetch: the rest is dropped."""
        async with chunks:
            async for chunk in chunks:
                if relay.client_gone:
                    continue
                try:
                    await self.send(chunk)
                except Exception:
                    relay.client_gone = True
