"""The log of the proxy's own checksum database kept in an object store, and its signer key.

Theory of operation. Database ``<name>``'s objects are the store's own (never keys), under
``.goproxy/sumdb/<name>/``:

* ``signer.key``: the Ed25519 signer key, made on first use with a conditional create (of two
  replicas starting together one creates it; the other's create fails and it reads the
  winner's). ``vkey``: the verifier key the log is signed with, created the same way: a log
  opened with another key is an error, never a fork.
* ``records/<n, 12 digits>``: record ``n``, immutable, a JSON object holding the module, the
  version, the record text, the stored hashes ``tlog.StoredHashes`` gives for record ``n``,
  and the signed tree note of the ``n + 1`` records ``0..n``. One object is the whole append:
  the record, its hashes and the tree head that publishes it become visible together.
* ``bundles/<k, 8 digits>``: records ``256k .. 256k+255`` in one immutable object, made (by a
  conditional create: every maker writes the same bytes) once the block is complete, so a
  process that starts on a long log reads it with one GET per 256 records.

The conditional create of ``records/<n>`` is the fence. An appender knows records ``0..n-1``
(immutable: read once and kept in memory), checks that the version is not among them, computes
record ``n``'s stored hashes and the tree of ``n + 1`` records from them, signs it, and creates
``records/<n>`` only if no object has that name. Of several appenders of index ``n`` (threads,
worker processes, replicas on one bucket) exactly one create succeeds; each other re-reads
the log from ``n`` on and tries again at the new end (a bounded number of times, with a short
random backoff), or finds its version there and answers its record. So two records never
share an index, a published record never changes, and no version is logged twice: a record
is created only by an appender that has seen every record before it, and a second appender
of the same version, seeing the first one's record, answers it instead.

A crash (``kill -9``) at any moment leaves a log that is whole: before the create, nothing of
the append is in the store; after it, the record and the tree that publishes it are. Only a
bundle may be missing; whoever next reads the full block makes it. A create whose answer was
lost (the store went away mid-request) may or may not have made the record; the next read of
the log finds out, and an append that failed is tried again by the next request for the version.

Reads. Everything read is kept in memory (per process; records never change): the records,
the flat list of stored hashes, and a module@version -> index map. A tile or lookup the memory
can answer costs no request; otherwise the log is re-read from its known end: a GET of the next
record (and the next bundle at a block's end) until one is missing, a cheap 404 when nothing
is new. ``/latest`` always takes that look, so it serves the newest tree any replica signed.
Each re-read checks the newest record's tree note: it verifies under our key and its tree
hash is the one the stored hashes give.

When the store is away, what memory holds is still answered (lookups of versions read,
tiles of the tree read, and ``/latest`` with the newest tree read: an older tree is still a
tree of the log); what needs the store (a version not in memory, an append) is an error
(``OSError``), answered as such, never as "not found".

Memory: every record is kept (text and hashes: about 250 bytes a record).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goproxy_core.storage import LocalBlobStore
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

from .sumdb_base import LogBase, LogError, LogsBase, LogView, check_signer_key, warn_relogged
from .sumdb_log import SumdbLogs

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from goproxy_core.storage import BlobStore
    from goproxy_stores.objectstore import ObjectStore

__all__ = [
    "BUNDLE",
    "ObjectSumdbLog",
    "ObjectSumdbLogs",
    "object_signer_key",
    "sumdb_logs_for",
]

log = logging.getLogger("goproxy.sumdb")

BUNDLE = 256
"""Records per bundle object (a data tile's worth)."""
APPEND_TRIES = 64
"""Creates an append tries (each lost to another appender) before it gives up."""


def _base(name: str) -> str:
    return f"sumdb/{name}/"


def record_name(name: str, n: int) -> str:
    """The own-object name of record ``n`` of database ``name``."""
    return f"{_base(name)}records/{n:012d}"


def bundle_name(name: str, k: int) -> str:
    """The own-object name of bundle ``k`` (records ``256k`` to ``256k + 255``)."""
    return f"{_base(name)}bundles/{k:08d}"


def object_signer_key(store: ObjectStore, name: str) -> str:
    """The signer key of database ``name`` in ``store``, made on first use.

    Raises:
        LogError: the key object holds no signer key for ``name``.
        OSError: the store cannot be read or written.
    """
    path = _base(name) + "signer.key"
    got = store.own_get(path)
    if got is None:
        skey, _ = generate_key(name, os.urandom(32))
        if store.own_put(path, (skey + "\n").encode("ascii"), create=True) is None:
            got = store.own_get(path)  # another process made the key first: theirs
            if got is None:
                raise OSError(f"object store: .goproxy/{path} was made and is gone")
        else:
            return skey
    try:
        skey = got.data.decode("ascii").strip()
    except UnicodeDecodeError:
        skey = ""
    return check_signer_key(skey, name, f".goproxy/{path}")


@dataclass(frozen=True)
class _Record:
    module: str
    version: str
    text: bytes
    hashes: tuple[bytes, ...]
    note: bytes
    """The signed tree of the records up to and including this one."""

    def encode(self) -> dict[str, Any]:
        try:
            text = self.text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise LogError(f"{self.module}@{self.version}: its record is not text: {e}") from None
        return {
            "module": self.module,
            "version": self.version,
            "text": text,
            "hashes": [h.hex() for h in self.hashes],
            "tree": self.note.decode("utf-8"),  # a note's signature lines start with an em dash
        }

    @classmethod
    def decode(cls, obj: Any, n: int, where: str) -> _Record:
        try:
            hashes = tuple(bytes.fromhex(h) for h in obj["hashes"])
            got = cls(
                str(obj["module"]),
                str(obj["version"]),
                str(obj["text"]).encode("utf-8"),
                hashes,
                str(obj["tree"]).encode("utf-8"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise LogError(f"{where} is not a record of the log: {e}") from None
        want = stored_hash_count(n + 1) - stored_hash_count(n)
        if len(hashes) != want or any(len(h) != 32 for h in hashes):
            raise LogError(f"{where} holds {len(hashes)} stored hashes, want {want}")
        return got


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class ObjectSumdbLog(LogBase):
    """One checksum database's log in an object store; thread-, process- and replica-safe.

    Args:
        store: the object store (its own objects: ``own_get``, ``own_put``).
        name: the database name (the key's name).
    """

    def __init__(self, store: ObjectStore, name: str) -> None:
        self.store = store
        self.name = name
        skey = object_signer_key(store, name)
        self.signer: Signer = new_signer(skey)
        self.vkey = verifier_key(skey)
        self._verifier = new_verifier(self.vkey)
        self._records: list[_Record] = []
        self._hashes: list[bytes] = []
        self._index: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # the memory above: one reader of the store at a time
        self._append_lock = threading.Lock()  # this process's appends, one at a time
        self._empty = signed_tree(0, self._read_hashes, self.signer)
        self._remember_key()
        self._refresh()

    def _remember_key(self) -> None:
        path = _base(self.name) + "vkey"
        mine = (self.vkey + "\n").encode("ascii")
        if self.store.own_put(path, mine, create=True) is not None:
            return
        got = self.store.own_get(path)
        signed = got.data.decode("ascii", "replace").strip() if got is not None else self.vkey
        if signed != self.vkey:
            raise LogError(
                f"the log in .goproxy/{_base(self.name)} was signed with key {signed}, but "
                f".goproxy/{_base(self.name)}signer.key holds {self.vkey}: restore the key "
                "the log was signed with"
            )

    # -- memory ----------------------------------------------------------------------------

    def _read_hashes(self, indexes: list[int]) -> list[bytes]:
        hashes = self._hashes
        try:
            return [hashes[i] for i in indexes]
        except IndexError:
            raise TlogError(f"stored hashes {indexes[:5]} are not in the log") from None

    def _with(self, new: list[bytes]) -> HashReader:
        """The stored hashes with ``new`` (the next record's, not yet created) after them.

        The appender of record ``n`` signs the tree of ``n + 1`` records with it; if another
        record ``n`` is read meanwhile, the create fails and what was signed is dropped."""
        old, first = self._hashes, len(self._hashes)

        def read(indexes: list[int]) -> list[bytes]:
            return [new[i - first] if i >= first else old[i] for i in indexes]

        return read

    def _add(self, record: _Record) -> None:
        """Keep the next record (the caller holds the lock)."""
        n = len(self._records)
        self._records.append(record)
        self._hashes.extend(record.hashes)
        self._index.setdefault((record.module, record.version), n)

    def _read_records(self, start: int, count: int) -> Sequence[bytes]:
        return [r.text for r in self._records[start : start + count]]

    # -- reading the store -----------------------------------------------------------------

    def _refresh(self) -> None:
        """Read the records added since the last look (bundles where whole), and check the
        newest tree."""
        with self._lock:
            before = len(self._records)
            try:
                while True:
                    n = len(self._records)
                    if n % BUNDLE == 0 and self._load_bundle(n // BUNDLE):
                        continue
                    got = self.store.own_get(record_name(self.name, n))
                    if got is None:
                        break
                    where = f".goproxy/{record_name(self.name, n)}"
                    try:
                        obj = json.loads(got.data)
                    except ValueError as e:
                        raise LogError(f"{where} is not a record of the log: {e}") from None
                    self._add(_Record.decode(obj, n, where))
                    if (n + 1) % BUNDLE == 0:
                        self._make_bundle(n // BUNDLE)
                if len(self._records) != before:
                    self._check()
            except BaseException:
                # Nothing unchecked is served: the next look reads (and checks) them again.
                self._forget(before)
                raise

    def _forget(self, size: int) -> None:
        """Drop the records from ``size`` on (the caller holds the lock)."""
        for n in range(size, len(self._records)):
            record = self._records[n]
            if self._index.get((record.module, record.version)) == n:
                del self._index[(record.module, record.version)]
        del self._records[size:]
        del self._hashes[stored_hash_count(size) :]

    def _load_bundle(self, k: int) -> bool:
        got = self.store.own_get(bundle_name(self.name, k))
        if got is None:
            return False
        where = f".goproxy/{bundle_name(self.name, k)}"
        try:
            objs = json.loads(got.data)
        except ValueError as e:
            raise LogError(f"{where} is not a bundle of the log: {e}") from None
        if not isinstance(objs, list) or len(objs) != BUNDLE:
            raise LogError(f"{where} does not hold {BUNDLE} records")
        for i, obj in enumerate(objs):
            self._add(_Record.decode(obj, k * BUNDLE + i, where))
        return True

    def _make_bundle(self, k: int) -> None:
        """Bundle ``k`` from memory (every maker writes the same bytes: the first stays)."""
        data = _dump([r.encode() for r in self._records[k * BUNDLE : (k + 1) * BUNDLE]])
        try:
            self.store.own_put(bundle_name(self.name, k), data, create=True)
        except OSError as e:  # the records stay the truth; the next reader tries again
            log.warning("checksum database %s: bundle %d: %s", self.name, k, e)

    def _check(self) -> None:
        """The newest record's tree verifies under our key and is the tree of the records."""
        size = len(self._records)
        note = self._records[-1].note
        where = f".goproxy/{record_name(self.name, size - 1)}"
        try:
            tree = open_tree_note(note, [self._verifier])
        except Exception as e:  # a note signed by another key, or no note
            raise LogError(f"{where}: its tree does not verify with {self.vkey}: {e}") from None
        if size != tree.N or tree.hash != tree_hash(size, self._read_hashes):
            raise LogError(f"{where}: its tree (size {tree.N}) is not the tree of the log")

    @contextlib.contextmanager
    def _view(self, need: int = 0) -> Iterator[LogView]:
        if need:
            if len(self._records) < need:
                self._refresh()
        else:
            try:
                self._refresh()
            except OSError as e:
                # The store is away: the newest tree read is still a tree of the log (a
                # client that has seen a newer one checks this one is in it).
                log.warning("checksum database %s: the latest tree from memory: %s", self.name, e)
        with self._lock:
            size = len(self._records)
            note = self._records[-1].note if size else self._empty
        # Records and hashes are only ever added: what a view of ``size`` reads stays.
        yield LogView(size, note, self._read_hashes, self._read_records)

    # -- lookups and appends ---------------------------------------------------------------

    def _body(self, n: int) -> bytes:
        with self._lock:
            record, note = self._records[n], self._records[-1].note
        return lookup_body(n, record.text, note)

    def lookup(self, module: str, version: str) -> bytes | None:
        n = self._index.get((module, version))
        if n is None:
            self._refresh()
            n = self._index.get((module, version))
        return None if n is None else self._body(n)

    def append(self, module: str, version: str, text: bytes) -> bytes:
        with self._append_lock:
            self._refresh()
            for attempt in range(APPEND_TRIES):
                n = self._index.get((module, version))
                if n is not None:
                    if self._records[n].text != text:
                        warn_relogged(self.name, module, version)
                    return self._body(n)
                n = len(self._records)
                hashes = stored_hashes(n, text, self._read_hashes)
                note = signed_tree(n + 1, self._with(hashes), self.signer)
                record = _Record(module, version, text, tuple(hashes), note)
                if self.store.own_put(
                    record_name(self.name, n), _dump(record.encode()), create=True
                ):
                    with self._lock:
                        if len(self._records) == n:  # else a reader has read it already
                            self._add(record)
                            if (n + 1) % BUNDLE == 0:
                                self._make_bundle(n // BUNDLE)
                    return lookup_body(n, text, note)
                # Another appender created record n: read what it wrote, then try again.
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))
                self._refresh()
        raise LogError(
            f"checksum database {self.name}: {APPEND_TRIES} appends lost to other appenders; "
            "try again"
        )


class ObjectSumdbLogs(LogsBase):
    """The logs of the own checksum databases in one object store, opened on first use."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._logs: dict[str, ObjectSumdbLog] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ObjectSumdbLog:
        with self._lock:
            got = self._logs.get(name)
            if got is None:
                got = self._logs[name] = ObjectSumdbLog(self.store, name)
            return got


def sumdb_logs_for(store: BlobStore) -> LogsBase | None:
    """Where ``store`` keeps the own checksum databases' logs: an object store in its own
    objects, a local store in SQLite under its ``sumdb/``; None for any other store."""
    from goproxy_stores.objectstore import ObjectStore

    if isinstance(store, ObjectStore):
        return ObjectSumdbLogs(store)
    if isinstance(store, LocalBlobStore):
        return SumdbLogs(store.local_path("sumdb"))
    return None
