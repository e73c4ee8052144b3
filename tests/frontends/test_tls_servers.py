"""HTTPS on the three servers: answers verified against the test CA, bad input on the TLS
port (plain HTTP, garbage, a truncated and a slow handshake) never stalling other clients,
the connection limit, and a certificate reloaded while connections stay open."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from goproxy_core import ProxyConfig
from goproxy_io.tls import TLSHolder
from goproxy_stores import DiskStore

from conftest import recv_all, running
from support import make_zip
from tlsfix import TestCA, peer_serial, tls_ca, tls_files  # noqa: F401 - fixtures

MOD = "example.com/Tls"
ESC = "example.com/!tls"
GOMOD = b"module example.com/Tls\n\ngo 1.21\n"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'


def _tree(root, zip_size=0):
    v = root / ESC / "@v"
    v.mkdir(parents=True)
    (v / "list").write_text("v1.0.0\n")
    (v / "v1.0.0.info").write_bytes(INFO)
    (v / "v1.0.0.mod").write_bytes(GOMOD)
    files = {"go.mod": GOMOD, "a.go": b"package tls\n"}
    if zip_size:
        files["blob.bin"] = os.urandom(zip_size)  # incompressible: the zip is that big
    (v / "v1.0.0.zip").write_bytes(make_zip(MOD, "v1.0.0", files))
    return root


@pytest.fixture
def served(frontend, tls_ca, tls_files, tmp_path):  # noqa: F811
    tree = _tree(tmp_path / "tree", zip_size=3 << 20)
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), idle_timeout=5.0, request_timeout=5.0)
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    with running(frontend, store, config, tls=holder) as port:
        yield port, tree, tls_ca, holder


def _https(port, ca: TestCA, timeout=10.0) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=timeout, context=ca.client_context()
    )


def _get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read(), r


def test_https_info_and_zip_verified_by_the_ca(served):
    port, tree, ca, _ = served
    conn = _https(port, ca)
    try:
        assert _get(conn, f"/{ESC}/@v/v1.0.0.info")[:2] == (200, INFO)
        want = (tree / ESC / "@v/v1.0.0.zip").read_bytes()
        status, body, _ = _get(conn, f"/{ESC}/@v/v1.0.0.zip")  # a miss: fetched, relayed
        assert (status, body == want) == (200, True)
        status, body, r = _get(conn, f"/{ESC}/@v/v1.0.0.zip")  # a hit: the stored file
        assert (status, body == want) == (200, True)
        assert r.getheader("Cache-Status") == "goproxy; hit"
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert conn.sock.selected_alpn_protocol() == "http/1.1"
    finally:
        conn.close()


def test_a_client_without_the_ca_is_refused(served):
    port, _, _, _ = served
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=10, context=ssl.create_default_context()
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/healthz")
    conn.close()


def test_plain_http_to_the_tls_port_gets_a_400_saying_https(served):
    port, _, _, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET /{ESC}/@v/list HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = recv_all(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert body == f"this port speaks HTTPS: use https://127.0.0.1:{port}\n".encode()


def test_garbage_is_closed(served):
    port, _, ca, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x00\xff" + os.urandom(200))
        assert recv_all(s) == b""
    _still_serving(port, ca)


def _still_serving(port, ca, n=3, within=5.0):
    """``n`` HTTPS requests on new connections each finish within ``within`` seconds."""
    for _ in range(n):
        started = time.monotonic()
        conn = _https(port, ca, timeout=within)
        try:
            assert _get(conn, f"/{ESC}/@v/v1.0.0.info")[:2] == (200, INFO)
        finally:
            conn.close()
        assert time.monotonic() - started < within


def _client_hello(ca: TestCA) -> bytes:
    """The bytes of a real ClientHello (through memory BIOs, nothing sent)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ca.client_context().wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_a_truncated_handshake_holds_only_its_own_connection(served):
    port, _, ca, _ = served
    hello = _client_hello(ca)
    stuck = []
    try:
        for _ in range(5):  # half a ClientHello each, and the sockets kept open
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(hello[: len(hello) // 2])
            stuck.append(s)
        _still_serving(port, ca)
    finally:
        for s in stuck:
            s.close()


def test_a_slow_handshake_does_not_stall_other_clients(served):
    port, _, ca, _ = served
    hello = _client_hello(ca)
    stop = threading.Event()

    def dribble() -> None:  # a ClientHello one byte a second
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            for b in hello:
                if stop.wait(1.0):
                    return
                try:
                    s.send(bytes([b]))
                except OSError:
                    return

    threads = [threading.Thread(target=dribble, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)  # they have started dribbling
        _still_serving(port, ca, n=5)
    finally:
        stop.set()
        for t in threads:
            t.join(5)


def test_a_stalled_handshake_is_closed_after_the_timeout(
    frontend,
    tls_files,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.setattr(f"goproxy_{frontend}._server.HANDSHAKE_TIMEOUT", 0.5)
    store = DiskStore(tmp_path / "cache")
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    config = ProxyConfig(upstream="off")
    with (
        running(frontend, store, config, tls=holder) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as s,
    ):
        s.sendall(b"\x16\x03\x01")  # a record header, then nothing
        started = time.monotonic()
        assert recv_all(s) == b""
        assert time.monotonic() - started < 5


def test_handshakes_count_in_max_connections(frontend, tls_ca, tls_files, tmp_path):  # noqa: F811
    store = DiskStore(tmp_path / "cache")
    tree = _tree(tmp_path / "tree")
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    config = ProxyConfig(upstream=tree.as_uri())
    with running(frontend, store, config, max_connections=2, tls=holder) as port:
        hello = _client_hello(tls_ca)
        stuck = []
        try:
            for _ in range(2):  # both slots: handshakes not finished (idle: may be closed)
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(hello[:10])
                stuck.append(s)
            time.sleep(0.3)
            # A new client gets a slot: the longest-idle handshake is closed for it.
            _still_serving(port, tls_ca, n=1)
            assert recv_all(stuck[0]) == b""
        finally:
            for s in stuck:
                s.close()


def test_reload_keeps_open_connections_and_new_ones_see_the_new_cert(served, tmp_path):
    port, _, ca, holder = served
    old = _https(port, ca)
    try:
        assert _get(old, f"/{ESC}/@v/v1.0.0.info")[0] == 200
        first = peer_serial(old.sock)
        renewed = ca.issue(cert=Path(holder.cert), key=Path(holder.key))
        assert renewed.serial != first
        assert holder.reload()
        # The open connection goes on with the certificate it shook hands with.
        assert _get(old, f"/{ESC}/@v/v1.0.0.mod")[:2] == (200, GOMOD)
        assert peer_serial(old.sock) == first
        new = _https(port, ca)
        try:
            assert _get(new, f"/{ESC}/@v/v1.0.0.info")[0] == 200
            assert peer_serial(new.sock) == renewed.serial
        finally:
            new.close()
    finally:
        old.close()


def test_a_bad_new_cert_keeps_the_old_one(served, caplog):
    port, _, ca, holder = served
    conn = _https(port, ca)
    assert _get(conn, "/healthz")[0] == 200
    before = peer_serial(conn.sock)
    conn.close()
    Path(holder.cert).write_text("not a certificate\n")
    with caplog.at_level("ERROR", logger="goproxy.tls"):
        assert not holder.reload()
    lines = [r.getMessage() for r in caplog.records if r.name == "goproxy.tls"]
    assert len(lines) == 1 and holder.cert in lines[0] and "tls-cert" in lines[0], lines
    conn = _https(port, ca)
    try:
        assert _get(conn, "/healthz")[0] == 200
        assert peer_serial(conn.sock) == before
    finally:
        conn.close()


def test_an_idle_tls_connection_times_out(frontend, tls_ca, tls_files, tmp_path):  # noqa: F811
    store = DiskStore(tmp_path / "cache")
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    config = ProxyConfig(upstream="off", idle_timeout=1.0)
    with running(frontend, store, config, tls=holder) as port:
        conn = _https(port, tls_ca)
        try:
            assert _get(conn, "/healthz")[0] == 200
            started = time.monotonic()
            conn.sock.settimeout(10)
            assert conn.sock.recv(1) == b""  # closed by the server, not by the 10 s here
            assert time.monotonic() - started < 5
        finally:
            conn.close()
        # A request on a kept-alive connection within the timeout still works (the wait's
        # deadline moved on with it).
        conn = _https(port, tls_ca)
        try:
            for _ in range(3):
                assert _get(conn, "/healthz")[0] == 200
                time.sleep(0.4)
        finally:
            conn.close()


def test_over_the_limit_with_none_idle_a_tls_connection_is_closed_unanswered(
    frontend,
    tls_ca,  # noqa: F811
    tls_files,  # noqa: F811
    tmp_path,
):
    release = threading.Event()

    class Stuck(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(20)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stuck)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = ProxyConfig(upstream=f"http://127.0.0.1:{upstream.server_address[1]}")
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    try:
        store = DiskStore(tmp_path / "cache")
        with running(frontend, store, config, max_connections=1, tls=holder) as port:
            busy = _https(port, tls_ca)
            busy.request("GET", "/example.com/m/@v/v1.0.0.info")  # waits on the upstream
            time.sleep(0.5)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as late:
                assert recv_all(late) == b""  # no plain 503 a TLS client could not read
            release.set()
            assert busy.getresponse().status == 404
            busy.close()
    finally:
        release.set()
        upstream.shutdown()
        upstream.server_close()
