"""Module zip files (golang.org/x/mod ``zip``): the rules, creating one, checking one.

:func:`check_files` and :func:`check_dir` sort a module's files into valid, omitted and
invalid (with Go's reasons); :func:`create_zip` writes the zip and returns its ``h1:``
hash; :func:`check_zip` checks a zip from anywhere against every rule and hashes it;
:func:`unzip_hash` is the hash the go command computes when it extracts one;
:class:`ZipFollower` reads a zip's entries as its bytes arrive, so that the check need not
read them again. Files are
:class:`SourceFile` values, zips are readable seekable streams; contents move in bounded
chunks. Errors are :class:`ZipError`, whose ``checked`` holds the full report.
"""

from __future__ import annotations

from .create import create_zip
from .read import check_zip, hash_zip_entries, unzip_hash
from .rules import (
    MAX_GO_MOD,
    MAX_LICENSE,
    MAX_ZIP_FILE,
    CheckedFiles,
    FileEntry,
    FileError,
    FileMode,
    SourceFile,
    ZipError,
    check_dir,
    check_files,
    is_vendored_package,
    str_to_fold,
)
from .stream import StreamedEntry, ZipFollower

__all__ = [
    "MAX_GO_MOD",
    "MAX_LICENSE",
    "MAX_ZIP_FILE",
    "CheckedFiles",
    "FileEntry",
    "FileError",
    "FileMode",
    "SourceFile",
    "StreamedEntry",
    "ZipError",
    "ZipFollower",
    "check_dir",
    "check_files",
    "check_zip",
    "create_zip",
    "hash_zip_entries",
    "is_vendored_package",
    "str_to_fold",
    "unzip_hash",
]
