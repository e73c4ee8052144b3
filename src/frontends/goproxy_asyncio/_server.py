"""The asyncio server, through anyio: a task per connection, each driving a ``ProxyConnection``.

The same shape as the trio server, on an asyncio event loop (anyio's ``create_tcp_listener``
and task groups). Store and upstream effects go through ``goproxy_io``. Stored files are
streamed in chunks read by a worker thread (anyio's streams own their transport, so there is
no ``sendfile`` here).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

from goproxy_core import (
    NEED_DATA,
    CloseConnection,
    CompiledConfig,
    ProxyConfig,
    ProxyConnection,
    SendBlob,
    SendBytes,
    compile_config,
)
from goproxy_io import AsyncEffects, AsyncFetcher, AsyncRelay, Pending, log_exchanges

if TYPE_CHECKING:
    from collections.abc import Callable

    from goproxy_core.storage import BlobStore

__all__ = ["Server", "open_listener", "run", "serve"]

log = logging.getLogger("goproxy.asyncio")

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
        self._draining = False
        self.active = 0
        self._idle_changed = anyio.Event()
        self._idle_waits: set[anyio.CancelScope] = set()

    def drain(self) -> None:
        """Stop keeping connections alive: each closes after its current response."""
        self._draining = True
        for scope in self._idle_waits:
            scope.cancel()
        self._idle_changed.set()

    async def wait_idle(self) -> None:
        """Return once no connection is being served."""
        while self.active:
            self._idle_changed = anyio.Event()
            await self._idle_changed.wait()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        """Serve one connection until it closes; never raises (errors are logged)."""
        self.active += 1
        pending = Pending()
        try:
            await self._loop(ProxyConnection(self.config), stream, pending)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.effects.abandon(pending)
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            self.active -= 1
            self._idle_changed.set()

    async def _loop(
        self, conn: ProxyConnection, stream: anyio.abc.SocketStream, pending: Pending
    ) -> None:
        async def start_relay(size: int) -> None:
            await stream.send(conn.relay_started(size))

        relay = AsyncRelay(start_relay, stream.send)
        while True:
            effect = conn.next_effect(time.time())
            if effect is NEED_DATA:
                if self._draining:
                    return
                idle = conn.between_requests
                deadline = conn.deadline()
                with anyio.move_on_after(max(0.0, deadline - time.time())) as scope:
                    if idle:
                        self._idle_waits.add(scope)
                    try:
                        data = await _receive(stream)
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
                await stream.send(effect.data)
            elif isinstance(effect, SendBlob):
                if await self._send_blob(stream, effect):
                    conn.blob_sent()
                else:
                    conn.send_failed()
            else:
                conn.resolve(await self.effects.perform(effect, pending, relay))
            log_exchanges(conn)

    async def _send_blob(self, stream: anyio.abc.SocketStream, effect: SendBlob) -> bool:
        f = await anyio.to_thread.run_sync(self.store.open, effect.key)
        if f is None:
            return False
        try:
            sent = 0
            while sent < effect.size:
                n = min(_SEND_CHUNK, effect.size - sent)
                chunk = await anyio.to_thread.run_sync(f.read, n)
                if not chunk:
                    return False
                await stream.send(chunk)
                sent += len(chunk)
            return True
        finally:
            f.close()


async def _receive(stream: anyio.abc.SocketStream) -> bytes:
    try:
        return await stream.receive(_RECV)
    except anyio.EndOfStream:
        return b""


async def open_listener(
    host: str, port: int, *, reuse_port: bool = False
) -> anyio.abc.Listener[anyio.abc.SocketStream]:
    """A listening TCP socket; ``reuse_port`` lets several worker processes share the port."""
    return await anyio.create_tcp_listener(
        local_host=host, local_port=port, reuse_port=reuse_port, backlog=1024
    )


async def serve(
    store: BlobStore,
    port: int = 0,
    *,
    config: ProxyConfig | CompiledConfig,
    host: str = "127.0.0.1",
    fetcher: AsyncFetcher | None = None,
    reuse_port: bool = False,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy on ``host:port`` until cancelled; ``task_status`` gets the bound port."""
    server = Server(store, config, fetcher)
    listener = await open_listener(host, port, reuse_port=reuse_port)
    try:
        async with listener, anyio.create_task_group() as tg:
            task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
            await listener.serve(server.handle, tg)
    finally:
        with anyio.CancelScope(shield=True):
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

    Run it on asyncio: ``anyio.run(functools.partial(run, store, config, host=..., port=...))``.
    """
    server = Server(store, config, fetcher)
    listener = await open_listener(host, port, reuse_port=reuse_port)
    accepting = anyio.CancelScope()

    async def accept(handlers: anyio.abc.TaskGroup) -> None:
        with accepting:
            try:
                await listener.serve(server.handle, handlers)
            except* anyio.ClosedResourceError:
                pass  # closed for shutdown while an accept was waiting

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as handlers:
            handlers.start_soon(accept, handlers)
            ready(listener.extra(anyio.abc.SocketAttribute.local_port))
            async for _ in signals:
                break
            log.info("shutting down: draining in-flight requests")
            accepting.cancel()  # stop accepting; connections in progress go on
            await listener.aclose()
            server.drain()
            with anyio.move_on_after(grace):
                await server.wait_idle()
            handlers.cancel_scope.cancel()
    await server.fetcher.aclose()
