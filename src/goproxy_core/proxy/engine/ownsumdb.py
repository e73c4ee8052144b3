"""The proxy's own checksum database: ``/sumdb/<own name>/...`` answered from its log.

The proxy signs a transparency log of every module version it serves (Go's formats: x/mod
``sumdb/note``, ``sumdb/tlog``; the endpoints of x/mod ``sumdb/server.go``), so a client that
sets ``GOSUMDB="<verifier key> <proxy URL>/sumdb/<name>"`` has every module verified, private
ones from direct mode included. ``latest`` and tiles are read from the log (``ReadSumdb``).
A lookup of a version the log holds is read too; one it does not hold first goes through the
normal ingest flow (the version's ``.mod`` and ``.zip``, fetched, checked and stored as for
any client), then ``AppendSumdb`` hashes the stored files off the event loop and appends the
record, unless another request appended it first. Private patterns do not apply here: this
database is the proxy's own, so private modules are looked up in it too.
"""

from __future__ import annotations

from typing import cast

from ...sumdb.server import TILE_HEIGHT
from ...sumdb.tile import parse_tile_path
from .. import keys as _cache
from ..effects import AppendSumdb, ReadSumdb, SumdbAnswer, SumdbPart
from ..replies import CT_OCTET, CT_TEXT, IMMUTABLE, Reply, max_age, text_reply
from ..targets import FileKind, SumdbKind, SumdbReq, VersionReq, parse_target
from .files import FilesFlow
from .walk import _CACHE, Flow, _bytes_reply

__all__ = ["OwnSumdbFlow"]

_NO_CACHE = "no-cache"
_LOG = f"{_CACHE}; detail=own-sumdb"


def _read_sumdb(effect: ReadSumdb | AppendSumdb) -> Flow[SumdbAnswer]:
    r = yield effect
    return cast("SumdbAnswer", r)


def _failed(answer: SumdbAnswer, name: str) -> Reply:
    return text_reply(500, f"checksum database {name}: the log failed: {answer.error}")


class OwnSumdbFlow(FilesFlow):
    """``/sumdb/<own name>/...``."""

    def own_sumdb(self, req: SumdbReq) -> Flow[Reply]:
        name = req.name
        if req.kind is SumdbKind.SUPPORTED:
            # A client that names only the key in GOSUMDB reaches the database through us.
            return _bytes_reply(b"", CT_TEXT, max_age(3600), f"{_CACHE}; hit")
        if req.kind is SumdbKind.LATEST:
            got = yield from _read_sumdb(ReadSumdb(name, SumdbPart.LATEST))
            if got.error or not got.found:
                return _failed(got, name)
            return _bytes_reply(got.body, CT_TEXT, _NO_CACHE, _LOG)
        if req.kind is SumdbKind.TILE:
            return (yield from self._own_tile(req))
        return (yield from self._own_lookup(req))

    def _own_tile(self, req: SumdbReq) -> Flow[Reply]:
        tile = parse_tile_path(req.path)
        if tile.H != TILE_HEIGHT:
            return text_reply(404, f"not found: {req.path}: this database has tiles of height 8")
        got = yield from _read_sumdb(ReadSumdb(req.name, SumdbPart.TILE, tile=req.path))
        if got.error:
            return _failed(got, req.name)
        if not got.found:
            return text_reply(404, f"not found: {req.path} is not in the log yet")
        ct = CT_TEXT if tile.L == -1 else CT_OCTET
        # A tile's bytes never change: the log only grows, and a wider tile has a new path.
        return _bytes_reply(got.body, ct, IMMUTABLE, _LOG)

    def _own_lookup(self, req: SumdbReq) -> Flow[Reply]:
        escaped, _, escaped_version = req.path.removeprefix("lookup/").rpartition("@")
        mod_req = parse_target(f"/{escaped}/@v/{escaped_version}.mod".encode())
        assert isinstance(mod_req, VersionReq)  # a canonical version, or parse_target raised
        module, version = mod_req.module, mod_req.version
        got = yield from _read_sumdb(ReadSumdb(req.name, SumdbPart.LOOKUP, module, version))
        if got.error:
            return _failed(got, req.name)
        if got.found:
            return _bytes_reply(got.body, CT_TEXT, _NO_CACHE, f"{_LOG}; hit")
        # Not logged yet: take the version in as any client's request would, then log it.
        self.relay = False
        zip_req = VersionReq(
            module=module,
            version=version,
            kind=FileKind.ZIP,
            escaped=mod_req.escaped,
            escaped_version=mod_req.escaped_version,
            canonical=True,
        )
        for file_req in (mod_req, zip_req):
            reply = yield from self.version(file_req)
            if reply.status != 200:
                why = reply.body.decode("utf-8", "replace").strip()
                status = reply.status if reply.status in (403, 404, 410, 504) else 502
                return text_reply(status, f"{module}@{version}: {why}")
        added = yield from _read_sumdb(
            AppendSumdb(
                req.name,
                module,
                version,
                zip_key=_cache.version_key(mod_req.escaped, mod_req.escaped_version, "zip"),
                mod_key=_cache.version_key(mod_req.escaped, mod_req.escaped_version, "mod"),
            )
        )
        if added.error or not added.found:
            return _failed(added, req.name)
        return _bytes_reply(added.body, CT_TEXT, _NO_CACHE, f"{_LOG}; stored")
