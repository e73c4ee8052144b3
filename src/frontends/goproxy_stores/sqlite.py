"""One SQLite connection per thread, in WAL mode, for the files several processes share.

The disk quota's usage index (:mod:`goproxy_stores.usage`) and our own checksum database's
log (``goproxy_io.sumdb_log``) are SQLite files that every process serving a cache dir opens
(``--workers``, several servers, the admin commands). A connection is never shared between
threads: each thread opens its own on first use (:meth:`ThreadConnections.db`). Writes take
the database's write lock at once (``BEGIN IMMEDIATE``), so two writers wait for each other
(up to the busy timeout) rather than fail half-way.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["ThreadConnections"]


class ThreadConnections:
    """Per-thread connections to one SQLite file.

    Args:
        path: the database file.
        timeout: seconds a statement waits for another process's lock.
        synchronous: SQLite's ``synchronous`` setting: ``FULL`` where a committed write must
            survive a power loss (an append-only log), ``NORMAL`` where a scan can rebuild
            what was lost (WAL keeps the file consistent either way).
    """

    def __init__(self, path: str | Path, *, timeout: float, synchronous: str) -> None:
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous
        self._local = threading.local()

    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection: committed, or rolled back on any
        exception."""
        db = self.db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
