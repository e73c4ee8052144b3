"""The embedding example in docs/core.md runs, and serves a module tree over real sockets."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import make_zip

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "tiny_server.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tree(tmp_path):
    v = tmp_path / "example.com" / "!tiny" / "@v"
    v.mkdir(parents=True)
    (v / "list").write_text("v1.0.0\n")
    (v / "v1.0.0.info").write_text('{"Version":"v1.0.0"}')
    (v / "v1.0.0.mod").write_text("module example.com/Tiny\n")
    (v / "v1.0.0.zip").write_bytes(make_zip("example.com/Tiny", "v1.0.0", {"t.go": b"package t\n"}))
    return tmp_path


def test_tiny_server_serves_a_tree(tree):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(tree), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("serving")
        assert proc.stdout.readline().strip() == f"GOPROXY=http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        got = {}
        for path in ("@v/list", "@v/v1.0.0.info", "@v/v1.0.0.mod", "@v/v1.0.0.zip", "@latest"):
            conn.request("GET", f"/example.com/!tiny/{path}")
            resp = conn.getresponse()
            got[path] = (resp.status, resp.read())
        conn.close()
        assert got["@v/list"] == (200, b"v1.0.0\n")
        assert got["@v/v1.0.0.mod"] == (200, b"module example.com/Tiny\n")
        assert got["@v/v1.0.0.zip"] == (
            200,
            (tree / "example.com/!tiny/@v/v1.0.0.zip").read_bytes(),
        )
        assert got["@latest"][0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
