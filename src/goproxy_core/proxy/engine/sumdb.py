"""The checksum database, relayed: ``supported``, ``lookup``, ``latest`` and tiles.

Offline (:meth:`~goproxy_core.proxy.config.CompiledConfig.sumdb_offline`: ``offline``, or
an upstream list beginning with ``off`` for a database without a URL of its own), every
endpoint is answered from the proofs the cache holds instead (:mod:`.offline`).

Only configured databases are relayed (no open relay), by the way the go command would reach
them (``supported`` answers 200 only when this proxy can reach the database: see
:mod:`.checksums`). Nothing is kept before it is verified with the database's key: tiles
against a signed tree, ``latest`` for its signature and its consistency with the newest tree
verified here, lookups for their proof. ``latest`` is kept for ``list_ttl`` and served stale
when the database fails; private modules are never looked up.

Tiles and lookups are kept for good after their first verified fetch, and served from the store
as immutable: a tile's bytes never change, and neither does a lookup's answer for the go
command. Its record lines are the module's for good (the log only grows), and the signed tree
in it, though older than the database's newest, stays acceptable: x/mod ``sumdb/client.go``
``Client.Lookup`` parses the record, hands its tree to ``mergeLatest``, whose
``mergeLatestMem`` takes a tree no larger than the client's latest as the past once
``checkTrees(older, newer)`` finds its hash in the newer tree's tiles (served here from the
store as well), and then ``checkRecord`` proves the record against the client's latest tree.
The go command itself keeps lookups in its cache for good (``ReadCache`` before
``ReadRemote``, ``WriteCache`` once validated).

A lookup not yet relayed is answered from the version's proof when the proxy has one
(:func:`~goproxy_core.proxy.keys.proof_key`, kept by :mod:`.checksums` when it verified the
version's ``.mod`` or ``.zip``): the very body the database sent for the same
``lookup/<module>@<version>`` path, proven then, and signed with this database's key (checked
again on reading, as ``record_of`` does). A go command verifying a zip that its go.sum lacks
asks for exactly the lookup the proxy made a moment before when it fetched that version: on a
real module graph, 175 of a cold client's requests, each an upstream round trip and a proof
check on the client's critical path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...sumdb.client import open_tree_note
from ...sumdb.note import NoteError
from ...sumdb.tlog import TlogError
from ...sumdb.treenote import parse_record
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
from .checksums import Refusal
from .offline import OfflineFlow
from .walk import (
    _CACHE,
    Flow,
    _bytes_reply,
    _error_text,
    _fetch,
    _read,
    _save,
)

if TYPE_CHECKING:
    from ..config import CompiledSumdb


class SumdbFlow(OfflineFlow):
    """``/sumdb/<name>/...``."""

    def sumdb(self, req: SumdbReq) -> Flow[Reply]:
        db = self.cfg.sumdb.get(req.name)
        if db is None:
            # 404 on "supported" sends the go command to the database directly; refusing
            # other names keeps this from being an open relay (PROTOCOL.md §19.6, §19.7).
            return text_reply(
                404,
                f"not found: checksum database {req.name} is not proxied here",
                cache_control=max_age(3600),
            )
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
        if self.cfg.sumdb_offline(db):
            return (yield from self.offline_sumdb(req, db))
        if req.kind is SumdbKind.LOOKUP:
            proof = yield from self._kept_proof(req, db)
            if proof is not None:
                return _bytes_reply(proof, ct, IMMUTABLE, f"{_CACHE}; hit")
        # The way there, as the go command finds it (modfetch/sumdb.go dbDial): 200 on
        # "supported" only when this proxy can reach the database itself.
        base, why = yield from self.db_base(db)
        if req.kind is SumdbKind.SUPPORTED:
            if base:
                return _bytes_reply(
                    b"", CT_TEXT, max_age(self.cfg.config.list_ttl), f"{_CACHE}; hit"
                )
            return text_reply(
                404,
                f"not found: checksum database {req.name} is not reachable through this "
                f"proxy ({why})",
                cache_control=max_age(self.cfg.config.list_ttl),
            )
        if not base:
            return text_reply(
                404, f"not found: checksum database {req.name} is not reachable: {why}"
            )
        res = yield from _fetch(f"{base}/{req.path}", MAX_SUMDB)
        if res.status == 200:
            self.source = base  # the way the database answered (for the access log)
            try:
                yield from self._check_relayed(req, db, base, res.body)
            except Refusal as e:
                return e.reply
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
        return text_reply(
            504 if res.timeout else 502,
            f"checksum database {req.name} failed: {res.error or res.status}",
        )

    def _kept_proof(self, req: SumdbReq, db: CompiledSumdb) -> Flow[bytes | None]:
        """The version's kept proof, if any and signed by ``db``: the lookup's very answer."""
        escaped, _, escaped_version = req.path.removeprefix("lookup/").rpartition("@")
        kept = yield from _read(
            _cache.proof_key(escaped, escaped_version), MAX_SUMDB, immutable=True
        )
        if kept is None:
            return None
        try:
            _, _, note = parse_record(kept.data)
            open_tree_note(note, db.verifiers)
        except (NoteError, TlogError):
            return None  # another database's proof: relay the lookup
        return kept.data

    def _check_relayed(
        self, req: SumdbReq, db: CompiledSumdb, base: str, body: bytes
    ) -> Flow[None]:
        """Verify what the database sent before it is kept (x/mod ``sumdb/client.go``).

        A tile must agree with a verified tree; ``latest`` must be signed and consistent with
        the newest tree verified here; a lookup must prove its record.
        """
        if req.kind is SumdbKind.TILE:
            if not tile_ok(req.path, body):
                raise Refusal(
                    text_reply(502, f"checksum database {req.name} sent a malformed tile")
                )
            yield from self.check_tile(db, base, req.path, body)
        elif req.kind is SumdbKind.LATEST:
            try:
                tree = open_tree_note(body, db.verifiers)
            except (NoteError, TlogError) as e:
                raise Refusal(
                    text_reply(
                        502, f"checksum database {req.name} sent a latest that does not verify: {e}"
                    )
                ) from None
            yield from self.advance_tree(db, base, tree, body)
        elif req.kind is SumdbKind.LOOKUP:
            yield from self.check_lookup(db, base, body, req.path.removeprefix("lookup/"))
