"""The access log: one line per finished exchange, the same for every server."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from goproxy_core import ProxyConnection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from goproxy_core import AccessRecord, CompiledConfig, HotReplies, ProxyConfig

__all__ = ["TrackedConnection", "UseSink", "log_alarm", "log_exchanges"]


class UseSink(Protocol):
    """What counts the finished exchanges of a server (the disk quota's last uses)."""

    def note(self, records: Sequence[AccessRecord]) -> None:
        """Take the records of finished exchanges (must be quick: no I/O)."""


class TrackedConnection(ProxyConnection):
    """A :class:`ProxyConnection` whose finished exchanges also go to ``uses``
    (:func:`log_exchanges` hands them over, whether or not the access log is on)."""

    def __init__(
        self,
        config: ProxyConfig | CompiledConfig,
        *,
        hot: HotReplies | None = None,
        uses: UseSink | None = None,
    ) -> None:
        super().__init__(config, hot=hot)
        self.uses = uses


access_log = logging.getLogger("goproxy.access")
integrity_log = logging.getLogger("goproxy.integrity")


def log_exchanges(conn: ProxyConnection) -> None:
    """Log the exchanges ``conn`` finished since the last call.

    Fields: method, target, status, body bytes, ``Cache-Status``, milliseconds from the
    request head to the response decided. An exchange with an alarm (a checksum database
    that forked) also gets an ERROR line on ``goproxy.integrity``. Each exchange also feeds
    the server's metrics (a :class:`~goproxy_io.metrics.MeteredConnection`'s), whether the
    access log is on or not.
    """
    records = conn.take_log()
    if records and isinstance(conn, TrackedConnection) and conn.uses is not None:
        conn.uses.note(records)  # last uses for the disk quota
    metrics = getattr(conn, "metrics", None)
    for rec in records:
        if metrics is not None:
            metrics.exchange(rec)
        if rec.alarm:
            log_alarm(rec.method, rec.target, rec.alarm)
        access_log.info(
            "%s %s %d %d %s %.1fms",
            rec.method,
            rec.target,
            rec.status,
            rec.length,
            rec.cache_status or "-",
            (time.monotonic() - rec.started) * 1000,
        )


def log_alarm(method: str, target: str, alarm: str) -> None:
    """An ERROR line on ``goproxy.integrity`` for an answer with an alarm (a forked database)."""
    integrity_log.error("%s %s: %s", method, target, alarm)
