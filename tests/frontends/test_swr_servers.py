"""Stale-while-revalidate through every server, with a real scripted upstream: a hung upstream
holds no client once a list is cached, and the list is refreshed in the background once the
upstream heals; and the executor's refresher (bounded, one per key, failures one line)."""

from __future__ import annotations

import http.client
import logging
import threading
import time

import pytest
from test_faults import MOD, P, Scripted

from goproxy_core import ProxyConfig, Revalidate, UpstreamResult
from goproxy_core.proxy.targets import ListReq
from goproxy_core.testing import MemoryStore
from goproxy_io import Executor, FetchSettings
from goproxy_io.executor import Refresher
from goproxy_stores import DiskStore

from conftest import in_thread, running

NEW = b"v1.0.0\nv1.1.0\n"


@pytest.fixture
def upstream():
    with in_thread(Scripted()) as srv:
        yield srv


def _get(port, path):
    """(seconds taken, status, Cache-Status, body)."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        return time.monotonic() - t0, r.status, r.getheader("Cache-Status"), body
    finally:
        c.close()


def test_hung_upstream_stale_list_answered_at_once_then_refreshed(
    frontend, upstream, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="goproxy.refresh")
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, list_ttl=0.5, negative_ttl=0)
    fs = FetchSettings(read_timeout=1.0, connect_timeout=1.0, retries=0, netrc=False)
    with running(frontend, store, config, fs) as port:
        took, status, cache, body = _get(port, P + "list")
        assert (status, body) == (200, b"v1.0.0\n") and "fwd=miss" in cache
        upstream.modes[P + "list"] = "hang"
        upstream.hang = 3.0  # longer than the read timeout
        time.sleep(0.6)
        took, status, cache, body = _get(port, P + "list")
        assert (status, body) == (200, b"v1.0.0\n")
        assert cache == "goproxy; hit; fwd=stale; detail=revalidating"
        assert took < 2
        # The upstream heals with a new list while the first refresh still hangs.
        wait = time.monotonic() + 5
        while upstream.hits.get(P + "list", 0) < 2:
            assert time.monotonic() < wait, "no refresh reached the upstream"
            time.sleep(0.01)
        time.sleep(0.05)
        upstream.bodies[P + "list"] = NEW
        upstream.modes.clear()
        deadline = time.monotonic() + 15
        while True:
            took, status, cache, body = _get(port, P + "list")
            assert status == 200 and took < 2, (took, status)
            if body == NEW:
                break
            assert body == b"v1.0.0\n" and "revalidating" in cache
            assert time.monotonic() < deadline, "the list was never refreshed"
            time.sleep(0.2)
        assert "hit" in cache  # answered from the store, refreshed behind it
    assert (tmp_path / "cache" / MOD / "@v" / "list").read_bytes() == NEW
    failed = [r for r in caplog.records if r.name == "goproxy.refresh"]
    assert failed, "the hung refresh was not logged"
    for r in failed:
        assert r.exc_info is None and "\n" not in r.getMessage()
        assert f"background refresh of {MOD}/@v/list stored nothing" in r.getMessage()


# -- the refresher ------------------------------------------------------------------------


class _Gate:
    """An upstream that holds each fetch until released, counting them."""

    def __init__(self, answer: UpstreamResult) -> None:
        self.answer = answer
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.count = 0

    def fetch(self, effect, store, relay):
        self.count += 1
        self.started.release()
        self.release.wait(10)
        return self.answer, None

    def close(self) -> None:
        pass


def _effect(n: int, config: ProxyConfig) -> Revalidate:
    mod = f"example.com/m{n}"
    return Revalidate(f"{mod}/@v/list", ListReq(mod, mod), config)


def test_refresher_is_bounded_one_per_key_and_drops_the_rest(caplog):
    caplog.set_level(logging.WARNING, logger="goproxy.refresh")
    store = MemoryStore()
    gate = _Gate(UpstreamResult(status=200, body=b"v1.0.0\n"))
    executor = Executor(store, gate)  # type: ignore[arg-type]
    executor.refresher = refresher = Refresher(executor, limit=2)
    config = ProxyConfig(upstream="https://up.example")
    # Answered at once, whatever happens behind.
    assert executor.inline(_effect(1, config)) is None
    assert refresher.start(_effect(1, config)) is False  # that key is being refreshed
    assert refresher.start(_effect(2, config)) is True
    assert refresher.start(_effect(3, config)) is False  # two run: dropped
    assert gate.started.acquire(timeout=5) and gate.started.acquire(timeout=5)
    gate.release.set()
    assert refresher.wait(5)
    assert gate.count == 2
    assert store.get("example.com/m1/@v/list") == b"v1.0.0\n"
    assert store.get("example.com/m2/@v/list") == b"v1.0.0\n"
    assert not caplog.records
    executor.close()
    assert refresher.start(_effect(4, config)) is False  # closed: no more


def test_refresher_logs_a_failure_as_one_line(caplog):
    caplog.set_level(logging.WARNING, logger="goproxy.refresh")
    gate = _Gate(UpstreamResult(status=0, error="timeout", timeout=True))
    gate.release.set()
    executor = Executor(MemoryStore(), gate)  # type: ignore[arg-type]
    config = ProxyConfig(upstream="https://up.example")
    assert executor.perform(_effect(1, config), None) is None  # type: ignore[arg-type]
    assert executor.refresher.wait(5)
    (record,) = caplog.records
    assert record.exc_info is None
    assert record.getMessage() == (
        "background refresh of example.com/m1/@v/list stored nothing: "
        "upstream https://up.example failed for example.com/m1: timeout"
    )


def test_refresher_logs_an_error_as_one_line(caplog):
    caplog.set_level(logging.WARNING, logger="goproxy.refresh")

    class Broken(_Gate):
        def fetch(self, effect, store, relay):
            raise RuntimeError("the fetcher broke")

    executor = Executor(MemoryStore(), Broken(UpstreamResult(status=200)))  # type: ignore[arg-type]
    assert executor.refresher.start(_effect(1, ProxyConfig(upstream="https://up.example")))
    assert executor.refresher.wait(5)
    (record,) = caplog.records
    assert record.exc_info is None
    assert record.getMessage().endswith("stored nothing: RuntimeError: the fetcher broke")
