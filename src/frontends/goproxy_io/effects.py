"""Carrying out the core's store and upstream effects; servers only move client bytes.

``perform(effect)`` returns the result the core expects for a ``StatBlob``, ``ReadBlob``,
``SaveBlob``, ``FetchUpstream``, ``CommitBlob`` or ``AbortBlob``. Store calls never raise into
a connection (an I/O failure counts as absent or not saved, and is logged); pending writes
are tracked per connection in a :class:`Pending`, and aborted if the connection ends first.
Concurrent misses for one upstream file share one fetch (:mod:`goproxy_io.flights`).

:class:`AsyncEffects` runs under trio or asyncio (anyio picks the running library), with
store calls in worker threads; :class:`SyncEffects` is its blocking twin for threads.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from goproxy_core import (
    AbortBlob,
    BlobData,
    CommitBlob,
    FetchUpstream,
    ReadBlob,
    SaveBlob,
    StatBlob,
    UpstreamResult,
)
from goproxy_stores import ops

from .flights import Flight, Flights

if TYPE_CHECKING:
    from goproxy_core import BlobInfo
    from goproxy_core.storage import BlobStore, BlobWriter

    from .upstream import AsyncFetcher, AsyncRelay, Fetcher, Relay

__all__ = ["SMALL_BLOB", "AsyncEffects", "Memo", "Pending", "SyncEffects", "read_blob_whole"]

SMALL_BLOB = 64 * 1024
"""Blobs up to this size (small zips) are sent from memory once read (:func:`read_blob_whole`)."""


def read_blob_whole(store: BlobStore, key: str, size: int, memo: Memo) -> bytes | None:
    """A small immutable blob (a ``SendBlob`` of at most :data:`SMALL_BLOB` bytes), read whole.

    Kept in ``memo``, so the next request for it is sent from memory with no thread hop and
    no system call but the send. None if it is gone or not ``size`` bytes long.
    """
    try:
        f = store.open(key)
        if f is None:
            return None
        with f:
            data = f.read(size + 1)
    except OSError:
        return None
    if len(data) != size:
        return None
    memo.put(key, BlobData(data, 0.0))
    return data


class Memo:
    """Small immutable blobs kept in memory, least recently used first out.

    Only blobs the core marks immutable (``ReadBlob.immutable``) come here, so an entry is
    never stale; a hit answers without a worker thread or a system call.

    Args:
        max_bytes: the most bytes kept.
        max_item: larger blobs are not kept.
    """

    def __init__(self, max_bytes: int = 32 << 20, max_item: int = 256 << 10) -> None:
        self.max_bytes = max_bytes
        self.max_item = max_item
        self._items: collections.OrderedDict[str, BlobData] = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> BlobData | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def blob(self, key: str, size: int) -> bytes | None:
        """A kept blob's bytes if they are exactly ``size`` long (a ``SendBlob`` from memory)."""
        item = self.get(key) if size <= SMALL_BLOB else None
        return item.data if item is not None and len(item.data) == size else None

    def put(self, key: str, item: BlobData | None) -> None:
        if item is None or len(item.data) > self.max_item:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.data)
            self._items[key] = item
            self._size += len(item.data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.data)


class Pending:
    """The pending store writes of one connection, with the flights they lead."""

    def __init__(self) -> None:
        self.writes: dict[str, tuple[BlobWriter, FetchUpstream, Flight[Any] | None]] = {}

    def add(self, key: str, writer: BlobWriter, effect: FetchUpstream, flight: Any) -> None:
        self.writes[key] = (writer, effect, flight)

    def pop(self, key: str) -> tuple[BlobWriter, FetchUpstream, Flight[Any] | None]:
        return self.writes.pop(key)


class _Base:
    def __init__(self, store: BlobStore, flights: Flights[Any], memo: Memo | None) -> None:
        self.store = store
        self.flights = flights
        self.memo = memo if memo is not None else Memo()

    def abandon(self, pending: Pending) -> None:
        """A connection ended with writes pending: discard them, release their followers."""
        for writer, effect, flight in pending.writes.values():
            with contextlib.suppress(OSError):
                writer.abort()
            if flight is not None:
                self.flights.finish(effect, flight)
        pending.writes.clear()

    def _commit(self, pending: Pending, key: str) -> BlobInfo | None:
        writer, effect, flight = pending.pop(key)
        info = ops.commit_or_none(writer, key)
        if flight is not None:
            self.flights.finish(effect, flight, info)
        return info

    def _abort(self, pending: Pending, key: str) -> None:
        writer, effect, flight = pending.pop(key)
        writer.abort()
        if flight is not None:
            self.flights.finish(effect, flight)


class AsyncEffects(_Base):
    """Store and upstream effects for trio or asyncio servers.

    Args:
        store: where blobs are kept.
        fetcher: upstream fetching.
    """

    def __init__(self, store: BlobStore, fetcher: AsyncFetcher, memo: Memo | None = None) -> None:
        super().__init__(store, Flights(anyio.Event), memo)
        self.fetcher = fetcher

    async def perform(
        self, effect: object, pending: Pending, relay: AsyncRelay | None = None
    ) -> object:
        """Carry out one store or upstream effect; returns the core's expected result."""
        run = anyio.to_thread.run_sync
        store = self.store
        if isinstance(effect, StatBlob):
            return await run(ops.stat, store, effect.key)
        if isinstance(effect, ReadBlob):
            if effect.immutable:
                hit = self.memo.get(effect.key)
                if hit is None:
                    hit = await run(ops.read_small, store, effect.key, effect.max_size)
                    self.memo.put(effect.key, hit)
                return hit
            return await run(ops.read_small, store, effect.key, effect.max_size)
        if isinstance(effect, SaveBlob):
            return await run(ops.save, store, effect.key, effect.data)
        if isinstance(effect, FetchUpstream):
            return await self._fetch(effect, pending, relay)
        # Flights are finished here, on the event loop: their events are not thread-safe.
        if isinstance(effect, CommitBlob):
            writer, fetch, flight = pending.pop(effect.key)
            info = await run(ops.commit_or_none, writer, effect.key)
            if flight is not None:
                self.flights.finish(fetch, flight, info)
            return info
        if isinstance(effect, AbortBlob):
            writer, fetch, flight = pending.pop(effect.key)
            await run(writer.abort)
            if flight is not None:
                self.flights.finish(fetch, flight)
            return None
        raise TypeError(f"not a store or upstream effect: {effect!r}")

    async def _fetch(
        self, effect: FetchUpstream, pending: Pending, relay: AsyncRelay | None
    ) -> UpstreamResult:
        flight: Flight[anyio.Event] | None
        flight, leader = self.flights.lead_or_follow(effect)
        if not leader:
            await flight.done.wait()
            shared = flight.follower_result()
            if shared is not None:
                return shared
            flight = None  # the leader's blob was refused or lost: fetch for ourselves
        elif effect.into is not None:
            # Led just after another flight landed: the blob may be stored already.
            stored = await anyio.to_thread.run_sync(ops.stat, self.store, effect.into)
            if stored is not None:
                self.flights.finish(effect, flight, stored)
                return UpstreamResult(status=200, stored=stored)
        try:
            result, writer = await self.fetcher.fetch(
                effect, self.store, anyio.to_thread.run_sync, anyio.sleep, relay
            )
        except BaseException:
            if flight is not None:
                self.flights.finish(effect, flight)
            raise
        if writer is not None:
            pending.add(effect.into or "", writer, effect, flight)  # ends at commit or abort
        elif flight is not None:
            self.flights.landed(effect, flight, result)
        return result


class SyncEffects(_Base):
    """Store and upstream effects for servers with a thread per connection.

    Args:
        store: where blobs are kept.
        fetcher: upstream fetching.
    """

    def __init__(self, store: BlobStore, fetcher: Fetcher, memo: Memo | None = None) -> None:
        super().__init__(store, Flights(threading.Event), memo)
        self.fetcher = fetcher

    def perform(self, effect: object, pending: Pending, relay: Relay | None = None) -> object:
        """Carry out one store or upstream effect; returns the core's expected result."""
        store = self.store
        if isinstance(effect, StatBlob):
            return ops.stat(store, effect.key)
        if isinstance(effect, ReadBlob):
            if effect.immutable:
                hit = self.memo.get(effect.key)
                if hit is None:
                    hit = ops.read_small(store, effect.key, effect.max_size)
                    self.memo.put(effect.key, hit)
                return hit
            return ops.read_small(store, effect.key, effect.max_size)
        if isinstance(effect, SaveBlob):
            return ops.save(store, effect.key, effect.data)
        if isinstance(effect, FetchUpstream):
            return self._fetch(effect, pending, relay)
        if isinstance(effect, CommitBlob):
            return self._commit(pending, effect.key)
        if isinstance(effect, AbortBlob):
            self._abort(pending, effect.key)
            return None
        raise TypeError(f"not a store or upstream effect: {effect!r}")

    def _fetch(
        self, effect: FetchUpstream, pending: Pending, relay: Relay | None
    ) -> UpstreamResult:
        flight: Flight[threading.Event] | None
        flight, leader = self.flights.lead_or_follow(effect)
        if not leader:
            flight.done.wait()
            shared = flight.follower_result()
            if shared is not None:
                return shared
            flight = None  # the leader's blob was refused or lost: fetch for ourselves
        elif effect.into is not None:
            stored = ops.stat(self.store, effect.into)
            if stored is not None:
                self.flights.finish(effect, flight, stored)
                return UpstreamResult(status=200, stored=stored)
        try:
            result, writer = self.fetcher.fetch(effect, self.store, relay)
        except BaseException:
            if flight is not None:
                self.flights.finish(effect, flight)
            raise
        if writer is not None:
            pending.add(effect.into or "", writer, effect, flight)
        elif flight is not None:
            self.flights.landed(effect, flight, result)
        return result
