"""The checksum database, relayed: ``supported``, ``lookup``, ``latest`` and tiles.

Only configured databases are relayed (no open relay); tiles never change once they have
their full size, so they are kept for good; ``latest`` and lookups are kept for ``list_ttl``
and served stale when the database fails; private modules are never looked up.
"""

from __future__ import annotations

from .. import keys as _cache
from ..checks import (
    MAX_SUMDB,
    tile_ok,
)
from ..replies import (
    CT_OCTET,
    CT_TEXT,
    IMMUTABLE,
    Reply,
    max_age,
    text_reply,
)
from ..targets import (
    SumdbKind,
    SumdbReq,
)
from .walk import (
    _CACHE,
    Flow,
    FlowBase,
    _bytes_reply,
    _error_text,
    _fetch,
    _read,
    _save,
)


class SumdbFlow(FlowBase):
    """``/sumdb/<name>/...``."""

    def sumdb(self, req: SumdbReq) -> Flow[Reply]:
        base = self.cfg.sumdb.get(req.name)
        if base is None:
            # 404 on "supported" sends the go command to the database directly; refusing
            # other names keeps this from being an open relay (PROTOCOL.md §19.6, §19.7).
            return text_reply(
                404,
                f"not found: checksum database {req.name} is not proxied here",
                cache_control=max_age(3600),
            )
        if req.kind is SumdbKind.SUPPORTED:
            return _bytes_reply(b"", CT_TEXT, max_age(3600), f"{_CACHE}; hit")
        if req.kind is SumdbKind.LOOKUP and self.cfg.private.matches(req.module):
            return text_reply(
                404,
                f"not found: {req.module} matches the private patterns, so it is not looked "
                "up in a public checksum database (set GONOSUMDB or GOPRIVATE for it)",
            )
        key = _cache.key_for(req)
        ct = CT_OCTET if req.kind is SumdbKind.TILE and "/data/" not in req.path else CT_TEXT
        if req.immutable:
            hit = yield from _read(key, MAX_SUMDB, immutable=True)
            if hit is not None:
                return _bytes_reply(hit.data, ct, IMMUTABLE, f"{_CACHE}; hit")
        url = f"{base}/{req.path}"
        res = yield from _fetch(url, MAX_SUMDB)
        if res.status == 200 and (not req.immutable or tile_ok(req.path, res.body)):
            yield from _save(key, res.body)
            cc = IMMUTABLE if req.immutable else max_age(self.cfg.config.list_ttl)
            return _bytes_reply(res.body, ct, cc, f"{_CACHE}; fwd=miss; stored")
        if not req.immutable:
            stale = yield from _read(key, MAX_SUMDB)
            if stale is not None:
                return _bytes_reply(
                    stale.data,
                    ct,
                    max_age(0),
                    f'{_CACHE}; hit; fwd=stale; detail="upstream failed"',
                    stale=True,
                )
        if res.status in (404, 410):
            return text_reply(res.status, _error_text(res) or "not found")
        if res.status == 200:
            return text_reply(502, f"checksum database {req.name} sent a malformed tile")
        return text_reply(
            504 if res.timeout else 502,
            f"checksum database {req.name} failed: {res.error or res.status}",
        )
