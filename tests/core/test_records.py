"""Version records, judging a stored version again, and ETags from content.

Records are written at ingest after the commit and read back by ``goproxy verify``; the core's
``judge_version`` says what fails; a zip's ETag is its content's digest, so a replaced zip of
the same size never revalidates as unchanged.
"""

from __future__ import annotations

import hashlib
import io

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from test_verify import DBF, GOMOD, MOD, NAME, UP, ZIP, P, config, get, routes

from goproxy_core import ProxyConfig, ProxyConnection, compile_config
from goproxy_core.proxy.record import (
    FileRecord,
    VersionRecord,
    decode_record,
    encode_record,
    etag_for_digest,
)
from goproxy_core.proxy.storecheck import FileFacts, judge_version
from goproxy_core.sumdb import hash_gomod, hash_zip
from goproxy_core.sumdb.tile import tile_path
from goproxy_core.sumdb.treenote import Tree
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange

from support import make_zip, parse_responses

_text = st.text(max_size=40)
_files = st.builds(
    FileRecord,
    h1=_text,
    size=st.integers(min_value=0, max_value=1 << 40),
    sha256=_text,
    upstream=_text,
    time=st.floats(allow_nan=False, allow_infinity=False),
    sumdb=_text,
    unverified=_text,
    stored=st.floats(allow_nan=False, allow_infinity=False),
)
_records = st.builds(
    VersionRecord,
    module=_text,
    version=_text,
    mod=st.none() | _files,
    zip=st.none() | _files,
)


@given(_records)
def test_record_round_trips(record):
    assert decode_record(encode_record(record)) == record


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_record_or_none(data):
    got = decode_record(data)
    assert got is None or isinstance(got, VersionRecord)


def test_damaged_or_foreign_records_are_none():
    assert decode_record(b"") is None
    assert decode_record(b'{"module": "m"}') is None  # no version
    assert decode_record(b'{"module":"m","version":"v1","extra":1}') is None


# --- judging a stored version ---------------------------------------------------------------

CFG = compile_config(config())
LOOKUP = DBF.files()[f"lookup/{MOD}@v1.0.0"]
TILES = {p: d for p, d in DBF.files().items() if p.startswith("tile/")}
NOW = 100.0


def _facts(data: bytes, *, zip_file: bool) -> FileFacts:
    h1 = hash_zip(io.BytesIO(data)) if zip_file else hash_gomod(data)
    return FileFacts(h1, len(data), hashlib.sha256(data).hexdigest(), stored=5.0)


MOD_FACTS = _facts(GOMOD, zip_file=False)
ZIP_FACTS = _facts(ZIP, zip_file=True)


def _rec(facts: FileFacts, **kw) -> FileRecord:
    kw.setdefault("sumdb", NAME)
    return FileRecord(facts.h1, facts.size, facts.sha256, UP, 1.0, **kw)


GOOD = VersionRecord(MOD, "v1.0.0", mod=_rec(MOD_FACTS), zip=_rec(ZIP_FACTS))


def judge(
    record=GOOD, mod=MOD_FACTS, zip=ZIP_FACTS, proof=LOOKUP, tiles=TILES, cfg=CFG, trees=None
):
    return judge_version(
        cfg,
        MOD,
        "v1.0.0",
        record=record,
        mod=mod,
        zip=zip,
        proof=proof,
        trees=trees or {},
        read_tile=lambda name, t: tiles.get(tile_path(t)) if name == NAME else None,
        now=NOW,
    )


def test_a_good_version_passes_proven():
    v = judge()
    assert (v.failed, v.unproven, v.proven_by, v.repaired) == ((), "", NAME, None)


def test_a_good_version_passes_against_the_newest_verified_tree():
    assert judge(trees={NAME: DBF.tree}).failed == ()
    forked = Tree(DBF.tree.N, b"\x01" * 32)
    failed = {f.kind: f.why for f in judge(trees={NAME: forked}).failed}
    assert sorted(failed) == ["lookup", "mod", "zip"]  # a fork: nothing it proved stands
    assert "does not verify" in failed["lookup"]


def test_a_changed_zip_fails_against_its_record():
    bad = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package m // x\n"})
    (f,) = judge(zip=_facts(bad, zip_file=True)).failed
    assert f.kind == "zip" and "changed since it was stored" in f.why
    assert ZIP_FACTS.h1 in f.why


def test_a_changed_file_without_a_record_fails_against_the_proof():
    bad = GOMOD + b"// x\n"
    (f,) = judge(record=None, mod=_facts(bad, zip_file=False)).failed
    assert f.kind == "mod"
    assert f"verifying {MOD}@v1.0.0/go.mod: checksum mismatch" in f.why
    assert MOD_FACTS.h1 in f.why  # the database's hash


def test_an_invalid_zip_fails():
    (f,) = judge(zip=FileFacts("", 3, "x", problem="zip: not a valid zip file")).failed
    assert f.kind == "zip" and "not valid" in f.why


def test_a_tampered_proof_fails_with_the_files_it_proved():
    h = LOOKUP.index(b"h1:") + 3
    bad = LOOKUP[:h] + bytes([LOOKUP[h] ^ 0x20]) + LOOKUP[h + 1 :]
    v = judge(proof=bad)
    assert sorted(f.kind for f in v.failed) == ["lookup", "mod", "zip"]
    assert "its record says checksum database" in dict((f.kind, f.why) for f in v.failed)["zip"]


def test_a_missing_proof_fails_files_recorded_as_verified():
    v = judge(proof=None)
    assert sorted(f.kind for f in v.failed) == ["mod", "zip"]
    assert all("its proof is not kept" in f.why for f in v.failed)


def test_a_missing_tile_leaves_the_version_unproven_not_failed():
    v = judge(tiles={})
    assert v.failed == () and "is not kept" in v.unproven


def test_a_proof_of_another_module_fails():
    other = DBF.files()["lookup/example.com/o0@v1.0.0"]
    v = judge(proof=other)
    assert any("record of another module" in f.why for f in v.failed)


def test_records_of_unverified_versions_pass_without_a_proof():
    rec = VersionRecord(
        MOD,
        "v1.0.0",
        mod=_rec(MOD_FACTS, sumdb="", unverified="nosumdb"),
        zip=_rec(ZIP_FACTS, sumdb="", unverified="nosumdb"),
    )
    v = judge(record=rec, proof=None)
    assert (v.failed, v.unproven) == ((), "")


def test_a_record_naming_a_database_not_configured_is_unproven():
    v = judge(cfg=compile_config(ProxyConfig(upstream=UP)))
    assert v.failed == () and "not configured" in v.unproven


def test_a_version_stored_before_records_gets_one_on_repair():
    v = judge(record=None)
    assert v.failed == () and v.unproven == ""
    assert v.repaired is not None
    assert v.repaired.zip == FileRecord(
        ZIP_FACTS.h1,
        ZIP_FACTS.size,
        ZIP_FACTS.sha256,
        "unknown (stored before records)",
        NOW,
        sumdb=NAME,
        stored=5.0,
    )
    # Without a proof where one is due: unproven, and no record is made up for it.
    v = judge(record=None, proof=None)
    assert v.failed == () and "without a proof" in v.unproven and v.repaired is None
    # A private module needs none: its record says why it was not verified.
    private = compile_config(config(private=MOD))
    v = judge(record=None, proof=None, cfg=private)
    assert v.repaired is not None and v.repaired.mod is not None
    assert (v.repaired.mod.sumdb, v.repaired.mod.unverified) == ("", "private")


# --- ETags from content ---------------------------------------------------------------------


def _zip_get(store, up, etag: str = ""):
    extra = f"If-None-Match: {etag}\r\n" if etag else ""
    raw = exchange(
        ProxyConnection(config()),
        f"GET /{MOD}/@v/v1.0.0.zip HTTP/1.1\r\nHost: p\r\n{extra}\r\n".encode(),
        store=store,
        upstream=up,
        now=10.0,
    )
    ((status, headers, body),) = parse_responses(raw)
    return status, headers, body


def test_zip_etag_is_its_content_digest_and_a_same_size_replacement_gets_a_new_one():
    store, up = MemoryStore(), ScriptedUpstream(routes())
    status, headers, _ = _zip_get(store, up)
    assert status == 200
    etag = headers["etag"]
    assert etag == etag_for_digest(hashlib.sha256(ZIP).hexdigest())
    assert _zip_get(store, up)[1]["etag"] == etag  # a hit: same content, same ETag
    assert _zip_get(store, up, etag)[0] == 304
    # Replaced behind the proxy's back with other bytes of the same size.
    other = bytearray(ZIP)
    other[-30] ^= 1
    store.put(f"{MOD}/@v/v1.0.0.zip", bytes(other), mtime=20.0)
    status, headers, body = _zip_get(store, up, etag)
    assert status == 200 and body == bytes(other)
    assert headers["etag"] != etag


def test_a_zip_fetched_again_gets_its_new_contents_etag():
    store = MemoryStore()
    first = _zip_get(store, ScriptedUpstream(routes()))[1]["etag"]
    rec = decode_record(store.get(f"{MOD}/@v/v1.0.0.record") or b"")
    assert rec is not None and rec.zip is not None
    # Quarantined and fetched again as another zip of the same size (the record follows).
    store.delete(f"{MOD}/@v/v1.0.0.zip")
    other = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package n\n"})
    assert len(other) == len(ZIP)
    r = routes()
    r[P + "v1.0.0.zip"] = (200, other, "application/zip")
    cfg = ProxyConfig(upstream=UP)  # no database: this zip is not the published one
    raw = exchange(
        ProxyConnection(cfg),
        f"GET /{MOD}/@v/v1.0.0.zip HTTP/1.1\r\nHost: p\r\n\r\n".encode(),
        store=store,
        upstream=ScriptedUpstream(r),
        now=30.0,
    )
    ((status, headers, _),) = parse_responses(raw)
    assert status == 200
    assert headers["etag"] == etag_for_digest(hashlib.sha256(other).hexdigest()) != first
    new = decode_record(store.get(f"{MOD}/@v/v1.0.0.record") or b"")
    assert new is not None and new.zip is not None and new.mod == rec.mod
    assert (new.zip.unverified, new.zip.sumdb) == ("no database", "")


def test_a_relayed_zip_head_has_no_etag_before_its_content_is_known():
    from goproxy_core.proxy.engine import relayed_zip_reply

    assert relayed_zip_reply("k.zip", 10).etag == ""
    assert msgspec.structs.asdict(relayed_zip_reply("k.zip", 10))["cache_control"]


def test_a_zip_without_a_record_takes_key_size_and_time():
    store = MemoryStore()
    store.put(f"{MOD}/@v/v1.0.0.zip", ZIP, mtime=1.0)
    a = _zip_get(store, ScriptedUpstream())[1]["etag"]
    store.put(f"{MOD}/@v/v1.0.0.zip", ZIP, mtime=2.0)
    assert _zip_get(store, ScriptedUpstream())[1]["etag"] != a
    assert get(f"/{MOD}/@v/v1.0.0.zip", store, ScriptedUpstream())[0] == 200
