"""Connection limits and accept failures: ``ConnectionLimit``, ``AcceptErrors``, each server.

The floods themselves (1500 silent sockets against a 1024 open-file limit) run against
``goproxy serve`` in tests/cli/test_floods.py; here each server's ``max_connections`` is small
and the tests look at which connection is closed to make room.
"""

from __future__ import annotations

import errno
import http.server
import logging
import re
import resource
import socket
import threading
import time

import pytest

from goproxy_core import ProxyConfig
from goproxy_io.server import (
    AcceptErrors,
    ConnectionLimit,
    ServerBase,
    default_max_connections,
    raise_open_file_limit,
    too_many,
)
from goproxy_stores import DiskStore

from conftest import connect, running

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- ConnectionLimit ----------------------------------------------------------------------------


def test_limit_closes_the_longest_idle_and_keeps_its_age():
    closed: list[str] = []
    limit = ConnectionLimit(3, clock=_Clock())
    a = limit.admit(lambda: closed.append("a"))
    b = limit.admit(lambda: closed.append("b"))
    c = limit.admit(lambda: closed.append("c"))
    assert a and b and c and len(limit) == 3
    b.idle()
    a.idle()
    b.idle()  # a head trickling in: still idle since the first time, not younger
    c.busy()  # busy never counts
    d = limit.admit(lambda: closed.append("d"))
    assert d is not None and closed == ["b"] and len(limit) == 3
    b.release()  # its own loop ends it later: nothing more happens
    assert len(limit) == 3
    a.busy()
    assert limit.admit(lambda: closed.append("e")) is None  # none idle: refused
    assert closed == ["b"]
    a.idle()
    a.busy()
    c.idle()
    assert limit.admit(lambda: closed.append("f")) is not None
    assert closed == ["b", "c"]


def test_limit_logs_closings_once_per_interval(caplog):
    clock = _Clock()
    limit = ConnectionLimit(1, clock=clock)
    caplog.set_level(logging.WARNING, "goproxy.server")
    for _ in range(50):
        slot = limit.admit(lambda: None)
        assert slot is not None
        slot.idle()
    busy = limit.admit(lambda: None)
    assert busy is not None
    assert limit.admit(lambda: None) is None
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "max-connections (1) reached: closed 1 idle connections, refused 0 (none idle) "
        "in the last 10 s"
    ]
    clock.now += 10
    assert limit.admit(lambda: None) is None
    assert caplog.records[-1].getMessage() == (
        "max-connections (1) reached: closed 49 idle connections, refused 2 (none idle) "
        "in the last 10 s"
    )


def test_limit_survives_a_failing_close(caplog):
    limit = ConnectionLimit(1)

    def boom() -> None:
        raise OSError(errno.EBADF, "gone")

    slot = limit.admit(boom)
    assert slot is not None
    slot.idle()
    assert limit.admit(lambda: None) is not None
    assert "closing an idle connection failed" in caplog.text


# -- AcceptErrors -------------------------------------------------------------------------------


def test_accept_errors_back_off_and_log_a_count(caplog):
    clock = _Clock()
    errors = AcceptErrors(logging.getLogger("goproxy.test"), clock=clock)
    caplog.set_level(logging.WARNING, "goproxy.test")
    emfile = OSError(errno.EMFILE, "Too many open files")
    pauses = [errors.failed(emfile) for _ in range(9)]
    assert pauses == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0]
    clock.now += 10
    errors.failed(emfile)
    errors.succeeded()
    assert errors.failed(emfile) == 0.01  # a success starts the pauses over
    clock.now += 10
    errors.succeeded()  # the failures since the last line are told on the next success
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "accept failed 1 time in the last 10 s: [Errno 24] Too many open files",
        "accept failed 9 times in the last 10 s: [Errno 24] Too many open files",
        "accept failed 1 time in the last 10 s: [Errno 24] Too many open files",
    ]
    assert not any(r.exc_info for r in caplog.records)


# -- the open-file limit --------------------------------------------------------------------


def test_default_max_connections_leaves_room_for_a_second_descriptor_each():
    assert default_max_connections(1024) == 480
    assert default_max_connections(256) == 96
    assert default_max_connections(65) == 1
    assert default_max_connections(10) == 1
    assert default_max_connections(0) == 10_000


def test_raise_open_file_limit_reaches_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    now = raise_open_file_limit()
    assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert now == hard or hard == resource.RLIM_INFINITY
    assert raise_open_file_limit() == now  # again: nothing changes
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_server_base_opt_out_and_bad_maximum(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = min(soft, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))
    try:
        server = ServerBase(DiskStore(tmp_path), ProxyConfig(upstream="off"), raise_limit=False)
        server.close()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == lower
        assert server.limit.maximum == default_max_connections(lower)
        with pytest.raises(ValueError, match="max_connections must be 1 or more"):
            ServerBase(DiskStore(tmp_path), ProxyConfig(upstream="off"), max_connections=0)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- each server ------------------------------------------------------------------------------


def _ended(s: socket.socket, timeout: float = 5.0) -> bool:
    """The server closed ``s`` (whatever it sent first)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


def _still_open(s: socket.socket) -> bool:
    s.settimeout(0.2)
    try:
        return s.recv(1) != b""
    except TimeoutError:
        return True
    except OSError:
        return False


def _response(s: socket.socket) -> bytes:
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += s.recv(65536)
    return head


def test_the_longest_idle_connection_makes_room(frontend, tmp_path):
    config = ProxyConfig(upstream="off")
    with running(frontend, DiskStore(tmp_path / "cache"), config, max_connections=3) as port:
        a = connect(port)  # silent since it opened
        time.sleep(0.1)
        b = connect(port)
        b.sendall(b"GET /heal")  # a head not yet whole
        time.sleep(0.1)
        c = connect(port)
        c.sendall(HEALTH)
        assert _response(c).startswith(b"HTTP/1.1 200")  # idle again, since just now
        time.sleep(0.1)
        d = connect(port)
        d.sendall(HEALTH)
        assert _response(d).startswith(b"HTTP/1.1 200")
        assert _ended(a)
        assert _still_open(b) and _still_open(c)
        e = connect(port)
        e.sendall(HEALTH)
        assert _response(e).startswith(b"HTTP/1.1 200")
        assert _ended(b)
        assert _still_open(c)
        c.sendall(HEALTH)  # the kept-alive one still works
        assert _response(c).startswith(b"HTTP/1.1 200")
        for s in (a, b, c, d, e):
            s.close()


class _Stuck(http.server.BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:
        self.release.wait(20)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_new_connection_is_refused_when_none_is_idle(frontend, tmp_path):
    handler = type("H", (_Stuck,), {"release": threading.Event()})
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = ProxyConfig(upstream=f"http://127.0.0.1:{upstream.server_address[1]}")
    try:
        store = DiskStore(tmp_path / "cache")
        with running(frontend, store, config, max_connections=1) as port:
            busy = connect(port)
            busy.sendall(b"GET /example.com/m/@v/v1.0.0.info HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)  # waiting on the upstream: never closed for room
            late = connect(port)
            late.settimeout(5)
            got = b""
            while chunk := late.recv(65536):
                got += chunk
            rid = re.search(rb"X-Request-Id: ([0-9a-f]{8}-[0-9a-f]+)\r\n", got)
            assert rid is not None and got == too_many(rid[1])
            handler.release.set()
            assert _response(busy).startswith(b"HTTP/1.1 404")
            busy.close()
            late.close()
    finally:
        handler.release.set()
        upstream.shutdown()
        upstream.server_close()


def test_asyncio_accepts_through_the_public_call_too(tmp_path, monkeypatch):
    """A loop without the selector loop's transport maker: ``connect_accepted_socket``."""
    import goproxy_asyncio._server as server_module

    monkeypatch.setattr(server_module, "_MAKE_TRANSPORT", "_no_such_method")
    config = ProxyConfig(upstream="off")
    with running("asyncio", DiskStore(tmp_path / "cache"), config) as port:
        for _ in range(3):
            s = connect(port)
            s.sendall(HEALTH)
            assert _response(s).startswith(b"HTTP/1.1 200")
            s.close()
