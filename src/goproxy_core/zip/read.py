"""Reading module zips: checking one against the rules, and its ``h1:`` hash.

Ported from golang.org/x/mod ``zip/zip.go`` (``CheckZip``, ``Unzip``) and ``sumdb/dirhash``
(``HashZip``) on a reader that follows Go's ``archive/zip``: a zip is a readable, seekable
stream; every entry's data is inflated in bounded chunks, checked against its CRC-32 and its
declared size, and hashed, so a 500 MiB module never sits in memory.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from typing import TYPE_CHECKING, BinaryIO, Final

from ..strconv import go_quote
from ..sumdb.dirhash import CHUNK_SIZE, FileHasher
from .rules import (
    ERR_ALGORITHM,
    ERR_CHECKSUM,
    ERR_CONTENT_SIZE,
    ERR_FORMAT,
    ERR_GO_MOD_CASE,
    ERR_GO_MOD_NOT_ROOT,
    ERR_GO_MOD_SIZE,
    ERR_LICENSE_SIZE,
    ERR_PATH_NOT_CLEAN,
    MAX_GO_MOD,
    MAX_LICENSE,
    MAX_ZIP_FILE,
    CheckedFiles,
    FileError,
    ZipError,
    _check_module,
    _Collisions,
    _file_path_error,
    _go_clean,
    _is_go_mod_name,
    _raise_if_invalid,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from .stream import StreamedEntry

__all__ = ["check_zip", "entry_name", "hash_zip_entries", "unzip_hash"]

_LOCAL_HEADER: Final = struct.Struct("<4s5HL2L2H")
_LOCAL_MAGIC: Final = b"PK\x03\x04"


def _open_zip(f: BinaryIO) -> zipfile.ZipFile:
    """The central directory of the zip in ``f``, or a ZipError in archive/zip's words."""
    try:
        f.seek(0)
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, UnicodeDecodeError, NotImplementedError, ValueError) as err:
        raise ZipError(f"{ERR_FORMAT} ({err})") from None


def entry_name(info: zipfile.ZipInfo) -> str:
    """An entry's name as Go sees it: the raw bytes, undecodable ones as surrogateescape."""
    # zipfile decodes names without the UTF-8 flag as cp437 and cuts them at a NUL;
    # orig_filename is uncut and cp437 round-trips, so the raw bytes come back exactly.
    name = info.orig_filename
    if name.isascii():
        return name  # the same bytes in either encoding, and valid UTF-8 (most entries)
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    return name.encode(encoding).decode("utf-8", "surrogateescape")


def _read_entry(f: BinaryIO, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """Stream an entry's content in bounded chunks, checking its size and CRC.

    zipfile's own reader stops silently at the declared size; Go's fails when there is more,
    so the entry is inflated here.
    """
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ZipError(ERR_ALGORITHM)
    if info.header_offset < 0:
        # zipfile shifts offsets by the bytes it thinks precede the zip; garbage goes negative.
        raise ZipError(ERR_FORMAT)
    f.seek(info.header_offset)
    header = f.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_MAGIC:
        raise ZipError(ERR_FORMAT)
    fields = _LOCAL_HEADER.unpack(header)
    f.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
    inflater = (
        zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type == zipfile.ZIP_DEFLATED else None
    )
    left = info.compress_size
    size = 0
    crc = 0
    pending = b""
    while True:
        if inflater is not None and inflater.eof:
            # Bytes after the end of the deflate stream are not content, and not read: Go's
            # flate reader stops at the final block, so a compressed size that claims more
            # bytes than follow (even past the end of the zip) is no error to archive/zip.
            break
        if not pending and left > 0:
            pending = f.read(min(CHUNK_SIZE, left))
            if not pending:
                raise ZipError("unexpected EOF")
            left -= len(pending)
        if inflater is None:
            if not pending:
                break
            chunk, pending = pending, b""
        else:
            try:
                chunk = inflater.decompress(pending, CHUNK_SIZE)
            except zlib.error as err:
                raise ZipError(f"flate: corrupt input ({err})") from None
            pending = inflater.unconsumed_tail
            if not chunk and not pending and left <= 0:
                break
        size += len(chunk)
        if size > info.file_size:
            raise ZipError(
                f"uncompressed size of file {name} is larger than declared size "
                f"({info.file_size} bytes)"
            )
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if size != info.file_size or (inflater is not None and not inflater.eof):
        raise ZipError("unexpected EOF")
    if crc != info.CRC:
        raise ZipError(ERR_CHECKSUM)


def _digest_entry(f: BinaryIO, info: zipfile.ZipInfo, name: str) -> str:
    """The hex SHA-256 of an entry's content."""
    h = hashlib.sha256()
    for chunk in _read_entry(f, info, name):
        h.update(chunk)
    return h.hexdigest()


def _streamed_digest(info: zipfile.ZipInfo, streamed: Mapping[int, StreamedEntry]) -> str | None:
    """The digest a follower recorded for ``info``'s entry, if reading it again is the same.

    It is when the central directory puts the entry at the local header the follower read,
    with the same method, CRC-32 and size, and a compressed size that holds exactly the bytes
    the entry took (stored), or at least them (deflated: ``_read_entry`` stops at the
    stream's end and ignores what follows): then ``_read_entry`` would read the same bytes
    and succeed with the same content.
    """
    s = streamed.get(info.header_offset)
    if (
        s is None
        or s.method != info.compress_type
        or s.size != info.file_size
        or s.crc != info.CRC
        or s.consumed > info.compress_size
        or (s.method == zipfile.ZIP_STORED and s.consumed != info.compress_size)
    ):
        return None
    return s.digest


def _zip_hashes(
    f: BinaryIO, z: zipfile.ZipFile, prefix: str, streamed: Mapping[int, StreamedEntry]
) -> tuple[str, str]:
    """Read every entry once: the zip's HashZip h1, and the h1 of the tree it extracts to.

    An entry whose digest ``streamed`` already holds (see :func:`_streamed_digest`) is not
    read again.
    """
    names: list[str] = []
    digests: dict[str, str] = {}
    tree = FileHasher()
    for info in z.infolist():
        name = entry_name(info)
        digest = _streamed_digest(info, streamed) or _digest_entry(f, info, name)
        names.append(name)
        digests[name] = digest
        rel = name[len(prefix) :]
        if rel and not rel.endswith("/"):
            tree.add(name, digest)
    # HashZip lists each entry but hashes the content of the last entry of a name.
    zip_hasher = FileHasher()
    for name in names:
        zip_hasher.add(name, digests[name])
    return zip_hasher.sum(), tree.sum()


def hash_zip_entries(f: BinaryIO) -> str:
    """x/mod ``dirhash.HashZip`` over a readable seekable stream (see ``hash_zip``)."""
    with _open_zip(f) as z:
        names: list[str] = []
        last: dict[str, zipfile.ZipInfo] = {}
        for info in z.infolist():
            name = entry_name(info)
            names.append(name)
            last[name] = info
        digests = {name: _digest_entry(f, info, name) for name, info in last.items()}
    hasher = FileHasher()
    for name in names:
        hasher.add(name, digests[name])
    return hasher.sum()


def _stream_size(f: BinaryIO) -> int:
    """The length of a seekable stream."""
    return f.seek(0, 2)


def check_zip(
    path: str,
    version: str,
    f: BinaryIO,
    streamed: Mapping[int, StreamedEntry] | None = None,
) -> CheckedFiles:
    """Check a module zip for ``path@version`` (x/mod ``zip.CheckZip``, plus Unzip's reads).

    Names and declared sizes are checked first, as CheckZip does; then, as Unzip does, each
    entry is read in bounded chunks and must hold exactly its declared size and CRC. The two
    h1 hashes are computed on the way.

    Args:
        path: the module path.
        version: the canonical version.
        f: a readable, seekable stream holding the zip.
        streamed: entries a :class:`~goproxy_core.zip.stream.ZipFollower` read whole while
            the zip arrived, by local header offset; those the central directory matches are
            not read again (the result is the same either way).

    Returns:
        The report, with ``zip_hash`` and ``dir_hash`` set.

    Raises:
        InvalidPathError: the module path is not valid.
        InvalidVersionError: the version is not valid for the path.
        ZipError: the version is not canonical, the zip is too large or unreadable, or it
            breaks the rules (``checked`` then holds the report).
    """
    prefix = _check_module(path, version)
    zip_size = _stream_size(f)
    if zip_size > MAX_ZIP_FILE:
        cf = CheckedFiles(
            size_error=f"module zip file is too large ({zip_size} bytes; limit is "
            f"{MAX_ZIP_FILE} bytes)"
        )
        _raise_if_invalid(cf)
    with _open_zip(f) as z:
        cf = _check_zip_names(z, prefix)
        _raise_if_invalid(cf)
        cf.zip_hash, cf.dir_hash = _zip_hashes(f, z, prefix, streamed or {})
    return cf


def _check_zip_names(z: zipfile.ZipFile, prefix: str) -> CheckedFiles:
    """CheckZip's pass over entry names and declared sizes."""
    cf = CheckedFiles()
    collisions = _Collisions()
    total = 0
    for info in z.infolist():
        zname = entry_name(info)
        if not zname.startswith(prefix):
            cf.invalid.append(FileError(zname, f"path does not have prefix {go_quote(prefix)}"))
            continue
        name = zname[len(prefix) :]
        if not name:
            continue
        is_dir = name.endswith("/")
        if is_dir:
            name = name[:-1]
        if _go_clean(name) != name:
            reason: str | None = ERR_PATH_NOT_CLEAN
        else:
            reason = _file_path_error(name) or collisions.check(name, is_dir)
        if reason is None and not is_dir:
            base = name[name.rfind("/") + 1 :]
            if _is_go_mod_name(base):
                if base != name:
                    reason = ERR_GO_MOD_NOT_ROOT
                elif name != "go.mod":
                    reason = ERR_GO_MOD_CASE
        if reason is None and not is_dir:
            size = info.file_size
            if MAX_ZIP_FILE - total >= size:
                total += size
            elif cf.size_error is None:
                cf.size_error = ERR_CONTENT_SIZE
            if name == "go.mod" and size > MAX_GO_MOD:
                reason = ERR_GO_MOD_SIZE
            elif name == "LICENSE" and size > MAX_LICENSE:
                reason = ERR_LICENSE_SIZE
            else:
                cf.valid.append(zname)
        if reason is not None:
            cf.invalid.append(FileError(zname, reason))
    return cf


def unzip_hash(path: str, version: str, f: BinaryIO) -> str:
    """What Unzip then ``HashDir(dir, "path@version")`` gives, without writing any file.

    Args:
        path: the module path.
        version: the canonical version.
        f: a readable, seekable stream holding the zip.

    Returns:
        The h1 of the files the zip extracts to.

    Raises:
        InvalidPathError, InvalidVersionError, ZipError: as :func:`check_zip`.
    """
    dir_hash = check_zip(path, version, f).dir_hash
    assert dir_hash is not None
    return dir_hash
