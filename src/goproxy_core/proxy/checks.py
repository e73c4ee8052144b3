"""The checks an upstream's answer passes before it is stored, and how large it may be.

Each answer is checked once, as it arrives, before anything of it is kept: a version list must
be UTF-8 text (cmd/go ``modfetch/proxy.go`` ``versions`` reads it as lines), a ``.mod`` must
parse (``modfile.ParseLax`` in ``modfetch``), a checksum-database tile must have its size, and a
zip must follow x/mod ``zip.CheckZip``. A zip is checked by :class:`~.effects.CheckZip`, an
effect: reading a file of unknown size is the caller's work, done off its event loop, while the
rule itself stays here.
"""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

from ..modfile.rule import ModFileError, legacy_go_mod, parse_gomod
from ..zip import check_zip
from .info import BadUpstreamError
from .versions import format_list, parse_list

if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "MAX_INFO",
    "MAX_LIST",
    "MAX_MOD",
    "MAX_NEGATIVE",
    "MAX_SUMDB",
    "MAX_ZIP",
    "check_mod",
    "check_upstream_zip",
    "normalise_list",
    "tile_ok",
]

MAX_LIST = 8 << 20
MAX_INFO = 1 << 20
MAX_MOD = 16 << 20
MAX_ZIP = 500 << 20
MAX_SUMDB = 4 << 20
MAX_NEGATIVE = 4096


def check_mod(body: bytes) -> None:
    """A ``.mod`` from an upstream must parse."""
    try:
        parse_gomod(body)
    except ModFileError as e:
        raise BadUpstreamError(f"go.mod does not parse: {e}") from None


def normalise_list(body: bytes) -> bytes:
    """A version list from an upstream: UTF-8 text, one version per line."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUpstreamError("version list is not UTF-8 text") from None
    return format_list(parse_list(body))


def tile_ok(path: str, body: bytes) -> bool:
    """A hash tile is W 32-byte hashes; a data tile is non-empty text."""
    if "/data/" in path:
        return bool(body)
    width = 1 << int(path.split("/")[1])
    if ".p/" in path:
        width = int(path.rsplit("/", 1)[1])
    return len(body) == 32 * width


def check_upstream_zip(module: str, version: str, f: BinaryIO, gomod: bytes | None) -> None:
    """A zip from an upstream: x/mod's rules, and its go.mod agreeing with the stored .mod.

    Reads ``f`` (seekable) through; CPU and I/O bound, so callers run it off their event loop.

    Raises:
        ProxyError: naming the rule the zip breaks.
    """
    check_zip(module, version, f)
    if gomod is None:
        return
    f.seek(0)
    name = f"{module}@{version}/go.mod"
    with zipfile.ZipFile(f) as z:
        try:
            with z.open(name) as gm:
                inner = gm.read(MAX_MOD + 1)
        except KeyError:
            inner = legacy_go_mod(module)
    if inner != gomod:
        raise BadUpstreamError(f"the zip's go.mod differs from {module}@{version}.mod")
