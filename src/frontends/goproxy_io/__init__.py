"""goproxy_io: the I/O every goproxy server shares.

* :mod:`goproxy_io.executor`: carrying out the core's store, upstream and check effects, one
  blocking implementation for every server (async ones run it in worker threads).
* :mod:`goproxy_io.server`: the server base: settings, listeners, signals, draining.
* :mod:`goproxy_io.upstream`: fetching from upstreams (httpx for http(s), and file:// trees).
* :mod:`goproxy_io.vcs`: direct mode, answering from git repositories.
* :mod:`goproxy_io.sumdb_log`: the log and signer key of the proxy's own checksum database;
  :mod:`goproxy_io.sumdb_objlog` the same in an object store; :mod:`goproxy_io.sumdb_base`
  what both share.
* :mod:`goproxy_io.flights`: single-flight for concurrent misses (across processes: the
  leases of :mod:`goproxy_stores.leases`).
* :mod:`goproxy_io.access`: the access log and the slow-request log.
* :mod:`goproxy_io.logs`: log formats (text, JSON lines) and the request id of log lines.
"""

from __future__ import annotations

from .access import log_access, log_alarm, log_exchanges, set_slow_request
from .executor import (
    MISS,
    SMALL_BLOB,
    AsyncExecutor,
    AsyncRelay,
    Executor,
    Memo,
    Pending,
    read_blob_whole,
)
from .logs import REQUEST_ID, configure_logging, new_id_prefix
from .sumdb_log import SumdbLog, SumdbLogs
from .upstream import Fetcher, FetchSettings, Relay, default_vcs_dir, fetch_file

__all__ = [
    "MISS",
    "REQUEST_ID",
    "SMALL_BLOB",
    "AsyncExecutor",
    "AsyncRelay",
    "Executor",
    "FetchSettings",
    "Fetcher",
    "Memo",
    "Pending",
    "Relay",
    "SumdbLog",
    "SumdbLogs",
    "configure_logging",
    "default_vcs_dir",
    "fetch_file",
    "log_access",
    "log_alarm",
    "log_exchanges",
    "new_id_prefix",
    "read_blob_whole",
    "set_slow_request",
]
