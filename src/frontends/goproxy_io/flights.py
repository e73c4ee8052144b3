"""Single-flight bookkeeping: concurrent requests for one upstream file share one fetch.

The first request for a (source, pending-write) pair leads: it fetches, and its flight ends when
its small body is in hand, or, for a streamed blob, when the core commits or aborts the write.
Followers wait for the flight's event, then take the leader's small body (bytes are immutable),
or the leader's committed blob from the store (each follower opens its own reader): they never
share one stream. If the leader's blob was refused for bad data (``AbortBlob.refused``),
followers share that refusal rather than fetch the same bad blob again; if it was dropped for
any other reason (the store failed, the checksum database could not be asked), they fetch for
themselves.

Every server carries out fetches on threads (:mod:`goproxy_io.executor`), so a follower
waits on a ``threading.Event``.
"""

from __future__ import annotations

import threading
from typing import TypeAlias

from goproxy_core import BlobInfo, FetchDirect, FetchUpstream, UpstreamResult

__all__ = ["Fetch", "Flight", "Flights"]

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

    def lead_or_follow(self, effect: Fetch) -> tuple[Flight, bool]:
        """The flight for ``effect``, and whether the caller leads it."""
        key = _key(effect)
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def landed(self, effect: Fetch, flight: Flight, result: UpstreamResult) -> None:
        """The leader's fetch ended without a pending write: share its result."""
        if effect.into is None or result.status != 200:
            flight.result = result
        self.finish(effect, flight)

    def finish(
        self, effect: Fetch, flight: Flight, stored: BlobInfo | None = None, refused: str = ""
    ) -> None:
        """End the flight (after commit, with ``stored``; after abort, with why if refused)."""
        if stored is not None:
            flight.stored = stored
        flight.refused = refused
        with self._lock:
            key = _key(effect)
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()
