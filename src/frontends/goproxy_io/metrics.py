"""The server's metrics, rendered for ``/metrics`` in the Prometheus exposition format.

Theory of operation: the core decides that ``/metrics`` is asked for (``MetricsReq``) and yields
``RenderMetrics``; the executor answers it with :meth:`Metrics.render`. The core counts
nothing: every number here is fed from the I/O side, each from the one place its event passes:

* requests, by endpoint kind (``goproxy_core.endpoint_of``), status and cache result (read
  from ``Cache-Status``), and their latency: :meth:`Metrics.exchange`, called by
  ``goproxy_io.access.log_exchanges`` for every finished exchange of every socket server
  (whatever ``access-log`` says), and :meth:`Metrics.request` by the ASGI and WSGI apps;
* upstream fetches, errors, retries, bytes and latency by upstream, and each upstream's circuit
  breaker: the :class:`~goproxy_io.upstream.Fetcher` (its ``metrics``);
* single-flight waits, checksum-database verifications (read from the version records the
  core asks to save, and the failures it asks to remember): the
  :class:`~goproxy_io.executor.Executor` (its ``metrics``);
* what lives in objects of its own (open connections, prefetch counters, the store's free
  space, and its size once a usage index gives it through :attr:`Metrics.store_usage`), and
  the requests' own tallies: read by :meth:`Metrics.sync` when a page is rendered, and, with
  several worker processes, every :data:`SYNC_INTERVAL` seconds by each worker.

Several worker processes (``goproxy serve --workers N``) share one port, and a scrape reaches
any one of them: they use prometheus-client's multiprocess mode. The supervisor makes a fresh
private directory and names it in ``PROMETHEUS_MULTIPROC_DIR`` for its workers; each worker's
values live in memory-mapped files there, and a page rendered by any worker adds them up
(counters and histograms summed; gauges each with the ``multiprocess_mode`` that fits: open
connections summed over live workers, store figures the most recent, a breaker open if open
in any live worker). Why this rather than asking each worker at scrape time: a scrape touches
no other process, sees a worker's counts even after it exited, and needs no port per worker.
Per-process figures (memory, CPU, open files) are ``goproxy_worker_*`` gauges with a ``pid``
label then, since ``process_*`` of whichever worker answered would be a random one's.

Cost on a request: one dict look-up of its tally (by target, status and ``Cache-Status``; the
endpoint kind is parsed once per target), a bisection for its latency bucket, and three
additions under one short lock, never held across I/O. The tallies go to prometheus-client
(a lock and, in multiprocess mode, a memory-mapped write per value) when a page is rendered
and, with workers, every :data:`SYNC_INTERVAL` seconds.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
import os
import threading
import time
from typing import TYPE_CHECKING

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from goproxy_core import (
    MetricsPage,
    endpoint_of,
)
from goproxy_core.proxy.keys import NEGATIVE_PREFIX
from goproxy_core.proxy.record import decode_record
from goproxy_stores import ops

from .access import TrackedConnection

if TYPE_CHECKING:
    from collections.abc import Callable

    from goproxy_core import AccessRecord, CompiledConfig, HotReplies, ProxyConfig, RequestIds
    from goproxy_core.proxy.auth import Keyring
    from goproxy_core.storage import BlobStore

    from .access import UseSink
    from .executor import PrefetchStats

__all__ = [
    "CACHE_RESULTS",
    "MULTIPROC_ENV",
    "SYNC_INTERVAL",
    "MeteredConnection",
    "Metrics",
    "cache_result",
    "upstream_label",
]

log = logging.getLogger("goproxy.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable naming the multiprocess directory (prometheus-client's own)."""

SYNC_INTERVAL = 1.0
"""Seconds between a worker's copies of its live figures into the shared files (multiprocess)."""

CACHE_RESULTS = ("hit", "miss", "stale", "negative", "failure", "none", "other")
"""Every ``cache`` label value: what ``Cache-Status`` said of the answer."""

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Request latency buckets, seconds: cached hits take well under a millisecond, cold zips
seconds."""

PREFETCH_EVENTS = ("started", "stored", "present", "failed", "dropped", "hits")
"""The ``event`` label of ``goproxy_prefetch_total`` (``PrefetchStats.snapshot()``'s keys)."""

_PROCESS_FIGURES = (
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
)


def cache_result(cache_status: str) -> str:
    """The ``cache`` label for a ``Cache-Status`` parameter string (one of
    :data:`CACHE_RESULTS`): ``failure`` a remembered failed fetch, ``negative`` a remembered
    not-found, ``stale`` an old answer served, ``miss`` fetched upstream, ``hit`` from the
    store, ``none`` no ``Cache-Status`` (health, errors in the request), ``other`` anything
    else (the own checksum database's answers)."""
    got = _CACHE_RESULT.get(cache_status)
    if got is None:
        got = _classify(cache_status)
        if len(_CACHE_RESULT) < 1024:  # a small fixed set of strings in practice
            _CACHE_RESULT[cache_status] = got
    return got


_CACHE_RESULT: dict[str, str] = {}


def _classify(cs: str) -> str:
    if not cs:
        return "none"
    if "failure remembered" in cs:
        return "failure"
    if "detail=negative" in cs:
        return "negative"
    if "fwd=stale" in cs:
        return "stale"
    if "fwd=miss" in cs:
        return "miss"
    if "; hit" in cs:
        return "hit"
    return "other"


def upstream_label(key: str) -> str:
    """An upstream's ``upstream`` label: its base URL without credentials (``user:pass@``)."""
    got = _LABELS.get(key)
    if got is None:
        got = key
        if "@" in key and "://" in key:
            with contextlib.suppress(httpx.InvalidURL):
                got = str(httpx.URL(key).copy_with(username=None, password=None))
        if len(_LABELS) < 1024:
            _LABELS[key] = got
    return got


_LABELS: dict[str, str] = {}


class MeteredConnection(TrackedConnection):
    """A :class:`~goproxy_core.ProxyConnection` whose finished exchanges also feed
    :attr:`metrics` (and the disk quota's ``uses``: ``goproxy_io.access.log_exchanges`` hands
    them over)."""

    def __init__(
        self,
        config: ProxyConfig | CompiledConfig,
        *,
        hot: HotReplies | None = None,
        uses: UseSink | None = None,
        metrics: Metrics | None = None,
        ids: RequestIds | None = None,
        keyring: Keyring | None = None,
        client: str = "",
    ) -> None:
        super().__init__(config, hot=hot, uses=uses, ids=ids, keyring=keyring, client=client)
        self.metrics = metrics


class Metrics:
    """One server's metrics: a registry of its own, fed by the server's parts; thread-safe.

    Args:
        base_path: the proxy's base path (for the endpoint kind of a request target).
        multiprocess_dir: the directory of prometheus-client's multiprocess mode; default:
            ``PROMETHEUS_MULTIPROC_DIR`` from the environment, or none (one process).

    Attributes:
        store_usage: a function giving the store's (bytes, files), cheap to call (a usage
            index's running totals); None until one is wired: ``goproxy_store_bytes`` and
            ``goproxy_store_files`` are NaN (unknown) until then. Nothing on a scrape walks
            the store.
        connections: a function giving the open client connections (the server's
            ``ConnectionLimit``'s length); None: not reported.
        prefetch_stats: the executor's prefetch counters, read at each sync.
        store: the store, for its free space (``goproxy_store_free_bytes``).
    """

    def __init__(self, base_path: str = "", *, multiprocess_dir: str | None = None) -> None:
        self.base_path = base_path
        if multiprocess_dir is None:
            multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus-client picks its value class when first imported; a process that
            # imported it before the directory was named switches now, before any metric.
            os.environ[MULTIPROC_ENV] = multiprocess_dir
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self.store_usage: Callable[[], tuple[int, int] | None] | None = None
        self.connections: Callable[[], int] | None = None
        self.prefetch_stats: PrefetchStats | None = None
        self.store: BlobStore | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._private = Counter(
            "goproxy_private_requests",
            "Audited requests (a private module, or any request with credentials), by the "
            "name of the token they came with (empty: none).",
            ["token"],
            registry=r,
        )
        self._requests = Counter(
            "goproxy_requests",
            "Requests answered, by endpoint kind, status and cache result.",
            ["kind", "status", "cache"],
            registry=r,
        )
        self._latency = Histogram(
            "goproxy_request_duration_seconds",
            "Time from the request head to the response decided, by endpoint kind.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._up_requests = Counter(
            "goproxy_upstream_requests",
            "Upstream fetch attempts, by upstream and HTTP status (error: no response).",
            ["upstream", "code"],
            registry=r,
        )
        self._up_errors = Counter(
            "goproxy_upstream_errors",
            "Failed upstream attempts, by upstream and reason "
            "(timeout, transport, 5xx, bad-data, breaker-open).",
            ["upstream", "reason"],
            registry=r,
        )
        self._up_retries = Counter(
            "goproxy_upstream_retries",
            "Upstream attempts made again after a failure that is cheap to retry.",
            ["upstream"],
            registry=r,
        )
        self._up_bytes = Counter(
            "goproxy_upstream_bytes",
            "Response body bytes read from upstreams.",
            ["upstream"],
            registry=r,
        )
        self._up_latency = Histogram(
            "goproxy_upstream_duration_seconds",
            "Time of one upstream attempt, to the whole body read.",
            ["upstream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._breaker = Gauge(
            "goproxy_upstream_breaker_open",
            "1 while the upstream's circuit breaker is open (in any live worker), else 0.",
            ["upstream"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self._flight_waits = Histogram(
            "goproxy_singleflight_wait_seconds",
            "Requests that waited on a concurrent request's fetch of the same file "
            "(single-flight), and how long.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._lease_waits = Counter(
            "goproxy_lease_waits",
            "Fetches that waited on another process's lease on the same file (another "
            "worker, or another replica on one object store) instead of fetching it.",
            registry=r,
        )
        self._lease_takeovers = Counter(
            "goproxy_lease_takeovers",
            "Fetch leases taken over from a holder that stopped renewing (a replica that "
            "died or stalled mid-fetch): this process fetched the file instead.",
            registry=r,
        )
        self._verifications = Counter(
            "goproxy_sumdb_verifications",
            "Stored .mod and .zip files by checksum-database verification: verified "
            "(proven against a signed tree) or unverified (private, nosumdb, no database).",
            ["result"],
            registry=r,
        )
        self._sumdb_failures = Counter(
            "goproxy_sumdb_failures",
            "Checksum-database verifications that failed: mismatch (a hash differs from the "
            "database's record) or fork (the database's tree is inconsistent).",
            ["reason"],
            registry=r,
        )
        self._store_bytes = Gauge(
            "goproxy_store_bytes",
            "Bytes in the store (NaN until a usage index reports it).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self._store_files = Gauge(
            "goproxy_store_files",
            "Files in the store (NaN until a usage index reports it).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self._store_free = Gauge(
            "goproxy_store_free_bytes",
            "Free bytes on the store's file system (NaN when the store cannot tell).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self._evicted_versions = Counter(
            "goproxy_store_evicted_versions",
            "Module versions evicted from the store to keep it under its quota.",
            registry=r,
        )
        self._evicted_bytes = Counter(
            "goproxy_store_evicted_bytes",
            "Bytes evicted from the store to keep it under its quota.",
            registry=r,
        )
        self._quarantines = Counter(
            "goproxy_store_quarantines",
            "Times goproxy verify quarantined stored files, as a server saw its mark change "
            "(each worker counts what it saw).",
            registry=r,
        )
        self._connections = Gauge(
            "goproxy_open_connections",
            "Open client connections (summed over live workers).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._prefetch = Counter(
            "goproxy_prefetch",
            "Background prefetches by event: started, stored, present (already stored), "
            "failed, dropped, hits (client requests answered with a prefetched file).",
            ["event"],
            registry=r,
        )
        for g in (self._store_bytes, self._store_files, self._store_free):
            g.set(math.nan)
        for reason in ("mismatch", "fork"):
            self._sumdb_failures.labels(reason)
        for result in ("verified", "unverified"):
            self._verifications.labels(result)
        self._prefetch_children = {e: self._prefetch.labels(e) for e in PREFETCH_EVENTS}
        self._prefetch_seen = dict.fromkeys(PREFETCH_EVENTS, 0)
        self._tallies: dict[tuple[str, int, str], _Tally] = {}
        self._by_target: dict[tuple[str | bytes, int, str], _Tally] = {}
        self._tally_lock = threading.Lock()
        self._upstreams: dict[str, _UpstreamChildren] = {}
        self._sync_lock = threading.Lock()
        self._worker: dict[str, Gauge] = {}
        self._process: ProcessCollector | None = None
        self._page_registry: CollectorRegistry = r
        self._stop = threading.Event()
        if multiprocess_dir is None:
            ProcessCollector(registry=r)
        else:
            self._page_registry = CollectorRegistry()
            MultiProcessCollector(self._page_registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
            self._process = ProcessCollector(registry=None)
            for name in _PROCESS_FIGURES:
                short = name.removeprefix("process_").removesuffix("_total")
                self._worker[name] = Gauge(
                    f"goproxy_worker_{short}",
                    f"{name} of each live worker process (label pid).",
                    registry=r,
                    multiprocess_mode="liveall",
                )
            threading.Thread(target=self._sync_loop, name="goproxy-metrics", daemon=True).start()

    # -- what the parts report ----------------------------------------------------------

    def exchange(self, rec: AccessRecord) -> None:
        """One finished exchange of a socket server (``log_exchanges`` calls it)."""
        seconds = time.monotonic() - rec.started
        self.request(rec.target, rec.status, rec.cache_status, seconds, rec.alarm)
        if rec.audit:
            self.audited(rec.token)

    def audited(self, token: str) -> None:
        """One audited exchange (``AccessRecord.audit``) of the token named ``token`` ("":
        none): ``goproxy_private_requests_total{token=...}``."""
        self._private.labels(token).inc()

    def request(
        self, target: str | bytes, status: int, cache_status: str, seconds: float, alarm: str = ""
    ) -> None:
        """One answered request: its target, status, ``Cache-Status``, duration, and its
        alarm (a checksum database that forked: counted a ``fork`` failure)."""
        if alarm:
            self._sumdb_failures.labels("fork").inc()
        # Clients ask for the same few thousand targets again and again: their tally is
        # found in one dict look-up, without parsing the target again. A request only adds to
        # plain numbers under one short lock; :meth:`sync` hands them to prometheus-client.
        tally = self._by_target.get((target, status, cache_status))
        if tally is None:
            tally = self._tally_of(target, status, cache_status)
        bucket = bisect.bisect_left(_BOUNDS, seconds)
        with self._tally_lock:
            tally.count += 1
            tally.total += seconds
            tally.buckets[bucket] += 1

    def _tally_of(self, target: str | bytes, status: int, cache_status: str) -> _Tally:
        kind = endpoint_of(target, self.base_path).kind
        key = (kind, status, cache_status)
        tally = self._tallies.get(key)
        if tally is None:
            with self._tally_lock:
                tally = self._tallies.get(key)
                if tally is None:
                    tally = self._tallies[key] = _Tally(
                        self._requests.labels(kind, str(status), cache_result(cache_status)),
                        self._latency.labels(kind),
                    )
        if len(self._by_target) < 8192:
            self._by_target[(target, status, cache_status)] = tally
        return tally

    def _flush(self) -> None:
        """Hand the requests counted since the last flush to prometheus-client."""
        taken: list[tuple[_Tally, int, float, list[int]]] = []
        with self._tally_lock:
            for tally in self._tallies.values():
                if tally.count:
                    taken.append((tally, tally.count, tally.total, tally.buckets))
                    tally.count, tally.total, tally.buckets = 0, 0.0, [0] * len(_BOUNDS)
        for tally, count, total, buckets in taken:
            tally.counter.inc(count)
            # Histogram has no call adding many observations at once: its value objects
            # (one per bucket, and the sum) are added to as ``observe`` adds to them.
            hist = tally.histogram
            hist._sum.inc(total)
            for i, n in enumerate(buckets):
                if n:
                    hist._buckets[i].inc(n)

    def upstream_attempt(
        self, upstream: str, status: int, nbytes: int, seconds: float, error: str = ""
    ) -> None:
        """One upstream attempt: its status (0: no response), body bytes, time, and for a
        failure its reason (``timeout``, ``transport``, ``bad-data``; a 5xx is ``5xx``)."""
        c = self._upstream(upstream)
        c.latency.observe(seconds)
        if nbytes:
            c.bytes.inc(nbytes)
        code = str(status) if status else "error"
        self._up_requests.labels(c.label, code).inc()
        if status >= 500 and not error:
            error = "5xx"
        if error:
            self._up_errors.labels(c.label, error).inc()

    def upstream_retried(self, upstream: str) -> None:
        """An upstream attempt is made again."""
        self._upstream(upstream).retries.inc()

    def upstream_skipped(self, upstream: str) -> None:
        """A fetch failed at once: the upstream's circuit breaker is open."""
        self._up_errors.labels(self._upstream(upstream).label, "breaker-open").inc()

    def breaker(self, upstream: str, is_open: bool) -> None:
        """The upstream's circuit breaker opened or closed."""
        self._upstream(upstream).breaker.set(1 if is_open else 0)

    def flight_waited(self, seconds: float) -> None:
        """A request waited ``seconds`` on a concurrent request's fetch (single-flight)."""
        self._flight_waits.observe(seconds)

    def lease_waited(self) -> None:
        """A fetch waits on another process's lease (``goproxy_lease_waits_total``)."""
        self._lease_waits.inc()

    def lease_taken_over(self) -> None:
        """A lease was taken over from a stopped holder (``goproxy_lease_takeovers_total``)."""
        self._lease_takeovers.inc()

    def saved(self, key: str, data: bytes) -> None:
        """The core had ``data`` saved under ``key``: a version record (a ``.mod`` or
        ``.zip`` just stored, verified or not) or a remembered failure (a checksum mismatch)
        counts."""
        if key.endswith(".record"):
            rec = decode_record(data)
            if rec is None:  # the core encoded it: never in practice
                return
            files = [f for f in (rec.mod, rec.zip) if f is not None]
            if files:
                newest = max(files, key=lambda f: f.time)
                self._verifications.labels("verified" if newest.sumdb else "unverified").inc()
        elif key.startswith(NEGATIVE_PREFIX) and b"checksum mismatch" in data:
            self._sumdb_failures.labels("mismatch").inc()

    def evicted(self, versions: int, nbytes: int) -> None:
        """The quota evicted ``versions`` module versions, ``nbytes`` bytes in all."""
        self._evicted_versions.inc(versions)
        self._evicted_bytes.inc(nbytes)

    def quarantined(self) -> None:
        """``goproxy verify`` quarantined stored files (its mark changed)."""
        self._quarantines.inc()

    # -- the page ---------------------------------------------------------------------------

    def sync(self) -> None:
        """Copy the live figures (connections, prefetch counters, store) into the metrics."""
        with self._sync_lock:
            self._flush()
            if self.connections is not None:
                self._connections.set(self.connections())
            stats = self.prefetch_stats
            if stats is not None:
                now = stats.snapshot()
                for event, child in self._prefetch_children.items():
                    grew = now[event] - self._prefetch_seen[event]
                    if grew > 0:
                        child.inc(grew)
                        self._prefetch_seen[event] = now[event]
            if self.store is not None:
                space = ops.free_space(self.store)
                self._store_free.set(math.nan if space is None else space.free)
            if self.store_usage is not None:
                usage = self.store_usage()
                if usage is not None:
                    self._store_bytes.set(usage[0])
                    self._store_files.set(usage[1])
            if self._process is not None:
                for family in self._process.collect():
                    for sample in family.samples:
                        gauge = self._worker.get(sample.name)
                        if gauge is not None:
                            gauge.set(sample.value)

    def render(self) -> MetricsPage:
        """The page for ``/metrics`` (blocking: in multiprocess mode it reads the files)."""
        self.sync()
        return MetricsPage(generate_latest(self._page_registry), CONTENT_TYPE_LATEST)

    def close(self) -> None:
        """Stop copying live figures (multiprocess mode)."""
        self._stop.set()

    def _sync_loop(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL):
            try:
                self.sync()
            except Exception:  # a metric must never end the worker
                log.exception("metrics: copying live figures failed")

    def _upstream(self, key: str) -> _UpstreamChildren:
        c = self._upstreams.get(key)
        if c is None:
            label = upstream_label(key)
            c = _UpstreamChildren(
                label,
                self._up_latency.labels(label),
                self._up_bytes.labels(label),
                self._up_retries.labels(label),
                self._breaker.labels(label),
            )
            if len(self._upstreams) < 1024:
                self._upstreams[key] = c
        return c


_BOUNDS = (*LATENCY_BUCKETS, math.inf)


class _Tally:
    """Requests of one (kind, status, cache result) counted since the last flush."""

    __slots__ = ("buckets", "count", "counter", "histogram", "total")

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self.counter = counter
        self.histogram = histogram
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(_BOUNDS)


class _UpstreamChildren:
    __slots__ = ("breaker", "bytes", "label", "latency", "retries")

    def __init__(
        self, label: str, latency: Histogram, nbytes: Counter, retries: Counter, breaker: Gauge
    ) -> None:
        self.label = label
        self.latency = latency
        self.bytes = nbytes
        self.retries = retries
        self.breaker = breaker
