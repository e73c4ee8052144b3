"""What every log of the proxy's own checksum database shares, wherever it keeps its records.

Two logs keep records: :mod:`goproxy_io.sumdb_log` (SQLite in the cache dir) and
:mod:`goproxy_io.sumdb_objlog` (immutable objects in an object store). Both are a
:class:`LogBase`: they say how to see one consistent state of the log (:meth:`LogBase._view`:
its size, signed tree, stored-hash reader and record reader) and how to look a version up
and append one; the reads the database answers (``/latest``, tiles, the ``ReadSumdb``
effect) are computed here from that view, by the core's pure functions
(:mod:`goproxy_core.sumdb.server`). :class:`LogsBase` carries out the two effects for a set
of logs, one per database name: ``ReadSumdb``, and ``AppendSumdb`` (hash the stored files,
then append), never raising.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from goproxy_core import AppendSumdb, ReadSumdb, SumdbAnswer, SumdbPart
from goproxy_core.errors import ProxyError
from goproxy_core.proxy.checks import MAX_MOD
from goproxy_core.sumdb import (
    HashReader,
    RecordReader,
    TlogError,
    data_tile,
    hash_tile,
    new_signer,
    parse_tile_path,
    tile_in_tree,
)
from goproxy_stores import ops

if TYPE_CHECKING:
    import contextlib

    from goproxy_core.storage import BlobStore

__all__ = ["LogBase", "LogError", "LogView", "LogsBase", "check_signer_key"]

log = logging.getLogger("goproxy.sumdb")


class LogError(Exception):
    """The log or its key cannot be used; the message says why."""


def check_signer_key(skey: str, name: str, where: str) -> str:
    """``skey`` if it is the signer key of database ``name``; ``where`` names it in errors.

    Raises:
        LogError: it is no signer key, or another database's.
    """
    try:
        signer = new_signer(skey)
    except Exception as e:  # InvalidKeyError, or a key that is not ASCII base64 at all
        raise LogError(f"{where} holds no valid signer key: {e}") from None
    if signer.name != name:
        raise LogError(f"{where} is the key of checksum database {signer.name}, not {name}")
    return skey


class LogView(NamedTuple):
    """One consistent state of a log: everything a read needs."""

    size: int
    note: bytes
    """The signed tree of ``size`` records."""
    read_hashes: HashReader
    read_records: RecordReader


class LogBase:
    """A checksum database's log; subclasses keep the records."""

    name: str
    vkey: str

    def _view(self, need: int = 0) -> contextlib.AbstractContextManager[LogView]:
        """One consistent state of the log, at least ``need`` records if the log has them
        (a log that caches may then skip a look at its store)."""
        raise NotImplementedError

    def lookup(self, module: str, version: str) -> bytes | None:
        """The lookup body of ``module``@``version``, or None if it is not in the log."""
        raise NotImplementedError

    def append(self, module: str, version: str, text: bytes) -> bytes:
        """Log ``module``@``version`` with record ``text`` unless it is logged; its lookup
        body. A version already in the log keeps its record; the text given is dropped."""
        raise NotImplementedError

    def latest(self) -> bytes:
        """The signed note of the latest tree."""
        with self._view() as view:
            return view.note

    def size(self) -> int:
        """How many records the log holds."""
        with self._view() as view:
            return view.size

    def tile(self, path: str) -> bytes | None:
        """The bytes of the tile at ``path``; None if it is not (yet) in the tree."""
        tile = parse_tile_path(path)
        level = max(tile.L, 0)
        need = ((tile.N << tile.H) + tile.W) << (level * tile.H)
        with self._view(need) as view:
            if not tile_in_tree(tile, view.size):
                return None
            if tile.L == -1:
                return data_tile(tile, view.size, view.read_records)
            return hash_tile(tile, view.size, view.read_hashes)

    def read(self, effect: ReadSumdb) -> SumdbAnswer:
        """Carry out a ``ReadSumdb``."""
        if effect.part is SumdbPart.LATEST:
            return SumdbAnswer(found=True, body=self.latest())
        if effect.part is SumdbPart.LOOKUP:
            body = self.lookup(effect.module, effect.version)
        else:
            body = self.tile(effect.tile)
        return SumdbAnswer(found=body is not None, body=body or b"")


def warn_relogged(name: str, module: str, version: str) -> None:
    """A version logged already was appended again with another record: the logged one
    stands (published records never change)."""
    log.warning(
        "%s@%s: its files now hash to a record other than the one logged in %s; "
        "the logged one stands",
        module,
        version,
        name,
    )


class LogsBase:
    """The logs of the own checksum databases of one store, opened on first use."""

    errors: tuple[type[Exception], ...] = (OSError, LogError, TlogError)
    """What opening, reading or appending may raise (an answer with ``error``, logged)."""

    def get(self, name: str) -> LogBase:
        raise NotImplementedError

    def read(self, effect: ReadSumdb) -> SumdbAnswer:
        """Carry out a ``ReadSumdb``; never raises (a failure is an answer with ``error``)."""
        try:
            return self.get(effect.name).read(effect)
        except self.errors as e:
            log.error("checksum database %s: %s", effect.name, e)
            return SumdbAnswer(found=False, error=str(e))

    def append(self, effect: AppendSumdb, store: BlobStore) -> SumdbAnswer:
        """Carry out an ``AppendSumdb``: hash the stored files, append; never raises.

        Blocking and CPU-bound (the zip is read through): run it in a worker thread.
        """
        errors: tuple[type[Exception], ...] = (*self.errors, ProxyError)
        try:
            mod = ops.read_small(store, effect.mod_key, MAX_MOD)
            zip_file = store.open(effect.zip_key)
            if mod is None or zip_file is None:
                return SumdbAnswer(found=False, error="the version's files left the store")
            with zip_file:
                text = effect.record(zip_file, mod.data)
            body = self.get(effect.name).append(effect.module, effect.version, text)
        except errors as e:
            log.error(
                "checksum database %s: %s@%s: %s", effect.name, effect.module, effect.version, e
            )
            return SumdbAnswer(found=False, error=str(e))
        return SumdbAnswer(found=True, body=body)
