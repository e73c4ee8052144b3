"""Answering the core's ``ReadCatalog``: what the cache holds, for the catalog pages.

From the disk quota's usage index when the server keeps one (``max-cache-size`` or
``min-free-space`` set: exact sizes, last uses and use counts, one SQL query per answer);
otherwise from a listing of the store (a memory store, an embedder's store, a disk cache
without a quota), bounded at :data:`LISTING_BOUND` files, with sizes and times from ``stat``
and no use counts. Either way the summary adds the free space, each upstream's circuit
breaker, the prefetch counters and the own checksum database's verifier key.

Blocking (SQLite, ``stat``): the executor runs it in a worker thread on event-loop servers.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

import msgspec

from goproxy_core import CatalogData, CatalogVersion, ModuleUse, catalog_from_files
from goproxy_stores import ops

if TYPE_CHECKING:
    from goproxy_core import ReadCatalog
    from goproxy_core.storage import BlobStore
    from goproxy_stores.usage import UsageIndex

    from .executor import PrefetchStats
    from .sumdb_base import LogsBase
    from .upstream import Fetcher

__all__ = ["LISTING_BOUND", "from_index", "from_store", "read_catalog"]

log = logging.getLogger("goproxy.catalog")

LISTING_BOUND = 20_000
"""Files a store listing looks at, at most (without a usage index)."""


def read_catalog(
    effect: ReadCatalog,
    *,
    store: BlobStore,
    index: UsageIndex | None,
    fetcher: Fetcher | None = None,
    prefetch: PrefetchStats | None = None,
    sumdb_logs: LogsBase | None = None,
) -> CatalogData:
    """The answer to ``effect`` (never raises: a failure is ``available=False``)."""
    try:
        data = from_index(index, effect) if index is not None else from_store(store, effect)
    except (OSError, sqlite3.Error) as e:
        log.warning("reading the catalog failed: %s", e)
        return CatalogData(available=False, why=f"reading the cache failed: {e}")
    if not effect.summary:
        return data
    extra: dict[str, object] = {"free": ops.free_space(store)}
    if fetcher is not None:
        extra["upstreams"] = fetcher.health(effect.upstreams)
    if prefetch is not None:
        extra["prefetch"] = tuple(prefetch.snapshot().items())
    if effect.own_sumdb and sumdb_logs is not None:
        try:
            extra["sumdb_key"] = sumdb_logs.get(effect.own_sumdb).vkey
        except Exception as e:  # the log cannot be opened: the page says how to get the key
            log.warning("own checksum database %s: %s", effect.own_sumdb, e)
    return msgspec.structs.replace(data, **extra)


def from_store(store: BlobStore, effect: ReadCatalog) -> CatalogData:
    """``effect`` answered from a listing of ``store`` (at most :data:`LISTING_BOUND` files;
    a module's page lists only that module's files)."""
    prefix = ""
    if effect.module:
        from goproxy_core.module.escape import escape_path

        prefix = escape_path(effect.module) + "/@v/"
    files: list[tuple[str, int, float]] = []
    complete = True
    for key in store.list_keys(prefix):
        if len(files) >= LISTING_BOUND:
            complete = False
            break
        info = ops.stat(store, key)
        if info is not None:
            files.append((key, info.size, info.mtime))
    return catalog_from_files(files, effect, complete=complete)


def from_index(index: UsageIndex, effect: ReadCatalog) -> CatalogData:
    """``effect`` answered from the disk quota's usage index (one read transaction)."""
    db = index.reader()
    where = ["evicting = 0"]
    args: list[object] = []
    if effect.module:
        where.append("module = ?")
        args.append(effect.module)
    if effect.search:
        where.append("instr(lower(module), ?) > 0")
        args.append(effect.search.lower())
    if effect.after is not None:
        where.append("(module > ? OR (module = ? AND version > ?))")
        args += [effect.after[0], effect.after[0], effect.after[1]]
    cond = " AND ".join(where)
    db.execute("BEGIN")
    try:
        # ``cond`` is made of the fixed clauses above; every value is bound.
        rows = db.execute(
            f"SELECT module, version, bytes, last_use, uses FROM versions WHERE {cond} "
            "ORDER BY module, version LIMIT ?",
            (*args, effect.limit + 1),
        ).fetchall()
        versions = tuple(CatalogVersion(*r) for r in rows[: effect.limit])
        data = CatalogData(versions=versions, more=len(rows) > effect.limit, source="usage index")
        if effect.summary:
            data = _summary(db, data, effect.top)
    finally:
        db.execute("COMMIT")
    return data


def _summary(db: sqlite3.Connection, data: CatalogData, top: int) -> CatalogData:
    total, files = db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM files").fetchone()
    versions, modules = db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT module) FROM versions WHERE evicting = 0"
    ).fetchone()
    grouped = (
        "SELECT module, COUNT(*), SUM(bytes), MAX(last_use), SUM(uses) FROM versions "
        "WHERE evicting = 0 GROUP BY module "
    )
    requested = db.execute(
        grouped + "HAVING SUM(uses) > 0 ORDER BY SUM(uses) DESC, module LIMIT ?", (top,)
    ).fetchall()
    recent = db.execute(grouped + "ORDER BY MAX(last_use) DESC, module LIMIT ?", (top,)).fetchall()
    return msgspec.structs.replace(
        data,
        total_bytes=int(total),
        file_count=int(files),
        version_count=int(versions),
        module_count=int(modules),
        most_requested=tuple(ModuleUse(*r) for r in requested),
        most_recent=tuple(ModuleUse(*r) for r in recent),
    )
