"""The cost of the disk quota's last-use tracking on cache hits: ``python bench/quota.py``.

Everything runs on 127.0.0.1. The script builds the fixture tree of ``bench/run.py`` (small
modules and a 1 MiB zip), copies it into two cache dirs, and serves each warm
(``goproxy serve --upstream off``, trio, one worker, access log off): one with the quota off
(no ``max-cache-size``, ``min-free-space = 0``: nothing is tracked) and one with it on
(``max-cache-size = 10G``: every answer is counted in memory and written in batches, the
usage thread scans and checks the quota). It loads a cached ``.info``, a small ``.zip`` and
the 1 MiB ``.zip`` of each with ``wrk -t1 -c32``, the two servers cell by cell in turns
(off, on, off, on ...) so drift on a shared machine falls on both, and prints hits/s with
the ratio on / off; with ``--write`` it puts the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import run as bench  # noqa: E402

BEGIN = "<!-- bench:quota:begin -->"
END = "<!-- bench:quota:end -->"
SECTION = f"""
## Last-use tracking on cache hits (the disk quota)

`bench/quota.py`: the same warm cache served by two `goproxy serve` (trio, one worker, access
log off), one with the quota off and one with `max-cache-size = 10G` (every answer counted
for last use), loaded cell by cell in turns with `wrk -t1 -c32`; median hits/s of the
repetitions.

{BEGIN}
{END}
"""


MODES = {
    "quota off": {"GOPROXY_CORE_MIN_FREE_SPACE": "0"},
    "quota on (10G)": {"GOPROXY_CORE_MAX_CACHE_SIZE": "10G", "GOPROXY_CORE_MIN_FREE_SPACE": "0"},
}


def measure(duration: float, reps: int, modules: int = 20) -> dict[str, dict[str, list[float]]]:
    """hits/s per target and mode: ``{target: {mode: [rps, ...]}}``."""
    work = Path(tempfile.mkdtemp(prefix="goproxy-bench-quota-"))
    try:
        fx = bench.build_fixture(work, modules=modules)
        bench.add_module(fx.tree, "example.com/bench/mib1", "v1.0.0", blob_size=1 << 20, seed=3)
        m = bench.INFO_MODULE
        targets = {
            ".info": (f"/{m}/@v/v1.0.0.info", (fx.tree / m / "@v/v1.0.0.info").stat().st_size),
            "small .zip": (f"/{m}/@v/v1.0.0.zip", (fx.tree / m / "@v/v1.0.0.zip").stat().st_size),
            "1 MiB .zip": (
                "/example.com/bench/mib1/@v/v1.0.0.zip",
                (fx.tree / "example.com/bench/mib1/@v/v1.0.0.zip").stat().st_size,
            ),
        }
        results: dict[str, dict[str, list[float]]] = {t: {m: [] for m in MODES} for t in targets}
        with bench.Processes() as procs:
            urls = {}
            for i, (mode, extra) in enumerate(MODES.items()):
                cache = work / f"cache{i}"
                shutil.copytree(fx.tree, cache)
                urls[mode] = bench.start_goproxy(procs, work, cache=cache, settings=extra).url
            for target, (path, size) in targets.items():
                for url in urls.values():
                    bench.check_get(url + path, size)
                    bench.run_wrk(url + path, 1)  # warm: hot answers, memo
                for _ in range(reps):
                    for mode, url in urls.items():
                        r = bench.run_wrk(url + path, duration)
                        if r.errors:
                            raise RuntimeError(f"{mode} {target}: {r.errors}")
                        results[target][mode].append(r.rps)
            # The tracked server counted the hits: its index has the uses.
            time.sleep(3)
            db = sqlite3.connect(work / "cache1" / "_goproxy" / "usage.sqlite")
            try:
                uses = db.execute("SELECT SUM(uses) FROM versions").fetchone()[0] or 0
            finally:
                db.close()
            if uses <= 0:
                raise RuntimeError("the quota's server counted no uses")
            results["uses counted"] = {"quota on (10G)": [float(uses)]}
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(results: dict[str, dict[str, list[float]]]) -> str:
    off, on = MODES
    lines = [
        f"| cached hit | {off} hits/s (min-max) | {on} hits/s (min-max) | on / off |",
        "|---|---:|---:|---:|",
    ]

    def cell(xs: list[float]) -> str:
        return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"

    for target, by_mode in results.items():
        if target == "uses counted":
            continue
        a, b = statistics.median(by_mode[off]), statistics.median(by_mode[on])
        lines.append(f"| {target} | {cell(by_mode[off])} | {cell(by_mode[on])} | {b / a:.2f} |")
    uses = results.get("uses counted", {}).get(on, [0.0])[0]
    return "\n".join(lines) + f"\n\nUses counted by the tracked server's index: {uses:,.0f}.\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per wrk cell (8)")
    p.add_argument("--reps", type=int, default=3, help="turns per target (3)")
    p.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, bench.interrupt)
    bench.ensure_tools()
    results = measure(args.duration, args.reps)
    text = table(results)
    print(text)
    if args.write:
        command = "python bench/quota.py --write"
        if args.duration != 8.0:
            command += f" --duration {args.duration:g}"
        if args.reps != 3:
            command += f" --reps {args.reps}"
        doc = bench.replace_doc_block(BEGIN, END, SECTION, command, text, bench.machine())
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
