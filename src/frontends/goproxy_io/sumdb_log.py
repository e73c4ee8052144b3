"""The log of the proxy's own checksum database, kept in SQLite, and its signer key.

Theory of operation. Under ``<cache dir>/sumdb/<name>/`` live ``signer.key`` (the Ed25519
signer key, mode 0600) and ``log.db``, an SQLite database in WAL mode with three tables:
``records`` (id, module, version, text), ``hashes`` (stored-hash index, hash) and ``tree``
(one row: the log's size and its signed tree note). An append runs in one ``BEGIN IMMEDIATE``
transaction: look the version up (a version logged already keeps its record: published
records never change), add the record, its stored hashes (``tlog.StoredHashes``) and the newly
signed tree, commit. So at any moment, a ``kill -9`` included, the three tables agree: SQLite
either commits the whole transaction or none of it. ``synchronous=FULL`` makes a committed
append survive a power cut too, so a record a client has seen is never lost.

Several threads, worker processes and servers may share one log: each thread has its own
connection, and SQLite's file locks order the writers (``BEGIN IMMEDIATE`` takes the write
lock before reading the size, so two appends never both take id ``n``). Readers never wait
for writers (WAL). What the database answers is computed by the core
(:mod:`goproxy_core.sumdb.server`) from what is read here.

The signer key is made on first use from ``os.urandom``, written whole to a private
temporary file created with ``O_EXCL`` and mode 0600, and published with ``link``, which
fails if the name exists: two processes starting together never make two keys, and no one
ever reads a half-written key. The log remembers the key it was signed with; opening it with
another key is an error, not a silent fork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from goproxy_core.sumdb import (
    HashReader,
    Signer,
    TlogError,
    generate_key,
    lookup_body,
    new_signer,
    new_verifier,
    open_tree_note,
    signed_tree,
    stored_hash_count,
    stored_hashes,
    tree_hash,
    verifier_key,
)
from goproxy_stores.sqlite import ThreadConnections

from .sumdb_base import LogBase, LogError, LogsBase, LogView, check_signer_key, warn_relogged

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["KEY_FILE", "LOG_FILE", "LogError", "SumdbLog", "SumdbLogs", "signer_key"]

log = logging.getLogger("goproxy.sumdb")

KEY_FILE = "signer.key"
LOG_FILE = "log.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    module TEXT NOT NULL,
    version TEXT NOT NULL,
    text BLOB NOT NULL,
    UNIQUE (module, version)
);
CREATE TABLE IF NOT EXISTS hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tree (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    size INTEGER NOT NULL,
    note BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def signer_key(directory: str | os.PathLike[str], name: str) -> str:
    """The signer key of database ``name`` kept in ``directory``, made on first use.

    Raises:
        LogError: the key file exists but holds no signer key for ``name``.
        OSError: the directory or the file cannot be made or read.
    """
    path = Path(directory) / KEY_FILE
    Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        skey = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        skey = _make_key(path, name)
    return check_signer_key(skey, name, str(path))


def _make_key(path: Path, name: str) -> str:
    skey, _ = generate_key(name, os.urandom(32))
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(skey + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process made the key first
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return path.read_text(encoding="ascii").strip()


class SumdbLog(LogBase):
    """One checksum database's log: appends and reads, thread- and process-safe.

    Args:
        directory: ``<cache dir>/sumdb/<name>``.
        name: the database name (the key's name).
    """

    def __init__(self, directory: str | os.PathLike[str], name: str) -> None:
        self.directory = Path(directory)
        self.name = name
        skey = signer_key(self.directory, name)
        self.signer: Signer = new_signer(skey)
        self.vkey = verifier_key(skey)
        self.path = self.directory / LOG_FILE
        self._sql = ThreadConnections(self.path, timeout=60.0, synchronous="FULL")
        self._init()

    # -- connections -----------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        return self._sql.db()

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._sql.write()

    def _init(self) -> None:
        db = self._db()
        with self._write():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'vkey'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('vkey', ?)", (self.vkey,))
            elif row[0] != self.vkey:
                raise LogError(
                    f"{self.path} was signed with key {row[0]}, but {self.directory / KEY_FILE} "
                    f"holds {self.vkey}: restore the key the log was signed with"
                )
            if db.execute("SELECT size FROM tree").fetchone() is None:
                note = signed_tree(0, self._reader(db), self.signer)
                db.execute("INSERT INTO tree VALUES (1, 0, ?)", (note,))
            # Checked in the same transaction: another process may be appending meanwhile.
            self._check(db)

    def _check(self, db: sqlite3.Connection) -> None:
        """The signed tree verifies under our key and agrees with the records and hashes."""
        size, note = self._tree(db)
        tree = open_tree_note(note, [new_verifier(self.vkey)])
        records = db.execute("SELECT count(*) FROM records").fetchone()[0]
        hashes = db.execute("SELECT count(*) FROM hashes").fetchone()[0]
        if (
            size != tree.N
            or records != size
            or hashes != stored_hash_count(size)
            or tree.hash != tree_hash(size, self._reader(db))
        ):
            raise LogError(
                f"{self.path} is inconsistent: tree size {size}, {records} records, "
                f"{hashes} stored hashes"
            )

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._sql.close()

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def _reader(db: sqlite3.Connection) -> HashReader:
        def read(indexes: list[int]) -> list[bytes]:
            found: dict[int, bytes] = {}
            for start in range(0, len(indexes), 500):
                part = indexes[start : start + 500]
                marks = ",".join("?" * len(part))
                found.update(
                    db.execute(f"SELECT idx, hash FROM hashes WHERE idx IN ({marks})", part)
                )
            missing = [i for i in indexes if i not in found]
            if missing:
                raise TlogError(f"stored hashes {missing[:5]} are missing from the log")
            return [found[i] for i in indexes]

        return read

    @staticmethod
    def _tree(db: sqlite3.Connection) -> tuple[int, bytes]:
        row = db.execute("SELECT size, note FROM tree").fetchone()
        if row is None:
            raise LogError("the log has no signed tree")
        return int(row[0]), bytes(row[1])

    @contextlib.contextmanager
    def _view(self, need: int = 0) -> Iterator[LogView]:
        db = self._db()
        db.execute("BEGIN")
        try:
            size, note = self._tree(db)
            yield LogView(
                size, note, self._reader(db), lambda start, n: self._records(db, start, n)
            )
        finally:
            db.execute("COMMIT")

    def lookup(self, module: str, version: str) -> bytes | None:
        """The lookup body of ``module``@``version``, or None if it is not in the log."""
        db = self._db()
        db.execute("BEGIN")
        try:
            row = db.execute(
                "SELECT id, text FROM records WHERE module = ? AND version = ?", (module, version)
            ).fetchone()
            note = self._tree(db)[1] if row is not None else b""
        finally:
            db.execute("COMMIT")
        if row is None:
            return None
        return lookup_body(int(row[0]), bytes(row[1]), note)

    @staticmethod
    def _records(db: sqlite3.Connection, start: int, count: int) -> Sequence[bytes]:
        rows = db.execute(
            "SELECT text FROM records WHERE id >= ? AND id < ? ORDER BY id", (start, start + count)
        )
        return [bytes(r[0]) for r in rows]

    # -- appends ---------------------------------------------------------------------------

    def append(self, module: str, version: str, text: bytes) -> bytes:
        """Log ``module``@``version`` with record ``text`` unless it is logged; its lookup body.

        A version already in the log keeps its record; the text given is then dropped.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT id, text FROM records WHERE module = ? AND version = ?", (module, version)
            ).fetchone()
            if row is not None:
                if bytes(row[1]) != text:
                    warn_relogged(self.name, module, version)
                return lookup_body(int(row[0]), bytes(row[1]), self._tree(db)[1])
            n, _ = self._tree(db)
            read = self._reader(db)
            hashes = stored_hashes(n, text, read)
            first = stored_hash_count(n)
            db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (n, module, version, text))
            db.executemany(
                "INSERT INTO hashes VALUES (?, ?)", [(first + i, h) for i, h in enumerate(hashes)]
            )
            note = signed_tree(n + 1, read, self.signer)
            db.execute("UPDATE tree SET size = ?, note = ?", (n + 1, note))
        return lookup_body(n, text, note)


class SumdbLogs(LogsBase):
    """The logs of the own checksum databases under one directory, opened on first use.

    Args:
        root: ``<cache dir>/sumdb``; database ``name`` lives in ``root/name``.
    """

    errors = (*LogsBase.errors, sqlite3.Error)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._logs: dict[str, SumdbLog] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> SumdbLog:
        with self._lock:
            got = self._logs.get(name)
            if got is None:
                got = self._logs[name] = SumdbLog(self.root / name, name)
            return got
