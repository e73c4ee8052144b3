"""The bundle's manifest: what a bundle holds and what proves it (``manifest.json``).

A bundle is one uncompressed tar: ``manifest.json`` first, then one member per file, named by
its store key (:mod:`goproxy_core.proxy.keys`): the ``.info``, ``.mod`` and ``.zip`` of each
version, and the hash tiles of each checksum database under ``sumdb/<name>/tile/...``. The
manifest says, for each member, its size and SHA-256; for each version, the ``h1:`` of its
zip and go.mod and the checksum-database record (id and go.sum lines) that holds them; for
each database, the signed tree head every record is proven in, and for an incremental bundle
the head of the bundle it follows (``since``).

Nothing in it is trusted: :func:`parse_manifest` only checks that it is well formed (names
that are module paths and versions, keys that are the version's own, no duplicates), and the
importer proves every claim (:mod:`goproxy_core.bundle.check`).
"""

from __future__ import annotations

import re

import msgspec

from ..errors import ProxyError
from ..module.escape import escape_path, escape_version
from ..module.paths import check_path
from ..proxy.config import is_sumdb_name
from ..proxy.keys import sumdb_key, version_key
from ..semver import canonical
from ..sumdb.tile import parse_tile_path
from ..sumdb.tlog import TlogError

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "MAX_MANIFEST",
    "BundleError",
    "Database",
    "FileEntry",
    "Manifest",
    "RecordRef",
    "VersionEntry",
    "encode_manifest",
    "parse_manifest",
]

FORMAT = "goproxy-bundle/1"
"""The format this code writes and reads."""
MANIFEST_NAME = "manifest.json"
"""The first member of every bundle."""
MAX_MANIFEST = 256 << 20
"""The largest manifest read (about half a million versions)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_H1 = re.compile(r"h1:[A-Za-z0-9+/]{43}=")
_KINDS = ("info", "mod", "zip")
_CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


class BundleError(ProxyError):
    """The bundle is refused: the message names the first thing that failed."""


class FileEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One member of the bundle: its store key, length and SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


class RecordRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A version's record in a checksum database: its id and its go.sum lines."""

    sumdb: str
    id: int
    text: str


class VersionEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One module version.

    Attributes:
        module: the module path.
        version: the version (canonical).
        mod: the ``h1:`` of its go.mod.
        zip: the ``h1:`` of its zip; "" when the bundle holds its go.mod only.
        files: its members (``.info``, ``.mod``, ``.zip``); none for a ``held`` version.
        records: its record in each database that proves it.
        held: a version of an earlier bundle, listed with its record only so that the
            importer can prove it at this bundle's head (an incremental bundle).
    """

    module: str
    version: str
    mod: str
    records: list[RecordRef]
    zip: str = ""
    files: list[FileEntry] = msgspec.field(default_factory=list)
    held: bool = False


class Database(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One checksum database: its signed tree head, the tiles proving the records in it."""

    name: str
    head: str
    tiles: list[FileEntry]
    since: str = ""


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The whole manifest."""

    format: str
    created: str
    databases: list[Database]
    versions: list[VersionEntry]

    def members(self) -> list[FileEntry]:
        """Every member after the manifest, in the order an exporter writes them."""
        out = [f for v in self.versions for f in v.files]
        out += [t for db in self.databases for t in db.tiles]
        return out


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Manifest)


def encode_manifest(manifest: Manifest) -> bytes:
    """The manifest as written into a bundle (JSON, one version per line for readability)."""
    return msgspec.json.format(_encoder.encode(manifest), indent=1)


def _bad(what: str) -> BundleError:
    return BundleError(f"bundle manifest: {what}")


def _check_file(f: FileEntry, where: str) -> None:
    if f.size < 0:
        raise _bad(f"{where}: {f.key}: negative size {f.size}")
    if not _SHA256.fullmatch(f.sha256):
        raise _bad(f"{where}: {f.key}: sha256 {f.sha256!r} is not 64 lowercase hex digits")


def _check_version(v: VersionEntry, names: set[str]) -> None:
    what = f"version {v.module}@{v.version}"
    try:
        check_path(v.module)
    except ProxyError as e:
        raise _bad(f"{what}: not a module path: {e}") from None
    if canonical(v.version) != v.version:
        raise _bad(f"{what}: not a canonical version")
    for name, h1 in (("mod", v.mod), ("zip", v.zip)):
        if (h1 or name == "mod") and not _H1.fullmatch(h1):
            raise _bad(f"{what}: {name} hash {h1!r} is not an h1: hash")
    if not v.records:
        raise _bad(f"{what}: no checksum-database record proves it")
    seen: set[str] = set()
    for r in v.records:
        if r.sumdb not in names:
            raise _bad(f"{what}: record in {r.sumdb}, a database the bundle has no head of")
        if r.sumdb in seen:
            raise _bad(f"{what}: two records in {r.sumdb}")
        seen.add(r.sumdb)
        if r.id < 0:
            raise _bad(f"{what}: record id {r.id} in {r.sumdb}")
    if v.held:
        if v.files:
            raise _bad(f"{what}: a held version carries no files")
        return
    esc, escv = escape_path(v.module), escape_version(v.version)
    allowed = {version_key(esc, escv, k): k for k in _KINDS}
    kinds: set[str] = set()
    for f in v.files:
        kind = allowed.get(f.key)
        if kind is None:
            raise _bad(f"{what}: member {f.key!r} is not one of its files")
        if kind in kinds:
            raise _bad(f"{what}: {f.key} listed twice")
        kinds.add(kind)
        _check_file(f, what)
    if "mod" not in kinds:
        raise _bad(f"{what}: no .mod")
    if ("zip" in kinds) != bool(v.zip):
        raise _bad(f"{what}: a zip hash needs a .zip member and a .zip member a zip hash")


def _check_database(db: Database) -> None:
    if not is_sumdb_name(db.name):
        raise _bad(f"database {db.name!r}: not a checksum database name")
    if not db.head:
        raise _bad(f"database {db.name}: no signed tree head")
    prefix = sumdb_key(db.name, "")
    for t in db.tiles:
        path = t.key.removeprefix(prefix)
        try:
            tile = parse_tile_path(path)
        except TlogError:
            tile = None
        if not t.key.startswith(prefix) or tile is None or tile.L < 0:
            raise _bad(f"database {db.name}: {t.key!r} is not one of its hash tiles")
        _check_file(t, f"database {db.name}")


def parse_manifest(data: bytes) -> Manifest:
    """Decode and check a manifest's form (not its claims: :mod:`.check` proves those).

    Raises:
        BundleError: not JSON of this format, or a malformed entry (named).
    """
    if len(data) > MAX_MANIFEST:
        raise _bad(f"larger than {MAX_MANIFEST} bytes")
    try:
        m = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise _bad(f"not a bundle manifest: {e}") from None
    if m.format != FORMAT:
        raise _bad(f"format {m.format!r}, want {FORMAT!r} (made by another version?)")
    if not _CREATED.fullmatch(m.created):
        raise _bad(f"created {m.created!r}: want a UTC time, YYYY-MM-DDTHH:MM:SSZ")
    names: set[str] = set()
    for db in m.databases:
        if db.name in names:
            raise _bad(f"database {db.name} listed twice")
        names.add(db.name)
        _check_database(db)
    versions: set[tuple[str, str]] = set()
    for v in m.versions:
        _check_version(v, names)
        if (v.module, v.version) in versions:
            raise _bad(f"version {v.module}@{v.version} listed twice")
        versions.add((v.module, v.version))
    keys: set[str] = set()
    for f in m.members():
        if f.key in keys or f.key == MANIFEST_NAME:
            raise _bad(f"member {f.key} listed twice")
        keys.add(f.key)
    return m
