"""The checks an upstream's answer passes before it is stored, and how large it may be.

Only what the go command itself refuses is refused. A version list and a ``.mod`` are kept as
the upstream sent them, unparsed: cmd/go ``modfetch/proxy.go`` ``Versions`` reads the list's
lines itself and skips what it cannot use, and ``GoMod`` returns the ``.mod``'s bytes, which
only ``checkGoMod`` hashes (``.info`` answers are checked in :mod:`.info`). A checksum-database
tile must have its size, and a zip must follow x/mod ``zip.CheckZip``. A zip is checked by
:class:`~.effects.CheckZip`, an effect: reading a file of unknown size is the caller's work,
done off its event loop, while the rule itself stays here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..zip import check_zip

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO

    from ..zip import CheckedFiles
    from ..zip.stream import StreamedEntry

__all__ = [
    "MAX_INFO",
    "MAX_LIST",
    "MAX_MOD",
    "MAX_NEGATIVE",
    "MAX_SUMDB",
    "MAX_ZIP",
    "check_upstream_zip",
    "tile_ok",
]

MAX_LIST = 8 << 20
MAX_INFO = 1 << 20
MAX_MOD = 16 << 20
MAX_ZIP = 500 << 20
MAX_SUMDB = 4 << 20
MAX_NEGATIVE = 4096


def tile_ok(path: str, body: bytes) -> bool:
    """A hash tile is W 32-byte hashes; a data tile is non-empty text."""
    if "/data/" in path:
        return bool(body)
    width = 1 << int(path.split("/")[1])
    if ".p/" in path:
        width = int(path.rsplit("/", 1)[1])
    return len(body) == 32 * width


def check_upstream_zip(
    module: str,
    version: str,
    f: BinaryIO,
    streamed: Mapping[int, StreamedEntry] | None = None,
) -> CheckedFiles:
    """A zip from an upstream: x/mod ``zip.CheckZip``'s file rules, nothing more.

    The go command compares the zip with nothing else: cmd/go ``modfetch/fetch.go``
    ``downloadZip`` hashes it and checks the sum, and x/mod ``zip.Unzip`` checks the file
    rules; the zip's go.mod is never compared with the ``.mod`` (the go command's own test
    proxy serves zips whose go.mod differs or is missing).

    Reads ``f`` (seekable) through, but for the entries ``streamed`` already holds (see
    :func:`goproxy_core.zip.check_zip`); CPU and I/O bound, so callers run it off their event
    loop.

    Returns:
        The report, whose ``zip_hash`` is the zip's ``h1:`` (``dirhash.HashZip``), computed
        in the same pass.

    Raises:
        ProxyError: naming the rule the zip breaks.
    """
    return check_zip(module, version, f, streamed)
