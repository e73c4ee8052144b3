"""Verifying a bundle before anything of it becomes visible, and what an import then writes.

The importer trusts nothing the bundle says about itself. :class:`ImportCheck` is fed the
manifest, the importer's own checksum-database keys (never a key from the bundle) and the
trees this cache verified before (``_goproxy/sumdb/<name>/verified-tree``); then each member
as the frontend streamed it into a staging area, with what hashing it found; then
:meth:`ImportCheck.finish` proves every claim, the way the go command would before it uses a
module (cmd/go ``modfetch/fetch.go`` ``checkModSum``/``checkSumDB``, x/mod
``sumdb/client.go`` ``Client.Lookup``):

* every member has the size and SHA-256 the manifest lists (and nothing else is in the tar);
* a zip passes x/mod ``zip.CheckZip`` and its ``dirhash.HashZip`` is the manifest's ``h1:``;
  a go.mod's ``dirhash`` ``h1:`` is the manifest's; an ``.info`` names its version;
* each database's signed tree head verifies with the importer's key for that name
  (``note.Open``); a tree this cache verified before is a prefix of it (``checkTrees``), or
  the head is the same tree; so is the head an incremental bundle says it follows;
* each version's record holds the manifest's ``h1:`` lines (``checkSumDB``), and its leaf
  hash is the record's place in the head, through the bundle's tiles, each checked against
  the head (``checkRecord`` with ``tileHashReader``).

The first failure refuses the whole bundle with a :class:`~.manifest.BundleError` naming it.
What passes becomes :class:`ImportPlan`: the files of the cache-tree contract (the checksum
database's ``supported``, ``latest``, tiles and lookups, each version's proof and record, and
the verified tree, written last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ProxyError
from ..module.escape import escape_path, escape_version
from ..proxy import keys
from ..proxy.info import validate_info
from ..proxy.record import FileRecord, VersionRecord, encode_record
from ..sumdb.client import NeedTiles, open_tree_note
from ..sumdb.note import NoteError, Verifier
from ..sumdb.tile import Tile, parse_tile_path, tile_path
from ..sumdb.tlog import TlogError
from ..sumdb.treenote import Tree, format_record
from .manifest import BundleError as BundleError
from .manifest import Database, FileEntry, Manifest, VersionEntry
from .plan import proof_tiles

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["BundleError", "ImportCheck", "ImportPlan", "MemberFacts", "Write"]


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the frontend found streaming one member into the staging area.

    Attributes:
        size: bytes read.
        sha256: their SHA-256, hex.
        h1: for a ``.mod`` its ``dirhash`` ``h1:``; for a ``.zip`` the ``h1:`` of
            ``CheckZip``'s pass ("" when it found a problem).
        problem: for a ``.zip``, the rule it breaks ("" when good).
        data: the bytes of a small member (``.info``, a tile), else None.
    """

    size: int
    sha256: str
    h1: str = ""
    problem: str = ""
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """A file the import writes: ``key`` with ``data``; with ``if_present``, only when the
    cache already holds that key (a held version's proof, rewritten at the new head)."""

    key: str
    data: bytes
    if_present: str = ""


@dataclass(slots=True)
class ImportPlan:
    """What a verified bundle adds: the staged members to publish, then the files to write.

    ``writes`` ends with each database's ``verified-tree``, so a crash before the end leaves
    the cache's verified tree where it was.
    """

    members: list[FileEntry] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    versions: int = 0
    held: int = 0
    heads: dict[str, Tree] = field(default_factory=dict)


class _Db:
    def __init__(self, db: Database, verifiers: Sequence[Verifier], verified: bytes | None):
        self.db = db
        self.note = db.head.encode("utf-8")
        try:
            self.head = open_tree_note(self.note, verifiers)
        except (NoteError, TlogError) as e:
            raise BundleError(
                f"checksum database {db.name}: the bundle's signed tree head does not verify "
                f"with this importer's key: {e}"
            ) from None
        self.verified: Tree | None = None
        if verified is not None:
            try:
                self.verified = open_tree_note(verified, verifiers)
            except (NoteError, TlogError):
                self.verified = None  # kept under another key: as the proxy does, start afresh
        self.since: Tree | None = None
        if db.since:
            try:
                self.since = open_tree_note(db.since.encode("utf-8"), verifiers)
            except (NoteError, TlogError) as e:
                raise BundleError(
                    f"checksum database {db.name}: the head the bundle follows (since) does not "
                    f"verify with this importer's key: {e}"
                ) from None
        self.tiles: dict[Tile, bytes] = {}


class ImportCheck:
    """The checks of one import (see the module's docstring).

    Args:
        manifest: the parsed manifest (:func:`~.manifest.parse_manifest`).
        verifiers: the importer's keys by database name (its settings or ``--sumdb``).
        verified: the signed note of the newest tree verified here, by database name.
        now: the time, for the version records written.
        source: where the files came from, for the records (the bundle's file name).

    Raises:
        BundleError: a database the importer has no key for, or a head that does not verify.
    """

    def __init__(
        self,
        manifest: Manifest,
        verifiers: Mapping[str, Sequence[Verifier]],
        verified: Mapping[str, bytes | None],
        *,
        now: float,
        source: str,
    ) -> None:
        self.manifest = manifest
        self.now = now
        self.source = source
        self.dbs: dict[str, _Db] = {}
        for db in manifest.databases:
            keys_for = verifiers.get(db.name)
            if not keys_for:
                raise BundleError(
                    f"checksum database {db.name}: this importer has no key for it; give its "
                    "verifier key (--sumdb KEY), never taken from the bundle"
                )
            self.dbs[db.name] = _Db(db, keys_for, verified.get(db.name))
        self.expected: dict[str, tuple[FileEntry, VersionEntry | _Db]] = {}
        for v in manifest.versions:
            for f in v.files:
                self.expected[f.key] = (f, v)
        for d in self.dbs.values():
            for t in d.db.tiles:
                self.expected[t.key] = (t, d)
        self.facts: dict[str, MemberFacts] = {}

    def member(self, key: str) -> FileEntry:
        """The manifest's entry for the member named ``key`` (before it is read).

        Raises:
            BundleError: a member the manifest does not list, or one seen twice.
        """
        got = self.expected.get(key)
        if got is None:
            raise BundleError(f"bundle member {key!r}: not listed in the manifest")
        if key in self.facts:
            raise BundleError(f"bundle member {key}: appears twice")
        return got[0]

    def checked(self, key: str, facts: MemberFacts) -> None:
        """Check one member as streamed; keep its facts for :meth:`finish`.

        Raises:
            BundleError: its size, SHA-256 or content does not match the manifest.
        """
        entry, owner = self.expected[key][0], self.expected[key][1]
        self.member(key)
        if facts.size != entry.size:
            raise BundleError(
                f"bundle member {key}: {facts.size} bytes, the manifest says {entry.size}"
            )
        if facts.sha256 != entry.sha256:
            raise BundleError(
                f"bundle member {key}: SHA-256 {facts.sha256} differs from the manifest's "
                f"{entry.sha256}"
            )
        if isinstance(owner, _Db):
            assert facts.data is not None
            owner.tiles[parse_tile_path(key.removeprefix(keys.sumdb_key(owner.db.name, "")))] = (
                facts.data
            )
        else:
            self._check_version_file(owner, key, facts)
        self.facts[key] = facts

    def _check_version_file(self, v: VersionEntry, key: str, facts: MemberFacts) -> None:
        what = f"{v.module}@{v.version}"
        kind = key.rpartition(".")[2]
        if kind == "zip":
            if facts.problem:
                raise BundleError(f"bundle member {key}: not a valid module zip: {facts.problem}")
            if facts.h1 != v.zip:
                raise BundleError(
                    f"bundle member {key}: the zip hashes to {facts.h1}, the manifest says "
                    f"{v.zip} for {what}"
                )
        elif kind == "mod":
            if facts.h1 != v.mod:
                raise BundleError(
                    f"bundle member {key}: the go.mod hashes to {facts.h1}, the manifest says "
                    f"{v.mod} for {what}"
                )
        else:
            assert facts.data is not None
            try:
                validate_info(v.module, facts.data, requested=v.version)
            except ProxyError as e:
                raise BundleError(f"bundle member {key}: not the .info of {what}: {e}") from None

    # The end ---------------------------------------------------------------------------------

    def finish(self) -> ImportPlan:
        """Prove everything; what to publish and write.

        Raises:
            BundleError: a member missing, a head not consistent with the tree verified
                here, a record that does not hold a manifest hash, or one not proven at the
                head by the bundle's tiles.
        """
        for key in self.expected:
            if key not in self.facts:
                raise BundleError(f"bundle member {key}: listed in the manifest but missing")
        for d in self.dbs.values():
            self._check_head(d)
        plan = ImportPlan()
        for v in self.manifest.versions:
            for r in v.records:
                self._check_record_lines(v, r.sumdb, r.text)
        for d in self.dbs.values():
            self._prove(d)
        for v in self.manifest.versions:
            self._plan_version(v, plan)
        for d in self.dbs.values():
            name = d.db.name
            plan.heads[name] = d.head
            plan.writes.append(Write(keys.sumdb_key(name, "supported"), b""))
            for t, data in sorted(d.tiles.items(), key=lambda kv: tile_path(kv[0])):
                plan.writes.append(Write(keys.sumdb_key(name, tile_path(t)), data))
            plan.writes.append(Write(keys.sumdb_key(name, "latest"), d.note))
        for d in self.dbs.values():
            if d.verified is None or d.head.N > d.verified.N:
                plan.writes.append(Write(keys.sumdb_tree_key(d.db.name), d.note))
        return plan

    def _check_head(self, d: _Db) -> None:
        name, head, old = d.db.name, d.head, d.verified
        if d.since is not None:
            try:
                need = proof_tiles(head, [], d.tiles, since=[d.since])
            except TlogError as e:
                raise BundleError(
                    f"checksum database {name}: the bundle's tree head #{head.N} is not "
                    f"consistent with the head #{d.since.N} it follows (since): {e}"
                ) from None
            if need is not None:
                raise BundleError(
                    f"checksum database {name}: the bundle lacks the tiles proving its tree head "
                    f"#{head.N} consistent with the head #{d.since.N} it follows: {_paths(need)}"
                )
        if old is None or old == head:
            return
        if old.N > head.N:
            raise BundleError(
                f"checksum database {name}: the bundle's tree head #{head.N} is older than the "
                f"tree #{old.N} this cache verified; export a newer bundle"
            )
        try:
            need = proof_tiles(head, [], d.tiles, since=[old])
        except TlogError as e:
            raise BundleError(
                f"checksum database {name}: the bundle's tree head #{head.N} is not consistent "
                f"with the tree #{old.N} this cache verified (a forked log?): {e}"
            ) from None
        if need is not None:
            raise BundleError(
                f"checksum database {name}: the bundle does not prove its tree head #{head.N} "
                f"consistent with the tree #{old.N} this cache verified (tiles missing: "
                f"{_paths(need)}); export it with --since the bundle imported last"
            )

    def _check_record_lines(self, v: VersionEntry, sumdb: str, text: str) -> None:
        what = f"{v.module}@{v.version}"
        lines = text.split("\n")
        want = [f"{v.module} {v.version}/go.mod {v.mod}"]
        if v.zip:
            want.append(f"{v.module} {v.version} {v.zip}")
        for line in want:
            if line not in lines:
                raise BundleError(
                    f"version {what}: its record in {sumdb} does not hold the manifest's line "
                    f"{line!r}"
                )

    def _prove(self, d: _Db) -> None:
        name = d.db.name
        records = [
            (v, r.id, r.text.encode("utf-8"))
            for v in self.manifest.versions
            for r in v.records
            if r.sumdb == name
        ]
        try:
            need = proof_tiles(d.head, [(i, t) for _, i, t in records], d.tiles)
            if need is None:
                return
        except TlogError:
            need = None
        for v, i, t in records:  # name the first version that fails
            try:
                one = proof_tiles(d.head, [(i, t)], d.tiles)
            except TlogError as e:
                raise BundleError(
                    f"version {v.module}@{v.version}: its record {i} in {name} is not proven "
                    f"at the bundle's tree head #{d.head.N}: {e}"
                ) from None
            if one is not None:
                raise BundleError(
                    f"version {v.module}@{v.version}: the bundle lacks the tiles that prove "
                    f"its record {i} in {name}: {_paths(one)}"
                )
        raise BundleError(  # pragma: no cover - every record passed alone but not together
            f"checksum database {name}: the bundle's tiles do not prove its records"
            + (f" (tiles missing: {_paths(need)})" if need else "")
        )

    def _plan_version(self, v: VersionEntry, plan: ImportPlan) -> None:
        esc, escv = escape_path(v.module), escape_version(v.version)
        first = v.records[0]
        proof = b""
        for r in v.records:
            d = self.dbs[r.sumdb]
            try:
                body = format_record(r.id, r.text.encode("utf-8")) + d.note
            except TlogError as e:
                raise BundleError(
                    f"version {v.module}@{v.version}: its record in {r.sumdb}: {e}"
                ) from None
            lookup = keys.sumdb_key(r.sumdb, f"lookup/{esc}@{escv}")
            if r is first:
                proof = body
            if v.held:
                plan.writes.append(Write(lookup, body, if_present=keys.proof_key(esc, escv)))
            else:
                plan.writes.append(Write(lookup, body))
        if v.held:
            plan.held += 1
            plan.writes.append(Write(keys.proof_key(esc, escv), proof, keys.proof_key(esc, escv)))
            return
        plan.versions += 1
        plan.members.extend(v.files)
        plan.writes.append(Write(keys.proof_key(esc, escv), proof))
        files = {f.key.rpartition(".")[2]: f for f in v.files}

        def rec(kind: str, h1: str) -> FileRecord | None:
            f = files.get(kind)
            if f is None:
                return None
            return FileRecord(
                h1=h1,
                size=f.size,
                sha256=f.sha256,
                upstream=self.source,
                time=self.now,
                sumdb=first.sumdb,
            )

        record = VersionRecord(v.module, v.version, mod=rec("mod", v.mod), zip=rec("zip", v.zip))
        plan.writes.append(Write(keys.record_key(esc, escv), encode_record(record)))


def _paths(need: NeedTiles) -> str:
    return ", ".join(tile_path(t) for t in need.tiles)
