"""The go command with the checksum database ON, through the proxy, which verifies first.

The database is a fixture built with the core's note and tlog code, mirrored in the upstream
tree under ``sumdb/<name>/`` (as a proxy mirrors one), so the proxy reaches it the way the go
command would, and the go command reaches it through the proxy's ``/sumdb/``. Good modules
download, ``go get`` and ``go mod verify`` pass; a tampered upstream gets the client a clear
proxy error (never a SECURITY ERROR from bytes we kept), and once healed everything works.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from serving import go_env, run_go, serving
from sumdbfix import FixtureDB

T = "2024-01-02T03:04:05Z"
NAME = "sumdb.test"


def _zip(mod: str, version: str, files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(f"{mod}@{version}/{name}", content)
    return buf.getvalue()


def _add(tree: Path, db: FixtureDB | None, mod: str, version: str, gomod: str, src: str) -> None:
    d = tree / mod / "@v"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{version}.info").write_text(json.dumps({"Version": version, "Time": T}))
    (d / f"{version}.mod").write_text(gomod)
    z = _zip(mod, version, {"go.mod": gomod, "a.go": src})
    (d / f"{version}.zip").write_bytes(z)
    with (d / "list").open("a") as f:
        f.write(version + "\n")
    if db is not None:
        db.add(mod, version, gomod.encode(), z)


MODS = [
    ("example.com/lib", "v1.0.0", "module example.com/lib\n\ngo 1.21\n", "package lib\n"),
    ("example.com/lib", "v1.1.0", "module example.com/lib\n\ngo 1.21\n", "package lib // 1.1\n"),
    (
        "example.com/app",
        "v1.0.0",
        "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n",
        'package app\n\nimport _ "example.com/lib"\n',
    ),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A good tree with its database, and a tampered copy sharing the same database."""
    db = FixtureDB(NAME)
    good = tmp_path_factory.mktemp("good")
    for m in MODS:
        _add(good, db, *m)
    db.publish_in(good)
    bad = tmp_path_factory.mktemp("bad")
    shutil.copytree(good, bad, dirs_exist_ok=True)
    z = bad / "example.com/lib/@v/v1.1.0.zip"
    z.write_bytes(
        _zip("example.com/lib", "v1.1.0", {"go.mod": MODS[1][2], "a.go": "package lib // evil\n"})
    )
    return {"db": db, "good": good, "bad": bad}


def sumdb_proxy(tree: Path, cache: Path, vkey: str, frontend: str = "trio", env=None):
    """``goproxy serve`` on ``tree``, verifying against the database ``vkey`` names."""
    return serving(
        "--upstream", tree.as_uri(), "--sumdb", vkey, "--frontend", frontend, cache=cache, env=env
    )


def go(args, proxy: str, vkey: str, home: Path, cwd: Path | None = None):
    return run_go(args, go_env(home, proxy, sumdb=vkey), cwd)


def test_good_modules_download_build_and_verify(world, tmp_path):
    vkey = world["db"].vkey
    with sumdb_proxy(world["good"], tmp_path / "cache", vkey) as served:
        proxy, lines = served.url, served.lines
        assert any(line.startswith("verify: ") and vkey in line for line in lines), lines
        code, out, err = go(
            ["mod", "download", "-json", "example.com/lib@v1.0.0"], proxy, vkey, tmp_path
        )
        assert code == 0, err
        assert json.loads(out)["Sum"] == world["db"].records[0].decode().split()[2]
        work = tmp_path / "w"
        work.mkdir()
        assert go(["mod", "init", "example.com/scratch"], proxy, vkey, tmp_path, work)[0] == 0
        code, _, err = go(["get", "example.com/app@v1.0.0"], proxy, vkey, tmp_path, work)
        assert code == 0, err
        code, out, err = go(["mod", "verify"], proxy, vkey, tmp_path, work)
        assert code == 0, err
        assert "all modules verified" in out
        # Proofs are kept beside the versions the proxy verified.
        assert (tmp_path / "cache/example.com/lib/@v/v1.1.0.lookup").exists()


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_tampered_upstream_gets_a_clear_proxy_error_then_heals(world, tmp_path, frontend):
    vkey = world["db"].vkey
    tree = tmp_path / "tree"
    shutil.copytree(world["bad"], tree)
    cache = tmp_path / "cache"
    env = {"GOPROXY_CORE_FAILURE_TTL": "1"}
    with sumdb_proxy(tree, cache, vkey, frontend, env) as served:
        proxy = served.url
        code, out, err = go(
            ["mod", "download", "-json", "example.com/lib@v1.1.0"], proxy, vkey, tmp_path
        )
        assert code != 0
        text = out + err
        assert "502 Bad Gateway" in text, text
        assert "verifying example.com/lib@v1.1.0: checksum mismatch" in text, text
        assert "SECURITY ERROR" not in text
        assert not (cache / "example.com/lib/@v/v1.1.0.zip").exists()
        # The upstream heals: the right bytes come back, no manual step, once the failure is
        # no longer remembered (failure-ttl).
        shutil.copy(world["good"] / "example.com/lib/@v/v1.1.0.zip", tree / "example.com/lib/@v")
        time.sleep(1.1)
        code, out, err = go(
            ["mod", "download", "-json", "example.com/lib@v1.1.0"], proxy, vkey, tmp_path
        )
        assert code == 0, err
        assert (cache / "example.com/lib/@v/v1.1.0.zip").exists()
