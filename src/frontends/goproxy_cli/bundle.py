"""``goproxy export`` and ``goproxy import``: carry a cache across an air gap with its proofs.

``goproxy export --cache-dir DIR --output FILE (go.sum... | --all | PATTERN...)`` writes one
bundle (:mod:`goproxy_core.bundle.manifest`: an uncompressed tar, ``manifest.json`` first):
the ``.info``, ``.mod`` and ``.zip`` of each chosen version as the cache holds them, each
version's checksum-database record, and per database a signed tree head with the hash tiles
that prove every record in it. Online, the head is the database's current one, fetched through
the configured upstreams or sumdb URL by the engine's own checks (the tree is checked against
the one this cache verified), and a tile the cache lacks is fetched the same way; with
``--offline`` the head is the newest tree this cache verified and every tile must be in the
cache. Versions the proxy's own checksum database (``--own-sumdb``) logged are proven in it
the same way. ``--since OLD`` makes an incremental bundle: only the versions OLD does not
hold, OLD's versions listed by record (proven at the new head too), and the tiles proving the
new head consistent with OLD's.

``goproxy import --cache-dir DIR [--sumdb KEY...] FILE`` streams the bundle (a zip is never
held in memory) into a staging directory under ``_goproxy/import/`` (never served, on the
cache's file system), checks everything (:class:`goproxy_core.bundle.ImportCheck`) against
the importer's own keys, and only then publishes: each member renamed into place (atomic per
file), then the cache-tree files an offline proxy and ``GOPROXY=file://`` clients read
(``sumdb/<name>/supported``, ``latest``, tiles, lookups; each version's ``.lookup`` proof and
``.record``; ``_goproxy/sumdb/<name>/verified-tree`` last). A refused bundle leaves the cache
as it was. Exit status: 0 done; 1 refused or failed (one line naming what); 2 bad settings.

Both work on an object store too (``--store URL`` with ``--store-endpoint`` and
``--store-region``, config keys and variables as for serve): export reads it through the
store interface; import stages in a local temporary directory instead (an object store has
no rename) and publishes by uploading, in the same order, only after every check passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import time
from typing import IO, TYPE_CHECKING, BinaryIO, TextIO, cast

from goproxy_core import CheckZip, hash_gomod
from goproxy_core.bundle import (
    FORMAT,
    MANIFEST_NAME,
    MAX_MANIFEST,
    BundleError,
    Database,
    FileEntry,
    ImportCheck,
    ImportPlan,
    Manifest,
    MemberFacts,
    RecordRef,
    VersionEntry,
    encode_manifest,
    parse_gosum,
    parse_manifest,
    proof_tiles,
)
from goproxy_core.errors import ProxyError
from goproxy_core.module.escape import escape_path, escape_version, unescape_path, unescape_version
from goproxy_core.module.paths import PrefixPatterns
from goproxy_core.proxy import keys
from goproxy_core.proxy.checks import MAX_INFO, MAX_MOD, MAX_SUMDB
from goproxy_core.proxy.effects import FetchUpstream, UpstreamResult
from goproxy_core.proxy.engine.checksums import ChecksumFlow
from goproxy_core.sumdb.client import NeedTiles, open_tree_note
from goproxy_core.sumdb.note import NoteError, Verifier, new_verifier
from goproxy_core.sumdb.tile import Tile, tile_path
from goproxy_core.sumdb.tlog import TlogError
from goproxy_core.sumdb.treenote import Tree, parse_record
from goproxy_stores import DiskStore, ops

from .settings import SettingsError, bad, load_settings
from .stores import add_store_flags, open_store, store_flags
from .verify import find_versions

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Generator, Iterable

    from goproxy_core import CompiledConfig
    from goproxy_core.proxy.config import CompiledSumdb
    from goproxy_core.storage import BlobStore
    from goproxy_io import Executor
    from goproxy_io.sumdb_base import LogBase

    from .settings import Settings

__all__ = ["register", "run"]

STAGING = "_goproxy/import/"
"""Where an import stages members: under ``_goproxy/``, which is never served."""
LOCAL_STAGING = "goproxy-import."
"""The start of the name of the local temporary directory an import into an object store
stages in (then its pid and a random part)."""
_CHUNK = 1 << 20


class PublishError(Exception):
    """Publishing a verified bundle failed part way (the store or the disk failed)."""


class ExportError(Exception):
    """The export cannot be made: the message says why (a version not in the cache ...)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export`` and ``import`` to the command line."""
    e = sub.add_parser(
        "export",
        help="write a bundle: module files with the checksum-database proofs of every one",
        description="Write one bundle file of module versions from the cache with the "
        "checksum-database records, signed tree head and tiles that prove them. Choose the "
        "versions by go.sum files, module path patterns (GOPRIVATE-style), or --all.",
    )
    e.add_argument("sources", nargs="*", metavar="GOSUM|PATTERN", help="go.sum files or patterns")
    e.add_argument("--output", "-o", required=True, metavar="FILE", help="the bundle to write")
    e.add_argument("--all", action="store_true", help="every version the cache holds")
    e.add_argument("--since", metavar="OLD_BUNDLE", help="only what OLD_BUNDLE does not hold")
    e.add_argument(
        "--offline",
        action="store_true",
        help="reach no checksum database: prove with the newest tree verified here and the "
        "tiles in the cache",
    )
    _common(e)
    e.add_argument("--upstream", metavar="LIST", help="as for serve (where the database is)")
    e.add_argument("--private", metavar="PATTERNS", help="as for serve")
    e.add_argument("--nosumdb", metavar="PATTERNS", help="as for serve")
    e.add_argument("--own-sumdb", metavar="NAME", help="as for serve: prove in it too")
    i = sub.add_parser(
        "import",
        help="verify a bundle against your own checksum-database keys, then add it to the cache",
        description="Check every file of a bundle against its manifest and every manifest "
        "entry against the checksum database's proofs, with the key given here (never one "
        "from the bundle); only then add it to the cache. A bundle that fails any check is "
        "refused whole.",
    )
    i.add_argument("bundle", metavar="FILE", help="the bundle to import")
    _common(i)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", metavar="DIR", help="the cache directory of goproxy serve")
    add_store_flags(p, "the object store goproxy serve uses, as for serve")
    p.add_argument("--config", metavar="FILE", help="TOML config file (as for serve)")
    p.add_argument(
        "--sumdb",
        action="append",
        metavar="KEY",
        help="checksum database verifier key (GOSUMDB syntax, optionally =URL); repeat for more",
    )
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])


def _settings(ns: argparse.Namespace, *, online: bool) -> Settings:
    flags: dict[str, object] = {
        "cache_dir": ns.cache_dir,
        **store_flags(ns),
        "sumdb": ",".join(ns.sumdb) if ns.sumdb else None,
        "log_level": ns.log_level,
    }
    for name in ("upstream", "private", "nosumdb", "own_sumdb"):
        flags[name] = getattr(ns, name, None)
    if not online:
        flags["upstream"] = "off"
    settings = load_settings(flags, config_file=ns.config)
    if settings.store:
        return settings  # the cache dir is not used
    root = settings.cache_dir
    if not os.path.lexists(root) and ns.command == "import":
        # An air-gapped proxy's first import starts its cache, as `goproxy serve` would.
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as e:
            why = e.strerror or str(e)
            raise bad("cache-dir", why, root, "a directory that can be created") from None
    if not os.path.isdir(root):
        what = "not a directory" if os.path.lexists(root) else "no such directory"
        raise bad("cache-dir", what, root, "the cache dir of goproxy serve")
    return settings


def run(ns: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``goproxy export`` or ``goproxy import``; returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        settings = _settings(ns, online=ns.command == "export" and not ns.offline)
    except SettingsError as e:
        print(f"goproxy: {e}", file=err)
        return 2
    if ns.command == "export":
        try:
            return export(settings, ns, out)
        except (ExportError, BundleError, OSError) as e:  # OSError: the store or the output
            print(f"goproxy export: {e}", file=err)
            return 1
    try:
        return import_bundle(settings, ns.bundle, out)
    except BundleError as e:
        print(f"goproxy import: refused {ns.bundle}: {e}; nothing of it was added", file=err)
        return 1
    except PublishError as e:
        print(
            f"goproxy import: {ns.bundle}: verified, then publishing failed: {e}; what was "
            "published is whole and verified, the rest is not: run the import again",
            file=err,
        )
        return 1
    except OSError as e:
        print(f"goproxy import: {ns.bundle}: {e}; nothing of it was added", file=err)
        return 1


# -- export --------------------------------------------------------------------------------


class _Flow(ChecksumFlow):
    """The engine's checksum-database checks (reaching it, fresh trees, tiles), for export."""

    def __init__(self, cfg: CompiledConfig, now: float) -> None:
        self.cfg = cfg
        self.now = now


class _Version:
    def __init__(self, module: str, version: str, zip_h1: str | None, want_zip: bool) -> None:
        self.module = module
        self.version = version
        self.gosum_zip = zip_h1
        self.want_zip = want_zip
        self.esc = escape_path(module)
        self.escv = escape_version(version)
        self.files: list[FileEntry] = []
        self.mod_h1 = ""
        self.zip_h1 = ""
        self.records: list[RecordRef] = []

    @property
    def name(self) -> str:
        return f"{self.module}@{self.version}"


class _Source:
    """One checksum database as the export reaches it: records, head, tiles."""

    def __init__(self, name: str, verifiers: tuple[Verifier, ...]) -> None:
        self.name = name
        self.verifiers = verifiers

    def record(self, v: _Version) -> tuple[int, bytes] | None:
        raise NotImplementedError

    def head(self) -> bytes:
        raise NotImplementedError

    def tiles(self, check: Callable[[dict[Tile, bytes]], NeedTiles | None]) -> dict[Tile, bytes]:
        raise NotImplementedError


class _Relayed(_Source):
    """A database the proxy verifies against: through the engine's flow and the executor."""

    def __init__(
        self,
        db: CompiledSumdb,
        store: BlobStore,
        flow: _Flow,
        executor: Executor | None,
    ) -> None:
        super().__init__(db.name, db.verifiers)
        self.db = db
        self.store = store
        self.flow = flow
        self.executor = executor
        self.base = ""

    def _drive(self, gen: Generator[object, object, object]) -> object:
        from goproxy_io import Pending

        pending = Pending()
        result: object = None
        try:
            while True:
                effect = gen.send(result)
                if self.executor is None:
                    if isinstance(effect, FetchUpstream):
                        result = UpstreamResult(0, error="--offline: not in the cache")
                        continue
                    result = _store_effect(self.store, effect)
                else:
                    result = self.executor.perform(effect, pending, None)
        except StopIteration as stop:
            return stop.value
        except ProxyError as e:
            raise ExportError(str(e)) from None
        finally:
            if self.executor is not None:
                self.executor.abandon(pending)

    def _reach(self) -> str:
        if not self.base and self.executor is not None:
            self.base = cast("str", self._drive(self.flow.reach(self.db, "exporting")))
        return self.base

    def record(self, v: _Version) -> tuple[int, bytes] | None:
        key = keys.proof_key(v.esc, v.escv)
        kept = ops.read_small(self.store, key, MAX_SUMDB)
        if kept is None and self.executor is not None:
            self._drive(self.flow.record_of(self.db, v.module, v.version))
            kept = ops.read_small(self.store, key, MAX_SUMDB)
        if kept is None:
            return None
        try:
            id, text, note = parse_record(kept.data)
            open_tree_note(note, self.verifiers)
        except (NoteError, TlogError):
            return None  # a proof of another database
        return id, text

    def head(self) -> bytes:
        if self.executor is None:
            kept = ops.read_small(self.store, keys.sumdb_tree_key(self.name), MAX_SUMDB)
            if kept is None:
                raise ExportError(
                    f"checksum database {self.name}: this cache verified no tree of it yet "
                    "(--offline proves with the newest tree verified here)"
                )
            return kept.data
        base = self._reach()
        _, note = cast("tuple[Tree, bytes]", self._drive(self.flow.fresh_tree(self.db, base)))
        return note

    def tiles(self, check: Callable[[dict[Tile, bytes]], NeedTiles | None]) -> dict[Tile, bytes]:
        used: dict[Tile, bytes] = {}

        def run(have: dict[Tile, bytes]) -> NeedTiles | bool:
            got = check(have)
            if got is None:
                used.update(have)
                return True
            return got

        self._drive(self.flow.with_tiles(self.db, self._reach(), run))
        return used


def _store_effect(store: BlobStore, effect: object) -> object:
    """The store effects of the checksum flow, carried out without an executor (--offline)."""
    from goproxy_core.proxy.effects import ReadBlob, SaveBlob

    if isinstance(effect, ReadBlob):
        return ops.read_small(store, effect.key, effect.max_size)
    if isinstance(effect, SaveBlob):
        ops.save(store, effect.key, effect.data)
        return None
    raise AssertionError(f"unexpected effect {effect!r}")  # pragma: no cover


class _Own(_Source):
    """The proxy's own checksum database (``--own-sumdb``): read from its log."""

    def __init__(self, log: LogBase, verifiers: tuple[Verifier, ...]) -> None:
        super().__init__(log.name, verifiers)
        self.log = log

    def record(self, v: _Version) -> tuple[int, bytes] | None:
        body = self.log.lookup(v.module, v.version)
        if body is None:
            return None
        id, text, _ = parse_record(body)
        return id, text

    def head(self) -> bytes:
        return self.log.latest()

    def tiles(self, check: Callable[[dict[Tile, bytes]], NeedTiles | None]) -> dict[Tile, bytes]:
        have: dict[Tile, bytes] = {}
        for _ in range(64):
            need = check(have)
            if need is None:
                return have
            for t in need.tiles:
                data = self.log.tile(tile_path(t))
                if data is None:
                    raise ExportError(f"checksum database {self.name}: no tile {tile_path(t)}")
                have[t] = data
        raise ExportError(f"checksum database {self.name}: a proof needs too many tiles")


def _read_manifest(path: str) -> Manifest:
    """The manifest of the bundle at ``path`` (its first member), checked for form only."""
    with tarfile.open(path, "r|") as tf:
        return _first_manifest(tf)


def _first_manifest(tf: tarfile.TarFile) -> Manifest:
    """The manifest, which must be the first member of the stream ``tf`` (form only)."""
    member = tf.next()
    if member is None or member.name != MANIFEST_NAME or not member.isfile():
        raise BundleError(f"the first member is not {MANIFEST_NAME}")
    if member.size > MAX_MANIFEST:
        raise BundleError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST} bytes")
    f = tf.extractfile(member)
    assert f is not None
    return parse_manifest(f.read())


def _choose(store: BlobStore, ns: argparse.Namespace) -> dict[tuple[str, str], _Version]:
    """The versions ``ns`` names: from go.sum files, patterns, or ``--all``."""
    chosen: dict[tuple[str, str], _Version] = {}
    gosums, patterns = [], []
    for s in ns.sources:
        if os.path.isdir(s) and os.path.isfile(os.path.join(s, "go.sum")):
            gosums.append(os.path.join(s, "go.sum"))  # a module's directory: its go.sum
        elif os.path.isfile(s):
            gosums.append(s)
        else:
            patterns.append(s)
    if not (gosums or patterns or ns.all):
        raise ExportError("say what to export: go.sum files, module path patterns, or --all")
    for path in gosums:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for (module, version), h in parse_gosum(text, path).items():
            old = chosen.get((module, version))
            want = h is not None or (old is not None and old.want_zip)
            chosen[module, version] = _Version(module, version, h, want)
    matched: set[str] = set()
    if ns.all or patterns:
        match = PrefixPatterns(",".join(patterns)) if patterns else None
        compiled = [(p, PrefixPatterns(p)) for p in patterns]
        for esc, escv in find_versions(store):
            try:
                module, version = unescape_path(esc), unescape_version(escv)
            except ProxyError:
                continue
            if match is not None and not ns.all and not match.matches(module):
                continue
            matched.update(p for p, each in compiled if each.matches(module))
            if (module, version) in chosen:
                continue
            has_zip = store.stat(keys.version_key(esc, escv, "zip")) is not None
            chosen[module, version] = _Version(module, version, None, has_zip)
    missed = [p for p in patterns if p not in matched and not ns.all]
    if missed:
        raise ExportError(
            f"{', '.join(missed)}: neither a go.sum file nor a pattern matching a cached module"
        )
    return chosen


def _sha_file(store: BlobStore, key: str) -> FileEntry | None:
    f = store.open(key)
    if f is None:
        return None
    h = hashlib.sha256()
    size = 0
    with f:
        while block := f.read(_CHUNK):
            h.update(block)
            size += len(block)
    return FileEntry(key, size, h.hexdigest())


def _hash_files(store: BlobStore, v: _Version) -> str:
    """Fill ``v.files`` and its ``h1:`` hashes from the cache; "" or why it cannot be."""
    info = _sha_file(store, keys.version_key(v.esc, v.escv, "info"))
    if info is not None:
        v.files.append(info)
    mod_key = keys.version_key(v.esc, v.escv, "mod")
    f = store.open(mod_key)
    if f is None:
        return "its .mod is not in the cache (warm it first)"
    with f:
        data = f.read(MAX_MOD + 1)
    if len(data) > MAX_MOD:
        return "its .mod is larger than a .mod may be"
    v.mod_h1 = hash_gomod(data)
    v.files.append(FileEntry(mod_key, len(data), hashlib.sha256(data).hexdigest()))
    if not v.want_zip:
        return ""
    zip_key = keys.version_key(v.esc, v.escv, "zip")
    z = store.open(zip_key)
    if z is None:
        return "its .zip is not in the cache (warm it first)"
    with z:
        verdict = CheckZip(zip_key, v.module, v.version).check(z)
    if verdict.problem:
        return f"its cached .zip is not valid ({verdict.problem}): run goproxy verify"
    v.zip_h1 = verdict.h1
    v.files.append(FileEntry(zip_key, verdict.size, verdict.sha256))
    if v.gosum_zip is not None and v.gosum_zip != v.zip_h1:
        return f"its cached .zip hashes to {v.zip_h1}, go.sum says {v.gosum_zip}"
    return ""


def _disagrees(v: _Version, sumdb: str, text: str) -> str:
    """Why the cached files do not match the record (cmd/go ``checkSumDB``), or ""."""
    lines = text.split("\n")
    for name, h1 in ((f"{v.version}/go.mod", v.mod_h1), (v.version, v.zip_h1)):
        if h1 and f"{v.module} {name} {h1}" not in lines:
            return (
                f"its cached {'.mod' if name.endswith('go.mod') else '.zip'} hashes to {h1}, "
                f"which its record in {sumdb} does not hold: run goproxy verify"
            )
    return ""


def _sources(
    settings: Settings, cfg: CompiledConfig, store: BlobStore, executor: Executor | None, now: float
) -> tuple[dict[str, _Relayed], _Own | None]:
    """The databases the export proves in: those the proxy verifies against, and its own."""
    flow = _Flow(cfg, now)
    relayed = {name: _Relayed(db, store, flow, executor) for name, db in cfg.sumdb.items()}
    own: _Own | None = None
    name = settings.own_sumdb
    if name and settings.store:
        from goproxy_io.sumdb_objlog import ObjectSumdbLog
        from goproxy_stores.objectstore import ObjectStore

        assert isinstance(store, ObjectStore)
        # Its log in the store's own objects, where every replica appends; a store that has
        # none yet holds no version of it (and the export makes no key).
        if store.own_get(f"sumdb/{name}/signer.key") is not None:
            from goproxy_io.sumdb_base import LogError

            try:
                log = ObjectSumdbLog(store, name)
            except LogError as e:
                raise ExportError(f"own checksum database {name}: {e}") from None
            own = _Own(log, (new_verifier(log.vkey),))
    elif name:
        from goproxy_core.sumdb import verifier_key
        from goproxy_io.sumdb_log import SumdbLog, signer_key

        directory = os.path.join(settings.cache_dir, "sumdb", name)
        if os.path.isdir(directory):
            vkey = verifier_key(signer_key(directory, name))
            own = _Own(SumdbLog(directory, name), (new_verifier(vkey),))
    return relayed, own


def export(settings: Settings, ns: argparse.Namespace, out: TextIO) -> int:
    """``goproxy export``: choose, hash, prove, write."""
    from goproxy_core import compile_config

    from .main import _fetcher

    started = time.monotonic()
    now = time.time()
    store = open_store(settings)
    cfg = compile_config(settings.proxy_config())
    executor: Executor | None = None
    if not ns.offline:
        from goproxy_io import Executor

        executor = Executor(store, _fetcher(settings))
    try:
        return _export(settings, ns, out, store, cfg, executor, now, started)
    finally:
        if executor is not None:
            executor.close()


def _export(
    settings: Settings,
    ns: argparse.Namespace,
    out: TextIO,
    store: BlobStore,
    cfg: CompiledConfig,
    executor: Executor | None,
    now: float,
    started: float,
) -> int:
    old = _read_manifest(ns.since) if ns.since else None
    chosen = _choose(store, ns)
    relayed, own = _sources(settings, cfg, store, executor, now)
    held = {(v.module, v.version): v for v in old.versions} if old else {}
    problems: list[str] = []
    new: list[_Version] = []
    for key in sorted(chosen):
        v = chosen[key]
        if key in held:
            continue  # carried by the earlier bundle: listed by record below
        why = _hash_files(store, v)
        if not why:
            relay = cfg.sumdb_for(v.module)
            for src in (relayed[relay.name] if relay is not None else None, own):
                if src is None:
                    continue
                rec = src.record(v)
                if rec is None:
                    continue
                text = rec[1].decode("utf-8")
                why = why or _disagrees(v, src.name, text)
                v.records.append(RecordRef(src.name, rec[0], text))
            if not v.records and not why:
                why = (
                    "no checksum database this proxy knows proves it (private or nosumdb, and "
                    "not in the own database): it cannot be carried with proofs"
                )
        if why:
            problems.append(f"{v.name}: {why}")
        new.append(v)
    if problems:
        raise ExportError(
            f"{len(problems)} version(s) cannot be exported: "
            + "; ".join(problems[:20])
            + (" ..." if len(problems) > 20 else "")
        )
    entries = [
        VersionEntry(
            module=v.module,
            version=v.version,
            mod=v.mod_h1,
            zip=v.zip_h1,
            files=v.files,
            records=v.records,
        )
        for v in new
    ]
    for h in held.values():
        entries.append(
            VersionEntry(
                module=h.module,
                version=h.version,
                mod=h.mod,
                zip=h.zip,
                records=h.records,
                held=True,
            )
        )
    databases: list[Database] = []
    tile_data: dict[str, bytes] = {}
    by_name: dict[str, _Source] = dict(relayed)
    if own is not None:
        by_name[own.name] = own
    for name in sorted({r.sumdb for e in entries for r in e.records}):
        source = by_name.get(name)
        if source is None:
            raise ExportError(
                f"the earlier bundle's database {name} is not one this proxy knows (--sumdb)"
            )
        proven, tiles = _prove(source, entries, old)
        databases.append(proven)
        tile_data.update(tiles)
    manifest = Manifest(
        format=FORMAT,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        databases=databases,
        versions=entries,
    )
    parse_manifest(encode_manifest(manifest))  # what we write, the importer can read
    size = _write_bundle(ns.output, manifest, store, tile_data)
    print(
        f"export: {len(new)} versions, {len(held)} held from {ns.since} , "
        if ns.since
        else f"export: {len(new)} versions, ",
        end="",
        file=out,
    )
    heads = ", ".join(f"{d.name} at tree #{_size(d.head)}" for d in databases)
    print(
        f"{sum(len(d.tiles) for d in databases)} tiles ({heads or 'no database'}); "
        f"{size} bytes in {time.monotonic() - started:.1f}s -> {ns.output}",
        file=out,
        flush=True,
    )
    return 0


def _size(note: str) -> int:
    return int(note.split("\n")[1])


def _prove(
    src: _Source, entries: list[VersionEntry], old: Manifest | None
) -> tuple[Database, dict[str, bytes]]:
    """The database's head, and the tiles that prove every record in it (and ``old``'s head)."""
    note = src.head()
    try:
        head = open_tree_note(note, src.verifiers)
    except (NoteError, TlogError) as e:
        raise ExportError(
            f"checksum database {src.name}: its tree head does not verify: {e}"
        ) from None
    since = ""
    olds: list[Tree] = []
    if old is not None:
        for d in old.databases:
            if d.name == src.name:
                try:
                    olds.append(open_tree_note(d.head.encode(), src.verifiers))
                except (NoteError, TlogError) as e:
                    raise ExportError(
                        f"--since: the earlier bundle's head of {src.name} does not verify: {e}"
                    ) from None
                since = d.head
    records = [
        (r.id, r.text.encode("utf-8")) for e in entries for r in e.records if r.sumdb == src.name
    ]
    try:
        tiles = src.tiles(lambda have: proof_tiles(head, records, have, since=olds))
    except TlogError as e:
        raise ExportError(
            f"checksum database {src.name}: the records do not prove at tree #{head.N}: {e}"
        ) from None
    files: dict[str, bytes] = {}
    entries_out: list[FileEntry] = []
    for t in sorted(tiles, key=tile_path):
        key = keys.sumdb_key(src.name, tile_path(t))
        files[key] = tiles[t]
        entries_out.append(FileEntry(key, len(tiles[t]), hashlib.sha256(tiles[t]).hexdigest()))
    return Database(src.name, note.decode("utf-8"), entries_out, since), files


class _Hashing:
    """A reader that hashes what passes through (the export checks each file as it copies)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def _write_bundle(path: str, manifest: Manifest, store: BlobStore, tiles: dict[str, bytes]) -> int:
    """Write the tar (to a temporary name beside ``path``, renamed when whole); its size."""
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with (
            open(tmp, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tf,
        ):
            _add(tf, MANIFEST_NAME, encode_manifest(manifest))
            for v in manifest.versions:
                for f in v.files:
                    src = store.open(f.key)
                    if src is None:
                        raise ExportError(f"{f.key}: removed from the cache while exporting")
                    with src:
                        info = tarfile.TarInfo(f.key)
                        info.size = f.size
                        info.mtime = int(time.time())
                        hashing = _Hashing(src)
                        tf.addfile(info, cast("IO[bytes]", hashing))
                    if hashing.h.hexdigest() != f.sha256:
                        raise ExportError(f"{f.key}: changed in the cache while exporting")
            for db in manifest.databases:
                for t in db.tiles:
                    _add(tf, t.key, tiles[t.key])
            raw.flush()
            os.fsync(raw.fileno())
        size = os.path.getsize(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return size


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tf.addfile(info, io.BytesIO(data))


# -- import --------------------------------------------------------------------------------


def _clean_staging(store: DiskStore) -> None:
    """Remove what crashed imports staged (their process is gone)."""
    for key in store.list_keys(STAGING):
        run_id = key[len(STAGING) :].split("/", 1)[0]
        pid = run_id.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            store.delete(key)
            _remove_empty_dirs(str(store.path(STAGING + run_id)))


def _clean_local_staging() -> None:
    """Remove the local staging directories of imports killed before their end (their
    process is gone): ``goproxy-import.<pid>.*`` in the temporary directory."""
    top = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(top):
            pid = name[len(LOCAL_STAGING) :].split(".", 1)[0]
            if name.startswith(LOCAL_STAGING) and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(os.path.join(top, name), ignore_errors=True)


def _remove_empty_dirs(top: str) -> None:
    """Remove the directories under ``top`` and ``top`` itself, where empty (never above)."""
    for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _verifiers(cfg: CompiledConfig) -> dict[str, tuple[Verifier, ...]]:
    return {name: db.verifiers for name, db in cfg.sumdb.items()}


def import_bundle(settings: Settings, path: str, out: TextIO) -> int:
    """``goproxy import``: stream, stage, verify all, then publish.

    A disk cache stages under :data:`STAGING` in the cache itself (one file system: each
    member is published with a rename). Any other store (``--store``) stages in a local
    temporary directory of its own (``$TMPDIR``), removed at the end, and publishes by
    uploading each member in the same order: nothing reaches the store before every check
    passed, and a refused bundle leaves it as it was.
    """
    from goproxy_core import compile_config

    started = time.monotonic()
    store = open_store(settings)
    cfg = compile_config(settings.proxy_config())
    local: str | None = None
    if isinstance(store, DiskStore):
        staging = store
        _clean_staging(store)
    else:
        _clean_local_staging()
        local = tempfile.mkdtemp(prefix=f"{LOCAL_STAGING}{os.getpid()}.")
        staging = DiskStore(local)
    stage = f"{STAGING}{os.getpid()}-{secrets.token_hex(4)}/"
    staged: list[str] = []
    try:
        check, total = _stage(store, staging, cfg, path, stage, staged)
        plan = check.finish()
        try:
            published = _publish(store, staging, plan, stage)
        except OSError as e:
            raise PublishError(str(e)) from e
    finally:
        if local is not None:
            shutil.rmtree(local, ignore_errors=True)
        else:
            for key in staged:
                with contextlib.suppress(OSError):
                    staging.delete(key)
            _remove_empty_dirs(str(staging.path(stage.rstrip("/"))))
    _index(store, published)
    heads = ", ".join(f"{n} at tree #{t.N}" for n, t in sorted(plan.heads.items()))
    print(
        f"import: {plan.versions} versions, {plan.held} earlier versions proven again, "
        f"{len(published)} files ({total} bytes) from {path}; verified with "
        f"{heads or 'no database'}; in {time.monotonic() - started:.1f}s",
        file=out,
        flush=True,
    )
    return 0


def _stage(
    store: BlobStore,
    staging: DiskStore,
    cfg: CompiledConfig,
    path: str,
    stage: str,
    staged: list[str],
) -> tuple[ImportCheck, int]:
    """Stream every member into ``staging`` under ``stage``, checking each against the
    manifest and ``store``'s verified trees; the check, to finish, and the bytes staged."""
    total = 0
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tf:
            manifest = _first_manifest(tf)
            verified = {
                d.name: _kept(store, keys.sumdb_tree_key(d.name)) for d in manifest.databases
            }
            check = ImportCheck(
                manifest, _verifiers(cfg), verified, now=time.time(), source=f"bundle {path}"
            )
            while (member := tf.next()) is not None:
                if not member.isfile():
                    raise BundleError(f"bundle member {member.name!r}: not a regular file")
                entry = check.member(member.name)
                if member.size != entry.size:
                    raise BundleError(
                        f"bundle member {member.name}: {member.size} bytes, the manifest says "
                        f"{entry.size}"
                    )
                body = tf.extractfile(member)
                assert body is not None
                facts = _stage_member(staging, entry, body, stage, staged)
                check.checked(entry.key, facts)
                total += facts.size
    except tarfile.TarError as e:
        raise BundleError(f"not a readable bundle (tar): {e}") from None
    return check, total


def _kept(store: BlobStore, key: str) -> bytes | None:
    """The tree verified here, or None. A store that fails to answer raises ``OSError``:
    taken for no tree, it would let a bundle skip the check against it (a store on a network
    fails now and then)."""
    f = store.open(key)
    if f is None:
        return None
    with f:
        data = f.read(MAX_SUMDB + 1)
    return None if len(data) > MAX_SUMDB else data


def _stage_member(
    store: DiskStore, entry: FileEntry, body: IO[bytes], stage: str, staged: list[str]
) -> MemberFacts:
    """Stream one member into the staging area; what hashing it found."""
    key = entry.key
    kind = key.rpartition(".")[2] if "/@v/" in key else "tile"
    if kind != "zip":
        limit = {"mod": MAX_MOD, "info": MAX_INFO}.get(kind, MAX_SUMDB)
        if entry.size > limit:
            raise BundleError(f"bundle member {key}: {entry.size} bytes, more than {limit}")
        data = body.read(entry.size + 1)
        facts = MemberFacts(len(data), hashlib.sha256(data).hexdigest(), data=data)
        if kind == "mod":
            facts = MemberFacts(facts.size, facts.sha256, h1=hash_gomod(data), data=data)
        if kind != "tile":
            staged.append(stage + key)
            w = store.writer(stage + key)
            try:
                w.write(data)
                w.commit()
            except BaseException:
                w.abort()
                raise
        return facts
    staged.append(stage + key)
    w = store.writer(stage + key)
    h = hashlib.sha256()
    size = 0
    try:
        while block := body.read(_CHUNK):
            w.write(block)
            h.update(block)
            size += len(block)
        w.commit()
    except BaseException:
        w.abort()
        raise
    digest = h.hexdigest()
    f = store.open(stage + key)
    assert f is not None
    with f:
        module, version = _version_of(key)
        verdict = CheckZip(key, module, version).check(f, (digest, size))
    return MemberFacts(size, digest, h1=verdict.h1, problem=verdict.problem)


def _version_of(key: str) -> tuple[str, str]:
    esc, _, name = key.rpartition("/@v/")
    return unescape_path(esc), unescape_version(name.rpartition(".")[0])


def _publish(store: BlobStore, staging: DiskStore, plan: ImportPlan, stage: str) -> list[str]:
    """Move the staged members into place, then write the cache-tree files; their keys.

    Staged in the store itself, a member is renamed into place; staged elsewhere, it is
    uploaded (one atomic commit each), its bytes hashed again on the way: what is published
    is what was checked.
    """
    done: list[str] = []
    trees = {keys.sumdb_tree_key(name): tree.N for name, tree in plan.heads.items()}
    for f in plan.members:
        if staging is store:
            if not store.move(stage + f.key, f.key):
                raise OSError(f"staged {f.key} vanished before it was published")
        else:
            _upload(staging, stage + f.key, store, f)
        done.append(f.key)
    for w in plan.writes:
        if w.if_present and store.stat(w.if_present) is None:
            continue
        if w.key in trees and _tree_size(_kept(store, w.key)) >= trees[w.key]:
            # A tree as large verified meanwhile (a replica on the same bucket, another
            # import): the newest verified tree is kept, never replaced by an older one.
            continue
        writer = store.writer(w.key)
        try:
            writer.write(w.data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        done.append(w.key)
    return done


def _tree_size(note: bytes | None) -> int:
    """The size of the tree a stored ``verified-tree`` note names; -1 if none or unreadable."""
    try:
        return -1 if note is None else int(note.split(b"\n")[1])
    except (IndexError, ValueError):
        return -1


def _upload(staging: DiskStore, staged: str, store: BlobStore, f: FileEntry) -> None:
    """Copy the staged member to ``f.key`` in ``store``, streaming; committed only when its
    bytes are still the ones the manifest names."""
    src = staging.open(staged)
    if src is None:
        raise OSError(f"staged {f.key} vanished before it was published")
    writer = store.writer(f.key)
    try:
        h = hashlib.sha256()
        with src:
            while block := src.read(_CHUNK):
                h.update(block)
                writer.write(block)
        if h.hexdigest() != f.sha256:
            raise OSError(f"staged {f.key} changed before it was published")
        writer.commit()
    except BaseException:
        writer.abort()
        raise


def _index(store: BlobStore, published: Iterable[str]) -> None:
    """Tell the disk quota's usage index of the new files, when the cache has one."""
    from goproxy_stores.usage import INDEX_FILE, UsageIndex

    if not isinstance(store, DiskStore) or store.stat(INDEX_FILE) is None:
        return
    index = UsageIndex(store)
    try:
        index.record_files(list(published))
    finally:
        index.close()
