"""docs/scale-out.md's worked setup, run as written: its TOML file for three replicas on one
bucket (a real ``weed mini``), its nginx site in front of them, and the real go command through
nginx with the checksum database on, before and after one replica is killed.

Only what cannot be the same here is replaced: the addresses (loopback, free ports), the
bucket, the upstream (a fixture tree and checksum database), the credentials and ``TMPDIR``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini
from serving import go_env, run_go, serve
from sumdbfix import FixtureDB, add_version

from support import debian_tool

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
NAME = "sumdb.test"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(), re.M | re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_conf(site: str, work: Path, replicas: list[int], port: int) -> str:
    """The doc's site, its replica addresses and listen port made local, in a main config that
    keeps every file of nginx's under ``work``."""
    addresses = iter(replicas)
    site, n = re.subn(
        r"server 10\.0\.0\.\d+:8080", lambda _: f"server 127.0.0.1:{next(addresses)}", site
    )
    assert n == len(replicas), site
    site, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    assert n == 1, site
    temp = "\n".join(
        f"    {kind}_temp_path {work}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log warn;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{\n    access_log {work}/access.log;\n{temp}\n{site}}}\n"
    )


@pytest.fixture
def world(tmp_path):
    db = FixtureDB(NAME)
    tree = tmp_path / "upstream"
    mods = {}
    for i in range(3):
        mod = f"example.com/lib{i}"
        gomod = f"module {mod}\n\ngo 1.21\n"
        mods[mod] = add_version(tree, db, mod, "v1.0.0", gomod, {"a.go": f"package lib{i}\n"})
    db.publish_in(tree)
    return tree, db


@pytest.fixture
def nginx_dir():
    # nginx's workers run as nobody: a directory they may enter (pytest's tmp_path is private).
    path = Path(tempfile.mkdtemp(prefix="goproxy-scale-out-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_documented_setup_serves_the_go_command_and_survives_a_replica(
    world,
    weed,  # noqa: F811
    tmp_path,
    nginx_dir,
):
    tree, db = world
    (toml,) = _blocks("toml")
    settings = tomllib.loads(toml)
    assert settings["store"].startswith("s3://") and settings["workers"] >= 1
    config = tmp_path / "goproxy.toml"
    config.write_text(toml)
    (envfile,) = _blocks("sh")[1:2]
    documented = dict(line.split("=", 1) for line in envfile.split())
    assert set(documented) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"}
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {**weed.env(), "TMPDIR": str(spool)}
    # What the doc's file says, but for this machine: flags win over the file.
    here = [
        ("--store", f"s3://{weed.bucket}/scale-out-{tmp_path.name}"),
        ("--store-region", CREDENTIALS["AWS_REGION"]),
        ("--upstream", tree.as_uri()),
        ("--sumdb", db.vkey),
    ]
    with contextlib.ExitStack() as stack:
        replicas = []
        for i in range(3):
            args = ["--config", str(config), "--cache-dir", str(tmp_path / f"replica{i}")]
            served = serve(*args, *(x for pair in here for x in pair), env=env, timeout=60)
            stack.callback(served.kill)
            replicas.append(served)
        (site,) = _blocks("nginx")
        port = _free_port()
        conf = nginx_dir / "nginx.conf"
        conf.write_text(_nginx_conf(site, nginx_dir, [r.port for r in replicas], port))
        nginx = debian_tool("nginx", "nginx-light", "nginx")
        with (nginx_dir / "stderr.log").open("wb") as err:
            proc = subprocess.Popen(
                [nginx, "-p", str(nginx_dir), "-c", str(conf), "-e", str(nginx_dir / "e.log")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        stack.callback(proc.wait)
        stack.callback(proc.kill)
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (nginx_dir / "stderr.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        lb = f"http://127.0.0.1:{port}"

        def download(mod: str, home: str) -> None:
            code, out, err = run_go(
                ["mod", "download", "-json", f"{mod}@v1.0.0"],
                go_env(tmp_path / home, lb, sumdb=db.vkey),
            )
            assert code == 0, err
            assert '"Sum": "h1:' in out

        download("example.com/lib0", "home0")
        replicas[0].kill()  # kill -9 of one replica (and its workers)
        download("example.com/lib1", "home1")  # nginx sends it to the others
        download("example.com/lib0", "home2")  # stored by any of them: a hit for every one
    log = (nginx_dir / "access.log").read_text()
    assert " 200 " in log and "/example.com/lib1/@v/v1.0.0.zip" in log


def test_the_documented_unit_file_is_valid(tmp_path):
    """``systemd-analyze verify`` reads the doc's unit as systemd would, with its command and
    environment file pointed at this machine's: no warning."""
    (unit,) = _blocks("ini")
    goproxy = shutil.which("goproxy")
    assert goproxy, "the goproxy command is not installed"
    env = tmp_path / "env"
    env.write_text("TMPDIR=/tmp\n")
    unit = unit.replace("/opt/goproxy/bin/goproxy", goproxy)
    unit = unit.replace("/etc/goproxy/env", str(env))
    path = tmp_path / "goproxy.service"
    path.write_text(unit)
    analyze = debian_tool("systemd-analyze", "systemd")
    out = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
