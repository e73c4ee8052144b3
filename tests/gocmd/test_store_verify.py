"""``goproxy verify``: a self-verifying store, end to end with the real go command.

The proxy stores versions verified against a fixture checksum database (tests/sumdbfix.py),
with a record per version. Then bytes on disk are flipped, as a failing disk or a hand would:
``goproxy verify`` finds them, quarantines them with a note, and the next request (a real
server, the real go command with the database on) fetches them again, verified. A good store
verifies clean with exit 0; ``--repair`` fetches again at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gocmd.test_verify_sumdb import MODS, _add, go, sumdb_proxy
from serving import goproxy
from sumdbfix import FixtureDB

NAME = "sumdb.test"
ZIP = "example.com/lib/@v/v1.1.0.zip"
MOD = "example.com/app/@v/v1.0.0.mod"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    db = FixtureDB(NAME)
    tree = tmp_path_factory.mktemp("tree")
    for m in MODS:
        _add(tree, db, *m)
    db.publish_in(tree)
    return {"db": db, "tree": tree}


def _verify(
    cache: Path, world, *extra: str, upstream: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``goproxy verify`` of ``cache`` against the world's database and tree (or ``upstream``)."""
    return goproxy(
        "verify",
        "--cache-dir",
        str(cache),
        "--sumdb",
        world["db"].vkey,
        "--upstream",
        (upstream or world["tree"]).as_uri(),
        "--jobs",
        "2",
        *extra,
    )


def _download_all(proxy: str, vkey: str, home: Path) -> None:
    for mod, version, *_ in MODS:
        code, out, err = go(["mod", "download", "-json", f"{mod}@{version}"], proxy, vkey, home)
        assert code == 0, out + err


def _filled_cache(world, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    with sumdb_proxy(world["tree"], cache, world["db"].vkey) as served:
        _download_all(served.url, world["db"].vkey, tmp_path / "home1")
    return cache


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x02  # a.go -> c.go: still a valid name
    path.write_bytes(bytes(data))


def _flip_zip_content(path: Path) -> None:
    """Flip one byte of a stored file's name in the zip's central directory: same size,
    still a zip, another tree (so another h1:)."""
    data = path.read_bytes()
    at = data.rindex(b"a.go")  # the central directory's copy of the name
    _flip(path, at)


def test_good_store_verifies_clean(world, tmp_path):
    cache = _filled_cache(world, tmp_path)
    records = sorted(p.name for p in cache.rglob("*.record"))
    assert records == ["v1.0.0.record", "v1.0.0.record", "v1.1.0.record"]
    rec = json.loads((cache / "example.com/lib/@v/v1.1.0.record").read_text())
    assert rec["zip"]["sumdb"] == NAME and rec["mod"]["sumdb"] == NAME
    assert rec["zip"]["upstream"] == world["tree"].as_uri()
    r = _verify(cache, world)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 versions" in r.stdout and "0 failed" in r.stdout, r.stdout
    assert "3/3 versions checked" in r.stderr  # no terminal: plain progress lines
    assert not (cache / "_goproxy" / "quarantine").exists()


def test_flipped_bytes_are_quarantined_and_fetched_again_on_the_next_request(world, tmp_path):
    cache = _filled_cache(world, tmp_path)
    good_zip = (cache / ZIP).read_bytes()
    _flip_zip_content(cache / ZIP)
    assert len((cache / ZIP).read_bytes()) == len(good_zip)
    text = (cache / MOD).read_text()
    (cache / MOD).write_text(text.replace("go 1.21", "go 1.22"))  # same size

    r = _verify(cache, world)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"quarantined {ZIP}: " in r.stdout, r.stdout
    assert f"quarantined {MOD}: " in r.stdout, r.stdout
    assert "2 failed (2 files quarantined" in r.stdout, r.stdout
    assert not (cache / ZIP).exists() and not (cache / MOD).exists()
    (run,) = (p for p in (cache / "_goproxy" / "quarantine").iterdir() if p.is_dir())
    assert (cache / "_goproxy" / "quarantine" / "generation").exists()  # servers watch it
    kept = run / ZIP
    assert kept.exists(), "kept for inspection"
    why = (run / (ZIP + ".why")).read_text()
    assert "why: the stored .zip changed since it was stored" in why, why
    assert (run / (MOD + ".why")).read_text().count("changed since it was stored") == 1
    # The record no longer describes what was quarantined.
    rec = json.loads((cache / "example.com/lib/@v/v1.1.0.record").read_text())
    assert "zip" not in rec and "mod" in rec

    # The next request, real server, real go command, database on: fetched again, verified.
    vkey = world["db"].vkey
    with sumdb_proxy(world["tree"], cache, vkey) as served:
        proxy = served.url
        work = tmp_path / "w"
        work.mkdir()
        home = tmp_path / "home2"
        assert go(["mod", "init", "example.com/scratch"], proxy, vkey, home, work)[0] == 0
        code, _, err = go(["get", "example.com/app@v1.0.0"], proxy, vkey, home, work)
        assert code == 0, err
        code, out, err = go(["mod", "verify"], proxy, vkey, home, work)
        assert code == 0 and "all modules verified" in out, out + err
    assert (cache / ZIP).read_bytes() == good_zip
    assert (cache / MOD).read_text() == text
    r = _verify(cache, world)
    assert r.returncode == 0, r.stdout + r.stderr


def test_repair_fetches_quarantined_files_again_at_once(world, tmp_path):
    cache = _filled_cache(world, tmp_path)
    good_zip = (cache / ZIP).read_bytes()
    _flip_zip_content(cache / ZIP)
    r = _verify(cache, world, "--repair")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"repaired {ZIP}: fetched again and verified" in r.stdout, r.stdout
    assert "repaired 1 of 1" in r.stdout
    assert (cache / ZIP).read_bytes() == good_zip
    assert _verify(cache, world).returncode == 0


def test_repair_that_cannot_fetch_exits_3(world, tmp_path):
    cache = _filled_cache(world, tmp_path)
    _flip_zip_content(cache / ZIP)
    tree = tmp_path / "broken"
    shutil.copytree(world["tree"], tree)
    _flip_zip_content(tree / ZIP)  # the upstream is bad too: the database refuses it
    r = _verify(cache, world, "--repair", upstream=tree)
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"not repaired {ZIP}: 502 " in r.stdout and "checksum mismatch" in r.stdout
    assert not (cache / ZIP).exists()


def _get(proxy: str, path: str, etag: str = "") -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"{proxy}/{path}", headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("ETag", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("ETag", ""), e.read()


def test_a_same_size_replaced_zip_gets_a_new_etag(world, tmp_path):
    cache = _filled_cache(world, tmp_path)
    vkey = world["db"].vkey
    with sumdb_proxy(world["tree"], cache, vkey) as served:
        proxy = served.url
        status, etag, body = _get(proxy, ZIP)
        assert status == 200 and etag
        assert _get(proxy, ZIP, etag)[0] == 304
    _flip_zip_content(cache / ZIP)
    assert len((cache / ZIP).read_bytes()) == len(body)
    with sumdb_proxy(world["tree"], cache, vkey) as served:
        proxy = served.url
        status, new, got = _get(proxy, ZIP, etag)
        assert status == 200 and new and new != etag
        assert got == (cache / ZIP).read_bytes()


def test_a_running_server_never_answers_a_quarantined_file_from_memory(world, tmp_path):
    cache = _filled_cache(world, tmp_path)
    good = (cache / MOD).read_bytes()
    (cache / MOD).write_bytes(good.replace(b"go 1.21", b"go 1.22"))  # bad on disk
    vkey = world["db"].vkey
    with sumdb_proxy(world["tree"], cache, vkey) as served:
        proxy = served.url
        for _ in range(3):  # read once, then kept in memory and in the hot table
            assert _get(proxy, MOD)[2] == good.replace(b"go 1.21", b"go 1.22")
        r = _verify(cache, world)
        assert r.returncode == 1 and f"quarantined {MOD}" in r.stdout, r.stdout + r.stderr
        deadline = time.monotonic() + 10
        while (got := _get(proxy, MOD))[2] != good:
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
        assert got[0] == 200
        assert (cache / MOD).read_bytes() == good  # fetched again, verified, stored
