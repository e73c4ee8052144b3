"""``goproxy export`` / ``goproxy import``: a cache carried across an air gap with its proofs.

Cache A is filled online through the engine (a ``file://`` upstream tree with a fixture
checksum database mirrored under ``sumdb/<name>/``, verification on), then exported; cache B,
which reaches nothing, imports the bundle with the database's key given on its own command
line. B then holds the cache-tree contract (``sumdb/<name>/supported``, ``latest``, tiles,
lookups composed with the head; proofs, records, the verified tree), and a real go command
with only ``GOPROXY=file://<B>`` and ``GOSUMDB=<key>`` downloads, builds and verifies. A bundle
with one byte altered in a zip, a manifest line, a tile or the tree head, or a head signed by
another key, is refused whole and B is unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from goproxy_cli.main import main
from goproxy_core.sumdb import sign
from serving import go_env, goproxy, run_go
from sumdbfix import FixtureDB, add_version

NAME = "sumdb.test"
T = "2024-01-02T03:04:05Z"
LIB = "module example.com/lib\n\ngo 1.21\n"
APP = "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n"
MODS = [
    ("example.com/lib", "v1.0.0", LIB, {"lib.go": "package lib\n"}),
    ("example.com/lib", "v1.1.0", LIB, {"lib.go": "package lib\n\nconst V = 11\n"}),
    ("example.com/app", "v1.0.0", APP, {"app.go": 'package app\n\nimport _ "example.com/lib"\n'}),
]
NEW = ("example.com/lib", "v1.2.0", LIB, {"lib.go": "package lib\n\nconst V = 12\n"})


def _add(tree: Path, db: FixtureDB, mod: str, version: str, gomod: str, files: dict) -> None:
    add_version(tree, db, mod, version, gomod, files, T)


def _fill(cache: Path, tree: Path, vkey: str, versions) -> None:
    """Fetch the versions' files into ``cache`` through the engine, verified."""
    from goproxy_cli.settings import load_settings
    from goproxy_cli.verify import VerifyRun
    from goproxy_core import compile_config
    from goproxy_io import Executor, Fetcher, FetchSettings
    from goproxy_stores import DiskStore

    settings = load_settings(
        {"cache_dir": str(cache), "upstream": tree.as_uri(), "sumdb": vkey}, environ={}
    )
    store = DiskStore(cache)
    ex = Executor(store, Fetcher(FetchSettings()))
    try:
        run = VerifyRun(store, compile_config(settings.proxy_config()), executor=ex)
        for mod, version, *_ in versions:
            for ext in ("info", "mod", "zip"):
                assert run.refetch(f"{mod}/@v/{version}.{ext}") == ""
    finally:
        ex.close()


def _goproxy(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _listing(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _members(bundle: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(bundle) as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]


def _write(bundle: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(bundle, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _go(home: Path, cache: Path, vkey: str, args: list[str], cwd: Path):
    env = go_env(home, cache.as_uri(), sumdb=vkey, GOFLAGS="-modcacherw -mod=mod")
    return run_go(args, env, cwd)


@pytest.fixture(autouse=True)
def _no_settings_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("GOPROXY_CORE_"):
            monkeypatch.delenv(k)


@pytest.fixture
def world(tmp_path: Path):
    db = FixtureDB(NAME)
    tree = tmp_path / "tree"
    for m in MODS:
        _add(tree, db, *m)
    db.publish_in(tree)
    a = tmp_path / "a"
    _fill(a, tree, db.vkey, MODS)
    return {"db": db, "tree": tree, "a": a, "vkey": db.vkey}


def _export(capsys, world, out: Path, *sources: str) -> None:
    code, text, err = _goproxy(
        capsys,
        "export",
        "--cache-dir",
        str(world["a"]),
        "--upstream",
        world["tree"].as_uri(),
        "--sumdb",
        world["vkey"],
        "--output",
        str(out),
        *sources,
    )
    assert code == 0, err
    assert text.startswith("export: "), text


def _import(capsys, cache: Path, vkey: str, bundle: Path) -> tuple[int, str, str]:
    cache.mkdir(exist_ok=True)
    return _goproxy(capsys, "import", "--cache-dir", str(cache), "--sumdb", vkey, str(bundle))


def _project(tmp_path: Path) -> Path:
    work = tmp_path / "proj"
    work.mkdir()
    (work / "go.mod").write_text(
        "module example.com/proj\n\ngo 1.21\n\nrequire example.com/app v1.0.0\n"
    )
    (work / "main.go").write_text('package main\n\nimport _ "example.com/app"\n\nfunc main() {}\n')
    return work


def test_round_trip_then_a_go_client_verifies_offline(world, tmp_path, capsys):
    bundle = tmp_path / "one.tar"
    _export(capsys, world, bundle, "--all")
    names = [n for n, _ in _members(bundle)]
    assert names[0] == "manifest.json"
    assert "example.com/lib/@v/v1.1.0.zip" in names

    b = tmp_path / "b"
    code, out, err = _import(capsys, b, world["vkey"], bundle)
    assert code == 0, err
    assert "import: 3 versions" in out, out
    assert f"{NAME} at tree #3" in out

    db = world["db"]
    note = db.note()
    # The cache-tree contract.
    assert (b / "sumdb" / NAME / "supported").read_bytes() == b""
    assert (b / "sumdb" / NAME / "latest").read_bytes() == note
    assert (b / "_goproxy/sumdb" / NAME / "verified-tree").read_bytes() == note
    for path, data in db.files().items():
        if path.startswith("lookup/"):
            # Each lookup is the database's own body: the record and the head's note.
            assert (b / "sumdb" / NAME / path).read_bytes() == data, path
            proof = path.removeprefix("lookup/").replace("@", "/@v/") + ".lookup"
            assert (b / proof).read_bytes() == data
    assert (b / "sumdb" / NAME / "tile/8/0/000.p/3").read_bytes() == db.files()["tile/8/0/000.p/3"]
    for mod, version, *_ in MODS:
        for ext in ("info", "mod", "zip", "record"):
            assert (b / mod / "@v" / f"{version}.{ext}").is_file()
    record = json.loads((b / "example.com/lib/@v/v1.1.0.record").read_bytes())
    assert record["zip"]["sumdb"] == NAME
    assert not list((b / "_goproxy").glob("import/*/*"))
    # The same bundle again: the same tree, nothing to prove between them, the same files
    # (records say when they were written).
    before = _listing(b)
    code, out, err = _import(capsys, b, world["vkey"], bundle)
    assert code == 0, err
    after = _listing(b)
    assert after.keys() == before.keys()
    assert {k for k in after if after[k] != before[k]} == {
        f"{m}/@v/{v}.record" for m, v, *_ in MODS
    }

    # goproxy verify agrees with what was imported.
    r = goproxy("verify", "--cache-dir", str(b), "--sumdb", world["vkey"], "--upstream", "off")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 good, 0 failed" in r.stdout, r.stdout

    # A go client with only GOPROXY=file://B and the database's key: everything verified.
    work = _project(tmp_path)
    home = tmp_path / "home"
    r = _go(home, b, world["vkey"], ["mod", "download", "all"], work)
    assert r.returncode == 0, r.show()
    r = _go(home, b, world["vkey"], ["build", "./..."], work)
    assert r.returncode == 0, r.show()
    r = _go(home, b, world["vkey"], ["mod", "verify"], work)
    assert r.returncode == 0, r.show()
    assert "all modules verified" in r.stdout
    assert (home / "gopath/pkg/sumdb" / NAME / "latest").read_bytes() == note
    gosum = (work / "go.sum").read_text()
    assert gosum.count(" h1:") == 4  # app and lib v1.1.0: zip and go.mod each


def test_export_by_gosum_takes_go_mod_only_lines_as_mod_only(world, tmp_path, capsys):
    lines = [ln for ln in world["db"].records[0].decode().splitlines() if "/go.mod" in ln]
    lines += world["db"].records[2].decode().splitlines()
    gosum = tmp_path / "go.sum"
    gosum.write_text("\n".join(lines) + "\n")
    bundle = tmp_path / "sum.tar"
    _export(capsys, world, bundle, str(gosum))
    names = {n for n, _ in _members(bundle)}
    assert "example.com/lib/@v/v1.0.0.mod" in names
    assert "example.com/lib/@v/v1.0.0.zip" not in names
    assert "example.com/app/@v/v1.0.0.zip" in names
    assert "example.com/lib/@v/v1.1.0.mod" not in names
    code, out, err = _import(capsys, tmp_path / "b", world["vkey"], bundle)
    assert code == 0, err
    assert "import: 2 versions" in out


def test_export_refuses_what_the_cache_lacks(world, tmp_path, capsys):
    gosum = tmp_path / "go.sum"
    gosum.write_text("example.com/other v1.0.0 h1:" + "A" * 43 + "=\n")
    code, _, err = _goproxy(
        capsys,
        "export",
        "--cache-dir",
        str(world["a"]),
        "--upstream",
        "off",
        "--sumdb",
        world["vkey"],
        "--offline",
        "--output",
        str(tmp_path / "x.tar"),
        str(gosum),
    )
    assert code == 1
    assert "example.com/other@v1.0.0: its .mod is not in the cache" in err
    assert not (tmp_path / "x.tar").exists()


def test_offline_export_proves_with_the_tree_verified_here(world, tmp_path, capsys):
    bundle = tmp_path / "off.tar"
    code, out, err = _goproxy(
        capsys,
        "export",
        "--cache-dir",
        str(world["a"]),
        "--sumdb",
        world["vkey"],
        "--offline",
        "--output",
        str(bundle),
        "example.com/lib",
    )
    assert code == 0, err
    assert "export: 2 versions" in out
    code, out, err = _import(capsys, tmp_path / "b", world["vkey"], bundle)
    assert code == 0, err


def _manifest(members):
    return json.loads(members[0][1])


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _tamper_zip(members):
    return [
        (n, _flip(d, len(d) // 2) if n.endswith("v1.1.0.zip") else d) for n, d in members
    ], "bundle member example.com/lib/@v/v1.1.0.zip: SHA-256"


def _tamper_manifest_line(members):
    text = members[0][1].decode()
    m = _manifest(members)
    h1 = next(v["zip"] for v in m["versions"] if v["version"] == "v1.1.0")
    evil = h1[:10] + ("B" if h1[10] != "B" else "C") + h1[11:]
    text = text.replace(h1, evil)
    return [("manifest.json", text.encode()), *members[1:]], "the manifest says " + evil


def _tamper_tile(members):
    out = [(n, _flip(d, 5) if "/tile/" in n else d) for n, d in members]
    return out, "bundle member sumdb/sumdb.test/tile/8/0/000.p/3: SHA-256"


def _tamper_tile_and_its_hash(members):
    m = _manifest(members)
    out = []
    for n, d in members:
        if "/tile/" in n:
            d = _flip(d, 5)
            for t in m["databases"][0]["tiles"]:
                if t["key"] == n:
                    t["sha256"] = hashlib.sha256(d).hexdigest()
        out.append((n, d))
    out[0] = ("manifest.json", json.dumps(m).encode())
    return out, "is not proven at the bundle's tree head #3"


def _tamper_head(members):
    m = _manifest(members)
    head = m["databases"][0]["head"]
    lines = head.split("\n")
    lines[1] = "4"
    m["databases"][0]["head"] = "\n".join(lines)
    return [("manifest.json", json.dumps(m).encode()), *members[1:]], "does not verify"


def _tamper_other_key(members):
    other = FixtureDB(NAME, seed=b"x" * 32)
    m = _manifest(members)
    # The same tree head text, signed with another key of the same name.
    text = m["databases"][0]["head"].split("\n\n")[0] + "\n"
    m["databases"][0]["head"] = sign(text, [other._signer]).decode()
    return [("manifest.json", json.dumps(m).encode()), *members[1:]], "does not verify"


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_zip,
        _tamper_manifest_line,
        _tamper_tile,
        _tamper_tile_and_its_hash,
        _tamper_head,
        _tamper_other_key,
    ],
)
def test_a_tampered_bundle_is_refused_whole(world, tmp_path, capsys, tamper):
    bundle = tmp_path / "good.tar"
    _export(capsys, world, bundle, "--all")
    members, why = tamper(_members(bundle))
    bad = tmp_path / "bad.tar"
    _write(bad, members)
    b = tmp_path / "b"
    b.mkdir()
    before = _listing(b)
    code, _, err = _import(capsys, b, world["vkey"], bad)
    assert code == 1, err
    assert "refused" in err and why in err, err
    assert "nothing of it was added" in err
    assert _listing(b) == before
    assert sorted(p.name for p in b.iterdir()) in ([], ["_goproxy"])
    assert not [p for p in b.rglob("*") if p.is_file()]


def test_a_bundle_altered_in_its_tar_framing_is_refused(world, tmp_path, capsys):
    bundle = tmp_path / "good.tar"
    _export(capsys, world, bundle, "--all")
    raw = bundle.read_bytes()
    bad = tmp_path / "bad.tar"
    bad.write_bytes(_flip(raw, 600))  # inside the manifest's own bytes
    b = tmp_path / "b"
    code, _, err = _import(capsys, b, world["vkey"], bad)
    assert code == 1
    assert "refused" in err
    assert not [k for k in _listing(b) if not k.startswith("_goproxy/")]


def test_import_without_the_key_is_refused(world, tmp_path, capsys):
    bundle = tmp_path / "good.tar"
    _export(capsys, world, bundle, "--all")
    other = FixtureDB("other.test")
    code, _, err = _import(capsys, tmp_path / "b", other.vkey, bundle)
    assert code == 1
    assert "this importer has no key for it" in err


def test_incremental_bundle_on_top_of_a_first_import(world, tmp_path, capsys):
    first = tmp_path / "one.tar"
    _export(capsys, world, first, "--all")
    b = tmp_path / "b"
    code, _, err = _import(capsys, b, world["vkey"], first)
    assert code == 0, err
    old_note = world["db"].note()

    # The database moves on; A gets one more version, online.
    db, tree = world["db"], world["tree"]
    _add(tree, db, *NEW)
    db.publish_in(tree)
    _fill(world["a"], tree, world["vkey"], [NEW])
    second = tmp_path / "two.tar"
    _export(capsys, world, second, "--all", "--since", str(first))
    m = _manifest(_members(second))
    assert m["databases"][0]["since"] == old_note.decode()
    assert [v["version"] for v in m["versions"] if not v.get("held")] == ["v1.2.0"]
    assert len([v for v in m["versions"] if v.get("held")]) == 3

    code, out, err = _import(capsys, b, world["vkey"], second)
    assert code == 0, err
    assert "1 versions, 3 earlier versions proven again" in out, out
    note = db.note()
    assert note != old_note
    assert (b / "_goproxy/sumdb" / NAME / "verified-tree").read_bytes() == note
    assert (b / "sumdb" / NAME / "latest").read_bytes() == note
    for path, data in db.files().items():
        if path.startswith("lookup/"):
            assert (b / "sumdb" / NAME / path).read_bytes() == data, path

    # The first bundle again is older than what B verified now: refused, B unchanged.
    before = _listing(b)
    code, _, err = _import(capsys, b, world["vkey"], first)
    assert code == 1
    assert "is older than the tree #4 this cache verified" in err
    assert _listing(b) == before

    # A go client on B sees the new version and the old ones, all verified.
    work = _project(tmp_path)
    home = tmp_path / "home"
    r = _go(home, b, world["vkey"], ["get", "example.com/lib@v1.2.0"], work)
    assert r.returncode == 0, r.show()
    r = _go(home, b, world["vkey"], ["mod", "download", "example.com/lib@v1.0.0"], work)
    assert r.returncode == 0, r.show()
    r = _go(home, b, world["vkey"], ["mod", "verify"], work)
    assert r.returncode == 0, r.show()


def test_import_after_a_crash_mid_import_leaves_nothing_visible(world, tmp_path, capsys):
    """Members staged by an import whose process is gone are removed by the next import."""
    bundle = tmp_path / "good.tar"
    _export(capsys, world, bundle, "--all")
    b = tmp_path / "b"
    stale = b / "_goproxy/import/999999999-dead/example.com/lib/@v/v1.0.0.zip"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    code, _, err = _import(capsys, b, world["vkey"], bundle)
    assert code == 0, err
    assert not stale.exists()
    assert not (b / "_goproxy/import/999999999-dead").exists()


def test_the_own_checksum_database_travels_too(world, tmp_path, capsys):
    """Versions our own database logged carry its records, head and tiles under its name."""
    from goproxy_core.sumdb import verifier_key
    from goproxy_io.sumdb_log import SumdbLog, signer_key

    own = "sumdb.corp.test"
    directory = world["a"] / "sumdb" / own
    log = SumdbLog(directory, own)
    try:
        log.append("example.com/lib", "v1.0.0", world["db"].records[0])
        log.append("example.com/lib", "v1.1.0", world["db"].records[1])
    finally:
        log.close()
    own_key = verifier_key(signer_key(directory, own))
    bundle = tmp_path / "own.tar"
    code, out, err = _goproxy(
        capsys,
        "export",
        "--cache-dir",
        str(world["a"]),
        "--sumdb",
        world["vkey"],
        "--own-sumdb",
        own,
        "--offline",
        "--output",
        str(bundle),
        "example.com/lib",
    )
    assert code == 0, err
    assert f"{own} at tree #2" in out, out
    m = _manifest(_members(bundle))
    assert {r["sumdb"] for v in m["versions"] for r in v["records"]} == {NAME, own}

    b = tmp_path / "b"
    b.mkdir()
    code, _, err = _goproxy(
        capsys, "import", "--cache-dir", str(b), "--sumdb", world["vkey"], str(bundle)
    )
    assert code == 1
    assert f"checksum database {own}: this importer has no key for it" in err
    code, out, err = _goproxy(
        capsys,
        "import",
        "--cache-dir",
        str(b),
        "--sumdb",
        world["vkey"],
        "--sumdb",
        own_key,
        str(bundle),
    )
    assert code == 0, err
    assert (b / "sumdb" / own / "supported").exists()
    assert (b / "sumdb" / own / "lookup/example.com/lib@v1.1.0").exists()
    # A client that trusts only our own database verifies against it.
    work = tmp_path / "w"
    work.mkdir()
    home = tmp_path / "home"
    r = _go(home, b, own_key, ["mod", "download", "-json", "example.com/lib@v1.1.0"], work)
    assert r.returncode == 0, r.show()
    assert (home / "gopath/pkg/sumdb" / own / "latest").exists()


def test_the_usage_index_learns_the_imported_files(world, tmp_path, capsys):
    from goproxy_stores import DiskStore
    from goproxy_stores.usage import UsageIndex

    bundle = tmp_path / "one.tar"
    _export(capsys, world, bundle, "--all")
    b = tmp_path / "b"
    index = UsageIndex(DiskStore(b))
    try:
        assert index.file_count() == 0
        code, _, err = _import(capsys, b, world["vkey"], bundle)
        assert code == 0, err
        got = index.version("example.com/lib", "v1.1.0")
        assert got is not None
        zip_size = (b / "example.com/lib/@v/v1.1.0.zip").stat().st_size
        assert got.bytes > zip_size
        assert index.file_count() >= 3 * 5
    finally:
        index.close()


def _export_offline(capsys, world, out: Path, *sources: str) -> tuple[int, str, str]:
    return _goproxy(
        capsys,
        "export",
        "--cache-dir",
        str(world["a"]),
        "--sumdb",
        world["vkey"],
        "--offline",
        "--output",
        str(out),
        *sources,
    )


def test_export_refuses_a_cache_that_disagrees_with_the_database(world, tmp_path, capsys):
    mod = world["a"] / "example.com/lib/@v/v1.0.0.mod"
    mod.write_text(mod.read_text() + "// changed\n")
    code, _, err = _export_offline(capsys, world, tmp_path / "x.tar", "--all")
    assert code == 1
    assert "example.com/lib@v1.0.0: its cached .mod hashes to" in err
    assert "run goproxy verify" in err
    gosum = tmp_path / "go.sum"
    gosum.write_text(f"example.com/lib v1.1.0 h1:{'B' * 43}=\n")
    code, _, err = _export_offline(capsys, world, tmp_path / "x.tar", str(gosum))
    assert code == 1
    assert "go.sum says h1:BBB" in err
    assert not (tmp_path / "x.tar").exists()


def test_offline_export_needs_the_tiles_in_the_cache(world, tmp_path, capsys):
    for tile in (world["a"] / "sumdb" / NAME / "tile").rglob("*"):
        if tile.is_file():
            tile.unlink()
    code, _, err = _export_offline(capsys, world, tmp_path / "x.tar", "--all")
    assert code == 1
    assert "--offline: not in the cache" in err, err
    (world["a"] / "_goproxy/sumdb" / NAME / "verified-tree").unlink()
    code, _, err = _export_offline(capsys, world, tmp_path / "x.tar", "--all")
    assert code == 1
    assert "this cache verified no tree of it yet" in err, err


def test_export_and_import_usage_errors(world, tmp_path, capsys):
    code, _, err = _export_offline(capsys, world, tmp_path / "x.tar")
    assert code == 1
    assert "say what to export" in err
    (tmp_path / "afile").write_text("")
    code, _, err = _goproxy(
        capsys, "import", "--cache-dir", str(tmp_path / "afile"), str(tmp_path / "x.tar")
    )
    assert code == 2
    assert "cache-dir" in err and "not a directory" in err
    # A missing cache dir is started, as goproxy serve starts one; the missing bundle then
    # is the error.
    code, _, err = _goproxy(
        capsys, "import", "--cache-dir", str(tmp_path / "new"), str(tmp_path / "x.tar")
    )
    assert code == 1 and (tmp_path / "new").is_dir()
    (tmp_path / "c").mkdir()
    code, _, err = _import(capsys, tmp_path / "c", world["vkey"], tmp_path / "missing.tar")
    assert code == 1
    assert "nothing of it was added" in err
    notar = tmp_path / "not.tar"
    notar.write_bytes(b"hello")
    code, _, err = _import(capsys, tmp_path / "c", world["vkey"], notar)
    assert code == 1
    assert "not a readable bundle" in err
    _write(notar, [("other.json", b"{}")])
    code, _, err = _import(capsys, tmp_path / "c", world["vkey"], notar)
    assert code == 1
    assert "the first member is not manifest.json" in err
    code, _, err = _goproxy(
        capsys,
        "export",
        "--cache-dir",
        str(world["a"]),
        "--sumdb",
        world["vkey"],
        "--offline",
        "--since",
        str(notar),
        "--output",
        str(tmp_path / "x.tar"),
        "--all",
    )
    assert code == 1
    assert "the first member is not manifest.json" in err


def test_one_flipped_bit_in_any_member_is_refused(world, tmp_path, capsys):
    """Every member, its first, middle and last byte: refused whole, the cache unchanged."""
    bundle = tmp_path / "good.tar"
    _export(capsys, world, bundle, "--all")
    members = _members(bundle)
    b = tmp_path / "b"
    b.mkdir()
    before = _listing(b)
    tried = 0
    for i, (name, data) in enumerate(members[1:], 1):
        for at in sorted({0, len(data) // 2, len(data) - 1}):
            changed = list(members)
            changed[i] = (name, _flip(data, at))
            bad = tmp_path / "bad.tar"
            _write(bad, changed)
            code, _, err = _import(capsys, b, world["vkey"], bad)
            assert code == 1, (name, at)
            assert f"bundle member {name}: SHA-256" in err, err
            assert _listing(b) == before
            tried += 1
    assert tried >= 3 * 10


def test_export_takes_a_module_directory_and_names_a_pattern_that_matches_nothing(
    world, tmp_path, capsys
):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "go.sum").write_text(world["db"].records[2].decode())
    code, out, err = _export_offline(capsys, world, tmp_path / "x.tar", str(proj))
    assert code == 0, err
    assert "export: 1 versions" in out
    code, _, err = _export_offline(capsys, world, tmp_path / "y.tar", "example.org/nothing")
    assert code == 1
    assert "example.org/nothing: neither a go.sum file nor a pattern matching" in err
