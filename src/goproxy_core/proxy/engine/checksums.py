"""Verifying versions against the checksum database before they are stored.

What the go command does on every download (cmd/go ``modfetch/fetch.go`` ``checkModSum`` and
``checkSumDB``, with x/mod ``sumdb/client.go`` ``Client.Lookup``), done once here, before a
byte is kept: the ``h1:`` of a ``.mod`` and of a ``.zip`` must equal the go.sum lines of the
database's record for that version; the record must be proven in a tree head signed with the
database's key, through hash tiles that are themselves checked before they are kept; and the
newest tree verified here never goes backwards: a tree that is not consistent with it is a
fork, refused and reported loudly.

How the database is reached follows cmd/go ``modfetch/sumdb.go`` ``dbDial``/``initBase``: a
configured URL is used as is; otherwise the upstream list is walked asking each proxy for
``sumdb/<name>/supported`` (200: use it; 404/410: next; after ``|`` any failure: next),
``direct`` means the database's own ``https://<name>``, and ``off`` or the end of the list
means it is not reachable (where the go command would dial the database itself: a proxy
reaches no further than its upstream list allows). The answer is kept for ``list_ttl``.

Proofs (the verified ``/lookup/`` bodies) are kept beside each version
(:func:`~goproxy_core.proxy.keys.proof_key`), so the ``.zip`` after its ``.mod`` needs no
second lookup, and a later re-check has what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast

from ...errors import ProxyError
from ...module.escape import escape_path, escape_version
from ...sumdb.client import (
    LookupResult,
    NeedTiles,
    check_tree_consistency,
    open_tree_note,
    verify_lookup,
    verify_tile,
)
from ...sumdb.note import NoteError
from ...sumdb.tile import Tile, parse_tile_path, tile_path
from ...sumdb.tlog import TlogError
from ...sumdb.treenote import Tree, parse_record
from .. import keys as _cache
from ..checks import MAX_SUMDB
from ..effects import BlobData, FetchUpstream, ReadBlob, SaveBlob, UpstreamResult
from ..info import BadUpstreamError
from ..proxylist import UpstreamKind
from ..record import UNVERIFIED_NO_DATABASE, UNVERIFIED_NOSUMDB, UNVERIFIED_PRIVATE
from ..replies import Reply, text_reply

if TYPE_CHECKING:
    from ..config import CompiledConfig, CompiledSumdb

__all__ = ["ChecksumFlow", "ChecksumMismatchError", "Refusal"]

T = TypeVar("T")
_Flow: TypeAlias = Generator[FetchUpstream | ReadBlob | SaveBlob, object, T]

TILE_HEIGHT = 8
"""The tile height of the go command's checksum databases (x/mod ``sumdb`` ``tileHeight``)."""

_MAX_ROUNDS = 16  # rounds of tile fetching one check may take: a proof is a few tiles deep
_MAX_SUPPORTED = 4096


class ChecksumMismatchError(BadUpstreamError):
    """An upstream's ``.mod`` or ``.zip`` hashes to something else than the database says."""


class Refusal(ProxyError):
    """Verification could not be done, or the database misbehaved: the answer is ``reply``.

    Not the upstream's fault, so the upstream walk stops with this reply rather than blaming
    the upstream and trying the next one.
    """

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body.decode("utf-8", "replace").strip())
        self.reply = reply


def _refuse(status: int, message: str, *, alarm: bool = False) -> Refusal:
    reply = text_reply(status, message)
    if alarm:
        reply = Reply(
            status=reply.status, body=reply.body, cache_control=reply.cache_control, alarm=message
        )
    return Refusal(reply)


def _failure(db: CompiledSumdb, what: str, res: UpstreamResult) -> Refusal:
    """The database (or the way to it) failed on ``what``."""
    why = res.error or "no answer" if res.status == 0 else f"answered {res.status}"
    return _refuse(
        504 if res.timeout else 502, f"checksum database {db.name} failed on {what}: {why}"
    )


def _fork(db: CompiledSumdb, e: TlogError) -> Refusal:
    return _refuse(
        502,
        f"checksum database {db.name}: {e}; refusing to verify anything against it until an "
        "operator has looked (the database, or the way to it, serves a forked log)",
        alarm=True,
    )


def _read_tree(data: BlobData | None, db: CompiledSumdb) -> Tree | None:
    if data is None:
        return None
    try:
        return open_tree_note(data.data, db.verifiers)
    except (NoteError, TlogError):
        return None  # kept under another key (the setting changed): start afresh


def _records_needed(t: Tile) -> int:
    """How many records a tree needs for tile ``t`` to lie inside it."""
    level = max(t.L, 0)
    return ((t.N << t.H) + t.W) << (level * t.H)


class ChecksumFlow:
    """The checks of one request against the checksum database (a part of the engine's flow)."""

    cfg: CompiledConfig
    now: float

    # I/O ------------------------------------------------------------------------------------

    def _get(self, url: str) -> _Flow[UpstreamResult]:
        r = yield FetchUpstream(url, MAX_SUMDB)
        return cast("UpstreamResult", r)

    def _load(self, key: str, *, immutable: bool = False) -> _Flow[BlobData | None]:
        r = yield ReadBlob(key, MAX_SUMDB, immutable)
        return cast("BlobData | None", r)

    def _keep(self, key: str, data: bytes) -> _Flow[None]:
        yield SaveBlob(key, data)

    # Reaching a database (modfetch/sumdb.go dbDial) -----------------------------------------

    def db_base(self, db: CompiledSumdb) -> _Flow[tuple[str, str]]:
        """Where ``db`` is reached: (base URL, "") or ("", why it cannot be)."""
        if self.cfg.config.offline:
            return "", "this proxy is offline (offline = true)"
        if db.url:
            return db.url, ""
        key = _cache.sumdb_route_key(db.name)
        ttl = self.cfg.config.list_ttl
        kept = yield from self._load(key)
        if kept is not None and _cache.is_fresh(kept.mtime, self.now, ttl):
            base = kept.data.decode("utf-8", "replace")
            return base, "" if base else f"no upstream of this proxy mirrors {db.name}"
        fault = ""
        for up in self.cfg.upstreams:
            if up.kind is UpstreamKind.OFF:
                break
            if up.kind is UpstreamKind.DIRECT:
                base = f"https://{db.name}"
                yield from self._keep(key, base.encode())
                return base, ""
            res = yield from self._get(f"{up.url}/sumdb/{db.name}/supported")
            if res.status == 200:
                base = f"{up.url}/sumdb/{db.name}"
                yield from self._keep(key, base.encode())
                return base, ""
            if res.status in (404, 410):
                continue
            fault = f"upstream {up.url} answered sumdb/{db.name}/supported with " + (
                f"{res.status}" if res.status else (res.error or "no answer")
            )
            if not up.fall_through_on_error:
                return "", fault  # unavailable for now: not remembered
        if fault:
            return "", fault
        yield from self._keep(key, b"")
        return "", f"no upstream of this proxy mirrors {db.name}"

    def reach(self, db: CompiledSumdb, what: str) -> _Flow[str]:
        """``db``'s base URL, or a refusal naming ``what`` could not be verified."""
        base, why = yield from self.db_base(db)
        if not base:
            raise _refuse(502, f"{what}: checksum database {db.name} is not reachable: {why}")
        return base

    # Tiles ----------------------------------------------------------------------------------

    def _tile(
        self, db: CompiledSumdb, base: str, t: Tile, fetched: dict[Tile, bytes], *, kept_ok: bool
    ) -> _Flow[tuple[bytes, bool]]:
        """Tile ``t``'s bytes, and whether they came from the store."""
        path = tile_path(t)
        if kept_ok:
            kept = yield from self._load(_cache.sumdb_key(db.name, path), immutable=True)
            if kept is not None:
                return kept.data, True
        res = yield from self._get(f"{base}/{path}")
        if res.status != 200:
            raise _failure(db, path, res)
        fetched[t] = res.body
        return res.body, False

    def with_tiles(
        self, db: CompiledSumdb, base: str, check: Callable[[dict[Tile, bytes]], T | NeedTiles]
    ) -> _Flow[T]:
        """Run ``check`` until it needs no more tiles; keep the tiles it fetched and proved.

        A tile is kept only once a check that read it passed: every tile ``check`` reads is
        checked against the signed tree (x/mod ``tileHashReader``), so a tile with one byte
        flipped is never kept. When a check fails with tiles from the store among those it
        read, it is run once more with every tile fresh from the database: a store written by
        a version that kept tiles unverified heals instead of failing for ever.
        """
        kept_used: list[bool] = []
        try:
            return (yield from self._with_tiles(db, base, check, kept_used, kept_ok=True))
        except TlogError:
            if not any(kept_used):
                raise
        return (yield from self._with_tiles(db, base, check, kept_used, kept_ok=False))

    def _with_tiles(
        self,
        db: CompiledSumdb,
        base: str,
        check: Callable[[dict[Tile, bytes]], T | NeedTiles],
        kept_used: list[bool],
        *,
        kept_ok: bool,
    ) -> _Flow[T]:
        have: dict[Tile, bytes] = {}
        fetched: dict[Tile, bytes] = {}
        for _ in range(_MAX_ROUNDS):
            got = check(have)
            if not isinstance(got, NeedTiles):
                for t, data in fetched.items():
                    yield from self._keep(_cache.sumdb_key(db.name, tile_path(t)), data)
                return got
            for t in got.tiles:
                have[t], kept = yield from self._tile(db, base, t, fetched, kept_ok=kept_ok)
                kept_used.append(kept)
        raise _refuse(502, f"checksum database {db.name}: a proof needs too many tiles")

    # Trees ----------------------------------------------------------------------------------

    def verified_tree(self, db: CompiledSumdb) -> _Flow[Tree | None]:
        """The newest tree of ``db`` verified here, if any."""
        kept = yield from self._load(_cache.sumdb_tree_key(db.name))
        return _read_tree(kept, db)

    def keep_tree(self, db: CompiledSumdb, note: bytes) -> _Flow[None]:
        """Keep ``note`` as the newest tree of ``db`` verified here, with the ``supported``
        marker beside the database's files.

        The marker (``sumdb/<name>/supported``, empty) is what the go command asks a proxy
        before it uses the proxy for the database (cmd/go ``modfetch/sumdb.go`` ``dbDial``):
        with it, a cache laid out as a GOPROXY tree (``GOPROXY=file://<cache>``) offers the
        database's proofs it holds. Saved again with each newer tree (a few bytes), so a
        cache written before the marker existed gains it.
        """
        yield from self._keep(_cache.sumdb_tree_key(db.name), note)
        yield from self._keep(_cache.sumdb_key(db.name, "supported"), b"")

    def advance_tree(self, db: CompiledSumdb, base: str, tree: Tree, note: bytes) -> _Flow[Tree]:
        """Check ``tree`` against the newest verified one; keep the larger; return it.

        The two must be consistent (x/mod ``Client.checkTrees``): a smaller tree must be a
        prefix of the newer one. A tree that is not is a fork: refused, with an alarm.
        """
        known = yield from self.verified_tree(db)
        if known is not None and known != tree:
            older, newer = (known, tree) if known.N <= tree.N else (tree, known)
            try:
                yield from self.with_tiles(
                    db,
                    base,
                    lambda t: check_tree_consistency(older, newer, t, height=TILE_HEIGHT),
                )
            except TlogError as e:
                raise _fork(db, e) from None
        if known is None or tree.N > known.N:
            yield from self.keep_tree(db, note)
            return tree
        return known

    def fresh_tree(self, db: CompiledSumdb, base: str) -> _Flow[tuple[Tree, bytes]]:
        """Fetch ``latest``, verify its signature and its consistency: (the tree, the note)."""
        res = yield from self._get(f"{base}/latest")
        if res.status != 200:
            raise _failure(db, "latest", res)
        try:
            tree = open_tree_note(res.body, db.verifiers)
        except (NoteError, TlogError) as e:
            raise _refuse(
                502, f"checksum database {db.name} sent a latest that does not verify: {e}"
            ) from None
        yield from self.advance_tree(db, base, tree, res.body)
        return tree, res.body

    # Lookups --------------------------------------------------------------------------------

    def check_lookup(
        self, db: CompiledSumdb, base: str, body: bytes, what: str
    ) -> _Flow[LookupResult]:
        """Verify a ``/lookup/`` body for ``what`` (``module@version``), as the go command does.

        The signed tree is checked against the newest one verified here (a fork raises a
        refusal with an alarm), and becomes the newest if it is larger.
        """
        latest = yield from self.verified_tree(db)
        try:
            got = yield from self.with_tiles(
                db,
                base,
                lambda t: verify_lookup(body, db.verifiers, t, height=TILE_HEIGHT, latest=latest),
            )
        except TlogError as e:
            if "misbehavior" in str(e):
                raise _fork(db, e) from None
            raise _refuse(
                502,
                f"checksum database {db.name} sent a lookup of {what} that does not verify: {e}",
            ) from None
        except NoteError as e:
            raise _refuse(
                502,
                f"checksum database {db.name} sent a lookup of {what} that does not verify: {e}",
            ) from None
        if latest is None or got.tree.N > latest.N:
            yield from self.keep_tree(db, got.tree_note)
        return got

    def record_of(self, db: CompiledSumdb, module: str, version: str) -> _Flow[bytes]:
        """The database's record text for ``module@version``: kept proof, else looked up."""
        what = f"{module}@{version}"
        key = _cache.proof_key(escape_path(module), escape_version(version))
        kept = yield from self._load(key, immutable=True)
        if kept is not None:
            try:
                _, text, note = parse_record(kept.data)
                open_tree_note(note, db.verifiers)
            except (NoteError, TlogError):
                pass  # a proof from another database: look it up again
            else:
                return text
        base = yield from self.reach(db, f"verifying {what}")
        res = yield from self._get(f"{base}/lookup/{escape_path(module)}@{escape_version(version)}")
        if res.status in (404, 410):
            raise _refuse(
                403,
                f"verifying module: {what}: checksum database {db.name} answered {res.status} "
                f"(it does not know this version); refusing it as the go command does "
                "(list the module in nosumdb if it is not public)",
            )
        if res.status != 200:
            raise _failure(db, f"the lookup of {what}", res)
        got = yield from self.check_lookup(db, base, res.body, what)
        if not got.lines(module, version) and not got.lines(module, version + "/go.mod"):
            raise _refuse(
                502,
                f"checksum database {db.name} answered the lookup of {what} with the record "
                "of another module",
            )
        yield from self._keep(key, res.body)
        return got.text

    def verify_sum(
        self, module: str, version: str, h1: str, *, gomod: bool
    ) -> _Flow[tuple[str, str]]:
        """Check a ``.mod`` (``gomod``) or ``.zip`` hash against the checksum database.

        Mirrors cmd/go ``modfetch/fetch.go`` ``checkSumDB``: a version of a module matching
        ``private`` or ``nosumdb`` is not looked up.

        Returns:
            For the version's record: (the database that verified it, "") or ("", why it
            was not verified: ``private``, ``nosumdb``, ``no database``).

        Raises:
            ChecksumMismatchError: the hash differs from the database's line.
            Refusal: the database cannot be reached, does not know the version, or
                misbehaves.
        """
        db = self.cfg.sumdb_for(module)
        if db is None:
            if self.cfg.verifying is None:
                return "", UNVERIFIED_NO_DATABASE
            if self.cfg.private.matches(module):
                return "", UNVERIFIED_PRIVATE
            return "", UNVERIFIED_NOSUMDB
        text = yield from self.record_of(db, module, version)
        name = f"{module} {version}/go.mod" if gomod else f"{module} {version}"
        lines = [
            ln for ln in text.decode("utf-8", "replace").split("\n") if ln.startswith(name + " ")
        ]
        if f"{name} {h1}" in lines:
            return db.name, ""
        theirs = ", ".join(ln[len(name) + 1 :] for ln in lines) or "no line for it"
        raise ChecksumMismatchError(
            f"verifying {name.replace(' ', '@')}: checksum mismatch: downloaded {h1}, "
            f"checksum database {db.name} has {theirs}"
        )

    # The relay's checks ---------------------------------------------------------------------

    def check_tile(self, db: CompiledSumdb, base: str, path: str, data: bytes) -> _Flow[None]:
        """Check tile bytes from the database against a verified tree before they are kept."""
        tile = parse_tile_path(path)
        tree = yield from self.verified_tree(db)
        if tree is None or _records_needed(tile) > tree.N:
            tree, _ = yield from self.fresh_tree(db, base)
        checked = tree
        try:
            yield from self.with_tiles(db, base, lambda t: verify_tile(tile, data, checked, t))
        except TlogError as e:
            raise _refuse(
                502, f"checksum database {db.name} sent a tile {path} that does not verify: {e}"
            ) from None
