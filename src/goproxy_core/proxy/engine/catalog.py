"""The catalog's flows: the index page for browsers, a page per module, ``/catalog`` JSON.

Each asks its caller once what the cache holds (``ReadCatalog``) and renders the answer
(:mod:`goproxy_core.proxy.catalog`); a module page also reads the stored go.mod of the
module's highest stored version (``ReadBlob``) for its retractions and deprecation. Nothing
here asks an upstream: the catalog shows the cache as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ...errors import ProxyError
from ...modfile import parse_gomod
from ...module.escape import escape_version
from ..catalog import (
    PAGE_HEADERS,
    CatalogData,
    catalog_json,
    highest_versions,
    render_index,
    render_module,
)
from ..checks import MAX_MOD
from ..effects import ReadCatalog
from ..keys import version_key
from ..proxylist import UpstreamKind
from ..replies import CT_HTML, CT_JSON, Reply, text_reply
from ..targets import CATALOG_PAGE_MAX
from ..versions import Retraction
from .walk import Flow, FlowBase, _read

if TYPE_CHECKING:
    from ..catalog import PageContext
    from ..targets import CatalogReq, ModulePageReq

# A module page reads the go.mod of at most this many of the highest stored versions (a
# version stored as an .info alone has none).
_GOMOD_TRIES = 3
_TOP = 10


def _read_catalog(effect: ReadCatalog) -> Flow[CatalogData]:
    r = yield effect
    return cast("CatalogData", r)


class CatalogFlow(FlowBase):
    """The index page, module pages and ``/catalog``."""

    def _summary_effect(self) -> ReadCatalog:
        return ReadCatalog(
            limit=0,
            summary=True,
            top=_TOP,
            upstreams=tuple(u.url for u in self.cfg.upstreams if u.kind is UpstreamKind.HTTP),
            own_sumdb=self.cfg.config.own_sumdb,
        )

    def index_page(self, ctx: PageContext) -> Flow[Reply]:
        data = yield from _read_catalog(self._summary_effect())
        return _html(200, render_index(ctx, self.cfg, data))

    def catalog(self, req: CatalogReq) -> Flow[Reply]:
        data = yield from _read_catalog(
            ReadCatalog(search=req.search, after=req.after, limit=req.limit)
        )
        if not data.available:
            reply = text_reply(501, f"catalog not available: {data.why}")
            return Reply(
                status=reply.status, body=reply.body, headers=PAGE_HEADERS, cache_control="no-store"
            )
        return Reply(
            status=200, content_type=CT_JSON, body=catalog_json(data), headers=PAGE_HEADERS
        )

    def module_page(self, req: ModulePageReq, ctx: PageContext) -> Flow[Reply]:
        data = yield from _read_catalog(ReadCatalog(module=req.module, limit=CATALOG_PAGE_MAX))
        gomod_version = deprecated = ""
        retractions: list[Retraction] = []
        for version in highest_versions(data.versions)[:_GOMOD_TRIES]:
            got = yield from _read(
                version_key(req.escaped, escape_version(version), "mod"), MAX_MOD, immutable=True
            )
            if got is None:
                continue
            gomod_version = version
            try:
                mod = parse_gomod(got.data)
            except ProxyError:
                break  # a go.mod that does not parse declares nothing (as the go command)
            deprecated = mod.module.deprecated if mod.module is not None else ""
            retractions = [Retraction(r.low, r.high, r.rationale) for r in mod.retract]
            break
        status = 200 if data.versions or not data.available else 404
        page = render_module(
            ctx,
            self.cfg,
            req.module,
            data,
            gomod_version=gomod_version,
            deprecated=deprecated,
            retractions=retractions,
        )
        return _html(status, page)


def _html(status: int, body: bytes) -> Reply:
    return Reply(status=status, content_type=CT_HTML, body=body, headers=PAGE_HEADERS)
