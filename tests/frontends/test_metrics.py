"""``goproxy_io.metrics``: each figure, the page it renders, and multiprocess mode."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from goproxy_core import FetchUpstream, ProxyConfig
from goproxy_core.proxy.keys import NEGATIVE_PREFIX, QUARANTINE_MARK, record_key
from goproxy_core.proxy.record import FileRecord, VersionRecord, encode_record
from goproxy_core.testing import MemoryStore
from goproxy_io import Fetcher, FetchSettings
from goproxy_io.executor import PrefetchStats
from goproxy_io.metrics import CACHE_RESULTS, Metrics, cache_result, upstream_label
from goproxy_io.server import ServerBase
from goproxy_stores import DiskStore

SRC = Path(__file__).resolve().parents[2] / "src"


def parse(m: Metrics) -> dict:
    page = m.render()
    assert page.content_type.startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(page.body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.parametrize(
    ("cache_status", "want"),
    [
        ("goproxy; hit", "hit"),
        ("goproxy; fwd=miss; stored", "miss"),
        ('goproxy; fwd=miss; detail="cache write failed"', "miss"),
        ("goproxy; hit; fwd=stale; detail=revalidating", "stale"),
        ('goproxy; hit; fwd=stale; detail="upstream failed"', "stale"),
        ("goproxy; hit; detail=negative", "negative"),
        ('goproxy; hit; detail="failure remembered"', "failure"),
        ("", "none"),
        ("goproxy; detail=own-sumdb", "other"),
    ],
)
def test_cache_result_reads_cache_status(cache_status, want):
    assert cache_result(cache_status) == want
    assert cache_result(cache_status) in CACHE_RESULTS


def test_upstream_label_drops_credentials():
    assert upstream_label("https://user:secret@proxy.example/go") == "https://proxy.example/go"
    assert upstream_label("https://proxy.example") == "https://proxy.example"
    assert upstream_label("direct") == "direct"


def _req(cache: str, kind: str, status: str) -> tuple:
    return (("cache", cache), ("kind", kind), ("status", status))


def test_requests_are_counted_by_kind_status_and_cache():
    m = Metrics("/go")
    m.request("/go/example.com/m/@v/v1.0.0.info", 200, "goproxy; hit", 0.0002)
    m.request(b"/go/example.com/m/@v/v1.0.0.info", 200, "goproxy; hit", 0.0003)
    m.request("/go/example.com/m/@v/list", 200, "goproxy; fwd=miss; stored", 0.2)
    m.request("/example.com/m/@v/list", 404, "", 0.001)  # outside the base path
    page = parse(m)
    hit = (("cache", "hit"), ("kind", "info"), ("status", "200"))
    assert page[("goproxy_requests_total", hit)] == 2
    assert (
        page[("goproxy_requests_total", (("cache", "miss"), ("kind", "list"), ("status", "200")))]
        == 1
    )
    assert (
        page[("goproxy_requests_total", (("cache", "none"), ("kind", "other"), ("status", "404")))]
        == 1
    )
    assert page[("goproxy_request_duration_seconds_count", (("kind", "info"),))] == 2
    assert (
        page[("goproxy_request_duration_seconds_bucket", (("kind", "info"), ("le", "0.0005")))] == 2
    )
    assert page[("goproxy_request_duration_seconds_bucket", (("kind", "list"), ("le", "0.1")))] == 0
    assert page[("process_cpu_seconds_total", ())] > 0


def test_an_alarm_counts_a_fork():
    m = Metrics()
    m.request("/sumdb/sum.test/latest", 502, "", 0.1, alarm="checksum database forked")
    assert parse(m)[("goproxy_sumdb_failures_total", (("reason", "fork"),))] == 1


def _record(mod_db: str | None, zip_db: str | None, mod_time=1.0, zip_time=2.0) -> bytes:
    def f(db, t):
        if db is None:
            return None
        return FileRecord("h1:x", 1, "00", "up", t, sumdb=db, unverified="" if db else "nosumdb")

    return encode_record(VersionRecord("m", "v1.0.0", f(mod_db, mod_time), f(zip_db, zip_time)))


def test_verifications_are_read_from_the_records_saved():
    m = Metrics()
    key = record_key("example.com/m", "v1.0.0")
    m.saved(key, _record("sum.test", None))  # the .mod, verified
    m.saved(key, _record("sum.test", "", zip_time=3.0))  # then the .zip, not verified
    m.saved(key, _record("", "sum.test", mod_time=5.0))  # the .mod again, newest: unverified
    m.saved(key, b"not a record")
    m.saved("example.com/m/@v/v1.0.0.mod", b"module m\n")  # not a record: nothing
    m.saved(NEGATIVE_PREFIX + "example.com/m/@v/v1.0.0.zip", b'{"message":"checksum mismatch"}')
    m.saved(NEGATIVE_PREFIX + "example.com/m/@v/v1.1.0.zip", b'{"message":"not found"}')
    page = parse(m)
    assert page[("goproxy_sumdb_verifications_total", (("result", "verified"),))] == 1
    assert page[("goproxy_sumdb_verifications_total", (("result", "unverified"),))] == 2
    assert page[("goproxy_sumdb_failures_total", (("reason", "mismatch"),))] == 1
    assert page[("goproxy_sumdb_failures_total", (("reason", "fork"),))] == 0


def test_store_figures_are_unknown_until_a_usage_index_reports_them(tmp_path):
    m = Metrics()
    page = parse(m)
    assert math.isnan(page[("goproxy_store_bytes", ())])
    assert math.isnan(page[("goproxy_store_files", ())])
    assert math.isnan(page[("goproxy_store_free_bytes", ())])
    m.store = DiskStore(tmp_path)
    m.store_usage = lambda: (12345, 6)
    m.evicted(2, 5000)
    m.evicted(1, 100)
    m.quarantined()
    page = parse(m)
    assert page[("goproxy_store_bytes", ())] == 12345
    assert page[("goproxy_store_files", ())] == 6
    assert page[("goproxy_store_free_bytes", ())] > 0
    assert page[("goproxy_store_evicted_versions_total", ())] == 3
    assert page[("goproxy_store_evicted_bytes_total", ())] == 5100
    assert page[("goproxy_store_quarantines_total", ())] == 1
    m.store = MemoryStore()  # a store that cannot tell its free space
    m.store_usage = lambda: None  # an index not ready yet: the last figures stand
    page = parse(m)
    assert math.isnan(page[("goproxy_store_free_bytes", ())])
    assert page[("goproxy_store_bytes", ())] == 12345


def test_prefetch_counters_and_connections_are_read_at_each_scrape():
    m = Metrics()
    stats = PrefetchStats()
    open_now = [3]
    m.prefetch_stats = stats
    m.connections = lambda: open_now[0]
    stats.count("started", 4)
    stats.stored_key("k")
    stats.hit("k")
    page = parse(m)
    assert page[("goproxy_prefetch_total", (("event", "started"),))] == 4
    assert page[("goproxy_prefetch_total", (("event", "stored"),))] == 1
    assert page[("goproxy_prefetch_total", (("event", "hits"),))] == 1
    assert page[("goproxy_prefetch_total", (("event", "dropped"),))] == 0
    assert page[("goproxy_open_connections", ())] == 3
    stats.count("started", 2)
    open_now[0] = 0
    page = parse(m)
    assert page[("goproxy_prefetch_total", (("event", "started"),))] == 6
    assert page[("goproxy_prefetch_total", (("event", "stored"),))] == 1
    assert page[("goproxy_open_connections", ())] == 0


def test_a_dead_upstream_opens_its_breaker_and_is_counted():
    m = Metrics()
    fetcher = Fetcher(
        FetchSettings(retries=1, backoff=0.01, breaker_failures=2, connect_timeout=2, netrc=False)
    )
    fetcher.metrics = m
    up = "http://user:pw@127.0.0.1:1"
    try:
        effect = FetchUpstream("http://127.0.0.1:1/m/@v/list", 1024, upstream=up)
        res, _ = fetcher.fetch(effect, MemoryStore())
        assert res.status == 0
        res, _ = fetcher.fetch(effect, MemoryStore())  # skipped: the breaker is open
        assert "circuit breaker open" in res.error
    finally:
        fetcher.close()
    page = parse(m)
    label = (("upstream", "http://127.0.0.1:1"),)
    assert page[("goproxy_upstream_requests_total", (("code", "error"), *label))] == 2
    assert page[("goproxy_upstream_errors_total", (("reason", "transport"), *label))] == 2
    assert page[("goproxy_upstream_errors_total", (("reason", "breaker-open"), *label))] == 1
    assert page[("goproxy_upstream_retries_total", label)] == 1
    assert page[("goproxy_upstream_breaker_open", label)] == 1
    assert not any("pw" in str(k) for k in page)


def test_file_and_direct_fetches_are_counted(tmp_path):
    (tmp_path / "m" / "@v").mkdir(parents=True)
    (tmp_path / "m" / "@v" / "list").write_bytes(b"v1.0.0\n")
    m = Metrics()
    fetcher = Fetcher(FetchSettings(netrc=False))
    fetcher.metrics = m
    try:
        base = tmp_path.as_uri()
        fetcher.fetch(FetchUpstream(f"{base}/m/@v/list", 1024, upstream=base), MemoryStore())
        fetcher.fetch(FetchUpstream(f"{base}/n/@v/list", 1024, upstream=base), MemoryStore())
    finally:
        fetcher.close()
    page = parse(m)
    label = (("upstream", tmp_path.as_uri()),)
    assert page[("goproxy_upstream_requests_total", (("code", "200"), *label))] == 1
    assert page[("goproxy_upstream_requests_total", (("code", "404"), *label))] == 1
    assert page[("goproxy_upstream_bytes_total", label)] == len(b"v1.0.0\n") + len(b"not found\n")


def test_a_server_counts_a_quarantine_it_sees(tmp_path):
    store = DiskStore(tmp_path)
    server = ServerBase(store, ProxyConfig(), raise_limit=False)
    try:
        assert server.metrics is not None
        w = store.writer(QUARANTINE_MARK)
        w.write(b"run 1\n")
        w.commit()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if parse(server.metrics)[("goproxy_store_quarantines_total", ())] == 1:
                break
            time.sleep(0.1)
        assert parse(server.metrics)[("goproxy_store_quarantines_total", ())] == 1
    finally:
        server.close()


_WORKER = textwrap.dedent(
    """
    import sys
    from goproxy_io.metrics import Metrics
    m = Metrics(multiprocess_dir=sys.argv[1])
    n = int(sys.argv[2])
    m.connections = lambda: n
    for _ in range(n):
        m.request("/example.com/m/@v/v1.0.0.info", 200, "goproxy; hit", 0.001)
    m.upstream_attempt("https://up.example", 200, 100 * n, 0.1)
    m.sync()
    sys.stdout.write(m.render().body.decode())
    """
)


def _worker(directory: Path, n: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(SRC / "frontends")])
    return subprocess.run(
        [sys.executable, "-c", _WORKER, str(directory), str(n)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    from prometheus_client.multiprocess import mark_process_dead

    first = _worker(tmp_path, 2)
    second = _worker(tmp_path, 3)
    page = {}
    for family in text_string_to_metric_families(second.stdout):
        for s in family.samples:
            page[(s.name, tuple(sorted(s.labels.items())))] = s.value
    hit = (("cache", "hit"), ("kind", "info"), ("status", "200"))
    assert page[("goproxy_requests_total", hit)] == 5  # both processes' counts
    assert page[("goproxy_request_duration_seconds_count", (("kind", "info"),))] == 5
    assert page[("goproxy_upstream_bytes_total", (("upstream", "https://up.example"),))] == 500
    assert first.returncode == 0
    # Each process's figures are per pid; live gauges of exited processes are dropped.
    pids = {f.name.rsplit("_", 1)[1].removesuffix(".db") for f in tmp_path.glob("gauge_live*")}
    assert len(pids) == 2
    for pid in pids:
        mark_process_dead(int(pid), str(tmp_path))
    assert not list(tmp_path.glob("gauge_live*"))
    assert list(tmp_path.glob("counter_*.db"))  # counters stay: exited workers' counts count


def test_tallies_from_many_threads_add_up_and_land_in_their_buckets():
    import threading

    m = Metrics()
    t = "/example.com/m/@v/v1.0.0.mod"

    def hammer():
        for _ in range(2000):
            m.request(t, 200, "goproxy; hit", 0.0005)  # exactly a bound: le="0.0005"

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for th in threads:
        th.start()
        m.sync()  # flushes while requests are being counted lose none
    for th in threads:
        th.join()
    m.request(t, 200, "goproxy; hit", 7.0)
    page = parse(m)
    assert page[("goproxy_requests_total", _req("hit", "mod", "200"))] == 16001
    bucket = "goproxy_request_duration_seconds_bucket"
    assert page[(bucket, (("kind", "mod"), ("le", "0.0005")))] == 16000
    assert page[(bucket, (("kind", "mod"), ("le", "5.0")))] == 16000
    assert page[(bucket, (("kind", "mod"), ("le", "10.0")))] == 16001
    assert page[(bucket, (("kind", "mod"), ("le", "+Inf")))] == 16001
    assert page[("goproxy_request_duration_seconds_sum", (("kind", "mod"),))] == pytest.approx(15)


def test_a_server_with_a_quota_reports_its_store_and_evictions(tmp_path, monkeypatch):
    """With the disk quota on, the usage index gives the store's size and file count, and
    each eviction is counted."""
    from goproxy_io import server as server_module

    monkeypatch.setattr(server_module, "STORE_USAGE_TTL", 0.0)  # every scrape asks the index
    store = DiskStore(tmp_path)
    for i in range(3):
        w = store.writer(f"example.com/m/@v/v1.0.{i}.mod")
        w.write(b"module example.com/m\n" * 50)
        w.commit()
    server = ServerBase(store, ProxyConfig(max_cache_size=2000), raise_limit=False)
    try:
        assert server.metrics is not None and server.usage is not None
        server.usage.index.settle = 0
        server.usage.gc()  # or its thread did already: either way counted once
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            page = parse(server.metrics)
            # The index's totals follow the eviction's unlinks in its own thread's next flush.
            settled = page[("goproxy_store_files", ())] <= 2
            if page[("goproxy_store_evicted_versions_total", ())] >= 2 and settled:
                break
            time.sleep(0.2)
        assert page[("goproxy_store_evicted_versions_total", ())] >= 2
        # The bytes freed, less the eviction's own mark file (``_goproxy/evicted``).
        assert 2000 < page[("goproxy_store_evicted_bytes_total", ())] <= 2 * 21 * 50
        assert page[("goproxy_store_files", ())] <= 2  # the index's totals, not NaN
        assert page[("goproxy_store_bytes", ())] < 2000
    finally:
        server.close()
