"""The checksum database's transparency log: hashes, proofs, tiles, tree notes, records.

Owns the RFC 6962 Merkle tree as Go stores it (PROTOCOL.md §16): record and node hashes, the
stored-hash numbering, tree hashes, record and tree (consistency) proofs, tiles and their paths,
the signed tree head text and the lookup record format. Ported from golang.org/x/mod
``sumdb/tlog/tlog.go``, ``tile.go`` and ``note.go``; error texts are Go's.

It also holds a small, I/O-free client side (after x/mod ``sumdb/client.go``) for a proxy that
relays a checksum database and wants to refuse bad upstream bytes before caching them: open a
``latest`` note, verify a ``/lookup/`` body, check a hash or data tile against a signed tree.
The caller fetches tiles; a check that lacks one answers :class:`NeedTiles` instead of fetching.

Hashes are 32-byte ``bytes``. Where Go takes a ``HashReader`` this module takes a
:data:`HashReader` callable: stored-hash indexes in, hashes out.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ProxyError, go_quote
from .note import Verifier, Verifiers, open_note

__all__ = [
    "EMPTY_HASH",
    "HASH_SIZE",
    "HashReader",
    "LookupResult",
    "MalformedTilePathError",
    "NeedTiles",
    "Tile",
    "TlogError",
    "Tree",
    "check_record",
    "check_tree",
    "check_tree_consistency",
    "format_record",
    "format_tree",
    "hash_from_tile",
    "new_tiles",
    "node_hash",
    "open_tree_note",
    "parse_hash",
    "parse_record",
    "parse_tile_path",
    "parse_tree",
    "prove_record",
    "prove_tree",
    "read_hashes_from_tiles",
    "read_tile_data",
    "record_hash",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes",
    "stored_hashes_for_record_hash",
    "tile_for_index",
    "tile_path",
    "tree_hash",
    "verify_lookup",
    "verify_tile",
]

HASH_SIZE = 32
EMPTY_HASH = hashlib.sha256(b"").digest()  # the hash of the empty tree

HashReader = Callable[[list[int]], Sequence[bytes]]
"""Returns the stored hashes with the given indexes, in order (Go's ``HashReader``)."""

_INT64_MAX = (1 << 63) - 1


class TlogError(ProxyError):
    """A log proof, tile, tree note or record is malformed or does not check out."""


class MalformedTilePathError(TlogError):
    """A tile path is not in canonical form (Go's ``malformed tile path "…"``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"malformed tile path {go_quote(path)}")


_PROOF_FAILED = "invalid transparency proof"


# ---------------------------------------------------------------------------------------------
# Hashes and the stored-hash numbering


def record_hash(data: bytes) -> bytes:
    """The leaf hash of a record: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def parse_hash(s: str) -> bytes:
    """Decode a base64 hash as Go's ``tlog.ParseHash`` does.

    Raises:
        TlogError: ``malformed hash``.
    """
    h = _b64decode(s.encode("utf-8", "surrogateescape"))
    if h is None or len(h) != HASH_SIZE:
        raise TlogError("malformed hash")
    return h


def stored_hash_index(level: int, n: int) -> int:
    """The index in the stored-hash sequence of hash ``n`` at ``level`` (x/mod ``StoredHashIndex``).

    Hashes are stored in the order they become known as records are appended: the record
    hash, then each interior node it completes.
    """
    # The last node at this level is followed by its level-0 descendants' worth of hashes.
    for _ in range(level):
        n = 2 * n + 1
    # Sum of n >> k over k >= 0 is 2n - popcount(n).
    return 2 * n - n.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The inverse of :func:`stored_hash_index`: ``(level, n)`` (x/mod ``SplitStoredHashIndex``)."""
    # Start from a lower bound on n and walk up one record at a time.
    n = index // 2
    index_n = stored_hash_index(0, n)
    while True:
        x = index_n + 1 + _trailing_zeros(n + 1)
        if x > index:
            break
        n += 1
        index_n = x
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a log of ``n`` records stores (x/mod ``StoredHashCount``)."""
    if n == 0:
        return 0
    # Record n-1 stores its own hash plus one per trailing 1 bit of n-1.
    return stored_hash_index(0, n - 1) + 1 + _trailing_zeros(n)


def _trailing_zeros(x: int) -> int:
    """The number of trailing zero bits of a positive integer."""
    return (x & -x).bit_length() - 1


def _read(read_hashes: HashReader, indexes: list[int]) -> Sequence[bytes]:
    """Call ``read_hashes`` and check it answered once per index."""
    hashes = read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise TlogError(f"tlog: ReadHashes({len(indexes)} indexes) = {len(hashes)} hashes")
    return hashes


def stored_hashes(n: int, data: bytes, read_hashes: HashReader) -> list[bytes]:
    """The hashes to store when record ``n`` with ``data`` is appended (x/mod ``StoredHashes``).

    Args:
        n: the new record's number (the log holds records ``0..n-1``).
        data: the record's content.
        read_hashes: reads hashes already stored for records before ``n``.

    Returns:
        The hashes with indexes ``stored_hash_index(0, n)`` onwards.
    """
    return stored_hashes_for_record_hash(n, record_hash(data), read_hashes)


def stored_hashes_for_record_hash(n: int, h: bytes, read_hashes: HashReader) -> list[bytes]:
    """Like :func:`stored_hashes`, given the record hash rather than the record."""
    hashes = [h]
    # Each trailing 1 bit of n completes a subtree whose left sibling is already stored.
    m = _trailing_zeros(n + 1)
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(m))]
    old = _read(read_hashes, indexes)
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        hashes.append(h)
    return hashes


def _maxpow2(n: int) -> tuple[int, int]:
    """``(k, l)``: the largest power of two ``k = 2**l`` strictly less than ``n`` (n >= 2)."""
    level = max(0, (n - 1).bit_length() - 1)
    return 1 << level, level


def _sub_tree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    """Append the stored indexes of the complete subtrees covering records ``[lo, hi)``."""
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _sub_tree_hash(lo: int, hi: int, hashes: Sequence[bytes], pos: int) -> tuple[bytes, int]:
    """Fold the subtree hashes read for ``[lo, hi)`` starting at ``hashes[pos]``."""
    num_tree = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        num_tree += 1
        lo += k
    h = hashes[pos + num_tree - 1]
    for i in range(num_tree - 2, -1, -1):
        h = node_hash(hashes[pos + i], h)
    return h, pos + num_tree


def tree_hash(n: int, read_hashes: HashReader) -> bytes:
    """The root hash of the log's first ``n`` records (x/mod ``TreeHash``)."""
    if n == 0:
        return EMPTY_HASH
    indexes = _sub_tree_index(0, n, [])
    h, _ = _sub_tree_hash(0, n, _read(read_hashes, indexes), 0)
    return h


# ---------------------------------------------------------------------------------------------
# Proofs


def prove_record(t: int, n: int, read_hashes: HashReader) -> list[bytes]:
    """A proof that record ``n`` is in the tree of size ``t`` (x/mod ``ProveRecord``).

    Raises:
        TlogError: the inputs are out of range, or ``read_hashes`` misbehaved.
    """
    if t < 0 or n < 0 or n >= t:
        raise TlogError("tlog: invalid inputs in ProveRecord")
    indexes = _leaf_proof_index(0, t, n, [])
    if not indexes:
        return []
    proof, _ = _leaf_proof(0, t, n, _read(read_hashes, indexes), 0)
    return proof


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    """Append the indexes :func:`_leaf_proof` reads."""
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(
    lo: int, hi: int, n: int, hashes: Sequence[bytes], pos: int
) -> tuple[list[bytes], int]:
    """The record proof for ``n`` within ``[lo, hi)``, innermost sibling first."""
    if lo + 1 == hi:
        return [], pos
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        p, pos = _leaf_proof(lo, lo + k, n, hashes, pos)
        th, pos = _sub_tree_hash(lo + k, hi, hashes, pos)
    else:
        th, pos = _sub_tree_hash(lo, lo + k, hashes, pos)
        p, pos = _leaf_proof(lo + k, hi, n, hashes, pos)
    p.append(th)
    return p, pos


def check_record(proof: Sequence[bytes], t: int, th: bytes, n: int, h: bytes) -> None:
    """Check that ``proof`` puts record hash ``h`` at ``n`` in tree ``(t, th)``.

    x/mod ``CheckRecord``.

    Raises:
        TlogError: ``invalid transparency proof``, or the inputs are out of range.
    """
    if t < 0 or n < 0 or n >= t:
        raise TlogError("tlog: invalid inputs in CheckRecord")
    if _run_record_proof(proof, len(proof), 0, t, n, h) != th:
        raise TlogError(_PROOF_FAILED)


def _run_record_proof(p: Sequence[bytes], end: int, lo: int, hi: int, n: int, leaf: bytes) -> bytes:
    """The tree hash implied by ``p[:end]`` for ``leaf`` at ``n`` in ``[lo, hi)``."""
    if lo + 1 == hi:
        if end != 0:
            raise TlogError(_PROOF_FAILED)
        return leaf
    if end == 0:
        raise TlogError(_PROOF_FAILED)
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        th = _run_record_proof(p, end - 1, lo, lo + k, n, leaf)
        return node_hash(th, p[end - 1])
    th = _run_record_proof(p, end - 1, lo + k, hi, n, leaf)
    return node_hash(p[end - 1], th)


def prove_tree(t: int, n: int, read_hashes: HashReader) -> list[bytes]:
    """A proof that tree size ``n`` is a prefix of tree size ``t`` (x/mod ``ProveTree``).

    Raises:
        TlogError: the inputs are out of range, or ``read_hashes`` misbehaved.
    """
    if t < 1 or n < 1 or n > t:
        raise TlogError("tlog: invalid inputs in ProveTree")
    indexes = _tree_proof_index(0, t, n, [])
    if not indexes:
        return []
    proof, _ = _tree_proof(0, t, n, _read(read_hashes, indexes), 0)
    return proof


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    """Append the indexes :func:`_tree_proof` reads."""
    if n == hi:
        return need if lo == 0 else _sub_tree_index(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(
    lo: int, hi: int, n: int, hashes: Sequence[bytes], pos: int
) -> tuple[list[bytes], int]:
    """The consistency proof between sizes ``n`` and ``hi`` within ``[lo, hi)``."""
    if n == hi:
        if lo == 0:
            return [], pos
        th, pos = _sub_tree_hash(lo, hi, hashes, pos)
        return [th], pos
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        p, pos = _tree_proof(lo, lo + k, n, hashes, pos)
        th, pos = _sub_tree_hash(lo + k, hi, hashes, pos)
    else:
        th, pos = _sub_tree_hash(lo, lo + k, hashes, pos)
        p, pos = _tree_proof(lo + k, hi, n, hashes, pos)
    p.append(th)
    return p, pos


def check_tree(proof: Sequence[bytes], t: int, th: bytes, n: int, h: bytes) -> None:
    """Check that tree ``(n, h)`` is a prefix of tree ``(t, th)`` (x/mod ``CheckTree``).

    Raises:
        TlogError: ``invalid transparency proof``, or the inputs are out of range.
    """
    if t < 1 or n < 1 or n > t:
        raise TlogError("tlog: invalid inputs in CheckTree")
    h2, th2 = _run_tree_proof(proof, len(proof), 0, t, n, h)
    if th2 != th or h2 != h:
        raise TlogError(_PROOF_FAILED)


def _run_tree_proof(
    p: Sequence[bytes], end: int, lo: int, hi: int, n: int, old: bytes
) -> tuple[bytes, bytes]:
    """The (old tree, new tree) hashes implied by ``p[:end]`` within ``[lo, hi)``."""
    if n == hi:
        if lo == 0:
            if end != 0:
                raise TlogError(_PROOF_FAILED)
            return old, old
        if end != 1:
            raise TlogError(_PROOF_FAILED)
        return p[0], p[0]
    if end == 0:
        raise TlogError(_PROOF_FAILED)
    k, _ = _maxpow2(hi - lo)
    last = p[end - 1]
    if n <= lo + k:
        oh, th = _run_tree_proof(p, end - 1, lo, lo + k, n, old)
        return oh, node_hash(th, last)
    oh, th = _run_tree_proof(p, end - 1, lo + k, hi, n, old)
    return node_hash(last, oh), node_hash(last, th)


# ---------------------------------------------------------------------------------------------
# Tiles

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


def _tile_hash(data: bytes) -> bytes:
    """The Merkle root of a power-of-two run of hashes laid end to end."""
    if len(data) == HASH_SIZE:
        return data
    half = len(data) // 2
    return node_hash(_tile_hash(data[:half]), _tile_hash(data[half:]))


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


# ---------------------------------------------------------------------------------------------
# Tree heads and records

_TREE_PREFIX = b"go.sum database tree\n"
_TREE_SIZE_RE = re.compile(rb"0|[1-9][0-9]{0,18}")
_RECORD_ID_RE = re.compile(rb"[+-]?[0-9]+")
_RECORD_CONTROL_RE = re.compile(rb"[\x00-\x09\x0b-\x1f]")
_B64_RE = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _b64decode(s: bytes) -> bytes | None:
    """Decode like Go's ``base64.StdEncoding``; None when Go would fail."""
    if b"\r" in s or b"\n" in s:
        s = s.replace(b"\r", b"").replace(b"\n", b"")
    if not _B64_RE.fullmatch(s):
        return None
    return binascii.a2b_base64(s)


@dataclass(frozen=True, slots=True)
class Tree:
    """A tree head: the log size and its root hash (x/mod ``tlog.Tree``)."""

    N: int
    hash: bytes


def format_tree(tree: Tree) -> bytes:
    """The text of a tree note, ``go.sum database tree\\nN\\nhash\\n`` (x/mod ``FormatTree``)."""
    b64 = binascii.b2a_base64(tree.hash, newline=False)
    return b"%s%d\n%s\n" % (_TREE_PREFIX, tree.N, b64)


def parse_tree(text: bytes) -> Tree:
    """Parse a tree note text; lines after the first three are ignored (x/mod ``ParseTree``).

    Raises:
        TlogError: ``malformed tree note``.
    """
    if not text.startswith(_TREE_PREFIX) or text.count(b"\n") < 3 or len(text) > 1_000_000:
        raise TlogError("malformed tree note")
    lines = text.split(b"\n", 3)
    # Only the canonical decimal form is accepted, so one tree has one text.
    if not _TREE_SIZE_RE.fullmatch(lines[1]) or int(lines[1]) > _INT64_MAX:
        raise TlogError("malformed tree note")
    h = _b64decode(lines[2])
    if h is None or len(h) != HASH_SIZE:
        raise TlogError("malformed tree note")
    return Tree(int(lines[1]), h)


def _is_valid_record_text(text: bytes) -> bool:
    """UTF-8 lines without control characters or blank lines, ending in ``\\n``."""
    if not text.endswith(b"\n") or b"\n\n" in text or _RECORD_CONTROL_RE.search(text):
        return False
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def format_record(id: int, text: bytes) -> bytes:
    """The lookup form of a record: ``id\\ntext\\n`` (x/mod ``FormatRecord``).

    Raises:
        TlogError: ``malformed record data``.
    """
    if not _is_valid_record_text(text):
        raise TlogError("malformed record data")
    return b"%d\n%s\n" % (id, text)


def parse_record(msg: bytes) -> tuple[int, bytes, bytes]:
    """Split a lookup body into record id, record text and the rest (x/mod ``ParseRecord``).

    Returns:
        ``(id, text, rest)``; ``rest`` is normally the signed tree note.

    Raises:
        TlogError: ``malformed record data``.
    """
    i = msg.find(b"\n")
    if i < 0 or not _RECORD_ID_RE.fullmatch(msg, 0, i):
        raise TlogError("malformed record data")
    id = int(msg[:i])
    if not -_INT64_MAX - 1 <= id <= _INT64_MAX:
        raise TlogError("malformed record data")
    msg = msg[i + 1 :]
    j = msg.find(b"\n\n")
    if j < 0:
        raise TlogError("malformed record data")
    text, rest = msg[: j + 1], msg[j + 2 :]
    if not _is_valid_record_text(text):
        raise TlogError("malformed record data")
    return id, text, rest


# ---------------------------------------------------------------------------------------------
# Client side: reading hashes through tiles, without I/O
#
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
