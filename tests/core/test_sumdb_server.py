"""Serving a checksum database from its log (goproxy_core.sumdb.server).

Judged three ways: the fixture database in tests/data (built by x/mod's own server code) is
rebuilt byte for byte from its records and signer key; a log grown record by record answers
lookups and tiles that the core's client checks (``verify_lookup``, ``verify_tile``,
``check_tree_consistency``) accept at every size; and what it refuses, it refuses by name.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core.sumdb import (
    TILE_HEIGHT,
    InvalidKeyError,
    LookupResult,
    Tile,
    TlogError,
    append_hashes,
    check_tree_consistency,
    data_tile,
    generate_key,
    gosum_record,
    hash_gomod,
    hash_record,
    hash_tile,
    hash_zip,
    lookup_body,
    new_signer,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    signed_tree,
    tile_in_tree,
    tree_hash,
    verifier_key,
    verify_lookup,
    verify_tile,
)
from goproxy_core.sumdb.tile import new_tiles

from support import DATA_DIR

ROOT = DATA_DIR / "sumdb-fixture" / "sumdb" / "localhost.localdev"
DB = ROOT / "sumdb"
FIXTURE = json.loads((ROOT / "sumdb.records.json").read_text(encoding="utf-8"))


class Log:
    """A log in memory, kept the way a store keeps it: records and stored hashes."""

    def __init__(self, signer_key: str) -> None:
        self.signer = new_signer(signer_key)
        self.records: list[bytes] = []
        self.hashes: dict[int, bytes] = {}

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def read_records(self, start: int, count: int) -> list[bytes]:
        return self.records[start : start + count]

    def append(self, text: bytes) -> int:
        n = len(self.records)
        first, hashes = append_hashes(n, text, self.read_hashes)
        for i, h in enumerate(hashes):
            self.hashes[first + i] = h
        self.records.append(text)
        return n

    def latest(self) -> bytes:
        return signed_tree(len(self.records), self.read_hashes, self.signer)

    def lookup(self, id: int) -> bytes:
        return lookup_body(id, self.records[id], self.latest())

    def tile(self, tile: Tile) -> bytes:
        n = len(self.records)
        if tile.L == -1:
            return data_tile(tile, n, self.read_records)
        return hash_tile(tile, n, self.read_hashes)


def _fixture_log() -> Log:
    log = Log(FIXTURE["signer_key"])
    for rec in FIXTURE["records"]:
        assert log.append(rec["lines"].encode()) == rec["id"]
    return log


# -- the fixture database, rebuilt ------------------------------------------------------------


def test_the_fixture_database_is_rebuilt_byte_for_byte():
    log = _fixture_log()
    assert log.latest() == (DB / "latest").read_bytes()
    for rec in FIXTURE["records"]:
        assert log.lookup(rec["id"]) == (DB / rec["lookup_path"]).read_bytes()
    for path in ("tile/8/0/000.p/4", "tile/8/data/000.p/4"):
        assert log.tile(parse_tile_path(path)) == (DB / path).read_bytes()


def test_the_fixture_key_pair():
    assert verifier_key(FIXTURE["signer_key"]) == FIXTURE["verifier_key"]


# -- records ------------------------------------------------------------------------------------


def _zip(module: str, version: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(f"{module}@{version}/{name}", data)
    return buf.getvalue()


def test_a_record_is_the_two_go_sum_lines():
    gomod = b"module example.com/m\n"
    data = _zip("example.com/m", "v1.0.0", {"go.mod": gomod, "m.go": b"package m\n"})
    text = hash_record("example.com/m", "v1.0.0", io.BytesIO(data), gomod)
    zh, mh = hash_zip(io.BytesIO(data)), hash_gomod(gomod)
    assert text == f"example.com/m v1.0.0 {zh}\nexample.com/m v1.0.0/go.mod {mh}\n".encode()
    assert text == gosum_record("example.com/m", "v1.0.0", zh, mh)
    got = LookupResult(0, text, None, b"")  # type: ignore[arg-type]
    assert got.lines("example.com/m", "v1.0.0") == [f"example.com/m v1.0.0 {zh}"]
    assert got.lines("example.com/m", "v1.0.0/go.mod") == [f"example.com/m v1.0.0/go.mod {mh}"]


def test_a_malformed_record_is_refused():
    with pytest.raises(TlogError, match="malformed record data"):
        lookup_body(0, b"no newline", b"")


# -- keys ---------------------------------------------------------------------------------------


@given(
    st.binary(min_size=32, max_size=32),
    st.from_regex(r"[a-z][a-z0-9.]{0,20}\.test", fullmatch=True),
)
def test_the_verifier_key_of_a_signer_key(seed, name):
    skey, vkey = generate_key(name, seed)
    assert verifier_key(skey) == vkey
    signer = new_signer(skey)
    note = signed_tree(0, lambda _: [], signer)
    assert open_tree_note(note, [new_verifier(vkey)]).N == 0


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "PRIVATE+KEY+name+00000000+",
        "sumdb.test+0e6e2a9c+AQ6D8Ob8SPt6P0gwKJa1lgPpD/xdZ/xH3A8eQ7D5KEXv",  # a verifier key
        FIXTURE["signer_key"][:-2],
    ],
)
def test_verifier_key_refuses_what_is_not_a_signer_key(bad):
    with pytest.raises(InvalidKeyError):
        verifier_key(bad)


# -- tiles --------------------------------------------------------------------------------------


def test_tiles_in_and_out_of_the_tree():
    assert tile_in_tree(Tile(8, 0, 0, 4), 4)
    assert not tile_in_tree(Tile(8, 0, 0, 5), 4)
    assert tile_in_tree(Tile(8, -1, 0, 4), 4)
    assert not tile_in_tree(Tile(4, 0, 0, 4), 4)  # only height 8 is served
    assert not tile_in_tree(Tile(8, 1, 0, 1), 255)
    assert tile_in_tree(Tile(8, 1, 0, 1), 256)
    assert tile_in_tree(Tile(8, 0, 1, 1), 257)
    log = _fixture_log()
    with pytest.raises(TlogError, match="not in tree of size 4"):
        log.tile(Tile(8, 0, 0, 5))
    with pytest.raises(TlogError, match="not in tree of size 4"):
        log.tile(Tile(8, -1, 0, 5))
    with pytest.raises(TlogError, match="not in tree"):
        hash_tile(Tile(8, -1, 0, 1), 4, log.read_hashes)
    with pytest.raises(TlogError, match="not in tree"):
        data_tile(Tile(8, 0, 0, 1), 4, log.read_records)
    with pytest.raises(TlogError, match="read 1 records"):
        data_tile(Tile(8, -1, 0, 2), 4, lambda start, n: [b"x\n"])


# -- a growing log, checked by the client's own checks -----------------------------------------

SKEY, VKEY = generate_key("sumdb.test", bytes(range(32)))
VERIFIER = new_verifier(VKEY)


def _record(i: int) -> bytes:
    return gosum_record(
        f"example.com/m{i}", "v1.0.0", "h1:" + "A" * 43 + "=", "h1:" + "B" * 43 + "="
    )


def _all_tiles(log: Log) -> dict[Tile, bytes]:
    n = len(log.records)
    return {t: log.tile(t) for t in new_tiles(TILE_HEIGHT, 0, n)}


def _check_size(log: Log, old_latest: bytes | None) -> None:
    n = len(log.records)
    latest = log.latest()
    tree = open_tree_note(latest, [VERIFIER])
    assert n == tree.N
    assert tree.hash == tree_hash(n, log.read_hashes)
    tiles = _all_tiles(log)
    for t, data in tiles.items():
        assert verify_tile(t, data, tree, tiles) is None
        d = Tile(t.H, -1, t.N, t.W)
        if t.L == 0:
            assert verify_tile(d, log.tile(d), tree, tiles) is None
    for id in {0, n // 2, n - 1}:
        got = verify_lookup(log.lookup(id), [VERIFIER], tiles)
        assert isinstance(got, LookupResult)
        assert (got.id, got.text, got.tree) == (id, log.records[id], tree)
    if old_latest is not None:
        old = open_tree_note(old_latest, [VERIFIER])
        assert check_tree_consistency(old, tree, tiles) is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=4))
def test_a_growing_log_verifies_at_every_step(steps):
    log = Log(SKEY)
    old = None
    for step in steps:
        for _ in range(step):
            log.append(_record(len(log.records)))
        _check_size(log, old)
        old = log.latest()


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=600), st.data())
def test_a_changed_record_or_hash_is_caught(n, data):
    log = Log(SKEY)
    for i in range(n):
        log.append(_record(i))
    tiles = _all_tiles(log)
    tree = open_tree_note(log.latest(), [VERIFIER])
    id = data.draw(st.integers(min_value=0, max_value=n - 1))
    # A record served other than logged does not authenticate.
    body = lookup_body(id, _record(id + n), log.latest())
    with pytest.raises(TlogError, match="cannot authenticate"):
        verify_lookup(body, [VERIFIER], tiles)
    # A flipped byte in any tile served is refused against the signed tree.
    t = data.draw(st.sampled_from(sorted(tiles, key=lambda t: (t.L, t.N))))
    pos = data.draw(st.integers(min_value=0, max_value=len(tiles[t]) - 1))
    bad = bytearray(tiles[t])
    bad[pos] ^= 1
    others = {k: v for k, v in tiles.items() if k != t}
    with pytest.raises(TlogError):
        verify_tile(t, bytes(bad), tree, others)
