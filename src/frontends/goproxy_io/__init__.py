"""goproxy_io: the I/O every goproxy server shares.

* :mod:`goproxy_io.upstream`: fetching from upstreams (httpx for http(s), and file:// trees).
* :mod:`goproxy_io.vcs`: direct mode, answering from git repositories.
* :mod:`goproxy_io.flights`: single-flight for concurrent misses.
* :mod:`goproxy_io.effects`: carrying out the core's store and upstream effects, async
  (trio or asyncio, through anyio) or blocking.
"""

from __future__ import annotations

from .access import log_exchanges
from .effects import SMALL_BLOB, AsyncEffects, Memo, Pending, SyncEffects, read_blob_whole
from .upstream import (
    AsyncFetcher,
    AsyncRelay,
    Fetcher,
    FetchSettings,
    Relay,
    default_vcs_dir,
    fetch_file,
)

__all__ = [
    "SMALL_BLOB",
    "AsyncEffects",
    "AsyncFetcher",
    "AsyncRelay",
    "FetchSettings",
    "Fetcher",
    "Memo",
    "Pending",
    "Relay",
    "SyncEffects",
    "default_vcs_dir",
    "fetch_file",
    "log_exchanges",
    "read_blob_whole",
]
