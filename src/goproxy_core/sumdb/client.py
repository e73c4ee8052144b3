"""Checking what a checksum database sends, without I/O (after x/mod ``sumdb/client.go``).

For a proxy that relays a checksum database and wants to refuse bad upstream bytes before
caching them: open a ``latest`` note (:func:`open_tree_note`), check one tree against a later
one (:func:`check_tree_consistency`), verify a ``/lookup/`` body (:func:`verify_lookup`), check
a hash or data tile against a signed tree (:func:`verify_tile`). The caller fetches tiles; a
check that lacks one answers :class:`NeedTiles` instead of fetching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .note import Verifier, Verifiers, open_note
from .tile import Tile, _tile_for_index, _tile_hash, hash_from_tile, tile_path
from .tlog import (
    HASH_SIZE,
    HashReader,
    TlogError,
    _sub_tree_index,
    node_hash,
    record_hash,
    stored_hash_index,
    tree_hash,
)
from .treenote import Tree, _is_valid_record_text, parse_record, parse_tree

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "LookupResult",
    "NeedTiles",
    "check_tree_consistency",
    "open_tree_note",
    "read_hashes_from_tiles",
    "verify_lookup",
    "verify_tile",
]

# Theory of operation (after x/mod's tileHashReader). To trust a stored hash of a signed tree,
# read the tile holding it and every ancestor tile up to one that holds a hash of the tree's
# own decomposition into complete subtrees ("stx"). The stx hashes must fold into the signed
# root; every other tile must hash to the entry its parent holds for it. A tile is then trusted
# in full, not only the entries asked for. Here the caller hands tile bytes in; when one is
# missing the answer is NeedTiles naming all the missing ones, and the caller fetches and retries.


@dataclass(frozen=True, slots=True)
class NeedTiles:
    """A check needs these tiles: fetch them (``tile.path()`` under the DB URL), then retry.

    A partial tile may be answered with the full tile's bytes; they are truncated as the go
    command does.
    """

    tiles: tuple[Tile, ...]


class _MissingTiles(Exception):
    """Raised inside a HashReader when tiles are missing; turned into NeedTiles."""

    def __init__(self, tiles: tuple[Tile, ...]) -> None:
        super().__init__(tiles)
        self.tiles = tiles


def _tile_parent(t: Tile, k: int, n: int) -> Tile | None:
    """The ``k``-th ancestor of ``t`` at its width in a tree of ``n`` records; None if empty."""
    level = t.L + k
    num = t.N >> (k * t.H)
    w = 1 << t.H
    mx = n >> (level * t.H)
    if (num << t.H) + w >= mx:
        if num << t.H >= mx:
            return None
        w = mx - (num << t.H)
    return Tile(t.H, level, num, w)


def _tile_data(tiles: Mapping[Tile, bytes], t: Tile) -> bytes | None:
    """The bytes of ``t`` from ``tiles``; a full tile stands in for a partial one."""
    data = tiles.get(t)
    if data is None:
        full_w = 1 << t.H
        if full_w != t.W:
            full = tiles.get(Tile(t.H, t.L, t.N, full_w))
            if full is not None:
                data = full[: len(full) // full_w * t.W]
    return data


def _read_tile_hashes(
    tree: Tree, height: int, indexes: Sequence[int], tiles: Mapping[Tile, bytes]
) -> list[bytes]:
    """The hashes ``indexes`` of ``tree``, checked through ``tiles``; may raise _MissingTiles."""
    order: dict[Tile, int] = {}
    need: list[Tile] = []

    stx = _sub_tree_index(0, tree.N, [])
    stx_order: list[int] = []
    for x in stx:
        tile = _tile_parent(_tile_for_index(height, x)[0], 0, tree.N)
        assert tile is not None  # an stx hash lies inside the tree
        if tile not in order:
            order[tile] = len(need)
            need.append(tile)
        stx_order.append(order[tile])
    # Several stx hashes can share a tile, so count tiles, not stx hashes: x/mod's loop below
    # starts at len(stx), which leaves some non-stx tiles unchecked when they share.
    num_stx_tiles = len(need)

    limit = stored_hash_index(0, tree.N)
    index_order: list[int] = []
    for x in indexes:
        if x >= limit:
            raise TlogError("indexes not in tree")
        tile = _tile_for_index(height, x)[0]
        # Climb to the first ancestor already needed, then add the chain below it.
        k = 0
        while (p := _tile_parent(tile, k, tree.N)) is None or p not in order:
            k += 1
        if k == 0:
            index_order.append(order[p])
        for kk in range(k - 1, -1, -1):
            p = _tile_parent(tile, kk, tree.N)
            assert p is not None  # below a known tile, tiles are full
            assert p.W == 1 << p.H
            order[p] = len(need)
            if kk == 0:
                index_order.append(len(need))
            need.append(p)

    data: list[bytes] = []
    missing: list[Tile] = []
    for t in need:
        d = _tile_data(tiles, t)
        if d is None:
            missing.append(t)
        else:
            data.append(d)
    if missing:
        raise _MissingTiles(tuple(missing))
    for t, d in zip(need, data, strict=True):
        if len(d) != t.W * HASH_SIZE:
            raise TlogError(
                f"TileReader returned bad result slice ({tile_path(t)} len={len(d)}, "
                f"want {t.W * HASH_SIZE})"
            )

    j = stx_order[-1]
    th = hash_from_tile(need[j], data[j], stx[-1])
    for i in range(len(stx) - 2, -1, -1):
        j = stx_order[i]
        th = node_hash(hash_from_tile(need[j], data[j], stx[i]), th)
    if th != tree.hash:
        raise TlogError("downloaded inconsistent tile")

    for i in range(num_stx_tiles, len(need)):
        t = need[i]
        p = _tile_parent(t, 1, tree.N)
        assert p is not None
        j = order[p]
        if hash_from_tile(p, data[j], stored_hash_index(p.L * p.H, t.N)) != _tile_hash(data[i]):
            raise TlogError("downloaded inconsistent tile")

    return [hash_from_tile(need[j], data[j], x) for j, x in zip(index_order, indexes, strict=True)]


def read_hashes_from_tiles(
    tree: Tree, height: int, indexes: Sequence[int], tiles: Mapping[Tile, bytes]
) -> list[bytes] | NeedTiles:
    """Read stored hashes of a signed tree from tiles, checking each tile against the tree.

    The I/O-free form of x/mod's ``TileHashReader(tree, r).ReadHashes(indexes)``.

    Args:
        tree: a tree head the caller trusts (from a verified note).
        height: the tile height the database uses (8 for the go command).
        indexes: stored-hash indexes, each below ``stored_hash_index(0, tree.N)``.
        tiles: tile bytes fetched so far, by tile.

    Returns:
        The hashes, in the order of ``indexes``; or :class:`NeedTiles` naming what to fetch.

    Raises:
        TlogError: an index is outside the tree, or a tile does not match the tree
            (``downloaded inconsistent tile``).
    """
    try:
        return _read_tile_hashes(tree, height, indexes, tiles)
    except _MissingTiles as e:
        return NeedTiles(e.tiles)


def _tile_reader(tree: Tree, height: int, tiles: Mapping[Tile, bytes]) -> HashReader:
    """A HashReader over ``tiles`` of ``tree`` that raises _MissingTiles."""

    def read(indexes: list[int]) -> list[bytes]:
        return _read_tile_hashes(tree, height, indexes, tiles)

    return read


def open_tree_note(msg: bytes, verifiers: Verifiers | Iterable[Verifier]) -> Tree:
    """Verify a signed tree note (the ``/latest`` body) and parse its tree head.

    Args:
        msg: the signed note.
        verifiers: the checksum database's key(s), e.g. ``[new_verifier(vkey)]``.

    Returns:
        The signed :class:`Tree`.

    Raises:
        NoteError: the note is malformed or not signed by a known key.
        TlogError: the signed text is not a tree head.
    """
    note = open_note(msg, verifiers)
    return parse_tree(note.text.encode("utf-8"))


def check_tree_consistency(
    older: Tree, newer: Tree, tiles: Mapping[Tile, bytes], *, height: int = 8
) -> NeedTiles | None:
    """Check that ``older`` is a prefix of ``newer``, via ``newer``'s tiles (x/mod ``checkTrees``).

    A relay that remembers the newest tree it has seen calls this on every new one, as the
    go command does; a fork means the database misbehaved.

    Returns:
        None if consistent, or :class:`NeedTiles`.

    Raises:
        TlogError: the trees are inconsistent, or a tile does not match ``newer``.
    """
    if older.N > newer.N:
        raise TlogError(f"tlog: tree of size {older.N} is newer than tree of size {newer.N}")
    try:
        h = tree_hash(older.N, _tile_reader(newer, height, tiles))
    except _MissingTiles as e:
        return NeedTiles(e.tiles)
    if h != older.hash:
        raise TlogError(
            f"go.sum database server misbehavior detected: tree #{older.N} is not a prefix "
            f"of tree #{newer.N}"
        )
    return None


@dataclass(frozen=True, slots=True)
class LookupResult:
    """A verified ``/lookup/`` response.

    Attributes:
        id: the record number in the log.
        text: the record: go.sum lines, each ending in ``\\n``.
        tree: the signed tree the response carried.
        tree_note: that tree's signed note, as sent.
    """

    id: int
    text: bytes
    tree: Tree
    tree_note: bytes

    def lines(self, path: str, version: str) -> list[str]:
        """The go.sum lines for ``path`` at ``version`` (or ``version/go.mod``), as go reads."""
        prefix = f"{path} {version} "
        return [ln for ln in self.text.decode("utf-8").split("\n") if ln.startswith(prefix)]


def verify_lookup(
    body: bytes,
    verifiers: Verifiers | Iterable[Verifier],
    tiles: Mapping[Tile, bytes],
    *,
    height: int = 8,
    latest: Tree | None = None,
) -> LookupResult | NeedTiles:
    """Verify a ``/lookup/`` body: its signed tree, and the record's place in that tree.

    Follows x/mod ``Client.Lookup``: parse the record, open the tree note, check that the
    record hash is the leaf at ``id`` of the tree (through hash tiles), and if ``latest`` is
    given, that the two trees are consistent; the record is checked in the larger one.

    Args:
        body: the response body: ``id\\n`` + record text + ``\\n`` + signed tree note.
        verifiers: the checksum database's key(s).
        tiles: hash tiles fetched so far.
        height: the tile height (8 for the go command).
        latest: the newest tree the caller already trusts, if any.

    Returns:
        The :class:`LookupResult`, or :class:`NeedTiles` to fetch before calling again.

    Raises:
        NoteError: the tree note does not verify.
        TlogError: the record is malformed, outside the tree or does not match it, or the
            trees are inconsistent.
    """
    id, text, note_msg = parse_record(body)
    tree = open_tree_note(note_msg, verifiers)
    against = tree
    if latest is not None:
        older, against = (tree, latest) if tree.N <= latest.N else (latest, tree)
        need = check_tree_consistency(older, against, tiles, height=height)
        if need is not None:
            return need
    if id < 0 or id >= against.N:
        raise TlogError(f"cannot validate record {id} in tree of size {against.N}")
    got = read_hashes_from_tiles(against, height, [stored_hash_index(0, id)], tiles)
    if isinstance(got, NeedTiles):
        return got
    if got[0] != record_hash(text):
        raise TlogError("cannot authenticate record data in server response")
    return LookupResult(id, text, tree, note_msg)


def _data_tile_hashes(t: Tile, data: bytes) -> bytes:
    """The level-0 hash tile matching data tile ``t``: each record is its text plus ``\\n``."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n\n", pos)
        if end < 0 or not _is_valid_record_text(data[pos : end + 1]):
            raise TlogError(f"malformed data tile {tile_path(t)}")
        out.append(record_hash(data[pos : end + 1]))
        pos = end + 2
    if len(out) != t.W:
        raise TlogError(f"data tile {tile_path(t)} holds {len(out)} records, want {t.W}")
    return b"".join(out)


def verify_tile(
    tile: Tile, data: bytes, tree: Tree, tiles: Mapping[Tile, bytes] | None = None
) -> NeedTiles | None:
    """Check that a hash tile or data tile agrees with a signed tree.

    A relay calls this before caching tile bytes from upstream. A data tile is checked
    through the record hashes it implies. A tile as wide as the tree allows is checked
    directly (with its ancestors when it is not at the tree's right edge); a narrower
    partial tile, from an older tree, must be a prefix of the current one.

    Args:
        tile: which tile ``data`` claims to be (``parse_tile_path`` of the request).
        data: the bytes to check.
        tree: a trusted tree head, e.g. from :func:`open_tree_note` of ``latest``.
        tiles: other hash tiles already fetched (ancestors, or the wider tile).

    Returns:
        None if ``data`` is right, or :class:`NeedTiles` to fetch before calling again.

    Raises:
        TlogError: the tile is malformed, not in ``tree``, or does not match it.
    """
    if tile.L == -1:
        tile, data = Tile(tile.H, 0, tile.N, tile.W), _data_tile_hashes(tile, data)
    if len(data) != tile.W * HASH_SIZE:
        raise TlogError(f"tile {tile_path(tile)} has {len(data)} bytes, want {tile.W * HASH_SIZE}")
    edge = _tile_parent(tile, 0, tree.N)
    if edge is None or tile.W > edge.W:
        raise TlogError(f"tile {tile_path(tile)} is not in tree of size {tree.N}")
    known = dict(tiles or {})
    if tile.W == edge.W:
        known[edge] = data
    # Reading one hash of the tile makes the reader check the whole tile against the tree.
    got = read_hashes_from_tiles(
        tree, tile.H, [stored_hash_index(tile.L * tile.H, tile.N << tile.H)], known
    )
    if isinstance(got, NeedTiles):
        return got
    if tile.W < edge.W:
        wide = _tile_data(known, edge)
        assert wide is not None  # the read above needed it
        if wide[: len(data)] != data:
            raise TlogError("downloaded inconsistent tile")
    return None
