"""Offline with verification on: real go commands against a proxy with no upstream.

The cache is laid out as an import leaves it (``offlinefix``: module files, each version's
proof, and under ``sumdb/<name>/`` the marker, the signed head, its tiles and the lookups
composed with it). ``goproxy serve --upstream off`` (and ``--offline``) serves it; a client
with only ``GOPROXY`` at the proxy and ``GOSUMDB`` the fixture database's key downloads,
builds, verifies, lists and resolves ``@latest``, every checksum checked against the key and
nothing reached but the proxy. A missing tile makes the go command fail with the proxy's 404
text. ``GOPROXY=file://<cache>`` verifies from such a cache too, and a cache an online proxy
filled holds the ``supported`` marker and serves offline what it verified.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from offlinefix import MODS, NAME, offline_cache, write
from serving import go_env, run_go, serving

MAIN = (
    'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/app"\n)\n\n'
    "func main() { fmt.Println(app.Hello()) }\n"
)


@pytest.fixture(scope="module")
def ready(tmp_path_factory):
    files, db = offline_cache()
    cache = tmp_path_factory.mktemp("ready")
    write(cache, files)
    return cache, db


def _client(home: Path, proxy: str, vkey: str):
    def go(*args: str, cwd: Path | None = None):
        return run_go(list(args), go_env(home, proxy, sumdb=vkey), cwd)

    return go


def _main_module(root: Path) -> Path:
    work = root / "work"
    work.mkdir(parents=True)
    (work / "go.mod").write_text("module example.com/main\n\ngo 1.21\n")
    (work / "main.go").write_text(MAIN)
    return work


def _status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("switch", [("--upstream", "off"), ("--offline",)])
def test_an_offline_proxy_serves_verified_downloads_builds_and_queries(ready, tmp_path, switch):
    cache = tmp_path / "cache"
    shutil.copytree(ready[0], cache)
    vkey = ready[1].vkey
    # ``--offline`` reaches nothing even with an upstream configured (here one that is dead).
    upstream = ("--upstream", "http://127.0.0.1:1") if switch == ("--offline",) else ()
    with serving(*switch, *upstream, "--sumdb", vkey, cache=cache) as served:
        assert any(line.startswith("verify: offline") for line in served.lines), served.lines
        go = _client(tmp_path / "home", served.url, vkey)
        work = _main_module(tmp_path)
        r = go("get", "example.com/app@v1.0.0", cwd=work)
        assert r.returncode == 0, r.show()
        assert "example.com/lib v1.1.0 h1:" in (work / "go.sum").read_text()
        r = go("mod", "download", cwd=work)
        assert r.returncode == 0, r.show()
        r = go("build", "-o", str(tmp_path / "hello"), ".", cwd=work)
        assert r.returncode == 0, r.show()
        r = go("mod", "verify", cwd=work)
        assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()
        r = go("list", "-m", "-versions", "example.com/lib", cwd=work)
        assert r.returncode == 0 and r.stdout.split() == ["example.com/lib", "v1.0.0", "v1.1.0"]
        r = go("get", "example.com/lib@latest", cwd=work)
        assert r.returncode == 0, r.show()
        r = go("list", "-m", "example.com/lib", cwd=work)
        assert r.stdout.split() == ["example.com/lib", "v1.1.0"], r.show()
        r = go("mod", "download", "-json", "example.com/lib@v1.0.0", cwd=work)
        assert r.returncode == 0, r.show()
        # The client checked the database's proofs: its own copy of the signed head.
        kept = tmp_path / "home/gopath/pkg/sumdb" / NAME / "latest"
        assert kept.read_bytes() == ready[1].note()
        # What is not here is a 404 saying so, never a 5xx.
        for path in (
            "example.com/none/@v/list",
            "example.com/none/@latest",
            "example.com/lib/@v/v9.0.0.info",
            f"sumdb/{NAME}/tile/8/0/007",
            f"sumdb/{NAME}/lookup/example.com/none@v1.0.0",
            "sumdb/other.test/supported",
        ):
            status, body = _status(f"{served.url}/{path}")
            assert status == 404, (path, status, body)
        assert b"not in this offline proxy" in _status(f"{served.url}/example.com/none/@latest")[1]


def test_a_missing_tile_fails_the_go_command_with_the_proxys_404(ready, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(ready[0], cache)
    vkey = ready[1].vkey
    for tile in (cache / "sumdb" / NAME / "tile" / "8" / "0").rglob("*"):
        if tile.is_file():
            tile.unlink()
    with serving("--upstream", "off", "--sumdb", vkey, cache=cache) as served:
        go = _client(tmp_path / "home", served.url, vkey)
        r = go("mod", "download", "example.com/lib@v1.0.0")
        assert r.returncode != 0
        text = r.stdout + r.stderr
        assert "tile/8/0/000" in text, text
        assert "404 Not Found" in text and "not in this offline proxy" in text, text
        assert "SECURITY ERROR" not in text
        status, body = _status(f"{served.url}/sumdb/{NAME}/tile/8/0/000.p/3")
        assert status == 404 and b"not in this offline proxy" in body


def test_a_ready_cache_serves_file_urls_with_verification(ready, tmp_path):
    """``GOPROXY=file://<cache>``: the go command reads the marker, the lookups and tiles."""
    cache, db = ready
    go = _client(tmp_path / "home", cache.as_uri(), db.vkey)
    work = _main_module(tmp_path)
    r = go("get", "example.com/app@v1.0.0", cwd=work)
    assert r.returncode == 0, r.show()
    r = go("build", "-o", str(tmp_path / "hello"), ".", cwd=work)
    assert r.returncode == 0, r.show()
    r = go("mod", "verify", cwd=work)
    assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()


def test_a_cache_an_online_proxy_filled_serves_offline_with_verification(tmp_path):
    """An online proxy keeps what offline serving needs of what it verified: the proofs, the
    tiles it checked them with, the verified tree, and the ``supported`` marker (written when
    it first verifies against a database). Served offline, that cache answers a fresh client,
    lookups composed from the kept proofs and the verified tree."""
    tree = tmp_path / "tree"
    files, db = offline_cache(MODS)
    write(tree, {k: v for k, v in files.items() if not k.startswith("_goproxy/")})
    for mod in ("example.com/lib", "example.com/app"):
        names = {k.split("/@v/")[1].rsplit(".", 1)[0] for k in files if k.startswith(mod + "/@v/")}
        (tree / mod / "@v" / "list").write_text("".join(v + "\n" for v in sorted(names)))
    cache = tmp_path / "cache"
    with serving("--upstream", tree.as_uri(), "--sumdb", db.vkey, cache=cache) as served:
        go = _client(tmp_path / "first", served.url, db.vkey)
        r = go("get", "example.com/app@v1.0.0", cwd=_main_module(tmp_path / "a"))
        assert r.returncode == 0, r.show()
    assert (cache / "sumdb" / NAME / "supported").read_bytes() == b""
    with serving("--upstream", "off", "--sumdb", db.vkey, cache=cache) as served:
        go = _client(tmp_path / "second", served.url, db.vkey)
        work = _main_module(tmp_path / "b")
        r = go("get", "example.com/app@v1.0.0", cwd=work)
        assert r.returncode == 0, r.show()
        r = go("mod", "verify", cwd=work)
        assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()
