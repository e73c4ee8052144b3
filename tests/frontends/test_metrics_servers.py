"""``/metrics`` on every server over loopback: a known set of requests, then one scrape whose
counters, parsed with prometheus-client's own parser, equal the requests made."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import logging
import threading
import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_apps import _uvicorn, _wsgiref

from goproxy_apps import asgi_app, wsgi_app
from goproxy_core import ProxyConfig
from goproxy_io import Fetcher, FetchSettings
from goproxy_stores import DiskStore

from conftest import FRONTENDS, in_thread, running
from support import make_zip

MOD = "example.com/Met"
ESC = "example.com/!met"
GOMOD = b"module example.com/Met\n\ngo 1.21\n"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "a.go": b"package met\n"})
LIST = b"v1.0.0\n"
NOT_FOUND = b"not found here\n"
UNAVAILABLE = b"try later\n"

FILES = {
    f"/{ESC}/@v/list": LIST,
    f"/{ESC}/@v/v1.0.0.info": INFO,
    f"/{ESC}/@v/v1.0.0.mod": GOMOD,
    f"/{ESC}/@v/v1.0.0.zip": ZIP,
}
SLOW = f"/{ESC}/@v/v1.1.0.zip"
SLOW_ZIP = make_zip(MOD, "v1.1.0", {"go.mod": GOMOD, "b.go": b"package met\n"})
BROKEN = "/example.com/broken/@v/v1.0.0.mod"  # always 503

# (path, endpoint kind, status, cache result), in order: the requests each test makes.
REQUESTS = [
    (f"/{ESC}/@v/list", "list", 200, "miss"),
    (f"/{ESC}/@v/v1.0.0.info", "info", 200, "miss"),
    (f"/{ESC}/@v/v1.0.0.info", "info", 200, "hit"),
    (f"/{ESC}/@v/v1.0.0.info", "info", 200, "hit"),  # the hot table's answer
    (f"/{ESC}/@v/v1.0.0.mod", "mod", 200, "miss"),
    (f"/{ESC}/@v/v1.0.0.mod", "mod", 200, "hit"),
    (f"/{ESC}/@v/v1.0.0.zip", "zip", 200, "miss"),
    (f"/{ESC}/@v/v1.0.0.zip", "zip", 200, "hit"),
    ("/example.com/missing/@v/v1.0.0.info", "info", 404, "miss"),
    ("/example.com/missing/@v/v1.0.0.info", "info", 404, "negative"),
    (BROKEN, "mod", 502, "miss"),
    (BROKEN, "mod", 502, "failure"),
    ("/healthz", "health", 200, "none"),
    ("/example.com/met/@v/v1.0.0.tar", "other", 404, "none"),
]
RETRIES = 1  # the broken .mod: asked twice


class _Upstream(http.server.BaseHTTPRequestHandler):
    """An upstream proxy: FILES, a slow zip, a 503 for BROKEN, 404 for the rest."""

    protocol_version = "HTTP/1.1"
    slow = threading.Event()

    def do_GET(self):
        if self.path == SLOW:
            _Upstream.slow.wait(10)
            self._send(200, SLOW_ZIP)
        elif self.path in FILES:
            self._send(200, FILES[self.path])
        elif self.path == BROKEN:
            self._send(503, UNAVAILABLE)
        else:
            self._send(404, NOT_FOUND)

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    _Upstream.slow.clear()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    srv.daemon_threads = True
    with in_thread(srv):
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    _Upstream.slow.set()


FETCH = FetchSettings(retries=RETRIES, backoff=0.01, netrc=False, breaker_failures=0)


def _config(upstream: str, **kw) -> ProxyConfig:
    return ProxyConfig(upstream=upstream, **kw)


def scrape(port: int, conn: http.client.HTTPConnection | None = None) -> dict:
    """GET /metrics and parse it: {(sample name, sorted labels): value}."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
    finally:
        if conn is None:
            c.close()
    assert r.status == 200, body
    assert r.getheader("content-type").startswith("text/plain; version=")
    return parse(body.decode())


def parse(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def samples(page: dict, name: str) -> dict:
    """The samples called ``name``: {labels as a dict's items: value}."""
    return {labels: v for (n, labels), v in page.items() if n == name}


def check_requests(page: dict, requests=REQUESTS) -> None:
    """The request counters and latency counts equal ``requests``."""
    want = Counter((kind, str(status), cache) for _, kind, status, cache in requests)
    got = {
        (d["kind"], d["status"], d["cache"]): v
        for labels, v in samples(page, "goproxy_requests_total").items()
        for d in [dict(labels)]
    }
    assert got == dict(want)
    kinds = Counter(kind for _, kind, _, _ in requests)
    counts = {
        dict(labels)["kind"]: v
        for labels, v in samples(page, "goproxy_request_duration_seconds_count").items()
    }
    assert counts == dict(kinds)


def check_upstream(page: dict, upstream: str) -> None:
    """The upstream's counters equal what REQUESTS asked of it."""
    up = (("upstream", upstream),)
    codes = {
        dict(labels)["code"]: v
        for labels, v in samples(page, "goproxy_upstream_requests_total").items()
        if dict(labels)["upstream"] == upstream
    }
    assert codes == {"200": 4, "404": 1, "503": 1 + RETRIES}
    assert page[("goproxy_upstream_retries_total", up)] == RETRIES
    assert page[("goproxy_upstream_errors_total", (("reason", "5xx"), *up))] == 1 + RETRIES
    nbytes = sum(map(len, FILES.values())) + len(NOT_FOUND) + (1 + RETRIES) * len(UNAVAILABLE)
    assert page[("goproxy_upstream_bytes_total", up)] == nbytes
    assert page[("goproxy_upstream_duration_seconds_count", up)] == 6 + RETRIES
    assert page[("goproxy_upstream_breaker_open", up)] == 0
    # The .mod and the .zip were stored unverified: no checksum database is configured.
    verified = samples(page, "goproxy_sumdb_verifications_total")
    assert verified == {(("result", "unverified"),): 2, (("result", "verified"),): 0}


def _request(c: http.client.HTTPConnection, path: str, want: int, cache: str) -> None:
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    assert r.status == want, path


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_scrape_counts_the_requests_made(frontend, upstream, tmp_path, monkeypatch):
    # Counted whether the access log is on or not (access-log = false).
    monkeypatch.setattr(logging.getLogger("goproxy.access"), "disabled", True)
    store = DiskStore(tmp_path / "cache")
    with running(frontend, store, _config(upstream), FETCH) as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path, _, status, cache in REQUESTS:
            _request(c, path, status, cache)
        page = scrape(port, c)  # on the same connection: every exchange before it is counted
        check_requests(page)
        check_upstream(page, upstream)
        assert page[("goproxy_open_connections", ())] == 1
        assert page[("goproxy_store_free_bytes", ())] > 0
        assert page[("process_resident_memory_bytes", ())] > 0
        # The scrape itself is counted once its answer is out.
        again = scrape(port, c)
        assert (
            again[
                (
                    "goproxy_requests_total",
                    (("cache", "none"), ("kind", "metrics"), ("status", "200")),
                )
            ]
            == 1
        )
        c.close()


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_requests_waiting_on_one_fetch_are_counted(frontend, upstream, tmp_path):
    store = DiskStore(tmp_path / "cache")
    with running(frontend, store, _config(upstream), FETCH) as port:
        results: list[int] = []

        def get():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("GET", SLOW)
            r = c.getresponse()
            assert r.read() == SLOW_ZIP
            results.append(r.status)
            c.close()

        threads = [threading.Thread(target=get) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while True:  # both requests are in: one fetching, one waiting on its flight
            page = scrape(port)
            if page[("goproxy_open_connections", ())] >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.2)
        _Upstream.slow.set()
        for t in threads:
            t.join(20)
        assert results == [200, 200]
        page = scrape(port)
        assert page[("goproxy_singleflight_wait_seconds_count", ())] == 1
        assert page[("goproxy_singleflight_wait_seconds_sum", ())] > 0.1
        up = (("code", "200"), ("upstream", upstream))
        assert page[("goproxy_upstream_requests_total", up)] == 1


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_the_apps_count_their_requests(kind, upstream, tmp_path):
    make, run = (asgi_app, _uvicorn) if kind == "asgi" else (wsgi_app, _wsgiref)
    app = make(DiskStore(tmp_path / "cache"), _config(upstream), Fetcher(FETCH))
    try:
        with run(app) as port:
            for path, _, status, cache in REQUESTS:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                _request(c, path, status, cache)
                c.close()
            page = scrape(port)
            check_requests(page)
            check_upstream(page, upstream)
    finally:
        with contextlib.suppress(Exception):
            app.close()


@pytest.mark.parametrize("frontend", [*FRONTENDS, "wsgi"])
def test_metrics_off_is_a_404_and_nothing_is_kept(frontend, upstream, tmp_path):
    store = DiskStore(tmp_path / "cache")
    config = _config(upstream, metrics=False)
    if frontend == "wsgi":
        app = wsgi_app(store, config)
        assert app.metrics is None and app.executor.metrics is None
        ctx = _wsgiref(app)
    else:
        ctx = running(frontend, store, config)
    with ctx as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        got = (r.status, r.read())
        c.close()
        assert got == (404, b"not found: metrics are off on this server (metrics = false)\n")
