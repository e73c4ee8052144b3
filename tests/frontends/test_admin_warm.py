"""``POST /admin/warm`` on every frontend: off by default, then a go.sum body warms the cache.

The trio, asyncio and sockets servers read the body through the core's connection; the ASGI
app (under uvicorn) and the WSGI app (under wsgiref) read it themselves; the same
``WarmCache`` effect is answered by the same executor behind each.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket

import pytest
from test_apps import _uvicorn, _wsgiref
from test_servers import ESC, MOD, _tree

from goproxy_apps import asgi_app, wsgi_app
from goproxy_core import ProxyConfig
from goproxy_core.proxy.warm import MAX_WARM_BODY
from goproxy_io.tokens import add_token
from goproxy_stores import DiskStore

from conftest import FRONTENDS, running

GOSUM = (
    f"{MOD} v1.0.0 h1:aaa=\n{MOD} v1.0.0/go.mod h1:bbb=\nexample.com/gone v1.0.0/go.mod h1:c=\n"
).encode()


@contextlib.contextmanager
def _serve(kind, store, config, tokens_file=None):
    if kind in FRONTENDS:
        with running(kind, store, config, tokens_file=tokens_file) as port:
            yield port
    else:
        make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
        with run(make(store, config, tokens_file=tokens_file)) as port:
            yield port


def _ask(port, method, path, body=None, headers=None, token=None):
    if token is not None:
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


KINDS = [*FRONTENDS, "asgi", "wsgi"]


@pytest.mark.parametrize("kind", KINDS)
def test_admin_warm_is_off_by_default(kind, tmp_path):
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    with _serve(kind, store, ProxyConfig(upstream=tree.as_uri())) as port:
        status, _, body = _ask(port, "POST", "/admin/warm", GOSUM)
        assert status == 404, body
        assert b"admin-warm = false" in body
    assert not (tmp_path / "cache" / ESC).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_admin_warm_fills_the_cache(kind, tmp_path):
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), admin_warm=True)
    tokens = str(tmp_path / "tokens.json")
    token = add_token(tokens, "ci", admin=("warm",))
    other = add_token(tokens, "reader")
    with _serve(kind, store, config, tokens) as port:
        # POST /admin/warm needs a token with admin:warm.
        status, headers, body = _ask(port, "POST", "/admin/warm", GOSUM)
        assert (status, headers["www-authenticate"]) == (401, 'Basic realm="goproxy", Bearer')
        assert _ask(port, "POST", "/admin/warm", GOSUM, token=other)[0] == 403
        assert not (tmp_path / "cache" / ESC).exists()
        status, headers, body = _ask(port, "POST", "/admin/warm", GOSUM, token=token)
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        got = json.loads(body)
        assert (got["versions"], got["files"], got["fetched"], got["failed"]) == (2, 4, 3, 1)
        assert got["failures"][0].startswith("example.com/gone/@v/v1.0.0.mod: 404"), got
        for ext in ("info", "mod", "zip"):
            assert (tmp_path / "cache" / ESC / "@v" / f"v1.0.0.{ext}").is_file()
        # Served afterwards from the cache.
        status, headers, _ = _ask(port, "GET", f"/{ESC}/@v/v1.0.0.zip")
        assert (status, headers["cache-status"]) == (200, "goproxy; hit")
        status, headers, _ = _ask(port, "GET", "/admin/warm", token=token)
        assert (status, headers["allow"]) == (405, "POST")
        status, _, body = _ask(port, "POST", "/admin/warm", b"bad line\n", token=token)
        assert (status, body.strip()) == (
            400,
            b"malformed go.sum: request body:1: wrong number of fields 2",
        )
        # Declared too long: answered at once, before the body is sent.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /admin/warm HTTP/1.1\r\nhost: x\r\nauthorization: Bearer %s\r\n"
                b"content-length: %d\r\n\r\n" % (token.encode(), MAX_WARM_BODY + 1)
            )
            head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.") and head[8:13] == b" 413 ", head
