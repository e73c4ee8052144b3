"""Refused zips get clear answers: up to ``verify_before_send`` bytes a zip is verified before
the head goes out (a 502 with a text); a larger one streams with its tail held back until it
is verified, and the connection is cut short when it is not. Every server, a real HTTP
upstream that mirrors a fixture checksum database."""

from __future__ import annotations

import functools
import http.client
import http.server
import threading

import pytest

from goproxy_core import ProxyConfig, SumdbConfig
from goproxy_core.testing import MemoryStore
from goproxy_io import FetchSettings
from sumdbfix import FixtureDB

from conftest import running
from support import make_zip

MOD = "example.com/v"
GOMOD = b"module example.com/v\n"
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "v.go": b"package v\n" * 2000})
BAD = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "v.go": b"package v\n" * 1999 + b"package x\n"})


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    root = tmp_path_factory.mktemp("up")
    d = root / MOD / "@v"
    d.mkdir(parents=True)
    (d / "v1.0.0.mod").write_bytes(GOMOD)
    (d / "v1.0.0.zip").write_bytes(BAD)
    db = FixtureDB()
    db.add(MOD, "v1.0.0", GOMOD, ZIP)
    db.publish()
    db.write(root / "sumdb" / db.name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", db, d
    srv.shutdown()
    srv.server_close()


def _get(port: int, path: str) -> tuple[int, bytes, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        try:
            body = r.read()
        except http.client.IncompleteRead as e:
            return r.status, e.partial, "cut"
        return r.status, body, ""
    finally:
        c.close()


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_refused_zip_answers(upstream, frontend):
    url, db, d = upstream
    fetch = FetchSettings(retries=0)
    sumdb = (SumdbConfig(db.name, db.vkey),)
    # Small enough to verify first: a clear 502 naming the mismatch, nothing stored.
    store = MemoryStore()
    with running(frontend, store, ProxyConfig(upstream=url, sumdb=sumdb), fetch) as port:
        status, body, how = _get(port, f"/{MOD}/@v/v1.0.0.zip")
    assert (status, how) == (502, "")
    assert b"checksum mismatch" in body and MOD.encode() in body
    assert store.get(f"{MOD}/@v/v1.0.0.zip") is None
    # Relayed (the threshold below the zip's size): a 200 head, then a cut before the end.
    store = MemoryStore()
    # failure_ttl=0: this heals at once (remembered failures: test_faults.py).
    cfg = ProxyConfig(upstream=url, sumdb=sumdb, verify_before_send=100, failure_ttl=0)
    with running(frontend, store, cfg, fetch) as port:
        status, body, how = _get(port, f"/{MOD}/@v/v1.0.0.zip")
        assert (status, how) == (200, "cut")
        assert len(body) < len(BAD)
        assert store.get(f"{MOD}/@v/v1.0.0.zip") is None
        # Healed upstream: relayed whole, verified, kept.
        (d / "v1.0.0.zip").write_bytes(ZIP)
        try:
            assert _get(port, f"/{MOD}/@v/v1.0.0.zip") == (200, ZIP, "")
        finally:
            (d / "v1.0.0.zip").write_bytes(BAD)
    assert store.get(f"{MOD}/@v/v1.0.0.zip") == ZIP
