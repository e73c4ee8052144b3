"""One request, independent of how it arrived: checks, the engine's flow, the response head.

``ProxyConnection`` uses this for requests it parsed with h11; the ASGI and WSGI adapters use
it for requests their server parsed. Either way the same decisions are made: request limits,
methods, target parsing, the engine, conditional requests, HEAD, and the response headers.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import msgspec

from ..errors import ProxyError
from .auth import Caller, audited, authorize, authorize_admin, identify, may_read
from .catalog import page_context
from .engine import IOEffect, handle_request, http_date
from .replies import REASONS, Reply, error_reply, error_status, max_age, text_reply
from .targets import CatalogReq, IndexReq, ModulePageReq, parse_target
from .warm import admin_warm_flow, admin_warm_target

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from .auth import Keyring
    from .config import CompiledConfig
    from .targets import Request

__all__ = ["MAX_HEADERS", "MAX_TARGET", "ResponseHead", "request_flow", "response_head"]

# Module paths and versions are short; the go command never sends a target near this.
MAX_TARGET = 4096
MAX_HEADERS = 100
_SERVER = b"goproxy-core"


class ResponseHead(msgspec.Struct, frozen=True):
    """The status line and headers to send, and whether a body follows.

    Attributes:
        status: the status code (200 may have become 304).
        reason: the reason phrase.
        headers: lower-case names and values.
        body: whether to send the reply's body (not for HEAD or 304).
    """

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bool


def request_flow(
    cfg: CompiledConfig,
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    now: float,
    *,
    relay: bool = False,
    body: bytes | None = None,
    keyring: Keyring | None = None,
    caller: Caller | None = None,
) -> Generator[IOEffect, object, Reply]:
    """Decide one request: a generator of store and upstream effects returning the reply.

    Args:
        cfg: the compiled configuration.
        method: the request method.
        target: the request target as sent.
        headers: the request headers (lower-case names).
        now: the current time, seconds since the epoch (also the clock tokens expire on).
        relay: the caller can relay a zip as it is fetched (``FetchUpstream.relay``).
        body: the request body, read only for ``POST /admin/warm`` (``admin_warm_target``)
            and at most ``MAX_WARM_BODY`` bytes of it; None when it was longer.
        keyring: the tokens the caller accepts (:class:`~goproxy_core.proxy.auth.Keyring`);
            None: none. Who may read what is decided before anything is looked up
            (:func:`~goproxy_core.proxy.auth.authorize`); the reply carries the token's name
            and whether the exchange is audited (``Reply.token``, ``Reply.audit``).
        caller: who asks, when the caller knows without headers (``auth.INTERNAL`` for the
            proxy's own tools, ``goproxy verify --repair``); None: from ``headers``.
    """
    if len(target) > MAX_TARGET:
        return text_reply(414, "request target too long")
    head_size = sum(len(n) + len(v) + 4 for n, v in headers)
    if len(headers) > MAX_HEADERS or head_size > cfg.config.max_request_head:
        return text_reply(431, "request header fields too large")
    if caller is None:
        caller = identify(keyring, headers, now)
    req: Request | None = None
    if admin_warm_target(target, cfg.base_path):
        refused = authorize_admin(caller, "warm") if cfg.config.admin_warm else None
        reply = refused or (yield from admin_warm_flow(cfg, method, body))
        return _stamped(cfg, caller, None, reply)
    if method not in (b"GET", b"HEAD"):
        reply = text_reply(405, f"method {method.decode('ascii', 'replace')} not allowed: use GET")
        return msgspec.structs.replace(reply, allow="GET, HEAD")
    try:
        req = parse_target(target, cfg.base_path)
    except ProxyError as e:
        cc = max_age(3600) if error_status(e) == 404 else "no-store"
        return _stamped(cfg, caller, None, error_reply(e, cache_control=cc))
    refused = authorize(cfg, caller, req)
    if refused is not None:
        return _stamped(cfg, caller, req, refused)
    page = None
    readable = None
    if isinstance(req, (IndexReq, ModulePageReq, CatalogReq)):
        page = page_context(headers)
        readable = functools.partial(may_read, cfg, caller)
    try:
        reply = yield from handle_request(
            cfg,
            req,
            now,
            relay=relay and method == b"GET",
            page=page,
            readable=readable,
        )
    except ProxyError as e:
        reply = error_reply(e)
    return _stamped(cfg, caller, req, reply)


def _stamped(cfg: CompiledConfig, caller: Caller, req: Request | None, reply: Reply) -> Reply:
    """``reply`` with the token's name and the audit mark, when the exchange is audited."""
    if audited(cfg, caller, req):
        return msgspec.structs.replace(reply, token=caller.name, audit=True)
    return reply


def response_head(
    reply: Reply,
    *,
    method: bytes,
    if_none_match: bytes,
    now: float,
    closing: bool = False,
    request_id: bytes = b"",
) -> ResponseHead:
    """The response head for ``reply``: conditional requests, HEAD, caching headers.

    ``request_id`` (see :mod:`~goproxy_core.proxy.requestid`), when given, goes out as
    ``X-Request-Id`` right after ``Date`` (``HotReplies`` cuts the head there).
    """
    status = reply.status
    body = method != b"HEAD"
    if (
        status == 200
        and reply.etag
        and if_none_match
        and reply.etag.encode() in [t.strip() for t in if_none_match.split(b",")]
    ):
        status = 304
        body = False
    headers: list[tuple[bytes, bytes]] = [(b"content-type", reply.content_type.encode())]
    if status != 304:
        headers.append((b"content-length", str(reply.length).encode()))
    headers += [
        (b"cache-control", reply.cache_control.encode()),
        (b"date", http_date(now).encode()),
    ]
    if request_id:
        headers.append((b"x-request-id", request_id))
    headers.append((b"server", _SERVER))
    if reply.etag:
        headers.append((b"etag", reply.etag.encode()))
    if reply.cache_status:
        headers.append((b"cache-status", reply.cache_status.encode()))
    if reply.stale:
        headers.append((b"warning", b'110 - "Response is Stale"'))
    if reply.allow:
        headers.append((b"allow", reply.allow.encode()))
    for name, value in reply.headers:
        headers.append((name.encode(), value.encode()))
    if closing:
        headers.append((b"connection", b"close"))
    return ResponseHead(status, REASONS.get(status, "").encode(), headers, body)
