"""Tokens over HTTP on every server (trio, asyncio, sockets) and app (ASGI, WSGI).

Clients send ``Authorization: Bearer`` or ``Basic`` (the go command's .netrc form); the
servers pass the headers to the core, read the tokens file, see ``goproxy token rm`` within a
second while running, and write the audit trail (``goproxy.audit``, the per-token metric)
without ever logging a token.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import time
from pathlib import Path

import pytest
from test_apps import _uvicorn, _wsgiref
from test_servers import ESC, GOMOD, _tree

from goproxy_core import ProxyConfig
from goproxy_io.logs import JsonFormatter
from goproxy_io.tokens import add_token
from goproxy_stores import DiskStore

from conftest import running
from support import make_zip

KINDS = ["trio", "asyncio", "sockets", "asgi", "wsgi"]
SECRET = "corp.example/secret"
SECRET_MOD = b"module corp.example/secret\n"


def _secret_tree(root: Path) -> None:
    v = root / SECRET / "@v"
    v.mkdir(parents=True)
    (v / "list").write_text("v1.0.0\n")
    (v / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}')
    (v / "v1.0.0.mod").write_bytes(SECRET_MOD)
    (v / "v1.0.0.zip").write_bytes(
        make_zip(SECRET, "v1.0.0", {"go.mod": SECRET_MOD, "s.go": b"package secret\n"})
    )


@contextlib.contextmanager
def _serving(kind: str, store, config, tokens_file: Path):
    if kind in ("asgi", "wsgi"):
        from goproxy_apps import asgi_app, wsgi_app

        make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
        app = make(store, config, tokens_file=str(tokens_file))
        try:
            with run(app) as port:
                yield port
        finally:
            app.close()
        return
    with running(kind, store, config, tokens_file=str(tokens_file)) as port:
        yield port


class Client:
    """One kept-alive HTTP/1.1 connection (so a removed token is refused on it too)."""

    def __init__(self, port: int) -> None:
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def close(self) -> None:
        self.c.close()

    def get(self, path: str, token: str | None = None, *, basic: bool = False):
        headers = {}
        if token is not None:
            if basic:
                cred = base64.b64encode(f"me:{token}".encode()).decode()
                headers["Authorization"] = f"Basic {cred}"
            else:
                headers["Authorization"] = f"Bearer {token}"
        self.c.request("GET", path, headers=headers)
        r = self.c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def world(tmp_path):
    tree = _tree(tmp_path / "tree")
    _secret_tree(tree)
    tokens = tmp_path / "tokens.json"
    t = {
        "ci": add_token(tokens, "ci", scope="corp.example"),
        "other": add_token(tokens, "other", scope="other.example"),
        "old": add_token(tokens, "old", expires=1.0, now=0.0),
        "ops": add_token(tokens, "ops", admin=("metrics",)),
    }
    config = ProxyConfig(
        upstream=tree.as_uri(), anonymous="example.com", private="", metrics_auth=True
    )
    return DiskStore(tmp_path / "cache"), config, tokens, t


def _wrong(token: str) -> str:
    """The same token with its secret's last character changed: right id, right length."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_tokens_on_every_server(kind, world, caplog):
    store, config, tokens, t = world
    logging.getLogger("goproxy.access").disabled = False
    with (
        contextlib.ExitStack() as stack,
        caplog.at_level(logging.INFO),
        _serving(kind, store, config, tokens) as port,
    ):
        c = stack.enter_context(contextlib.closing(Client(port)))
        # Anyone reads the open module; twice, so its answers are kept as hot ones.
        for _ in range(2):
            assert c.get(f"/{ESC}/@v/v1.0.0.mod")[::2] == (200, GOMOD)
        # No token: 401, the same text whether the module exists or not.
        status, headers, body = c.get(f"/{SECRET}/@v/v1.0.0.mod")
        assert status == 401
        assert headers["www-authenticate"] == 'Basic realm="goproxy", Bearer'
        assert body == f"unauthorized: module {SECRET} needs a token (.netrc or GOAUTH)\n".encode()
        absent = c.get("/corp.example/absent/@v/v1.0.0.mod")
        assert absent[0] == 401 and absent[2] == body.replace(b"secret", b"absent")
        # A token in scope, as bearer and as basic (.netrc): 200.
        assert c.get(f"/{SECRET}/@v/v1.0.0.mod", t["ci"])[::2] == (200, SECRET_MOD)
        assert c.get(f"/{SECRET}/@v/list", t["ci"], basic=True)[::2] == (200, b"v1.0.0\n")
        assert c.get(f"/{SECRET}/@v/v1.0.0.zip", t["ci"], basic=True)[0] == 200
        # Wrong secret of the right length, expired, another scope.
        for bad, why in ((_wrong(t["ci"]), b"unknown or removed"), (t["old"], b"expired")):
            status, headers, body = c.get(f"/{SECRET}/@v/v1.0.0.mod", bad)
            assert status == 401 and why in body and "www-authenticate" in headers
        status, _, body = c.get(f"/{SECRET}/@v/v1.0.0.mod", t["other"])
        assert (
            status == 403
            and body == f"forbidden: token other does not cover module {SECRET}\n".encode()
        )
        # Bad credentials on the open module: 401 too, though its answer is a hot one.
        assert c.get(f"/{ESC}/@v/v1.0.0.mod", _wrong(t["ci"]), basic=True)[0] == 401
        # /healthz stays open; /metrics (metrics-auth) needs admin:metrics.
        assert c.get("/healthz")[0] == 200
        assert c.get("/metrics")[0] == 401
        assert c.get("/metrics", t["ci"])[0] == 403
        # goproxy token rm while the server runs: refused within a second or two, on the
        # same kept-alive connection.
        from goproxy_cli.main import main

        assert main(["token", "rm", "ci", "--tokens-file", str(tokens)]) == 0
        deadline = time.monotonic() + 5
        while c.get(f"/{SECRET}/@v/v1.0.0.mod", t["ci"])[0] != 401:
            assert time.monotonic() < deadline, "the removed token still works"
            time.sleep(0.1)
        # The audit metric, per token name.
        status, _, page = c.get("/metrics", t["ops"])
        assert status == 200, page
        assert b'goproxy_private_requests_total{token="ci"}' in page
        assert b'goproxy_private_requests_total{token=""}' in page
    audit = [r for r in caplog.records if r.name == "goproxy.audit"]
    assert any("token=ci" in r.getMessage() and f"module={SECRET}" in r.getMessage() for r in audit)
    assert any("client=127.0.0.1" in r.getMessage() for r in audit)
    assert any("token=other" in r.getMessage() and "status=403" in r.getMessage() for r in audit)
    # No token, nor any part of one's secret, in any line, as text or as JSON.
    fmt = JsonFormatter()
    for r in caplog.records:
        text = r.getMessage() + fmt.format(r)
        for token in t.values():
            secret = token.split("_", 2)[2]
            assert secret[:12] not in text, r.getMessage()
            assert base64.b64encode(f"me:{token}".encode()).decode()[:20] not in text
    json_audit = [json.loads(fmt.format(r)) for r in audit]
    assert any(j.get("token") == "ci" and j.get("client") == "127.0.0.1" for j in json_audit)
