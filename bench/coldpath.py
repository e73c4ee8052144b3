"""The cold path: ``python bench/coldpath.py [--zip-only | --graph-only] [--rounds N] [--write]``.

Everything runs on 127.0.0.1; nothing outside the machine is contacted. Each scenario is a
function of its own (``SCENARIOS``), run one after the other in one run: the module graph
(``graph``) and the single zip (``zip``); ``--zip-only`` and ``--graph-only`` run one alone.

The module graph (:func:`run_graph`): bench/coldgraph.py's generated graph (``--modules``
modules in ``--layers`` layers) served by its slow local upstream (``--latency`` ms before each
answer, every body through one ``--rate`` MB/s cap), ``go mod download`` of the project with a
fresh module cache straight to that upstream, through an empty proxy with prefetch off and on,
and through the warm proxy, ``--rounds`` times interleaved, as ratios to going straight.

The single zip (:func:`zip_scenario`): bench/run.py's fixture builder writes one module whose
zip is ``--zip-mib`` MiB (16 MiB stored entries of random bytes), and nginx serves that tree
twice over loopback HTTP, once at full speed and once capped with ``limit_rate`` (``--rate``
MB/s; 0 leaves the capped upstream out). For each upstream, frontend and round, in one run:

1. the zip straight from the upstream (the direct time);
2. ``goproxy serve`` started with an empty cache and that upstream, the same zip through it
   (the cold time: fetched, relayed, checked as x/mod's ``CheckZip`` does, hashed, stored);
3. the same zip again (warm);

and, of the server process, the CPU time it spent from its start to the end of the cold fetch
(startup included, so an upper bound on the ingest's) and its peak RSS (VmHWM) then. It prints
the medians as ratios to the direct fetch, CPU-seconds per MB ingested and peak RSS beside the
goals (cold at most 1.5x direct on loopback, at most 0.02 CPU-s per MB, under 150 MiB), and
with ``--write`` puts the table into docs/benchmarks.md.

The checksum database is off (``GOPROXY_CORE_SUMDB=off``: no database runs here); the zip's
own verification (its rules, its ``h1:``, its SHA-256) is on, as by default.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

import coldgraph  # bench/coldgraph.py: the generated module graph and its slow upstream
import run as benchrun  # bench/run.py: fixture, processes, nginx, goproxy serve

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

REPO = benchrun.REPO
FRONTENDS = benchrun.FRONTENDS
MIB = benchrun.MIB
MB = 1_000_000
ZIP_MODULE = benchrun.HUGE_ZIP_MODULE
ZIP_PATH = f"/{ZIP_MODULE}/@v/v1.0.0.zip"
GOAL_RATIO = 1.5
GOAL_CPU_PER_MB = 0.02
GOAL_RSS_MIB = 150.0
FETCH_TIMEOUT = 300.0


# --------------------------------------------------------------------------------------------
# Upstreams and clients
# --------------------------------------------------------------------------------------------


def start_capped_nginx(
    procs: benchrun.Processes, work: Path, *, root: Path, rate_mb: float
) -> benchrun.Server:
    """nginx serving ``root`` like bench/run.py's, each response capped at ``rate_mb`` MB/s."""
    ndir = work / "nginx-capped"
    ndir.mkdir(exist_ok=True)
    port = benchrun.free_port()
    conf = ndir / "nginx.conf"
    text = benchrun.NGINX_CONF.format(workers=1, work=ndir, port=port, root=root)
    limit = f"        limit_rate {int(rate_mb * MB)};\n        root {root};"
    conf.write_text(text.replace(f"        root {root};", limit))
    err = ndir / "stderr.log"
    with err.open("wb") as fe:
        proc = procs.start(
            [benchrun.nginx_binary(), "-p", str(ndir), "-c", str(conf), "-e", str(ndir / "e.log")],
            stdout=subprocess.DEVNULL,
            stderr=fe,
            stdin=subprocess.DEVNULL,
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited {proc.returncode}: {err.read_text()[-2000:]}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    benchrun.wait_for(ready, 15, "nginx (capped)")
    return benchrun.Server(f"nginx {rate_mb:g} MB/s", proc, f"http://127.0.0.1:{port}", err)


def get(url: str, path: str) -> tuple[float, int]:
    """GET ``url + path`` over a fresh connection: seconds to the last byte, and bytes read."""
    host, _, port = url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=FETCH_TIMEOUT)
    start = time.perf_counter()
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {resp.read(500)!r}")
        buf, got = bytearray(MIB), 0
        view = memoryview(buf)
        while n := resp.readinto(view):
            got += n
        length = resp.getheader("content-length")
        if length is not None and got != int(length):
            raise RuntimeError(f"GET {path}: {got} of {length} bytes")
        return time.perf_counter() - start, got
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` and its descendants, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in benchrun.process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# --------------------------------------------------------------------------------------------
# The single zip
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ZipRound:
    direct: float  # seconds, straight from the upstream
    cold: float  # seconds, through the proxy with an empty cache
    warm: float  # seconds, the same again
    cpu: float  # CPU-seconds of the server from its start to the end of the cold fetch
    rss_mib: float  # the server's peak RSS (VmHWM) by then
    size: int  # bytes of the zip


@dataclasses.dataclass
class ZipRow:
    upstream: str
    frontend: str
    rounds: list[ZipRound]

    def median(self, field: str) -> float:
        return statistics.median(getattr(r, field) for r in self.rounds)


def build_zip_tree(work: Path, zip_mib: int) -> Path:
    """A GOPROXY tree holding one module whose zip is ``zip_mib`` MiB of stored entries."""
    tree = work / "tree"
    benchrun.add_module(tree, ZIP_MODULE, "v1.0.0", blob_size=zip_mib * MIB, seed=2)
    return tree


def cold_zip_round(
    procs: benchrun.Processes, work: Path, upstream: benchrun.Server, frontend: str
) -> ZipRound:
    """Direct, then cold and warm through a fresh ``goproxy serve`` with an empty cache."""
    direct, size = get(upstream.url, ZIP_PATH)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    server = benchrun.start_goproxy(
        procs, work, cache=cache, upstream=upstream.url, frontend=frontend
    )
    try:
        cold, got = get(server.url, ZIP_PATH)
        cpu = cpu_seconds(server.proc.pid)
        rss = benchrun.peak_rss_mib(server.proc.pid)
        warm, _ = get(server.url, ZIP_PATH)
    finally:
        procs.stop(server.proc)
    if got != size:
        raise RuntimeError(f"{frontend}: {got} bytes cold, {size} direct")
    return ZipRound(direct, cold, warm, cpu, rss, size)


def zip_scenario(
    work: Path,
    *,
    frontends: Sequence[str],
    zip_mib: int = 200,
    rate_mb: float = 100.0,
    rounds: int = 3,
    progress: Callable[[str], None] = print,
) -> list[ZipRow]:
    """One zip cold through each frontend against straight to the upstream, ``rounds`` times,
    from nginx at full speed and (``rate_mb`` > 0) capped at ``rate_mb`` MB/s."""
    tree = build_zip_tree(work, zip_mib)
    rows: list[ZipRow] = []
    with benchrun.Processes() as procs:
        upstreams = [benchrun.start_nginx(procs, work, root=tree, workers=1)]
        upstreams[0].name = "nginx loopback"
        if rate_mb > 0:
            upstreams.append(start_capped_nginx(procs, work, root=tree, rate_mb=rate_mb))
        for up in upstreams:
            for fe in frontends:
                row = ZipRow(up.name, fe, [])
                for i in range(rounds):
                    rd = cold_zip_round(procs, work, up, fe)
                    progress(
                        f"  {up.name} {fe} round {i + 1}: direct {rd.direct:.3f}s "
                        f"cold {rd.cold:.3f}s warm {rd.warm:.3f}s cpu {rd.cpu:.2f}s "
                        f"rss {rd.rss_mib:.0f} MiB"
                    )
                    row.rounds.append(rd)
                rows.append(row)
    return rows


def zip_report(rows: Sequence[ZipRow], zip_mib: int, rounds: int) -> str:
    """The single-zip table (medians of ``rounds``), goals beside the figures."""
    out = [
        f"### One {zip_mib} MiB zip, cold through the proxy against straight to the upstream, "
        f"median of {rounds}\n\n",
        "| upstream | frontend | direct s | cold s | cold / direct | warm s | "
        "server CPU-s per MB | peak RSS MiB |\n",
        "|---|---|---:|---:|---:|---:|---:|---:|\n",
    ]
    for row in rows:
        size_mb = row.rounds[0].size / MB
        direct, cold = row.median("direct"), row.median("cold")
        out.append(
            f"| {row.upstream} | {row.frontend} | {direct:.3f} | {cold:.3f} | "
            f"{cold / direct:.2f}x | {row.median('warm'):.3f} | "
            f"{row.median('cpu') / size_mb:.4f} | {max(r.rss_mib for r in row.rounds):.0f} |\n"
        )
    out.append(
        f"\nGoals: cold at most {GOAL_RATIO}x direct on loopback; at most {GOAL_CPU_PER_MB} "
        f"CPU-s per MB ingested (here the server's whole CPU time from its start, startup "
        f"included); peak RSS under {GOAL_RSS_MIB:.0f} MiB.\n"
    )
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Scenarios, the document, main
# --------------------------------------------------------------------------------------------


def run_zip(work: Path, args: argparse.Namespace) -> str:
    rows = zip_scenario(
        work,
        frontends=args.frontends,
        zip_mib=args.zip_mib,
        rate_mb=args.rate,
        rounds=args.rounds,
    )
    return zip_report(rows, args.zip_mib, args.rounds)


def run_graph(work: Path, args: argparse.Namespace) -> str:
    """The module graph: straight to the slow upstream vs through the proxy, cold and warm."""
    graph = coldgraph.build_graph(work, modules=args.modules, layers=args.layers)
    latency = args.latency / 1000
    rate = (args.rate or 100.0) * MB
    res = coldgraph.bench_cold_graph(
        graph, work, latency=latency, rate=rate, rounds=args.rounds, frontend=args.frontends[0]
    )
    if len({res.outputs[m] for m in coldgraph.MODES}) != 1:
        raise RuntimeError("go mod download printed different things through the proxy")
    head = (
        f"### A cold module graph, straight to the upstream vs through the proxy "
        f"({args.frontends[0]})\n\n"
    )
    return head + coldgraph.report(graph, res, latency, rate) + "\n"


SCENARIOS: dict[str, Callable[[Path, argparse.Namespace], str]] = {
    "graph": run_graph,
    "zip": run_zip,
}
"""Each scenario: a function of the work directory and the arguments, returning its table."""

MARK_BEGIN = "<!-- bench:coldpath:begin -->"
MARK_END = "<!-- bench:coldpath:end -->"
SECTION = f"""
## The cold path: one large zip through an empty cache

`python bench/coldpath.py` (a few minutes a round; `--zip-only`, `--graph-only`, `--rounds N`,
`--frontends trio`, `--rate MB/s`, `--zip-mib N`, `--modules N`, `--layers N`, `--latency MS`)
runs both cold-path scenarios in one run. The module graph: bench/coldgraph.py's generated
graph, `go mod download` straight to its slow local upstream against through an empty proxy
(prefetch off and on) and the warm proxy (the graph's scenario runs on the first frontend of
`--frontends`; its upstream's cap is `--rate`, 100 MB/s when 0). The single zip: one module
zip straight from an nginx upstream on loopback, then through `goproxy serve` with an empty
cache (fetched, relayed, checked, hashed, stored), then again warm, per frontend, against nginx
at full speed and capped with `limit_rate`. The checksum database is off (no database runs
here); the zip's own verification is on. `--write` rewrites the block below with every table
of the run.

{MARK_BEGIN}
{MARK_END}
"""


def write_doc(command: str, table: str) -> Path:
    """Replace the coldpath block of docs/benchmarks.md, adding its section if missing."""
    return benchrun.replace_doc_block(
        MARK_BEGIN,
        MARK_END,
        SECTION,
        command,
        table,
        f"{benchrun.machine()} (shared with other jobs while it ran)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    only = p.add_mutually_exclusive_group()
    only.add_argument("--zip-only", action="store_true", help="run the single-zip scenario only")
    only.add_argument("--graph-only", action="store_true", help="run the module graph only")
    p.add_argument(
        "--frontends",
        default=",".join(FRONTENDS),
        help=f"comma-separated frontends ({','.join(FRONTENDS)})",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds per cell (3)")
    p.add_argument("--zip-mib", type=int, default=200, help="size of the zip (200)")
    p.add_argument("--rate", type=float, default=100.0, help="capped upstream, MB/s (100; 0: off)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--modules", type=int, default=300, help="modules of the graph (300)")
    p.add_argument("--layers", type=int, default=8, help="layers of the graph (8)")
    p.add_argument(
        "--latency", type=float, default=50.0, help="graph upstream, ms before each answer (50)"
    )
    args = p.parse_args(argv)
    args.frontends = [f.strip() for f in args.frontends.split(",") if f.strip()]
    if unknown := set(args.frontends) - set(FRONTENDS):
        p.error(f"unknown frontends: {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.modules < 1 or args.layers < 1 or args.layers > args.modules:
        p.error("--modules and --layers must be at least 1, with no more layers than modules")
    if args.latency < 0:
        p.error("--latency must not be negative")
    scenarios = ["zip"] if args.zip_only else ["graph"] if args.graph_only else list(SCENARIOS)

    signal.signal(signal.SIGTERM, benchrun.interrupt)
    signal.signal(signal.SIGINT, benchrun.interrupt)
    work = Path(tempfile.mkdtemp(prefix="goproxy-coldpath-"))
    work.chmod(0o755)  # nginx's workers run as nobody
    try:
        tables = []
        for name in scenarios:
            sub = work / name
            sub.mkdir()
            tables.append(SCENARIOS[name](sub, args))
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = "\n".join(tables)
    print()
    print(table)
    if args.write:
        command = "python bench/coldpath.py " + " ".join(argv if argv is not None else sys.argv[1:])
        print(f"wrote {write_doc(command.strip(), table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
