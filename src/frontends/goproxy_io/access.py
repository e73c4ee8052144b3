"""The access log: one line per finished exchange, the same for every server.

Also the slow-request log: an exchange that took longer than :func:`set_slow_request`'s
threshold (``slow-request``, 10 s by default) gets a WARNING line on ``goproxy.slow``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from goproxy_core import ProxyConnection, endpoint_of

from .logs import AccessLine, rfc3339

if TYPE_CHECKING:
    from collections.abc import Sequence

    from goproxy_core import AccessRecord, CompiledConfig, HotReplies, ProxyConfig, RequestIds
    from goproxy_core.proxy.auth import Keyring

__all__ = [
    "TrackedConnection",
    "UseSink",
    "log_access",
    "log_alarm",
    "log_exchanges",
    "set_slow_request",
    "slow_request",
]


class UseSink(Protocol):
    """What counts the finished exchanges of a server (the disk quota's last uses)."""

    def note(self, records: Sequence[AccessRecord]) -> None:
        """Take the records of finished exchanges (must be quick: no I/O)."""


class TrackedConnection(ProxyConnection):
    """A :class:`ProxyConnection` whose finished exchanges also go to ``uses``
    (:func:`log_exchanges` hands them over, whether or not the access log is on).

    ``client`` is the client's address, for the audit trail (:func:`log_access`)."""

    def __init__(
        self,
        config: ProxyConfig | CompiledConfig,
        *,
        hot: HotReplies | None = None,
        uses: UseSink | None = None,
        ids: RequestIds | None = None,
        keyring: Keyring | None = None,
        client: str = "",
    ) -> None:
        super().__init__(config, hot=hot, ids=ids, keyring=keyring)
        self.uses = uses
        self.client = client


access_log = logging.getLogger("goproxy.access")
audit_log = logging.getLogger("goproxy.audit")
integrity_log = logging.getLogger("goproxy.integrity")
slow_log = logging.getLogger("goproxy.slow")

_slow = 10.0  # seconds; 0: off


def set_slow_request(seconds: float) -> None:
    """Log exchanges that take longer than ``seconds`` on ``goproxy.slow`` (0: never)."""
    global _slow
    if seconds < 0:
        raise ValueError(f"slow-request must be 0 or more, got {seconds}")
    _slow = seconds


def slow_request() -> float:
    """The slow-request threshold in seconds (0: off)."""
    return _slow


def log_exchanges(conn: ProxyConnection) -> None:
    """Log the exchanges ``conn`` finished since the last call (see :func:`log_access`); each
    also feeds the server's metrics (a :class:`~goproxy_io.metrics.MeteredConnection`'s) and
    the disk quota's last uses, whether the access log is on or not."""
    records = conn.take_log()
    if records:
        if isinstance(conn, TrackedConnection) and conn.uses is not None:
            conn.uses.note(records)  # last uses for the disk quota
        metrics = getattr(conn, "metrics", None)
        base = conn.base_path
        client = conn.client if isinstance(conn, TrackedConnection) else ""
        for rec in records:
            if metrics is not None:
                metrics.exchange(rec)
            log_access(rec, base, client=client)


def log_access(
    rec: AccessRecord, base_path: str = "", now: float | None = None, *, client: str = ""
) -> None:
    """Log one finished exchange.

    Fields of the text line: method, target, status, body bytes, ``Cache-Status``,
    milliseconds from the request head to the response decided (``now``, on the monotonic
    clock: by default, this moment), ``id=`` the request id, and ``upstream=`` the upstream
    that answered a miss. An exchange with an alarm (a checksum database that forked) also
    gets an ERROR line on ``goproxy.integrity``; one slower than ``slow-request``, a WARNING
    line on ``goproxy.slow``. In JSON, the exchange's fields come with each of these lines.

    An audited exchange (``AccessRecord.audit``: a module matching ``private``, or a
    request with credentials) also gets an INFO line on ``goproxy.audit``, whether the access
    log is on or not: the token's name (``-`` for none), module, version, time, client address
    (``client``) and status. The token itself is never known here.
    """
    seconds = (time.monotonic() if now is None else now) - rec.started
    line: AccessLine | None = None
    if rec.audit and audit_log.isEnabledFor(logging.INFO):
        line = AccessLine(rec, base_path, seconds * 1000, client)
        ep = endpoint_of(rec.target, base_path)
        audit_log.info(
            "token=%s module=%s version=%s time=%s client=%s status=%d %s %s id=%s",
            rec.token or "-",
            ep.module or "-",
            ep.version or "-",
            rfc3339(rec.time),
            client or "-",
            rec.status,
            rec.method,
            rec.target,
            rec.request_id or "-",
            extra={"access": line, "request_id": rec.request_id},
        )
    if rec.alarm:
        line = line or AccessLine(rec, base_path, seconds * 1000, client)
        integrity_log.error(
            "%s %s: %s",
            rec.method,
            rec.target,
            rec.alarm,
            extra={"access": line, "request_id": rec.request_id},
        )
    if access_log.isEnabledFor(logging.INFO):
        line = line or AccessLine(rec, base_path, seconds * 1000, client)
        access_log.info(
            "%s %s %d %d %s %.1fms id=%s%s",
            rec.method,
            rec.target,
            rec.status,
            rec.length,
            rec.cache_status or "-",
            seconds * 1000,
            rec.request_id or "-",
            f" upstream={rec.upstream}" if rec.upstream else "",
            extra={"access": line, "request_id": rec.request_id},
        )
    if _slow and seconds > _slow:
        line = line or AccessLine(rec, base_path, seconds * 1000, client)
        slow_log.warning(
            "slow request %s: %s %s took %.1f s: status %d, cache %s, upstream %s",
            rec.request_id or "-",
            rec.method,
            rec.target,
            seconds,
            rec.status,
            rec.cache_status or "-",
            rec.upstream or "-",
            extra={"access": line, "request_id": rec.request_id},
        )


def log_alarm(method: str, target: str, alarm: str) -> None:
    """An ERROR line on ``goproxy.integrity`` for an answer with an alarm (a forked database)."""
    integrity_log.error("%s %s: %s", method, target, alarm)
