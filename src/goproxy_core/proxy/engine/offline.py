"""Offline answers: lists, ``@latest`` and the checksum database from the cache alone.

A proxy in offline mode (``offline``, or an upstream list that begins with ``off``) asks no
one. What a go command needs beyond the version files it then finds here:

* ``@v/list``: the versions the cache holds of the module (a version counts when its
  ``.info`` or ``.mod`` is stored), as cmd/go ``modfetch/proxy.go`` ``Versions`` reads a list:
  canonical versions valid for the module, one per line, no pseudo-versions (a proxy's list
  names tags; ``Versions`` drops pseudo-versions anyway). A module with only pseudo-versions
  has an empty list, which sends the go command to ``@latest``; one with none at all is a 404.
* ``@latest``: the ``.info`` of the version the go command would pick from those (cmd/go
  ``modload/query.go``, as for a list: ``+incompatible`` versions above a compatible one with
  a real go.mod left out, then the highest release, else the highest pre-release), among the
  versions whose ``.info`` is held; with no tagged one, the pseudo-version whose ``.info``
  ``Time`` is the latest (what ``modfetch/proxy.go`` ``latestFromList`` picks by time).
* ``/sumdb/<name>/``, for a configured database (:meth:`CompiledConfig.sumdb_offline`), from
  the proofs the cache keeps (the layout ``goproxy import`` writes): ``supported`` is 200 when
  the cache holds a tree of the database verified with its key
  (``_goproxy/sumdb/<name>/verified-tree``), ``latest`` is that signed tree note, a tile is
  the stored tile, and a lookup is the stored ``sumdb/<name>/lookup/...`` body, else the
  version's kept proof record (``<module>/@v/<version>.lookup``) with the verified tree's note,
  when the tiles that prove the record in that tree are held (checked here as the go command
  will check them: x/mod ``sumdb/client.go`` ``Client.Lookup``, ``checkRecord``).

Everything missing is a 404 whose text says it is not in this offline proxy: never a 5xx,
since no upstream failed; a go command then reports the text and fails, or (a list) goes on.
Nothing is stored here: the cache changes by imports (and fills), never by offline answers.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, cast

from ... import semver as _semver
from ...errors import ProxyError
from ...modfile.rule import legacy_go_mod
from ...module.escape import escape_version, unescape_version
from ...module.paths import canonical_version, check
from ...module.pseudo import is_pseudo_version
from ...sumdb.client import NeedTiles, verify_lookup
from ...sumdb.note import NoteError
from ...sumdb.tile import Tile, tile_path
from ...sumdb.tlog import TlogError
from ...sumdb.treenote import format_record, parse_record
from .. import keys as _cache
from ..checks import MAX_INFO, MAX_MOD, MAX_SUMDB
from ..effects import KeyList, ListKeys
from ..info import rfc3339_instant, validate_info
from ..replies import CT_TEXT, Reply, error_reply, max_age, store_error, text_reply
from ..targets import SumdbKind, SumdbReq
from ..versions import compatible_to_check, select_latest
from .checksums import TILE_HEIGHT, _read_tree
from .walk import _CACHE, Flow, FlowBase, _bytes_reply, _read

if TYPE_CHECKING:
    from ..config import CompiledSumdb

__all__ = ["OFFLINE_HIT", "OfflineFlow"]

OFFLINE_HIT = f"{_CACHE}; hit; detail=offline"
"""Cache-Status of an answer made offline from what the cache holds."""

MAX_PSEUDO_READ = 64
"""Pseudo-versions whose ``.info`` an offline ``@latest`` reads at most (the newest by the
time in their name): a module with no tag rarely has more kept."""

_MAX_ROUNDS = 16  # rounds of tile reading one proof may take: a proof is a few tiles deep


def _not_here(what: str, ttl: float, why: str = "") -> Reply:
    """The 404 of something the cache does not hold: ``what``, and ``why`` if it says more."""
    text = f"not found: {what}: not in this offline proxy" + (f" ({why})" if why else "")
    return text_reply(404, text, cache_control=max_age(ttl))


class OfflineFlow(FlowBase):
    """The offline answers (a part of the engine's flow)."""

    # What the cache holds of a module -------------------------------------------------

    def held_versions(self, module: str, escaped: str) -> Flow[dict[str, set[str]] | Reply]:
        """The versions of ``module`` the cache holds, each with its stored file kinds.

        Only canonical versions valid for the module (x/mod ``module.Check``) count, and of
        their files only ``.info`` and ``.mod`` say a version is held (a ``.zip`` alone is
        not a version the go command could resolve: it reads ``.info`` and ``.mod`` first).
        """
        prefix = f"{escaped}/@v/"
        listed = cast("KeyList", (yield ListKeys(prefix)))
        if listed.error:
            return error_reply(store_error(listed.error, "failed"))
        held: dict[str, set[str]] = {}
        for key in listed.keys:
            name = key[len(prefix) :]
            stem, _, ext = name.rpartition(".")
            if ext not in ("info", "mod", "zip") or "/" in name:
                continue
            try:
                version = unescape_version(stem)
                check(module, version)
            except ProxyError:
                continue
            if canonical_version(version) != version:
                continue
            held.setdefault(version, set()).add(ext)
        return {v: kinds for v, kinds in held.items() if kinds & {"info", "mod"}}

    def offline_list(self, module: str, escaped: str) -> Flow[tuple[bytes, str, bool, int] | Reply]:
        """``@v/list`` from the cache: (body, cache status, stale, max-age) or a 404."""
        held = yield from self.held_versions(module, escaped)
        if isinstance(held, Reply):
            return held
        ttl = self.cfg.config.list_ttl
        if not held:
            return _not_here(module, ttl, "no version of it is held")
        tagged = _semver.sort_versions([v for v in held if not is_pseudo_version(v)])
        body = "".join(v + "\n" for v in tagged).encode()
        return body, OFFLINE_HIT, False, int(ttl)

    def offline_latest(
        self, module: str, escaped: str
    ) -> Flow[tuple[bytes, str, bool, int] | Reply]:
        """``@latest`` from the cache: the chosen version's stored ``.info``, or a 404."""
        held = yield from self.held_versions(module, escaped)
        if isinstance(held, Reply):
            return held
        ttl = self.cfg.config.list_ttl
        with_info = [v for v, kinds in held.items() if "info" in kinds]
        tagged = [v for v in with_info if not is_pseudo_version(v)]
        best = yield from self._latest_tagged(module, escaped, tagged)
        if best is not None:
            info = yield from _read(
                _cache.version_key(escaped, escape_version(best), "info"), MAX_INFO, immutable=True
            )
            if info is not None:
                return info.data, OFFLINE_HIT, False, int(ttl)
        newest = yield from self._newest_pseudo(module, escaped, with_info)
        if newest is not None:
            return newest, OFFLINE_HIT, False, int(ttl)
        return _not_here(f"{module}@latest", ttl, "no version of it with its .info is held")

    def _latest_tagged(self, module: str, escaped: str, tagged: list[str]) -> Flow[str | None]:
        """What ``@latest`` resolves to among ``tagged`` (as ``VersionsFlow.latest_of``)."""
        check_gomod = compatible_to_check(tagged)
        has_gomod = False
        if check_gomod is not None:
            mod = yield from _read(
                _cache.version_key(escaped, escape_version(check_gomod), "mod"),
                MAX_MOD,
                immutable=True,
            )
            has_gomod = mod is not None and mod.data != legacy_go_mod(module)
        return select_latest(tagged, compatible_has_gomod=has_gomod)

    def _newest_pseudo(self, module: str, escaped: str, with_info: list[str]) -> Flow[bytes | None]:
        """The ``.info`` of the pseudo-version with the latest ``Time``, if one is held."""
        pseudo = [v for v in with_info if is_pseudo_version(v)]
        # The newest by the time in the name first (``yyyymmddhhmmss``, the third-last field).
        pseudo.sort(key=lambda v: v.rsplit("-", 2)[-2][-14:], reverse=True)
        best: tuple[tuple[int, int], bytes] | None = None
        for v in pseudo[:MAX_PSEUDO_READ]:
            got = yield from _read(
                _cache.version_key(escaped, escape_version(v), "info"), MAX_INFO, immutable=True
            )
            if got is None:
                continue
            try:
                info = validate_info(module, got.data, requested=v)
            except ProxyError:
                continue
            t = rfc3339_instant(info.Time) if info.Time else None
            if t is not None and (best is None or t > best[0]):
                best = (t, got.data)
        return None if best is None else best[1]

    # The checksum database ------------------------------------------------------------

    def offline_sumdb(self, req: SumdbReq, db: CompiledSumdb) -> Flow[Reply]:
        """``/sumdb/<name>/...`` from the proofs the cache holds (a stored tile or lookup
        was answered before this is asked)."""
        ttl = self.cfg.config.list_ttl
        kept = yield from _read(_cache.sumdb_tree_key(db.name), MAX_SUMDB)
        head = _read_tree(kept, db)
        no_tree = text_reply(
            404,
            f"not found: checksum database {db.name}: no tree of it verified in this offline "
            "proxy (import a bundle of its proofs)",
            cache_control=max_age(ttl),
        )
        if req.kind is SumdbKind.TILE:
            return _not_here(f"{req.path} of checksum database {db.name}", ttl)
        if head is None or kept is None:
            return no_tree
        if req.kind is SumdbKind.SUPPORTED:
            return _bytes_reply(b"", CT_TEXT, max_age(ttl), OFFLINE_HIT)
        if req.kind is SumdbKind.LATEST:
            return _bytes_reply(kept.data, CT_TEXT, max_age(ttl), OFFLINE_HIT)
        return (yield from self._composed_lookup(req, db, kept.data))

    def _composed_lookup(self, req: SumdbReq, db: CompiledSumdb, note: bytes) -> Flow[Reply]:
        """A lookup from the version's kept proof record and the verified tree ``note``,
        when the tiles held prove the record in that tree."""
        ttl = self.cfg.config.list_ttl
        what = req.path.removeprefix("lookup/")
        escaped, _, escaped_version = what.rpartition("@")
        version = escaped_version
        with contextlib.suppress(ProxyError):
            version = unescape_version(escaped_version)
        shown = f"{req.module}@{version}"
        proof = yield from _read(
            _cache.proof_key(escaped, escaped_version), MAX_SUMDB, immutable=True
        )
        if proof is None:
            return _not_here(f"the checksum database record of {shown}", ttl)
        try:
            id, text, _ = parse_record(proof.data)
            body = format_record(id, text) + note
        except TlogError:
            return _not_here(f"a readable checksum database record of {shown}", ttl)
        tiles: dict[Tile, bytes] = {}
        for _ in range(_MAX_ROUNDS):
            try:
                got = verify_lookup(body, db.verifiers, tiles, height=TILE_HEIGHT)
            except (TlogError, NoteError) as e:
                return _not_here(
                    f"a proof of {shown} in the tree of checksum database {db.name} held here",
                    ttl,
                    str(e),
                )
            if not isinstance(got, NeedTiles):
                return _bytes_reply(body, CT_TEXT, max_age(ttl), OFFLINE_HIT)
            for t in got.tiles:
                data = yield from self._held_tile(db, t)
                if data is None:
                    return _not_here(
                        f"{tile_path(t)} of checksum database {db.name}",
                        ttl,
                        f"it proves {shown} in the tree held here",
                    )
                tiles[t] = data
        return _not_here(f"a proof of {shown} short enough to check", ttl)  # pragma: no cover

    def _held_tile(self, db: CompiledSumdb, t: Tile) -> Flow[bytes | None]:
        """Tile ``t`` as stored; a partial one may come from its full tile, as the go command
        itself falls back to the full tile (x/mod ``sumdb/client.go`` ``readTile``)."""
        kept = yield from _read(_cache.sumdb_key(db.name, tile_path(t)), MAX_SUMDB, immutable=True)
        if kept is not None:
            return kept.data
        width = 1 << t.H
        if width == t.W:
            return None
        full = yield from _read(
            _cache.sumdb_key(db.name, tile_path(Tile(t.H, t.L, t.N, width))),
            MAX_SUMDB,
            immutable=True,
        )
        return None if full is None else full.data[: len(full.data) // width * t.W]
