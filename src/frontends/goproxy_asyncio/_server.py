"""The asyncio server: an ``asyncio.Protocol`` per connection, each driving a ``ProxyConnection``.

Theory of operation: synchronous until something is asynchronous. There is no task per
connection. ``data_received`` feeds the core and runs :meth:`_Protocol._pump`, which loops on
``next_effect`` right there in the callback: response bytes go to ``transport.write``, and an
immutable small blob already in :class:`goproxy_io.Memo` (a cached ``.info`` or ``.mod``)
answers its ``ReadBlob`` on the spot. Only an effect that must wait (a store call in a worker
thread, an upstream fetch, a stored file to send) starts a task, one at a time per connection;
the task carries that effect out through ``goproxy_io`` and then goes back to pumping. Waiting
for the client is a flag and a timer (``loop.call_later``, re-armed lazily), not a coroutine.

Stored files go out with ``loop.sendfile`` (``os.sendfile`` on the socket) when the store hands
back a regular file, else in chunks read by a worker thread. Flow control both ways: reading
pauses while too much unprocessed input is queued, and pumping stops while the transport's
write buffer is above its high-water mark (``pause_writing``) until ``resume_writing``.

TLS (``goproxy_io.tls``): a task per new connection, never the accept callback, takes its
slot, peeks at the first byte and hands the socket to ``loop.connect_accepted_socket`` with
the holder's current context and ``ssl_handshake_timeout``, both within ``HANDSHAKE_TIMEOUT``
in all; the protocol then sees the decrypted stream as above, and stored files go through the
TLS transport in ``SEND_CHUNK`` chunks (no sendfile).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import socket
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

from goproxy_core import (
    NEED_DATA,
    AbortBlob,
    CheckZip,
    CloseConnection,
    CommitBlob,
    FetchDirect,
    FetchUpstream,
    Prefetch,
    ReadBlob,
    Revalidate,
    SaveBlob,
    SendBlob,
    SendBytes,
    StatBlob,
)
from goproxy_io import MISS, REQUEST_ID, AsyncRelay, Pending, log_exchanges
from goproxy_io.access import TrackedConnection
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
    from collections.abc import Callable

    from goproxy_core import CompiledConfig, ProxyConfig
    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher
    from goproxy_io.server import Listen, Slot
    from goproxy_io.tls import TLSHolder

__all__ = ["Server", "open_listener", "run", "serve"]

log = logging.getLogger("goproxy.asyncio")

# Unprocessed client input past this pauses reading; it resumes once the queue is below _INBOX_LOW.
_INBOX_HIGH = 256 * 1024
_INBOX_LOW = 64 * 1024
# A connection closed with unsent output gets this long to flush it before it is cut.
_CLOSE_LINGER = 30.0
# How long a shutdown waits for cancelled connection tasks to clean up.
_ABORT_WAIT = 5.0
# Connections taken from the listener's queue per readiness callback (asyncio's own: 100).
_ACCEPT_BATCH = 100
# The selector loop's own way to make a transport for an accepted socket (see _Acceptor).
_MAKE_TRANSPORT = "_make_socket_transport"
_IO_EFFECTS = (
    StatBlob,
    ReadBlob,
    SaveBlob,
    FetchUpstream,
    FetchDirect,
    CheckZip,
    CommitBlob,
    AbortBlob,
    Revalidate,  # answered inline: the refresh goes to a thread of its own
    Prefetch,  # answered inline: queued for the prefetch threads
)


class Server(AsyncServerBase):
    """Serves one store to many connections; shared state lives here.

    Args: as :class:`~goproxy_io.server.ServerBase`.
    """

    def init_state(self) -> None:
        super().init_state()
        self._connections: set[_Protocol] = set()

    def protocol(self) -> asyncio.Protocol:
        """A protocol for one new connection (the factory for ``loop.create_server``)."""
        return _Protocol(self)

    def close_idle(self) -> None:
        for p in list(self._connections):
            if p.waiting and p.conn.between_requests:
                p.close()  # idle between requests: closing now loses nothing

    async def abort_all(self) -> None:
        """Cut every connection now; wait (a few seconds at most) for their tasks to end."""
        tasks = [p.task for p in self._connections if p.task is not None]
        for p in list(self._connections):
            p.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=_ABORT_WAIT)
        await asyncio.sleep(0)  # the transports close their sockets in a callback

    def _begin(self, proto: _Protocol) -> None:
        self._connections.add(proto)
        self.started()

    def _end(self, proto: _Protocol) -> None:
        self._connections.discard(proto)
        self.finished()


class _Protocol(asyncio.Protocol):
    """One client connection: moves bytes between the transport and a ``ProxyConnection``."""

    def __init__(self, server: Server, slot: Slot | None = None) -> None:
        """``slot``: its place in the connection limit, taken before a TLS handshake (else
        taken in ``connection_made``)."""
        self.server = server
        self.admitted = slot is not None
        self.conn = server.connection()
        self.pending = Pending()
        self.relay = AsyncRelay(self._relay_start, self._relay_send)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.slot: Slot | None = slot
        self.inbox: collections.deque[bytes] = collections.deque()
        self.inbox_size = 0
        self.reading_paused = False
        # The core said NEED_DATA and the inbox was empty: the next bytes go straight in.
        self.waiting = False
        self.write_paused = False  # the transport's buffer is above its high-water mark
        self.write_blocked = False  # _pump stopped for write_paused; resume_writing restarts it
        self.drain_waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.in_sendfile = False
        self.closing = False  # we closed (or cut) the transport
        self.lost = False  # connection_lost was called
        self.finished = False
        self.deadline = 0.0  # when a waiting connection times out (wall clock)
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0  # the deadline self.timer was armed for; it may fire early

    # -- asyncio callbacks (never raise) ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if isinstance(self.conn, TrackedConnection):
            self.conn.client = peer_address(transport.get_extra_info("peername"))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            tune_socket(sock)
        if not self.admitted:
            self.slot = self.server.limit.admit(self.close)
        self.server._begin(self)
        if self.slot is None:  # over max-connections, none idle to close
            transport.write(self.server.refusal())
            self.close()
            return
        self._pump()  # arms the idle timer (or closes at once while draining)

    def data_received(self, data: bytes) -> None:
        if self.waiting:
            self.waiting = False
            try:
                self.conn.receive_data(data)
            except Exception:
                log.exception("connection failed")
                self.abort()
                return
            self._pump()
            return
        self.inbox.append(data)
        self.inbox_size += len(data)
        if self.inbox_size > _INBOX_HIGH and not self.reading_paused and not self.closing:
            self.reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.data_received(b"")  # the core's end of input
        # Keep our side open: the core decides when to close. A TLS transport closes on the
        # peer's end whatever is returned (and warns about a True).
        return self.server.tls is None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.write_blocked:
            # Not from inside this callback: the transport calls it mid-way through a write, and
            # closing it there would make it report connection_lost twice.
            self.loop.call_soon(self._unblocked)

    def _unblocked(self) -> None:
        if self.write_blocked and not self.write_paused and not self.closing:
            self.write_blocked = False
            self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.closing = True
        self.waiting = False
        self.write_blocked = False
        self.inbox.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("connection lost"))
        if self.task is None:
            self._finish()
        elif self.in_sendfile:
            # Nothing else will end it; a store or upstream effect in flight is left to finish
            # (a fetch goes on to store its blob for the next client).
            self.task.cancel()

    # -- driving the core ----------------------------------------------------------------

    def _pump(self) -> None:
        """Carry out the core's effects until one needs waiting for; never raises."""
        conn = self.conn
        transport = self.transport
        assert transport is not None
        server = self.server
        slot = self.slot
        assert slot is not None
        try:
            while True:
                effect = conn.next_effect(time.time(), time.monotonic())
                if effect is NEED_DATA:
                    if self.inbox:
                        data = self.inbox.popleft()
                        self.inbox_size -= len(data)
                        if self.reading_paused and self.inbox_size <= _INBOX_LOW:
                            self.reading_paused = False
                            transport.resume_reading()
                        conn.receive_data(data)
                        continue
                    log_exchanges(conn)
                    if server.draining or self.closing:
                        self.close()
                        return
                    self.waiting = True
                    slot.idle()
                    self._arm(conn.deadline())
                    return
                if slot.is_idle:
                    slot.busy()
                if self.pending.small and isinstance(effect, (SendBytes, SendBlob)):
                    server.effects.answered(self.pending)  # a refused .info/.mod's lease
                if isinstance(effect, SendBytes):
                    transport.write(effect.data)
                    if self.write_paused:
                        log_exchanges(conn)
                        self.write_blocked = True
                        return
                    if transport.is_closing():
                        log_exchanges(conn)
                        return  # the write failed: connection_lost follows
                    continue
                if isinstance(effect, _IO_EFFECTS):
                    hit = server.executor.inline(effect)
                    if hit is not MISS:
                        conn.resolve(hit)
                        continue
                elif isinstance(effect, SendBlob):
                    small = server.small_blob(effect)
                    if small is not None:
                        if effect.head:
                            transport.write(effect.head)
                        transport.write(small)
                        conn.blob_sent()
                        continue
                elif isinstance(effect, CloseConnection):
                    log_exchanges(conn)
                    self.close()
                    return
                log_exchanges(conn)
                self.task = self.loop.create_task(self._perform(effect))
                return
        except Exception:
            log.exception("connection failed")
            self.abort()

    async def _perform(self, effect: object) -> None:
        """One effect that must be waited for; then back to pumping (or to the end)."""
        conn = self.conn
        effects = self.server.effects
        try:
            while True:
                if isinstance(effect, SendBlob):
                    sent = await self._send_blob(effect)
                    if sent is None:
                        conn.blob_missing()  # a hot answer's file is gone: answered again
                    elif sent:
                        conn.blob_sent()
                    else:
                        conn.send_failed()
                else:
                    REQUEST_ID.set(conn.request_id)  # for lines logged while it is served
                    conn.resolve(await effects.perform(effect, self.pending, self.relay))
                if not self.lost:
                    break
                # The client is gone: finish the store's part (a fetched blob is committed for
                # the next client), skip the rest.
                log_exchanges(conn)
                effect = conn.next_effect(time.time(), time.monotonic())
                if not isinstance(effect, _IO_EFFECTS):
                    break
        except asyncio.CancelledError:
            self.task = None
            self.abort()
            if self.lost:
                self._finish()
            raise
        except Exception:
            log.exception("connection failed")
            self.task = None
            self.abort()
            if self.lost:
                self._finish()
            return
        self.task = None
        if self.lost:
            log_exchanges(conn)
            self._finish()
        else:
            self._pump()

    def _arm(self, deadline: float) -> None:
        """Time out at ``deadline`` unless data comes; an earlier timer is kept and re-armed."""
        self.deadline = deadline
        if self.timer is not None:
            if self.timer_at <= deadline:
                return
            self.timer.cancel()
        self.timer_at = deadline
        self.timer = self.loop.call_later(max(0.0, deadline - time.monotonic()), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if not self.waiting:
            return  # data came meanwhile; the next wait arms a new timer
        if time.monotonic() < self.deadline:
            self._arm(self.deadline)
            return
        self.waiting = False
        try:
            self.conn.timed_out()
        except Exception:
            log.exception("connection failed")
            self.abort()
            return
        self._pump()

    # -- writing ---------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Wait until the transport's buffer is below its low-water mark."""
        if self.lost:
            raise ConnectionError("connection lost")
        if self.write_paused:
            waiter = self.drain_waiter
            if waiter is None:
                waiter = self.drain_waiter = self.loop.create_future()
            await waiter

    def _write(self, data: bytes) -> None:
        if self.closing:
            raise ConnectionError("connection closed")
        assert self.transport is not None
        self.transport.write(data)

    async def _relay_start(self, size: int) -> None:
        self._write(self.conn.relay_started(size))
        await self._drain()

    async def _relay_send(self, chunk: bytes) -> None:
        self._write(chunk)
        await self._drain()

    async def _send_blob(self, effect: SendBlob) -> bool | None:
        """Send the blob (its ``head`` first); None: it is gone and nothing was sent."""
        server = self.server
        got = await anyio.to_thread.run_sync(server.open_blob, effect)
        if got is None or self.closing:
            if got is not None and not isinstance(got, bytes):
                got.close()
            return None if got is None and effect.head and not self.closing else False
        if effect.head:
            self._write(effect.head)
        if isinstance(got, bytes):
            self._write(got)
            await self._drain()
            return True
        try:
            if server.sendfile:
                transport = self.transport
                assert transport is not None
                self.in_sendfile = True
                try:
                    # Waits for the buffered response head to go out first, then os.sendfile.
                    sent = await self.loop.sendfile(transport, got, 0, effect.size, fallback=False)
                finally:
                    self.in_sendfile = False
                return sent == effect.size
            sent = 0
            while sent < effect.size:
                n = min(SEND_CHUNK, effect.size - sent)
                chunk = await anyio.to_thread.run_sync(got.read, n)
                if not chunk:
                    return False
                self._write(chunk)
                sent += len(chunk)
                await self._drain()
            return True
        except (OSError, RuntimeError):
            return False  # the client went away (or the transport closed under us)
        finally:
            got.close()

    # -- ending ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close after whatever output is buffered; cut the line if it does not flush."""
        if self.closing:
            return
        self.closing = True
        self.waiting = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        transport = self.transport
        assert transport is not None
        transport.close()
        if transport.get_write_buffer_size():
            self.loop.call_later(_CLOSE_LINGER, self.abort)

    def abort(self) -> None:
        """Cut the connection now (a task in progress is cancelled)."""
        self.closing = True
        self.waiting = False
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()  # its cleanup comes back here
            return
        # Not once the connection is lost: a transport that closed after flushing its buffer
        # would report connection_lost a second time.
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.slot is not None:
            self.slot.release()
        try:
            self.server.effects.abandon(self.pending)
        except Exception:
            log.exception("abandoning pending writes failed")
        self.server._end(self)


async def open_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening, non-blocking TCP socket; ``reuse_port`` lets worker processes share it."""
    sock = await anyio.to_thread.run_sync(
        lambda: open_socket(host, port, reuse_port=reuse_port)  # getaddrinfo may block
    )
    sock.setblocking(False)
    return sock


class _Acceptor:
    """Accepts connections on a listening socket: the loop's own accepting, minus its logging.

    ``loop.create_server`` reports every accept that fails for want of descriptors or memory
    through the loop's exception handler, a traceback each time, retrying ten times a second
    (``_accept_connection`` in asyncio's selector_events.py): a minute out of descriptors wrote
    tens of megabytes of log. Here a failure stops watching the socket for a pause that doubles
    (10 ms to 1 s) and is logged once per interval with a count (:class:`AcceptErrors`).
    """

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.errors = AcceptErrors(log)
        self.retry: asyncio.TimerHandle | None = None
        self.closed = False
        self.tasks: set[asyncio.Task[None]] = set()
        # TLS connections before their protocol is made (first byte, handshake): dropped when
        # accepting stops, as trio's are.
        self.handshakes: set[asyncio.Task[None]] = set()
        # What the selector loop's own accepting calls (``_accept_connection2``): a transport
        # at once, connection_made next. ``connect_accepted_socket``, the public way, costs a
        # task and a future per connection: 14% fewer new connections a second here. It is
        # used where the loop lacks the method.
        self.make_transport: Callable[..., object] | None = getattr(
            self.loop, _MAKE_TRANSPORT, None
        )
        self.loop.add_reader(sock.fileno(), self._ready)

    def _ready(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            if self.closed:
                return
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # gone before it was taken: nothing to do
            except OSError as e:
                self.loop.remove_reader(self.sock.fileno())
                self.retry = self.loop.call_later(self.errors.failed(e), self._resume)
                return
            self.errors.succeeded()
            conn.setblocking(False)
            tls = self.server.tls
            if tls is not None:
                task = self.loop.create_task(self._tls_connect(conn, tls))
                self.handshakes.add(task)
                task.add_done_callback(self.handshakes.discard)
                continue
            if self.make_transport is not None:
                try:
                    self.make_transport(conn, self.server.protocol(), extra={"peername": addr})
                except Exception:
                    log.debug("setting up an accepted connection failed", exc_info=True)
                    conn.close()
                continue
            task = self.loop.create_task(self._connect(conn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _resume(self) -> None:
        self.retry = None
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._ready)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.server.protocol, conn)
        except Exception:
            log.debug("setting up an accepted connection failed", exc_info=True)
            conn.close()

    async def _tls_connect(self, conn: socket.socket, tls: TLSHolder) -> None:
        """One TLS connection: its slot, the first byte, the handshake (``HANDSHAKE_TIMEOUT``
        in all); then the protocol has the connection, slot and all."""
        server = self.server
        slot = server.limit.admit(functools.partial(_shut, conn))
        if slot is None:  # over max-connections, none idle: closed (a TLS client reads no 503)
            conn.close()
            return
        slot.idle()  # waiting for the client: may be closed for a newer connection
        made: list[_Protocol] = []

        def factory() -> asyncio.Protocol:
            proto = _Protocol(server, slot)
            made.append(proto)
            return proto

        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                kind = first_byte_kind(await self._peek(conn))
                if kind == PLAIN_HTTP:
                    await self._answer_plain(conn)
                if kind != TLS:
                    return
                await self.loop.connect_accepted_socket(
                    factory, conn, ssl=tls.context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
                )
        except (OSError, TimeoutError, ValueError) as e:  # ssl.SSLError is an OSError
            log.debug("TLS handshake failed: %s", e)
        finally:
            # Once the protocol has the connection (connection_made), it releases the slot
            # and its transport closes the socket; before that, both are still ours.
            if not (made and made[0].transport is not None):
                slot.release()
                conn.close()

    async def _peek(self, conn: socket.socket) -> bytes:
        """The connection's first byte, left in its queue."""
        while True:
            try:
                return conn.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                ready = self.loop.create_future()
                self.loop.add_reader(conn.fileno(), ready.set_result, None)
                try:
                    await ready
                finally:
                    self.loop.remove_reader(conn.fileno())

    async def _answer_plain(self, conn: socket.socket) -> None:
        """Plain HTTP on the TLS port: read the request head, answer the 400, close gently."""
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                with contextlib.suppress(BlockingIOError):
                    conn.recv(64 * 1024)  # read, so the close is not a reset losing the answer
                await self.loop.sock_sendall(conn, plain_http_answer(conn.getsockname()))
                conn.shutdown(socket.SHUT_WR)
                while await self.loop.sock_recv(conn, 64 * 1024):
                    pass

    def close(self) -> None:
        """Stop accepting and close the listening socket; connections go on."""
        if self.closed:
            return
        self.closed = True
        for task in list(self.handshakes):
            task.cancel()
        if self.retry is not None:
            self.retry.cancel()
        else:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _shut(sock: socket.socket) -> None:
    """Close a TLS connection for room (before or after its handshake): the transport, or the
    wait for the first byte, sees the end of the socket."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


async def _start(server: Server, sock: socket.socket) -> _Acceptor:
    try:
        return _Acceptor(server, sock)
    except BaseException:
        sock.close()
        raise


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
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy on ``host:port`` until cancelled (HTTPS with ``tls``); ``task_status``
    gets the bound port."""
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
        sock = await open_listener(host, port, reuse_port=reuse_port)
        listening = await _start(server, sock)
        try:
            task_status.started(sock.getsockname()[1])
            await anyio.sleep_forever()
        finally:
            listening.close()
            with anyio.CancelScope(shield=True):
                await server.abort_all()
    finally:
        server.close()


async def run(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    listen: Listen,
    *,
    fetcher: Fetcher | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then drain: finish in-flight requests, close, return.

    Run it on asyncio: ``anyio.run(functools.partial(run, store, config, listen))``.
    """
    # Listening first: a port in use is the only line a failed start prints.
    sock = await open_listener(listen.host, listen.port, reuse_port=listen.reuse_port)
    server = Server(store, config, fetcher, **listen.limits())
    try:
        listening = await _start(server, sock)

        async def stop_accepting() -> None:
            listening.close()

        try:
            await run_until_signalled(
                server, sock.getsockname()[1], listen, stop_accepting=stop_accepting
            )
        finally:
            listening.close()
            with anyio.CancelScope(shield=True):
                await server.abort_all()
    finally:
        server.close()
