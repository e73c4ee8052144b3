"""The trio server: a task per connection, each driving one ``ProxyConnection``.

Everything protocol-shaped is decided by the core; this module moves bytes. Store, upstream and
check effects go to ``goproxy_io``'s executor, which runs them in worker threads; a stored file
goes to the socket with ``os.sendfile`` when the store keeps local files.

Theory of operation: below trio's stream layer, where it pays. Each connection's task works its
own non-blocking socket: ``recv`` and ``send`` are tried first, and the task waits in trio
(``trio.lowlevel.wait_readable`` / ``wait_writable``) only when they would block. An immutable
small blob already in :class:`goproxy_io.Memo` answers its ``ReadBlob`` on the spot, as in the
asyncio server. So a cached ``.info`` costs one trip through trio's scheduler, the wait for the
next request: no checkpoint per send, no stream-layer bookkeeping, no cancel scope per request.
A connection that never has to wait (a client sending request after request) takes a
checkpoint every :data:`_STREAK` requests, so it cannot starve the others.

TLS (``goproxy_io.tls``): the connection's own task, never the accept loop, peeks at the first
byte and shakes hands (``trio.SSLStream`` over the socket), both within ``HANDSHAKE_TIMEOUT``;
then the task reads and writes through the stream instead of the socket, and stored files go
through it in ``SEND_CHUNK`` chunks (no sendfile). Its wait scope is armed for the core's exact
deadline: a cancelled receive may leave a TLS stream unusable, so it fires only to end the wait.

Timeouts: one cancel scope per connection, armed lazily as the asyncio server arms its timer.
While the task waits for the client, the scope's deadline is at or before the core's
``deadline()``; a later deadline (the next request on a kept-alive connection) leaves it as it
is, and a scope that fires early is replaced by one armed for the real deadline. Around every
other wait (a worker thread, a relay, a stored file going out) the deadline is lifted, so only a
wait for the client is ever cut by it. Draining cancels the scope of connections waiting
between requests.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import math
import os
import socket
import time
from typing import TYPE_CHECKING, BinaryIO

import trio

from goproxy_core import NEED_DATA, CloseConnection, SendBlob, SendBytes
from goproxy_io import MISS, REQUEST_ID, AsyncRelay, Pending, log_exchanges
from goproxy_io.server import (
    SEND_CHUNK,
    AcceptErrors,
    AsyncServerBase,
    open_socket,
    peer_address,
    run_until_signalled,
    tune_socket,
)
from goproxy_io.tls import HANDSHAKE_TIMEOUT, PLAIN_HTTP, TLS, first_byte_kind, plain_http_answer

if TYPE_CHECKING:
    from goproxy_core import CompiledConfig, Effect, ProxyConfig
    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher
    from goproxy_io.server import Listen, Slot
    from goproxy_io.tls import TLSHolder

__all__ = ["Listener", "Server", "open_listener", "run", "serve"]

log = logging.getLogger("goproxy.trio")

_RECV = 64 * 1024
# Requests a connection may serve in a row without waiting before it takes a checkpoint.
_STREAK = 32
# Connections taken from the listener's queue before the accepting task takes a checkpoint.
_ACCEPT_BATCH = 100
# accept() failures that concern only the connection being taken (trio's own list): skip it.
_ACCEPT_SKIP = frozenset(
    getattr(errno, name)
    for name in (
        "EPERM",
        "ECONNABORTED",
        "EPROTO",
        "ENETDOWN",
        "ENOPROTOOPT",
        "EHOSTDOWN",
        "ENONET",
        "EHOSTUNREACH",
        "EOPNOTSUPP",
        "ENETUNREACH",
    )
    if hasattr(errno, name)
)

_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable


class Listener:
    """A listening socket of the trio server (non-blocking); ``socket`` is the standard one."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.socket = sock

    async def aclose(self) -> None:
        """Close it; an ``accept`` loop waiting on it returns."""
        if self.socket.fileno() != -1:
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()
        await trio.lowlevel.checkpoint()


class Server(AsyncServerBase):
    """Serves one store to many connections; shared state lives here.

    Args: as :class:`~goproxy_io.server.ServerBase`.
    """

    def init_state(self) -> None:
        super().init_state()
        self._clients: set[_Client] = set()

    def close_idle(self) -> None:
        for client in list(self._clients):
            if client.idle_wait:
                client.drained = True
                client.scope.cancel()

    async def handle(self, sock: socket.socket) -> None:
        """Serve one accepted connection until it closes; never raises (errors are logged)."""
        try:
            sock.setblocking(False)
            tune_socket(sock)
            slot = self.limit.admit(functools.partial(_shut, sock))
            if slot is None:
                await _refuse(sock, self.refusal())
                return
        except BaseException:
            _close(sock)
            raise
        stream: trio.SSLStream[trio.SocketStream] | None = None
        if self.tls is not None:
            # Before started(): a drain does not wait for handshakes (they are cancelled).
            try:
                stream = await _tls_accept(sock, self.tls, slot)
            except BaseException:
                slot.release()
                _close(sock)
                raise
            if stream is None:
                slot.release()
                _close(sock)
                return
        self.started()
        client = _Client(self, sock, slot, stream)
        self._clients.add(client)
        try:
            await client.serve()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self._clients.discard(client)
            self.effects.abandon(client.pending)
            slot.release()  # before the socket closes: see ConnectionLimit.admit
            _close(sock)
            self.finished()

    async def accept(self, listener: Listener, handlers: trio.Nursery) -> None:
        """Accept connections until the listener closes (closed here on the way out, too).

        Each connection is handled in ``handlers``. Not ``trio.serve_listeners``: that logs a
        traceback for every failed accept, ten a second while the process is out of
        descriptors. Here failures pause the loop (doubling, up to a second) and are logged
        once per interval with a count. Connections are taken while the listener has them,
        a checkpoint every :data:`_ACCEPT_BATCH`.
        """
        errors = AcceptErrors(log)
        sock = listener.socket
        taken = 0
        try:
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    taken = 0
                    try:
                        await _wait_readable(sock)
                    except (trio.ClosedResourceError, trio.BrokenResourceError):
                        return
                    continue
                except OSError as e:
                    if sock.fileno() == -1:
                        return  # closed under us
                    if e.errno in _ACCEPT_SKIP:
                        continue
                    await trio.sleep(errors.failed(e))
                    continue
                errors.succeeded()
                handlers.start_soon(self.handle, conn)
                taken += 1
                if taken >= _ACCEPT_BATCH:
                    taken = 0
                    await trio.lowlevel.checkpoint()
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()


class _Client:
    """One client connection: moves bytes between its socket and a ``ProxyConnection``."""

    __slots__ = (
        "armed",
        "conn",
        "drained",
        "fd",
        "idle_wait",
        "pending",
        "relay",
        "scope",
        "server",
        "slot",
        "sock",
        "stream",
    )

    def __init__(
        self,
        server: Server,
        sock: socket.socket,
        slot: Slot,
        stream: trio.SSLStream[trio.SocketStream] | None = None,
    ) -> None:
        self.server = server
        self.sock = sock
        self.stream = stream  # the TLS stream over sock, or None: plain HTTP
        self.fd = sock.fileno()
        self.slot = slot
        self.conn = server.connection(peer_address(sock))
        self.pending = Pending()
        self.relay = AsyncRelay(self._relay_start, self._send_all)
        self.scope = trio.CancelScope()  # the current wait scope (see serve)
        self.armed = math.inf  # the deadline it is armed for, on the core's clock
        self.idle_wait = False  # waiting for a request between requests: drain may close it
        self.drained = False  # drain closed it

    async def serve(self) -> None:
        """Run the connection to its end, a fresh scope after each time one fired."""
        conn = self.conn
        while True:
            with trio.CancelScope() as scope:
                self.scope = scope
                self.armed = math.inf
                if await self._run(scope):
                    return
            # The scope fired while the task waited for the client.
            self.idle_wait = False
            if self.drained:
                return
            if time.monotonic() < conn.deadline():
                continue  # armed for an earlier deadline than the one that holds now
            conn.timed_out()

    def _arm(self, deadline: float) -> None:
        """Fire the scope at ``deadline`` (the core's clock, ``time.monotonic``) or before."""
        self.armed = deadline
        # trio's clock runs at an offset from time.monotonic (a random one, by default).
        self.scope.deadline = deadline - time.monotonic() + trio.current_time()

    def _unarm(self) -> None:
        """Lift the deadline before a wait that is not for the client."""
        if self.armed != math.inf:
            self.armed = math.inf
            self.scope.deadline = math.inf

    async def _run(self, scope: trio.CancelScope) -> bool:
        """Carry out the core's effects; True when the connection is done, False when
        ``scope`` fired (its deadline passed, or drain cancelled it)."""
        conn = self.conn
        sock = self.sock
        fd = self.fd
        server = self.server
        executor = server.executor
        slot = self.slot
        if self.stream is not None:
            return await self._run_tls(scope, self.stream)
        streak = 0
        next_effect = conn.next_effect
        wall = time.time
        mono = time.monotonic
        while True:
            effect = next_effect(wall(), mono())
            if effect is NEED_DATA:
                if server.draining:
                    log_exchanges(conn)
                    return True
                if streak >= _STREAK:
                    streak = 0
                    await trio.lowlevel.checkpoint()
                while True:
                    try:
                        data = sock.recv(_RECV)
                        break
                    except BlockingIOError:
                        pass
                    log_exchanges(conn)
                    slot.idle()
                    deadline = conn.deadline()
                    if deadline < self.armed:
                        self._arm(deadline)
                    self.idle_wait = conn.between_requests
                    await _wait_readable(fd)
                    self.idle_wait = False
                    if scope.cancel_called:
                        return False  # fired as the client's bytes came: handled as fired
                    streak = 0
                streak += 1
                conn.receive_data(data)
                continue
            if slot.is_idle:
                slot.busy()
            if self.pending.small and isinstance(effect, (SendBytes, SendBlob)):
                server.effects.answered(self.pending)  # a refused .info/.mod's lease
            if isinstance(effect, SendBytes):
                data = effect.data
                try:
                    sent = sock.send(data)
                except BlockingIOError:
                    sent = 0
                if sent < len(data):
                    log_exchanges(conn)
                    self._unarm()
                    await _send_from(sock, fd, data, sent)
            elif isinstance(effect, SendBlob):
                small = server.small_blob(effect)
                if small is not None:
                    if effect.head:
                        small = effect.head + small
                    try:
                        sent = sock.send(small)
                    except BlockingIOError:
                        sent = 0
                    if sent < len(small):
                        log_exchanges(conn)
                        self._unarm()
                        await _send_from(sock, fd, small, sent)
                    conn.blob_sent()
                    continue
                log_exchanges(conn)
                self._unarm()
                await self._send_stored(effect)
            elif isinstance(effect, CloseConnection):
                log_exchanges(conn)
                return True
            else:
                hit = executor.inline(effect)  # from memory: no await, no thread
                if hit is not MISS:
                    conn.resolve(hit)
                    continue
                await self._perform(effect)

    async def _run_tls(
        self, scope: trio.CancelScope, stream: trio.SSLStream[trio.SocketStream]
    ) -> bool:
        """:meth:`_run` through the TLS stream: every receive and send awaits it."""
        conn = self.conn
        server = self.server
        executor = server.executor
        slot = self.slot
        while True:
            effect = conn.next_effect(time.time(), time.monotonic())
            if effect is NEED_DATA:
                log_exchanges(conn)
                if server.draining:
                    return True
                slot.idle()
                deadline = conn.deadline()
                if deadline != self.armed:
                    self._arm(deadline)  # exactly: a cancelled receive may break the stream
                self.idle_wait = conn.between_requests
                data = await stream.receive_some(_RECV)
                self.idle_wait = False
                if scope.cancel_called:
                    return False
                conn.receive_data(bytes(data))
                continue
            if slot.is_idle:
                slot.busy()
            self._unarm()
            if self.pending.small and isinstance(effect, (SendBytes, SendBlob)):
                server.effects.answered(self.pending)  # a refused .info/.mod's lease
            if isinstance(effect, SendBytes):
                await stream.send_all(effect.data)
            elif isinstance(effect, SendBlob):
                small = server.small_blob(effect)
                if small is not None:
                    await stream.send_all(effect.head + small if effect.head else small)
                    conn.blob_sent()
                    continue
                log_exchanges(conn)
                await self._send_stored(effect)
            elif isinstance(effect, CloseConnection):
                log_exchanges(conn)
                return True
            else:
                hit = executor.inline(effect)  # from memory: no await, no thread
                if hit is not MISS:
                    conn.resolve(hit)
                    continue
                await self._perform(effect)

    async def _relay_start(self, size: int) -> None:
        await self._send_all(self.conn.relay_started(size))

    async def _send_all(self, data: bytes) -> None:
        if self.stream is not None:
            await self.stream.send_all(data)
            return
        await _send_from(self.sock, self.fd, data, 0)

    async def _send_stored(self, effect: SendBlob) -> None:
        """Send a stored blob and tell the connection how it went."""
        done = await self._send_blob(effect)
        if done is None:
            self.conn.blob_missing()  # a hot answer's file is gone: answered again
        elif done:
            self.conn.blob_sent()
        else:
            self.conn.send_failed()

    async def _perform(self, effect: Effect) -> None:
        """Any effect but a send or a close, by the executor (in worker threads), the
        deadline lifted meanwhile."""
        conn = self.conn
        log_exchanges(conn)
        self._unarm()
        REQUEST_ID.set(conn.request_id)  # for lines logged while it is served
        conn.resolve(await self.server.effects.perform(effect, self.pending, self.relay))

    async def _send_blob(self, effect: SendBlob) -> bool | None:
        """Send the blob (its ``head`` first); None: it is gone and nothing was sent."""
        server = self.server
        got: bytes | BinaryIO | None = await trio.to_thread.run_sync(server.open_blob, effect)
        if got is None:
            return None if effect.head else False
        if isinstance(got, bytes):
            await self._send_all(effect.head + got if effect.head else got)
            return True
        if effect.head:
            try:
                await self._send_all(effect.head)
            except BaseException:
                got.close()
                raise
        with got:
            if server.sendfile:
                return await _sendfile(self.sock, got.fileno(), effect.size)
            sent = 0
            while sent < effect.size:
                chunk = await trio.to_thread.run_sync(got.read, min(SEND_CHUNK, effect.size - sent))
                if not chunk:
                    return False
                await self._send_all(chunk)
                sent += len(chunk)
            return True


async def _tls_accept(
    sock: socket.socket, tls: TLSHolder, slot: Slot
) -> trio.SSLStream[trio.SocketStream] | None:
    """The first byte, then the handshake, within ``HANDSHAKE_TIMEOUT`` in all. None: not TLS
    (plain HTTP was answered), too slow, or a failed handshake; the caller closes ``sock``."""
    slot.idle()  # waiting for the client: may be closed for a newer connection
    with trio.move_on_after(HANDSHAKE_TIMEOUT):
        try:
            while True:
                try:
                    first = sock.recv(1, socket.MSG_PEEK)
                    break
                except BlockingIOError:
                    await _wait_readable(sock)
            kind = first_byte_kind(first)
            if kind == PLAIN_HTTP:
                await _answer_plain(sock)
            if kind != TLS:
                return None
            stream = trio.SSLStream(
                trio.SocketStream(trio.socket.from_stdlib_socket(sock)),
                tls.context,
                server_side=True,
                https_compatible=True,
            )
            await stream.do_handshake()
            return stream
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as e:
            log.debug("TLS handshake failed: %s", e)
            return None
    return None


async def _answer_plain(sock: socket.socket) -> None:
    """Plain HTTP on the TLS port: read the request head, answer the 400, close gently."""
    with trio.move_on_after(1.0), contextlib.suppress(OSError):
        with contextlib.suppress(BlockingIOError):
            sock.recv(_RECV)  # read, so the close is not a reset that loses the answer
        await _send_from(sock, sock.fileno(), plain_http_answer(sock.getsockname()), 0)
        sock.shutdown(socket.SHUT_WR)
        while True:
            try:
                if not sock.recv(_RECV):
                    return
            except BlockingIOError:
                await _wait_readable(sock)


async def _send_from(sock: socket.socket, fd: int, data: bytes, start: int) -> None:
    """Send ``data[start:]`` whole: ``send`` until it would block, then wait for room."""
    view = memoryview(data)[start:]
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await _wait_writable(fd)
            continue
        view = view[sent:]


def _shut(sock: socket.socket) -> None:
    """Close an idle connection for room: its pending receive sees the end and it ends."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
    if sock.fileno() != -1:
        trio.lowlevel.notify_closing(sock)
        sock.close()


async def _refuse(sock: socket.socket, answer: bytes) -> None:
    """Over ``max-connections`` with none idle: a 503 (one second at most to send it), close."""
    try:
        with trio.move_on_after(1.0), contextlib.suppress(OSError):
            await _send_from(sock, sock.fileno(), answer, 0)
    finally:
        _close(sock)


async def _sendfile(sock: socket.socket, fd: int, size: int) -> bool:
    """``os.sendfile`` on the non-blocking socket, waiting for writability between tries."""
    out = sock.fileno()
    offset = 0
    while offset < size:
        try:
            n = os.sendfile(out, fd, offset, size - offset)
        except BlockingIOError:
            await _wait_writable(out)
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


async def open_listener(host: str, port: int, *, reuse_port: bool = False) -> Listener:
    """A listening TCP socket; ``reuse_port`` lets several worker processes share the port."""
    sock = await trio.to_thread.run_sync(
        lambda: open_socket(host, port, reuse_port=reuse_port)  # getaddrinfo may block
    )
    return Listener(sock)


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
    tokens_file: str | None = None,
    tls: TLSHolder | None = None,
    task_status: trio.TaskStatus[list[Listener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy on ``host:port`` until cancelled (HTTPS with ``tls``).

    ``task_status.started`` reports the listeners, so ``port=0`` picks a free port:
    ``listeners = await nursery.start(serve, store, 0, config=config)``, then
    ``listeners[0].socket.getsockname()``.
    """
    server = Server(
        store,
        config,
        fetcher,
        max_connections=max_connections,
        raise_limit=raise_limit,
        tokens_file=tokens_file,
        tls=tls,
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
