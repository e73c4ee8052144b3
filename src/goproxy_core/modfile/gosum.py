"""go.sum files as the go command reads them (cmd/go ``modfetch/fetch.go`` ``readGoSum``).

One reader for every caller that takes a go.sum (``goproxy warm``, ``POST /admin/warm``,
``goproxy export``): each line is ``module version[/go.mod] hash``; lines are split on
``\\n`` and fields on white space; a line with no fields is skipped, one without exactly three
is an error (the go command's ``malformed go.sum``); a line carrying the hash an old go
command wrote for an empty go.mod is dropped, as ``readGoSum`` drops it. A module path or
version the go command could never have fetched (module ``check``, or not canonical) is an
error naming the line too: it could only be a damaged file.
"""

from __future__ import annotations

import msgspec

from ..errors import ProxyError
from ..module.paths import check_canonical

__all__ = ["EMPTY_GOMOD_HASH", "GoSumError", "GoSumLine", "read_gosum"]

EMPTY_GOMOD_HASH = "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY="
"""The hash an old go command wrote for an empty go.mod; ``readGoSum`` drops such lines."""


class GoSumError(ProxyError):
    """A go.sum that cannot be read: ``malformed go.sum: <file>:<line>: <what is wrong>``."""


class GoSumLine(msgspec.Struct, frozen=True):
    """One line of a go.sum.

    Attributes:
        module: the module path.
        version: the canonical version (without ``/go.mod``).
        gomod: a ``<version>/go.mod`` line: the hash of the go.mod alone.
        hash: the ``h1:`` hash as written.
    """

    module: str
    version: str
    gomod: bool
    hash: str


def read_gosum(data: bytes | str, file: str = "go.sum") -> list[GoSumLine]:
    """The lines of a go.sum, in file order.

    Raises:
        GoSumError: naming the file and the line (or that the file is not UTF-8).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GoSumError(f"malformed go.sum: {file}: not UTF-8 ({e.reason})") from None
    out: list[GoSumLine] = []
    for n, line in enumerate(data.split("\n"), 1):
        f = line.split()
        if not f:
            continue
        where = f"malformed go.sum: {file}:{n}"
        if len(f) != 3:
            raise GoSumError(f"{where}: wrong number of fields {len(f)}")
        if f[2] == EMPTY_GOMOD_HASH:
            continue
        module, version = f[0], f[1]
        gomod = version.endswith("/go.mod")
        version = version.removesuffix("/go.mod")
        try:
            check_canonical(module, version)
        except ProxyError as e:
            raise GoSumError(f"{where}: {e}") from None
        out.append(GoSumLine(module, version, gomod, f[2]))
    return out
