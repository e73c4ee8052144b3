"""Leases on an object store (goproxy_stores.leases.ObjectLeases): one holder per key by a
conditional create on the real S3-compatible server and on the memory store, take-over of an
expired lease (on the waiter's own clock), a holder that lost its lease learns it, sweeping."""

from __future__ import annotations

import hashlib
import threading

import pytest

from goproxy_stores.leases import FileLeases, ObjectLeases, wait
from goproxy_stores.objectstore import open_object_store
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["s3", "memory"])
def store(request, monkeypatch):
    if request.param == "memory":
        return open_object_store("memory://")
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    server = request.getfixturevalue("weed")
    prefix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    return open_object_store(f"s3://{server.bucket}/{prefix}", endpoint=server.endpoint)


def test_one_holder_per_key_and_release_frees_it(store):
    a, b = ObjectLeases(store), ObjectLeases(store)
    held = a.try_acquire("example.com/m/@v/v1.0.0.zip")
    assert held is not None
    assert b.try_acquire("example.com/m/@v/v1.0.0.zip") is None
    assert b.try_acquire("example.com/m/@v/v1.0.1.zip") is not None  # another key
    assert [n for n, _, _ in store.own_list("leases/")]  # an object of the store's own
    assert list(store.list_keys("")) == []  # never a key
    held.release()
    held.release()  # idempotent
    assert b.idle("example.com/m/@v/v1.0.0.zip") == float("inf")
    again = b.try_acquire("example.com/m/@v/v1.0.0.zip")
    assert again is not None
    again.release()


def test_of_many_takers_at_once_one_wins(store):
    leases = [ObjectLeases(store) for _ in range(8)]
    got: list[object] = []
    start = threading.Barrier(len(leases))

    def take(lease_set: ObjectLeases) -> None:
        start.wait()
        lease = lease_set.try_acquire("example.com/m/@v/v1.0.0.zip")
        if lease is not None:
            got.append(lease)

    threads = [threading.Thread(target=take, args=(s,)) for s in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 1


def test_an_expired_lease_is_taken_over_and_its_holder_learns_it(store):
    clock = Clock()
    dead = ObjectLeases(store, lease_time=30, clock=clock)
    waiter = ObjectLeases(store, lease_time=30, clock=clock)
    old = dead.try_acquire("k")
    assert old is not None
    assert waiter.try_acquire("k") is None  # first seen now
    clock.now += 29
    assert waiter.try_acquire("k") is None  # not for a whole lease time yet
    assert waiter.idle("k") == pytest.approx(29)
    clock.now += 2
    new = waiter.try_acquire("k")
    assert new is not None
    assert old.renew() is False  # its conditional rewrite loses
    old.release()  # the lost lease is the new holder's now: not deleted
    assert dead.try_acquire("k") is None
    new.release()


def test_a_renewing_holder_keeps_its_lease(store):
    clock = Clock()
    holder = ObjectLeases(store, lease_time=30, clock=clock)
    waiter = ObjectLeases(store, lease_time=30, clock=clock)
    lease = holder.try_acquire("k")
    assert lease is not None and waiter.try_acquire("k") is None
    for _ in range(6):
        clock.now += 11  # past a third: renew rewrites
        assert lease.renew() is True
        assert waiter.try_acquire("k") is None
    assert waiter.idle("k") < 30
    writes = store.own_get(holder.name("k")).etag
    clock.now += 1
    assert lease.renew() is True  # within a third: no write
    assert store.own_get(holder.name("k")).etag == writes
    lease.release()


def test_a_store_that_fails_renewals_keeps_the_lease_for_the_lease_time(store, monkeypatch):
    clock = Clock()
    leases = ObjectLeases(store, lease_time=30, clock=clock)
    lease = leases.try_acquire("k")

    def down(*a, **k):
        raise OSError("object store: down")

    monkeypatch.setattr(store, "own_put", down)
    clock.now += 20
    assert lease.renew() is True
    clock.now += 15
    assert lease.renew() is False
    monkeypatch.undo()
    lease.release()


def test_sweep_removes_only_long_unwritten_leases(store, monkeypatch):
    leases = ObjectLeases(store, lease_time=30)
    live = leases.try_acquire("live")
    assert leases.sweep() == 0
    monkeypatch.setattr("goproxy_stores.leases.time.time", lambda: 10**10)
    assert leases.sweep() == 1  # as if 90 s later without a renewal
    live.release()


def test_wait_answers_the_committed_blob_or_takes_over(store):
    clock = Clock()
    holder = ObjectLeases(store, lease_time=5, clock=clock)
    waiter = ObjectLeases(store, lease_time=5, clock=clock)
    lease = holder.try_acquire("k")

    def sleep(seconds: float) -> None:
        clock.now += seconds

    # The holder dies without a commit: the waiter takes over after a lease time.
    got = wait(waiter, "k", lambda: None, clock.now + 60, sleep=sleep, clock=clock)
    assert got is not None and got is not lease and clock.now >= 1005
    got.release()
    # A commit appears: the waiter answers it.
    lease = holder.try_acquire("k2")
    polls = iter([None, None, "stored"])
    assert wait(waiter, "k2", lambda: next(polls), clock.now + 60, sleep=sleep, clock=clock) == (
        "stored"
    )
    lease.release()


def test_a_file_store_leases_with_lock_files(tmp_path):
    store = open_object_store((tmp_path / "bucket").as_uri())
    leases = store.leases()
    assert isinstance(leases, FileLeases)
    held = leases.try_acquire("k")
    assert held is not None and leases.try_acquire("k") is None
    assert list(store.list_keys("")) == []
    held.release()


def test_memory_and_s3_stores_lease_with_objects(store):
    assert isinstance(store.leases(), ObjectLeases)
