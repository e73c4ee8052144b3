"""Offline mode in the core: lists, ``@latest`` and ``/sumdb/`` answered from the cache alone.

Each answer is checked through a whole exchange (``exchange()`` over a ``MemoryStore``), under
``offline`` and under an upstream list beginning with ``off``; nothing reaches an upstream,
nothing missing is a 5xx.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core import KeyList, ListKeys, compile_config
from goproxy_core.module.escape import escape_path
from goproxy_core.proxy import ProxyConfig, ProxyConnection, SumdbConfig
from goproxy_core.proxy.engine import handle_request
from goproxy_core.proxy.engine.offline import OFFLINE_HIT
from goproxy_core.proxy.targets import LatestReq, ListReq
from goproxy_core.semver import sort_versions
from goproxy_core.sumdb import (
    NeedTiles,
    new_verifier,
    open_tree_note,
    parse_record,
    tile_path,
    verify_lookup,
)
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange
from offlinefix import NAME, T, fill, module_files, offline_cache

from support import parse_responses

UP = "https://up.example"
MOD = "example.com/m"
GOMOD = "module example.com/m\n\ngo 1.21\n"


def _cfg(db=None, **kw) -> ProxyConfig:
    if db is not None:
        kw["sumdb"] = (SumdbConfig(NAME, db.vkey),)
    kw.setdefault("offline", True)
    kw.setdefault("upstream", UP)
    return ProxyConfig(**kw)


def get(path: str, store, config: ProxyConfig, upstream=None):
    up = upstream if upstream is not None else ScriptedUpstream({})
    raw = exchange(
        ProxyConnection(config),
        f"GET {path} HTTP/1.1\r\nHost: proxy\r\n\r\n".encode(),
        store=store,
        upstream=up,
        now=1000.0,
    )
    (resp,) = parse_responses(raw)
    return resp


def _put_version(store, version: str, *, kinds=("info", "mod", "zip"), time: str = T, mod=MOD):
    for key, data in module_files(
        mod, version, f"module {mod}\n\ngo 1.21\n", "package m\n", time
    ).items():
        if key.rsplit(".", 1)[1] in kinds:
            store.put(key, data)


# -- lists --------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [_cfg(), ProxyConfig(upstream="off")])
def test_list_is_the_versions_held(config):
    store = MemoryStore()
    up = ScriptedUpstream({})
    for v in ("v1.10.0", "v1.2.0", "v1.2.0-rc.1", "v2.0.0+incompatible"):
        _put_version(store, v)
    _put_version(store, "v1.3.0", kinds=("mod",))  # a .mod alone counts (a go.sum /go.mod line)
    _put_version(store, "v1.4.0", kinds=("info",))
    _put_version(store, "v1.5.0", kinds=("zip",))  # a zip alone does not
    _put_version(store, "v0.0.0-20240102030405-abcdefabcdef")  # pseudo-versions are not listed
    store.put(f"{MOD}/@v/list", b"v9.9.9\n")  # an upstream's list kept from before: not read
    store.put(f"{MOD}/@v/v1.6.0.lookup", b"x")  # other files of a version do not count
    store.put(f"{MOD}/@v/v1.7.info", b"{}")  # nor a non-canonical name
    store.put(f"{MOD}/@v/v2.1.0.info", b"{}")  # nor a version the path cannot have
    store.put(f"{MOD}/sub/@v/v1.8.0.info", b"{}")  # nor another module's
    status, headers, body = get(f"/{MOD}/@v/list", store, config, up)
    assert status == 200
    assert body == b"v1.2.0-rc.1\nv1.2.0\nv1.3.0\nv1.4.0\nv1.10.0\nv2.0.0+incompatible\n"
    assert headers["cache-status"] == OFFLINE_HIT
    assert headers["cache-control"] == "public, max-age=60"
    assert up.requests == []
    assert store.get(f"{MOD}/@v/list") == b"v9.9.9\n"


def test_list_of_a_module_not_held_is_a_404_saying_so():
    store = MemoryStore()
    status, _, body = get(f"/{MOD}/@v/list", store, _cfg())
    assert status == 404
    assert b"not in this offline proxy" in body and MOD.encode() in body
    # Nothing is remembered: an import later is seen at once.
    assert store.keys() == []


def test_list_with_only_pseudo_versions_is_empty_and_latest_is_the_newest_by_time():
    store = MemoryStore()
    old = "v0.0.0-20240101000000-aaaaaaaaaaaa"
    new = "v0.0.0-20230101000000-bbbbbbbbbbbb"  # older name, newer .info Time
    _put_version(store, old, time="2024-01-01T00:00:00Z")
    _put_version(store, new, time="2024-06-01T00:00:00Z")
    _put_version(store, "v0.0.0-20250101000000-cccccccccccc", kinds=("mod",))  # no .info
    store.put(f"{MOD}/@v/v0.0.0-20250102000000-dddddddddddd.info", b"not json")
    status, _, body = get(f"/{MOD}/@v/list", store, _cfg())
    assert (status, body) == (200, b"")
    status, headers, body = get(f"/{MOD}/@latest", store, _cfg())
    assert status == 200 and json.loads(body)["Version"] == new
    assert headers["cache-status"] == OFFLINE_HIT


@pytest.mark.parametrize(
    ("held", "latest"),
    [
        (["v1.0.0", "v1.1.0", "v1.2.0-pre"], "v1.1.0"),  # the highest release
        (["v1.0.0-a", "v1.0.0-b"], "v1.0.0-b"),  # else the highest pre-release
        (["v1.0.0", "v2.0.0+incompatible"], "v1.0.0"),  # v1.0.0 has a real go.mod
        (["v1.0.0", "v0.0.0-20990101000000-abcdefabcdef"], "v1.0.0"),  # a tag beats time
    ],
)
def test_latest_is_what_the_go_command_would_pick(held, latest):
    store = MemoryStore()
    for v in held:
        _put_version(store, v)
    _put_version(store, "v1.9.0", kinds=("mod",))  # no .info: never latest
    status, _, body = get(f"/{MOD}/@latest", store, ProxyConfig(upstream="off"))
    assert status == 200 and json.loads(body)["Version"] == latest


def test_incompatible_counts_when_the_compatible_gomod_is_synthesized():
    store = MemoryStore()
    _put_version(store, "v2.0.0+incompatible")
    _put_version(store, "v1.0.0", kinds=("info",))
    store.put(f"{MOD}/@v/v1.0.0.mod", f"module {MOD}\n".encode())
    _, _, body = get(f"/{MOD}/@latest", store, _cfg())
    assert json.loads(body)["Version"] == "v2.0.0+incompatible"


def test_latest_of_a_module_not_held_is_a_404_never_a_5xx():
    store = MemoryStore()
    _put_version(store, "v1.0.0", kinds=("mod", "zip"))
    status, _, body = get(f"/{MOD}/@latest", store, _cfg())
    assert status == 404 and b"not in this offline proxy" in body
    status, _, body = get("/example.com/other/@latest", store, _cfg())
    assert status == 404 and b"not in this offline proxy" in body


def test_hide_leaves_retracted_versions_out_offline():
    store = MemoryStore()
    for v in ("v1.0.0", "v1.1.0"):
        _put_version(store, v)
    store.put(f"{MOD}/@v/v1.1.0.mod", f"{GOMOD}\nretract v1.1.0 // broken\n".encode())
    cfg = _cfg(retracted="hide")
    assert get(f"/{MOD}/@v/list", store, cfg)[2] == b"v1.0.0\n"
    assert json.loads(get(f"/{MOD}/@latest", store, cfg)[2])["Version"] == "v1.0.0"


def test_offline_reaches_nothing_even_for_private_modules():
    store = MemoryStore()
    up = ScriptedUpstream({})
    cfg = _cfg(private="example.com/*", anonymous="*")
    status, _, body = get(f"/{MOD}/@v/v1.0.0.info", store, cfg, up)
    assert status == 404 and b"not in this offline proxy" in body
    assert get(f"/{MOD}/@v/list", store, cfg, up)[0] == 404
    assert up.requests == []
    assert store.keys() == []  # no not-found is remembered: nobody was asked
    # Under "off" alone a private module still comes from its repository (unchanged).
    up = ScriptedUpstream({f"direct:{MOD}@list": (200, b"v1.0.0\n")})
    cfg = ProxyConfig(upstream="off", private="example.com/*", anonymous="*")
    assert get(f"/{MOD}/@v/list", MemoryStore(), cfg, up)[2] == b"v1.0.0\n"
    assert up.requests == [f"direct:{MOD}@list"]


def test_readyz_says_offline():
    status, _, body = get("/readyz", MemoryStore(), _cfg(min_free_space=0))
    assert (status, body) == (200, b"ready (offline: every answer comes from the cache)\n")


def test_a_store_that_cannot_list_is_the_cache_failing():
    cfg = compile_config(_cfg())
    flow = handle_request(cfg, ListReq(module=MOD, escaped=MOD), 1000.0)
    effect = next(flow)
    assert effect == ListKeys(f"{MOD}/@v/")
    with pytest.raises(StopIteration) as stop:
        flow.send(KeyList(error="cache /srv/c: input/output error"))
    reply = stop.value.value
    assert reply.status == 503 and b"cache /srv/c: input/output error" in reply.body


def test_a_listing_cut_short_still_answers_what_it_has():
    cfg = compile_config(_cfg())
    flow = handle_request(cfg, LatestReq(module=MOD, escaped=MOD), 1000.0)
    assert next(flow) == ListKeys(f"{MOD}/@v/")
    info = json.dumps({"Version": "v1.0.0", "Time": T}).encode()
    effect = flow.send(KeyList((f"{MOD}/@v/v1.0.0.info",), complete=False))
    assert effect.key == f"{MOD}/@v/v1.0.0.info"
    from goproxy_core import BlobData

    with pytest.raises(StopIteration) as stop:
        flow.send(BlobData(info, 0.0))
    assert stop.value.value.body == info


_VERSION = st.builds(
    lambda a, b, c, pre: f"v{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 1),
    st.integers(0, 12),
    st.integers(0, 12),
    st.sampled_from(["", "rc.1", "alpha", "0"]),
)


@settings(max_examples=40, deadline=None)
@given(st.sets(_VERSION, min_size=1, max_size=8))
def test_list_is_every_held_version_sorted_once(versions):
    store = MemoryStore()
    for v in versions:
        _put_version(store, v, kinds=("info",))
    _, _, body = get(f"/{MOD}/@v/list", store, _cfg())
    assert body.decode().splitlines() == sort_versions(list(versions))


# -- the checksum database ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ready():
    return offline_cache()


def _store(files, drop=()) -> MemoryStore:
    store = MemoryStore()
    fill(store, {k: v for k, v in files.items() if not any(k.startswith(d) for d in drop)})
    return store


@pytest.mark.parametrize("offline", [True, False])
def test_sumdb_endpoints_answer_from_the_cache(ready, offline):
    files, db = ready
    up = ScriptedUpstream({})
    cfg = _cfg(db) if offline else ProxyConfig(upstream="off", sumdb=(SumdbConfig(NAME, db.vkey),))
    store = _store(files)
    base = f"/sumdb/{NAME}"
    status, headers, body = get(f"{base}/supported", store, cfg, up)
    assert (status, body) == (200, b"")
    status, _, body = get(f"{base}/latest", store, cfg, up)
    assert status == 200 and body == db.note()
    tile = next(p for p in db.files() if p.startswith("tile/8/0/"))
    status, headers, body = get(f"{base}/{tile}", store, cfg, up)
    assert (status, body) == (200, db.files()[tile])
    assert headers["content-type"] == "application/octet-stream"
    lookup = "lookup/example.com/lib@v1.1.0"
    assert get(f"{base}/{lookup}", store, cfg, up)[2] == db.files()[lookup]
    assert up.requests == []


def test_without_a_verified_tree_the_database_is_not_supported(ready):
    files, db = ready
    store = _store(files, drop=("_goproxy/", f"sumdb/{NAME}/lookup/"))
    for what in ("supported", "latest", "lookup/example.com/lib@v1.0.0"):
        status, _, body = get(f"/sumdb/{NAME}/{what}", store, _cfg(db))
        assert status == 404 and b"no tree of it verified in this offline proxy" in body
    # A tree signed by another key is no verified tree either.
    store.put(f"_goproxy/sumdb/{NAME}/verified-tree", b"go.sum database tree\n3\nx\n")
    assert get(f"/sumdb/{NAME}/supported", store, _cfg(db))[0] == 404


def test_a_missing_tile_is_a_404_naming_it(ready):
    files, db = ready
    store = _store(files)
    status, _, body = get(f"/sumdb/{NAME}/tile/8/0/001", store, _cfg(db))
    assert status == 404
    assert (
        body
        == b"not found: tile/8/0/001 of checksum database sumdb.test: not in this offline proxy\n"
    )


def test_a_lookup_is_composed_from_the_kept_proof_and_the_tree(ready):
    files, db = ready
    store = _store(files, drop=(f"sumdb/{NAME}/lookup/",))
    status, _, body = get(f"/sumdb/{NAME}/lookup/example.com/app@v1.0.0", store, _cfg(db))
    assert status == 200
    assert body == files[f"sumdb/{NAME}/lookup/example.com/app@v1.0.0"]
    tiles = {}
    while isinstance(got := verify_lookup(body, [new_verifier(db.vkey)], tiles), NeedTiles):
        for t in got.tiles:
            tiles[t] = db.files()[tile_path(t)]
    assert got.lines("example.com/app", "v1.0.0")


def test_a_lookup_composed_with_a_newer_tree(ready):
    """A proof kept from an older tree is answered with the newest tree held."""
    files, _ = ready
    files = dict(files)
    old_note = files[f"_goproxy/sumdb/{NAME}/verified-tree"]
    proof = files["example.com/lib/@v/v1.0.0.lookup"]
    assert proof.endswith(old_note)
    _, same = offline_cache()  # the same log, in a database of its own to grow
    grown, db2 = offline_cache(
        [("example.com/new", "v1.0.0", "module example.com/new\n", "package new\n")], db=same
    )
    store = _store(
        {**grown, "example.com/lib/@v/v1.0.0.lookup": proof}, drop=(f"sumdb/{NAME}/lookup/",)
    )
    status, _, body = get(f"/sumdb/{NAME}/lookup/example.com/lib@v1.0.0", store, _cfg(db2))
    assert status == 200
    id, text, note = parse_record(body)
    assert note == db2.note() and open_tree_note(note, [new_verifier(db2.vkey)]).N == 4
    assert id == parse_record(proof)[0] and text == parse_record(proof)[1]


def test_a_lookup_without_its_tiles_or_proof_is_a_404(ready):
    files, db = ready
    store = _store(files, drop=(f"sumdb/{NAME}/lookup/", f"sumdb/{NAME}/tile/8/0/"))
    status, _, body = get(f"/sumdb/{NAME}/lookup/example.com/lib@v1.0.0", store, _cfg(db))
    assert status == 404
    assert b"tile/8/0/000.p/3 of checksum database sumdb.test" in body
    assert b"not in this offline proxy" in body
    status, _, body = get(f"/sumdb/{NAME}/lookup/example.com/lib@v9.0.0", store, _cfg(db))
    assert status == 404 and b"record of example.com/lib@v9.0.0" in body


def test_a_tampered_tile_or_proof_proves_nothing(ready):
    files, db = ready
    store = _store(files, drop=(f"sumdb/{NAME}/lookup/",))
    tile = f"sumdb/{NAME}/tile/8/0/000.p/3"
    bad = bytearray(files[tile])
    bad[5] ^= 1
    store.put(tile, bytes(bad))
    status, _, body = get(f"/sumdb/{NAME}/lookup/example.com/lib@v1.0.0", store, _cfg(db))
    assert status == 404 and b"a proof of example.com/lib@v1.0.0" in body
    store = _store(files, drop=(f"sumdb/{NAME}/lookup/",))
    store.put("example.com/lib/@v/v1.0.0.lookup", b"garbage")
    status, _, body = get(f"/sumdb/{NAME}/lookup/example.com/lib@v1.0.0", store, _cfg(db))
    assert status == 404 and b"readable checksum database record" in body


def test_a_partial_tile_is_read_from_its_full_tile(ready):
    """Proving a composed lookup, a full tile stands in for a partial one (as in the go
    command's own reader)."""
    files, db = ready
    store = _store(files, drop=(f"sumdb/{NAME}/lookup/",))
    # Pretend the head's partial tile is only held as a longer tile (its prefix is the same).
    partial = f"sumdb/{NAME}/tile/8/0/000.p/3"
    data = store.get(partial)
    store.delete(partial)
    store.put(f"sumdb/{NAME}/tile/8/0/000", data + b"\0" * 32 * 253)
    status, _, _ = get(f"/sumdb/{NAME}/lookup/example.com/lib@v1.0.0", store, _cfg(db))
    assert status == 200


def test_online_relay_is_unchanged_with_a_database_url(ready):
    """``off`` with a database URL of its own still reaches the database: not offline."""
    _, db = ready
    url = "https://db.example"
    up = ScriptedUpstream({f"{url}/latest": (200, db.note())})
    cfg = ProxyConfig(upstream="off", sumdb=(SumdbConfig(NAME, db.vkey, url=url),))
    status, _, body = get(f"/sumdb/{NAME}/latest", MemoryStore(), cfg, up)
    assert (status, body) == (200, db.note())
    assert up.requests == [f"{url}/latest"]
    # ``offline`` reaches not even that URL.
    up = ScriptedUpstream({f"{url}/latest": (200, db.note())})
    cfg = _cfg(sumdb=(SumdbConfig(NAME, db.vkey, url=url),))
    assert get(f"/sumdb/{NAME}/latest", MemoryStore(), cfg, up)[0] == 404
    assert up.requests == []


def test_a_proxy_that_verifies_keeps_the_supported_marker(ready):
    """The first verification against a database writes ``sumdb/<name>/supported``, so the
    cache, as a ``file://`` GOPROXY tree, offers the proofs it holds."""
    files, db = ready
    routes = {f"{UP}/{k}": (200, v) for k, v in files.items() if not k.startswith("_goproxy")}
    routes[f"{UP}/sumdb/{NAME}/supported"] = (200, b"")
    cfg = ProxyConfig(upstream=UP, sumdb=(SumdbConfig(NAME, db.vkey),))
    store = MemoryStore()
    status, _, _ = get("/example.com/lib/@v/v1.0.0.mod", store, cfg, ScriptedUpstream(routes))
    assert status == 200
    assert store.get(f"sumdb/{NAME}/supported") == b""
    assert store.get(f"_goproxy/sumdb/{NAME}/verified-tree") == db.note()
    assert store.get(escape_path("example.com/lib") + "/@v/v1.0.0.lookup") is not None


def test_answering_keys_listed_out_of_turn_is_misuse():
    from goproxy_core.errors import LocalProtocolError

    conn = ProxyConnection(_cfg())
    with pytest.raises(LocalProtocolError):
        conn.keys_listed(KeyList())
