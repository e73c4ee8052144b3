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
5. When every upstream fails, a stale mutable answer is served (and says so); otherwise the
   most useful failure is answered: a fault (403 veto, 5xx, timeout, bad data) over a
   not-found, as the go command ranks them.

The flows live where their part of the protocol does: :mod:`.walk` (the upstream walk and
caching), :mod:`.versions` (lists, ``@latest``, retractions), :mod:`.files` (version files and
queries), :mod:`.sumdb` (checksum databases relayed), :mod:`.ownsumdb` (the proxy's own
checksum database), :mod:`.health` (health and the index).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..effects import IOEffect
from ..targets import HealthReq, IndexReq, LatestReq, ListReq, SumdbReq, VersionReq
from .files import FilesFlow
from .health import HealthFlow
from .ownsumdb import OwnSumdbFlow
from .sumdb import SumdbFlow
from .walk import http_date, relayed_zip_reply

if TYPE_CHECKING:
    from ..config import CompiledConfig
    from ..replies import Reply
    from ..targets import Request
    from .walk import Flow

__all__ = ["IOEffect", "handle_request", "http_date", "relayed_zip_reply"]


class _RequestFlow(OwnSumdbFlow, FilesFlow, SumdbFlow, HealthFlow):
    """Every flow, for one request."""


def handle_request(
    cfg: CompiledConfig, req: Request, now: float, *, relay: bool = False
) -> Flow[Reply]:
    """Run one request to its reply.

    Args:
        cfg: the compiled configuration.
        req: the parsed request.
        now: the current time, seconds since the epoch.
        relay: a zip fetched from upstream may be streamed to the client as it arrives
            (a GET, not a HEAD).

    Returns:
        A generator that yields I/O effects, takes their results through ``send`` and returns
        the :class:`Reply`.
    """
    flow = _RequestFlow(cfg, now, relay)
    if isinstance(req, VersionReq):
        if req.canonical:
            return (yield from flow.version(req))
        return (yield from flow.query(req))
    if isinstance(req, ListReq):
        return (yield from flow.list_(req))
    if isinstance(req, LatestReq):
        return (yield from flow.latest(req))
    if isinstance(req, SumdbReq):
        if req.name == cfg.config.own_sumdb:
            return (yield from flow.own_sumdb(req))
        return (yield from flow.sumdb(req))
    if isinstance(req, HealthReq):
        return (yield from flow.health(req))
    assert isinstance(req, IndexReq)
    return flow.index()
