"""``goproxy cache ls|du|rm|gc|stats``: look at and look after a cache dir.

Theory of operation: every command works through the disk quota's usage index
(:class:`goproxy_stores.usage.UsageIndex`, ``<cache-dir>/_goproxy/usage.sqlite``), the one
the servers keep, so each is safe while servers serve the same cache dir:

* Reading commands (``ls``, ``du``, ``stats``) first make the index agree with the disk
  (:meth:`~goproxy_stores.usage.UsageIndex.reconcile`, a scan with a progress bar;
  ``--no-scan`` skips it once the index exists), then read it.
* ``rm`` removes whole versions the way an eviction does: under the cross-process gc lock,
  each version is marked ``evicting``, the servers are told to forget what they keep in
  memory (the ``_goproxy/evicted`` mark they watch), given :data:`~goproxy_stores.usage.SETTLE`
  seconds, then its files are unlinked and its rows deleted; the mark is rewritten and the
  command waits the same time again, so once it returns no server answers from memory a file
  it removed: the next request fetches the version again. A file being sent stays readable
  until its answer ends (an unlinked file lives on while open).
* ``gc`` applies the quota of the settings now
  (:meth:`~goproxy_stores.usage.UsageIndex.apply_quota`, the core's ``plan_eviction``); when
  a server is evicting, it says so and waits for the gc lock.

Names and patterns: ``MODULE@VERSION`` names one version, ``MODULE`` (for ``rm``) every
version of that module; ``ls`` and ``rm --pattern`` take GOPRIVATE-style patterns, matched
by the core's :class:`~goproxy_core.module.paths.PrefixPatterns` (``example.com/team``
matches that module and every module under it, ``*.corp.example`` every module of those
hosts). Every bad argument or setting is one line naming it, exit status 2; a name that is not
in the cache is one line, exit status 1.

Progress bars (tqdm) go to stderr, only when stderr is a terminal and ``--quiet`` is not
given: the scan (files found against the index's last count) and removals of many versions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import logging
import os
import sqlite3
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from tqdm import tqdm

from goproxy_core import compile_config
from goproxy_core.errors import ProxyError
from goproxy_core.module.escape import escape_path, escape_version
from goproxy_core.module.paths import PrefixPatterns, check_path, path_match
from goproxy_core.proxy.quota import LOW_WATER, StoredVersion, plan_eviction, unit_keys
from goproxy_core.semver import compare, is_valid
from goproxy_stores import DiskStore
from goproxy_stores.usage import SETTLE, UsageIndex, UsagePlace, VersionUsage, usage_place

from .settings import Settings, SettingsError, bad, load_settings, parse_size
from .stores import add_store_flags, open_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from goproxy_stores.objectstore import ObjectStore

__all__ = ["CacheIndex", "human_size", "register", "run"]

EXIT_OK = 0
EXIT_MISSING = 1
EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

_SORTS = ("last-use", "size", "module")
_PATTERN_CHARS = frozenset("*?[],\\")
"""Characters no module path has (x/mod ``CheckPath``): an argument with one is a pattern."""


class UsageError(Exception):
    """A bad argument: one line, exit status 2."""


# -- the index, with what the commands need on top ---------------------------------------


class CacheIndex(UsageIndex):
    """The usage index with the admin commands' additions: removing many versions at once
    (one settle for all of them), progress for unlinking, the eviction plan of a dry run,
    and the index's own facts (last scan, versions being evicted).

    Args:
        store: the cache's store (the disk store, or an object store with a ``state_dir``).
        place: where the index lives (``goproxy_stores.usage.usage_place``).
        settle: seconds between telling the servers and unlinking (:data:`SETTLE`).
        bar: makes a progress bar: ``bar(total, description, unit)``.
    """

    def __init__(
        self,
        store: DiskStore | ObjectStore,
        *,
        place: UsagePlace | None = None,
        settle: float = SETTLE,
        bar: Callable[[int | None, str, str], tqdm[Any]] | None = None,
    ) -> None:
        super().__init__(store, place=place, settle=settle)
        self._bar = bar or _no_bar

    def last_scan(self) -> float | None:
        """When a scan of the whole cache dir last finished (seconds since the epoch)."""
        row = self._db().execute("SELECT value FROM meta WHERE key = 'scan'").fetchone()
        return None if row is None else float(row[0])

    def evicting(self) -> int:
        """How many versions are marked for eviction (a running or interrupted one)."""
        return int(
            self._db().execute("SELECT COUNT(*) FROM versions WHERE evicting = 1").fetchone()[0]
        )

    def evictable(self) -> Iterator[VersionUsage]:
        """The versions not being evicted already (what a gc plans with)."""
        for row in self._db().execute(
            "SELECT module, version, unit, bytes, last_use, uses FROM versions WHERE evicting = 0"
        ):
            yield VersionUsage(*row)

    def plan(
        self, *, limit: int, min_free: int, keep: Callable[[str], bool]
    ) -> tuple[int, int | None, list[VersionUsage]]:
        """What :meth:`gc` would remove now: (total, free space, versions in order)."""
        rows = {v.unit: v for v in self.evictable()}
        total, free = self.total(), self.free_space()
        chosen = plan_eviction(
            (
                StoredVersion(v.unit, v.module, v.version, v.bytes, v.last_use)
                for v in rows.values()
            ),
            total,
            limit,
            free,
            min_free,
            LOW_WATER,
            keep,
        )
        return total, free, [rows[v.unit] for v in chosen]

    def scan(self) -> None:
        """Make the index agree with the disk, with a bar counting the files found."""
        with self._bar(self.file_count() or None, "scanning the cache", "file") as bar:

            def found(files: int) -> None:
                bar.update(files)

            self.scan_progress = found
            try:
                self.reconcile()
            finally:
                self.scan_progress = None

    def remove_versions(self, versions: Iterable[VersionUsage]) -> list[VersionUsage]:
        """Remove whole versions now, whatever the quota says (private and pinned ones too);
        returns those that were still indexed. Waits for the gc lock.

        Like an eviction: marked first (a crash in between is finished by the next scan or
        gc), the servers told, :attr:`settle` seconds, unlinked, told again; then
        :attr:`settle` seconds more, so that no server still answers a removed file from
        memory when this returns.
        """
        with self._gc_lock(wait=True):
            wanted = {v.unit: v for v in versions}
            left = [v for u, v in wanted.items() if self._indexed(u)]
            if not left:
                return []
            with self._write() as db:
                db.executemany(
                    "UPDATE versions SET evicting = 1 WHERE unit = ?", [(v.unit,) for v in left]
                )
            self.place.mark([v.unit for v in left])
            self._tell_servers()
            if self.settle:
                time.sleep(self.settle)
            self._unlink([v.unit for v in left])
            self.place.unmark()
            self._tell_servers()
        if self.settle:
            time.sleep(self.settle)
        return left

    def _indexed(self, unit: str) -> bool:
        row = self._db().execute("SELECT 1 FROM versions WHERE unit = ?", (unit,)).fetchone()
        return row is not None

    def _unlink(self, units: list[str]) -> list[str]:
        """The index's unlinking, one version at a time, with a bar when there are many."""
        if len(units) < 2:
            return super()._unlink(units)
        with self._bar(len(units), "removing versions", "version") as bar:
            for unit in units:
                super()._unlink([unit])
                bar.update(1)
        return units

    def gc_lock_held(self) -> bool:
        """Whether another process holds the gc lock now (evicting, scanning, removing)."""
        return self.place.lock_held()


def _no_bar(total: int | None, desc: str, unit: str) -> tqdm[Any]:
    return tqdm(total=total, desc=desc, unit=unit, disable=True)


# -- formatting ----------------------------------------------------------------------------


def human_size(n: int) -> str:
    """Bytes in binary units, three significant digits past 1 KiB: ``512 B``, ``40.3 KiB``,
    ``1.21 GiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if round(value) < 1000 or unit == "PiB":
            break
    digits = 2 if round(value, 2) < 10 else 1 if round(value, 1) < 100 else 0
    return f"{value:.{digits}f} {unit}"


def _when(t: float | None) -> str:
    """A time as RFC 3339 in UTC, to the second (``-`` when unknown)."""
    if not t:
        return "-"
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(v: VersionUsage) -> dict[str, Any]:
    return {
        "module": v.module,
        "version": v.version,
        "bytes": v.bytes,
        "last_use": _when(v.last_use),
        "uses": v.uses,
    }


def _table(out: TextIO, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell; the last column is not padded, numbers are
    right-aligned (those whose header is SIZE, USES, BYTES, FILES or VERSIONS)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    right = {i for i, h in enumerate(header) if h in ("SIZE", "USES", "BYTES", "VERSIONS")}
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else (c if i == len(r) - 1 else c.ljust(w))
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


# -- arguments -----------------------------------------------------------------------------


class _OneLineParser(argparse.ArgumentParser):
    """A subcommand's parser whose errors are one line (``goproxy: cache ls: argument
    --sort: invalid choice: ...``), exit status 2, as every other bad input here."""

    def error(self, message: str) -> NoReturn:
        name = self.prog.removeprefix("goproxy ")
        self.exit(EXIT_USAGE, f"goproxy: {name}: {message} (see goproxy {name} --help)\n")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``goproxy cache`` and its subcommands to the command line's subparsers."""
    c = sub.add_parser(
        "cache",
        help="look at and look after the cache dir (ls, du, rm, gc, stats); safe while "
        "servers serve it",
        description="Admin commands on the cache dir of `goproxy serve`, through the disk "
        "quota's usage index (_goproxy/usage.sqlite): safe while servers serve the same "
        "dir. Reading commands scan the cache first to bring the index up to date "
        "(--no-scan skips that). Exit status: 0 done, 1 a named module or version is not "
        "in the cache, 2 a bad argument or setting.",
    )
    csub = c.add_subparsers(
        dest="cache_command", required=True, metavar="COMMAND", parser_class=_OneLineParser
    )

    def common(p: argparse.ArgumentParser, *, scan: bool = True) -> None:
        p.add_argument("--cache-dir", metavar="DIR", help="the cache dir (as for serve)")
        add_store_flags(
            p,
            "the object store (as for serve): its blobs, with this machine's index of them in "
            "the cache dir",
        )
        p.add_argument("--config", metavar="FILE", help="TOML config file (as for serve)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")
        if scan:
            p.add_argument(
                "--no-scan",
                action="store_true",
                help="read the index as it is, without scanning the cache first (rm scans "
                "only for --pattern)",
            )

    ls = csub.add_parser(
        "ls",
        help="list cached module versions",
        description="List cached module versions: module, version, size, last use (UTC), "
        "uses. PATTERNs are GOPRIVATE-style (example.com/team matches it and every module "
        "under it; *.corp.example every module of those hosts) or MODULE@VERSION.",
    )
    ls.add_argument("patterns", nargs="*", metavar="PATTERN", help="which modules (all)")
    ls.add_argument(
        "--sort",
        choices=_SORTS,
        default="module",
        help="module (then version), last-use (least recent first) or size (largest "
        "first); default module",
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    common(ls)

    du = csub.add_parser(
        "du",
        help="the cache's size against max-cache-size and min-free-space; the largest modules",
    )
    du.add_argument("--top", type=int, default=10, metavar="N", help="largest modules shown (10)")
    du.add_argument("--json", action="store_true", help="one JSON object")
    _quota_flags(du)
    common(du)

    rm = csub.add_parser(
        "rm",
        help="remove module versions now (private and pinned ones too)",
        description="Remove whole versions (.info, .mod, .zip and their checksum records) "
        "now; MODULE without @VERSION removes all of the module's versions. Safe while "
        "servers run: they forget the removed files and fetch them again when asked. A "
        "pattern (* ? [ or a comma) is refused unless --pattern is given.",
    )
    rm.add_argument("names", nargs="+", metavar="MODULE[@VERSION]")
    rm.add_argument(
        "--pattern",
        action="store_true",
        help="the names are GOPRIVATE-style patterns: remove every version of every module "
        "they match",
    )
    common(rm)

    gc = csub.add_parser(
        "gc",
        help="apply the quota now (max-cache-size, min-free-space, pin, private)",
        description="Remove the least recently used versions until the cache is under "
        "max-cache-size and the file system has min-free-space free (with the eviction's "
        "low-water margin), never private or pinned ones, as a server's quota does. Waits "
        "for a server's eviction in progress.",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would be removed")
    _quota_flags(gc)
    gc.add_argument("--pin", metavar="PATTERNS", help="as for serve")
    gc.add_argument("--private", metavar="PATTERNS", help="as for serve")
    common(gc)

    st = csub.add_parser(
        "stats",
        help="versions, modules, files, bytes, most used, least recently used, last scan",
    )
    st.add_argument("--top", type=int, default=5, metavar="N", help="versions in each list (5)")
    st.add_argument("--json", action="store_true", help="one JSON object")
    common(st)


def _quota_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-cache-size", metavar="SIZE", help="as for serve")
    p.add_argument("--min-free-space", metavar="SIZE", help="as for serve")


_LOCAL = frozenset(
    {
        "command",
        "cache_command",
        "config",
        "quiet",
        "no_scan",
        "patterns",
        "names",
        "sort",
        "json",
        "top",
        "pattern",
        "dry_run",
    }
)


def _settings(ns: argparse.Namespace) -> Settings:
    """serve's settings (flags, environment, config file), for the cache dir and the quota.

    The upstream and the checksum database are not used here: they are set ``off`` so that
    nothing asks the go installation for its defaults.
    """
    flags = {k: v for k, v in vars(ns).items() if k not in _LOCAL}
    flags.update(upstream="off", sumdb="off")
    settings = load_settings(flags, config_file=ns.config)
    root = settings.cache_dir
    if settings.store:
        # The cache dir holds only this machine's index of the store: made if missing.
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as e:
            raise bad("cache-dir", e.strerror or str(e), root, "a directory for the index") from e
    if not os.path.isdir(root):
        what = "not a directory" if os.path.lexists(root) else "no such directory"
        raise bad("cache-dir", what, root, "the cache dir of goproxy serve")
    return settings


def _module_arg(name: str) -> tuple[str, str | None]:
    """``MODULE[@VERSION]`` checked: (module, version or None)."""
    module, at, version = name.partition("@")
    try:
        check_path(module)
    except ProxyError as e:
        raise UsageError(f"{name}: not a module path: {e}") from None
    if at and not is_valid(version):
        raise UsageError(
            f"{name}: not a version (want MODULE@vX.Y.Z as stored; queries such as latest "
            "are not looked up)"
        )
    return module, version if at else None


def _patterns(args: Iterable[str]) -> PrefixPatterns:
    """GOPRIVATE-style patterns checked one by one (a malformed glob names itself)."""
    for arg in args:
        for glob in arg.split(","):
            if not glob.strip():
                raise UsageError(f"{arg}: an empty pattern")
            try:
                path_match(glob.strip().removesuffix("/"), "x")
            except ValueError:
                raise UsageError(
                    f"{glob}: malformed pattern (want path.Match globs such as "
                    "*.corp.example or example.com/team)"
                ) from None
    return PrefixPatterns(",".join(g.strip() for a in args for g in a.split(",")))


def _is_pattern(arg: str) -> bool:
    return any(c in _PATTERN_CHARS for c in arg)


# -- the commands --------------------------------------------------------------------------


class _Run:
    """One cache command: its arguments, settings, index and outputs."""

    def __init__(self, ns: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.ns = ns
        self.out = out
        self.err = err
        self.quiet: bool = ns.quiet
        self.settings = _settings(ns)
        self.store: DiskStore | ObjectStore
        if self.settings.store:
            self.store = cast("ObjectStore", open_store(self.settings))
        else:
            self.store = DiskStore(self.settings.cache_dir)
        place = usage_place(self.store)
        self.fresh = not os.path.exists(place.index_path)
        self.index = CacheIndex(self.store, place=place, bar=self.bar)
        self.on_bucket = self.index.free_space() is None and bool(self.settings.store)

    def bar(self, total: int | None, desc: str, unit: str) -> tqdm[Any]:
        """A progress bar on stderr; off unless stderr is a terminal, and with --quiet."""
        show = not self.quiet and self.err.isatty()
        try:
            width = os.get_terminal_size(self.err.fileno()).columns if show else 0
        except (OSError, ValueError):
            width = 0
        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=self.err,
            disable=not show,
            leave=False,
            # A terminal that reports no width (a bare pseudo-terminal) gets 80 columns.
            dynamic_ncols=bool(width),
            ncols=None if width else 80,
        )

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"goproxy: cache {self.ns.cache_command}: {text}", file=self.err, flush=True)

    def wait_note(self) -> None:
        if self.index.gc_lock_held():
            self.note(
                f"another process holds {self.index.place.lock_name} (evicting, scanning or "
                "removing): waiting"
            )

    def refresh(self) -> None:
        """Scan first, unless --no-scan and an index exists already."""
        if getattr(self.ns, "no_scan", False) and not self.fresh:
            return
        if getattr(self.ns, "no_scan", False):
            self.note("no index yet: scanning anyway")
        self.wait_note()
        self.index.scan()
        # Every replica's last uses (their batches in the bucket): nothing on a disk cache,
        # whose servers write theirs into this very index.
        self.index.place.before_gc(self.index, compact=False)

    def quota(self) -> tuple[int, int]:
        """(max-cache-size, min-free-space) in bytes."""
        s = self.settings
        return (
            parse_size("max-cache-size", s.max_cache_size),
            0 if self.on_bucket else parse_size("min-free-space", s.min_free_space),
        )

    def close(self) -> None:
        self.index.close()

    def emit(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")

    # -- ls --

    def ls(self) -> int:
        exact: list[tuple[str, str]] = []
        globs: list[str] = []
        for arg in self.ns.patterns:
            if "@" in arg:
                module, version = _module_arg(arg)
                assert version is not None
                exact.append((module, version))
            else:
                globs.append(arg)
        match = _patterns(globs) if globs else None
        self.refresh()
        rows: list[VersionUsage] = []
        missing: list[str] = []
        if exact:
            for module, version in exact:
                v = self.index.version(module, version)
                if v is None:
                    missing.append(f"{module}@{version}")
                else:
                    rows.append(v)
        if match is not None:
            rows += [v for v in self.index.versions() if match.matches(v.module)]
        if not exact and match is None:
            rows = list(self.index.versions())
        rows = _sorted(list({v.unit: v for v in rows}.values()), self.ns.sort)
        if self.ns.json:
            for v in rows:
                self.emit(_row(v))
        elif rows:
            _table(
                self.out,
                ("MODULE", "VERSION", "SIZE", "LAST USE", "USES"),
                [
                    (v.module, v.version, human_size(v.bytes), _when(v.last_use), str(v.uses))
                    for v in rows
                ],
            )
        for name in missing:
            print(f"goproxy: cache ls: {name}: not in the cache", file=self.err)
        return EXIT_MISSING if missing else EXIT_OK

    # -- du --

    def du(self) -> int:
        if self.ns.top < 0:
            raise UsageError(f"--top {self.ns.top}: negative (want 0 or more)")
        self.refresh()
        limit, min_free = self.quota()
        total, files, free = self.index.total(), self.index.file_count(), self.index.free_space()
        modules: dict[str, list[int]] = {}
        in_versions = 0
        for v in self.index.versions():
            m = modules.setdefault(v.module, [0, 0])
            m[0] += v.bytes
            m[1] += 1
            in_versions += v.bytes
        top = sorted(modules.items(), key=lambda kv: (-kv[1][0], kv[0]))[: self.ns.top]
        if self.ns.json:
            self.emit(
                {
                    "cache_dir": self.index.root,
                    "bytes": total,
                    "files": files,
                    "versions_bytes": in_versions,
                    "other_bytes": total - in_versions,
                    "modules": len(modules),
                    "versions": sum(m[1] for m in modules.values()),
                    "max_cache_size": limit,
                    "free_space": free,
                    "min_free_space": min_free,
                    "over": _over(total, limit, free, min_free),
                    "largest": [
                        {"module": name, "bytes": m[0], "versions": m[1]} for name, m in top
                    ],
                }
            )
            return EXIT_OK
        w = self.out.write
        w(f"cache {self.index.root}\n")
        w(f"  {human_size(total)} in {files} files ({total} bytes)\n")
        w(
            f"  module versions: {human_size(in_versions)} ({sum(m[1] for m in modules.values())} "
            f"versions of {len(modules)} modules); lists, checksum database files and "
            f"_goproxy/: {human_size(total - in_versions)}\n"
        )
        if limit:
            w(f"  max-cache-size {human_size(limit)}: {100 * total / limit:.1f}% used\n")
        else:
            w("  max-cache-size unlimited\n")
        shown_free = "unknown" if free is None else human_size(free)
        if self.on_bucket:
            w("  an object store: only max-cache-size applies (no free space to keep)\n")
        elif min_free:
            verdict = "" if free is None else (" (under it)" if free < min_free else " (ok)")
            w(f"  free space {shown_free}, min-free-space {human_size(min_free)}{verdict}\n")
        else:
            w(f"  free space {shown_free}, min-free-space 0 (not checked)\n")
        if _over(total, limit, free, min_free):
            w("  over the quota: `goproxy cache gc` (or a server's next gc cycle) evicts\n")
        if top:
            w(f"largest {len(top)} modules:\n")
            _table(
                self.out,
                ("SIZE", "VERSIONS", "MODULE"),
                [(human_size(m[0]), str(m[1]), name) for name, m in top],
            )
        return EXIT_OK

    # -- rm --

    def rm(self) -> int:
        chosen: list[VersionUsage] = []
        missing: list[str] = []
        if self.ns.pattern:
            match = _patterns(self.ns.names)
            self.refresh()
            chosen = [v for v in self.index.versions() if match.matches(v.module)]
            if not chosen:
                missing.append(", ".join(self.ns.names))
        else:
            names: list[tuple[str, str, str | None]] = []
            for arg in self.ns.names:
                if _is_pattern(arg):
                    raise UsageError(
                        f"{arg}: a pattern: give --pattern to remove every module it matches"
                    )
                names.append((arg, *_module_arg(arg)))
            # The named files as they are on disk now: a server writes its batch of new files
            # every few seconds, and a version stored just before may not be indexed yet.
            self.index.record_files(k for _, m, v in names for k in self._keys_of(m, v))
            for arg, module, version in names:
                if version is None:
                    found = list(self.index.versions(module))
                else:
                    one = self.index.version(module, version)
                    found = [] if one is None else [one]
                if not found:
                    missing.append(arg)
                chosen += found
        if missing:
            for name in missing:
                hint = _under_hint(self.index, name) if not self.ns.pattern else ""
                print(f"goproxy: cache rm: {name}: not in the cache{hint}", file=self.err)
            return EXIT_MISSING
        chosen = list({v.unit: v for v in chosen}.values())
        self.wait_note()
        removed = self.index.remove_versions(chosen)
        for v in _sorted(removed, "module"):
            self.out.write(f"removed {v.module}@{v.version} ({human_size(v.bytes)})\n")
        freed = sum(v.bytes for v in removed)
        self.out.write(
            f"removed {len(removed)} versions, freed {human_size(freed)}; the cache holds "
            f"{human_size(self.index.total())}\n"
        )
        return EXIT_OK

    def _keys_of(self, module: str, version: str | None) -> Iterable[str]:
        """The store keys a version's files have, or every file of a module's versions."""
        if version is not None:
            return unit_keys(f"{escape_path(module)}/@v/{escape_version(version)}")
        prefix = f"{escape_path(module)}/@v/"
        return [k for k in self.store.list_keys(prefix) if "/" not in k[len(prefix) :]]

    # -- gc --

    def gc(self) -> int:
        self.refresh()
        limit, min_free = self.quota()
        config = compile_config(self.settings.proxy_config())
        if self.ns.dry_run:
            total, free, plan = self.index.plan(limit=limit, min_free=min_free, keep=config.keeps)
            for v in plan:
                self.out.write(
                    f"would remove {v.module}@{v.version} ({human_size(v.bytes)}, last use "
                    f"{_when(v.last_use)})\n"
                )
            freed = sum(v.bytes for v in plan)
            self.out.write(
                f"would remove {len(plan)} versions, freeing {human_size(freed)}: "
                f"{human_size(total)} -> {human_size(total - freed)} "
                f"({_limits(limit, free, min_free)})\n"
            )
            return EXIT_OK
        told = False
        while True:
            result = self.index.apply_quota(config)
            if result is not None:
                break
            if not told:
                self.note(
                    f"another process is evicting (it holds {self.index.place.lock_name}): waiting"
                )
                told = True
            time.sleep(0.2)
        for v in result.evicted:
            self.out.write(
                f"removed {v.module}@{v.version} ({human_size(v.bytes)}, last use "
                f"{_when(v.last_use)})\n"
            )
        if result.evicted and self.index.settle:
            time.sleep(self.index.settle)  # every server has forgotten them when gc returns
        freed = sum(v.bytes for v in result.evicted)
        self.out.write(
            f"removed {len(result.evicted)} versions, freed {human_size(freed)}: "
            f"{human_size(result.total_before)} -> {human_size(result.total_after)} "
            f"({_limits(limit, result.free, min_free)})\n"
        )
        return EXIT_OK

    # -- stats --

    def stats(self) -> int:
        if self.ns.top < 0:
            raise UsageError(f"--top {self.ns.top}: negative (want 0 or more)")
        self.refresh()
        versions = list(self.index.versions())  # least recently used first
        most = sorted(versions, key=lambda v: (-v.uses, -v.last_use, v.module, v.version))
        most = [v for v in most if v.uses][: self.ns.top]
        least = versions[: self.ns.top]
        facts: dict[str, Any] = {
            "cache_dir": self.index.root,
            "versions": len(versions),
            "modules": len({v.module for v in versions}),
            "files": self.index.file_count(),
            "bytes": self.index.total(),
            "uses": sum(v.uses for v in versions),
            "evicting": self.index.evicting(),
            "last_scan": _when(self.index.last_scan()),
        }
        if self.ns.json:
            self.emit(
                {
                    **facts,
                    "most_used": [_row(v) for v in most],
                    "least_recently_used": [_row(v) for v in least],
                }
            )
            return EXIT_OK
        w = self.out.write
        w(f"cache {facts['cache_dir']}\n")
        w(
            f"  {facts['versions']} versions of {facts['modules']} modules; {facts['files']} "
            f"files, {human_size(int(facts['bytes']))}\n"
        )
        w(f"  {facts['uses']} uses counted; last scan {facts['last_scan']}\n")
        if facts["evicting"]:
            w(f"  {facts['evicting']} versions marked for eviction (finished by the next gc)\n")
        for title, rows in (("most used", most), ("least recently used", least)):
            if rows:
                w(f"{title}:\n")
                _table(
                    self.out,
                    ("MODULE", "VERSION", "SIZE", "LAST USE", "USES"),
                    [
                        (v.module, v.version, human_size(v.bytes), _when(v.last_use), str(v.uses))
                        for v in rows
                    ],
                )
        return EXIT_OK


def _over(total: int, limit: int, free: int | None, min_free: int) -> bool:
    return bool(limit and total > limit) or bool(min_free and free is not None and free < min_free)


def _limits(limit: int, free: int | None, min_free: int) -> str:
    size = f"max-cache-size {human_size(limit)}" if limit else "max-cache-size unlimited"
    shown = "unknown" if free is None else human_size(free)
    room = f"min-free-space {human_size(min_free)}" if min_free else "min-free-space 0"
    return f"{size}; free space {shown}, {room}"


def _under_hint(index: UsageIndex, name: str) -> str:
    """For ``rm MODULE`` of a module with none cached but some under it: how to remove those."""
    if "@" in name:
        return ""
    under = PrefixPatterns(name)
    n = len({v.module for v in index.versions() if v.module != name and under.matches(v.module)})
    return f" ({n} modules under it: rm --pattern {name} removes them)" if n else ""


def _sorted(rows: list[VersionUsage], how: str) -> list[VersionUsage]:
    if how == "size":
        return sorted(rows, key=lambda v: (-v.bytes, v.module, v.version))
    if how == "last-use":
        return sorted(rows, key=lambda v: (v.last_use, v.module, v.version))
    return sorted(rows, key=functools.cmp_to_key(_by_module))


def _by_module(a: VersionUsage, b: VersionUsage) -> int:
    if a.module != b.module:
        return -1 if a.module < b.module else 1
    return compare(a.version, b.version)


def run(ns: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``goproxy cache <command>`` with parsed arguments; returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    logging.basicConfig(level=logging.WARNING, format="goproxy: %(message)s", stream=err)
    r: _Run | None = None
    try:
        r = _Run(ns, out, err)
        command: Callable[[], int] = getattr(r, ns.cache_command)
        return command()
    except UsageError as e:
        print(f"goproxy: cache {ns.cache_command}: {e}", file=err)
        return EXIT_USAGE
    except SettingsError as e:
        print(f"goproxy: {e}", file=err)
        return EXIT_USAGE
    except BrokenPipeError:  # `goproxy cache ls | head`: the reader has what it wanted
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return EXIT_OK
    except (OSError, sqlite3.Error) as e:
        print(f"goproxy: cache {ns.cache_command}: {e}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        # A removal stopped between marking and unlinking is finished by the next scan or gc.
        print(f"goproxy: cache {ns.cache_command}: interrupted", file=err)
        return EXIT_INTERRUPTED
    finally:
        if r is not None:
            r.close()
