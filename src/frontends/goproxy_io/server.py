"""What every server shares: settings, the executor, hot answers, listeners, signals, draining.

A server is a loop per connection (read, feed the core, carry out each effect) in its own I/O
style; everything else is here once. :class:`ServerBase` holds the compiled settings, the
:class:`~goproxy_io.executor.Executor`, the table of hot answers and the store's capabilities;
:class:`AsyncServerBase` adds counting connections, draining and waiting for idle with anyio
(so one version serves trio and asyncio). :func:`open_socket` binds a listener for all three,
and :func:`run_until_signalled` is the shutdown sequence of the async ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
from typing import TYPE_CHECKING, BinaryIO

import anyio

from goproxy_core import CompiledConfig, HotReplies, ProxyConfig, ProxyConnection, compile_config
from goproxy_core.proxy.keys import QUARANTINE_MARK
from goproxy_core.storage import LocalBlobStore
from goproxy_stores import ops

from .executor import SMALL_BLOB, AsyncExecutor, Executor, read_blob_whole

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from goproxy_core import SendBlob
    from goproxy_core.storage import BlobStore

    from .upstream import Fetcher

__all__ = [
    "SEND_CHUNK",
    "AsyncServerBase",
    "Listen",
    "ServerBase",
    "open_socket",
    "run_until_signalled",
    "tune_socket",
]

log = logging.getLogger("goproxy.server")

SEND_CHUNK = 256 * 1024
"""Bytes read and sent at a time when a stored blob cannot go out with ``sendfile``."""

QUARANTINE_WATCH = 1.0
"""Seconds between looks at ``goproxy verify``'s quarantine mark."""

_NOTSENT_LOWAT: int | None = getattr(socket, "TCP_NOTSENT_LOWAT", None)


def _no_report(port: int) -> None:
    pass


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
    """

    host: str
    port: int
    reuse_port: bool = False
    ready: Callable[[int], None] = _no_report
    grace: float = 30.0


class ServerBase:
    """The state one server shares among its connections.

    Args:
        store: where blobs are kept.
        config: the core's settings (compiled once here).
        fetcher: upstream fetching (default: a new :class:`~goproxy_io.upstream.Fetcher`).
    """

    def __init__(
        self,
        store: BlobStore,
        config: ProxyConfig | CompiledConfig,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.store = store
        self.config = compile_config(config) if isinstance(config, ProxyConfig) else config
        self.executor = Executor(store, fetcher)
        self.hot = HotReplies()  # repeated immutable answers, skipping the engine
        # Blobs are regular local files: they may go out with sendfile.
        self.sendfile = isinstance(store, LocalBlobStore) and hasattr(os, "sendfile")
        self._stop_watch = threading.Event()
        threading.Thread(
            target=self._watch_quarantine, name="goproxy-quarantine-watch", daemon=True
        ).start()
        self.init_state()

    def _watch_quarantine(self) -> None:
        """Forget what is kept in memory once ``goproxy verify`` quarantined something.

        The memo and the hot-answer table hold stored files (``.info``, ``.mod``, small zips)
        as they were read; a file quarantined since must not be answered from there. The
        mark (``keys.QUARANTINE_MARK``) is looked at every :data:`QUARANTINE_WATCH` seconds,
        in this thread, never on a request's path.
        """
        seen = ops.stat(self.store, QUARANTINE_MARK)
        while not self._stop_watch.wait(QUARANTINE_WATCH):
            now = ops.stat(self.store, QUARANTINE_MARK)
            if now != seen:
                seen = now
                self.forget()

    def forget(self) -> None:
        """Drop every stored file kept in memory (the memo and the hot answers)."""
        self.hot.clear()
        self.executor.memo.clear()
        log.info("stored files were quarantined: answers kept in memory forgotten")

    def init_state(self) -> None:
        """Set up a subclass's own state (called last by ``__init__``)."""

    def connection(self) -> ProxyConnection:
        """The core's state for one new client connection."""
        return ProxyConnection(self.config, hot=self.hot)

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
        """Release the upstream connections; stop watching for quarantines."""
        self._stop_watch.set()
        self.executor.close()


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

    ``listen.ready(port)`` is called once signals are being caught. On return, connections
    that are still busy are the caller's to cut.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        listen.ready(port)
        async for _ in signals:
            break
        log.info("shutting down: draining in-flight requests")
        await stop_accepting()  # connections in progress go on
        server.drain()
        with anyio.move_on_after(listen.grace):
            await server.wait_idle()
