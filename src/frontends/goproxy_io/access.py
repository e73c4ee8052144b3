"""The access log: one line per finished exchange, the same for every server."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goproxy_core import ProxyConnection

__all__ = ["log_alarm", "log_exchanges"]

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
    metrics = getattr(conn, "metrics", None)
    for rec in conn.take_log():
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
