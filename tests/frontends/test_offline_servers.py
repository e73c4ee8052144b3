"""Offline serving on every server: a real go client verifies against the proofs in the cache
(trio, asyncio, sockets, and the WSGI application); the store listing behind ``ListKeys``."""

from __future__ import annotations

import errno
import threading
import urllib.error
import urllib.request
import wsgiref.simple_server
from pathlib import Path

import pytest

from goproxy_apps import wsgi_app
from goproxy_core import KeyList, ProxyConfig, SumdbConfig
from goproxy_stores import DiskStore, ops
from offlinefix import NAME, offline_cache, write
from serving import go_env, run_go

from conftest import FRONTENDS, running


@pytest.fixture(scope="module")
def ready(tmp_path_factory):
    files, db = offline_cache()
    cache = tmp_path_factory.mktemp("ready")
    write(cache, files)
    return cache, db


def _config(db) -> ProxyConfig:
    return ProxyConfig(offline=True, sumdb=(SumdbConfig(NAME, db.vkey),), min_free_space=0)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _check(proxy: str, db, home: Path) -> None:
    env = go_env(home, proxy, sumdb=db.vkey)
    r = run_go(["mod", "download", "-json", "example.com/app@v1.0.0"], env)
    assert r.returncode == 0, r.show()
    r = run_go(["list", "-m", "-versions", "example.com/lib"], env)
    assert r.returncode == 0 and r.stdout.split() == ["example.com/lib", "v1.0.0", "v1.1.0"]
    assert (home / "gopath/pkg/sumdb" / NAME / "latest").read_bytes() == db.note()
    assert _get(f"{proxy}/example.com/lib/@latest")[1].startswith(b'{"Version": "v1.1.0"')
    status, body = _get(f"{proxy}/sumdb/{NAME}/tile/8/1/000")
    assert status == 404 and b"not in this offline proxy" in body


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_every_server_serves_offline_with_verification(ready, tmp_path, frontend):
    cache, db = ready
    with running(frontend, DiskStore(cache), _config(db)) as port:
        _check(f"http://127.0.0.1:{port}", db, tmp_path)


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_the_wsgi_application_serves_offline(ready, tmp_path):
    cache, db = ready
    app = wsgi_app(DiskStore(cache), _config(db))
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        _check(f"http://127.0.0.1:{server.server_address[1]}", db, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
        app.close()


def test_listing_a_store_is_bounded_and_names_the_cache_when_it_fails(tmp_path):
    keys = [f"example.com/m/@v/v1.{i}.0.info" for i in range(3)]
    write(tmp_path, dict.fromkeys([*keys, "example.com/m/sub/@v/v1.0.0.info"], b"{}"))
    store = DiskStore(tmp_path)
    got = ops.list_keys(store, "example.com/m/@v/", 10)
    assert got.complete and not got.error
    assert sorted(got.keys) == keys
    short = ops.list_keys(store, "example.com/m/@v/", 2)
    assert len(short.keys) == 2 and not short.complete
    assert ops.list_keys(store, "example.com/none/@v/", 10) == KeyList()

    class Broken(DiskStore):
        def list_keys(self, prefix=""):
            raise OSError(errno.EIO, "Input/output error")
            yield  # a generator, as the real one

    got = ops.list_keys(Broken(tmp_path), "example.com/m/@v/", 10)
    assert got.keys == () and got.error == f"cache {Path(tmp_path).resolve()}: input/output error"
