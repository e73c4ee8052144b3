"""Verify before storing: every .mod and .zip from an upstream is checked against the
checksum database first; nothing tampered is ever kept, and a healed upstream just works.

The database is a fixture built with the core's own note and tlog code (tests/sumdbfix.py),
mirrored by the upstream under ``sumdb/<name>/`` as a proxy mirrors one.
"""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from goproxy_core import (
    FetchUpstream,
    ProxyConfig,
    ProxyConnection,
    SumdbConfig,
    UpstreamResult,
)
from goproxy_core.proxy.record import FileRecord, decode_record
from goproxy_core.sumdb import hash_gomod, hash_zip
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange
from sumdbfix import FixtureDB

from support import make_zip, parse_responses

UP = "https://up.example"
MOD = "example.com/m"
P = f"{UP}/{MOD}/@v/"
GOMOD = b"module example.com/m\n\ngo 1.21\n"
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package m\n"})
BAD_ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package m // evil\n"})
INFO = json.dumps({"Version": "v1.0.0", "Time": "2024-01-01T00:00:00Z"}).encode()
NAME = "sumdb.test"
MIRROR = f"{UP}/sumdb/{NAME}"


def make_db(name: str = NAME, seed: bytes = b"s" * 32, extra: int = 3) -> FixtureDB:
    db = FixtureDB(name, seed)
    for i in range(extra):
        db.add_record(f"example.com/o{i}@v1.0.0", f"example.com/o{i} v1.0.0 h1:o{i}=\n".encode())
    db.add(MOD, "v1.0.0", GOMOD, ZIP)
    db.publish()
    return db


DBF = make_db()


def routes(db: FixtureDB = DBF, base: str = MIRROR) -> dict:
    r: dict = {
        P + "list": (200, b"v1.0.0\n"),
        P + "v1.0.0.info": (200, INFO),
        P + "v1.0.0.mod": (200, GOMOD),
        P + "v1.0.0.zip": (200, ZIP, "application/zip"),
    }
    r.update(db.routes(base))
    return r


def config(db: FixtureDB = DBF, **kw) -> ProxyConfig:
    url = kw.pop("url", "")
    kw.setdefault("upstream", UP)
    # These heal at once; failures remembered for failure_ttl are tested in test_engine.
    kw.setdefault("failure_ttl", 0.0)
    return ProxyConfig(sumdb=(SumdbConfig(db.name, db.vkey, url),), **kw)


def get(path: str, store: MemoryStore, up: ScriptedUpstream, cfg: ProxyConfig | None = None):
    conn = ProxyConnection(cfg or config())
    raw = exchange(
        conn, f"GET {path} HTTP/1.1\r\nHost: p\r\n\r\n".encode(), store=store, upstream=up, now=10.0
    )
    got = parse_responses(raw)
    assert got, raw
    return got[0][0], got[0][1], got[0][2], conn


def stored_versions(store: MemoryStore) -> list[str]:
    return sorted(k for k in list(store.keys()) if k.startswith(MOD + "/@v/v1.0.0."))


def test_good_version_is_verified_and_stored_with_its_proof():
    store, up = MemoryStore(), ScriptedUpstream(routes())
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, up)[:3:2] == (200, GOMOD)
    assert get(f"/{MOD}/@v/v1.0.0.zip", store, up)[:3:2] == (200, ZIP)
    assert stored_versions(store) == [
        f"{MOD}/@v/v1.0.0.lookup",
        f"{MOD}/@v/v1.0.0.mod",
        f"{MOD}/@v/v1.0.0.record",
        f"{MOD}/@v/v1.0.0.zip",
    ]
    # The record: both files' hashes, sizes, digests, where from, when, proven by whom.
    rec = decode_record(store.get(f"{MOD}/@v/v1.0.0.record") or b"")
    assert rec is not None
    assert (rec.module, rec.version) == (MOD, "v1.0.0")
    assert rec.mod == FileRecord(
        hash_gomod(GOMOD), len(GOMOD), hashlib.sha256(GOMOD).hexdigest(), UP, 10.0, NAME, ""
    )
    assert rec.zip is not None
    assert (rec.zip.h1, rec.zip.size) == (hash_zip(io.BytesIO(ZIP)), len(ZIP))
    assert rec.zip.sha256 == hashlib.sha256(ZIP).hexdigest()
    assert (rec.zip.upstream, rec.zip.sumdb, rec.zip.unverified) == (UP, NAME, "")
    # The proof is the lookup body; the zip after the .mod needed no second lookup.
    assert store.get(f"{MOD}/@v/v1.0.0.lookup") == DBF.files()[f"lookup/{MOD}@v1.0.0"]
    assert sum("/lookup/" in u for u in up.requests) == 1
    assert f"{MIRROR}/supported" in up.requests
    # The newest verified tree is kept; the tiles that proved the record too.
    assert store.get(f"_goproxy/sumdb/{NAME}/verified-tree") == DBF.note()
    assert store.get(f"sumdb/{NAME}/tile/8/0/000.p/4") == DBF.files()["tile/8/0/000.p/4"]


def _tampered(path: str, data: bytes) -> tuple[int, bytes, MemoryStore, ScriptedUpstream]:
    store = MemoryStore()
    r = routes()
    r[path] = (200, data) if "zip" not in path else (200, data, "application/zip")
    up = ScriptedUpstream(r)
    target = "zip" if path.endswith(".zip") else "mod"
    status, _, body, _ = get(f"/{MOD}/@v/v1.0.0.{target}", store, up)
    return status, body, store, up


def _heals(store: MemoryStore, target: str = "zip") -> None:
    up = ScriptedUpstream(routes())
    want = ZIP if target == "zip" else GOMOD
    assert get(f"/{MOD}/@v/v1.0.0.{target}", store, up)[:3:2] == (200, want)


def test_altered_zip_is_refused_naming_both_hashes_and_never_stored():
    status, body, store, _ = _tampered(P + "v1.0.0.zip", BAD_ZIP)
    assert status == 502
    text = body.decode()
    good = DBF.records[-1].decode().split("\n")[0].split(" ")[2]
    assert f"verifying {MOD}@v1.0.0: checksum mismatch" in text
    assert good in text and "downloaded h1:" in text
    assert f"upstream {UP}" in text and NAME in text
    assert store.get(f"{MOD}/@v/v1.0.0.zip") is None
    _heals(store)


def test_altered_mod_is_refused_and_never_stored():
    bad = GOMOD + b"// changed\n"
    status, body, store, _ = _tampered(P + "v1.0.0.mod", bad)
    assert status == 502
    assert f"verifying {MOD}@v1.0.0/go.mod: checksum mismatch" in body.decode()
    assert hash_gomod(bad) in body.decode()
    assert store.get(f"{MOD}/@v/v1.0.0.mod") is None
    _heals(store, "mod")


def test_altered_lookup_record_is_refused():
    path = f"{MIRROR}/lookup/{MOD}@v1.0.0"
    good = DBF.files()[f"lookup/{MOD}@v1.0.0"]
    h = good.index(b"h1:") + 3
    bad = good[:h] + bytes([good[h] ^ 0x20]) + good[h + 1 :]
    status, body, store, _ = _tampered(path, bad)
    assert status == 502
    assert b"does not verify" in body
    assert stored_versions(store) == []
    _heals(store)


def test_altered_hash_tile_is_refused_and_never_kept():
    path = f"{MIRROR}/tile/8/0/000.p/4"
    good = DBF.files()["tile/8/0/000.p/4"]
    bad = good[:5] + bytes([good[5] ^ 1]) + good[6:]
    status, body, store, _ = _tampered(path, bad)
    assert status == 502
    assert b"downloaded inconsistent tile" in body
    assert stored_versions(store) == []
    assert store.get(f"sumdb/{NAME}/tile/8/0/000.p/4") is None
    _heals(store)


def test_relayed_tiles_are_verified_before_they_are_kept():
    for path in ("tile/8/0/000.p/4", "tile/8/data/000.p/4"):
        good = DBF.files()[path]
        bad = good[:5] + bytes([good[5] ^ 1]) + good[6:]
        store = MemoryStore()
        r = routes()
        r[f"{MIRROR}/{path}"] = (200, bad)
        status, _, body, _ = get(f"/sumdb/{NAME}/{path}", store, ScriptedUpstream(r))
        assert status == 502, path
        assert b"does not verify" in body
        assert store.get(f"sumdb/{NAME}/{path}") is None
        status, headers, body, _ = get(f"/sumdb/{NAME}/{path}", store, ScriptedUpstream(routes()))
        assert (status, body) == (200, good)
        assert "immutable" in headers["cache-control"]
        assert store.get(f"sumdb/{NAME}/{path}") == good


def test_relayed_latest_and_lookup_are_verified():
    store = MemoryStore()
    r = routes()
    note = DBF.files()["latest"]
    r[f"{MIRROR}/latest"] = (200, note.replace(b"\n4\n", b"\n5\n"))
    assert get(f"/sumdb/{NAME}/latest", store, ScriptedUpstream(r))[0] == 502
    assert store.get(f"sumdb/{NAME}/latest") is None
    assert get(f"/sumdb/{NAME}/latest", store, ScriptedUpstream(routes()))[:3:2] == (200, note)
    r = routes()
    lookup = f"lookup/{MOD}@v1.0.0"
    r[f"{MIRROR}/{lookup}"] = (200, DBF.files()[lookup].replace(b"m v1", b"n v1"))
    assert get(f"/sumdb/{NAME}/{lookup}", store, ScriptedUpstream(r))[0] == 502
    assert store.get(f"sumdb/{NAME}/{lookup}") is None


def test_a_lookup_of_a_version_the_proxy_verified_is_answered_from_its_proof():
    store, up = MemoryStore(), ScriptedUpstream(routes())
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, up)[0] == 200
    up.requests.clear()
    lookup = f"lookup/{MOD}@v1.0.0"
    status, headers, body, _ = get(f"/sumdb/{NAME}/{lookup}", store, up)
    # The database's own answer, proven when the .mod was fetched: no second round trip.
    assert (status, body, headers["cache-status"]) == (200, DBF.files()[lookup], "goproxy; hit")
    assert "immutable" in headers["cache-control"]
    assert up.requests == []
    # A proof signed by another database's key (the setting changed) is not served for this
    # one: the lookup is relayed and verified as before.
    other = make_db(seed=b"o" * 32)
    store2 = MemoryStore()
    assert (
        get(f"/{MOD}/@v/v1.0.0.mod", store2, ScriptedUpstream(routes(other)), config(other))[0]
        == 200
    )
    up.requests.clear()
    status, headers, body, _ = get(f"/sumdb/{NAME}/{lookup}", store2, up)
    assert (status, body) == (200, DBF.files()[lookup])
    assert "fwd=miss" in headers["cache-status"]
    assert f"{MIRROR}/{lookup}" in up.requests


def test_version_the_database_does_not_know_is_refused_unless_nosumdb():
    db = FixtureDB(NAME)
    db.add_record("example.com/o@v1.0.0", b"example.com/o v1.0.0 h1:o=\n")
    db.publish()
    store = MemoryStore()
    status, _, body, _ = get(
        f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(routes(db)), config(db)
    )
    assert status == 403
    assert f"verifying module: {MOD}@v1.0.0" in body.decode()
    assert stored_versions(store) == []
    cfg = config(db, nosumdb="example.com/m")
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(routes(db)), cfg)[0] == 200
    assert get(f"/{MOD}/@v/v1.0.0.zip", store, ScriptedUpstream(routes(db)), cfg)[0] == 200
    assert store.get(f"{MOD}/@v/v1.0.0.lookup") is None


def test_private_modules_are_never_looked_up():
    up = ScriptedUpstream({f"direct:{MOD}@v1.0.0.mod": (200, b"module example.com/m\n")})
    store = MemoryStore()
    status = get(
        f"/{MOD}/@v/v1.0.0.mod", store, up, config(private="example.com/m", anonymous="*")
    )[0]
    assert status == 200
    assert not any("sumdb" in u for u in up.requests)


def test_a_forked_database_is_refused_loudly():
    store = MemoryStore()
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(routes()))[0] == 200
    # Same key, other history: a bigger tree that does not extend the one verified here.
    fork = FixtureDB(NAME)
    for i in range(5):
        fork.add_record(f"example.com/f{i}@v1.0.0", f"example.com/f{i} v1.0.0 h1:f{i}=\n".encode())
    fork.add(MOD, "v1.1.0", GOMOD.replace(b"1.21", b"1.22"), ZIP)
    fork.publish()
    r = routes(fork)
    r[P + "v1.1.0.mod"] = (200, GOMOD.replace(b"1.21", b"1.22"))
    status, _, body, conn = get(f"/{MOD}/@v/v1.1.0.mod", store, ScriptedUpstream(r))
    assert status == 502
    assert b"misbehavior detected" in body
    assert store.get(f"{MOD}/@v/v1.1.0.mod") is None
    (rec,) = conn.take_log()
    assert "misbehavior detected" in rec.alarm
    # The relayed latest of the fork is refused the same way.
    status, _, body, conn = get(f"/sumdb/{NAME}/latest", store, ScriptedUpstream(r))
    assert status == 502 and b"misbehavior" in body
    assert conn.take_log()[0].alarm
    assert store.get(f"_goproxy/sumdb/{NAME}/verified-tree") == DBF.note()


def test_the_verified_tree_grows_and_never_goes_back():
    db = make_db()
    store = MemoryStore()
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(routes(db)), config(db))[0] == 200
    small = db.note()
    for i in range(300):  # past a full tile: consistency needs tiles of two levels
        db.add_record(f"example.com/g{i}@v1.0.0", f"example.com/g{i} v1.0.0 h1:g=\n".encode())
    db.add(MOD, "v1.1.0", GOMOD, make_zip(MOD, "v1.1.0", {"go.mod": GOMOD}))
    db.publish()
    r = routes(db)
    r[P + "v1.1.0.mod"] = (200, GOMOD)
    assert get(f"/{MOD}/@v/v1.1.0.mod", store, ScriptedUpstream(r), config(db))[0] == 200
    assert store.get(f"_goproxy/sumdb/{NAME}/verified-tree") == db.note() != small
    # An older (consistent) tree from the relay is served, and the kept one stays.
    r[f"{MIRROR}/latest"] = (200, small)
    assert get(f"/sumdb/{NAME}/latest", store, ScriptedUpstream(r), config(db))[0] == 200
    assert store.get(f"_goproxy/sumdb/{NAME}/verified-tree") == db.note()


def test_database_not_reachable_stores_nothing():
    r = routes()
    del r[f"{MIRROR}/supported"]
    store = MemoryStore()
    status, _, body, _ = get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(r))
    assert status == 502
    assert b"not reachable" in body and b"no upstream of this proxy mirrors" in body
    assert stored_versions(store) == []
    # And "supported" says so, so the go command goes to the database itself.
    assert get(f"/sumdb/{NAME}/supported", store, ScriptedUpstream(r))[0] == 404


@pytest.mark.parametrize(
    ("upstream", "answers", "want"),
    [
        (UP, {}, MIRROR),
        (f"https://a.example,{UP}", {"https://a.example/sumdb/sumdb.test/supported": 404}, MIRROR),
        (f"https://a.example|{UP}", {"https://a.example/sumdb/sumdb.test/supported": 500}, MIRROR),
        (f"https://a.example,{UP}", {"https://a.example/sumdb/sumdb.test/supported": 500}, ""),
        ("https://a.example,direct", {}, "https://sumdb.test"),
        ("https://a.example,off", {}, ""),
    ],
)
def test_the_way_to_the_database_is_the_go_commands(upstream, answers, want):
    r = routes()
    for url, status in answers.items():
        r[url] = (status, b"")
    up = ScriptedUpstream(r)
    store = MemoryStore()
    status = get(f"/sumdb/{NAME}/supported", store, up, config(upstream=upstream))[0]
    assert status == (200 if want else 404)
    if want:
        assert store.get(f"_goproxy/sumdb/{NAME}/route") == want.encode()
        # Remembered for list_ttl: asked once.
        asked = len(up.requests)
        get(f"/sumdb/{NAME}/supported", store, up, config(upstream=upstream))
        assert len(up.requests) == asked


def test_an_explicit_url_is_used_as_is():
    db_url = "https://db.example"
    r = routes(DBF, db_url)
    up = ScriptedUpstream(r)
    store = MemoryStore()
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, up, config(url=db_url))[0] == 200
    assert not any("supported" in u for u in up.requests)
    assert any(u.startswith(db_url + "/lookup/") for u in up.requests)


def test_small_zips_are_not_relayed_before_they_are_verified():
    """The FetchUpstream for a zip says up to which size the body must not be relayed."""
    up = ScriptedUpstream(routes())
    seen: list = []

    def upstream(effect):
        seen.append(effect)
        return up(effect)

    conn = ProxyConnection(config(verify_before_send=1234))
    req = f"GET /{MOD}/@v/v1.0.0.zip HTTP/1.1\r\nHost: p\r\n\r\n".encode()
    exchange(conn, req, store=MemoryStore(), upstream=upstream, now=10.0)
    zips = [e for e in seen if isinstance(e, FetchUpstream) and e.into]
    assert zips and all(e.relay and e.relay_above == 1234 for e in zips)
    assert all(not e.relay for e in seen if isinstance(e, FetchUpstream) and not e.into)


def test_followers_share_a_refusal():
    """A fetch that a concurrent request refused is refused again without a fetch."""
    store = MemoryStore()
    up = ScriptedUpstream(routes())
    up.routes[P + "v1.0.0.zip"] = UpstreamResult(status=200, refused="zip is broken: evil")
    status, _, body, _ = get(f"/{MOD}/@v/v1.0.0.zip", store, up)
    assert status == 502
    assert b"zip is broken: evil" in body
    assert stored_versions(store) == []


def test_a_bad_tile_kept_by_an_older_version_heals():
    """Tiles used to be kept unverified: one with a flipped byte is fetched again, replaced."""
    store = MemoryStore()
    good = DBF.files()["tile/8/0/000.p/4"]
    store.put(f"sumdb/{NAME}/tile/8/0/000.p/4", good[:5] + bytes([good[5] ^ 1]) + good[6:])
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(routes()))[:3:2] == (200, GOMOD)
    assert store.get(f"sumdb/{NAME}/tile/8/0/000.p/4") == good


OTHER = make_db(seed=b"o" * 32)  # same name, another key


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({f"{MIRROR}/lookup/{MOD}@v1.0.0": (500, b"down")}, 502, "failed on the lookup"),
        ({f"{MIRROR}/lookup/{MOD}@v1.0.0": UpstreamResult(0, timeout=True)}, 504, "failed"),
        ({f"{MIRROR}/tile/8/0/000.p/4": (404, b"gone")}, 502, "tile/8/0/000.p/4: answered 404"),
        (
            {f"{MIRROR}/lookup/{MOD}@v1.0.0": (200, OTHER.files()[f"lookup/{MOD}@v1.0.0"])},
            502,
            "does not verify",
        ),
        (
            {f"{MIRROR}/lookup/{MOD}@v1.0.0": (200, DBF.files()["lookup/example.com/o1@v1.0.0"])},
            502,
            "record of another module",
        ),
    ],
)
def test_a_failing_database_stores_nothing(change, status, words):
    r = routes()
    r.update(change)
    store = MemoryStore()
    got = get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(r))
    assert got[0] == status
    assert words in got[2].decode()
    assert stored_versions(store) == []


def test_state_kept_for_another_key_is_not_trusted():
    """A proof and a tree kept while another key was configured are looked up afresh."""
    store = MemoryStore()
    other_cfg = config(OTHER)
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(routes(OTHER)), other_cfg)[0] == 200
    store.delete(f"{MOD}/@v/v1.0.0.mod")
    for k in list(store.keys()):
        if k.startswith(f"sumdb/{NAME}/tile/"):
            store.delete(k)
    up = ScriptedUpstream(routes())
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, up)[0] == 200
    assert f"{MIRROR}/lookup/{MOD}@v1.0.0" in up.requests
    assert store.get(f"_goproxy/sumdb/{NAME}/verified-tree") == DBF.note()


def test_relayed_latest_that_does_not_verify_and_unreachable_relay():
    r = routes(OTHER)
    store = MemoryStore()
    status, _, body, _ = get(f"/sumdb/{NAME}/latest", store, ScriptedUpstream(r))
    assert status == 502 and b"does not verify" in body
    # A tile past the kept tree: a fresh latest is fetched first, and must verify too.
    status, _, body, _ = get(f"/sumdb/{NAME}/tile/8/0/000.p/4", store, ScriptedUpstream(r))
    assert status == 502 and b"latest that does not verify" in body
    r = routes()
    r[f"{MIRROR}/latest"] = (500, b"down")
    status, _, body, _ = get(f"/sumdb/{NAME}/tile/8/0/000.p/4", store, ScriptedUpstream(r))
    assert status == 502 and b"failed on latest" in body
    r = routes()
    r[f"{MIRROR}/supported"] = (404, b"")
    status, _, body, _ = get(f"/sumdb/{NAME}/latest", MemoryStore(), ScriptedUpstream(r))
    assert status == 404 and b"not reachable" in body


def test_a_failing_upstream_on_the_way_is_not_remembered():
    r = routes()
    r["https://a.example/sumdb/sumdb.test/supported"] = (500, b"")
    del r[f"{MIRROR}/supported"]
    store = MemoryStore()
    cfg = config(upstream=f"https://a.example|{UP}")
    status, _, body, _ = get(f"/{MOD}/@v/v1.0.0.mod", store, ScriptedUpstream(r), cfg)
    assert status == 502 and b"answered sumdb/sumdb.test/supported with 500" in body
    assert store.get(f"_goproxy/sumdb/{NAME}/route") is None


def test_the_access_record_names_the_way_a_relayed_database_answered():
    """A relayed checksum-database answer fetched now names where it came from (its mirror
    on the upstream proxy); the same answer from the store names none."""
    store = MemoryStore()
    lookup = f"/sumdb/{NAME}/lookup/{MOD}@v1.0.0"
    status, _, _, conn = get(lookup, store, ScriptedUpstream(routes()))
    (rec,) = conn.take_log()
    assert (status, rec.upstream) == (200, MIRROR)
    assert "miss" in rec.cache_status
    status, _, _, conn = get(lookup, store, ScriptedUpstream({}))
    (rec,) = conn.take_log()
    assert (status, rec.upstream, rec.cache_status) == (200, "", "goproxy; hit")
