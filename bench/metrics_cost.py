"""What ``/metrics`` costs on cached hits: ``python bench/metrics_cost.py [--duration S]``.

Everything runs on 127.0.0.1. A cache directory holding one module version is served by
``goproxy serve`` (upstream ``off``, access log off) with metrics on and with
``metrics = false``, for each frontend with one worker and for trio with ``--workers 2``
(multiprocess mode). ``wrk -t1 -c32`` asks for the cached ``.info`` for ``--duration``
seconds, ``--rounds`` times per server; on and off take turns (who goes first alternates) so
both see the same load from whatever else runs on the machine. Prints the median req/s of each
and the ratio, and the server's CPU time per request (``/proc/PID/stat``, workers included),
which other load on the machine disturbs less, as a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
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


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of ``pid`` and its child processes (workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure(work: Path, frontend: str, workers: int, duration: float, rounds: int):
    cache = work / f"cache-{frontend}-{workers}"
    (cache / ESC / "@v").mkdir(parents=True)
    (cache / ESC / "@v" / "v1.0.0.info").write_bytes(INFO)
    rps: dict[bool, list[float]] = {True: [], False: []}
    cpu_us: dict[bool, list[float]] = {True: [], False: []}
    with bench.Processes() as procs:
        servers = {on: _start(procs, work, cache, frontend, workers, on) for on in (True, False)}
        for server in servers.values():
            url = f"{server.url}/{ESC}/@v/v1.0.0.info"
            bench.check_get(url, len(INFO))
            bench.run_wrk(url, 1)  # warm up
        for i in range(rounds):
            for on in (True, False) if i % 2 == 0 else (False, True):
                url = f"{servers[on].url}/{ESC}/@v/v1.0.0.info"
                before = _cpu(servers[on].proc.pid)
                r = bench.run_wrk(url, duration)
                used = _cpu(servers[on].proc.pid) - before
                rps[on].append(r.rps)
                cpu_us[on].append(used / (r.rps * round(duration)) * 1e6)
    med = statistics.median
    return med(rps[True]), med(rps[False]), med(cpu_us[True]), med(cpu_us[False])


def core_loop(n: int = 20000, runs: int = 7) -> tuple[float, float]:
    """Microseconds per cached ``.info`` through one connection (the hot table answering,
    ``log_exchanges`` after each, the access log off): a plain ``ProxyConnection`` against a
    ``MeteredConnection`` feeding a :class:`Metrics`; the best of ``runs`` for each, taking
    turns. No sockets: the figure other load on the machine disturbs least."""
    import logging
    import time

    from goproxy_core import (
        NEED_DATA,
        BlobData,
        HotReplies,
        ProxyConfig,
        ProxyConnection,
        ReadBlob,
        compile_config,
    )
    from goproxy_io.access import log_exchanges
    from goproxy_io.metrics import MeteredConnection, Metrics

    logging.getLogger("goproxy.access").disabled = True
    req = f"GET /{ESC}/@v/v1.0.0.info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    cfg = compile_config(ProxyConfig())

    def run(conn: ProxyConnection) -> float:
        start = time.perf_counter()
        for _ in range(n):
            conn.receive_data(req)
            while (effect := conn.next_effect(1.0, 1.0)) is not NEED_DATA:
                if isinstance(effect, ReadBlob):
                    conn.blob_read(BlobData(INFO, 0.0))
            log_exchanges(conn)
        return (time.perf_counter() - start) / n * 1e6

    plain, metered = [], []
    for _ in range(runs):
        plain.append(run(ProxyConnection(cfg, hot=HotReplies())))
        metered.append(run(MeteredConnection(cfg, hot=HotReplies(), metrics=Metrics())))
    return min(metered), min(plain)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    p.add_argument("--rounds", type=int, default=3, help="wrk runs per server (3)")
    args = p.parse_args()
    on, off = core_loop()
    print(f"core loop per cached .info: metrics on {on:.2f} us, off {off:.2f} us ({on - off:+.2f})")
    rows = [("trio", 1), ("asyncio", 1), ("sockets", 1), ("trio", 2)]
    print(
        "| server | metrics on (req/s) | metrics off (req/s) | on / off "
        "| server CPU per request, on (µs) | off (µs) | on − off (µs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="goproxy-metrics-bench.") as tmp:
        for frontend, workers in rows:
            on, off, cpu_on, cpu_off = measure(
                Path(tmp), frontend, workers, args.duration, args.rounds
            )
            name = frontend + (f" --workers {workers}" if workers > 1 else "")
            print(
                f"| {name} | {on:.0f} | {off:.0f} | {on / off:.2f} | {cpu_on:.1f} | {cpu_off:.1f} "
                f"| {cpu_on - cpu_off:+.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
