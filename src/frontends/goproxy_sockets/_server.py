"""The plain-socket server: blocking sockets and a thread per connection, no async library.

The simplest frontend to read and debug: each connection's thread loops on the core's effects
and carries them out with ordinary blocking calls (``goproxy_io``'s executor). Stored files
go out with ``socket.sendfile``; concurrent misses for one upstream file share one fetch.

With TLS (``goproxy_io.tls``) the connection's own thread, never the accept loop, peeks at
the first byte and shakes hands (``wrap_socket``), both within ``HANDSHAKE_TIMEOUT`` in all;
stored files then go through the TLS socket in ``SEND_CHUNK`` chunks.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import select
import selectors
import signal
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING

from goproxy_core import NEED_DATA, CloseConnection, SendBlob, SendBytes
from goproxy_io import REQUEST_ID, Pending, Relay, log_exchanges
from goproxy_io.server import (
    SEND_CHUNK,
    AcceptErrors,
    ServerBase,
    open_socket,
    peer_address,
    tune_socket,
)
from goproxy_io.tls import HANDSHAKE_TIMEOUT, PLAIN_HTTP, TLS, first_byte_kind, plain_http_answer

if TYPE_CHECKING:
    from goproxy_core import CompiledConfig, ProxyConfig, ProxyConnection
    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher
    from goproxy_io.server import Listen, Slot
    from goproxy_io.tls import TLSHolder

__all__ = ["Server", "open_listener", "run"]

log = logging.getLogger("goproxy.sockets")

_RECV = 64 * 1024
_TIMED_OUT = b"timed out"  # a sentinel: compared by identity


class Server(ServerBase):
    """Serves one store to many connections, a thread each.

    Args: as :class:`~goproxy_io.server.ServerBase`.
    """

    def init_state(self) -> None:
        self._lock = threading.Lock()
        self._draining = threading.Event()
        self._threads: set[threading.Thread] = set()

    # -- accepting ----------------------------------------------------------------------

    def serve_forever(self, listener: socket.socket, stop: threading.Event) -> None:
        """Accept connections until ``stop`` is set; each gets a thread.

        A failed accept (out of descriptors or memory: it fails again at once) pauses the
        loop, 10 ms doubling to a second, and is logged once per interval with a count.
        """
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        errors = AcceptErrors(log)
        try:
            while not stop.is_set():
                if not sel.select(timeout=0.2):
                    continue
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as e:
                    stop.wait(errors.failed(e))
                    continue
                errors.succeeded()
                box = [sock]  # the TLS socket replaces it once wrapped: eviction shuts that
                slot = self.limit.admit(functools.partial(_shut, box))
                if slot is None:
                    _refuse(sock, self.refusal())
                    continue
                tune_socket(sock)
                t = threading.Thread(target=self.handle, args=(sock, slot, box), daemon=True)
                with self._lock:
                    self._threads.add(t)
                try:
                    t.start()
                except RuntimeError:  # no thread to be had: as if over max-connections
                    with self._lock:
                        self._threads.discard(t)
                    slot.release()
                    _refuse(sock, self.refusal())
        finally:
            sel.close()

    def drain(self, grace: float) -> None:
        """Let in-flight requests finish (at most ``grace`` seconds); idle connections close."""
        self._draining.set()
        deadline = time.monotonic() + grace
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # -- one connection -------------------------------------------------------------------

    def handle(
        self, sock: socket.socket, slot: Slot, box: list[socket.socket] | None = None
    ) -> None:
        """Serve one connection until it closes; never raises (errors are logged).

        ``box``: where the TLS socket is put once wrapped (what eviction shuts).
        """
        pending = Pending()
        try:
            if self.tls is not None:
                box = box if box is not None else [sock]
                wrapped = _tls_accept(sock, self.tls, slot, box, self._draining)
                if wrapped is None:
                    return
                sock = wrapped
            self._loop(self.connection(peer_address(sock)), sock, pending, slot)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.executor.abandon(pending)
            slot.release()  # before the socket closes: see ConnectionLimit.admit
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _loop(
        self, conn: ProxyConnection, sock: socket.socket, pending: Pending, slot: Slot
    ) -> None:
        send_timeout = self.config.config.idle_timeout

        def start_relay(size: int) -> None:
            sock.settimeout(send_timeout)
            sock.sendall(conn.relay_started(size))

        relay = Relay(start_relay, sock.sendall)
        while True:
            effect = conn.next_effect(time.time(), time.monotonic())
            if pending.small and isinstance(effect, (SendBytes, SendBlob)):
                self.executor.answered(pending)  # a refused .info/.mod's lease
            if effect is NEED_DATA:
                slot.idle()
                data = self._receive(conn, sock)
                if data is None:
                    return
                if data is not _TIMED_OUT:
                    conn.receive_data(data)
            elif isinstance(effect, CloseConnection):
                return
            elif isinstance(effect, SendBytes):
                slot.busy()
                sock.settimeout(send_timeout)
                sock.sendall(effect.data)
            elif isinstance(effect, SendBlob):
                slot.busy()
                done = self._send_blob(sock, effect)
                if done is None:
                    conn.blob_missing()  # a hot answer's file is gone: answered again
                elif done:
                    conn.blob_sent()
                else:
                    conn.send_failed()
            else:
                slot.busy()
                REQUEST_ID.set(conn.request_id)  # for lines logged while it is served
                conn.resolve(self.executor.perform(effect, pending, relay))
            log_exchanges(conn)

    def _receive(self, conn: ProxyConnection, sock: socket.socket) -> bytes | None:
        """Bytes from the client; ``_TIMED_OUT`` past the deadline; None to close (draining)."""
        # Wake every so often to notice a drain; otherwise wait out the core's deadline.
        while True:
            if self._draining.is_set() and conn.between_requests:
                return None
            left = conn.deadline() - time.monotonic()
            if left <= 0:
                conn.timed_out()
                return _TIMED_OUT
            sock.settimeout(min(left, 0.5))
            try:
                return sock.recv(_RECV)
            except TimeoutError:
                continue

    def _send_blob(self, sock: socket.socket, effect: SendBlob) -> bool | None:
        """Send the blob (its ``head`` first); None: it is gone and nothing was sent."""
        got = self.small_blob(effect) or self.open_blob(effect)
        if got is None:
            return None if effect.head else False
        sock.settimeout(self.config.config.idle_timeout)
        try:
            if isinstance(got, bytes):
                sock.sendall(effect.head + got if effect.head else got)
                return True
            with got:
                if effect.head:
                    sock.sendall(effect.head)
                if self.sendfile:
                    return sock.sendfile(got, 0, effect.size) == effect.size
                sent = 0
                while sent < effect.size:
                    chunk = got.read(min(SEND_CHUNK, effect.size - sent))
                    if not chunk:
                        return False
                    sock.sendall(chunk)
                    sent += len(chunk)
                return True
        except (ConnectionError, TimeoutError):
            return False


def _shut(box: list[socket.socket]) -> None:
    """Close an idle connection for room: its thread's ``recv`` sees the end and it ends.

    The plain socket's own ``shutdown``: a TLS socket's would drop its TLS state under the
    thread that reads it.
    """
    with contextlib.suppress(OSError):
        socket.socket.shutdown(box[0], socket.SHUT_RDWR)


def _tls_accept(
    sock: socket.socket,
    tls: TLSHolder,
    slot: Slot,
    box: list[socket.socket],
    draining: threading.Event,
) -> ssl.SSLSocket | None:
    """On the connection's thread: the first byte, then the handshake, within
    ``HANDSHAKE_TIMEOUT`` in all (given up at once on a drain). None: not TLS (plain HTTP was
    answered), too slow, or a failed handshake; the caller closes the socket."""
    slot.idle()  # waiting for the client: may be closed for a newer connection
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT

    def ready(s: socket.socket, *, write: bool = False) -> bool:
        """Wait until ``s`` is readable (writable); False: the deadline passed, or a drain."""
        while not draining.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            waiting = ([], [s]) if write else ([s], [])
            if any(select.select(*waiting, [], min(left, 0.5))[:2]):
                return True
        return False

    try:
        sock.setblocking(False)
        if not ready(sock):
            return None
        kind = first_byte_kind(sock.recv(1, socket.MSG_PEEK))
        if kind == PLAIN_HTTP:
            _answer_plain(sock)
        if kind != TLS:
            return None
        wrapped = tls.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        box[0] = wrapped  # the plain socket is detached now: eviction shuts this one
    except (OSError, ValueError):
        return None
    try:
        while True:
            try:
                wrapped.do_handshake()
            except ssl.SSLWantReadError:
                if not ready(wrapped):
                    break
            except ssl.SSLWantWriteError:
                if not ready(wrapped, write=True):
                    break
            else:
                wrapped.setblocking(True)
                return wrapped
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        log.debug("TLS handshake failed: %s", e)
    _drop(wrapped)
    return None


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _answer_plain(sock: socket.socket) -> None:
    """Plain HTTP on the TLS port: read the request head, answer the 400, close gently."""
    with contextlib.suppress(OSError):
        sock.settimeout(1.0)
        sock.recv(64 * 1024)  # read, so the close is not a reset that loses the answer
        sock.sendall(plain_http_answer(sock.getsockname()))
        sock.shutdown(socket.SHUT_WR)
        sock.recv(64 * 1024)


def _refuse(sock: socket.socket, answer: bytes) -> None:
    """Over ``max-connections`` with none idle: a 503 if it goes out at once, then close."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(answer)  # a fresh socket's send buffer takes it whole
    sock.close()


def open_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; ``reuse_port`` lets several worker processes share the port."""
    return open_socket(host, port, reuse_port=reuse_port)


def run(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    listen: Listen,
    *,
    fetcher: Fetcher | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish in-flight requests and return."""
    # Listening first: a port in use is the only line a failed start prints.
    listener = open_listener(listen.host, listen.port, reuse_port=listen.reuse_port)
    server = Server(store, config, fetcher, **listen.limits())
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    tls = listen.tls
    if tls is not None:  # SIGHUP: new connections get the files as they are now
        previous[signal.SIGHUP] = signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(target=tls.reload, name="goproxy-tls-reload").start(),
        )
    try:
        listen.ready(listener.getsockname()[1])
        server.serve_forever(listener, stop)
        log.info("shutting down: draining in-flight requests")
        listener.close()
        server.drain(listen.grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()
        server.close()
