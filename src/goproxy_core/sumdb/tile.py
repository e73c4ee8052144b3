"""Tiles of the checksum database's log: paths and hashes (x/mod ``sumdb/tlog/tile.go``).

A tile is a fixed-height slab of stored hashes (PROTOCOL.md §16): ``tile/H/L/NNN[.p/W]``
names level ``L`` tile ``N`` of height ``H``, ``W`` hashes wide when partial; ``tile/H/data/...``
holds the records under a level-0 tile. Error texts are Go's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .tlog import (
    _INT64_MAX,
    HASH_SIZE,
    HashReader,
    MalformedTilePathError,
    TlogError,
    _read,
    node_hash,
    split_stored_hash_index,
    stored_hash_index,
)

__all__ = [
    "Tile",
    "hash_from_tile",
    "new_tiles",
    "parse_tile_path",
    "read_tile_data",
    "tile_for_index",
    "tile_path",
]

_PATH_BASE = 1000
_ATOI_RE = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True)
class Tile:
    """A tile of the stored hashes (x/mod ``tlog.Tile``).

    Attributes:
        H: the tile height (1..30); each tile spans ``2**H`` hashes of its level.
        L: the tiling level (``-1`` for a data tile holding the records themselves).
        N: the tile number within its level.
        W: the width, ``1..2**H``; less than ``2**H`` is a partial tile.
    """

    H: int
    L: int
    N: int
    W: int

    def path(self) -> str:
        """The tile's URL path, e.g. ``tile/8/0/x001/234.p/5`` (see :func:`tile_path`)."""
        return tile_path(self)


def tile_path(t: Tile) -> str:
    """The path of a tile: ``tile/H/L/NNN[.p/W]`` with N in 3-digit groups (x/mod ``Tile.Path``).

    All groups but the last carry an ``x`` prefix (``x001/x234/067``) so that no directory
    holds more than a thousand entries; ``L`` is ``data`` for data tiles.
    """
    n = t.N
    s = f"{n % _PATH_BASE:03d}"
    while n >= _PATH_BASE:
        n //= _PATH_BASE
        s = f"x{n % _PATH_BASE:03d}/{s}"
    p = "" if t.W == 1 << t.H else f".p/{t.W}"
    level = "data" if t.L == -1 else str(t.L)
    return f"tile/{t.H}/{level}/{s}{p}"


def _atoi(s: str) -> int | None:
    """Go's ``strconv.Atoi`` on a 64-bit platform; None on error."""
    if not _ATOI_RE.fullmatch(s):
        return None
    v = int(s)
    return v if -_INT64_MAX - 1 <= v <= _INT64_MAX else None


def parse_tile_path(path: str) -> Tile:
    """Parse a tile path; only the canonical form is accepted (x/mod ``ParseTilePath``).

    Raises:
        MalformedTilePathError: ``malformed tile path "…"``.
    """
    f = path.split("/")
    if len(f) < 4 or f[0] != "tile":
        raise MalformedTilePathError(path)
    h = _atoi(f[1])
    is_data = f[2] == "data"
    level = 0 if is_data else _atoi(f[2])
    if h is None or level is None or h < 1 or level < 0 or h > 30:
        raise MalformedTilePathError(path)
    w = 1 << h
    if f[-2].endswith(".p"):
        ww = _atoi(f[-1])
        if ww is None or ww <= 0 or ww >= w:
            raise MalformedTilePathError(path)
        w = ww
        f[-2] = f[-2][: -len(".p")]
        f.pop()
    n = 0
    for s in f[3:]:
        nn = _atoi(s.removeprefix("x"))
        if nn is None or nn < 0 or nn >= _PATH_BASE:
            raise MalformedTilePathError(path)
        n = n * _PATH_BASE + nn
    t = Tile(h, -1 if is_data else level, n, w)
    # Only the canonical spelling names a tile: it keeps cache keys unique.
    if tile_path(t) != path:
        raise MalformedTilePathError(path)
    return t


def _tile_for_index(h: int, index: int) -> tuple[Tile, int, int]:
    """The smallest tile of height ``h`` holding stored hash ``index``, and its byte span."""
    level, n = split_stored_hash_index(index)
    tl = level // h
    level -= tl * h  # level within the tile
    tn = n << level >> h
    n -= tn << h >> level  # n within the tile, at that level
    w = (n + 1) << level
    return Tile(h, tl, tn, w), (n << level) * HASH_SIZE, ((n + 1) << level) * HASH_SIZE


def tile_for_index(h: int, index: int) -> Tile:
    """The smallest tile of height ``h`` holding stored hash ``index`` (x/mod ``TileForIndex``)."""
    if h <= 0:
        raise ValueError(f"TileForIndex: invalid height {h}")
    return _tile_for_index(h, index)[0]


_MEMO_FROM = 16 * HASH_SIZE
"""Runs this long or longer are remembered by content (:func:`_remembered_root`)."""


def _tile_hash(data: bytes) -> bytes:
    """The Merkle root of a power-of-two run of hashes laid end to end."""
    if len(data) == HASH_SIZE:
        return data
    if len(data) >= _MEMO_FROM and type(data) is bytes:
        return _remembered_root(data)
    return _root(data)


def _root(data: bytes) -> bytes:
    half = len(data) // 2
    return node_hash(_tile_hash(data[:half]), _tile_hash(data[half:]))


@lru_cache(maxsize=512)
def _remembered_root(data: bytes) -> bytes:
    """:func:`_root`, remembered by the run's bytes (at most 512 runs, 4 MiB of keys).

    Every proof a lookup, a tile or a tree check needs recomputes the roots of the same
    upper-level and right-edge tiles (a full tile's root is 255 SHA-256 calls, about 0.6 ms
    of Python); on a real module graph, a cold fill through the proxy spent about a tenth of
    its CPU there. The key is the run itself, so a remembered root is the root of exactly
    these bytes: nothing is trusted that was not computed from them.
    """
    return _root(data)


def hash_from_tile(t: Tile, data: bytes, index: int) -> bytes:
    """The stored hash ``index``, computed from tile ``t``'s ``data`` (x/mod ``HashFromTile``).

    Raises:
        TlogError: the tile is invalid, its data too short, or ``index`` is not in it.
    """
    if t.H < 1 or t.H > 30 or t.L < 0 or t.L >= 64 or t.W < 1 or t.W > 1 << t.H:
        raise TlogError(f"invalid tile {tile_path(t)}")
    if len(data) < t.W * HASH_SIZE:
        raise TlogError(f"data len {len(data)} too short for tile {tile_path(t)}")
    t1, start, end = _tile_for_index(t.H, index)
    if t.L != t1.L or t.N != t1.N or t.W < t1.W:
        raise TlogError(f"index {index} is in {tile_path(t1)} not {tile_path(t)}")
    return _tile_hash(data[start:end])


def new_tiles(h: int, old_tree_size: int, new_tree_size: int) -> list[Tile]:
    """The tiles that change when the log grows between the sizes (x/mod ``NewTiles``)."""
    if h <= 0:
        raise ValueError(f"NewTiles: invalid height {h}")
    tiles: list[Tile] = []
    level = 0
    while new_tree_size >> (h * level) > 0:
        old_n = old_tree_size >> (h * level)
        new_n = new_tree_size >> (h * level)
        if old_n != new_n:
            tiles.extend(Tile(h, level, n, 1 << h) for n in range(old_n >> h, new_n >> h))
            n = new_n >> h
            w = new_n - (n << h)
            if w > 0:
                tiles.append(Tile(h, level, n, w))
        level += 1
    return tiles


def read_tile_data(t: Tile, read_hashes: HashReader) -> bytes:
    """The bytes of hash tile ``t``, from stored hashes (x/mod ``ReadTileData``)."""
    size = t.W or 1 << t.H
    start = t.N << t.H
    indexes = [stored_hash_index(t.H * t.L, start + i) for i in range(size)]
    return b"".join(_read(read_hashes, indexes))
