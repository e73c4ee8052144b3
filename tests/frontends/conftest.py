"""Run each server on 127.0.0.1:0 in a background thread, for blocking test clients."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Iterator

import anyio.from_thread
import pytest

FRONTENDS = ["trio", "asyncio", "sockets"]


@contextlib.contextmanager
def running(
    frontend: str, store, config, fetch=None, max_connections=None, tls=None, tokens_file=None
) -> Iterator[int]:
    """Serve ``store`` with ``frontend``; yields the port; stops the server afterwards.

    ``fetch`` is a ``goproxy_io.FetchSettings`` for the server's upstream client;
    ``max_connections`` the server's connection limit (None: from the open-file limit);
    ``tls`` a ``goproxy_io.tls.TLSHolder``: HTTPS; ``tokens_file`` the clients' tokens file
    (``goproxy_io.tokens``).
    """
    from goproxy_io import Fetcher

    if frontend == "sockets":
        import goproxy_sockets

        server = goproxy_sockets.Server(
            store,
            config,
            Fetcher(fetch),
            max_connections=max_connections,
            tls=tls,
            tokens_file=tokens_file,
        )
        listener = goproxy_sockets.open_listener("127.0.0.1", 0)
        stop = threading.Event()
        t = threading.Thread(target=server.serve_forever, args=(listener, stop), daemon=True)
        t.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            t.join(5)
            listener.close()
            server.drain(5)
            server.close()
        return
    if frontend == "trio":
        import goproxy_trio

        with anyio.from_thread.start_blocking_portal("trio") as portal:
            fut, listeners = portal.start_task(
                functools.partial(
                    goproxy_trio.serve,
                    store,
                    0,
                    config=config,
                    fetcher=Fetcher(fetch),
                    max_connections=max_connections,
                    tokens_file=tokens_file,
                    tls=tls,
                )
            )
            try:
                yield listeners[0].socket.getsockname()[1]
            finally:
                fut.cancel()
        return
    import goproxy_asyncio

    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        fut, port = portal.start_task(
            functools.partial(
                goproxy_asyncio.serve,
                store,
                0,
                config=config,
                fetcher=Fetcher(fetch),
                max_connections=max_connections,
                tokens_file=tokens_file,
                tls=tls,
            )
        )
        try:
            yield port
        finally:
            fut.cancel()


@contextlib.contextmanager
def in_thread(srv):
    """Run a ``socketserver`` server's ``serve_forever`` in a thread; yields ``srv``."""
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(params=FRONTENDS)
def frontend(request) -> str:
    return request.param


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_all(s: socket.socket) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionError, TimeoutError):
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)
