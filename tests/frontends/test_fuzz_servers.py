"""A bounded fuzz of each server over real sockets: random requests, escapes, versions, headers
and pipelined garbage, sent in random pieces to a server with a store and a local upstream.

After every example: the bytes that came back are whole valid HTTP responses; no 5xx but an
upstream's or the store's failure (502, 503, 504, 507); nothing logged at ERROR, no traceback,
no exception escaped a thread; and the server still answers a good request.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goproxy_core import ProxyConfig
from goproxy_core.testing import MemoryStore
from goproxy_stores import DiskStore

from conftest import FRONTENDS, running
from fuzzreq import MOD, Case, cases, check_replies
from support import make_zip

GOMOD = f"module {MOD}\n\ngo 1.21\n".encode()
# The 5xx a server may send: an upstream that failed or timed out, a store that failed or is full.
ALLOWED_5XX = {502, 503, 504, 507}


def _tree(root: Path) -> Path:
    v = root / MOD / "@v"
    v.mkdir(parents=True)
    (v / "list").write_text("v1.0.0\n")
    (v / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}')
    (v / "v1.0.0.mod").write_bytes(GOMOD)
    (v / "v1.0.0.zip").write_bytes(
        make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "a.go": b"package fz\n"})
    )
    return root


def _exchange(port: int, case: Case, end: str) -> bytes | None:
    """Send ``case`` in its pieces, then end as ``end`` says and read what came back.

    ``eof``: half-close and read to the end; ``open``: keep the connection open and read until
    the server closes it (its timeouts); ``reset``: close at once with a reset, read nothing
    (None).
    """
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    out = bytearray()
    try:
        try:
            for i, chunk in enumerate(case.chunks()):
                if i:
                    time.sleep(0.001)  # let the server read the pieces apart
                s.sendall(chunk)
            if end == "reset":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return None
            if end == "eof":
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed first (it refused the request): read what it said
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return bytes(out)


def _good(port: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(
            f"GET /{MOD}/@v/v1.0.0.mod HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n".encode()
        )
        raw = bytearray()
        while chunk := s.recv(65536):
            raw += chunk
    finally:
        s.close()
    ((status, _, body),) = check_replies(bytes(raw), [b"GET"])
    assert (status, body) == (200, GOMOD)


class _Trouble(logging.Handler):
    """Keeps every record at ERROR or with a traceback, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in text:
            self.seen.append(f"{record.name}: {text}")


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_fuzz_server(frontend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _tree(tmp_path / "tree")
    store = MemoryStore() if frontend == "asyncio" else DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), idle_timeout=0.3, request_timeout=0.3)
    trouble = _Trouble()
    root = logging.getLogger()
    escaped: list[str] = []
    monkeypatch.setattr(
        threading, "excepthook", lambda a: escaped.append(f"{a.exc_type.__name__}: {a.exc_value}")
    )
    root.addHandler(trouble)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with running(frontend, store, config) as port:

            @settings(
                max_examples=150,
                deadline=5000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(cases(), st.sampled_from(["eof"] * 12 + ["reset", "open"]))
            def one(case: Case, end: str) -> None:
                raw = _exchange(port, case, end)
                if raw is not None:
                    for status, _, body in check_replies(raw, [r.method for r in case.reqs]):
                        assert status < 500 or status in ALLOWED_5XX, (status, body)
                _good(port)
                assert not trouble.seen, trouble.seen
                assert not escaped, escaped

            one()
    finally:
        root.removeHandler(trouble)
        root.setLevel(old_level)
    assert not trouble.seen, trouble.seen
    assert not escaped, escaped
