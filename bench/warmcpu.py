"""Server CPU per warm client: ``python bench/warmcpu.py [--modules N] [--clients N]``.

Everything runs on 127.0.0.1. The script builds the fixture graph of ``bench/run.py`` (each
module two versions, ``v1.1.0`` requiring the next module) and a checksum database for it (the
test fixture ``tests/sumdbfix.py``, built with the core's note and tlog code, mirrored in the
tree under ``sumdb/<name>/``), serves the tree through ``goproxy serve`` with the database on
(``--sumdb <key>``, the proxy verifying every version), warms the proxy with one client, then
runs ``go mod download`` of the whole graph ``--clients`` times, each with fresh client caches
(module cache, checksum-database cache) and ``GOSUMDB`` on, through the proxy.

Around each warm client it reads the server's CPU time (``/proc/PID/stat`` utime + stime, all
threads) and counts its requests in the access log, and prints CPU-s per warm client, CPU-us per
request and the share of ``/sumdb/`` requests.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import run as bench  # noqa: E402

from goproxy_core.module import unescape_path, unescape_version  # noqa: E402
from sumdbfix import FixtureDB  # noqa: E402

NAME = "sumdb.test"
_ACCESS = re.compile(rb"\b(?:GET|HEAD) (/\S*) (\d{3}) ")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build(work: Path, modules: int) -> tuple[bench.Fixture, str]:
    """The fixture graph with its checksum database in the tree; returns it and the db key."""
    fx = bench.build_fixture(work, modules=modules)
    db = FixtureDB(NAME)
    for mod_file in sorted(fx.tree.rglob("@v/*.mod")):
        module = unescape_path(mod_file.parent.parent.relative_to(fx.tree).as_posix())
        version = unescape_version(mod_file.name.removesuffix(".mod"))
        db.add(module, version, mod_file.read_bytes(), mod_file.with_suffix(".zip").read_bytes())
    db.publish()
    db.write(fx.tree / "sumdb" / NAME)
    return fx, db.vkey


def start(procs: bench.Processes, work: Path, fx: bench.Fixture, vkey: str, frontend: str):
    out, err = work / "goproxy.out", work / "goproxy.err"
    env = dict(os.environ, GOPROXY_CORE_ACCESS_LOG="true")
    args = [
        *bench.goproxy_command(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        str(work / "cache"),
        "--upstream",
        fx.tree.as_uri(),
        "--sumdb",
        vkey,
        "--frontend",
        frontend,
    ]
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = procs.start(args, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env)
    url = ""

    def ready() -> bool:
        nonlocal url
        if proc.poll() is not None:
            raise RuntimeError(f"goproxy exited {proc.returncode}: {err.read_text()[-2000:]}")
        m = re.search(r"^GOPROXY=(http://\S+)$", out.read_text(), re.M)
        url = m.group(1) if m else ""
        return bool(url)

    bench.wait_for(ready, 30, "goproxy serve")
    return proc, url, err


def client(fx: bench.Fixture, proxy: str, vkey: str, work: Path) -> None:
    """One ``go mod download`` of the graph, fresh caches, the checksum database on."""
    home = Path(tempfile.mkdtemp(prefix="client-", dir=work))
    root = home / "root"
    shutil.copytree(fx.root_module, root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k != "PYTHONPATH"}
    env.update(
        GOPROXY=proxy,
        GOSUMDB=vkey,
        GONOSUMDB="",
        GOPRIVATE="",
        GOFLAGS="-modcacherw",
        GOTOOLCHAIN="local",
        GOENV="off",
        GOPATH=str(home / "gopath"),
        GOMODCACHE=str(home / "gopath" / "mod"),
        GOCACHE=str(home / "cache"),
        HOME=str(home),
    )
    r = subprocess.run(
        ["go", "mod", "download"], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    if r.returncode != 0:
        raise RuntimeError(f"go mod download failed:\n{r.stderr[-3000:]}")
    shutil.rmtree(home, ignore_errors=True)


def measure(modules: int, clients: int, frontend: str) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="goproxy-warmcpu-"))
    try:
        fx, vkey = build(work, modules)
        with bench.Processes() as procs:
            proc, url, log = start(procs, work, fx, vkey, frontend)
            client(fx, url, vkey, work)  # fills the proxy: this one is cold
            time.sleep(0.5)
            per_client, requests, sumdb = [], [], []
            for _ in range(clients):
                seen = log.stat().st_size
                c0 = cpu_seconds(proc.pid)
                client(fx, url, vkey, work)
                time.sleep(0.2)  # the last access-log lines
                per_client.append(cpu_seconds(proc.pid) - c0)
                with log.open("rb") as f:
                    f.seek(seen)
                    hits = _ACCESS.findall(f.read())
                requests.append(len(hits))
                sumdb.append(sum(1 for target, _ in hits if target.startswith(b"/sumdb/")))
            procs.stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = statistics.median(per_client)
    reqs = statistics.median(requests)
    return {
        "cpu_s_per_client": cpu,
        "requests_per_client": reqs,
        "sumdb_requests_per_client": statistics.median(sumdb),
        "cpu_us_per_request": cpu / reqs * 1e6 if reqs else 0.0,
        "runs": float(len(per_client)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--modules", type=int, default=160, help="fixture modules (160)")
    p.add_argument("--clients", type=int, default=5, help="warm clients measured (5)")
    p.add_argument("--frontend", default="trio", help="the server (trio)")
    args = p.parse_args(argv)
    r = measure(args.modules, args.clients, args.frontend)
    print(
        f"{args.frontend}, {args.modules} modules, median of {int(r['runs'])} warm clients: "
        f"{r['cpu_s_per_client']:.3f} CPU-s per client, {r['requests_per_client']:.0f} requests "
        f"({r['sumdb_requests_per_client']:.0f} to /sumdb/), "
        f"{r['cpu_us_per_request']:.0f} CPU-us per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
