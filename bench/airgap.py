"""Across an air gap: warm, export, import and serve offline, timed, with each step's memory.

``python bench/airgap.py [--modules N] [--latency MS] [--big-mib M] [--jobs J] [--write]``

Everything runs on 127.0.0.1. The script

1. generates a module graph shaped like a real project's (``bench/coldgraph.py``
   :func:`~coldgraph.build_graph`) plus one large module of ``big-mib`` MiB of incompressible
   data that the project also requires, logs every version in a checksum database
   (``tests/sumdbfix.py``'s ``FixtureDB``, built with the core's note and tlog code) mirrored
   in the tree under ``sumdb/<name>/``, and serves the tree from a local upstream with
   ``latency`` per request (:class:`~coldgraph.SlowUpstream`);
2. writes the project's go.sum from a first ``go mod download -json`` straight to that upstream
   (checksum database on; the zip sums it printed added to the go.mod sums it wrote), then
   times, with a fresh module cache each, ``go mod download`` straight to
   the upstream (the reference);
3. times ``goproxy warm --jobs J`` of that go.sum into an empty cache, ``goproxy export`` of it
   (the database's head fetched, the tiles proving every record), ``goproxy import`` into
   another empty cache (every file checked against the manifest, every record against the
   head with the key), ``go mod download`` through ``goproxy serve --upstream off`` over the
   imported cache (checksum database on, answered from the imported proofs), and
   ``go mod download`` from the imported cache as ``GOPROXY=file://`` (the go command alone);
4. reports each step's seconds and peak RSS (``wait4``'s ``ru_maxrss`` of that process alone),
   the bundle's size, and checks that the go command printed the same modules and hashes in
   every client run.

The large zip shows that memory stays flat: warm, export and import stream it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import coldgraph  # bench/coldgraph.py
from run import REPO, machine, replace_doc_block

from sumdbfix import FixtureDB  # tests/sumdbfix.py: a checksum database built with the core

NAME = "sumdb.bench"
BIG = f"{coldgraph.PREFIX}/big"
BEGIN = "<!-- bench:airgap:begin -->"
END = "<!-- bench:airgap:end -->"
SECTION = f"""
## Across an air gap: warm, export, import, serve offline

`python bench/airgap.py [--modules N] [--latency MS] [--big-mib M] [--jobs J] [--write]`
generates a module graph (as `bench/coldgraph.py`) and one large module, logs them in a
fixture checksum database mirrored in the upstream tree, and times each step of
[air-gap.md](air-gap.md) with its own process's peak RSS. `tests/bench/test_airgap_smoke.py`
runs it on a tiny graph. `--write` rewrites the block below.

{BEGIN}
{END}
"""


@dataclasses.dataclass
class Step:
    """One timed process: seconds, peak RSS in MiB, and what it printed."""

    seconds: float
    rss_mib: float
    out: str


# Runs its arguments and reports their peak RSS on its last stderr line. A child's ru_maxrss
# keeps the high-water mark of the memory it had before its execve (Linux keeps resource usage
# across exec), which for a child of this process is this process's own size (it holds the
# generated data): started from this small process instead, the figure is the program's own.
_MEASURE = (
    "import os, sys\n"
    "pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "sys.stderr.write(f'\\nmaxrss-kib={usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def timed(cmd: list[str], env: dict[str, str]) -> Step:
    """Run ``cmd`` to its end: its seconds and its own peak RSS (``wait4``)."""
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    rss = r.stderr.rpartition("maxrss-kib=")[2]
    if r.returncode != 0 or not rss.strip().isdigit():
        tail = (r.stdout + r.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:5])} failed ({r.returncode}):\n{tail}")
    return Step(elapsed, int(rss) / 1024, r.stdout)


def goproxy_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOPROXY_CORE_")}
    env.setdefault("PYTHONPATH", f"{REPO / 'src'}:{REPO / 'src' / 'frontends'}")
    return env


def goproxy(*args: str) -> list[str]:
    return [sys.executable, "-m", "goproxy_cli", *args]


def go_env(home: Path, goproxy_url: str, vkey: str) -> dict[str, str]:
    env = coldgraph.go_env(home, goproxy_url)
    env["GOSUMDB"] = vkey
    return env


def write_big(tree: Path, mib: int) -> None:
    """``BIG@v1.0.0``: a zip of ``mib`` MiB of incompressible data (stored, not deflated)."""
    vdir = tree / BIG / "@v"
    vdir.mkdir(parents=True, exist_ok=True)
    gomod = f"module {BIG}\n\ngo 1.16\n"
    (vdir / "v1.0.0.mod").write_text(gomod)
    (vdir / "v1.0.0.info").write_text(
        json.dumps({"Version": "v1.0.0", "Time": "2024-01-01T00:00:00Z"})
    )
    (vdir / "list").write_text("v1.0.0\n")
    rng = random.Random(7)
    prefix = f"{BIG}@v1.0.0/"
    with zipfile.ZipFile(vdir / "v1.0.0.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(prefix + "go.mod", gomod)
        zf.writestr(prefix + "big.go", "package big\n")
        for i in range(max(1, mib // 8)):
            zf.writestr(
                prefix + f"data/{i:04d}.bin", rng.randbytes(8 << 20 if mib >= 8 else mib << 20)
            )


def log_tree(tree: Path) -> FixtureDB:
    """Every version in ``tree`` logged in a fixture database mirrored under ``sumdb/``."""
    db = FixtureDB(NAME, seed=b"b" * 32)
    for mod in sorted(tree.rglob("*.mod")):
        rel = mod.relative_to(tree)
        module = str(rel.parent.parent)
        version = mod.stem
        db.add(module, version, mod.read_bytes(), mod.with_suffix(".zip").read_bytes())
    db.publish()
    db.write(tree / "sumdb" / NAME)
    return db


def _sums(out: str) -> list[tuple[str, str, str, str]]:
    dec = json.JSONDecoder()
    found, i = [], 0
    while i < len(out):
        if out[i].isspace():
            i += 1
            continue
        obj, i = dec.raw_decode(out, i)
        found.append((obj["Path"], obj["Version"], obj.get("Sum", ""), obj.get("GoModSum", "")))
    return sorted(found)


def download(project: Path, url: str, vkey: str, work: Path) -> Step:
    home = Path(tempfile.mkdtemp(prefix="gohome-", dir=work))
    try:
        cmd = ["go", "-C", str(project), "mod", "download", "-json"]
        return timed(cmd, go_env(home, url, vkey))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def bench(
    work: Path, *, modules: int, latency: float, big_mib: int, jobs: int
) -> tuple[dict[str, Step], dict[str, object]]:
    """Every step once; the steps and the facts for the report."""
    graph = coldgraph.build_graph(work, modules=modules, layers=max(3, modules // 40))
    write_big(graph.tree, big_mib)
    gomod = graph.project / "go.mod"
    gomod.write_text(gomod.read_text().replace(")\n", f"\t{BIG} v1.0.0\n)\n", 1))
    db = log_tree(graph.tree)
    steps: dict[str, Step] = {}
    with coldgraph.SlowUpstream(graph.tree, latency=latency, rate=1e9) as up:
        # The project's go.sum, complete: `go mod download` writes the go.mod sums only (the
        # go command keeps a zip's sum when a build needs it), so the zip sums it printed are
        # added, as a project that builds every module would hold them.
        first = download(graph.project, up.url, db.vkey, work)
        lines = set((graph.project / "go.sum").read_text().splitlines())
        for path, version, zip_sum, _ in _sums(first.out):
            lines.add(f"{path} {version} {zip_sum}")
        (graph.project / "go.sum").write_text("".join(f"{x}\n" for x in sorted(lines) if x))
        gosum = str(graph.project / "go.sum")
        steps["go mod download (straight)"] = download(graph.project, up.url, db.vkey, work)
        a, b, tar = work / "cache-a", work / "cache-b", work / "modules.tar"
        online = ["--upstream", up.url, "--sumdb", db.vkey]
        env = goproxy_env()
        steps["goproxy warm"] = timed(
            goproxy("warm", "--cache-dir", str(a), *online, "--jobs", str(jobs), gosum), env
        )
        steps["goproxy export"] = timed(
            goproxy("export", "--cache-dir", str(a), *online, "--output", str(tar), gosum), env
        )
    # The far side: no upstream at all from here on.
    steps["goproxy import"] = timed(
        goproxy("import", "--cache-dir", str(b), "--sumdb", db.vkey, str(tar)), env
    )
    log = work / "offline.log"
    with coldgraph.proxy_process("off", b, log, prefetch=False, sumdb=db.vkey) as (url, _):
        steps["go mod download (offline proxy)"] = download(graph.project, url, db.vkey, work)
    steps["go mod download (file://)"] = download(graph.project, b.as_uri(), db.vkey, work)
    outputs = {k: _sums(s.out) for k, s in steps.items() if k.startswith("go mod download")}
    if len({json.dumps(v) for v in outputs.values()}) != 1:
        raise RuntimeError(f"the go command printed different modules or hashes: {outputs}")
    facts: dict[str, object] = {
        "versions": len(next(iter(outputs.values()))),
        "bundle_mib": tar.stat().st_size / (1 << 20),
        "modules": modules,
        "big_mib": big_mib,
        "latency_ms": latency * 1000,
        "jobs": jobs,
    }
    return steps, facts


def report(steps: dict[str, Step], facts: dict[str, object]) -> str:
    straight = steps["go mod download (straight)"].seconds
    rows = "".join(
        f"| {k} | {s.seconds:.2f} | {s.seconds / straight:.2f}x | {s.rss_mib:.0f} |\n"
        for k, s in steps.items()
    )
    return (
        f"{facts['modules']} generated modules and one of {facts['big_mib']} MiB "
        f"(incompressible); {facts['versions']} module versions downloaded; upstream latency "
        f"{facts['latency_ms']:.0f} ms per request; `--jobs {facts['jobs']}`; bundle "
        f"{facts['bundle_mib']:.1f} MiB; checksum database on for every client.\n\n"
        "| step | seconds | / straight download | peak RSS MiB |\n|---|---:|---:|---:|\n"
        f"{rows}\nPeak RSS is the step's own process (`wait4`); the go command's for the "
        "downloads. Every client run printed the same modules and hashes.\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", type=int, default=200)
    p.add_argument("--latency", type=float, default=50, help="milliseconds per request")
    p.add_argument("--big-mib", type=int, default=256)
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--write", action="store_true")
    ns = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="airgap-") as tmp:
        steps, facts = bench(
            Path(tmp),
            modules=ns.modules,
            latency=ns.latency / 1000,
            big_mib=ns.big_mib,
            jobs=ns.jobs,
        )
    table = report(steps, facts)
    print(table)
    if ns.write:
        command = "python bench/airgap.py " + " ".join(argv if argv is not None else sys.argv[1:])
        print(replace_doc_block(BEGIN, END, SECTION, command.strip(), table, machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
