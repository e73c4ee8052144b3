"""What ``/metrics`` costs on cached hits: ``python bench/metrics_cost.py [--duration S]``.

Everything runs on 127.0.0.1. A cache directory holding one module version is served by
``goproxy serve`` (upstream ``off``, access log off) with metrics on and with
``metrics = false``, for each frontend with one worker and for trio with ``--workers 2``
(multiprocess mode). ``wrk -t1 -c32`` asks for the cached ``.info`` for ``--duration``
seconds, ``--rounds`` times per server; on and off take turns (who goes first alternates) so
both see the same load from whatever else runs on the machine. Prints the median req/s of each
and the ratio, as a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import run as bench  # noqa: E402

ESC = "example.com/metrics-bench"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'


def _start(procs: bench.Processes, work: Path, cache: Path, frontend: str, workers: int, on: bool):
    os.environ["GOPROXY_CORE_METRICS"] = "true" if on else "false"
    try:
        return bench.start_goproxy(procs, work, cache=cache, frontend=frontend, workers=workers)
    finally:
        del os.environ["GOPROXY_CORE_METRICS"]


def measure(work: Path, frontend: str, workers: int, duration: float, rounds: int):
    cache = work / f"cache-{frontend}-{workers}"
    (cache / ESC / "@v").mkdir(parents=True)
    (cache / ESC / "@v" / "v1.0.0.info").write_bytes(INFO)
    rps: dict[bool, list[float]] = {True: [], False: []}
    with bench.Processes() as procs:
        servers = {on: _start(procs, work, cache, frontend, workers, on) for on in (True, False)}
        for server in servers.values():
            url = f"{server.url}/{ESC}/@v/v1.0.0.info"
            bench.check_get(url, len(INFO))
            bench.run_wrk(url, 1)  # warm up
        for i in range(rounds):
            for on in (True, False) if i % 2 == 0 else (False, True):
                url = f"{servers[on].url}/{ESC}/@v/v1.0.0.info"
                rps[on].append(bench.run_wrk(url, duration).rps)
    return statistics.median(rps[True]), statistics.median(rps[False])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    p.add_argument("--rounds", type=int, default=3, help="wrk runs per server (3)")
    args = p.parse_args()
    rows = [("trio", 1), ("asyncio", 1), ("sockets", 1), ("trio", 2)]
    print("| server | metrics on (req/s) | metrics off (req/s) | on / off |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="goproxy-metrics-bench.") as tmp:
        for frontend, workers in rows:
            on, off = measure(Path(tmp), frontend, workers, args.duration, args.rounds)
            name = frontend + (f" --workers {workers}" if workers > 1 else "")
            print(f"| {name} | {on:.0f} | {off:.0f} | {on / off:.2f} |", flush=True)


if __name__ == "__main__":
    main()
