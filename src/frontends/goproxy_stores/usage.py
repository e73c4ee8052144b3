"""The disk quota's I/O: an index of the cache's files and of each module version's last use,
and the eviction that keeps the cache under ``max-cache-size`` and above ``min-free-space``.

The decisions are the core's (:mod:`goproxy_core.proxy.quota`); this module measures, records
and removes.

The index is SQLite, ``<cache-dir>/_goproxy/usage.sqlite`` (WAL, a busy timeout), shared by
every process serving the cache dir (``--workers``, several servers):

* ``files``: one row per file of the cache (key, bytes, the version it belongs to, when the
  row was written). The total size is the sum over it: every file counts, lists, checksum
  database tiles and ``_goproxy/`` included; only the index's own files, the gc lock,
  pending writes (hidden ``.*.tmp`` files) and fetches' lock files (``_goproxy/leases/``)
  do not.
* ``versions``: one row per module version (module, version, bytes, last use, uses, and an
  ``evicting`` mark).

How it stays exact:

* Last use is never a write per hit: :class:`UsageTracker` keeps the uses of a few seconds in
  a dict under a lock (filled from every finished exchange, see ``goproxy_io.access``) and
  its thread writes them in one transaction (``last_use`` only grows: ``max``).
* A committed, moved or deleted file is noted (its key, from the store's ``on_change``) and the
  same thread stats it and writes its row; a file gone meanwhile loses its row.
* A scan at start (:meth:`UsageIndex.reconcile`, ``os.scandir``, no symbolic links followed)
  makes the index agree with the disk after a crash, a restart, or files added or removed
  behind the proxy's back; it is repeated every :data:`RECONCILE_INTERVAL`. A scan rather
  than a journal: the disk itself is the truth (the cache is a GOPROXY tree other tools may
  write to, ``goproxy verify`` moves files, a crash may come between a rename and any journal
  entry), a scan of a large cache takes seconds in a background thread, and the index only
  has to be exact at rest, not transactional with every write.

Eviction (:meth:`UsageIndex.gc`): one process at a time (an ``flock`` on
``_goproxy/gc.lock``, not waited for: the others skip). Each chosen version is marked
``evicting`` first; the servers are told to drop what they keep in memory (the
``_goproxy/evicted`` mark, watched like ``goproxy verify``'s quarantine mark) and given
:data:`SETTLE` seconds; then its files are unlinked and its rows deleted. A crash in between
leaves the mark, and the next :meth:`~UsageIndex.reconcile` or gc finishes the removal, so no
version stays half removed. A file being read stays readable (an unlinked file lives on while
open, ``sendfile`` too); a pending write is a temporary file, never touched; a version
committed again after its eviction is indexed again.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import stat as _stat
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from goproxy_core import endpoint_of
from goproxy_core.module import escape_path, escape_version
from goproxy_core.proxy import (
    LOW_WATER,
    StoredVersion,
    over_limits,
    plan_eviction,
    unit_keys,
    unit_of,
)

from .sqlite import ThreadConnections

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from goproxy_core import AccessRecord, CompiledConfig

    from .disk import DiskStore

__all__ = [
    "EVICTED_MARK",
    "INDEX_FILE",
    "LEASES",
    "GcResult",
    "UsageIndex",
    "UsageTracker",
    "VersionUsage",
]

log = logging.getLogger("goproxy.quota")

INDEX_FILE = "_goproxy/usage.sqlite"
LOCK_FILE = "_goproxy/gc.lock"
EVICTED_MARK = "_goproxy/evicted"
"""Rewritten by each eviction: servers watch it and forget the stored files kept in memory."""

FLUSH_INTERVAL = 2.0
"""Seconds between writes of the batched uses and file changes."""
RECONCILE_INTERVAL = 3600.0
"""Seconds between scans of the whole cache dir (the first one at start)."""
SETTLE = 2.5
"""Seconds between telling the servers to forget and unlinking (their watch looks every 1 s)."""

_OWN = frozenset({INDEX_FILE, INDEX_FILE + "-wal", INDEX_FILE + "-shm", INDEX_FILE + "-journal"})
_OWN |= {LOCK_FILE}
LEASES = "_goproxy/leases/"
"""Lock files of fetches in progress (``goproxy_stores.leases``): transient, never counted."""
_USED = frozenset({200, 304})
_KINDS = frozenset({"info", "mod", "zip"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, unit TEXT, seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_unit ON files (unit);
CREATE TABLE IF NOT EXISTS versions (
    unit TEXT PRIMARY KEY, module TEXT NOT NULL, version TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0, last_use REAL NOT NULL DEFAULT 0,
    uses INTEGER NOT NULL DEFAULT 0, evicting INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS versions_last_use ON versions (last_use);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""


class VersionUsage(msgspec.Struct, frozen=True):
    """One module version in the index.

    Attributes:
        module: the module path.
        version: the version.
        unit: its keys' stem (``<escaped module>/@v/<escaped version>``).
        bytes: what its files take.
        last_use: when a client last got one of its files (seconds since the epoch; at first
            the time it was stored).
        uses: how many answers of its files were counted (since it was indexed).
    """

    module: str
    version: str
    unit: str
    bytes: int
    last_use: float
    uses: int


class GcResult(msgspec.Struct, frozen=True):
    """What one :meth:`UsageIndex.gc` did.

    Attributes:
        total_before: bytes the cache held when it started.
        total_after: bytes it holds after.
        free: bytes free on the file system when it started (None: unknown).
        evicted: the versions removed, least recently used first.
    """

    total_before: int
    total_after: int
    free: int | None
    evicted: tuple[VersionUsage, ...] = ()


class UsageIndex:
    """The usage index of one cache dir (thread safe; one SQLite connection per thread).

    The Python API the admin commands build on (safe while servers use the same cache dir):
    :meth:`versions` (each with bytes, last use, uses), :meth:`version`, :meth:`total`,
    :meth:`file_count`, :meth:`free_space`, :meth:`remove` (one version, now),
    :meth:`apply_quota` / :meth:`gc` (run the quota now), :meth:`reconcile` (rescan),
    :meth:`record_uses`, :meth:`record_files`. Call :meth:`close` in each thread that used it.

    Args:
        store: the cache's disk store.
        on_evicted: called (in the evicting thread) before files are unlinked, after the
            ``_goproxy/evicted`` mark is rewritten: a server drops what it keeps in memory.
        settle: seconds between marking and unlinking (:data:`SETTLE`).
    """

    def __init__(
        self,
        store: DiskStore,
        *,
        on_evicted: Callable[[], None] | None = None,
        settle: float | None = None,
    ) -> None:
        self.store = store
        self.root = str(store.root)
        self.path = os.path.join(self.root, INDEX_FILE)
        self.on_evicted = on_evicted
        self.settle = SETTLE if settle is None else settle
        self._sql = ThreadConnections(self.path, timeout=30.0, synchronous="NORMAL")
        self._stuck_logged = -1e9
        self.scan_progress: Callable[[int], None] | None = None
        """Told, during a scan, how many files each directory held (a progress bar)."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # -- connections -----------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        return self._sql.db()

    def reader(self) -> sqlite3.Connection:
        """This thread's connection, for read-only queries of the tables (the catalog's)."""
        return self._sql.db()

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._sql.write()

    def close(self) -> None:
        """Close this thread's connection."""
        self._sql.close()

    @contextlib.contextmanager
    def _gc_lock(self, *, wait: bool) -> Iterator[bool]:
        """The cross-process eviction lock; yields whether it is held (``wait``: block)."""
        fd = os.open(
            os.path.join(self.root, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666
        )
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- reads -----------------------------------------------------------------------------

    def total(self) -> int:
        """Bytes the cache holds (every indexed file)."""
        row = self._db().execute("SELECT COALESCE(SUM(size), 0) FROM files").fetchone()
        return int(row[0])

    def file_count(self) -> int:
        """How many files are indexed."""
        return int(self._db().execute("SELECT COUNT(*) FROM files").fetchone()[0])

    def versions(self, module: str | None = None) -> Iterator[VersionUsage]:
        """Every indexed module version (of ``module`` only, if given), least recently used
        first."""
        sql = "SELECT module, version, unit, bytes, last_use, uses FROM versions"
        args: tuple[str, ...] = ()
        if module is not None:
            sql += " WHERE module = ?"
            args = (module,)
        for row in self._db().execute(sql + " ORDER BY last_use, module, version", args):
            yield VersionUsage(*row)

    def version(self, module: str, version: str) -> VersionUsage | None:
        """One version's row, or None."""
        row = (
            self._db()
            .execute(
                "SELECT module, version, unit, bytes, last_use, uses FROM versions WHERE unit = ?",
                (_unit(module, version),),
            )
            .fetchone()
        )
        return None if row is None else VersionUsage(*row)

    def free_space(self) -> int | None:
        """Bytes free on the cache's file system (None: unknown)."""
        try:
            return self.store.free_space()[0]
        except OSError:
            return None

    # -- writes ----------------------------------------------------------------------------

    def record_uses(self, uses: dict[str, tuple[float, int]]) -> None:
        """Add batched uses: ``{unit: (last use, count)}``. Versions not indexed are skipped
        (their row comes with their files)."""
        if not uses:
            return
        with self._write() as db:
            db.executemany(
                "UPDATE versions SET last_use = MAX(last_use, ?), uses = uses + ? WHERE unit = ?",
                [(last, count, unit) for unit, (last, count) in uses.items()],
            )

    def record_files(
        self, keys: Iterable[str] | Mapping[str, float], now: float | None = None
    ) -> None:
        """Index the files ``keys`` as they are on disk now: size, or gone.

        ``keys`` may map each key to when it changed (a new version's first last use; else
        ``now``). Stated inside the write transaction, so an eviction (which unlinks, then
        deletes rows in a later transaction) and this never leave a row for a file that is
        gone.
        """
        now = time.time() if now is None else now
        when = dict(keys) if isinstance(keys, Mapping) else dict.fromkeys(keys, now)
        if not when:
            return
        with self._write() as db:
            units: dict[str, tuple[str, str, float]] = {}
            for key, at in when.items():
                if key in _OWN:
                    continue
                unit = unit_of(key)
                try:
                    info = self.store.stat(key)
                except (OSError, ValueError):
                    info = None
                if info is None:
                    db.execute("DELETE FROM files WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT INTO files VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE "
                        "SET size = excluded.size, seen = excluded.seen",
                        (key, info.size, unit.unit if unit else None, now),
                    )
                if unit is not None:
                    first = min(at, units[unit.unit][2]) if unit.unit in units else at
                    units[unit.unit] = (unit.module, unit.version, first)
            _refresh_units(db, units)

    def remove(self, module: str, version: str) -> VersionUsage | None:
        """Remove one version whole now (its files and rows), whatever the quota says;
        returns what it was, or None when not indexed. Waits for the eviction lock."""
        with self._gc_lock(wait=True):
            row = self.version(module, version)
            if row is None:
                return None
            with self._write() as db:
                db.execute("UPDATE versions SET evicting = 1 WHERE unit = ?", (row.unit,))
            self._tell_servers()
            self._unlink([row.unit])
            return row

    def reconcile(self, *, since: float | None = None) -> bool:
        """Make the index agree with the disk (a scan); returns False when skipped.

        Waits for the eviction lock, finishes any eviction a crashed process left, then scans.
        With ``since``, skipped if another process finished a scan after that time (workers
        starting together scan once).
        """
        with self._gc_lock(wait=True):
            if since is not None:
                row = self._db().execute("SELECT value FROM meta WHERE key = 'scan'").fetchone()
                if row is not None and float(row[0]) >= since:
                    return False
            self._finish_evicting()
            started = time.time()
            found = self._scan()
            with self._write() as db:
                old = dict(db.execute("SELECT key, size FROM files WHERE seen < ?", (started,)))
                for key in old.keys() - found.keys():
                    db.execute("DELETE FROM files WHERE key = ? AND seen < ?", (key, started))
                rows = []
                for key, (size, _) in found.items():
                    if old.get(key) != size:
                        unit = unit_of(key)
                        rows.append((key, size, unit.unit if unit else None, started))
                db.executemany(
                    "INSERT INTO files VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE "
                    "SET size = excluded.size, seen = excluded.seen WHERE files.seen < ?",
                    [(*r, started) for r in rows],
                )
                # Versions: a row for each one with files (first use: its newest file's time),
                # none for one without, and bytes summed again.
                stored: dict[str, float] = {}
                names: dict[str, tuple[str, str]] = {}
                for key, (_, mtime) in found.items():
                    unit = unit_of(key)
                    if unit is not None:
                        stored[unit.unit] = max(stored.get(unit.unit, 0.0), mtime)
                        names[unit.unit] = (unit.module, unit.version)
                db.executemany(
                    "INSERT INTO versions (unit, module, version, last_use) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (unit) DO NOTHING",
                    [(u, *names[u], t) for u, t in stored.items()],
                )
                db.execute(
                    "UPDATE versions SET bytes = "
                    "(SELECT COALESCE(SUM(size), 0) FROM files WHERE files.unit = versions.unit)"
                )
                db.execute(
                    "DELETE FROM versions WHERE NOT EXISTS "
                    "(SELECT 1 FROM files WHERE files.unit = versions.unit)"
                )
                db.execute(
                    "INSERT INTO meta VALUES ('scan', ?) ON CONFLICT (key) DO UPDATE "
                    "SET value = excluded.value",
                    (time.time(),),
                )
            return True

    def gc(
        self,
        *,
        limit: int,
        min_free: int,
        keep: Callable[[str], bool],
        low_water: float = LOW_WATER,
        flush: Callable[[], object] | None = None,
    ) -> GcResult | None:
        """Apply the quota now: remove the least recently used versions until under the
        low-water mark (:func:`~goproxy_core.proxy.quota.plan_eviction`).

        A version used between the plan and the unlinking (the settle time; ``flush`` writes
        this process's pending uses first, other processes write theirs within
        :data:`FLUSH_INTERVAL` < :data:`SETTLE`) is spared: the next cycle decides again.
        Returns None when another process is evicting (never waited for).
        """
        with self._gc_lock(wait=False) as held:
            if not held:
                return None
            self._finish_evicting()
            total, free = self.total(), self.free_space()
            if not over_limits(total, limit, free, min_free):
                return GcResult(total, total, free)
            rows = {
                r[0]: VersionUsage(*r[1:])
                for r in self._db().execute(
                    "SELECT unit, module, version, unit, bytes, last_use, uses FROM versions "
                    "WHERE evicting = 0"
                )
            }
            plan = plan_eviction(
                (
                    StoredVersion(v.unit, v.module, v.version, v.bytes, v.last_use)
                    for v in rows.values()
                ),
                total,
                limit,
                free,
                min_free,
                low_water,
                keep,
            )
            if not plan:
                if time.monotonic() >= self._stuck_logged + 600:  # at most every 10 minutes
                    self._stuck_logged = time.monotonic()
                    log.warning(
                        "cache %s holds %d bytes (%s free) but nothing may be evicted: what "
                        "is left is private or pinned versions, lists and the proxy's own files",
                        self.root,
                        total,
                        "?" if free is None else free,
                    )
                return GcResult(total, total, free)
            units = [v.unit for v in plan]
            with self._write() as db:
                db.executemany(
                    "UPDATE versions SET evicting = 1 WHERE unit = ?", [(u,) for u in units]
                )
            self._tell_servers()
            if self.settle:
                time.sleep(self.settle)
            if flush is not None:
                flush()
            units = self._unmark_used(units, rows)
            self._unlink(units)
            self._tell_servers()
            after = self.total()
            evicted = tuple(rows[u] for u in units)
            log.info(
                "cache %s: evicted %d versions (%d bytes), least recently used first; "
                "%d bytes now (limit %d)",
                self.root,
                len(evicted),
                sum(v.bytes for v in evicted),
                after,
                limit,
            )
            return GcResult(total, after, free, evicted)

    def apply_quota(self, config: CompiledConfig) -> GcResult | None:
        """:meth:`gc` with the settings of ``config`` (``max_cache_size``,
        ``min_free_space``, ``private`` and ``pin``): what ``goproxy cache gc`` runs."""
        cfg = config.config
        return self.gc(limit=cfg.max_cache_size, min_free=cfg.min_free_space, keep=config.keeps)

    # -- internals -------------------------------------------------------------------------

    def _tell_servers(self) -> None:
        from . import ops

        ops.save(self.store, EVICTED_MARK, f"{time.time():.6f}\n".encode())
        self.record_files([EVICTED_MARK])
        if self.on_evicted is not None:
            try:
                self.on_evicted()
            except Exception:
                log.exception("forgetting evicted files failed")

    def _unmark_used(self, units: list[str], planned: dict[str, VersionUsage]) -> list[str]:
        """The marked units not used since the plan; the others lose their mark."""
        db = self._db()
        now = {
            u: t
            for u, t in db.execute(
                "SELECT unit, last_use FROM versions WHERE evicting = 1"
            ).fetchall()
        }
        used = [u for u in units if u in now and now[u] > planned[u].last_use]
        if used:
            with self._write() as w:
                w.executemany(
                    "UPDATE versions SET evicting = 0 WHERE unit = ?", [(u,) for u in used]
                )
            log.info("%d versions used while being evicted are kept", len(used))
        return [u for u in units if u not in used]

    def _unlink(self, units: list[str]) -> None:
        """Remove each marked version's files, then its rows (one transaction per version)."""
        for unit in units:
            for key in unit_keys(unit):
                try:
                    self.store.delete(key)
                except OSError as e:
                    log.warning("evicting %s failed: %s", key, e)
            with self._write() as db:
                # Files committed again since are indexed again by their commit's note.
                db.execute("DELETE FROM files WHERE unit = ?", (unit,))
                db.execute("DELETE FROM versions WHERE unit = ?", (unit,))

    def _finish_evicting(self) -> None:
        """Finish the removals a crashed evictor left marked (caller holds the lock)."""
        left = [r[0] for r in self._db().execute("SELECT unit FROM versions WHERE evicting = 1")]
        if left:
            log.info("finishing the eviction of %d versions left by a stopped process", len(left))
            self._unlink(left)

    def _scan(self) -> dict[str, tuple[int, float]]:
        """Every file of the cache dir: key → (size, mtime). No link followed; pending writes
        and the index's own files left out."""
        found: dict[str, tuple[int, float]] = {}
        stack = [("", self.root)]
        while stack:
            prefix, path = stack.pop()
            try:
                entries = list(os.scandir(path))
            except OSError:
                continue
            files = len(found)
            for e in entries:
                key = prefix + e.name
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if _stat.S_ISDIR(st.st_mode):
                    stack.append((key + "/", e.path))
                elif (
                    _stat.S_ISREG(st.st_mode)
                    and key not in _OWN
                    and not key.startswith(LEASES)
                    and not (e.name.startswith(".") and e.name.endswith(".tmp"))
                ):
                    found[key] = (st.st_size, st.st_mtime)
            if self.scan_progress is not None:
                self.scan_progress(len(found) - files)
        return found


def _refresh_units(db: sqlite3.Connection, units: dict[str, tuple[str, str, float]]) -> None:
    """Version rows for ``units`` (module, version, first change) after their files changed:
    created (last use: when its first file landed), bytes summed again, deleted once no file
    is left."""
    for unit, (module, version, now) in units.items():
        size, count = db.execute(
            "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM files WHERE unit = ?", (unit,)
        ).fetchone()
        if count:
            db.execute(
                "INSERT INTO versions (unit, module, version, bytes, last_use) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (unit) DO UPDATE SET bytes = excluded.bytes",
                (unit, module, version, size, now),
            )
        else:
            db.execute("DELETE FROM versions WHERE unit = ? AND evicting = 0", (unit,))


@functools.lru_cache(maxsize=65536)
def _unit(module: str, version: str) -> str:
    return f"{escape_path(module)}/@v/{escape_version(version)}"


@functools.lru_cache(maxsize=16384)
def _unit_of_target(target: str, base_path: str) -> str | None:
    """The version unit a request target's answer belongs to (None: not a version file)."""
    ep = endpoint_of(target, base_path)
    if ep.kind not in _KINDS:
        return None
    try:
        return _unit(ep.module, ep.version)
    except Exception:  # pragma: no cover - endpoint_of parsed them: they escape
        return None


class UsageTracker:
    """Last uses and file changes of one server, batched, and the quota's background thread.

    :meth:`note` takes the access records of finished exchanges (``goproxy_io.access``), the
    store's ``on_change`` calls :meth:`note_file`; both only touch a dict under a lock. The
    thread (:meth:`start`) scans at start, writes the batch every :data:`FLUSH_INTERVAL`
    seconds, and applies the quota every ``gc_interval`` seconds, or at once when a write
    took the cache over ``max-cache-size``.

    Args:
        store: the cache's disk store.
        config: the compiled settings (``max_cache_size``, ``min_free_space``, ``pin``,
            ``private``, ``gc_interval``, ``base_path``).
        on_evicted, settle: see :class:`UsageIndex`.
        flush_interval: seconds between writes of the batch (:data:`FLUSH_INTERVAL`).
    """

    def __init__(
        self,
        store: DiskStore,
        config: CompiledConfig,
        *,
        on_evicted: Callable[[], None] | None = None,
        settle: float | None = None,
        flush_interval: float | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.index = UsageIndex(store, on_evicted=on_evicted, settle=settle)
        self.flush_interval = FLUSH_INTERVAL if flush_interval is None else flush_interval
        self._lock = threading.Lock()
        self._uses: dict[str, tuple[float, int]] = {}
        self._files: dict[str, float] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = config.base_path
        self.last_gc: GcResult | None = None
        self.on_gc: Callable[[GcResult], None] | None = None
        """Called with each eviction's result (the server's metrics count it)."""
        store.on_change.append(self.note_file)

    # -- the hot path: a dict under a lock ---------------------------------------------------

    def note(self, records: Iterable[AccessRecord]) -> None:
        """Count the answers of version files among finished exchanges (200 or 304)."""
        for rec in records:
            if rec.status in _USED:
                self.note_target(rec.target, rec.time)

    def note_target(self, target: str, when: float) -> None:
        """Count one answer of ``target`` (a request target) at ``when``."""
        unit = _unit_of_target(target, self._base)
        if unit is None:
            return
        with self._lock:
            last, count = self._uses.get(unit, (0.0, 0))
            self._uses[unit] = (max(last, when), count + 1)

    def note_file(self, key: str) -> None:
        """A file was committed, moved or deleted: index it at the next flush."""
        when = time.time()
        with self._lock:
            self._files.setdefault(key, when)

    # -- the thread --------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write the batch now; returns whether new files took the cache over its limit."""
        with self._lock:
            uses, self._uses = self._uses, {}
            files, self._files = self._files, {}
        try:
            self.index.record_files(files)
            self.index.record_uses(uses)
        except BaseException:
            with self._lock:  # kept for the next flush
                for key, when in files.items():
                    self._files.setdefault(key, when)
                for unit, (last, count) in uses.items():
                    was, n = self._uses.get(unit, (0.0, 0))
                    self._uses[unit] = (max(was, last), n + count)
            raise
        limit = self.config.config.max_cache_size
        return bool(files and limit and self.index.total() > limit)

    def gc(self) -> GcResult | None:
        """Flush, then apply the quota now (None: another process is at it)."""
        self.flush()
        cfg = self.config.config
        result = self.index.gc(
            limit=cfg.max_cache_size,
            min_free=cfg.min_free_space,
            keep=self.config.keeps,
            flush=self.flush,
        )
        if result is not None:
            self.last_gc = result
            if self.on_gc is not None and result.evicted:
                self.on_gc(result)
        return result

    def start(self) -> None:
        """Start the background thread (scan, flushes, gc)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="goproxy-quota", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last flush."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with contextlib.suppress(ValueError):
            self.store.on_change.remove(self.note_file)

    def _run(self) -> None:
        started = time.time()
        self._safely("scanning the cache", lambda: self.index.reconcile(since=started))
        next_gc = 0.0
        next_scan = time.monotonic() + RECONCILE_INTERVAL
        while not self._stop.is_set():
            over = self._safely("recording uses", self.flush)
            now = time.monotonic()
            if over or now >= next_gc:
                self._safely("applying the quota", self.gc)
                next_gc = time.monotonic() + self.config.config.gc_interval
            if now >= next_scan:
                self._safely("scanning the cache", self.index.reconcile)
                next_scan = now + RECONCILE_INTERVAL
            self._wake.wait(self.flush_interval)
            self._wake.clear()
        self._safely("recording uses", self.flush)
        self.index.close()

    @staticmethod
    def _safely(what: str, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except (OSError, sqlite3.Error) as e:
            log.warning("disk quota: %s failed: %s", what, e)
        except Exception:
            log.exception("disk quota: %s failed", what)
        return None
