"""What a checksum database serves, computed from its log (after x/mod ``sumdb/server.go``).

The proxy keeps a transparency log of its own: one record per module version, the go.sum
lines of its zip and ``.mod`` (:func:`gosum_record`, :func:`hash_record`). Appending record
``n`` stores the hashes :func:`append_hashes` returns; the tree of ``n`` records is signed as
a note (:func:`signed_tree`). Everything the database answers is then a pure function of the
records, the stored hashes and the latest signed tree: a lookup body (:func:`lookup_body`),
a hash tile (:func:`hash_tile`) and a data tile (:func:`data_tile`). Storage (reading and
writing records and hashes, atomically) is the caller's; it hands the stored hashes in as a
:data:`~goproxy_core.sumdb.HashReader` and the records as a :data:`RecordReader`.

A client checks these answers with :func:`~goproxy_core.sumdb.verify_lookup` and
:func:`~goproxy_core.sumdb.verify_tile`, as the go command does with its own client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from .dirhash import hash_gomod, hash_zip
from .note import InvalidKeyError, Signer, decode_base64, generate_key, new_signer, sign
from .tile import Tile, read_tile_data, tile_path
from .tlog import HashReader, TlogError, stored_hash_index, stored_hashes, tree_hash
from .treenote import Tree, format_record, format_tree

if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "TILE_HEIGHT",
    "RecordReader",
    "append_hashes",
    "data_tile",
    "gosum_record",
    "hash_record",
    "hash_tile",
    "lookup_body",
    "signed_tree",
    "tile_in_tree",
    "verifier_key",
]

TILE_HEIGHT = 8
"""The tile height the go command asks for (x/mod ``sumdb.Client``'s ``tileHeight``)."""

RecordReader: TypeAlias = Callable[[int, int], Sequence[bytes]]
"""``read(start, count)``: the texts of records ``start`` .. ``start+count-1``, in order."""


def gosum_record(path: str, version: str, zip_hash: str, mod_hash: str) -> bytes:
    """A version's record: its two go.sum lines, the zip's then the ``.mod``'s.

    This is the record the go command reads from a ``/lookup/`` answer (cmd/go
    ``modfetch.checkSumDB`` looks for ``<path> <version> <hash>`` and
    ``<path> <version>/go.mod <hash>``).
    """
    return f"{path} {version} {zip_hash}\n{path} {version}/go.mod {mod_hash}\n".encode()


def hash_record(path: str, version: str, zip_file: BinaryIO, gomod: bytes) -> bytes:
    """The record of a version from its zip (read through) and its ``.mod`` bytes.

    Hashing reads the whole zip; an event-loop server calls this in a worker thread.

    Raises:
        ZipError, DirHashError: the zip cannot be read or hashed.
    """
    return gosum_record(path, version, hash_zip(zip_file), hash_gomod(gomod))


def append_hashes(n: int, text: bytes, read_hashes: HashReader) -> tuple[int, list[bytes]]:
    """The hashes to store when record ``n`` is appended: ``(first index, hashes)``.

    The hashes go at consecutive indexes from the first (x/mod ``tlog.StoredHashes``); the
    caller stores them together with the record, in one transaction.
    """
    return stored_hash_index(0, n), stored_hashes(n, text, read_hashes)


def signed_tree(n: int, read_hashes: HashReader, signer: Signer) -> bytes:
    """The signed note of the tree of the first ``n`` records (the ``/latest`` answer)."""
    text = format_tree(Tree(n, tree_hash(n, read_hashes)))
    return sign(text.decode("ascii"), [signer])


def lookup_body(id: int, text: bytes, signed: bytes) -> bytes:
    """A ``/lookup/`` answer: the record's id and text, then the signed tree that holds it.

    Raises:
        TlogError: ``malformed record data`` (x/mod ``tlog.FormatRecord``).
    """
    return format_record(id, text) + signed


def tile_in_tree(tile: Tile, n: int) -> bool:
    """Whether every hash (or record) of ``tile`` exists in the tree of ``n`` records.

    Only tiles of :data:`TILE_HEIGHT` are served, as the go command's database does.
    """
    if tile.H != TILE_HEIGHT:
        return False
    level = max(tile.L, 0)
    return n >> (level * tile.H) >= (tile.N << tile.H) + tile.W


def hash_tile(tile: Tile, n: int, read_hashes: HashReader) -> bytes:
    """The bytes of hash tile ``tile`` of the tree of ``n`` records (x/mod ``ReadTileData``).

    Raises:
        TlogError: the tile is a data tile or is not (yet) in the tree.
    """
    if tile.L < 0 or not tile_in_tree(tile, n):
        raise TlogError(f"tile {tile_path(tile)} is not in tree of size {n}")
    return read_tile_data(tile, read_hashes)


def data_tile(tile: Tile, n: int, read_records: RecordReader) -> bytes:
    """The bytes of data tile ``tile``: each record's text and a blank line, in order.

    The records laid out as :func:`~goproxy_core.sumdb.verify_tile` reads them, so a relay
    checks them against the hash tile of the same span.

    Raises:
        TlogError: the tile is a hash tile, not in the tree, or a record is missing.
    """
    if tile.L != -1 or not tile_in_tree(tile, n):
        raise TlogError(f"tile {tile_path(tile)} is not in tree of size {n}")
    records = read_records(tile.N << tile.H, tile.W)
    if len(records) != tile.W:
        raise TlogError(f"read {len(records)} records for {tile_path(tile)}, want {tile.W}")
    return b"".join(text + b"\n" for text in records)


def verifier_key(skey: str) -> str:
    """The verifier key (what clients put in ``GOSUMDB``) of a signer key.

    Raises:
        InvalidKeyError: ``skey`` is not a signer key (x/mod ``note.NewSigner``'s texts).
    """
    signer = new_signer(skey)
    raw = decode_base64(skey.split("+", 4)[4])  # PRIVATE+KEY+name+hash+base64
    if raw is None:  # new_signer has read it already
        raise InvalidKeyError("malformed verifier id")
    _, vkey = generate_key(signer.name, raw[1:])
    return vkey
