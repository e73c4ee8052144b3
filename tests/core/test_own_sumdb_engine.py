"""The engine's side of the own checksum database, with no sockets: ``/sumdb/<own name>/...``.

Answers come from a log in memory (``MemorySumdb``); every answer is checked with the
core's client checks, as the go command checks them.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core.proxy import (
    ConfigError,
    ProxyConfig,
    ProxyConnection,
    RetractedPolicy,
    SumdbConfig,
    compile_config,
)
from goproxy_core.sumdb import (
    LookupResult,
    generate_key,
    hash_gomod,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    verify_lookup,
    verify_tile,
)
from goproxy_core.testing import MemoryStore, MemorySumdb, ScriptedUpstream, exchange

from support import make_zip, parse_responses

UP = "https://up.example"
NAME = "sumdb.test"
SKEY, VKEY = generate_key(NAME, bytes(32))
VERIFIER = new_verifier(VKEY)
MOD = "example.com/m"
PRIV = "corp.example/p"
GOMOD = b"module example.com/m\n"
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package m\n"})
PGOMOD = b"module corp.example/p\n"
PZIP = make_zip(PRIV, "v1.0.0", {"go.mod": PGOMOD})


class Direct:
    """Answers ``FetchDirect`` for the private module; ``FetchUpstream`` from the table."""

    def __init__(self) -> None:
        self.up = ScriptedUpstream(
            {
                f"{UP}/{MOD}/@v/v1.0.0.mod": (200, GOMOD),
                f"{UP}/{MOD}/@v/v1.0.0.zip": (200, ZIP, "application/zip"),
                f"{UP}/{MOD}/@v/v2.0.0.mod": (404, b"not found: no such version"),
                f"{UP}/example.com/badzip/@v/v1.0.0.mod": (200, b"module example.com/badzip\n"),
                f"{UP}/example.com/badzip/@v/v1.0.0.zip": (200, b"not a zip"),
            }
        )
        self.direct: list[str] = []

    def __call__(self, effect):
        from goproxy_core.proxy import FetchDirect, UpstreamResult

        if isinstance(effect, FetchDirect):
            self.direct.append(f"{effect.module}@{effect.file}")
            body = {"v1.0.0.mod": PGOMOD, "v1.0.0.zip": PZIP}.get(effect.file)
            return UpstreamResult(status=200 if body else 404, body=body or b"not found")
        return self.up(effect)


def config(**kw) -> ProxyConfig:
    return ProxyConfig(upstream=UP, private="corp.example", own_sumdb=NAME, anonymous="*", **kw)


def get(path: str, *, log: MemorySumdb, store: MemoryStore, up=None, cfg=None):
    conn = ProxyConnection(cfg or config())
    raw = exchange(
        conn,
        f"GET /sumdb/{NAME}/{path} HTTP/1.1\r\nHost: p\r\n\r\n".encode(),
        store=store,
        upstream=up or Direct(),
        sumdb=log,
    )
    (resp,) = parse_responses(raw)
    return resp


@pytest.fixture
def log():
    return MemorySumdb(SKEY)


@pytest.fixture
def store():
    return MemoryStore()


def _tiles(log, store, tree_size):
    from goproxy_core.sumdb.tile import new_tiles

    out = {}
    for t in new_tiles(8, 0, tree_size):
        status, _, body = get(t.path(), log=log, store=store)
        assert status == 200
        out[t] = body
    return out


def test_supported_and_an_empty_latest(log, store):
    assert get("supported", log=log, store=store)[0] == 200
    status, headers, body = get("latest", log=log, store=store)
    assert status == 200
    assert headers["cache-control"] == "no-cache"
    assert open_tree_note(body, [VERIFIER]).N == 0


def test_a_lookup_takes_the_version_in_and_logs_it_once(log, store):
    up = Direct()
    status, headers, body = get("lookup/example.com/m@v1.0.0", log=log, store=store, up=up)
    assert status == 200, body
    assert "stored" in headers["cache-status"]
    got = verify_lookup(body, [VERIFIER], _tiles(log, store, 1))
    assert isinstance(got, LookupResult)
    assert got.id == 0
    assert got.lines(MOD, "v1.0.0/go.mod") == [f"{MOD} v1.0.0/go.mod {hash_gomod(GOMOD)}"]
    # the version's files were stored on the way, as for any client
    assert store.get(f"{MOD}/@v/v1.0.0.zip") == ZIP
    assert store.get(f"{MOD}/@v/v1.0.0.mod") == GOMOD
    asked = list(up.up.requests)
    status, headers, again = get("lookup/example.com/m@v1.0.0", log=log, store=store, up=up)
    assert (status, again) == (200, body)
    assert "hit" in headers["cache-status"]
    assert up.up.requests == asked
    assert len(log.records) == 1


def test_private_modules_are_logged_from_direct_mode(log, store):
    up = Direct()
    get("lookup/example.com/m@v1.0.0", log=log, store=store, up=up)
    status, _, body = get("lookup/corp.example/p@v1.0.0", log=log, store=store, up=up)
    assert status == 200, body
    assert up.direct == [f"{PRIV}@v1.0.0.mod", f"{PRIV}@v1.0.0.zip"]
    assert not any("corp.example" in u for u in up.up.requests)
    tiles = _tiles(log, store, 2)
    got = verify_lookup(body, [VERIFIER], tiles)
    assert isinstance(got, LookupResult) and got.id == 1
    tree = got.tree
    for t, data in tiles.items():
        assert verify_tile(t, data, tree, tiles) is None
    data_tile = parse_tile_path("tile/8/data/000.p/2")
    status, headers, body = get(data_tile.path(), log=log, store=store)
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert verify_tile(data_tile, body, tree, tiles) is None


def test_tiles_not_in_the_tree_and_other_heights(log, store):
    get("lookup/example.com/m@v1.0.0", log=log, store=store)
    status, headers, body = get("tile/8/0/000.p/1", log=log, store=store)
    assert status == 200 and headers["cache-control"].endswith("immutable")
    assert headers["content-type"] == "application/octet-stream"
    status, _, body = get("tile/8/0/000.p/2", log=log, store=store)
    assert status == 404 and b"not in the log yet" in body
    status, _, body = get("tile/4/0/000.p/1", log=log, store=store)
    assert status == 404 and b"height 8" in body


def test_what_cannot_be_logged_is_not(log, store):
    status, _, body = get("lookup/example.com/m@v2.0.0", log=log, store=store)
    assert status == 404
    assert b"example.com/m@v2.0.0" in body
    status, _, body = get("lookup/example.com/badzip@v1.0.0", log=log, store=store)
    assert status == 502, body
    status, _, body = get("lookup/example.com/m@v1.0", log=log, store=store)
    assert status == 400
    assert log.records == []


def test_a_failing_log_is_a_500(log, store):
    log.error = "disk full"
    for path in ("latest", "lookup/example.com/m@v1.0.0", "tile/8/0/000.p/1"):
        status, _, body = get(path, log=log, store=store)
        assert status == 500
        assert b"disk full" in body


def test_a_failing_append_is_a_500(store):
    class Failing(MemorySumdb):
        def answer(self, effect, store):
            from goproxy_core.proxy import AppendSumdb, SumdbAnswer

            if isinstance(effect, AppendSumdb):
                return SumdbAnswer(found=False, error="locked")
            return super().answer(effect, store)

    status, _, body = get("lookup/example.com/m@v1.0.0", log=Failing(SKEY), store=store)
    assert status == 500 and b"locked" in body


def test_gone_versions_are_not_logged(log, store):
    retracting = b"module example.com/r\n\nretract v1.0.0 // broken\n"
    up = ScriptedUpstream(
        {
            f"{UP}/example.com/r/@v/list": (200, b"v1.0.0\nv1.1.0\n"),
            f"{UP}/example.com/r/@latest": (200, b'{"Version":"v1.1.0"}'),
            f"{UP}/example.com/r/@v/v1.1.0.mod": (200, retracting),
            f"{UP}/example.com/r/@v/v1.0.0.mod": (200, b"module example.com/r\n"),
        }
    )
    cfg = config(retracted=RetractedPolicy.GONE)
    status, _, body = get("lookup/example.com/r@v1.0.0", log=log, store=store, up=up, cfg=cfg)
    assert status == 410, body
    assert log.records == []


def test_without_a_log_the_answer_is_a_500(store):
    conn = ProxyConnection(config())
    raw = exchange(
        conn, f"GET /sumdb/{NAME}/latest HTTP/1.1\r\nHost: p\r\n\r\n".encode(), store=store
    )
    assert parse_responses(raw)[0][0] == 500


def test_other_names_are_still_relayed_or_refused(log, store):
    conn = ProxyConnection(config())
    raw = exchange(
        conn, b"GET /sumdb/other.test/supported HTTP/1.1\r\nHost: p\r\n\r\n", store=store
    )
    assert parse_responses(raw)[0][0] == 404


def test_an_own_name_is_not_also_relayed():
    vkey = generate_key(NAME, b"r" * 32)[1]
    with pytest.raises(ConfigError, match="both relayed"):
        compile_config(ProxyConfig(own_sumdb=NAME, sumdb=(SumdbConfig(NAME, vkey),)))


@pytest.mark.parametrize("name", ["bad name", "a+b", "-x", "a..b", "x/"])
def test_an_own_name_must_be_a_database_name(name):
    with pytest.raises(ConfigError, match="own checksum database name"):
        compile_config(ProxyConfig(own_sumdb=name))


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="abcXYZ.!-_/~@+019", min_size=1, max_size=30),
    st.text(alphabet="v0123456789.-+abincompatible!", min_size=1, max_size=30),
)
def test_any_lookup_target_gets_an_answer_and_logs_only_what_it_serves(path, version):
    log, store = MemorySumdb(SKEY), MemoryStore()
    status, _, body = get(f"lookup/{path}@{version}", log=log, store=store)
    assert status in (200, 400, 404, 410, 502), body
    if status == 200:
        assert (path, version) == ("example.com/m", "v1.0.0")
    assert len(log.records) == (status == 200)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="tile/0123456789.pdatx", min_size=1, max_size=30))
def test_any_tile_target_gets_an_answer(path):
    log, store = MemorySumdb(SKEY), MemoryStore()
    get("lookup/example.com/m@v1.0.0", log=log, store=store)
    status, _, body = get(path, log=log, store=store)
    assert status in (200, 400, 404), body
    if status == 200:
        assert path in ("tile/8/0/000.p/1", "tile/8/data/000.p/1")
