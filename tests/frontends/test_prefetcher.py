"""The executor's prefetcher: a ``Prefetch`` is answered at once; its files are queued once per
key into a bounded queue (the rest dropped), fetched by at most ``prefetch-concurrency``
threads through the core's flow, and counted (started, stored, present, failed, dropped, and
the client hits they earn), with one summary line when the executor closes."""

from __future__ import annotations

import json
import logging
import threading

from goproxy_core import (
    FetchUpstream,
    Prefetch,
    ProxyConfig,
    ReadBlob,
    UpstreamResult,
    compile_config,
)
from goproxy_core.proxy.engine.prefetch import next_wave
from goproxy_core.testing import MemoryStore
from goproxy_io import Executor
from goproxy_io.executor import Pending, Prefetcher, PrefetchStats

UP = "https://up.example"


class _Gate:
    """An upstream answering by URL suffix, holding each fetch until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.urls: list[str] = []
        self.lock = threading.Lock()

    def fetch(self, effect, store, relay):
        with self.lock:
            self.urls.append(effect.url)
        self.started.release()
        self.release.wait(10)
        version = effect.url.rsplit("/", 1)[1].rsplit(".", 1)[0]
        if effect.url.endswith(".info"):
            body = json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}).encode()
        elif "/broken/" in effect.url:
            return UpstreamResult(status=502, body=b"bad gateway\n"), None
        else:
            module = effect.url[len(UP) + 1 :].split("/@v/")[0]
            body = f"module {module}\n".encode()
        return UpstreamResult(status=200, body=body), None

    def close(self) -> None:
        pass


def _prefetch(config: ProxyConfig, *modules: str) -> Prefetch:
    gomod = "module example.com/x\n" + "".join(f"require {m} v1.0.0\n" for m in modules)
    return Prefetch(next_wave(compile_config(config), gomod.encode()), 1, config)


def test_prefetcher_queues_once_per_key_drops_past_its_bound_and_counts(caplog):
    caplog.set_level(logging.INFO, logger="goproxy.prefetch")
    store, gate = MemoryStore(), _Gate()
    executor = Executor(store, gate)  # type: ignore[arg-type]
    executor.prefetcher = prefetcher = Prefetcher(executor, limit=3)
    config = ProxyConfig(upstream=UP, prefetch_concurrency=1)
    effect = _prefetch(config, "example.com/a", "example.com/b")  # 4 files
    assert executor.inline(effect) is None  # answered at once: 3 queued, 1 dropped
    assert gate.started.acquire(timeout=5)  # one thread took the first
    assert prefetcher.workers == 1
    # Offered again: the keys queued or running are not queued twice; the one dropped
    # fits now that the thread took one.
    assert prefetcher.offer(effect) == 1
    assert executor.prefetch_stats.dropped == 1
    gate.release.set()
    assert prefetcher.wait(5)
    assert sorted(u.rsplit("/", 3)[1] + "/" + u.rsplit("/", 1)[1] for u in gate.urls) == [
        "a/v1.0.0.info",
        "a/v1.0.0.mod",
        "b/v1.0.0.info",
        "b/v1.0.0.mod",
    ]
    stats = executor.prefetch_stats
    assert (stats.started, stats.stored, stats.failed) == (4, 4, 0)
    # A client's read of a prefetched file is a hit, counted once; the prefetch's own is not.
    read = ReadBlob("example.com/a/@v/v1.0.0.mod", 1 << 20, immutable=True)
    assert executor.read(read, client=False) is not None
    assert stats.hits == 0
    assert executor.perform(read, Pending()) is not None
    assert executor.perform(read, Pending()) is not None  # from memory, counted already
    assert stats.hits == 1
    # Offered again after it was stored: known (memo, or stored by a prefetch), skipped.
    assert prefetcher.offer(_prefetch(config, "example.com/a", "example.com/b")) == 0
    # Known to neither (a's .mod was asked for by a client, and the memo forgot it): run,
    # found present in the store, nothing fetched; a's .info is still known.
    executor.memo.clear()
    assert prefetcher.offer(_prefetch(config, "example.com/a")) == 1
    assert prefetcher.wait(5)
    assert stats.present == 1 and len(gate.urls) == 4
    executor.close()
    assert prefetcher.offer(_prefetch(config, "example.com/c")) == 0  # closed: dropped
    assert stats.snapshot() == {
        "started": 5,
        "stored": 4,
        "present": 1,
        "failed": 0,
        "dropped": 3,
        "hits": 1,
    }
    (line,) = [r.getMessage() for r in caplog.records if r.name == "goproxy.prefetch"]
    assert line == "prefetch: started 5, stored 4, present 1, failed 0, dropped 1, hits 1"


def test_prefetcher_counts_failures_and_nested_waves_and_runs_concurrently(caplog):
    caplog.set_level(logging.DEBUG, logger="goproxy.prefetch")
    store, gate = MemoryStore(), _Gate()
    gate.release.set()
    executor = Executor(store, gate)  # type: ignore[arg-type]
    config = ProxyConfig(upstream=UP, prefetch_concurrency=4)
    # broken's .mod fails; ok's .mod names nothing more (no nested wave).
    executor.inline(_prefetch(config, "example.com/broken", "example.com/ok"))
    assert executor.prefetcher.wait(5)
    stats = executor.prefetch_stats
    assert (stats.started, stats.stored, stats.failed) == (4, 3, 1)
    assert store.get("example.com/broken/@v/v1.0.0.mod") is None
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert line.startswith("prefetch of example.com/broken/@v/v1.0.0.mod stored nothing: ")
    assert "502" in line


def test_a_prefetch_error_is_counted_as_a_failure():
    class Broken(_Gate):
        def fetch(self, effect, store, relay):
            raise RuntimeError("the fetcher broke")

    executor = Executor(MemoryStore(), Broken())  # type: ignore[arg-type]
    executor.inline(_prefetch(ProxyConfig(upstream=UP), "example.com/a"))
    assert executor.prefetcher.wait(5)
    assert executor.prefetch_stats.failed == 2
    executor.close()


def test_stats_forget_the_oldest_stored_keys():
    stats = PrefetchStats(remember=2)
    for key in ("a", "b", "c"):
        stats.stored_key(key)
    stats.hit("a")  # forgotten: not counted
    stats.hit("c")
    stats.hit("zzz")  # never prefetched
    assert (stats.stored, stats.hits) == (3, 1)
    assert stats.summary().startswith("prefetch: started 0, stored 3")


def test_a_client_asking_while_a_prefetch_stores_the_file_is_handed_its_body():
    """The moment between a prefetch's fetch landing and its file being stored (the checksum
    database is asked, the store writes): the client's fetch of that file takes the landed
    body (``Flights.keep``) instead of asking the upstream again."""

    class SlowStore(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.saving = threading.Event()
            self.go_on = threading.Event()

        def writer(self, key):
            if key.endswith(".mod"):
                self.saving.set()
                self.go_on.wait(10)
            return super().writer(key)

    store, gate = SlowStore(), _Gate()
    gate.release.set()
    executor = Executor(store, gate)  # type: ignore[arg-type]
    config = ProxyConfig(upstream=UP, prefetch_concurrency=1)
    executor.inline(_prefetch(config, "example.com/a"))
    assert store.saving.wait(5)  # the prefetch's .mod landed; its flow is storing it
    url = f"{UP}/example.com/a/@v/v1.0.0.mod"
    client = FetchUpstream(url, 1 << 20, upstream=UP, immutable=True)
    got = executor.perform(client, Pending())
    assert got.status == 200 and got.body == b"module example.com/a\n"
    store.go_on.set()
    assert executor.prefetcher.wait(5)
    assert gate.urls.count(url) == 1
    executor.close()
