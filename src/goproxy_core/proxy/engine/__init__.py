"""The request engine: for one parsed request, which store and upstream I/O to do, and the answer.

Theory of operation: each request runs as a generator (a coroutine with no event loop). It
yields I/O effects (``StatBlob``, ``ReadBlob``, ``SaveBlob``, ``FetchUpstream``,
``FetchDirect``, ``CheckZip``, ``CommitBlob``, ``AbortBlob``), receives their results, and
finally returns a :class:`Reply`. The connection (:mod:`goproxy_core.proxy.connection`) drives
it and turns the reply into HTTP bytes, so the protocol decisions below exist once, whatever
server runs them.

The decisions, in order, for a module request:

1. Immutable content (a canonical version's ``.info``, ``.mod``, ``.zip``) is served from the
   store when present, never revalidated.
2. Mutable answers (``list``, ``@latest``, ``.info`` queries) are served from the store while
   fresh (``list_ttl``).
3. A remembered not-found (``negative_ttl``), or a remembered failed fetch (``failure_ttl``:
   an upstream's fault or bad data, never the store's), is answered without asking upstreams.
4. Otherwise the upstreams are asked in order with GOPROXY semantics: after ``,`` only a 404
   or 410 moves on; after ``|`` any failure does; ``off`` stops. Private modules skip every
   http(s) upstream. An upstream's 200 is validated before it is stored; invalid data counts
   as that upstream failing.
5. A mutable answer past its TTL but within ``max_stale`` more is served at once, stale (and
   says so), while the caller refreshes it in the background: the flow yields ``Revalidate``,
   and the caller runs :func:`handle_refresh` for it (stale-while-revalidate).
5b. A ``.mod`` fetched cold from an upstream proxy yields ``Prefetch`` for the ``.mod`` and
   ``.info`` of every version it requires; the caller runs :func:`handle_prefetch` for each
   in the background, so the go command's next wave of the module graph is stored
   (:mod:`.prefetch`).
6. When every upstream fails, a stale mutable answer is served (and says so); otherwise the
   most useful failure is answered: a fault (403 veto, 5xx, timeout, bad data) over a
   not-found, as the go command ranks them.

The flows live where their part of the protocol does: :mod:`.walk` (the upstream walk and
caching), :mod:`.versions` (lists, ``@latest``, retractions), :mod:`.files` (version files and
queries), :mod:`.sumdb` (checksum databases relayed), :mod:`.ownsumdb` (the proxy's own
checksum database), :mod:`.health` (health, metrics and the index), :mod:`.offline` (lists,
``@latest`` and checksum databases answered from the cache alone, when offline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ..catalog import PageContext
from ..effects import IOEffect, PrefetchOutcome
from ..replies import Reply
from ..targets import (
    CatalogReq,
    FileKind,
    HealthReq,
    IndexReq,
    LatestReq,
    ListReq,
    MetricsReq,
    ModulePageReq,
    SumdbReq,
    VersionReq,
)
from .catalog import CatalogFlow
from .files import FilesFlow
from .health import HealthFlow
from .ownsumdb import OwnSumdbFlow
from .sumdb import SumdbFlow
from .walk import http_date, relayed_zip_reply

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import CompiledConfig
    from ..targets import Request
    from .walk import Flow

__all__ = [
    "IOEffect",
    "handle_prefetch",
    "handle_refresh",
    "handle_request",
    "http_date",
    "relayed_zip_reply",
]


class _RequestFlow(OwnSumdbFlow, FilesFlow, SumdbFlow, HealthFlow, CatalogFlow):
    """Every flow, for one request."""


def handle_request(
    cfg: CompiledConfig,
    req: Request,
    now: float,
    *,
    relay: bool = False,
    page: PageContext | None = None,
    readable: Callable[[str], bool] | None = None,
) -> Flow[Reply]:
    """Run one request to its reply.

    Args:
        cfg: the compiled configuration.
        req: the parsed request.
        now: the current time, seconds since the epoch.
        relay: a zip fetched from upstream may be streamed to the client as it arrives
            (a GET, not a HEAD).
        page: for the index and the catalog pages, how the client reached the proxy and
            whether it wants HTML (``catalog.page_context`` of its headers).
        readable: which modules the client may read (``auth.may_read``): the catalog's
            listings show only those; None: every module.

    Returns:
        A generator that yields I/O effects, takes their results through ``send`` and returns
        the :class:`Reply`.
    """
    flow = _RequestFlow(cfg, now, relay)
    flow.readable = readable
    reply = yield from _dispatch(flow, req, page)
    if flow.source and not reply.upstream:
        # The upstream whose 200 the walk took (``FlowBase.source``), for the access log.
        reply = msgspec.structs.replace(reply, upstream=flow.source)
    return reply


def _dispatch(flow: _RequestFlow, req: Request, page: PageContext | None) -> Flow[Reply]:
    if isinstance(req, VersionReq):
        if req.canonical:
            return (yield from flow.version(req))
        return (yield from flow.query(req))
    if isinstance(req, ListReq):
        return (yield from flow.list_(req))
    if isinstance(req, LatestReq):
        return (yield from flow.latest(req))
    if isinstance(req, SumdbReq):
        if req.name == flow.cfg.config.own_sumdb:
            return (yield from flow.own_sumdb(req))
        return (yield from flow.sumdb(req))
    if isinstance(req, HealthReq):
        return (yield from flow.health(req))
    page = page or PageContext()
    if isinstance(req, CatalogReq):
        return (yield from flow.catalog(req))
    if isinstance(req, ModulePageReq):
        return (yield from flow.module_page(req, page))
    if isinstance(req, MetricsReq):
        return (yield from flow.metrics())
    assert isinstance(req, IndexReq)
    if page.html:
        return (yield from flow.index_page(page))
    return flow.index()


def handle_refresh(cfg: CompiledConfig, req: Request, now: float) -> Flow[str]:
    """Refresh one stored mutable answer from the upstreams: the flow behind ``Revalidate``.

    The upstreams are asked for ``req``'s answer (a list, ``@latest``, or an ``.info``
    query) whatever its age, and a good answer is stored as a request's would be; no reply
    goes anywhere. When every upstream fails, nothing is stored: the old answer keeps its bytes
    and its time stamp (so it still turns too old at ``max_stale``), and no not-found is
    remembered.

    Returns:
        A generator of I/O effects returning "" once the new answer is stored, else why not
        (one line, for the log).
    """
    flow = _RequestFlow(cfg, now, False)
    flow.refreshing = True
    got: tuple[bytes, str, bool, int] | Reply
    if isinstance(req, ListReq):
        got = yield from flow.list_answer(req.module, req.escaped)
    elif isinstance(req, LatestReq):
        got = yield from flow.upstream_latest(req)
    elif isinstance(req, VersionReq) and not req.canonical:
        got = yield from flow.query(req)
    else:
        return f"not a list, @latest or query: {req!r}"
    if isinstance(got, Reply):
        if got.status != 200:
            return " ".join(got.body.decode("utf-8", "replace").split())
        status = got.cache_status
    else:
        status = got[1]
    return "" if status.endswith("stored") else "the cache failed to store it"


def handle_prefetch(
    cfg: CompiledConfig, req: VersionReq, now: float, depth: int
) -> Flow[PrefetchOutcome]:
    """Fetch one file a ``Prefetch`` names, as a client's request would: the flow behind it.

    ``req`` is a canonical ``.mod`` or ``.info``; ``depth`` the ``Prefetch``'s. The file is
    served from the store if there, else fetched from the upstream proxies only (the walk ends
    at ``direct``), verified against the checksum database and stored as for a client; a
    failure is not remembered. A ``.mod`` that was a miss and does not prune the module graph
    yields the next ``Prefetch`` (one hop deeper, within ``MAX_PREFETCH_DEPTH``).
    """
    flow = _RequestFlow(cfg, now, False)
    flow.prefetching = depth
    flow.proxies_only = True
    if req.kind is FileKind.ZIP or not req.canonical:
        return PrefetchOutcome(error=f"not a canonical .mod or .info: {req!r}")
    return (yield from flow.prefetched(req))
