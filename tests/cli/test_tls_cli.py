"""``goproxy serve --tls-cert --tls-key``: start-up errors (one line, exit 2), every way to
set them, the https:// GOPROXY line, and SIGHUP reloading the certificate in a real process
(one or several workers) while open connections keep theirs."""

from __future__ import annotations

import http.client
import signal
import socket
import threading
import time

import pytest

from serving import goproxy, serving

from support import bench_module
from tlsfix import TestCA, peer_serial, tls_ca, tls_files  # noqa: F401 - fixtures

BASE = ("serve", "--upstream", "off", "--sumdb", "off", "--listen", "127.0.0.1:0")


def _start_error(tmp_path, *args, env=None):
    r = goproxy(*BASE, "--cache-dir", str(tmp_path / "cache"), *args, env=env, timeout=60)
    lines = r.stderr.strip().splitlines()
    return r.returncode, lines


def test_start_up_errors_are_one_line(tls_files, tmp_path):  # noqa: F811
    afile = tmp_path / "afile"
    afile.write_text("x")
    other = TestCA(tmp_path / "other").issue()
    cert, key = str(tls_files.cert), str(tls_files.key)
    want_cert = "want a readable PEM file of the server certificate (its chain may follow it))"
    want_key = "want a readable PEM file of the private key of tls-cert)"
    rows = [
        (
            ["--tls-cert", cert],
            f"tls-key: missing while tls-cert is set (got {cert!r}; want both tls-cert and "
            "tls-key (PEM files), or neither)",
        ),
        (
            ["--tls-key", key],
            f"tls-cert: missing while tls-key is set (got {key!r}; want both tls-cert and "
            "tls-key (PEM files), or neither)",
        ),
        (
            ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", key],
            f"tls-cert: no such file (got {str(tmp_path / 'nope.pem')!r}; {want_cert}",
        ),
        (
            ["--tls-cert", cert, "--tls-key", str(afile / "key.pem")],
            f"tls-key: cannot be read: Not a directory (got {str(afile / 'key.pem')!r}; {want_key}",
        ),
        (
            ["--tls-cert", str(afile), "--tls-key", key],
            f"tls-cert: not PEM: no certificate in it (got {str(afile)!r}; {want_cert}",
        ),
        (
            ["--tls-cert", cert, "--tls-key", str(other.key)],
            f"tls-key: does not match the certificate of tls-cert (got {str(other.key)!r}; "
            f"{want_key}",
        ),
    ]
    for args, want in rows:
        code, lines = _start_error(tmp_path, *args)
        assert (code, lines) == (2, [f"goproxy: {want}"]), args


def test_the_environment_names_them_too(tls_files, tmp_path):  # noqa: F811
    code, lines = _start_error(tmp_path, env={"GOPROXY_CORE_TLS_CERT": str(tls_files.cert)})
    assert code == 2 and lines[0].startswith("goproxy: tls-key: missing while tls-cert is set")


def _https(port, ca, timeout=10.0):
    return http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=timeout, context=ca.client_context()
    )


def _healthz(conn):
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    r.read()
    return r.status


def _serial_now(port, ca):
    conn = _https(port, ca)
    try:
        assert _healthz(conn) == 200
        return peer_serial(conn.sock)
    finally:
        conn.close()


def _wait_for_serial(port, ca, serial, within=10.0, connections=1):
    deadline = time.monotonic() + within
    while True:
        seen = {_serial_now(port, ca) for _ in range(connections)}
        if seen == {serial}:
            return
        assert time.monotonic() < deadline, f"still {seen}, want {serial}"
        time.sleep(0.1)


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_sighup_reloads_and_a_bad_cert_keeps_the_old_one(
    frontend,
    tls_ca,  # noqa: F811
    tmp_path,
):
    files = tls_ca.issue()
    config = tmp_path / "goproxy.toml"  # the config file's keys
    config.write_text(f'tls-cert = "{files.cert}"\ntls-key = "{files.key}"\n')
    with serving(
        "--frontend", frontend, "--upstream", "off", "--config", str(config), cache=tmp_path / "c"
    ) as served:
        assert served.url == f"https://127.0.0.1:{served.port}"
        port = served.port
        kept = _https(port, tls_ca)
        assert _healthz(kept) == 200
        assert peer_serial(kept.sock) == files.serial
        renewed = tls_ca.issue(cert=files.cert, key=files.key)
        served.proc.send_signal(signal.SIGHUP)
        _wait_for_serial(port, tls_ca, renewed.serial)
        # The connection opened before goes on, with the certificate it shook hands with.
        assert _healthz(kept) == 200
        assert peer_serial(kept.sock) == files.serial
        kept.close()
        files.cert.write_text("not a certificate\n")
        served.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert _serial_now(port, tls_ca) == renewed.serial
        err = served.stop()
    failed = [line for line in err.splitlines() if "TLS reload failed" in line]
    assert len(failed) == 1, err
    assert str(files.cert) in failed[0] and "tls-cert" in failed[0]
    assert "Traceback" not in err


def test_workers_each_reload_on_sighup(tls_ca, tmp_path):  # noqa: F811
    files = tls_ca.issue()
    with serving(
        "--workers", "2", "--upstream", "off", *files.args(), cache=tmp_path / "c"
    ) as served:
        assert served.url.startswith("https://")
        _wait_for_serial(served.port, tls_ca, files.serial, connections=6)
        renewed = tls_ca.issue(cert=files.cert, key=files.key)
        served.proc.send_signal(signal.SIGHUP)
        # Connections spread over both workers (SO_REUSEPORT): every one sees the new serial.
        _wait_for_serial(served.port, tls_ca, renewed.serial, connections=8)


def test_plain_http_to_a_served_tls_port(tls_files, tmp_path):  # noqa: F811
    with serving("--upstream", "off", *tls_files.args(), cache=tmp_path / "c") as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert answer.endswith(f"use https://127.0.0.1:{served.port}\n".encode())


def test_without_tls_sighup_still_ends_the_server(tmp_path):
    with serving("--upstream", "off", cache=tmp_path / "c") as served:
        assert served.url.startswith("http://")
        served.proc.send_signal(signal.SIGHUP)
        assert served.proc.wait(timeout=30) == -signal.SIGHUP
        served.kill()


ZIP_MIB = 110


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory):
    """A GOPROXY tree (served as the cache) with a zip of about ``ZIP_MIB`` MiB."""
    with bench_module("run", "run_tls_rss") as run:
        base = tmp_path_factory.mktemp("bigzip")
        fx = run.build_fixture(base, modules=1, huge_zip_mib=ZIP_MIB)
        yield fx.tree, f"/{run.HUGE_ZIP_MODULE}/@v/v1.0.0.zip", run.peak_rss_mib


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_a_large_zip_over_tls_keeps_memory_flat(frontend, big_tree, tls_ca):  # noqa: F811
    tree, path, peak_rss_mib = big_tree
    size = (tree / path.lstrip("/")).stat().st_size
    assert size > 100 << 20
    files = tls_ca.issue()
    with serving(
        "--frontend", frontend, "--upstream", "off", "--cache-dir", str(tree), *files.args()
    ) as served:
        idle = peak_rss_mib(served.proc.pid)
        results: list[object] = []

        def download() -> None:
            conn = _https(served.port, tls_ca, timeout=120)
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                buf, got = bytearray(1 << 20), 0
                while n := r.readinto(buf):
                    got += n
                results.append((r.status, got))
            except Exception as e:  # reported below
                results.append(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=download) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        peak = peak_rss_mib(served.proc.pid)
    assert results == [(200, size)] * 2
    # Two 110 MiB zips went out through TLS: the server grew by buffers, not by the zip.
    assert peak - idle < 40, (idle, peak)


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_sigterm_drains_with_tls_connections_open(frontend, tls_files, tmp_path):  # noqa: F811
    with serving(
        "--frontend", frontend, "--upstream", "off", *tls_files.args(), cache=tmp_path / "c"
    ) as served:
        ca_conn = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        ca_conn.sendall(b"\x16\x03\x01")  # a handshake that never finishes
        started = time.monotonic()
        served.stop(timeout=20)
        assert time.monotonic() - started < 5  # the handshake is not waited for
        ca_conn.close()
