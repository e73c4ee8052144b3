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
import time
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
            self._wal(db)
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._local.db = db
        return db

    def _wal(self, db: sqlite3.Connection) -> None:
        """Switch the file to WAL, waiting out another process doing the same.

        Two connections switching a new file at once can get "database is locked" at once,
        without the busy timeout: each holds a shared lock and wants the exclusive one, and
        SQLite refuses one rather than deadlock (seen with ``--workers`` starting together on
        a new cache dir). The switch is retried until the timeout.
        """
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

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
