"""The access log: one line per finished exchange, the same for every server."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goproxy_core import ProxyConnection

__all__ = ["log_exchanges"]

access_log = logging.getLogger("goproxy.access")


def log_exchanges(conn: ProxyConnection) -> None:
    """Log the exchanges ``conn`` finished since the last call.

    Fields: method, target, status, body bytes, ``Cache-Status``, milliseconds from the
    request head to the response decided.
    """
    for rec in conn.take_log():
        access_log.info(
            "%s %s %d %d %s %.1fms",
            rec.method,
            rec.target,
            rec.status,
            rec.length,
            rec.cache_status or "-",
            (time.monotonic() - rec.started) * 1000,
        )
