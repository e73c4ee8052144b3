"""The access record of an exchange that an ASGI or WSGI server parsed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goproxy_core import AccessRecord

if TYPE_CHECKING:
    from goproxy_core import Reply

__all__ = ["app_record"]


def app_record(
    method: bytes,
    target: bytes,
    status: int,
    body: bool,
    reply: Reply,
    started: float,
    now: float,
    request_id: bytes,
) -> AccessRecord:
    """The access record of an exchange an ASGI or WSGI server parsed (as the core's)."""
    return AccessRecord(
        method=method.decode("ascii", "replace"),
        target=target.decode("ascii", "replace"),
        status=status,
        length=reply.length if body else 0,
        cache_status=reply.cache_status,
        started=started,
        time=now,
        alarm=reply.alarm,
        request_id=request_id.decode("ascii"),
        upstream=reply.upstream,
        token=reply.token,
        audit=reply.audit,
    )
