"""What every server shares: settings, the executor, hot answers, listeners, signals, draining.

A server is a loop per connection (read, feed the core, carry out each effect) in its own I/O
style; everything else is here once. :class:`ServerBase` holds the compiled settings, the
:class:`~goproxy_io.executor.Executor`, the table of hot answers and the store's capabilities;
:class:`AsyncServerBase` adds counting connections, draining and waiting for idle with anyio
(so one version serves trio and asyncio). :func:`open_socket` binds a listener for all three,
and :func:`run_until_signalled` is the shutdown sequence of the async ones.

Floods of connections: :func:`raise_open_file_limit` lifts the soft ``RLIMIT_NOFILE`` to the
hard one when a server is made; :class:`ConnectionLimit` caps open client connections
(``max-connections``), closing the longest-idle one for a new one; :class:`AcceptErrors` is
how each server's own accept loop pauses and logs when ``accept`` fails (out of descriptors).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, BinaryIO, TypedDict

import anyio
import anyio.to_thread

from goproxy_core import (
    CompiledConfig,
    HotReplies,
    ProxyConfig,
    ProxyConnection,
    RequestIds,
    compile_config,
)
from goproxy_core.proxy.auth import Keyring
from goproxy_core.proxy.keys import QUARANTINE_MARK
from goproxy_core.storage import BlobInfo, LocalBlobStore
from goproxy_stores import ops
from goproxy_stores.disk import DiskStore
from goproxy_stores.objectstore import ObjectStore
from goproxy_stores.usage import EVICTED_MARK, UsageTracker

from .executor import SMALL_BLOB, AsyncExecutor, Executor, read_blob_whole
from .logs import new_id_prefix
from .metrics import MeteredConnection, Metrics
from .tokens import TokenWatch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from goproxy_core import SendBlob
    from goproxy_core.storage import BlobStore

    from .tls import TLSHolder
    from .upstream import Fetcher

__all__ = [
    "SEND_CHUNK",
    "TOO_MANY",
    "AcceptErrors",
    "AsyncServerBase",
    "ConnectionLimit",
    "Listen",
    "ServerBase",
    "Slot",
    "default_max_connections",
    "open_socket",
    "peer_address",
    "raise_open_file_limit",
    "run_until_signalled",
    "too_many",
    "tune_socket",
]

log = logging.getLogger("goproxy.server")

SEND_CHUNK = 256 * 1024
"""Bytes read and sent at a time when a stored blob cannot go out with ``sendfile``."""

STORE_USAGE_TTL = 10.0
"""Seconds the store's size and file count (``/metrics``) are reused before the index is asked
again (a sum over every file's row)."""
QUARANTINE_WATCH = 1.0
"""Seconds between looks at ``goproxy verify``'s quarantine mark."""

_NOTSENT_LOWAT: int | None = getattr(socket, "TCP_NOTSENT_LOWAT", None)


def _no_report(port: int) -> None:
    pass


class ServerLimits(TypedDict):
    """The connection limits :class:`Listen` hands to :class:`ServerBase`."""

    max_connections: int | None
    raise_limit: bool
    tokens_file: str | None
    tls: TLSHolder | None


@dataclasses.dataclass(frozen=True)
class Listen:
    """Where and how a server's ``run`` listens, and how it stops; the same for every server.

    Attributes:
        host: the address to listen on.
        port: the port (0: any free one).
        reuse_port: share the port with other worker processes (SO_REUSEPORT).
        ready: called with the bound port once the server accepts connections (and, for
            the async servers, catches signals).
        grace: seconds in-flight requests get to finish after SIGINT or SIGTERM.
        max_connections: open client connections at most (see :class:`ServerBase`).
        raise_limit: raise the soft open-file limit to the hard one (see :class:`ServerBase`).
        tokens_file: the tokens file clients' tokens are checked against (see
            :class:`ServerBase`); None: no tokens.
        tls: serve HTTPS with this holder's context (``goproxy_io.tls``; SIGHUP reloads it);
            None: plain HTTP.
    """

    host: str
    port: int
    reuse_port: bool = False
    ready: Callable[[int], None] = _no_report
    grace: float = 30.0
    max_connections: int | None = None
    raise_limit: bool = True
    tokens_file: str | None = None
    tls: TLSHolder | None = None

    def limits(self) -> ServerLimits:
        """The :class:`ServerBase` keyword arguments these settings give."""
        return {
            "max_connections": self.max_connections,
            "raise_limit": self.raise_limit,
            "tokens_file": self.tokens_file,
            "tls": self.tls,
        }


def peer_address(where: object) -> str:
    """A client's address for the audit trail: the host of a ``(host, port, ...)`` peer name,
    or of a connected socket's ("" when it cannot tell)."""
    if isinstance(where, socket.socket):
        try:
            where = where.getpeername()
        except OSError:
            return ""
    if isinstance(where, (tuple, list)) and where:
        return str(where[0])
    return str(where) if isinstance(where, str) else ""


class ServerBase:
    """The state one server shares among its connections.

    Args:
        store: where blobs are kept.
        config: the core's settings (compiled once here).
        fetcher: upstream fetching (default: a new :class:`~goproxy_io.upstream.Fetcher`).
        max_connections: open client connections at most (:class:`ConnectionLimit`); None:
            :func:`default_max_connections` of the open-file limit.
        raise_limit: raise the process's soft open-file limit to its hard limit first
            (:func:`raise_open_file_limit`); an embedder that manages it itself says False.
        track_usage: keep the disk quota (:class:`~goproxy_stores.usage.UsageTracker`: last
            uses, the size index, eviction past ``max-cache-size`` or under
            ``min-free-space``); None: when the store is a ``DiskStore`` and one of the two is
            set, or an ``ObjectStore`` with a ``state_dir`` (for its index) and
            ``max-cache-size`` set (free space means nothing on a bucket;
            ``goproxy_stores.objusage``). Its thread starts here and stops with :meth:`close`.
        tokens_file: the tokens file (``goproxy token``, :mod:`goproxy_io.tokens`) whose
            tokens clients may send; read here (an unreadable one raises
            ``TokenFileError``), then watched from a thread of its own
            (:class:`~goproxy_io.tokens.TokenWatch`) so a change applies within a second.
            None: no tokens (clients read only what ``anonymous`` allows).
        tls: serve HTTPS with this holder's context (``goproxy_io.tls``): every connection
            shakes hands off the accept loop, within ``tls.HANDSHAKE_TIMEOUT``; stored files
            go through the TLS stream in :data:`SEND_CHUNK` chunks, never ``sendfile``.
    """

    def __init__(
        self,
        store: BlobStore,
        config: ProxyConfig | CompiledConfig,
        fetcher: Fetcher | None = None,
        *,
        max_connections: int | None = None,
        raise_limit: bool = True,
        track_usage: bool | None = None,
        tokens_file: str | os.PathLike[str] | None = None,
        tls: TLSHolder | None = None,
    ) -> None:
        self.tls = tls
        open_files = raise_open_file_limit() if raise_limit else _soft_open_file_limit()
        if max_connections is None:
            max_connections = default_max_connections(open_files)
        if max_connections < 1:
            raise ValueError(f"max_connections must be 1 or more, got {max_connections}")
        self.limit = ConnectionLimit(max_connections)
        self.store = store
        self.config = compile_config(config) if isinstance(config, ProxyConfig) else config
        self.executor = Executor(store, fetcher)
        # Fetch failures are shared a moment past their flight, until the core has them in
        # the store (failure_ttl); off with it.
        self.executor.flights.linger = min(1.0, self.config.config.failure_ttl)
        self.hot = HotReplies()  # repeated immutable answers, skipping the engine
        # X-Request-Id: this server's own prefix, counted by the core (goproxy_core.RequestIds).
        self.ids = RequestIds(new_id_prefix())
        # The tokens clients may send (goproxy_core.proxy.auth), kept current by the watch.
        self.keyring = Keyring()
        self.token_watch = TokenWatch(tokens_file, self.keyring) if tokens_file else None
        self.metrics = self._metrics() if self.config.config.metrics else None
        # Blobs are regular local files: they may go out with sendfile (never under TLS: the
        # bytes must go through the TLS stream, in SEND_CHUNK chunks).
        self.sendfile = (
            tls is None and isinstance(store, LocalBlobStore) and hasattr(os, "sendfile")
        )
        self._stop_watch = threading.Event()
        on_bucket = isinstance(store, ObjectStore)
        if track_usage is None:
            track_usage = (
                bool(self.config.config.max_cache_size) if on_bucket else self.config.quota_on
            )
        if track_usage and isinstance(store, ObjectStore) and store.state_dir is None:
            log.warning("max-cache-size is not applied: no local directory for the usage index")
            track_usage = False
        self.usage: UsageTracker | None = None
        if track_usage and isinstance(store, DiskStore | ObjectStore):
            self.usage = UsageTracker(store, self.config, on_evicted=self.forget)
            self.usage.start()
            self.executor.usage_index = self.usage.index  # the catalog reads it
            if self.metrics is not None:
                self._meter_usage(self.metrics, self.usage)
        # The marks as they are now, read before the watch starts: a mark written from here
        # on is a change it sees.
        marks = [ops.stat(self.store, m) for m in (QUARANTINE_MARK, EVICTED_MARK)]
        threading.Thread(
            target=self._watch_quarantine,
            args=(marks,),
            name="goproxy-quarantine-watch",
            daemon=True,
        ).start()
        self.init_state()

    @staticmethod
    def _meter_usage(metrics: Metrics, usage: UsageTracker) -> None:
        """Store size and file count from the usage index (at most one query a
        :data:`STORE_USAGE_TTL` seconds), and the quota's evictions."""
        index, lock = usage.index, threading.Lock()
        asked_at: list[float] = []
        kept: list[tuple[int, int]] = []

        def store_usage() -> tuple[int, int] | None:
            with lock:
                now = time.monotonic()
                if not asked_at or now - asked_at[0] >= STORE_USAGE_TTL:
                    try:
                        totals = (index.total(), index.file_count())
                    except Exception:  # the index unreadable: report nothing this time
                        return None
                    asked_at[:], kept[:] = [now], [totals]
                return kept[0]

        metrics.store_usage = store_usage
        usage.on_gc = lambda result: metrics.evicted(
            len(result.evicted), max(0, result.total_before - result.total_after)
        )

    def _metrics(self) -> Metrics:
        """The server's metrics (``/metrics``), wired to the parts that feed them."""
        m = Metrics(self.config.base_path)
        m.connections = self.limit.__len__
        m.prefetch_stats = self.executor.prefetch_stats
        m.store = self.store
        self.executor.metrics = m
        self.executor.fetcher.metrics = m
        return m

    def _watch_quarantine(self, seen: list[BlobInfo | None]) -> None:
        """Forget what is kept in memory once ``goproxy verify`` quarantined something, or
        the disk quota evicted versions (in any process serving the cache dir).

        The memo and the hot-answer table hold stored files (``.info``, ``.mod``, small zips)
        as they were read, and a hot zip answer names its stored file; a file quarantined or
        evicted since must not be answered from there. The marks (``keys.QUARANTINE_MARK``,
        ``usage.EVICTED_MARK``) are looked at every :data:`QUARANTINE_WATCH` seconds, in
        this thread, never on a request's path. ``seen``: the marks when the server started.
        """
        marks = (QUARANTINE_MARK, EVICTED_MARK)
        while not self._stop_watch.wait(QUARANTINE_WATCH):
            now = [ops.stat(self.store, m) for m in marks]
            if now != seen:
                quarantined = now[0] != seen[0]
                if quarantined:
                    log.info("stored files were quarantined: answers kept in memory forgotten")
                seen = now
                self.forget()
                if quarantined and self.metrics is not None and now[0] is not None:
                    self.metrics.quarantined()

    def forget(self) -> None:
        """Drop every stored file kept in memory (the memo and the hot answers)."""
        self.hot.clear()
        self.executor.memo.clear()

    def init_state(self) -> None:
        """Set up a subclass's own state (called last by ``__init__``)."""

    def connection(self, client: str = "") -> ProxyConnection:
        """The core's state for one new client connection (its finished exchanges feed the
        metrics and count as last uses for the disk quota, see ``goproxy_io.access``);
        ``client`` is its address, for the audit trail."""
        return MeteredConnection(
            self.config,
            hot=self.hot,
            uses=self.usage,
            metrics=self.metrics,
            ids=self.ids,
            keyring=self.keyring,
            client=client,
        )

    def refusal(self) -> bytes:
        """The 503 to a connection over ``max-connections`` (:func:`too_many`), with a new id.

        Empty under TLS: a client that is about to shake hands cannot read a plain answer, so
        the connection is closed without one.
        """
        if self.tls is not None:
            return b""
        return too_many(self.ids.next())

    def note_use(self, target: bytes, status: int) -> None:
        """Count an answer given without a :class:`ProxyConnection` (the ASGI and WSGI
        apps) as a last use for the disk quota."""
        if self.usage is not None and status in (200, 304):
            self.usage.note_target(target.decode("latin-1"), time.time())

    def small_blob(self, effect: SendBlob) -> bytes | None:
        """A small blob's bytes if they are in memory already (no I/O)."""
        return self.executor.memo.blob(effect.key, effect.size)

    def open_blob(self, effect: SendBlob) -> bytes | BinaryIO | None:
        """Blocking: a small blob's bytes (kept in memory for next time), or the open file.

        None when the blob is gone or shorter than it was.
        """
        if effect.size <= SMALL_BLOB:
            return read_blob_whole(self.store, effect.key, effect.size, self.executor.memo)
        try:
            return self.store.open(effect.key)
        except OSError:
            log.exception("store open failed for %s", effect.key)
            return None

    def close(self) -> None:
        """Release the upstream connections; stop watching for quarantines; stop the disk
        quota's thread (after its last write)."""
        self._stop_watch.set()
        if self.token_watch is not None:
            self.token_watch.close()
        if self.usage is not None:
            self.usage.stop()
        self.executor.close()
        if self.metrics is not None:
            self.metrics.close()


class AsyncServerBase(ServerBase):
    """:class:`ServerBase` for event-loop servers (trio, asyncio): counts and draining.

    Subclasses close their idle connections in :meth:`close_idle`.
    """

    def init_state(self) -> None:
        self.effects = AsyncExecutor(self.executor)
        self.draining = False
        self.active = 0
        self._idle_changed: anyio.Event | None = None

    def started(self) -> None:
        """A connection began."""
        self.active += 1

    def finished(self) -> None:
        """A connection ended."""
        self.active -= 1
        if self._idle_changed is not None:
            self._idle_changed.set()

    def drain(self) -> None:
        """Stop keeping connections alive: each closes after its current response."""
        self.draining = True
        self.close_idle()
        if self._idle_changed is not None:
            self._idle_changed.set()

    def close_idle(self) -> None:
        """Close the connections that wait between requests (closing loses nothing)."""

    async def wait_idle(self) -> None:
        """Return once no connection is being served."""
        while self.active:
            self._idle_changed = anyio.Event()
            await self._idle_changed.wait()


def open_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, listening TCP socket; ``reuse_port`` lets worker processes share the port."""
    family, type_, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def tune_socket(sock: socket.socket) -> None:
    """Per-connection options: no Nagle delay, and little queued unsent at a time.

    With ``TCP_NOTSENT_LOWAT`` the socket is writable only while little is queued unsent, so
    ``sendfile`` streams in step with the reader; on loopback it triples zip throughput.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _NOTSENT_LOWAT is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _NOTSENT_LOWAT, 16 * 1024)


async def run_until_signalled(
    server: AsyncServerBase,
    port: int,
    listen: Listen,
    *,
    stop_accepting: Callable[[], Awaitable[None]],
) -> None:
    """Serve until SIGINT or SIGTERM, then stop accepting and drain, for ``listen.grace`` seconds.

    With TLS, SIGHUP reloads the certificate and key (``listen.tls.reload``, in a worker
    thread) for new connections. ``listen.ready(port)`` is called once signals are being
    caught. On return, connections that are still busy are the caller's to cut.
    """
    tls = listen.tls
    caught = (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if tls is not None else ()))
    with anyio.open_signal_receiver(*caught) as signals:
        listen.ready(port)
        async for sig in signals:
            if sig == signal.SIGHUP and tls is not None:
                await anyio.to_thread.run_sync(tls.reload)
                continue
            break
        log.info("shutting down: draining in-flight requests")
        await stop_accepting()  # connections in progress go on
        server.drain()
        with anyio.move_on_after(listen.grace):
            await server.wait_idle()


# -- open files, connection counts, accept failures -------------------------------------------

_FD_RESERVE = 64
"""Descriptors kept back from client connections: the listener, logs, the store's own files,
the upstream pool's first sockets, libraries (see :func:`default_max_connections`)."""

_limit_logged = False
_limit_lock = threading.Lock()


def raise_open_file_limit() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; return the soft limit now.

    Logged once per process at INFO. Never fails: where the limit cannot be read or raised (no
    ``resource`` module, a sandbox that refuses), the soft limit stays as it was and that is
    logged instead. An infinite hard limit is taken as 1,048,576 (Linux's usual ``nr_open``).
    """
    global _limit_logged
    try:
        import resource
    except ImportError:  # not a Unix
        return 0
    with _limit_lock:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        message = ""
        if soft == resource.RLIM_INFINITY or soft >= target:
            message = f"open-file limit {soft} (the hard limit)"
        else:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (OSError, ValueError) as e:
                message = f"open-file limit {soft}: could not raise it to {target}: {e}"
            else:
                message = f"open-file limit raised from {soft} to {target} (the hard limit)"
                soft = target
        if not _limit_logged:
            _limit_logged = True
            log.info("%s", message)
        return soft if soft != resource.RLIM_INFINITY else 1 << 20


def _soft_open_file_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` as it is (0 where unknown)."""
    try:
        import resource
    except ImportError:  # not a Unix
        return 0
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_max_connections(open_files: int) -> int:
    """How many client connections a process with ``open_files`` descriptors keeps open.

    Half of what is left after :data:`_FD_RESERVE`: each connection may hold a second
    descriptor while it is served (a stored file going out with ``sendfile``, a fetch's
    upstream socket, a file being written to the store). 1024 gives 480. Without a known
    limit (0), 10,000.
    """
    if open_files <= 0:
        return 10_000
    return max(1, (open_files - _FD_RESERVE) // 2)


TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 62\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n\r\n"
    b"too many open connections (max-connections), none idle: retry\n"
)
"""The answer to a connection over ``max-connections`` when no other one can be closed
(:func:`too_many` adds its ``X-Request-Id``)."""


def too_many(request_id: bytes) -> bytes:
    """:data:`TOO_MANY` with ``request_id`` as its ``X-Request-Id``: every answer has one."""
    return TOO_MANY.replace(
        b"Connection: close\r\n", b"X-Request-Id: " + request_id + b"\r\nConnection: close\r\n", 1
    )


class Slot:
    """One admitted connection's place in a :class:`ConnectionLimit`.

    The connection calls :meth:`idle` each time it waits for a request head (between requests,
    or a head not yet whole) and :meth:`busy` once a request is under way; :meth:`release`
    when it ends. Only idle connections are closed to make room.
    """

    __slots__ = ("_limit", "evict", "is_idle")

    def __init__(self, limit: ConnectionLimit, evict: Callable[[], None]) -> None:
        self._limit = limit
        self.evict = evict
        self.is_idle = False

    def idle(self) -> None:
        """Waiting for a request head: may be closed for a newer connection. Keeps its age."""
        if not self.is_idle:
            self._limit._mark(self, idle=True)

    def busy(self) -> None:
        """A request is under way (or its response going out): never closed for room."""
        if self.is_idle:
            self._limit._mark(self, idle=False)

    def release(self) -> None:
        """The connection ended (call before its socket is closed)."""
        self._limit._release(self)


class ConnectionLimit:
    """At most ``maximum`` open client connections; the longest-idle one makes room.

    :meth:`admit` takes each accepted connection: under the maximum it just counts it; at the
    maximum it closes the connection that has been idle longest (waiting for a request head
    the longest: ``evict`` shuts its socket, so its own loop ends it) and admits the new one,
    or, with none idle, refuses it (None: the caller answers :data:`TOO_MANY` and closes).
    Thread safe. Closings and refusals are logged at WARNING at most once per ``interval``
    seconds, with counts.
    """

    def __init__(
        self,
        maximum: int,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = maximum
        self._lock = threading.RLock()
        self._open: set[Slot] = set()
        self._idle: dict[Slot, None] = {}  # oldest first: a dict keeps insertion order
        self._interval = interval
        self._clock = clock
        self._next_log = 0.0
        self._closed = 0
        self._refused = 0

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, evict: Callable[[], None]) -> Slot | None:
        """A slot for a new connection (``evict`` closes it for room), or None: refuse it."""
        with self._lock:
            if len(self._open) >= self.maximum:
                victim = next(iter(self._idle), None)
                if victim is None:
                    self._refused += 1
                    self._report()
                    return None
                self._release(victim)
                self._closed += 1
                # Under the lock: the victim's own loop releases (under it) before closing its
                # socket, so the socket is still its own here, never a reused descriptor.
                try:
                    victim.evict()
                except Exception:
                    log.exception("closing an idle connection failed")
                self._report()
            slot = Slot(self, evict)
            self._open.add(slot)
            return slot

    def _mark(self, slot: Slot, *, idle: bool) -> None:
        with self._lock:
            if idle:
                if slot in self._open:
                    self._idle[slot] = None
                    slot.is_idle = True
            else:
                self._idle.pop(slot, None)
                slot.is_idle = False

    def _release(self, slot: Slot) -> None:
        with self._lock:
            self._open.discard(slot)
            self._idle.pop(slot, None)
            slot.is_idle = False

    def _report(self) -> None:
        now = self._clock()
        if now < self._next_log:
            return
        self._next_log = now + self._interval
        log.warning(
            "max-connections (%d) reached: closed %d idle connections, refused %d "
            "(none idle) in the last %.0f s",
            self.maximum,
            self._closed,
            self._refused,
            self._interval,
        )
        self._closed = self._refused = 0


class AcceptErrors:
    """How an accept loop waits after ``accept`` fails, and its rate-limited log line.

    Each failure in a row doubles the pause (``first`` up to ``longest`` seconds); a success
    resets it. Failures are logged at most once per ``interval`` seconds, one line with the
    count and the last error, never a traceback: out of descriptors (EMFILE, ENFILE) or memory
    (ENOBUFS, ENOMEM) fails every accept until something closes, and the log must not drown.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        first: float = 0.01,
        longest: float = 1.0,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._first = first
        self._longest = longest
        self._interval = interval
        self._clock = clock
        self._pause = 0.0
        self._count = 0
        self._last: OSError | None = None
        self._next_log = 0.0

    def failed(self, error: OSError) -> float:
        """Count a failed accept; return how long to wait before the next one."""
        self._count += 1
        self._last = error
        self._pause = min(self._longest, self._pause * 2) if self._pause else self._first
        self._flush()
        return self._pause

    def succeeded(self) -> None:
        """An accept worked: the next failure waits the shortest pause again."""
        if self._pause:
            self._pause = 0.0
            if self._count:
                self._flush()

    def _flush(self) -> None:
        now = self._clock()
        if now < self._next_log:
            return
        self._next_log = now + self._interval
        times = "time" if self._count == 1 else "times"
        self._log.warning(
            "accept failed %d %s in the last %.0f s: %s",
            self._count,
            times,
            self._interval,
            self._last,
        )
        self._count = 0
