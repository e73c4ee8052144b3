"""Transparency log: the x/mod tlog tables, the computed 100-record log, and proof properties."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import error_status
from goproxy_core.sumdb import (
    EMPTY_TREE_HASH,
    HASH_SIZE,
    LookupResult,
    MalformedTilePathError,
    NeedTiles,
    Tile,
    TlogError,
    Tree,
    check_record,
    check_tree,
    check_tree_consistency,
    format_record,
    format_tree,
    hash_from_tile,
    new_tiles,
    node_hash,
    open_tree_note,
    parse_hash,
    parse_record,
    parse_tile_path,
    parse_tree,
    prove_record,
    prove_tree,
    read_hashes_from_tiles,
    read_tile_data,
    record_hash,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    tile_for_index,
    tile_path,
    tree_hash,
    verify_lookup,
    verify_tile,
)

from support import load_vector, vector_str

TLOG = load_vector("tlog.json")
LOG = TLOG["computed_log"]
TREE_HASH_B64 = b"TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="


def b64(s: str) -> bytes:
    return base64.b64decode(s)


def raw(v) -> bytes:
    return vector_str(v).encode("utf-8", "surrogateescape")


class Log:
    """An in-memory log built with stored_hashes, as x/mod's TestTree does."""

    def __init__(self, records: list[bytes]) -> None:
        self.hashes: list[bytes] = []
        self.reads = 0
        for i, data in enumerate(records):
            self.hashes += stored_hashes(i, data, self.read)

    def read(self, indexes: list[int]) -> list[bytes]:
        self.reads += 1
        return [self.hashes[i] for i in indexes]


def _build(n: int) -> Log:
    return Log([f"leaf {i}".encode() for i in range(n)])


LOG100 = _build(100)
LOG2000 = Log([b"%d" % i for i in range(2000)])


# ---------------------------------------------------------------------------------------------
# The computed log


@pytest.mark.parametrize("leaf", LOG["leaves"], ids=lambda c: c["data"])
def test_record_hash(leaf):
    assert record_hash(leaf["data"].encode()) == b64(leaf["record_hash_b64"])
    assert LOG100.hashes[stored_hash_index(0, leaf["index"])] == b64(leaf["record_hash_b64"])


@pytest.mark.parametrize("tree", LOG["trees"], ids=lambda c: str(c["N"]))
def test_tree_hash_and_stored_hash_count(tree):
    n = tree["N"]
    assert stored_hash_count(n) == tree["stored_hash_count"]
    assert tree_hash(n, LOG100.read) == b64(tree["tree_hash_b64"])
    # The log as it was at size n stores exactly stored_hash_count(n) hashes.
    assert len(_build(n).hashes) == tree["stored_hash_count"]


def test_empty_tree():
    assert EMPTY_TREE_HASH == b64(TLOG["empty_tree_hash_b64"]) == hashlib.sha256(b"").digest()
    assert tree_hash(0, LOG100.read) == EMPTY_TREE_HASH
    assert stored_hash_count(0) == 0


@pytest.mark.parametrize(
    "case", LOG["proofs"], ids=lambda c: f"{c['kind']}-{c.get('index', c.get('old_size'))}"
)
def test_proofs(case):
    want = [b64(h) for h in case["proof_b64"] or []]
    t = case["tree_size"]
    th = tree_hash(t, LOG100.read)
    assert case["err"] is None
    if case["kind"] == "record":
        n = case["index"]
        assert prove_record(t, n, LOG100.read) == want
        leaf = LOG100.hashes[stored_hash_index(0, n)]
        check_record(want, t, th, n, leaf)
        with pytest.raises(TlogError, match="invalid transparency proof"):
            check_record(want, t, th, n, record_hash(b"other"))
    else:
        n = case["old_size"]
        assert prove_tree(t, n, LOG100.read) == want
        h = tree_hash(n, LOG100.read)
        check_tree(want, t, th, n, h)
        with pytest.raises(TlogError, match="invalid transparency proof"):
            check_tree(want, t, th, n, record_hash(b"other"))


@pytest.mark.parametrize("case", LOG["tiles"], ids=lambda c: c["path"])
def test_tiles_of_the_log(case):
    assert case["err"] is None
    tile = parse_tile_path(case["path"])
    assert case["height"] == tile.H
    data = read_tile_data(tile, LOG100.read)
    if "data_hex" in case:
        assert data.hex() == case["data_hex"]
    else:
        assert len(data) == case["data_len"]
        assert data[:32].hex() == case["data_first32_hex"]
    # Every hash of the tile can be recovered from the tile bytes.
    for i in range(tile.W):
        index = stored_hash_index(tile.L * tile.H, (tile.N << tile.H) + i)
        assert hash_from_tile(tile, data, index) == LOG100.hashes[index]


@pytest.mark.parametrize("case", LOG["stored_hash_index"], ids=lambda c: f"{c['level']}-{c['n']}")
def test_stored_hash_index(case):
    index = case["stored_hash_index"]
    assert stored_hash_index(case["level"], case["n"]) == index
    assert split_stored_hash_index(index) == (case["level"], case["n"])


def test_split_stored_hash_index_inverts_every_index():
    for index in range(len(LOG100.hashes)):
        level, n = split_stored_hash_index(index)
        assert stored_hash_index(level, n) == index


# ---------------------------------------------------------------------------------------------
# Tables


@pytest.mark.parametrize("case", TLOG["tile_paths"], ids=lambda c: c["path"])
def test_tile_paths(case):
    if case["valid"]:
        want = Tile(**case["tile"])
        assert parse_tile_path(case["path"]) == want
        assert tile_path(want) == case["path"] == want.path()
    else:
        with pytest.raises(MalformedTilePathError) as exc:
            parse_tile_path(case["path"])
        assert str(exc.value) == case["parse_err"]
        assert error_status(exc.value) == 404


@pytest.mark.parametrize(
    "path",
    [
        "tile/8/0",
        "tyle/8/0/000",
        "tile/0/0/000",
        "tile/31/0/000",
        "tile/x/0/000",
        "tile/8/+0/000",
        "tile/8/0/+00",
        "tile/8/0/1000",
        "tile/8/0/000.p/0",
        "tile/8/0/000.p/256",
        "tile/8/0/000.p/x",
        "tile/8/0/000.p/05",
        "tile/8/0/x000/001",
        "tile/8/99999999999999999999/000",
        "tile/8/0/.p/5",
    ],
)
def test_parse_tile_path_rejects(path):
    with pytest.raises(MalformedTilePathError):
        parse_tile_path(path)


@pytest.mark.parametrize("case", TLOG["new_tiles"], ids=lambda c: f"{c['old']}-{c['new']}")
def test_new_tiles(case):
    tiles = new_tiles(case["height"], case["old"], case["new"])
    assert len(tiles) == case["want_count"]
    assert [t.path() for t in tiles] == (case["tiles"] or [])


def test_invalid_heights():
    with pytest.raises(ValueError, match="invalid height 0"):
        new_tiles(0, 1, 2)
    with pytest.raises(ValueError, match="invalid height 0"):
        tile_for_index(0, 1)


def test_format_tree():
    case = TLOG["format_tree"]
    h = record_hash(case["record_hash_of"].encode())
    assert base64.b64encode(h).decode() == case["hash_b64"]
    assert format_tree(Tree(case["N"], h)) == case["formatted"].encode()
    assert parse_tree(case["formatted"].encode()) == Tree(case["N"], h)


@pytest.mark.parametrize("case", TLOG["parse_tree_bad"], ids=lambda c: c["text"][:30])
def test_parse_tree_bad(case):
    with pytest.raises(TlogError) as exc:
        parse_tree(case["text"].encode())
    assert str(exc.value) == case["err"]


@pytest.mark.parametrize(
    "text",
    [
        b"go.sum database tree\n1\n",
        b"go.sum database tree\n01\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        b"go.sum database tree\n-1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        b"go.sum database tree\n9223372036854775808\n" + TREE_HASH_B64 + b"\n",
        b"go.sum database tree\n1\nAAAA\n",
        b"go.sum database tree\n1\n" + b"A" * 1_000_000 + b"\n\n",
    ],
)
def test_parse_tree_more_bad(text):
    with pytest.raises(TlogError, match="malformed tree note"):
        parse_tree(text)


@pytest.mark.parametrize("case", TLOG["parse_tree_trailing_junk_ok"], ids=lambda c: c["text"])
def test_parse_tree_trailing_junk(case):
    assert case["err"] is None
    assert parse_tree(case["text"].encode()) == Tree(case["N"], b64(case["hash_b64"]))


def test_format_record():
    case = TLOG["format_record"]
    assert format_record(case["id"], case["text"].encode()) == case["formatted"].encode()


@pytest.mark.parametrize("case", TLOG["format_record_bad_text"], ids=lambda c: c["text"])
def test_format_record_bad_text(case):
    with pytest.raises(TlogError) as exc:
        format_record(1, case["text"].encode())
    assert str(exc.value) == case["err"]


def test_format_record_rejects_invalid_utf8():
    with pytest.raises(TlogError, match="malformed record data"):
        format_record(1, b"hello\xffworld\n")


def test_parse_record():
    case = TLOG["parse_record"]
    assert case["err"] is None
    assert parse_record(raw(case["msg"])) == (case["id"], case["text"].encode(), raw(case["rest"]))


@pytest.mark.parametrize("case", TLOG["parse_record_bad"], ids=lambda c: str(c["msg"])[:20])
def test_parse_record_bad(case):
    with pytest.raises(TlogError) as exc:
        parse_record(raw(case["msg"]))
    assert str(exc.value) == case["err"]


@pytest.mark.parametrize(
    "msg", [b"no newline", b"99999999999999999999\nhello\n\n", b"123\nhello world\n"]
)
def test_parse_record_more_bad(msg):
    with pytest.raises(TlogError, match="malformed record data"):
        parse_record(msg)


def test_parse_record_keeps_go_int_syntax():
    # strconv.ParseInt accepts a sign and leading zeros in the id line.
    assert parse_record(b"+007\nhi\n\n")[0] == 7
    assert parse_record(b"-1\nhi\n\n")[0] == -1


def test_parse_hash():
    h = record_hash(b"x")
    assert parse_hash(base64.b64encode(h).decode()) == h
    for bad in ["", "AAAA", "not base64!", base64.b64encode(h).decode()[:-1]]:
        with pytest.raises(TlogError, match="malformed hash"):
            parse_hash(bad)
    # Go's decoder skips CR and LF.
    s = base64.b64encode(h).decode()
    assert parse_hash(s[:10] + "\r\n" + s[10:]) == h


def test_node_hash():
    a, b = record_hash(b"a"), record_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


# ---------------------------------------------------------------------------------------------
# Errors from bad inputs and bad readers


@pytest.mark.parametrize(("t", "n"), [(0, 0), (5, 5), (-1, 0), (5, -1)])
def test_record_proof_inputs(t, n):
    with pytest.raises(TlogError, match="invalid inputs in ProveRecord"):
        prove_record(t, n, LOG100.read)
    with pytest.raises(TlogError, match="invalid inputs in CheckRecord"):
        check_record([], t, EMPTY_TREE_HASH, n, EMPTY_TREE_HASH)


@pytest.mark.parametrize(("t", "n"), [(0, 0), (5, 6), (5, 0)])
def test_tree_proof_inputs(t, n):
    with pytest.raises(TlogError, match="invalid inputs in ProveTree"):
        prove_tree(t, n, LOG100.read)
    with pytest.raises(TlogError, match="invalid inputs in CheckTree"):
        check_tree([], t, EMPTY_TREE_HASH, n, EMPTY_TREE_HASH)


def test_wrong_proof_lengths_fail():
    th = tree_hash(8, LOG100.read)
    leaf = LOG100.hashes[0]
    proof = prove_record(8, 0, LOG100.read)
    for bad in (proof[:-1], [*proof, leaf]):
        with pytest.raises(TlogError, match="invalid transparency proof"):
            check_record(bad, 8, th, 0, leaf)
    old = tree_hash(3, LOG100.read)
    tproof = prove_tree(8, 3, LOG100.read)
    for bad in (tproof[:-1], [*tproof, leaf], [], [leaf, leaf]):
        with pytest.raises(TlogError, match="invalid transparency proof"):
            check_tree(bad, 8, th, 3, old)
    # Same size: the proof must be empty; a subtree proof needs exactly one hash.
    with pytest.raises(TlogError, match="invalid transparency proof"):
        check_tree([leaf], 8, th, 8, th)
    with pytest.raises(TlogError, match="invalid transparency proof"):
        check_tree([*prove_tree(6, 4, LOG100.read), leaf], 6, th, 4, old)


def test_short_reader_is_reported():
    def short(indexes: list[int]) -> list[bytes]:
        return []

    with pytest.raises(TlogError, match=r"ReadHashes\(3 indexes\) = 0 hashes"):
        tree_hash(7, short)


def test_hash_from_tile_errors():
    tile = Tile(2, 0, 0, 4)
    data = read_tile_data(tile, LOG100.read)
    with pytest.raises(TlogError, match="invalid tile"):
        hash_from_tile(Tile(2, 0, 0, 5), data, 0)
    with pytest.raises(TlogError, match="data len 64 too short for tile tile/2/0/000"):
        hash_from_tile(tile, data[:64], 0)
    with pytest.raises(TlogError, match=r"index 7 is in tile/2/0/001\.p/1 not tile/2/0/000"):
        hash_from_tile(tile, data, 7)


def test_read_tile_data_zero_width_means_full():
    assert read_tile_data(Tile(2, 0, 0, 0), LOG100.read) == read_tile_data(
        Tile(2, 0, 0, 4), LOG100.read
    )


def test_tile_for_index():
    assert tile_for_index(2, stored_hash_index(0, 5)) == Tile(2, 0, 1, 2)
    assert tile_for_index(2, stored_hash_index(2, 1)) == Tile(2, 1, 0, 2)


# ---------------------------------------------------------------------------------------------
# Reading hashes through tiles (the client side)


def _tiles_for(tree_n: int, height: int, log: Log = LOG100) -> dict[Tile, bytes]:
    """Every tile a client might fetch for a tree of size tree_n, at its width in that tree."""
    return {t: read_tile_data(t, log.read) for t in new_tiles(height, 0, tree_n)}


@pytest.mark.parametrize("height", [1, 2, 3, 8])
@pytest.mark.parametrize("size", [1, 2, 5, 13, 16, 64, 99, 100])
def test_read_hashes_from_tiles(size, height):
    tree = Tree(size, tree_hash(size, LOG100.read))
    tiles = _tiles_for(size, height)
    indexes = sorted({stored_hash_index(0, i) for i in (0, size // 2, size - 1)})
    first = read_hashes_from_tiles(tree, height, indexes, {})
    assert isinstance(first, NeedTiles)
    assert set(first.tiles) <= set(tiles)
    got = read_hashes_from_tiles(tree, height, indexes, tiles)
    assert got == [LOG100.hashes[i] for i in indexes]


def test_read_hashes_from_tiles_accepts_full_tile_for_partial():
    tree = Tree(13, tree_hash(13, LOG100.read))
    tiles = _tiles_for(13, 2)
    full = Tile(2, 0, 3, 4)
    del tiles[Tile(2, 0, 3, 1)]
    tiles[full] = read_tile_data(full, LOG100.read)  # as a later, bigger tree serves it
    got = read_hashes_from_tiles(tree, 2, [stored_hash_index(0, 12)], tiles)
    assert got == [LOG100.hashes[stored_hash_index(0, 12)]]


def test_read_hashes_from_tiles_rejects_bad_tiles():
    tree = Tree(13, tree_hash(13, LOG100.read))
    tiles = _tiles_for(13, 2)
    with pytest.raises(TlogError, match="indexes not in tree"):
        read_hashes_from_tiles(tree, 2, [stored_hash_index(0, 13)], tiles)
    # A mangled byte in any tile the read touches is caught; reading every leaf touches all.
    leaves = [stored_hash_index(0, i) for i in range(13)]
    for t in tiles:
        bad = dict(tiles)
        bad[t] = bytes([tiles[t][0] ^ 1]) + tiles[t][1:]
        with pytest.raises(TlogError, match="downloaded inconsistent tile"):
            read_hashes_from_tiles(tree, 2, leaves, bad)
    short = dict(tiles)
    short[Tile(2, 0, 0, 4)] = tiles[Tile(2, 0, 0, 4)][:-1]
    with pytest.raises(TlogError, match=r"bad result slice \(tile/2/0/000 len=127, want 128\)"):
        read_hashes_from_tiles(tree, 2, [stored_hash_index(0, 0)], short)


def test_check_tree_consistency():
    old = Tree(42, tree_hash(42, LOG100.read))
    new = Tree(100, tree_hash(100, LOG100.read))
    tiles = _tiles_for(100, 2)
    need = check_tree_consistency(old, new, {}, height=2)
    assert isinstance(need, NeedTiles)
    assert check_tree_consistency(old, new, tiles, height=2) is None
    forked = Tree(42, record_hash(b"fork"))
    with pytest.raises(TlogError, match="misbehavior detected: tree #42 is not a prefix"):
        check_tree_consistency(forked, new, tiles, height=2)
    with pytest.raises(TlogError, match="newer than"):
        check_tree_consistency(new, old, tiles, height=2)


@pytest.mark.parametrize("size", [5, 13, 16, 17, 100])
def test_verify_tile_every_tile_of_a_log(size):
    tree = Tree(size, tree_hash(size, LOG100.read))
    tiles = _tiles_for(size, 2)
    for tile, data in tiles.items():
        others = {t: d for t, d in tiles.items() if t != tile}
        assert verify_tile(tile, data, tree, others) is None
        bad = bytes([data[-1] ^ 0x80]) + data[1:] if len(data) == 32 else data[32:] + data[:32]
        if bad != data:
            with pytest.raises(TlogError, match="inconsistent"):
                verify_tile(tile, bad, tree, others)


def test_verify_tile_narrower_partial_tile():
    tree = Tree(100, tree_hash(100, LOG100.read))
    tiles = _tiles_for(100, 2)
    stale = Tile(2, 0, 24, 3)  # the last hash tile when the log had 99 records
    data = read_tile_data(stale, LOG100.read)
    need = verify_tile(stale, data, tree, {})
    assert isinstance(need, NeedTiles)
    assert Tile(2, 0, 24, 4) in need.tiles
    assert verify_tile(stale, data, tree, tiles) is None
    with pytest.raises(TlogError, match="downloaded inconsistent tile"):
        verify_tile(stale, data[:-1] + b"\x00", tree, tiles)


def test_verify_tile_outside_tree_or_wrong_size():
    tree = Tree(13, tree_hash(13, LOG100.read))
    with pytest.raises(TlogError, match=r"tile tile/2/0/003\.p/2 is not in tree of size 13"):
        verify_tile(Tile(2, 0, 3, 2), b"\x00" * 64, tree)
    with pytest.raises(TlogError, match=r"tile tile/2/0/009 is not in tree of size 13"):
        verify_tile(Tile(2, 0, 9, 4), b"\x00" * 128, tree)
    with pytest.raises(TlogError, match="has 3 bytes, want 128"):
        verify_tile(Tile(2, 0, 0, 4), b"abc", tree)


def test_verify_data_tile():
    records = [f"leaf {i}\n".encode() for i in range(13)]
    log = Log(records)
    tree = Tree(13, tree_hash(13, log.read))
    tiles = _tiles_for(13, 2, log)
    for n, w in [(0, 4), (1, 4), (2, 4), (3, 1)]:
        data = b"".join(r + b"\n" for r in records[4 * n : 4 * n + w])
        assert verify_tile(Tile(2, -1, n, w), data, tree, tiles) is None
        with pytest.raises(TlogError):
            verify_tile(Tile(2, -1, n, w), data.replace(b"leaf", b"lean", 1), tree, tiles)
    with pytest.raises(TlogError, match="holds 3 records, want 4"):
        verify_tile(Tile(2, -1, 0, 4), b"a\n\nb\n\nc\n\n", tree, tiles)
    with pytest.raises(TlogError, match="malformed data tile"):
        verify_tile(Tile(2, -1, 0, 4), b"a\n\nb\n", tree, tiles)


# ---------------------------------------------------------------------------------------------
# Properties


@given(st.data())
def test_prove_record_checks(data):
    t = data.draw(st.integers(min_value=1, max_value=100))
    n = data.draw(st.integers(min_value=0, max_value=t - 1))
    th = tree_hash(t, LOG100.read)
    proof = prove_record(t, n, LOG100.read)
    check_record(proof, t, th, n, LOG100.hashes[stored_hash_index(0, n)])
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = [*proof]
        bad[i] = record_hash(bad[i])
        with pytest.raises(TlogError):
            check_record(bad, t, th, n, LOG100.hashes[stored_hash_index(0, n)])


@given(st.data())
def test_prove_tree_checks(data):
    t = data.draw(st.integers(min_value=1, max_value=100))
    n = data.draw(st.integers(min_value=1, max_value=t))
    proof = prove_tree(t, n, LOG100.read)
    check_tree(proof, t, tree_hash(t, LOG100.read), n, tree_hash(n, LOG100.read))


@given(st.integers(min_value=1, max_value=2000), st.integers(min_value=0, max_value=1999))
def test_prove_record_on_bigger_logs(t, n):
    # Proofs need only the hashes they read, so a lazily computed log is enough.
    n %= t
    log = LOG2000
    check_record(prove_record(t, n, log.read), t, tree_hash(t, log.read), n, record_hash(b"%d" % n))


_tiles = st.builds(
    lambda h, level, n, w: Tile(h, level, n, w % (1 << h) + 1),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=-1, max_value=63),
    st.integers(min_value=0, max_value=10**15),
    st.integers(min_value=0, max_value=1 << 30),
)


@given(_tiles)
def test_tile_path_round_trip(tile):
    assert parse_tile_path(tile_path(tile)) == tile


@given(st.integers(min_value=0, max_value=10**12))
def test_split_stored_hash_index_round_trip(index):
    level, n = split_stored_hash_index(index)
    assert stored_hash_index(level, n) == index


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=3000))
def test_tile_for_index_holds_index(h, index):
    tile = tile_for_index(h, index)
    level, _n = split_stored_hash_index(index)
    assert level // h == tile.L
    assert 1 <= tile.W <= 1 << h


def test_hash_reader_module_alias():
    assert HASH_SIZE == 32


def test_verify_lookup_on_a_signed_log():
    from goproxy_core.sumdb import generate_key, new_signer, new_verifier, sign

    skey, vkey = generate_key("sum.example", b"\x01" * 32)
    tree = Tree(13, tree_hash(13, LOG100.read))
    note = sign(format_tree(tree).decode(), [new_signer(skey)])
    verifiers = [new_verifier(vkey)]
    assert open_tree_note(note, verifiers) == tree
    # The computed log's record 7 is "leaf 7" without a newline: a lookup body cannot carry it.
    body = b"7\nleaf 7\n\n" + note
    with pytest.raises(TlogError, match="cannot authenticate record data"):
        verify_lookup(body, verifiers, _tiles_for(13, 2), height=2)
    records = [f"m v1.0.{i} h1:x=\n".encode() for i in range(13)]
    log = Log(records)
    tree = Tree(13, tree_hash(13, log.read))
    note = sign(format_tree(tree).decode(), [new_signer(skey)])
    got = verify_lookup(
        format_record(7, records[7]) + note, verifiers, _tiles_for(13, 2, log), height=2
    )
    assert isinstance(got, LookupResult)
    assert got.lines("m", "v1.0.7") == ["m v1.0.7 h1:x="]
    with pytest.raises(TlogError, match="cannot validate record -1"):
        verify_lookup(
            format_record(-1, records[7]) + note, verifiers, _tiles_for(13, 2, log), height=2
        )


@given(st.integers(0, 8), st.binary(min_size=32, max_size=32))
def test_a_remembered_tile_root_is_the_root_of_those_bytes(log2, seed):
    from goproxy_core.sumdb.tile import _remembered_root, _tile_hash

    run = b"".join(
        hashlib.sha256(seed + bytes([i % 256, i // 256])).digest() for i in range(1 << log2)
    )

    def root(data: bytes) -> bytes:  # the definition, from scratch
        if len(data) == 32:
            return data
        half = len(data) // 2
        return hashlib.sha256(b"\x01" + root(data[:half]) + root(data[half:])).digest()

    want = root(run)
    assert _tile_hash(run) == want
    assert _tile_hash(bytearray(run)) == want  # not hashable: computed, not remembered
    assert _tile_hash(run) == want  # again, from the memo when long enough
    flipped = bytes([run[0] ^ 1]) + run[1:]
    assert _tile_hash(flipped) == root(flipped) != want
    assert _remembered_root.cache_info().maxsize == 512
