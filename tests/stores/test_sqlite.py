"""The per-thread SQLite connections the usage index and our own database's log share."""

from __future__ import annotations

import threading

import pytest

from goproxy_stores.sqlite import ThreadConnections


def test_connections_opening_a_new_file_at_once_all_get_in(tmp_path):
    # Workers starting together on a new cache dir each switch the new file to WAL: SQLite
    # refuses one of two such switches at once ("database is locked", no busy wait), which
    # stopped a worker at start. 30 rounds of 4 at once failed 1 to 3 rounds before the retry.
    for r in range(30):
        path = tmp_path / f"{r}.sqlite"
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def open_and_write(path=path, barrier=barrier, errors=errors):
            conns = ThreadConnections(path, timeout=10, synchronous="NORMAL")
            barrier.wait()
            try:
                with conns.write() as db:
                    db.execute("CREATE TABLE IF NOT EXISTS t (x)")
                    db.execute("INSERT INTO t VALUES (1)")
            except BaseException as e:
                errors.append(e)
            finally:
                conns.close()

        threads = [threading.Thread(target=open_and_write) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], (r, errors)
        conns = ThreadConnections(path, timeout=10, synchronous="NORMAL")
        assert conns.db().execute("SELECT count(*) FROM t").fetchone() == (4,)
        assert conns.db().execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conns.close()


def test_a_lock_that_is_not_released_still_fails_after_the_timeout(tmp_path):
    import sqlite3

    path = tmp_path / "x.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        conns = ThreadConnections(path, timeout=0.2, synchronous="NORMAL")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            conns.db()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
