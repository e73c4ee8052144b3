"""The plain-socket server: blocking sockets and a thread per connection, no async library.

The simplest frontend to read and debug: each connection's thread loops on the core's effects
and carries them out with ordinary blocking calls. Stored files go out with
``socket.sendfile``; concurrent misses for one upstream file share one fetch.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

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
    Fetcher,
    Pending,
    Relay,
    SyncEffects,
    log_exchanges,
    read_blob_whole,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from goproxy_core.storage import BlobStore

__all__ = ["Server", "open_listener", "run"]

log = logging.getLogger("goproxy.sockets")

_RECV = 64 * 1024
_CHUNK = 256 * 1024
_TIMED_OUT = b"timed out"  # a sentinel: compared by identity

_NOTSENT_LOWAT: int | None = getattr(socket, "TCP_NOTSENT_LOWAT", None)


class Server:
    """Serves one store to many connections, a thread each.

    Args:
        store: where blobs are kept.
        config: the core's settings.
        fetcher: upstream fetching (default: a new :class:`Fetcher`).
    """

    def __init__(
        self,
        store: BlobStore,
        config: ProxyConfig | CompiledConfig,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.store = store
        self.config = compile_config(config) if isinstance(config, ProxyConfig) else config
        self.fetcher = fetcher or Fetcher()
        self.effects = SyncEffects(store, self.fetcher)
        self.hot = HotReplies()  # repeated .info/.mod answers, skipping the engine
        self._lock = threading.Lock()
        self._draining = threading.Event()
        self._threads: set[threading.Thread] = set()

    # -- accepting ----------------------------------------------------------------------

    def serve_forever(self, listener: socket.socket, stop: threading.Event) -> None:
        """Accept connections until ``stop`` is set; each gets a thread."""
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                if not sel.select(timeout=0.2):
                    continue
                try:
                    sock, _ = listener.accept()
                except OSError:
                    continue
                if _NOTSENT_LOWAT is not None:
                    # Little queued unsent at a time (as trio does): sendfile then streams in
                    # step with the reader, which on loopback is much faster for large zips.
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.IPPROTO_TCP, _NOTSENT_LOWAT, 16 * 1024)
                t = threading.Thread(target=self.handle, args=(sock,), daemon=True)
                with self._lock:
                    self._threads.add(t)
                t.start()
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

    def handle(self, sock: socket.socket) -> None:
        """Serve one connection until it closes; never raises (errors are logged)."""
        pending = Pending()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._loop(ProxyConnection(self.config, hot=self.hot), sock, pending)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.effects.abandon(pending)
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _loop(self, conn: ProxyConnection, sock: socket.socket, pending: Pending) -> None:
        relay = Relay(lambda size: sock.sendall(conn.relay_started(size)), sock.sendall)
        send_timeout = self.config.config.idle_timeout
        while True:
            effect = conn.next_effect(time.time())
            if effect is NEED_DATA:
                data = self._receive(conn, sock)
                if data is None:
                    return
                if data is not _TIMED_OUT:
                    conn.receive_data(data)
            elif isinstance(effect, CloseConnection):
                return
            elif isinstance(effect, SendBytes):
                sock.settimeout(send_timeout)
                sock.sendall(effect.data)
            elif isinstance(effect, SendBlob):
                if self._send_blob(sock, effect):
                    conn.blob_sent()
                else:
                    conn.send_failed()
            else:
                conn.resolve(self.effects.perform(effect, pending, relay))
            log_exchanges(conn)

    def _receive(self, conn: ProxyConnection, sock: socket.socket) -> bytes | None:
        """Bytes from the client; ``_TIMED_OUT`` past the deadline; None to close (draining)."""
        # Wake every so often to notice a drain; otherwise wait out the core's deadline.
        while True:
            if self._draining.is_set() and conn.between_requests:
                return None
            left = conn.deadline() - time.time()
            if left <= 0:
                conn.timed_out()
                return _TIMED_OUT
            sock.settimeout(min(left, 0.5))
            try:
                return sock.recv(_RECV)
            except TimeoutError:
                continue

    def _send_blob(self, sock: socket.socket, effect: SendBlob) -> bool:
        if effect.size <= SMALL_BLOB:
            data = self.effects.memo.blob(effect.key, effect.size)
            if data is None:
                data = read_blob_whole(self.store, effect.key, effect.size, self.effects.memo)
            if data is None:
                return False
            sock.settimeout(self.config.config.idle_timeout)
            try:
                sock.sendall(data)
            except (ConnectionError, TimeoutError):
                return False
            return True
        f = self.store.open(effect.key)
        if f is None:
            return False
        with f:
            sock.settimeout(self.config.config.idle_timeout)
            try:
                if hasattr(self.store, "path"):
                    return sock.sendfile(f, 0, effect.size) == effect.size
                sent = 0
                while sent < effect.size:
                    chunk = f.read(min(_CHUNK, effect.size - sent))
                    if not chunk:
                        return False
                    sock.sendall(chunk)
                    sent += len(chunk)
            except (ConnectionError, TimeoutError):
                return False
        return True


def open_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; ``reuse_port`` lets several worker processes share the port."""
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


def run(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    fetcher: Fetcher | None = None,
    ready: Callable[[int], None] = lambda port: None,
    grace: float = 30.0,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish in-flight requests and return."""
    server = Server(store, config, fetcher)
    listener = open_listener(host, port, reuse_port=reuse_port)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        ready(listener.getsockname()[1])
        server.serve_forever(listener, stop)
        log.info("shutting down: draining in-flight requests")
        listener.close()
        server.drain(grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()
        server.fetcher.close()
