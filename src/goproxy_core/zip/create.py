"""Creating a module zip from a list of files (x/mod ``zip/zip.go`` ``Create``, ``CreateFromDir``).

The files are checked first (:func:`~.rules.check_files` or, for a directory walk,
:func:`~.rules.check_dir`); the omitted ones are left out, any invalid one fails the whole
zip. Entries are written in order under ``<module>@<version>/`` with one fixed timestamp, so
equal files give byte-equal zips, and the zip's ``h1:`` hash is computed while writing.
Contents move in bounded chunks and no file may turn out larger than it was declared.
"""

from __future__ import annotations

import hashlib
import zipfile
from typing import TYPE_CHECKING, BinaryIO, Final

from ..strconv import go_quote
from ..sumdb.dirhash import CHUNK_SIZE, FileHasher
from .rules import (
    SourceFile,
    ZipError,
    _check_files,
    _check_module,
    _list_files_in_dir,
    _raise_if_invalid,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["create_zip"]

# Every entry gets the same timestamp so equal files give byte-equal zips.
_ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


def create_zip(
    path: str,
    version: str,
    files: Iterable[SourceFile],
    out: BinaryIO,
    *,
    from_dir: bool = False,
) -> str:
    """Write the module zip for ``path@version`` to ``out`` (x/mod ``zip.Create``).

    Files that do not belong are left out (nested modules, vendored packages,
    ``.hg_archival.txt``, symlinks and irregular files); invalid ones are an error. Files are
    written in the order given, without directory entries, each read in bounded chunks and
    hashed as it is written.

    Args:
        path: the module path.
        version: the canonical version.
        files: the module's files, names relative to the module root.
        out: a writable stream; seekable or not. On error it holds a partial zip to discard.
        from_dir: the files come from walking a directory (x/mod ``CreateFromDir``):
            ``.git``, ``.hg``, ``.svn`` and ``.bzr`` directories and directories holding a
            ``go.mod`` are skipped whole.

    Returns:
        The h1 hash of the zip written (what go.sum records for it).

    Raises:
        InvalidPathError: the module path is not valid.
        InvalidVersionError: the version is not valid for the path.
        ZipError: the version is not canonical, the files break the rules (``checked`` holds
            the report), or a file is larger than declared.
    """
    prefix = _check_module(path, version)
    listed = _list_files_in_dir(files)[0] if from_dir else list(files)
    cf, valid = _check_files(listed)
    _raise_if_invalid(cf, "create zip: ")

    hasher = FileHasher()
    zw = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
    try:
        for f in valid:
            hasher.add(prefix + f.name, _write_entry(zw, prefix, f))
    except BaseException:
        # Drop the writer without its central directory: ZipFile.__del__ would otherwise
        # write one into ``out`` later, after the caller has given up on it.
        zw.fp = None
        raise
    zw.close()
    return hasher.sum()


def _write_entry(zw: zipfile.ZipFile, prefix: str, f: SourceFile) -> str:
    """Copy one file into the zip in bounded chunks; the hex SHA-256 of what was written."""
    if f.open is None:
        raise ZipError(f"create zip: no content for file {go_quote(f.name)}")
    info = zipfile.ZipInfo(prefix + f.name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    info.file_size = f.size
    digest = hashlib.sha256()
    written = 0
    with f.open() as src, zw.open(info, "w") as dst:
        # Read at most one byte past the declared size: enough to see it lied.
        while chunk := src.read(min(CHUNK_SIZE, f.size + 1 - written)):
            written += len(chunk)
            if written > f.size:
                raise ZipError(f"create zip: file {go_quote(f.name)} is larger than declared size")
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()
