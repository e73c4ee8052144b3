"""``/healthz``, ``/readyz``, ``/metrics`` and the index page."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import msgspec

from ..effects import FreeSpace, MetricsPage, RenderMetrics, StoreSpace
from ..proxylist import UpstreamKind
from ..replies import (
    Reply,
    max_age,
    text_reply,
)
from .walk import (
    Flow,
    FlowBase,
    _fetch,
    _save,
)

if TYPE_CHECKING:
    from ..targets import (
        HealthReq,
    )


def _size(n: int) -> str:
    """Bytes for people: ``512 MiB``, ``3.5 GiB``, ``900 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


class HealthFlow(FlowBase):
    """Health, readiness and the index."""

    def health(self, req: HealthReq) -> Flow[Reply]:
        if not req.ready:
            return text_reply(200, "ok")
        least = self.cfg.config.min_free_space
        if least > 0:
            space = cast("FreeSpace | None", (yield StoreSpace()))
            if space is not None and space.free < least:
                return text_reply(
                    503,
                    f"not ready: cache {space.where} has {_size(space.free)} free, "
                    f"below min-free-space {_size(least)}",
                )
        ok = yield from _save("_goproxy/readyz", str(self.now).encode())
        if not ok:
            return text_reply(503, "not ready: the store does not accept writes")
        if self.cfg.config.offline:
            return text_reply(200, "ready (offline: every answer comes from the cache)")
        first = self.cfg.upstreams[0]
        if first.kind is UpstreamKind.OFF:
            return text_reply(200, "ready (cache only: upstream lookups are off)")
        if first.kind is UpstreamKind.DIRECT:
            return text_reply(200, "ready (direct: modules come from their repositories)")
        # Any HTTP answer means the upstream is reachable; only no answer at all is not.
        res = yield from _fetch(first.url + "/", 4096, upstream=first.url)
        if res.status == 0:
            return text_reply(503, f"not ready: upstream {first.url} unreachable: {res.error}")
        return text_reply(200, "ready")

    def metrics(self) -> Flow[Reply]:
        """``/metrics``: the caller's metrics page (``RenderMetrics``), never cached.

        The core keeps no counters: what is counted, and how, is the caller's. Off
        (``metrics = false``) or a caller keeping none: a 404 saying so.
        """
        if not self.cfg.config.metrics:
            return text_reply(404, "not found: metrics are off on this server (metrics = false)")
        page = cast("MetricsPage | None", (yield RenderMetrics()))
        if page is None:
            return text_reply(404, "not found: this server keeps no metrics")
        return Reply(status=200, content_type=page.content_type, body=page.body)

    def index(self) -> Reply:
        reply = text_reply(
            200,
            "goproxy-core: a Go module proxy. Point the go command at this URL:\n"
            "GOPROXY=<this URL> (for example http://127.0.0.1:8080)",
            cache_control=max_age(3600),
        )
        # The same URL answers a browser with the catalog page (Accept: text/html).
        return msgspec.structs.replace(reply, headers=(("vary", "Accept"),))
