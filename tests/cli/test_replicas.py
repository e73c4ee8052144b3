"""Three ``goproxy serve --store s3://...`` replicas on one bucket (``weed mini`` on loopback):
one upstream request per file across the fleet.

Each replica is its own process, with its own port and local cache directory, on one bucket
prefix, with a short ``--lease-time``. A slow upstream counts requests per path. 50 clients,
spread round-robin over the replicas, ask for the same uncached files at once: each file is
fetched upstream once in all, and every client gets its exact bytes. Then the replica that
holds a large zip's lease (named in the lease object: ``host:pid:...``) is killed with
SIGKILL mid-body: another replica takes the lease over within about one lease time and stores
the file; the bucket never shows a partial file, and no lease object is left behind. Last,
``--workers 2`` on one port with the bucket as store: one upstream request per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from goproxy_stores.leases import lease_name
from goproxy_stores.objectstore import ObjectStore, open_object_store
from seaweedfs import CREDENTIALS, Weed, weed  # noqa: F401 - the session's weed mini
from serving import Served, serve
from slowupstream import get, info, many, module_zip, slow_upstream

MOD = "example.com/replicas"
GOMOD = b"module example.com/replicas\n\ngo 1.21\n"
LEASE_TIME = 6.0


def _zip(version: str, size: int, *, noise: bool = False) -> bytes:
    return module_zip(MOD, version, GOMOD, size, noise=noise)


def _url(w: Weed, tmp_path: Path) -> str:
    prefix = hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]
    return f"s3://{w.bucket}/replicas-{prefix}"


def _bucket(w: Weed, url: str, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    return open_object_store(url, endpoint=w.endpoint)


@contextlib.contextmanager
def _replicas(
    w: Weed, url: str, upstream: str, tmp_path: Path, n: int = 3, *args: str
) -> Iterator[list[Served]]:
    """``n`` replicas on ``url``; each killed at the end (the test stops those it keeps)."""
    started: list[Served] = []
    try:
        for i in range(n):
            started.append(
                serve(
                    "--store",
                    url,
                    "--lease-time",
                    f"{LEASE_TIME:g}",
                    "--upstream",
                    upstream,
                    *args,
                    cache=tmp_path / f"replica{i}",
                    env=w.env(),
                    log=tmp_path / f"replica{i}.log",
                )
            )
        yield started
    finally:
        for s in started:
            s.kill()


def _counter(port: int, name: str) -> float:
    """A counter from a replica's own ``/metrics``."""
    status, page = get(port, "/metrics")
    assert status == 200
    for family in text_string_to_metric_families(page.decode()):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"no {name} in /metrics")


def _lease_objects(store: ObjectStore) -> list[str]:
    return [name for name, _, _ in store.own_list("leases/")]


def _check_answers(got: list, files: dict[str, bytes], n: int) -> None:
    assert len(got) == n
    for item in got:
        assert len(item) == 3, item
        path, status, body = item
        assert status == 200, (path, status, body[:300])
        assert body == files[path], path  # every client the exact bytes


def test_three_replicas_fetch_each_file_once(weed, tmp_path, monkeypatch):  # noqa: F811
    files = {
        f"/{MOD}/@v/v1.0.0.info": info("v1.0.0"),
        f"/{MOD}/@v/v1.0.0.mod": GOMOD,
        f"/{MOD}/@v/v1.0.0.zip": _zip("v1.0.0", 256 << 10),
        f"/{MOD}/@v/v1.1.0.zip": _zip("v1.1.0", 3 << 20),
        f"/{MOD}/@v/v1.1.0.mod": GOMOD,
    }
    url = _url(weed, tmp_path)
    store = _bucket(weed, url, monkeypatch)
    with (
        slow_upstream(files, delay=1.0) as (upstream, handler),
        _replicas(weed, url, upstream, tmp_path) as replicas,
    ):
        paths = [p for _ in range(10) for p in files]  # 50 clients
        got = many([r.port for r in replicas], paths)
        _check_answers(got, files, len(paths))
        assert handler.hits == dict.fromkeys(files, 1)  # one upstream request per file
        # Each replica counts its own waits on another's lease (each file: two replicas wait).
        waits = [_counter(r.port, "goproxy_lease_waits_total") for r in replicas]
        assert sum(waits) >= len(files), waits
        assert [_counter(r.port, "goproxy_lease_takeovers_total") for r in replicas] == [0] * 3
        for r in replicas:
            r.stop()
    assert _lease_objects(store) == []  # every lease released
    for path, body in files.items():
        blob = store.open(path.lstrip("/"))
        assert blob is not None, path
        with blob:
            assert blob.read() == body


def _holder_pid(store: ObjectStore, key: str) -> int | None:
    """The pid in the lease object's holder id (``host:pid:random``), if it exists."""
    got = store.own_get("leases/" + lease_name(key))
    if got is None:
        return None
    lease = json.loads(got.data)
    assert lease["key"] == key and lease["lease_time"] == LEASE_TIME  # --lease-time given
    return int(lease["holder"].split(":")[1])


class _Watch:
    """Polls the bucket while the test runs: a file is either absent or whole, and no other
    key holds part of it."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        self.store, self.key, self.size = store, key, size
        self.seen: list[str] = []
        self.looks = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for key in self.store.list_keys(""):
                if key.endswith(".zip") and key != self.key:
                    self.seen.append(f"unexpected zip key {key}")
            stat = self.store.stat(self.key)
            if stat is not None and stat.size != self.size:
                self.seen.append(f"{self.key} is {stat.size} bytes, not {self.size}")
            self.looks += 1
            time.sleep(0.05)

    def end(self) -> None:
        self.stop.set()
        self.thread.join(10)


def test_killing_the_replica_that_holds_the_lease(weed, tmp_path, monkeypatch):  # noqa: F811
    path = f"/{MOD}/@v/v1.2.0.zip"
    key = path.lstrip("/")
    body = _zip("v1.2.0", 12 << 20, noise=True)  # relayed to clients as it arrives (past 8 MiB)
    url = _url(weed, tmp_path)
    store = _bucket(weed, url, monkeypatch)
    # The first fetch trickles: 128 KiB every 0.1 s (about 10 s for the whole body), so its
    # holder renews its lease all along, until it is killed.
    with (
        slow_upstream(
            {path: body}, delay=0.0, trickle=path, trickle_chunk=128 << 10, trickle_pause=0.1
        ) as (upstream, handler),
        _replicas(weed, url, upstream, tmp_path) as replicas,
    ):
        watch = _Watch(store, key, len(body))
        ports = [r.port for r in replicas]
        first: list[object] = []
        t = threading.Thread(target=lambda: first.extend(many(ports[0], [path])))
        t.start()
        end = time.monotonic() + 20
        while (pid := _holder_pid(store, key)) is None:
            assert time.monotonic() < end, "no replica took the lease"
            time.sleep(0.02)
        (holder,) = [r for r in replicas if r.proc.pid == pid]
        assert handler.hits == {path: 1}
        # More clients on every replica: those on the holder follow its fetch, the others
        # wait on its lease object.
        rest: list[object] = []
        r = threading.Thread(target=lambda: rest.extend(many(ports, [path] * 15)))
        r.start()
        time.sleep(1.5)
        assert handler.hits == {path: 1}
        assert store.stat(key) is None  # still arriving: nothing visible
        os.kill(holder.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        r.join(60)
        t.join(60)
        took = time.monotonic() - killed
        watch.end()
        answers = [x for x in rest + first if len(x) == 3]  # type: ignore[arg-type]
        on_survivors = 15 - sum(1 for i in range(15) if ports[i % 3] == holder.port)
        assert len(answers) >= on_survivors, rest  # every client of a live replica answered
        for _, status, got in answers:  # type: ignore[misc]
            assert status == 200 and got == body  # whole, never the part the holder had
        assert handler.hits == {path: 2}  # the killed fetch, and one take-over
        assert took < LEASE_TIME + 8  # one lease time, then the fetch itself (about 1 s)
        assert watch.looks > 20 and watch.seen == []  # never anything partial in the bucket
        stored = store.open(key)
        assert stored is not None
        with stored:
            assert stored.read() == body
        assert _lease_objects(store) == []  # taken over, then released at the commit
        survivors = [s for s in replicas if s is not holder]
        takeovers = [_counter(s.port, "goproxy_lease_takeovers_total") for s in survivors]
        assert sorted(takeovers) == [0, 1]  # the replica that took over counts it
        for s in replicas:
            if s is not holder:
                s.stop()


def test_two_workers_on_a_bucket_fetch_each_file_once(weed, tmp_path, monkeypatch):  # noqa: F811
    files = {
        f"/{MOD}/@v/v1.3.0.info": info("v1.3.0"),
        f"/{MOD}/@v/v1.3.0.mod": GOMOD,
        f"/{MOD}/@v/v1.3.0.zip": _zip("v1.3.0", 1 << 20),
    }
    url = _url(weed, tmp_path)
    store = _bucket(weed, url, monkeypatch)
    with (
        slow_upstream(files, delay=1.0) as (upstream, handler),
        _replicas(weed, url, upstream, tmp_path, 1, "--workers", "2") as (served,),
    ):
        paths = [p for _ in range(8) for p in files]
        got = many(served.port, paths)
        _check_answers(got, files, len(paths))
        assert handler.hits == dict.fromkeys(files, 1)
        served.stop()
    assert _lease_objects(store) == []
