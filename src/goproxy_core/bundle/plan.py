"""What an export takes: the versions (from go.sum files) and the tiles that prove them.

Which tiles: the go command proves a record by reading, through hash tiles, the record's leaf
hash in its latest signed tree (x/mod ``sumdb/client.go`` ``checkRecord`` with
``tileHashReader``, the tiles ``tlog.ProveRecord`` touches), and a tree it saw before as a
prefix of a newer one (``checkTrees``: ``tlog.TreeHash`` of the older size read from the
newer tree's tiles). :func:`proof_tiles` asks for exactly those tiles, through the same
reader that checks them against the signed tree, so the tiles it settles on are the ones an
importer (and later every go command reading the imported tree) needs, and they are proven.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..modfile.gosum import GoSumError, read_gosum
from ..sumdb.client import NeedTiles, check_tree_consistency, read_hashes_from_tiles
from ..sumdb.tlog import TlogError, record_hash, stored_hash_index
from .manifest import BundleError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..sumdb.tile import Tile
    from ..sumdb.treenote import Tree

__all__ = ["TILE_HEIGHT", "parse_gosum", "proof_tiles"]

TILE_HEIGHT = 8
"""The tile height of the go command's checksum databases (x/mod ``sumdb`` ``tileHeight``)."""


def parse_gosum(text: str, name: str = "go.sum") -> dict[tuple[str, str], str | None]:
    """The versions a go.sum lists, read by :func:`goproxy_core.modfile.gosum.read_gosum`
    (cmd/go ``modfetch/fetch.go`` ``readGoSum``).

    A ``/go.mod`` line asks for the go.mod only (the go command needs no zip for it), a
    plain line for the zip (and its go.mod).

    Returns:
        ``{(module, version): zip hash or None}``: None when only ``/go.mod`` lines name it.

    Raises:
        BundleError: a malformed line, named by file and number.
    """
    try:
        lines = read_gosum(text, name)
    except GoSumError as e:
        raise BundleError(str(e)) from None
    out: dict[tuple[str, str], str | None] = {}
    for x in lines:
        key = (x.module, x.version)
        if x.gomod:
            out.setdefault(key, None)
        else:
            out[key] = x.hash
    return out


def proof_tiles(
    head: Tree,
    records: Iterable[tuple[int, bytes]],
    tiles: Mapping[Tile, bytes],
    *,
    since: Iterable[Tree] = (),
) -> NeedTiles | None:
    """Check every record at ``head`` and every ``since`` tree as a prefix of it, with ``tiles``.

    Args:
        head: the signed tree the records are proven in.
        records: (record id, record text) pairs.
        tiles: hash tiles fetched so far (each is checked against ``head``).
        since: older trees that must be prefixes of ``head``.

    Returns:
        None when all is proven with ``tiles``; else :class:`NeedTiles` naming what to fetch.

    Raises:
        TlogError: a record is outside ``head`` or not its leaf, a tile does not match
            ``head``, or an older tree is not a prefix of it.
    """
    for old in since:
        if old.N > head.N:
            raise TlogError(f"tree #{old.N} is newer than the head #{head.N}")
        need = check_tree_consistency(old, head, tiles, height=TILE_HEIGHT)
        if need is not None:
            return need
    pairs = list(records)
    for id, _ in pairs:
        if id >= head.N:
            raise TlogError(f"record {id} is outside the tree of size {head.N}")
    indexes = [stored_hash_index(0, id) for id, _ in pairs]
    if not indexes:
        return None
    got = read_hashes_from_tiles(head, TILE_HEIGHT, indexes, tiles)
    if isinstance(got, NeedTiles):
        return got
    for (id, text), h in zip(pairs, got, strict=True):
        if h != record_hash(text):
            raise TlogError(f"record {id} does not match its leaf in the tree of size {head.N}")
    return None
