"""The catalog on every server (trio, asyncio, sockets, ASGI, WSGI), and the executor's answer
to ``ReadCatalog`` from the usage index and from a store listing."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time

import pytest
from test_apps import _uvicorn, _wsgiref
from test_servers import ESC, MOD, _tree

from goproxy_apps import asgi_app, wsgi_app
from goproxy_core import CatalogData, ProxyConfig, ReadCatalog
from goproxy_io import Executor, Fetcher, FetchSettings
from goproxy_io.catalog import from_index, from_store, read_catalog
from goproxy_io.sumdb_log import SumdbLogs
from goproxy_stores import DiskStore
from goproxy_stores.usage import UsageIndex

from conftest import FRONTENDS, running

HTML = {"Accept": "text/html"}


def _get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def _check_catalog(port: int, *, counted: bool) -> None:
    """Fetch the tree's module through the server, then see it in the catalog's three forms."""
    for ext in ("info", "mod", "zip"):
        assert _get(port, f"/{ESC}/@v/v1.0.0.{ext}")[0] == 200
    deadline = time.monotonic() + 15  # the usage index is written every 2 s
    while True:
        status, headers, body = _get(port, "/catalog?q=srv")
        assert status == 200, body
        got = json.loads(body)["modules"]
        if (got and (not counted or got[0]["uses"] >= 3)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    [entry] = got
    assert (entry["module"], entry["version"]) == (MOD, "v1.0.0")
    assert entry["size"] > 0
    assert (entry["uses"] >= 3) if counted else (entry["uses"] == 0)
    assert json.loads(_get(port, "/catalog?q=nothing")[2]) == {"modules": []}
    assert _get(port, "/catalog?n=0")[0] == 400

    status, headers, body = _get(port, "/", HTML)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'sha256-" in headers["content-security-policy"]
    page = body.decode()
    assert f"GOPROXY=http://127.0.0.1:{port}</pre>" in page
    assert f'<a href="/-/module/{ESC}">{MOD}</a>' in page
    assert ("(usage index)" if counted else "(store listing)") in page
    status, headers, body = _get(port, "/")
    assert headers["content-type"] == "text/plain; charset=utf-8"

    status, headers, body = _get(port, f"/-/module/{ESC}")
    assert status == 200
    assert b"<code>v1.0.0</code>" in body


@pytest.mark.parametrize("quota", [True, False], ids=["index", "listing"])
@pytest.mark.parametrize("frontend", FRONTENDS)
def test_catalog_on_each_server(frontend, quota, tmp_path):
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    # No quota at all (min-free-space 0 too): no usage index, the catalog lists the store.
    config = ProxyConfig(
        upstream=tree.as_uri(),
        max_cache_size=(1 << 30) if quota else 0,
        min_free_space=(1 << 20) if quota else 0,
    )
    with running(frontend, store, config) as port:
        _check_catalog(port, counted=quota)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_catalog_on_each_app(kind, tmp_path):
    tree = _tree(tmp_path / "tree")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=tree.as_uri(), max_cache_size=1 << 30)
    make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
    app = make(store, config)
    try:
        with run(app) as port:
            _check_catalog(port, counted=True)
    finally:
        app.close()


# -- the executor's answer -----------------------------------------------------------------------


def _put(store: DiskStore, key: str, data: bytes) -> None:
    w = store.writer(key)
    w.write(data)
    w.commit()


@pytest.fixture
def filled(tmp_path):
    store = DiskStore(tmp_path / "cache")
    for module, versions in {
        "example.com/!alpha": ["v1.0.0", "v1.1.0"],
        "example.com/beta": ["v0.1.0"],
        "other.example/gamma": ["v2.0.0+incompatible"],
    }.items():
        for v in versions:
            _put(store, f"{module}/@v/{v}.mod", b"module x\n")
            _put(store, f"{module}/@v/{v}.zip", b"z" * 100)
    _put(store, "example.com/beta/@v/list", b"v0.1.0\n")
    index = UsageIndex(store)
    index.reconcile()
    index.record_uses({"example.com/beta/@v/v0.1.0": (2e9, 5)})
    yield store, index
    index.close()


def _pairs(data: CatalogData) -> list[tuple[str, str]]:
    return [(v.module, v.version) for v in data.versions]


@pytest.mark.parametrize(
    "effect",
    [
        ReadCatalog(),
        ReadCatalog(search="ALPHA"),
        ReadCatalog(module="example.com/beta"),
        ReadCatalog(limit=2),
        ReadCatalog(after=("example.com/Alpha", "v1.0.0"), limit=2),
        ReadCatalog(search="example", after=("example.com/Alpha", "v1.1.0")),
    ],
)
def test_index_and_listing_agree(filled, effect):
    store, index = filled
    a, b = from_index(index, effect), from_store(store, effect)
    assert _pairs(a) == _pairs(b)
    assert a.more == b.more
    assert [v.bytes for v in a.versions] == [v.bytes for v in b.versions]
    assert (a.source, b.source) == ("usage index", "store listing")


def test_index_summary(filled):
    store, index = filled
    data = from_index(index, ReadCatalog(limit=0, summary=True, top=2))
    assert data.versions == ()
    assert data.more is True
    assert (data.version_count, data.module_count) == (4, 3)
    assert data.total_bytes == index.total() and data.file_count == index.file_count()
    assert [(m.module, m.uses) for m in data.most_requested] == [("example.com/beta", 5)]
    assert data.most_recent[0].module == "example.com/beta"  # last use 2e9
    assert len(data.most_recent) == 2
    listing = from_store(store, ReadCatalog(limit=0, summary=True))
    assert (listing.version_count, listing.module_count) == (4, 3)
    # The listing counts every file, the index's own SQLite files too (the index does not).
    assert listing.total_bytes is not None and listing.total_bytes >= data.total_bytes


def test_read_catalog_summary_adds_free_space_health_counters_and_key(filled, tmp_path):
    store, index = filled
    fetcher = Fetcher(FetchSettings(breaker_failures=1, breaker_cooldown=60))
    try:
        key = "http://127.0.0.1:1"
        fetcher._report(key, _failed(), _down())
        executor = Executor(store, fetcher, sumdb_logs=SumdbLogs(tmp_path / "sumdb"))
        executor.usage_index = index
        effect = ReadCatalog(
            limit=1, summary=True, upstreams=(key, "http://up.example"), own_sumdb="s.example"
        )
        data = executor.perform(effect, None)
        assert isinstance(data, CatalogData)
        assert data.source == "usage index"
        assert data.free is not None and data.free.free > 0
        assert [(u.state, u.failures) for u in data.upstreams] == [("open", 1), ("closed", 0)]
        assert data.upstreams[0].retry_in > 50
        assert dict(data.prefetch)["started"] == 0
        assert data.sumdb_key.startswith("s.example+")
        executor.close()
    finally:
        fetcher.close()
    off = Fetcher(FetchSettings(breaker_failures=0))
    try:
        assert off.health(["http://x.example"])[0].state == "unknown"
    finally:
        off.close()


def _failed():
    from goproxy_core import UpstreamResult

    return UpstreamResult(status=0, error="connection refused")


def _down():
    from goproxy_io.upstream import _Attempt

    how = _Attempt()
    how.down = True
    return how


def test_read_catalog_failures_are_answers(filled, monkeypatch, caplog):
    store, index = filled

    def broken():
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(index, "reader", broken)
    data = read_catalog(ReadCatalog(summary=True), store=store, index=index)
    assert data.available is False
    assert "disk I/O error" in data.why

    class NoLog:
        def get(self, name):
            raise OSError("read-only file system")

    data = read_catalog(
        ReadCatalog(summary=True, own_sumdb="s.example"),
        store=store,
        index=None,
        sumdb_logs=NoLog(),  # type: ignore[arg-type]
    )
    assert data.available and data.sumdb_key == ""


def test_listing_is_bounded(filled, monkeypatch):
    store, _ = filled
    import goproxy_io.catalog as catalog

    monkeypatch.setattr(catalog, "LISTING_BOUND", 3)
    data = from_store(store, ReadCatalog(summary=True))
    assert data.complete is False
    assert data.file_count == 3
