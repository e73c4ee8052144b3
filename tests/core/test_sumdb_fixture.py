"""The static checksum DB fixture: a relay verifies latest, lookups and tiles; mangling fails."""

from __future__ import annotations

import base64
import json

import pytest

from goproxy_core.sumdb import (
    LookupResult,
    NeedTiles,
    NoteError,
    Tile,
    TlogError,
    Tree,
    format_record,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    read_hashes_from_tiles,
    record_hash,
    stored_hash_index,
    verify_lookup,
    verify_tile,
)

from support import DATA_DIR

ROOT = DATA_DIR / "sumdb-fixture" / "sumdb" / "localhost.localdev"
DB = ROOT / "sumdb"
RECORDS = json.loads((ROOT / "sumdb.records.json").read_text(encoding="utf-8"))
VKEY = "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6"
VERIFIER = new_verifier(VKEY)
ROOT_HASH = base64.b64decode("/7Aw5jVSMM9sFjQhaMg+iiDYPMk6decH7QLOGrL9Lx0=")
HASH_TILE = "tile/8/0/000.p/4"
DATA_TILE = "tile/8/data/000.p/4"
TREE = Tree(4, ROOT_HASH)


def _tiles() -> dict[Tile, bytes]:
    return {parse_tile_path(HASH_TILE): (DB / HASH_TILE).read_bytes()}


def _mangled(data: bytes):
    """Every one-byte mangling (bit 5: letter case flips, digits and symbols turn to controls)."""
    for i in range(len(data)):
        yield i, data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1 :]


def _accepted(check, data: bytes) -> list[int]:
    """The positions whose mangling ``check`` does not reject."""
    out = []
    for i, bad in _mangled(data):
        try:
            check(bad)
        except (NoteError, TlogError):
            continue
        out.append(i)
    return out


def test_fixture_agrees_with_itself():
    assert RECORDS["verifier_key"] == VKEY
    assert RECORDS["tree_size"] == 4
    assert RECORDS["tile_height"] == 8
    assert (DB / "supported").read_bytes() == b""


def test_latest_verifies():
    assert open_tree_note((DB / "latest").read_bytes(), [VERIFIER]) == TREE


def test_latest_mangled_is_rejected():
    data = (DB / "latest").read_bytes()
    assert _accepted(lambda bad: open_tree_note(bad, [VERIFIER]), data) == []


def test_latest_needs_the_right_key():
    other = new_verifier("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(NoteError, match="note has no verifiable signatures"):
        open_tree_note((DB / "latest").read_bytes(), [other])


@pytest.mark.parametrize("rec", RECORDS["records"], ids=lambda r: r["module"])
def test_lookup_verifies(rec):
    body = (DB / rec["lookup_path"]).read_bytes()
    need = verify_lookup(body, [VERIFIER], {})
    assert need == NeedTiles((parse_tile_path(HASH_TILE),))
    got = verify_lookup(body, [VERIFIER], _tiles())
    assert isinstance(got, LookupResult)
    assert got.id == rec["id"]
    assert got.text == rec["lines"].encode()
    assert got.tree == TREE
    assert got.tree_note == (DB / "latest").read_bytes()
    assert body == format_record(got.id, got.text) + got.tree_note
    path, version = rec["module"].split("@")
    want = [ln for ln in rec["lines"].splitlines() if ln.startswith(f"{path} {version} ")]
    assert got.lines(path, version) == want
    assert got.lines(path, version + "/go.mod") == [
        ln for ln in rec["lines"].splitlines() if ln.startswith(f"{path} {version}/go.mod ")
    ]
    # Knowing the same tree already changes nothing.
    assert verify_lookup(body, [VERIFIER], _tiles(), latest=TREE) == got


@pytest.mark.parametrize("rec", RECORDS["records"], ids=lambda r: r["module"])
def test_lookup_mangled_is_rejected(rec):
    body = (DB / rec["lookup_path"]).read_bytes()
    tiles = _tiles()
    assert _accepted(lambda bad: verify_lookup(bad, [VERIFIER], tiles), body) == []


def test_lookup_with_a_mangled_tile_is_rejected():
    body = (DB / RECORDS["records"][0]["lookup_path"]).read_bytes()
    tile = parse_tile_path(HASH_TILE)
    for _, bad in _mangled(_tiles()[tile]):
        with pytest.raises(TlogError, match="downloaded inconsistent tile"):
            verify_lookup(body, [VERIFIER], {tile: bad})


def test_lookup_record_outside_tree():
    rec = RECORDS["records"][0]
    body = (DB / rec["lookup_path"]).read_bytes()
    body = b"4" + body[1:]
    with pytest.raises(TlogError, match="cannot validate record 4 in tree of size 4"):
        verify_lookup(body, [VERIFIER], _tiles())


def test_lookup_against_a_different_latest():
    body = (DB / RECORDS["records"][0]["lookup_path"]).read_bytes()
    # A remembered smaller tree must be a prefix of the response's tree.
    old = Tree(2, _subtree_root(2))
    assert isinstance(verify_lookup(body, [VERIFIER], _tiles(), latest=old), LookupResult)
    forked = Tree(2, record_hash(b"fork"))
    with pytest.raises(TlogError, match="misbehavior detected"):
        verify_lookup(body, [VERIFIER], _tiles(), latest=forked)
    # A remembered bigger tree we have no tiles for: the relay is asked to fetch them.
    bigger = Tree(300, ROOT_HASH)
    need = verify_lookup(body, [VERIFIER], {}, latest=bigger)
    assert isinstance(need, NeedTiles)
    assert Tile(8, 0, 0, 256) in need.tiles


def _subtree_root(n: int) -> bytes:
    got = read_hashes_from_tiles(TREE, 8, [stored_hash_index(1, 0)], _tiles())
    assert isinstance(got, list)
    assert n == 2
    return got[0]


def test_hash_tile_verifies():
    tile = parse_tile_path(HASH_TILE)
    data = (DB / HASH_TILE).read_bytes()
    assert verify_tile(tile, data, TREE) is None
    assert _accepted(lambda bad: verify_tile(tile, bad, TREE), data) == []


def test_data_tile_verifies():
    tile = parse_tile_path(DATA_TILE)
    data = (DB / DATA_TILE).read_bytes()
    assert tile == Tile(8, -1, 0, 4)
    assert data == b"".join(r["lines"].encode() + b"\n" for r in RECORDS["records"])
    assert verify_tile(tile, data, TREE) is None
    assert _accepted(lambda bad: verify_tile(tile, bad, TREE), data) == []


def test_tiles_against_the_wrong_tree():
    forged = Tree(4, record_hash(b"forged"))
    with pytest.raises(TlogError, match="downloaded inconsistent tile"):
        verify_tile(parse_tile_path(HASH_TILE), (DB / HASH_TILE).read_bytes(), forged)
    with pytest.raises(TlogError, match="not in tree of size 3"):
        verify_tile(parse_tile_path(HASH_TILE), (DB / HASH_TILE).read_bytes(), Tree(3, ROOT_HASH))
