"""The checksum database's transparency log: hashes, the stored-hash numbering, proofs.

Owns the RFC 6962 Merkle tree as Go stores it (PROTOCOL.md §16): record and node hashes, the
stored-hash numbering, tree hashes, and record and tree (consistency) proofs. Ported from
golang.org/x/mod ``sumdb/tlog/tlog.go``; error texts are Go's. Tiles are :mod:`.tile`
(``tile.go``), tree heads and records :mod:`.treenote` (``tlog/note.go``), and the I/O-free
checks of what a checksum database sends :mod:`.client`.

Hashes are 32-byte ``bytes``. Where Go takes a ``HashReader`` this module takes a
:data:`HashReader` callable: stored-hash indexes in, hashes out.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Sequence

from ..errors import ProxyError
from ..strconv import go_quote

__all__ = [
    "EMPTY_HASH",
    "HASH_SIZE",
    "HashReader",
    "MalformedTilePathError",
    "TlogError",
    "check_record",
    "check_tree",
    "node_hash",
    "parse_hash",
    "prove_record",
    "prove_tree",
    "record_hash",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes",
    "stored_hashes_for_record_hash",
    "tree_hash",
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

_B64_RE = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _b64decode(s: bytes) -> bytes | None:
    """Decode like Go's ``base64.StdEncoding``; None when Go would fail."""
    if b"\r" in s or b"\n" in s:
        s = s.replace(b"\r", b"").replace(b"\n", b"")
    if not _B64_RE.fullmatch(s):
        return None
    return binascii.a2b_base64(s)


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
