"""Judging a stored version again: its files against its record and its proof.

The rules ``goproxy verify`` applies to each version in the store, with no I/O: the caller
hashes the stored files (:class:`FileFacts`, streamed, off any event loop), reads the record,
the proof and the tiles the proof needs, and :func:`judge_version` says what fails.

A stored ``.mod`` or ``.zip`` fails when:

* it breaks a rule it was checked against at ingest (a zip: x/mod ``zip.CheckZip``, as cmd/go
  ``modfetch/fetch.go`` ``downloadZip`` checks it);
* its bytes no longer hash to its record (``h1:``, size, SHA-256): it changed on disk;
* the version's proof (the kept ``/lookup/`` body) verifies (x/mod ``sumdb`` ``Client.Lookup``:
  the signed tree with the database's key, the record's place in it through the tiles kept in
  the store, consistency with the newest tree verified here) but holds another ``h1:`` for it,
  as cmd/go ``modfetch/fetch.go`` ``checkSumDB`` would refuse it;
* its record says a database verified it, and the proof is gone or does not verify.

A proof that does not verify fails too (it is quarantined with the files it should prove). A
version with no record (stored before records existed) is checked for what it has: its zip's
rules and, if kept, its proof; with neither a record nor a proof it is *unproven*: reported,
not quarantined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from ..sumdb.client import LookupResult, NeedTiles, verify_lookup
from ..sumdb.note import NoteError
from ..sumdb.tile import Tile, tile_path
from ..sumdb.tlog import TlogError
from .engine.checksums import TILE_HEIGHT
from .record import (
    UNVERIFIED_NO_DATABASE,
    UNVERIFIED_NOSUMDB,
    UNVERIFIED_PRIVATE,
    FileRecord,
    VersionRecord,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..sumdb.treenote import Tree
    from .config import CompiledConfig, CompiledSumdb

__all__ = ["FileFacts", "Finding", "VersionVerdict", "judge_version"]

Kind = Literal["mod", "zip", "lookup"]

_MAX_ROUNDS = 16
_UNKNOWN_SOURCE = "unknown (stored before records)"


class FileFacts(msgspec.Struct, frozen=True):
    """What hashing a stored ``.mod`` or ``.zip`` found.

    Attributes:
        h1: its ``h1:`` hash ("" when ``problem`` is set).
        size: its length in bytes.
        sha256: the SHA-256 of its bytes, in hex.
        problem: why it is not a valid file (a zip rule it breaks), "" when it is.
        stored: the store's time of storing it (``BlobInfo.mtime``), for a repaired record.
    """

    h1: str
    size: int
    sha256: str
    problem: str = ""
    stored: float = 0.0


class Finding(msgspec.Struct, frozen=True):
    """One stored file that failed, and why (in words, for the note beside it)."""

    kind: Kind
    why: str


class VersionVerdict(msgspec.Struct, frozen=True):
    """The judgement of one version.

    Attributes:
        module: the module path.
        version: the version.
        failed: the files to quarantine, each with why.
        unproven: why the version could not be checked against a checksum database where
            it should have been ("" when it was, or need not be).
        proven_by: the database whose proof verified, "" if none.
        repaired: the record amended with entries for files that passed but had none
            (stored before records existed), to write with ``--repair``; None when nothing
            is to add.
    """

    module: str
    version: str
    failed: tuple[Finding, ...] = ()
    unproven: str = ""
    proven_by: str = ""
    repaired: VersionRecord | None = None


class _TileMissing(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _prove(
    proof: bytes,
    db: CompiledSumdb,
    latest: Tree | None,
    read_tile: Callable[[str, Tile], bytes | None],
) -> LookupResult:
    tiles: dict[Tile, bytes] = {}
    for _ in range(_MAX_ROUNDS):
        got = verify_lookup(proof, db.verifiers, tiles, height=TILE_HEIGHT, latest=latest)
        if not isinstance(got, NeedTiles):
            return got
        for t in got.tiles:
            data = read_tile(db.name, t)
            if data is None:
                raise _TileMissing(tile_path(t))
            tiles[t] = data
    raise TlogError("a proof needs too many tiles")


def _why_unverified(cfg: CompiledConfig, module: str) -> str:
    if cfg.verifying is None:
        return UNVERIFIED_NO_DATABASE
    if cfg.private.matches(module):
        return UNVERIFIED_PRIVATE
    return UNVERIFIED_NOSUMDB


def judge_version(
    cfg: CompiledConfig,
    module: str,
    version: str,
    *,
    record: VersionRecord | None,
    mod: FileFacts | None,
    zip: FileFacts | None,
    proof: bytes | None,
    trees: Mapping[str, Tree],
    read_tile: Callable[[str, Tile], bytes | None],
    now: float,
) -> VersionVerdict:
    """Judge one stored version (see the module's docstring for the rules).

    Args:
        cfg: the settings (the databases and their keys, ``private``, ``nosumdb``).
        module: the module path.
        version: the version.
        record: its record, None if it has none (or it does not decode).
        mod: the stored ``.mod`` hashed, None if not stored.
        zip: the stored ``.zip`` hashed and checked, None if not stored.
        proof: the kept ``/lookup/`` body, None if none.
        trees: the newest verified tree of each database, by name.
        read_tile: reads a kept tile of a database (None when not kept).
        now: the time, for repaired record entries.
    """
    files: dict[Literal["mod", "zip"], FileFacts | None] = {"mod": mod, "zip": zip}
    recs: dict[Literal["mod", "zip"], FileRecord | None] = {
        "mod": record.mod if record is not None else None,
        "zip": record.zip if record is not None else None,
    }
    failed: dict[Kind, str] = {}
    for kind, facts in files.items():
        rec = recs[kind]
        if facts is None:
            continue
        if facts.problem:
            failed[kind] = f"the stored .{kind} is not valid: {facts.problem}"
        elif rec is not None and (rec.h1, rec.size, rec.sha256) != (
            facts.h1,
            facts.size,
            facts.sha256,
        ):
            failed[kind] = (
                f"the stored .{kind} changed since it was stored: its record has {rec.h1}, "
                f"{rec.size} bytes, sha256 {rec.sha256}; the file hashes to {facts.h1}, "
                f"{facts.size} bytes, sha256 {facts.sha256}"
            )

    claimed = sorted({r.sumdb for r in recs.values() if r is not None and r.sumdb})
    db = cfg.sumdb.get(claimed[0]) if claimed else cfg.sumdb_for(module)
    proven: LookupResult | None = None
    proof_problem = ""
    unproven = ""
    if claimed and db is None:
        unproven = f"its record names checksum database {claimed[0]}, which is not configured"
    elif proof is not None and db is not None:
        try:
            proven = _prove(proof, db, trees.get(db.name), read_tile)
        except _TileMissing as e:
            unproven = f"tile {e.path} of {db.name}, needed by its proof, is not kept"
        except (NoteError, TlogError) as e:
            proof_problem = f"the proof from checksum database {db.name} does not verify: {e}"
        else:
            if not proven.lines(module, version) and not proven.lines(module, version + "/go.mod"):
                proof_problem = (
                    f"the proof from checksum database {db.name} is the record of another module"
                )
                proven = None
    if proof_problem:
        failed["lookup"] = proof_problem

    for kind, facts in files.items():
        rec = recs[kind]
        if facts is None or kind in failed:
            continue
        name = version if kind == "zip" else version + "/go.mod"
        if proven is not None:
            assert db is not None
            lines = proven.lines(module, name)
            if f"{module} {name} {facts.h1}" not in lines:
                theirs = ", ".join(ln.rsplit(" ", 1)[-1] for ln in lines) or "no line for it"
                failed[kind] = (
                    f"verifying {module}@{name}: checksum mismatch: stored {facts.h1}, "
                    f"checksum database {db.name} has {theirs}"
                )
        elif rec is not None and rec.sumdb and not unproven:
            failed[kind] = f"its record says checksum database {rec.sumdb} verified it, but " + (
                proof_problem or "its proof is not kept"
            )
        elif rec is None and db is not None and not unproven:
            unproven = f"stored without a record and without a proof from {db.name}"

    repaired = None
    if not unproven:
        base = record if record is not None else VersionRecord(module, version)
        add: dict[str, FileRecord] = {}
        for kind, facts in files.items():
            if facts is None or kind in failed or recs[kind] is not None:
                continue
            by = db.name if proven is not None and db is not None else ""
            add[kind] = FileRecord(
                facts.h1,
                facts.size,
                facts.sha256,
                _UNKNOWN_SOURCE,
                now,
                sumdb=by,
                unverified="" if by else _why_unverified(cfg, module),
                stored=facts.stored,
            )
        if add:
            repaired = msgspec.structs.replace(base, **add)
    return VersionVerdict(
        module,
        version,
        failed=tuple(Finding(k, w) for k, w in failed.items()),
        unproven=unproven,
        proven_by=db.name if proven is not None and db is not None else "",
        repaired=repaired,
    )
