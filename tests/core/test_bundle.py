"""The bundle core: the manifest parser (property tests), go.sum reading, the proof plan and
the import's checks, each refusal naming what failed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core.bundle import (
    FORMAT,
    BundleError,
    Database,
    FileEntry,
    ImportCheck,
    Manifest,
    MemberFacts,
    RecordRef,
    VersionEntry,
    encode_manifest,
    parse_gosum,
    parse_manifest,
    proof_tiles,
)
from goproxy_core.proxy.record import decode_record
from goproxy_core.sumdb import (
    NeedTiles,
    TlogError,
    Tree,
    hash_gomod,
    hash_zip,
    new_verifier,
    parse_tree,
)
from sumdbfix import FixtureDB

from support import make_zip

NAME = "sumdb.test"
H1 = "h1:" + "A" * 43 + "="


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the manifest ----------------------------------------------------------------------------


def _entry(module="example.com/m", version="v1.0.0", **kw) -> VersionEntry:
    files = kw.pop(
        "files",
        [FileEntry(f"{module}/@v/{version}.mod", 3, "0" * 64)],
    )
    return VersionEntry(
        module=module,
        version=version,
        mod=kw.pop("mod", H1),
        records=kw.pop("records", [RecordRef(NAME, 0, "x\n")]),
        files=files,
        **kw,
    )


def _manifest(versions=None, databases=None) -> Manifest:
    return Manifest(
        format=FORMAT,
        created="2026-01-01T00:00:00Z",
        databases=databases
        if databases is not None
        else [Database(NAME, "head", [FileEntry(f"sumdb/{NAME}/tile/8/0/000.p/1", 32, "1" * 64)])],
        versions=versions if versions is not None else [_entry()],
    )


modules = st.from_regex(r"example\.(com|org)/[a-z]{1,8}(/[a-z0-9]{1,6}){0,2}", fullmatch=True)
versions = st.builds(
    lambda a, b, c: f"v{a}.{b}.{c}", st.integers(0, 9), st.integers(0, 20), st.integers(0, 99)
)


@st.composite
def manifests(draw) -> Manifest:
    pairs = draw(st.lists(st.tuples(modules, versions), unique=True, max_size=6))
    entries = []
    for module, version in pairs:
        files = [FileEntry(f"{module}/@v/{version}.mod", draw(st.integers(0, 99)), "a" * 64)]
        zip_h1 = ""
        if draw(st.booleans()):
            files.append(FileEntry(f"{module}/@v/{version}.zip", 5, "b" * 64))
            zip_h1 = H1
        held = draw(st.booleans())
        entries.append(
            VersionEntry(
                module=module,
                version=version,
                mod=H1,
                zip=zip_h1,
                files=[] if held else files,
                held=held,
                records=[RecordRef(NAME, draw(st.integers(0, 10**6)), "x\n")],
            )
        )
    return _manifest(entries)


@given(manifests())
def test_manifests_round_trip(m: Manifest) -> None:
    assert parse_manifest(encode_manifest(m)) == m


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_manifest_or_a_bundle_error(data: bytes) -> None:
    with contextlib.suppress(BundleError):
        parse_manifest(data)


@settings(max_examples=200)
@given(manifests(), st.data())
def test_a_manifest_altered_anywhere_parses_or_is_refused_with_a_bundle_error(m, data) -> None:
    raw = bytearray(encode_manifest(m))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(BundleError):
        parse_manifest(bytes(raw))


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        (_manifest(versions=[_entry(module="Example..com")]), "not a module path"),
        (_manifest(versions=[_entry(version="v1.0")]), "not a canonical version"),
        (_manifest(versions=[_entry(mod="h1:short")]), "is not an h1: hash"),
        (_manifest(versions=[_entry(records=[])]), "no checksum-database record"),
        (_manifest(versions=[_entry(records=[RecordRef("x.test", 0, "x\n")])]), "has no head"),
        (
            _manifest(versions=[_entry(records=[RecordRef(NAME, 0, "a\n")] * 2)]),
            "two records",
        ),
        (_manifest(versions=[_entry(records=[RecordRef(NAME, -1, "a\n")])]), "record id -1"),
        (_manifest(versions=[_entry(held=True)]), "a held version carries no files"),
        (
            _manifest(
                versions=[_entry(files=[FileEntry("example.com/x/@v/v1.0.0.mod", 1, "0" * 64)])]
            ),
            "is not one of its files",
        ),
        (
            _manifest(
                versions=[_entry(files=[FileEntry("example.com/m/@v/v1.0.0.mod", 1, "0" * 64)] * 2)]
            ),
            "listed twice",
        ),
        (_manifest(versions=[_entry(files=[])]), "no .mod"),
        (_manifest(versions=[_entry(zip=H1)]), "a zip hash needs a .zip member"),
        (
            _manifest(
                versions=[_entry(files=[FileEntry("example.com/m/@v/v1.0.0.mod", -1, "0" * 64)])]
            ),
            "negative size",
        ),
        (
            _manifest(
                versions=[_entry(files=[FileEntry("example.com/m/@v/v1.0.0.mod", 1, "G" * 64)])]
            ),
            "is not 64 lowercase hex",
        ),
        (_manifest(versions=[_entry(), _entry()]), "listed twice"),
        (_manifest(databases=[Database("bad name!", "h", [])]), "not a checksum database name"),
        (_manifest(databases=[Database(NAME, "", [])]), "no signed tree head"),
        (_manifest(databases=[Database(NAME, "h", [])] * 2), "listed twice"),
        (
            _manifest(
                databases=[
                    Database(NAME, "h", [FileEntry("sumdb/other/tile/8/0/000", 1, "0" * 64)])
                ]
            ),
            "is not one of its hash tiles",
        ),
        (
            _manifest(
                databases=[
                    Database(NAME, "h", [FileEntry(f"sumdb/{NAME}/tile/8/data/000", 1, "0" * 64)])
                ]
            ),
            "is not one of its hash tiles",
        ),
        (
            _manifest(
                databases=[
                    Database(NAME, "h", [FileEntry(f"sumdb/{NAME}/tile/8/0/000", 1, "0" * 64)] * 2)
                ]
            ),
            "listed twice",
        ),
    ],
)
def test_malformed_manifests_are_refused_by_name(manifest: Manifest, why: str) -> None:
    with pytest.raises(BundleError, match=r"bundle manifest: .*" + _re(why)):
        parse_manifest(encode_manifest(manifest))


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_manifest_format_and_size_are_checked() -> None:
    m = msgspec.structs.replace(_manifest(), format="other/9")
    with pytest.raises(BundleError, match="want 'goproxy-bundle/1'"):
        parse_manifest(encode_manifest(m))
    with pytest.raises(BundleError, match="not a bundle manifest"):
        parse_manifest(b"[]")
    from goproxy_core.bundle import MAX_MANIFEST

    with pytest.raises(BundleError, match="larger than"):
        parse_manifest(b" " * (MAX_MANIFEST + 1))


# -- go.sum ----------------------------------------------------------------------------------


def test_parse_gosum_reads_zip_and_go_mod_lines() -> None:
    text = (
        f"example.com/a v1.0.0 {H1}\nexample.com/a v1.0.0/go.mod {H1}\n\n"
        f"example.com/b v0.1.0/go.mod {H1}\n"
    )
    assert parse_gosum(text) == {("example.com/a", "v1.0.0"): H1, ("example.com/b", "v0.1.0"): None}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("example.com/a v1.0.0", "malformed go.sum: go.sum:1: wrong number of fields 2"),
        (f"Example..com v1.0.0 {H1}", 'malformed module path "Example..com"'),
        (f"example.com/a 1.0 {H1}", "invalid version: not a semantic version"),
        (f"example.com/a v1.0 {H1}", "not a canonical version"),
    ],
)
def test_parse_gosum_refuses_malformed_lines(line: str, why: str) -> None:
    with pytest.raises(BundleError, match=_re(why)):
        parse_gosum(line + "\n")


# -- a fixture database and a bundle made from it -----------------------------------------


def _db(n: int = 3) -> tuple[FixtureDB, list[tuple[str, str, bytes, bytes]]]:
    db = FixtureDB(NAME)
    mods = []
    for i in range(n):
        module, version = "example.com/m", f"v1.{i}.0"
        gomod = b"module example.com/m\n"
        z = make_zip(module, version, {"go.mod": gomod, "a.go": f"package m // {i}\n".encode()})
        db.add(module, version, gomod, z)
        mods.append((module, version, gomod, z))
    db.publish()
    return db, mods


def _tiles(db: FixtureDB, ids: list[int], since=()) -> dict:
    head = parse_tree(db.note().split(b"\n\n")[0] + b"\n")
    have: dict = {}
    files = db.files()
    while (
        need := proof_tiles(head, [(i, db.records[i]) for i in ids], have, since=since)
    ) is not None:
        for t in need.tiles:
            have[t] = files[_path(t)]
    return have


def _path(t) -> str:
    from goproxy_core.sumdb import tile_path

    return tile_path(t)


def _bundle(db: FixtureDB, mods, pick=None, *, info: bool = True, held=()):
    """A manifest and the member facts of versions ``pick`` (indexes), as an exporter makes."""
    pick = range(len(mods)) if pick is None else pick
    entries, facts = [], {}
    for i in pick:
        module, version, gomod, z = mods[i]
        files = []
        if info:
            data = json.dumps({"Version": version}).encode()
            key = f"{module}/@v/{version}.info"
            files.append(FileEntry(key, len(data), _sha(data)))
            facts[key] = MemberFacts(len(data), _sha(data), data=data)
        key = f"{module}/@v/{version}.mod"
        files.append(FileEntry(key, len(gomod), _sha(gomod)))
        facts[key] = MemberFacts(len(gomod), _sha(gomod), h1=hash_gomod(gomod))
        key = f"{module}/@v/{version}.zip"
        files.append(FileEntry(key, len(z), _sha(z)))
        zh1 = hash_zip(io.BytesIO(z))
        facts[key] = MemberFacts(len(z), _sha(z), h1=zh1)
        entries.append(
            VersionEntry(
                module=module,
                version=version,
                mod=hash_gomod(gomod),
                zip=zh1,
                files=files,
                records=[RecordRef(NAME, i, db.records[i].decode())],
            )
        )
    for i in held:
        module, version, gomod, z = mods[i]
        entries.append(
            VersionEntry(
                module=module,
                version=version,
                mod=hash_gomod(gomod),
                zip=hash_zip(io.BytesIO(z)),
                held=True,
                records=[RecordRef(NAME, i, db.records[i].decode())],
            )
        )
    tiles = _tiles(db, [*pick, *held])
    tile_entries = []
    for t, data in sorted(tiles.items(), key=lambda kv: _path(kv[0])):
        key = f"sumdb/{NAME}/{_path(t)}"
        tile_entries.append(FileEntry(key, len(data), _sha(data)))
        facts[key] = MemberFacts(len(data), _sha(data), data=data)
    m = Manifest(
        format=FORMAT,
        created="2026-01-01T00:00:00Z",
        databases=[Database(NAME, db.note().decode(), tile_entries)],
        versions=entries,
    )
    return parse_manifest(encode_manifest(m)), facts


def _check(db, m, verified=None, vkey=None):
    return ImportCheck(
        m,
        {NAME: (new_verifier(vkey or db.vkey),)},
        {NAME: verified},
        now=1.0,
        source="bundle test",
    )


def _run(check: ImportCheck, facts: dict):
    for key, f in facts.items():
        check.member(key)
        check.checked(key, f)
    return check.finish()


def test_a_good_bundle_plans_the_cache_tree_contract() -> None:
    db, mods = _db()
    m, facts = _bundle(db, mods)
    plan = _run(_check(db, m), facts)
    assert plan.versions == 3
    assert plan.held == 0
    assert parse_tree(db.note().split(b"\n\n")[0] + b"\n") == plan.heads[NAME]
    writes = {w.key: w.data for w in plan.writes}
    files = db.files()
    assert writes[f"sumdb/{NAME}/supported"] == b""
    assert writes[f"sumdb/{NAME}/latest"] == db.note()
    assert (
        writes[f"sumdb/{NAME}/lookup/example.com/m@v1.1.0"] == files["lookup/example.com/m@v1.1.0"]
    )
    assert writes["example.com/m/@v/v1.1.0.lookup"] == files["lookup/example.com/m@v1.1.0"]
    rec = decode_record(writes["example.com/m/@v/v1.1.0.record"])
    assert rec is not None and rec.zip is not None and rec.zip.sumdb == NAME
    assert plan.writes[-1].key == f"_goproxy/sumdb/{NAME}/verified-tree"
    assert [f.key for f in plan.members][:3] == [
        "example.com/m/@v/v1.0.0.info",
        "example.com/m/@v/v1.0.0.mod",
        "example.com/m/@v/v1.0.0.zip",
    ]


def test_member_checks_name_the_member() -> None:
    db, mods = _db()
    m, facts = _bundle(db, mods)
    check = _check(db, m)
    with pytest.raises(BundleError, match="'x': not listed in the manifest"):
        check.member("x")
    key = "example.com/m/@v/v1.0.0.mod"
    f = facts[key]
    with pytest.raises(BundleError, match="bytes, the manifest says"):
        check.checked(key, MemberFacts(f.size + 1, f.sha256, h1=f.h1))
    with pytest.raises(BundleError, match=r"SHA-256 .* differs"):
        check.checked(key, MemberFacts(f.size, "0" * 64, h1=f.h1))
    with pytest.raises(BundleError, match=r"the go.mod hashes to h1:x"):
        check.checked(key, MemberFacts(f.size, f.sha256, h1="h1:x"))
    check.checked(key, f)
    with pytest.raises(BundleError, match="appears twice"):
        check.member(key)
    z = "example.com/m/@v/v1.0.0.zip"
    with pytest.raises(BundleError, match="not a valid module zip: bad"):
        check.checked(z, MemberFacts(facts[z].size, facts[z].sha256, problem="bad"))
    with pytest.raises(BundleError, match="the zip hashes to h1:y"):
        check.checked(z, MemberFacts(facts[z].size, facts[z].sha256, h1="h1:y"))
    with pytest.raises(BundleError, match="listed in the manifest but missing"):
        check.finish()


def test_an_info_of_another_version_is_refused() -> None:
    db, mods = _db(1)
    m, _ = _bundle(db, mods)
    key = "example.com/m/@v/v1.0.0.info"
    data = b'{"Version": "v9.9.9"}'
    entries = [
        msgspec.structs.replace(
            v,
            files=[FileEntry(key, len(data), _sha(data)) if f.key == key else f for f in v.files],
        )
        for v in m.versions
    ]
    m = msgspec.structs.replace(m, versions=entries)
    check = _check(db, m)
    with pytest.raises(BundleError, match=r"not the .info of example.com/m@v1.0.0"):
        check.checked(key, MemberFacts(len(data), _sha(data), data=data))


def test_no_key_or_another_key_is_refused() -> None:
    db, mods = _db(1)
    m, _ = _bundle(db, mods)
    with pytest.raises(BundleError, match="this importer has no key for it"):
        ImportCheck(m, {}, {}, now=0, source="")
    other = FixtureDB(NAME, seed=b"o" * 32)
    with pytest.raises(BundleError, match="does not verify with this importer's key"):
        _check(db, m, vkey=other.vkey)


def test_a_record_without_the_manifest_hash_is_refused() -> None:
    db, mods = _db(2)
    m, facts = _bundle(db, mods)
    v = m.versions[1]
    wrong = RecordRef(NAME, 1, db.records[0].decode())  # another version's lines
    m = msgspec.structs.replace(
        m, versions=[m.versions[0], msgspec.structs.replace(v, records=[wrong])]
    )
    with pytest.raises(BundleError, match="does not hold the manifest's line"):
        _run(_check(db, m), facts)


def test_a_record_at_the_wrong_id_or_without_its_tiles_is_refused() -> None:
    db, mods = _db(3)
    m, facts = _bundle(db, mods)
    swapped = [
        msgspec.structs.replace(v, records=[RecordRef(NAME, (i + 1) % 3, v.records[0].text)])
        for i, v in enumerate(m.versions)
    ]
    bad = msgspec.structs.replace(m, versions=swapped)
    with pytest.raises(
        BundleError, match=r"example.com/m@v1.0.0: its record 1 in sumdb.test is not proven"
    ):
        _run(_check(db, bad), facts)
    no_tiles = msgspec.structs.replace(
        m, databases=[msgspec.structs.replace(m.databases[0], tiles=[])]
    )
    without = {k: f for k, f in facts.items() if "/tile/" not in k}
    with pytest.raises(BundleError, match="lacks the tiles that prove its record 0"):
        _run(_check(db, no_tiles), without)
    beyond = [
        msgspec.structs.replace(
            m.versions[0], records=[RecordRef(NAME, 7, m.versions[0].records[0].text)]
        ),
        *m.versions[1:],
    ]
    with pytest.raises(BundleError, match="outside the tree"):
        _run(_check(db, msgspec.structs.replace(m, versions=beyond)), facts)


def test_heads_against_the_tree_verified_here() -> None:
    db, mods = _db(2)
    old_note = db.note()
    m1, f1 = _bundle(db, mods)
    # The same tree again: nothing to prove between them; not written again.
    plan = _run(_check(db, m1, verified=old_note), f1)
    assert not any(w.key.endswith("verified-tree") for w in plan.writes)
    # The database grows: a bundle of the new version only, at the new head.
    module, version, gomod = "example.com/m", "v1.2.0", b"module example.com/m\n"
    z = make_zip(module, version, {"go.mod": gomod})
    db.add(module, version, gomod, z)
    db.publish()
    mods.append((module, version, gomod, z))
    m2, f2 = _bundle(db, mods, [2], held=[0, 1])
    plan = _run(_check(db, m2, verified=old_note), f2)
    assert plan.held == 2
    assert plan.writes[-1].data == db.note()
    held = [w for w in plan.writes if w.if_present]
    assert {w.key for w in held} >= {
        "example.com/m/@v/v1.0.0.lookup",
        f"sumdb/{NAME}/lookup/example.com/m@v1.1.0",
    }
    # The older bundle after the newer one: refused.
    with pytest.raises(BundleError, match=r"is older than the tree #3"):
        _run(_check(db, m1, verified=db.note()), f1)
    # A verified tree from another key is ignored, as the proxy does.
    other = FixtureDB(NAME, seed=b"o" * 32)
    other.add_record("example.com/a@v1.0.0", b"a\n")
    other.publish()
    assert _run(_check(db, m1, verified=other.note()), f1).versions == 2


def test_a_forked_or_unproven_older_tree_is_refused() -> None:
    db, mods = _db(2)
    forked = FixtureDB(NAME)
    forked.add_record("example.com/x@v1.0.0", b"x\n")
    forked.publish()
    m, facts = _bundle(db, mods)
    with pytest.raises(BundleError, match=r"is not consistent with the tree #1"):
        _run(_check(db, m, verified=forked.note()), facts)
    # A bigger gap the bundle's tiles do not cover: name the missing tiles.
    big = FixtureDB(NAME)
    for i in range(300):
        big.add_record(f"example.com/x@v1.0.{i}", f"example.com/x v1.0.{i} {H1}\n".encode())
    big.publish()
    old = big.note()
    big.add_record("example.com/y@v1.0.0", f"example.com/y v1.0.0 {H1}\n".encode())
    big.publish()
    m = Manifest(
        format=FORMAT,
        created="x",
        databases=[Database(NAME, big.note().decode(), [])],
        versions=[],
    )
    check = ImportCheck(m, {NAME: (new_verifier(big.vkey),)}, {NAME: old}, now=0, source="")
    with pytest.raises(BundleError, match=r"does not prove its tree head #301 consistent"):
        check.finish()


def test_proof_tiles_refuses_an_older_tree_that_is_newer() -> None:
    db, _ = _db(2)
    head = parse_tree(db.note().split(b"\n\n")[0] + b"\n")

    with pytest.raises(TlogError, match="is newer than the head"):
        proof_tiles(head, [], {}, since=[Tree(5, head.hash)])
    assert proof_tiles(head, [], {}) is None
    assert isinstance(proof_tiles(head, [(0, db.records[0])], {}), NeedTiles)


def test_the_head_a_bundle_follows_must_verify_and_be_proven() -> None:
    db, mods = _db(2)
    old = db.note()
    module, version, gomod = "example.com/m", "v1.2.0", b"module example.com/m\n"
    z = make_zip(module, version, {"go.mod": gomod})
    db.add(module, version, gomod, z)
    db.publish()
    mods.append((module, version, gomod, z))
    m, facts = _bundle(db, mods, [2], held=[0, 1])

    def since(note: bytes) -> Manifest:
        d = msgspec.structs.replace(m.databases[0], since=note.decode())
        return msgspec.structs.replace(m, databases=[d])

    assert _run(_check(db, since(old)), facts).versions == 1
    other = FixtureDB(NAME, seed=b"o" * 32)
    with pytest.raises(BundleError, match=r"the bundle follows \(since\) does not verify"):
        _check(db, since(other.note()))
    forked = FixtureDB(NAME)
    forked.add_record("example.com/x@v1.0.0", b"x\n")
    forked.add_record("example.com/y@v1.0.0", b"y\n")
    forked.publish()
    with pytest.raises(BundleError, match=r"is not consistent with the head #2 it follows"):
        _run(_check(db, since(forked.note())), facts)
    bare = msgspec.structs.replace(
        since(old), databases=[msgspec.structs.replace(since(old).databases[0], tiles=[])]
    )
    without = {k: f for k, f in facts.items() if "/tile/" not in k}
    with pytest.raises(BundleError, match=r"lacks the tiles proving its tree head #3 consistent"):
        _run(_check(db, bare), without)


def test_created_must_be_a_utc_time() -> None:
    m = msgspec.structs.replace(_manifest(), created="yesterday")
    with pytest.raises(BundleError, match=r"created 'yesterday': want a UTC time"):
        parse_manifest(encode_manifest(m))
