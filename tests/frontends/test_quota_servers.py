"""Every server counts its answers as last uses for the disk quota, hot answers included and
with the access log off; the applications too; the usage thread stops with the server."""

from __future__ import annotations

import contextlib
import http.client
import logging
import threading
import time
import wsgiref.simple_server
from pathlib import Path

import pytest

from goproxy_apps import wsgi_app
from goproxy_core import ProxyConfig
from goproxy_stores import DiskStore
from goproxy_stores.usage import UsageIndex

from conftest import FRONTENDS, running

MOD = "example.com/m"
CONFIG = ProxyConfig(upstream="off", max_cache_size=1 << 30, min_free_space=0)


def _cache(root: Path) -> DiskStore:
    d = root / MOD / "@v"
    d.mkdir(parents=True)
    (d / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}')
    (d / "v1.0.0.mod").write_text(f"module {MOD}\n")
    (d / "list").write_text("v1.0.0\n")
    return DiskStore(root)


def _get(port: int, path: str) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def _uses(root: Path) -> int:
    index = UsageIndex(DiskStore(root))
    try:
        row = index.version(MOD, "v1.0.0")
        return 0 if row is None else row.uses
    finally:
        index.close()


def _wait_uses(root: Path, want: int) -> None:
    deadline = time.monotonic() + 15
    while _uses(root) < want:
        assert time.monotonic() < deadline, f"{_uses(root)} uses counted, want {want}"
        time.sleep(0.1)


@pytest.fixture
def no_access_log():
    logger = logging.getLogger("goproxy.access")
    was = logger.disabled
    logger.disabled = True
    yield
    logger.disabled = was


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_servers_count_uses_with_the_access_log_off(frontend, tmp_path, no_access_log):
    store = _cache(tmp_path)
    before = set(threading.enumerate())

    def ours() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "goproxy-quota" and t not in before]

    with running(frontend, store, CONFIG) as port:
        assert ours()
        # The second and third are answered from the hot table, skipping the engine.
        for _ in range(3):
            assert _get(port, f"/{MOD}/@v/v1.0.0.info") == 200
        assert _get(port, f"/{MOD}/@v/v1.0.0.mod") == 200
        assert _get(port, f"/{MOD}/@v/v9.0.0.mod") == 404  # not a use
        assert _get(port, f"/{MOD}/@v/list") == 200  # not a version's file
        _wait_uses(tmp_path, 4)
    deadline = time.monotonic() + 10
    while ours():
        assert time.monotonic() < deadline, "the usage thread outlived its server"
        time.sleep(0.05)
    assert _uses(tmp_path) == 4


@contextlib.contextmanager
def _wsgiref(app):
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_wsgi_app_counts_uses(tmp_path):
    app = wsgi_app(_cache(tmp_path), CONFIG)
    try:
        assert app.usage is not None
        with _wsgiref(app) as port:
            assert _get(port, f"/{MOD}/@v/v1.0.0.info") == 200
            assert _get(port, f"/{MOD}/@v/v1.0.0.mod") == 200
    finally:
        app.close()  # the last batch is written on the way out
    assert _uses(tmp_path) == 2


def test_quota_off_tracks_nothing(tmp_path):
    app = wsgi_app(_cache(tmp_path), ProxyConfig(upstream="off", min_free_space=0))
    try:
        assert app.usage is None
    finally:
        app.close()
    assert not (tmp_path / "_goproxy" / "usage.sqlite").exists()
