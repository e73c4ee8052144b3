"""The catalog's flows: the index page for browsers, a page per module, ``/catalog`` JSON.

Each asks its caller once what the cache holds (``ReadCatalog``) and renders the answer
(:mod:`goproxy_core.proxy.catalog`); a module page also reads the stored go.mod of the
module's highest stored version (``ReadBlob``) for its retractions and deprecation. Nothing
here asks an upstream: the catalog shows the cache as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import msgspec

from ...errors import ProxyError
from ...modfile import parse_gomod
from ...module.escape import escape_path, escape_version
from ..catalog import (
    PAGE_HEADERS,
    CatalogData,
    CatalogVersion,
    Marks,
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
from ..targets import CATALOG_MARKS_MAX, CATALOG_PAGE_MAX
from ..versions import Retraction
from .walk import Flow, FlowBase, _read

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..catalog import PageContext
    from ..targets import CatalogReq, ModulePageReq

# A module page reads the go.mod of at most this many of the highest stored versions (a
# version stored as an .info alone has none).
_GOMOD_TRIES = 3
_TOP = 10


def _read_catalog(effect: ReadCatalog) -> Flow[CatalogData]:
    r = yield effect
    return cast("CatalogData", r)


def _visible(data: CatalogData, readable: Callable[[str], bool] | None) -> CatalogData:
    """``data`` with only the modules ``readable`` allows (the totals stay: they name no
    module), so a listing never reveals a module its reader may not read."""
    if readable is None:
        return data
    return msgspec.structs.replace(
        data,
        versions=tuple(v for v in data.versions if readable(v.module)),
        most_requested=tuple(u for u in data.most_requested if readable(u.module)),
        most_recent=tuple(u for u in data.most_recent if readable(u.module)),
    )


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
        data = _visible((yield from _read_catalog(self._summary_effect())), self.readable)
        return _html(200, render_index(ctx, self.cfg, data))

    def catalog(self, req: CatalogReq) -> Flow[Reply]:
        data = yield from _read_catalog(
            ReadCatalog(search=req.search, after=req.after, limit=req.limit)
        )
        # The next page starts after this page's last version, whether it is shown or not.
        last = data.versions[-1] if data.versions else None
        data = _visible(data, self.readable)
        if not data.available:
            reply = text_reply(501, f"catalog not available: {data.why}")
            return msgspec.structs.replace(reply, headers=PAGE_HEADERS)
        marks: dict[str, Marks] | None = None
        if req.marks:
            marks = {}
            for module in dict.fromkeys(v.module for v in data.versions):
                if len(marks) >= CATALOG_MARKS_MAX:
                    break
                mine = [v for v in data.versions if v.module == module]
                marks[module] = yield from self._marks(module, mine)
        return Reply(
            status=200,
            content_type=CT_JSON,
            body=catalog_json(data, marks, last=last),
            headers=PAGE_HEADERS,
        )

    def _marks(self, module: str, versions: Sequence[CatalogVersion]) -> Flow[Marks]:
        """The retractions and deprecation in the go.mod of the highest of ``versions`` that
        has one stored (of the next ones when it has none, up to ``_GOMOD_TRIES``), as the go
        command reads them from the latest go.mod (cmd/go modload ``CheckRetractions``,
        ``CheckDeprecation``). A go.mod that does not parse declares none."""
        try:
            escaped = escape_path(module)
        except ProxyError:
            return Marks()
        for version in highest_versions(versions)[:_GOMOD_TRIES]:
            key = version_key(escaped, escape_version(version), "mod")
            got = yield from _read(key, MAX_MOD, immutable=True)
            if got is None:
                continue
            try:
                mod = parse_gomod(got.data)
            except ProxyError:
                return Marks(version)
            return Marks(
                version,
                mod.module.deprecated if mod.module is not None else "",
                tuple(Retraction(r.low, r.high, r.rationale) for r in mod.retract),
            )
        return Marks()

    def module_page(self, req: ModulePageReq, ctx: PageContext) -> Flow[Reply]:
        data = yield from _read_catalog(ReadCatalog(module=req.module, limit=CATALOG_PAGE_MAX))
        marks = yield from self._marks(req.module, data.versions)
        status = 200 if data.versions or not data.available else 404
        page = render_module(
            ctx,
            self.cfg,
            req.module,
            data,
            gomod_version=marks.gomod_version,
            deprecated=marks.deprecated,
            retractions=marks.retractions,
        )
        return _html(status, page)


def _html(status: int, body: bytes) -> Reply:
    return Reply(status=status, content_type=CT_HTML, body=body, headers=PAGE_HEADERS)
