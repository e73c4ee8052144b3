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

from goproxy_core import AppendSumdb, ReadSumdb, SumdbAnswer, SumdbPart
from goproxy_core.errors import ProxyError
from goproxy_core.proxy.checks import MAX_MOD
from goproxy_core.sumdb import (
    HashReader,
    Signer,
    TlogError,
    data_tile,
    generate_key,
    hash_tile,
    lookup_body,
    new_signer,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    signed_tree,
    stored_hash_count,
    stored_hashes,
    tile_in_tree,
    tree_hash,
    verifier_key,
)
from goproxy_stores import ops
from goproxy_stores.sqlite import ThreadConnections

if TYPE_CHECKING:
    from collections.abc import Sequence

    from goproxy_core.storage import BlobStore

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


class LogError(Exception):
    """The log or its key cannot be used; the message says why."""


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
    try:
        signer = new_signer(skey)
    except Exception as e:  # InvalidKeyError, or a key that is not ASCII base64 at all
        raise LogError(f"{path} holds no valid signer key: {e}") from None
    if signer.name != name:
        raise LogError(f"{path} is the key of checksum database {signer.name}, not {name}")
    return skey


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


class SumdbLog:
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

    def latest(self) -> bytes:
        """The signed note of the latest tree."""
        return self._tree(self._db())[1]

    def size(self) -> int:
        """How many records the log holds."""
        return self._tree(self._db())[0]

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

    def tile(self, path: str) -> bytes | None:
        """The bytes of the tile at ``path``; None if it is not (yet) in the tree."""
        tile = parse_tile_path(path)
        db = self._db()
        db.execute("BEGIN")
        try:
            size = self._tree(db)[0]
            if not tile_in_tree(tile, size):
                return None
            if tile.L == -1:
                return data_tile(tile, size, lambda start, n: self._records(db, start, n))
            return hash_tile(tile, size, self._reader(db))
        finally:
            db.execute("COMMIT")

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
                    log.warning(
                        "%s@%s: its files now hash to a record other than the one logged in %s; "
                        "the logged one stands",
                        module,
                        version,
                        self.name,
                    )
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

    # -- effects ---------------------------------------------------------------------------

    def read(self, effect: ReadSumdb) -> SumdbAnswer:
        """Carry out a ``ReadSumdb``."""
        if effect.part is SumdbPart.LATEST:
            return SumdbAnswer(found=True, body=self.latest())
        if effect.part is SumdbPart.LOOKUP:
            body = self.lookup(effect.module, effect.version)
        else:
            body = self.tile(effect.tile)
        return SumdbAnswer(found=body is not None, body=body or b"")


class SumdbLogs:
    """The logs of the own checksum databases under one directory, opened on first use.

    Args:
        root: ``<cache dir>/sumdb``; database ``name`` lives in ``root/name``.
    """

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

    def read(self, effect: ReadSumdb) -> SumdbAnswer:
        """Carry out a ``ReadSumdb``; never raises (a failure is an answer with ``error``)."""
        try:
            return self.get(effect.name).read(effect)
        except (OSError, sqlite3.Error, LogError, TlogError) as e:
            log.error("checksum database %s: %s", effect.name, e)
            return SumdbAnswer(found=False, error=str(e))

    def append(self, effect: AppendSumdb, store: BlobStore) -> SumdbAnswer:
        """Carry out an ``AppendSumdb``: hash the stored files, append; never raises.

        Blocking and CPU-bound (the zip is read through): run it in a worker thread.
        """
        try:
            mod = ops.read_small(store, effect.mod_key, MAX_MOD)
            zip_file = store.open(effect.zip_key)
            if mod is None or zip_file is None:
                return SumdbAnswer(found=False, error="the version's files left the store")
            with zip_file:
                text = effect.record(zip_file, mod.data)
            body = self.get(effect.name).append(effect.module, effect.version, text)
        except (OSError, sqlite3.Error, LogError, ProxyError) as e:
            log.error(
                "checksum database %s: %s@%s: %s", effect.name, effect.module, effect.version, e
            )
            return SumdbAnswer(found=False, error=str(e))
        return SumdbAnswer(found=True, body=body)
