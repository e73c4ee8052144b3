"""The three servers over real sockets: protocol answers, framing, bad input, limits, streaming."""

from __future__ import annotations

import http.client
import http.server
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from goproxy_core import ProxyConfig
from goproxy_stores import DiskStore

from conftest import connect, recv_all, running
from support import make_zip, parse_responses

MOD = "example.com/Srv"
ESC = "example.com/!srv"
GOMOD = b"module example.com/Srv\n\ngo 1.21\n"


def _tree(root: Path, zip_size: int = 0) -> Path:
    v = root / ESC / "@v"
    v.mkdir(parents=True)
    (v / "list").write_text("v1.0.0\n")
    (v / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}')
    (v / "v1.0.0.mod").write_bytes(GOMOD)
    files = {"go.mod": GOMOD, "a.go": b"package srv\n"}
    if zip_size:
        files["blob.bin"] = bytes(range(256)) * (zip_size // 256)
    (v / "v1.0.0.zip").write_bytes(make_zip(MOD, "v1.0.0", files))
    return root


@pytest.fixture
def tree(tmp_path):
    return _tree(tmp_path / "tree")


@pytest.fixture
def served(frontend, tree, tmp_path):
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), idle_timeout=2.0, request_timeout=1.0)
    with running(frontend, store, config) as port:
        yield port, store, tree


def _get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_protocol_answers_and_cache(served):
    port, store, tree = served
    assert _get(port, f"/{ESC}/@v/list")[2] == b"v1.0.0\n"
    assert _get(port, f"/{ESC}/@v/v1.0.0.mod")[2] == GOMOD
    status, headers, body = _get(port, f"/{ESC}/@v/v1.0.0.zip")
    assert status == 200
    assert body == (tree / ESC / "@v/v1.0.0.zip").read_bytes()
    assert headers["content-type"] == "application/zip"
    assert store.stat(f"{ESC}/@v/v1.0.0.zip") is not None
    status, headers, body2 = _get(port, f"/{ESC}/@v/v1.0.0.zip")
    assert body2 == body and headers["cache-status"] == "goproxy; hit"
    status, headers, body = _get(port, f"/{ESC}/@v/v1.0.0.zip", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) == len(body2)


def test_keepalive_and_pipelining(served):
    port, _, _ = served
    s = connect(port)
    req = f"GET /{ESC}/@v/v1.0.0.mod HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    s.sendall(req * 3 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = parse_responses(recv_all(s))
    s.close()
    assert [r[0] for r in got] == [200, 200, 200, 200]
    assert got[0][2] == GOMOD and got[3][2] == b"ok\n"


BAD = [
    b"GET /Example.com/x/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/%2e%2e/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/x%00/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/!!x/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/x/@v/1.0.info HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(2000)) + b"\r\n",
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(100),
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
]


@pytest.mark.parametrize("raw", BAD, ids=range(len(BAD)))
def test_bad_input_gets_4xx_or_close_and_server_stays_up(served, raw):
    port, _, _ = served
    s = connect(port)
    try:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    got = parse_responses(recv_all(s))
    s.close()
    for status, headers, _ in got:
        assert status < 500
        assert headers["content-type"].startswith("text/plain")
    assert _get(port, "/healthz")[0] == 200


def test_idle_client_is_disconnected(served):
    port, _, _ = served
    s = connect(port)
    t0 = time.monotonic()
    assert recv_all(s) == b""
    assert time.monotonic() - t0 < 8
    s.close()


def test_slow_request_head_gets_408(served):
    port, _, _ = served
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    got = parse_responses(recv_all(s))
    s.close()
    assert [r[0] for r in got] == [408]


def test_bare_lf_request_is_answered(served):
    """Lines ended by a bare LF are read as h11 reads them: answered at once, not a 408."""
    port, _, _ = served
    s = connect(port)
    s.sendall(f"GET /{ESC}/@v/v1.0.0.mod HTTP/1.1\nHost: x\nConnection: close\n\n".encode())
    got = parse_responses(recv_all(s))
    s.close()
    assert [(r[0], r[2]) for r in got] == [(200, GOMOD)]


def test_fresh_connection_gets_the_request_timeout_and_keepalive_the_idle_one(
    frontend, tree, tmp_path
):
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), idle_timeout=30.0, request_timeout=1.0)
    with running(frontend, store, config) as port:
        s = connect(port)
        t0 = time.monotonic()
        assert recv_all(s) == b""  # no byte sent: closed after request_timeout, no 408
        assert time.monotonic() - t0 < 10
        s.close()
        s = connect(port)
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        time.sleep(2.0)  # past request_timeout, within idle_timeout: still open
        s.sendall(req.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        got = parse_responses(recv_all(s))
        s.close()
        assert [r[0] for r in got] == [200]


def test_a_trickled_head_gets_408_at_request_timeout(served):
    """A byte now and then does not renew the deadline: the head must be whole in time."""
    port, _, _ = served
    s = connect(port)
    t0 = time.monotonic()
    for b in b"GET /heal":
        if select.select([s], [], [], 0.25)[0]:
            break  # the answer is in: sending more could only reset the connection
        s.sendall(bytes((b,)))
    got = parse_responses(recv_all(s))
    s.close()
    assert [r[0] for r in got] == [408]
    assert time.monotonic() - t0 < 4  # request_timeout is 1 s; 9 bytes would take 2.25 s


class _SlowUpstream(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int]
    files: dict[str, bytes]

    def do_GET(self):
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(0, len(body), 65536):
            self.wfile.write(body[i : i + 65536])
            time.sleep(0.01)

    def log_message(self, *args):
        pass


def test_concurrent_misses_share_one_upstream_fetch(frontend, tmp_path):
    tree = _tree(tmp_path / "tree", zip_size=2 << 20)
    zip_bytes = (tree / ESC / "@v/v1.0.0.zip").read_bytes()
    handler = type(
        "H",
        (_SlowUpstream,),
        {"hits": {}, "files": {f"/{ESC}/@v/v1.0.0.zip": zip_bytes}},
    )
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = ProxyConfig(upstream=f"http://127.0.0.1:{upstream.server_address[1]}")
    try:
        with running(frontend, DiskStore(tmp_path / "cache"), config) as port:
            results: list[bytes] = []

            def fetch():
                results.append(_get(port, f"/{ESC}/@v/v1.0.0.zip")[2])

            threads = [threading.Thread(target=fetch) for _ in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert len(results) == 50
        assert all(r == zip_bytes for r in results)
        assert handler.hits == {f"/{ESC}/@v/v1.0.0.zip": 1}
    finally:
        upstream.shutdown()
        upstream.server_close()
