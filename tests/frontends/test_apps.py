"""The ASGI app under a real ASGI server (uvicorn), and the WSGI app under wsgiref."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import wsgiref.simple_server

import pytest
from test_servers import ESC, GOMOD, _tree

from goproxy_apps import asgi_app, wsgi_app
from goproxy_core import ProxyConfig
from goproxy_stores import DiskStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _uvicorn(app):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        t.join(10)


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _wsgiref(app):
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _get(port, path, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_app_serves_the_protocol(kind, tmp_path):
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri())
    make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
    with run(make(store, config)) as port:
        assert _get(port, f"/{ESC}/@v/list")[2] == b"v1.0.0\n"
        status, headers, body = _get(port, f"/{ESC}/@v/v1.0.0.mod")
        assert (status, body) == (200, GOMOD)
        zip_bytes = (tree / ESC / "@v/v1.0.0.zip").read_bytes()
        status, headers, body = _get(port, f"/{ESC}/@v/v1.0.0.zip")
        assert (status, body) == (200, zip_bytes)
        status, headers, body = _get(port, f"/{ESC}/@v/v1.0.0.zip")
        assert headers["cache-status"] == "goproxy; hit"
        assert _get(port, f"/{ESC}/@v/v1.0.0.zip", method="HEAD")[2] == b""
        etag = headers["etag"]
        assert _get(port, f"/{ESC}/@v/v1.0.0.zip", headers={"If-None-Match": etag})[0] == 304
        status, headers, body = _get(port, "/Example.com/@v/list")
        assert status == 404 and b"invalid escaped module path" in body
        assert _get(port, "/healthz", method="POST")[0] == 405


def test_a_fork_is_logged_by_the_wsgi_app(tmp_path, caplog):
    """The apps log alarms too: a database serving another history is an ERROR line."""
    from goproxy_core import SumdbConfig
    from goproxy_core.testing import MemoryStore
    from sumdbfix import FixtureDB

    kept, fork = FixtureDB(), FixtureDB()
    kept.add_record("example.com/a@v1.0.0", b"example.com/a v1.0.0 h1:a=\n")
    kept.publish()
    fork.add_record("example.com/b@v1.0.0", b"example.com/b v1.0.0 h1:b=\n")
    fork.publish()
    fork.write(tmp_path / "sumdb" / fork.name)
    store = MemoryStore()
    store.put(f"_goproxy/sumdb/{fork.name}/verified-tree", kept.note())
    cfg = ProxyConfig(upstream=tmp_path.as_uri(), sumdb=(SumdbConfig(fork.name, fork.vkey),))
    app = wsgi_app(store, cfg)
    got: list = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/sumdb/{fork.name}/latest"}
    with caplog.at_level("ERROR"):
        body = b"".join(app(environ, lambda status, headers: got.append(status)))
    assert got[0].startswith("502") and b"misbehavior" in body
    assert any(r.name == "goproxy.integrity" for r in caplog.records)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_app_answers_a_stale_list_at_once_and_refreshes_it(kind, tmp_path):
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), list_ttl=0.3)
    make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
    with run(make(store, config)) as port:
        assert _get(port, f"/{ESC}/@v/list")[2] == b"v1.0.0\n"
        (tree / ESC / "@v" / "list").write_text("v1.0.0\nv1.1.0\n")
        time.sleep(0.4)
        _status, headers, body = _get(port, f"/{ESC}/@v/list")
        assert body == b"v1.0.0\n"
        assert headers["cache-status"] == "goproxy; hit; fwd=stale; detail=revalidating"
        deadline = time.monotonic() + 10
        while _get(port, f"/{ESC}/@v/list")[2] != b"v1.0.0\nv1.1.0\n":
            assert time.monotonic() < deadline, "the list was never refreshed"
            time.sleep(0.05)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_app_answers_carry_request_ids_and_are_logged(kind, tmp_path, caplog):
    """The apps give every answer an X-Request-Id (a safe client id kept) and log the
    exchange on ``goproxy.access`` with it, as the standalone servers do."""
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri())
    make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
    app = make(store, config)
    with caplog.at_level("INFO", logger="goproxy.access"), run(app) as port:
        _, miss, _ = _get(port, f"/{ESC}/@v/v1.0.0.info", headers={"X-Request-Id": "app-7"})
        _, hit, _ = _get(port, f"/{ESC}/@v/v1.0.0.info", headers={"X-Request-Id": "no good"})
        _, missing, _ = _get(port, "/Example.com/@v/list")
    assert miss["x-request-id"] == "app-7"
    prefix = app.ids.prefix.decode()
    assert hit["x-request-id"].startswith(prefix) and missing["x-request-id"].startswith(prefix)
    assert hit["x-request-id"] != missing["x-request-id"]
    recs = [r for r in caplog.records if r.name == "goproxy.access"]
    assert [r.access.record.request_id for r in recs] == [
        miss["x-request-id"],
        hit["x-request-id"],
        missing["x-request-id"],
    ]
    first = recs[0].access.record
    assert (first.status, first.upstream) == (200, tree.as_uri())
    assert recs[1].access.record.upstream == "" and "hit" in recs[1].access.record.cache_status
    assert recs[2].access.record.status == 404
