"""The trio server: a task per connection, each driving one ``ProxyConnection``.

Everything protocol-shaped is decided by the core; this module moves bytes. Store, upstream and
check effects go to ``goproxy_io``'s executor, which runs them in worker threads; a stored file
goes to the socket with ``os.sendfile`` when the store keeps local files.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any, BinaryIO

import trio

from goproxy_core import NEED_DATA, CloseConnection, SendBlob, SendBytes
from goproxy_io import AsyncRelay, Pending, log_exchanges
from goproxy_io.server import (
    SEND_CHUNK,
    TOO_MANY,
    AcceptErrors,
    AsyncServerBase,
    open_socket,
    run_until_signalled,
)

if TYPE_CHECKING:
    from goproxy_core import CompiledConfig, ProxyConfig, ProxyConnection
    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher
    from goproxy_io.server import Listen, Slot

__all__ = ["Server", "open_listener", "run", "serve"]

log = logging.getLogger("goproxy.trio")

_RECV = 64 * 1024


class Server(AsyncServerBase):
    """Serves one store to many connections; shared state lives here.

    Args: as :class:`~goproxy_io.server.ServerBase`.
    """

    def init_state(self) -> None:
        super().init_state()
        self._idle_waits: set[trio.CancelScope] = set()

    def close_idle(self) -> None:
        for scope in self._idle_waits:
            scope.cancel()

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection until it closes; never raises (errors are logged)."""
        slot = self.limit.admit(functools.partial(_shut, stream.socket))
        if slot is None:
            await _refuse(stream)
            return
        self.started()
        pending = Pending()
        try:
            await self._loop(self.connection(), stream, pending, slot)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.effects.abandon(pending)
            slot.release()  # before the socket closes: see ConnectionLimit.admit
            with trio.CancelScope(shield=True):
                await stream.aclose()
            self.finished()

    async def accept(self, listener: trio.SocketListener, handlers: trio.Nursery) -> None:
        """Accept connections until the listener closes (closed here on the way out, too).

        Each connection is handled in ``handlers``. Not ``trio.serve_listeners``: that logs a
        traceback for every failed accept, ten a second while the process is out of
        descriptors. Here failures pause the loop (doubling, up to a second) and are logged
        once per interval with a count.
        """
        errors = AcceptErrors(log)
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    return
                except OSError as e:
                    await trio.sleep(errors.failed(e))
                    continue
                errors.succeeded()
                handlers.start_soon(self.handle, stream)

    async def _loop(
        self, conn: ProxyConnection, stream: trio.SocketStream, pending: Pending, slot: Slot
    ) -> None:
        async def start_relay(size: int) -> None:
            await stream.send_all(conn.relay_started(size))

        relay = AsyncRelay(start_relay, stream.send_all)
        while True:
            effect = conn.next_effect(time.time(), time.monotonic())
            if effect is NEED_DATA:
                if self.draining:
                    return
                slot.idle()
                idle = conn.between_requests
                deadline = conn.deadline()
                with trio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
                    if idle:
                        self._idle_waits.add(scope)
                    try:
                        data = await stream.receive_some(_RECV)
                    finally:
                        self._idle_waits.discard(scope)
                if scope.cancelled_caught:
                    if time.monotonic() < deadline:
                        return  # cancelled early: drain() closing an idle connection
                    conn.timed_out()
                else:
                    conn.receive_data(data)
            elif isinstance(effect, CloseConnection):
                return
            elif isinstance(effect, SendBytes):
                slot.busy()
                await stream.send_all(effect.data)
            elif isinstance(effect, SendBlob):
                slot.busy()
                if await self._send_blob(stream, effect):
                    conn.blob_sent()
                else:
                    conn.send_failed()
            else:
                slot.busy()
                conn.resolve(await self.effects.perform(effect, pending, relay))
            log_exchanges(conn)

    async def _send_blob(self, stream: trio.SocketStream, effect: SendBlob) -> bool:
        got: bytes | BinaryIO | None = self.small_blob(effect)
        if got is None:
            got = await trio.to_thread.run_sync(self.open_blob, effect)
        if got is None:
            return False
        if isinstance(got, bytes):
            await stream.send_all(got)
            return True
        with got:
            if self.sendfile:
                return await _sendfile(stream.socket, got.fileno(), effect.size)
            sent = 0
            while sent < effect.size:
                chunk = await trio.to_thread.run_sync(got.read, min(SEND_CHUNK, effect.size - sent))
                if not chunk:
                    return False
                await stream.send_all(chunk)
                sent += len(chunk)
            return True


def _shut(sock: trio.socket.SocketType) -> None:
    """Close an idle connection for room: its pending receive sees the end and it ends."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


async def _refuse(stream: trio.SocketStream) -> None:
    """Over ``max-connections`` with none idle: a 503 (one second at most to send it), close."""
    with trio.move_on_after(1.0), contextlib.suppress(trio.BrokenResourceError, OSError):
        await stream.send_all(TOO_MANY)
    with trio.CancelScope(shield=True):
        await stream.aclose()


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
    sock = await trio.to_thread.run_sync(
        lambda: open_socket(host, port, reuse_port=reuse_port)  # getaddrinfo may block
    )
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))


async def serve(
    store: BlobStore,
    port: int = 0,
    *,
    config: ProxyConfig | CompiledConfig,
    host: str = "127.0.0.1",
    fetcher: Fetcher | None = None,
    reuse_port: bool = False,
    max_connections: int | None = None,
    raise_limit: bool = True,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy on ``host:port`` until cancelled.

    ``task_status.started`` reports the listeners, so ``port=0`` picks a free port:
    ``listeners = await nursery.start(serve, store, 0, config=config)``.
    """
    server = Server(
        store, config, fetcher, max_connections=max_connections, raise_limit=raise_limit
    )
    try:
        listener = await open_listener(host, port, reuse_port=reuse_port)
        async with trio.open_nursery() as nursery:
            task_status.started([listener])
            await server.accept(listener, nursery)
    finally:
        server.close()


async def run(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    listen: Listen,
    *,
    fetcher: Fetcher | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then drain: finish in-flight requests, close, return."""
    # Listening first: a port in use is the only line a failed start prints.
    listener = await open_listener(listen.host, listen.port, reuse_port=listen.reuse_port)
    server = Server(store, config, fetcher, **listen.limits())
    try:
        accepting = trio.CancelScope()

        async def accept(handlers: trio.Nursery) -> None:
            with accepting:
                await server.accept(listener, handlers)

        async def stop_accepting() -> None:
            accepting.cancel()
            await listener.aclose()

        async with trio.open_nursery() as handlers:
            handlers.start_soon(accept, handlers)
            bound = listener.socket.getsockname()[1]
            await run_until_signalled(server, bound, listen, stop_accepting=stop_accepting)
            handlers.cancel_scope.cancel()
    finally:
        server.close()
