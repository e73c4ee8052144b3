"""The trio server: a task per connection, each driving one ``ProxyConnection``.

Everything protocol-shaped is decided by the core; this module moves bytes. Store and upstream
effects go through ``goproxy_io`` (store calls in worker threads, httpx for upstreams,
single-flight for concurrent misses); a stored file goes to the socket with ``os.sendfile``
when the store can name a local file.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket as stdsocket
import time
from typing import TYPE_CHECKING, Any

import trio

from goproxy_core import (
    NEED_DATA,
    CloseConnection,
    CompiledConfig,
    HotReplies,
    ProxyConfig,
    ProxyConnection,
    SendBlob,
    SendBytes,
    compile_config,
)
from goproxy_io import (
    SMALL_BLOB,
    AsyncEffects,
    AsyncFetcher,
    AsyncRelay,
    Pending,
    log_exchanges,
    read_blob_whole,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from goproxy_core.storage import BlobStore

__all__ = ["Server", "open_listener", "run", "serve"]

log = logging.getLogger("goproxy.trio")

_RECV = 64 * 1024
_SEND_CHUNK = 256 * 1024


class Server:
    """Serves one store to many connections; shared state lives here.

    Args:
        store: where blobs are kept.
        config: the core's settings.
        fetcher: upstream fetching (default: a new :class:`AsyncFetcher`).
    """

    def __init__(
        self,
        store: BlobStore,
        config: ProxyConfig | CompiledConfig,
        fetcher: AsyncFetcher | None = None,
    ) -> None:
        self.store = store
        self.config = compile_config(config) if isinstance(config, ProxyConfig) else config
        self.fetcher = fetcher or AsyncFetcher()
        self.effects = AsyncEffects(store, self.fetcher)
        self.hot = HotReplies()  # repeated .info/.mod answers, skipping the engine
        self._draining = False
        self.active = 0
        self._idle_changed = trio.Event()
        self._idle_waits: set[trio.CancelScope] = set()

    def drain(self) -> None:
        """Stop keeping connections alive: each closes after its current response."""
        self._draining = True
        for scope in self._idle_waits:
            scope.cancel()
        self._idle_changed.set()

    async def wait_idle(self) -> None:
        """Return once no connection is being served."""
        while self.active:
            self._idle_changed = trio.Event()
            await self._idle_changed.wait()

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection until it closes; never raises (errors are logged)."""
        self.active += 1
        pending = Pending()
        try:
            await self._loop(ProxyConnection(self.config, hot=self.hot), stream, pending)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.effects.abandon(pending)
            with trio.CancelScope(shield=True):
                await stream.aclose()
            self.active -= 1
            self._idle_changed.set()

    async def _loop(
        self, conn: ProxyConnection, stream: trio.SocketStream, pending: Pending
    ) -> None:
        async def start_relay(size: int) -> None:
            await stream.send_all(conn.relay_started(size))

        relay = AsyncRelay(start_relay, stream.send_all)
        while True:
            effect = conn.next_effect(time.time())
            if effect is NEED_DATA:
                if self._draining:
                    return
                idle = conn.between_requests
                deadline = conn.deadline()
                with trio.move_on_after(max(0.0, deadline - time.time())) as scope:
                    if idle:
                        self._idle_waits.add(scope)
                    try:
                        data = await stream.receive_some(_RECV)
                    finally:
                        self._idle_waits.discard(scope)
                if scope.cancelled_caught:
                    if time.time() < deadline:
                        return  # cancelled early: drain() closing an idle connection
                    conn.timed_out()
                else:
                    conn.receive_data(data)
            elif isinstance(effect, CloseConnection):
                return
            elif isinstance(effect, SendBytes):
                await stream.send_all(effect.data)
            elif isinstance(effect, SendBlob):
                if await self._send_blob(stream, effect):
                    conn.blob_sent()
                else:
                    conn.send_failed()
            else:
                conn.resolve(await self.effects.perform(effect, pending, relay))
            log_exchanges(conn)

    async def _send_blob(self, stream: trio.SocketStream, effect: SendBlob) -> bool:
        if effect.size <= SMALL_BLOB:
            data = self.effects.memo.blob(effect.key, effect.size)
            if data is None:
                data = await trio.to_thread.run_sync(
                    read_blob_whole, self.store, effect.key, effect.size, self.effects.memo
                )
            if data is None:
                return False
            await stream.send_all(data)
            return True
        f = await trio.to_thread.run_sync(self.store.open, effect.key)
        if f is None:
            return False
        try:
            if hasattr(self.store, "path") and hasattr(os, "sendfile"):
                return await _sendfile(stream.socket, f.fileno(), effect.size)
            sent = 0
            while sent < effect.size:
                n = min(_SEND_CHUNK, effect.size - sent)
                chunk = await trio.to_thread.run_sync(f.read, n)
                if not chunk:
                    return False
                await stream.send_all(chunk)
                sent += len(chunk)
            return True
        finally:
            f.close()


async def _sendfile(sock: Any, fd: int, size: int) -> bool:
    """``os.sendfile`` on a non-blocking trio socket, waiting for writability between tries."""
    out = sock.fileno()
    offset = 0
    while offset < size:
        try:
            n = os.sendfile(out, fd, offset, size - offset)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET):
                return False
            raise
        if n == 0:
            return False  # the file is shorter than its size said
        offset += n
    await trio.lowlevel.checkpoint()
    return True


async def open_listener(host: str, port: int, *, reuse_port: bool = False) -> trio.SocketListener:
    """A listening TCP socket; ``reuse_port`` lets several worker processes share the port."""
    infos = await trio.socket.getaddrinfo(host, port, type=stdsocket.SOCK_STREAM)
    family, type_, proto, _, addr = infos[0]
    sock = trio.socket.socket(family, type_, proto)
    try:
        sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_REUSEPORT, 1)
        await sock.bind(addr)
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def serve(
    store: BlobStore,
    port: int = 0,
    *,
    config: ProxyConfig | CompiledConfig,
    host: str = "127.0.0.1",
    fetcher: AsyncFetcher | None = None,
    reuse_port: bool = False,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy on ``host:port`` until cancelled.

    ``task_status.started`` reports the listeners, so ``port=0`` picks a free port:
    ``listeners = await nursery.start(serve, store, 0, config=config)``.
    """
    server = Server(store, config, fetcher)
    listener = await open_listener(host, port, reuse_port=reuse_port)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started([listener])
            await trio.serve_listeners(server.handle, [listener], handler_nursery=nursery)
    finally:
        with trio.CancelScope(shield=True):
            await server.fetcher.aclose()


async def run(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    fetcher: AsyncFetcher | None = None,
    ready: Callable[[int], None] = lambda port: None,
    grace: float = 30.0,
) -> None:
    """Serve until SIGINT or SIGTERM, then drain: finish in-flight requests, close, return.

    Args:
        store: where blobs are kept.
        config: the core's settings.
        host: the address to listen on.
        port: the port (0: any free one).
        reuse_port: share the port with other worker processes (SO_REUSEPORT).
        fetcher: upstream fetching (default: a new one).
        ready: called with the bound port once the server accepts connections.
        grace: seconds in-flight requests get to finish after the signal.
    """
    server = Server(store, config, fetcher)
    listener = await open_listener(host, port, reuse_port=reuse_port)
    accepting = trio.CancelScope()

    async def accept(handlers: trio.Nursery) -> None:
        with accepting:
            await trio.serve_listeners(server.handle, [listener], handler_nursery=handlers)

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as handlers:
            handlers.start_soon(accept, handlers)
            ready(listener.socket.getsockname()[1])
            async for _ in signals:
                break
            log.info("shutting down: draining in-flight requests")
            accepting.cancel()  # stop accepting; connections in progress go on
            await listener.aclose()
            server.drain()
            with trio.move_on_after(grace):
                await server.wait_idle()
            handlers.cancel_scope.cancel()
    await server.fetcher.aclose()
