"""The ``h1:`` directory hash recorded in go.sum and the checksum database.

Owns PROTOCOL.md §15: Hash1 over a list of files (one ``<hex sha256>  <name>`` line per file,
names in raw byte order, then SHA-256 of those lines in base64), the hash of a module zip
(every entry, directory entries included, named with the ``<module>@<version>/`` prefix) and
the hash of a ``.mod`` file (a single file named ``go.mod``).

Ported from golang.org/x/mod ``sumdb/dirhash/hash.go`` (``Hash1``, ``HashZip``). The core never
opens files: callers hand in names with digests, bytes, or readable streams, and contents are
hashed in bounded chunks so memory stays flat whatever the size of a file.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, BinaryIO, Final

from ..errors import ProxyError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "CHUNK_SIZE",
    "EMPTY_HASH",
    "DirHashError",
    "FileHasher",
    "hash1",
    "hash1_contents",
    "hash_gomod",
    "hash_zip",
    "sha256_stream",
]

CHUNK_SIZE: Final = 1 << 18
"""How many bytes are read at a time when hashing a stream."""

EMPTY_HASH: Final = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
"""The h1 of no files at all (an empty module zip)."""


class DirHashError(ProxyError):
    """A file list cannot be hashed: a name holds a newline (x/mod ``dirhash.Hash1``)."""


def _name_bytes(name: str) -> bytes:
    """The raw bytes of a name; undecodable bytes ride as surrogateescape code points."""
    return name.encode("utf-8", "surrogateescape")


class FileHasher:
    """Collects ``(name, digest)`` pairs and produces their h1, for hashing while writing.

    A zip builder feeds each file as it writes it, then asks for :meth:`sum`; only the names
    and 32-byte digests are kept, never the contents.
    """

    __slots__ = ("_files",)

    def __init__(self) -> None:
        self._files: list[tuple[bytes, str]] = []

    def add(self, name: str, hexdigest: str) -> None:
        """Record a file by the lowercase hex SHA-256 of its content.

        Raises:
            DirHashError: the name contains a newline, which the summary cannot carry.
        """
        if "\n" in name:
            raise DirHashError("dirhash: filenames with newlines are not supported")
        self._files.append((_name_bytes(name), hexdigest))

    def add_bytes(self, name: str, data: bytes) -> None:
        """Record a file whose whole content is at hand."""
        self.add(name, hashlib.sha256(data).hexdigest())

    def add_stream(self, name: str, f: BinaryIO) -> int:
        """Record a file read from ``f`` to its end in bounded chunks; returns its size."""
        hexdigest, size = sha256_stream(f)
        self.add(name, hexdigest)
        return size

    def sum(self) -> str:
        """The ``h1:`` hash of every file recorded so far."""
        # Go sorts the names with slices.Sort: raw byte order, which is not code point order
        # once undecodable bytes (U+DC80..U+DCFF) are involved.
        summary = hashlib.sha256()
        for name, hexdigest in sorted(self._files):
            summary.update(hexdigest.encode("ascii") + b"  " + name + b"\n")
        return "h1:" + base64.b64encode(summary.digest()).decode("ascii")


def sha256_stream(f: BinaryIO) -> tuple[str, int]:
    """The hex SHA-256 and the length of everything left in ``f``, read in bounded chunks."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK_SIZE):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def hash1(files: Iterable[tuple[str, str]]) -> str:
    """Hash1 over files given as ``(name, hex sha256 of content)`` (x/mod ``dirhash.Hash1``).

    Args:
        files: the files; order does not matter.

    Returns:
        ``"h1:"`` and the base64 SHA-256 of the summary lines.

    Raises:
        DirHashError: a name contains a newline.
    """
    hasher = FileHasher()
    for name, hexdigest in files:
        hasher.add(name, hexdigest)
    return hasher.sum()


def hash1_contents(files: Iterable[tuple[str, bytes]]) -> str:
    """Hash1 over files given as ``(name, content)``; for small in-memory file sets.

    Raises:
        DirHashError: a name contains a newline.
    """
    hasher = FileHasher()
    for name, data in files:
        hasher.add_bytes(name, data)
    return hasher.sum()


def hash_gomod(data: bytes) -> str:
    """The go.sum hash of a ``.mod`` file: Hash1 of one file named ``go.mod``.

    Args:
        data: the exact bytes served as ``@v/<version>.mod``.

    Returns:
        The ``h1:`` hash that follows ``<path> <version>/go.mod`` in go.sum.
    """
    return hash1([("go.mod", hashlib.sha256(data).hexdigest())])


def hash_zip(f: BinaryIO) -> str:
    """The go.sum hash of a module zip (x/mod ``dirhash.HashZip``).

    Every entry counts, directory entries included, under its full name. When a name occurs
    twice, Go hashes the content of the last such entry for each occurrence; so does this.

    Args:
        f: a readable, seekable stream holding the zip; read in bounded chunks.

    Returns:
        The ``h1:`` hash that follows ``<path> <version>`` in go.sum.

    Raises:
        ZipError: the stream is not a zip that can be read.
        DirHashError: an entry name contains a newline.
    """
    # Imported here: the zip reader lives with the zip rules, which hash with this module.
    from ..zip.read import hash_zip_entries

    return hash_zip_entries(f)
