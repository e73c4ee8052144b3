"""Single-flight bookkeeping: concurrent requests for one upstream file share one fetch.

The first request for a (source, pending-write) pair leads: it fetches, and its flight ends when
its small body is in hand, or, for a streamed blob, when the core commits or aborts the write.
Followers wait for the flight's event, then take the leader's small body (bytes are immutable),
or the leader's committed blob from the store (each follower opens its own reader): they never
share one stream. If the leader's blob was refused for bad data (``AbortBlob.refused``),
followers share that refusal rather than fetch the same bad blob again; if it was dropped for
any other reason (the store failed, the checksum database could not be asked), they fetch for
themselves.

A failed fetch (an upstream error, or a blob refused for bad data) lingers for ``linger``
seconds after it lands: a request arriving in that moment takes the same failure instead of
fetching again. The core remembers failures in the store for ``failure_ttl`` (every process
shares that), but only once the leader's flow has run on; the linger covers the gap between a
flight's end and that save. Servers set it to a second at most, and to 0 when
``failure_ttl`` is 0, so "off" means off.

A fetched ``.info`` or ``.mod`` of a canonical version (``immutable``) is kept ``keep`` seconds
(5) after it lands, within ``KEEP_BYTES`` in all: the leader's flow still checks it against
the checksum database and stores it then, and a request arriving in that moment (the go
command, or a prefetch of the same file) is handed the same body rather than fetching it
again. Each request's flow validates what it is handed, as a follower's does.

Every server carries out fetches on threads (:mod:`goproxy_io.executor`), so a follower
waits on a ``threading.Event``.
"""

from __future__ import annotations

import threading
import time
from typing import TypeAlias

from goproxy_core import BlobInfo, FetchDirect, FetchUpstream, UpstreamResult

__all__ = ["KEEP_BYTES", "Fetch", "Flight", "Flights"]

KEEP_BYTES = 32 * 1024 * 1024
"""The most bytes of landed immutable bodies :class:`Flights` keeps for late requests."""

Fetch: TypeAlias = FetchUpstream | FetchDirect
"""The effects that fetch from an upstream or a repository."""


def _key(effect: Fetch) -> tuple[str, str, str | None]:
    if isinstance(effect, FetchDirect):
        return ("direct", f"{effect.module}@{effect.file}", effect.into)
    return ("proxy", effect.url, effect.into)


class Flight:
    """One fetch in progress, and what its followers will get."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: UpstreamResult | None = None
        self.stored: BlobInfo | None = None
        self.refused = ""

    def follower_result(self) -> UpstreamResult | None:
        """What a follower answers the core once ``done`` is set; None: fetch yourself."""
        if self.stored is not None:
            return UpstreamResult(status=200, stored=self.stored)
        if self.refused:
            return UpstreamResult(status=200, refused=self.refused)
        return self.result


class Flights:
    """The flights in progress, keyed by what is fetched and its pending-write key."""

    def __init__(self) -> None:
        self._flights: dict[tuple[str, str, str | None], Flight] = {}
        self._lock = threading.Lock()
        self.linger = 0.0
        """Seconds a landed failure is shared with requests arriving after its flight."""
        self.keep = 5.0
        """Seconds a landed immutable body is handed to requests arriving after its flight."""
        self._failed: dict[tuple[str, str, str | None], tuple[Flight, float]] = {}
        self._kept: dict[tuple[str, str, str | None], tuple[Flight, float]] = {}
        self._kept_bytes = 0

    def lead_or_follow(self, effect: Fetch) -> tuple[Flight, bool]:
        """The flight for ``effect``, and whether the caller leads it."""
        key = _key(effect)
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            failed = self._failed.get(key)
            if failed is not None:
                if time.monotonic() < failed[1]:
                    return failed[0], False
                del self._failed[key]
            kept = self._kept.get(key)
            if kept is not None:
                if time.monotonic() < kept[1]:
                    return kept[0], False
                self._forget(key)
            flight = self._flights[key] = Flight()
            return flight, True

    def landed(self, effect: Fetch, flight: Flight, result: UpstreamResult) -> None:
        """The leader's fetch ended without a pending write: share its result."""
        if effect.into is None or result.status != 200:
            flight.result = result
        if effect.immutable and effect.into is None and result.status == 200 and self.keep > 0:
            self._keep(effect, flight, len(result.body))
        self.finish(effect, flight)

    def _keep(self, effect: Fetch, flight: Flight, size: int) -> None:
        if size > KEEP_BYTES // 4:
            return
        key = _key(effect)
        with self._lock:
            now = time.monotonic()
            # Kept in the order they landed, each for ``keep``: the expired ones come first.
            while self._kept and next(iter(self._kept.values()))[1] <= now:
                self._forget(next(iter(self._kept)))
            while self._kept and self._kept_bytes + size > KEEP_BYTES:
                self._forget(next(iter(self._kept)))  # the oldest first
            self._forget(key)
            self._kept[key] = (flight, now + self.keep)
            self._kept_bytes += size

    def _forget(self, key: tuple[str, str, str | None]) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None and kept[0].result is not None:
            self._kept_bytes -= len(kept[0].result.body)

    def finish(
        self, effect: Fetch, flight: Flight, stored: BlobInfo | None = None, refused: str = ""
    ) -> None:
        """End the flight (after commit, with ``stored``; after abort, with why if refused)."""
        if stored is not None:
            flight.stored = stored
        flight.refused = refused
        failure = bool(refused) or (
            flight.stored is None
            and flight.result is not None
            and flight.result.status not in (200, 404, 410)
        )
        with self._lock:
            key = _key(effect)
            if self._flights.get(key) is flight:
                del self._flights[key]
            if failure and self.linger > 0:
                now = time.monotonic()
                if len(self._failed) >= 1024:
                    self._failed = {k: v for k, v in self._failed.items() if v[1] > now}
                self._failed[key] = (flight, now + self.linger)
        flight.done.set()
