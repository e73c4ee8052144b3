"""A real project's module graph: straight to an upstream proxy vs through goproxy-core.

``python bench/realworld.py --project DIR [--upstream URL] [--sumdb off|GOSUMDB] [--rounds 3]
[--frontend trio] [--athens PATH] [--write]``

Opt-in and NEEDS NETWORK (unless the upstream is local): never run by pytest, except
tests/bench/test_realworld_smoke.py, which runs it against a local generated upstream.

Inputs: a project directory holding go.mod and go.sum (``--project`` or
``GOPROXY_BENCH_PROJECT``); the upstream proxy's URL (``--upstream`` or
``GOPROXY_BENCH_UPSTREAM``; by default the first proxy of ``go env GOPROXY``, read at run time);
the checksum database: by default ``GOSUMDB`` is left unset, so the go command checks every
module missing from go.sum against its default database, reached through the proxy it is
given (goproxy-core relays it under ``/sumdb/``); ``--sumdb off`` turns it off for the clients
and the proxy; any other value is the clients' ``GOSUMDB`` and the proxy's ``sumdb``.

Each round runs these modes, in an order that rotates from round to round, each
``go mod download -json all`` (the zips of every module of the build list and the go.mod of
every module of the graph) of a fresh copy of the project with fresh ``GOPATH``,
``GOMODCACHE`` and ``GOCACHE`` (``GOFLAGS=-modcacherw``, ``GOTOOLCHAIN=local``, ``GONOSUMDB``
and ``GOPRIVATE`` empty):

- ``direct``: ``GOPROXY=<upstream>``;
- ``cold``: through ``goproxy serve --upstream <upstream>`` (the real CLI, a subprocess on a
  loopback port) with an empty cache directory;
- ``warm``: the same server again;
- ``file``: ``GOPROXY=file://`` the download cache the last direct run filled, ``GOSUMDB=off``
  (what the go command alone costs);
- with ``--athens PATH``: ``athens cold`` and ``athens warm``, the same with an Athens proxy
  binary and empty disk storage.

It prints, per mode, the median and the spread (min-max) of the seconds and the ratio of the
median to direct's; for the proxy, its CPU time (``/proc/PID/stat`` utime+stime of the server
and its children) for the cold fill, per MB it stored, and per warm client, and its peak RSS.
The go command's output must be the same in every mode (the set of module, version, ``h1:``
of the zip and of the go.mod it printed): the script fails otherwise. ``--write`` puts the
table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
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

import coldgraph  # bench/coldgraph.py: go_env, proxy_process
import coldpath  # bench/coldpath.py: cpu_seconds
import run as benchrun  # bench/run.py: peak RSS, the docs block

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

MB = 1_000_000
GO_TIMEOUT = 1800.0
GOAL_WARM_CPU = 1.4  # Athens' CPU-s per warm client of this graph, issue 11

Module = tuple[str, str, str, str]  # path, version, h1: of the zip, h1: of the go.mod


# --------------------------------------------------------------------------------------------
# The go command
# --------------------------------------------------------------------------------------------


def default_upstream() -> str:
    """The first proxy of ``go env GOPROXY`` (the go command's own default when unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPROXY", "GOFLAGS"))}
    env.update(GOTOOLCHAIN="local")
    out = subprocess.run(
        ["go", "env", "GOPROXY"], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    for entry in out.replace("|", ",").split(","):
        entry = entry.strip()
        if entry in ("direct", "off"):
            break
        if entry:
            return entry
    raise SystemExit(f"go env GOPROXY names no proxy ({out!r}): give --upstream")


def parse_download_json(text: str) -> set[Module]:
    """The modules ``go mod download -json`` printed; an error if any of them failed."""
    dec = json.JSONDecoder()
    mods: set[Module] = set()
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = dec.raw_decode(text, i)
        if obj.get("Error"):
            raise RuntimeError(f"{obj.get('Path')}@{obj.get('Version')}: {obj['Error']}")
        mods.add((obj["Path"], obj["Version"], obj.get("Sum", ""), obj.get("GoModSum", "")))
    return mods


@dataclasses.dataclass
class Download:
    seconds: float
    modules: set[Module]
    home: Path  # GOPATH of the run; its module cache is kept for the file:// mode
    bytes: int  # of the download cache it filled (zips, go.mod files, infos)


def tree_bytes(root: Path) -> int:
    """Bytes of the regular files under ``root``."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def go_download(project: Path, goproxy: str, work: Path, sumdb: str | None) -> Download:
    """``go mod download -json all`` of a fresh copy of ``project``, fresh caches.

    ``sumdb`` is the clients' ``GOSUMDB``; ``None`` leaves it unset (the go command's default).
    """
    home = Path(tempfile.mkdtemp(prefix="gohome-", dir=work))
    copy = home / "project"
    shutil.copytree(project, copy, symlinks=True)
    env = coldgraph.go_env(home, goproxy)
    env.pop("GOSUMDB")
    if sumdb is not None:
        env["GOSUMDB"] = sumdb
    t0 = time.perf_counter()
    r = subprocess.run(
        ["go", "mod", "download", "-json", "all"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=GO_TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(
            f"go mod download via {goproxy} failed:\n{r.stderr[-3000:]}{r.stdout[-3000:]}"
        )
    download = home / "pkg" / "mod" / "cache" / "download"
    return Download(elapsed, parse_download_json(r.stdout), home, tree_bytes(download))


# --------------------------------------------------------------------------------------------
# The proxies
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ProxyRun:
    """One server's round: the cold fill and one warm client."""

    cold: Download
    warm: Download
    cold_cpu: float  # CPU-s from the end of startup to the end of the cold client
    warm_cpu: float  # CPU-s of the warm client
    stored: int  # bytes in the server's cache directory after the cold fill
    rss_mib: float  # peak RSS by the end of the warm client


def measure_proxy(
    pid: int, url: str, cache: Path, project: Path, work: Path, sumdb: str | None
) -> ProxyRun:
    """A cold and then a warm client through the server ``pid`` listening at ``url``."""
    cpu0 = coldpath.cpu_seconds(pid)
    cold = go_download(project, url, work, sumdb)
    cpu1 = coldpath.cpu_seconds(pid)
    stored = tree_bytes(cache)
    warm = go_download(project, url, work, sumdb)
    cpu2 = coldpath.cpu_seconds(pid)
    rss = benchrun.peak_rss_mib(pid)
    return ProxyRun(cold, warm, cpu1 - cpu0, cpu2 - cpu1, stored, rss)


def goproxy_round(
    upstream: str, project: Path, work: Path, sumdb: str | None, frontend: str, tag: str
) -> ProxyRun:
    """``goproxy serve`` with an empty cache: a cold client, then a warm one."""
    cache = work / f"goproxy-cache-{tag}"
    log = work / f"goproxy-{tag}.log"
    with coldgraph.proxy_process(upstream, cache, log, frontend=frontend, sumdb=sumdb) as (
        url,
        proc,
    ):
        return measure_proxy(proc.pid, url, cache, project, work, sumdb)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def athens_process(
    binary: str, upstream: str, storage: Path, log: Path, sumdb: str | None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An Athens proxy (``binary``) on a free loopback port, disk storage in ``storage``,
    fetching from ``upstream`` with the go command: its URL and process."""
    port = free_port()
    storage.mkdir(parents=True, exist_ok=True)
    go_vars = f"GOPROXY={upstream}" + (";GOSUMDB=off" if sumdb == "off" else "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        ATHENS_PORT=f"127.0.0.1:{port}",
        ATHENS_STORAGE_TYPE="disk",
        ATHENS_DISK_STORAGE_ROOT=str(storage),
        ATHENS_GO_BINARY_ENV_VARS=go_vars,
        ATHENS_GOGET_DIR=str(storage.parent / (storage.name + "-goget")),
        GOTOOLCHAIN="local",
        GOPATH=str(storage.parent / (storage.name + "-gopath")),
    )
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [binary],
            stdout=err,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=storage.parent,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"athens exited {proc.returncode}: {log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"athens did not listen: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def athens_round(
    binary: str, upstream: str, project: Path, work: Path, sumdb: str | None, tag: str
) -> ProxyRun:
    """Athens with empty disk storage: a cold client, then a warm one."""
    storage = work / f"athens-{tag}"
    with athens_process(binary, upstream, storage, work / f"athens-{tag}.log", sumdb) as (
        url,
        proc,
    ):
        return measure_proxy(proc.pid, url, storage, project, work, sumdb)


# --------------------------------------------------------------------------------------------
# The rounds
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    seconds: dict[str, list[float]]
    proxies: dict[str, list[ProxyRun]]  # "goproxy", "athens"
    modules: int
    zips: int
    direct_bytes: int
    orders: list[list[str]]

    def median(self, mode: str) -> float:
        return statistics.median(self.seconds[mode])


def modes(athens: bool) -> list[str]:
    return ["direct", "cold", "warm", "file"] + (["athens cold", "athens warm"] if athens else [])


def bench_realworld(
    project: Path,
    upstream: str,
    work: Path,
    *,
    sumdb: str | None = None,
    rounds: int = 3,
    frontend: str = "trio",
    athens: str | None = None,
    progress: Callable[[str], None] = print,
) -> Result:
    """Every mode of :func:`modes`, ``rounds`` times, in an order rotating by round."""
    seconds: dict[str, list[float]] = {m: [] for m in modes(bool(athens))}
    proxies: dict[str, list[ProxyRun]] = {"goproxy": [], "athens": []}
    seen: dict[str, set[Module]] = {}
    last_direct: Download | None = None
    orders: list[list[str]] = []
    units = ["direct", "goproxy", "file"] + (["athens"] if athens else [])

    def check(mode: str, d: Download) -> None:
        seen[mode] = d.modules
        first = next(iter(seen.values()))
        if d.modules != first:
            diff = sorted(d.modules ^ first)[:10]
            raise RuntimeError(f"{mode}: the go command printed other modules: {diff}")
        seconds[mode].append(d.seconds)
        progress(f"  {mode}: {d.seconds:.1f} s, {len(d.modules)} modules")

    for r in range(rounds):
        k = r % len(units)
        order = units[k:] + units[:k]
        if last_direct is None:  # the file mode reads what a direct run downloaded
            order.remove("direct")
            order.insert(0, "direct")
        orders.append(order)
        progress(f"round {r + 1}: {', '.join(order)}")
        for unit in order:
            if unit == "direct":
                d = go_download(project, upstream, work, sumdb)
                check("direct", d)
                if last_direct is not None:
                    shutil.rmtree(last_direct.home, ignore_errors=True)
                last_direct = d
            elif unit == "file":
                assert last_direct is not None
                cache = last_direct.home / "pkg" / "mod" / "cache" / "download"
                d = go_download(project, cache.as_uri(), work, "off")
                check("file", d)
                shutil.rmtree(d.home, ignore_errors=True)
            else:
                tag = f"{r}"
                if unit == "goproxy":
                    run = goproxy_round(upstream, project, work, sumdb, frontend, tag)
                    names = ("cold", "warm")
                else:
                    assert athens is not None
                    run = athens_round(athens, upstream, project, work, sumdb, tag)
                    names = ("athens cold", "athens warm")
                check(names[0], run.cold)
                check(names[1], run.warm)
                progress(
                    f"  {unit}: cold fill {run.cold_cpu:.1f} CPU-s, {run.stored / MB:.0f} MB "
                    f"stored, warm client {run.warm_cpu:.2f} CPU-s, peak RSS {run.rss_mib:.0f} MiB"
                )
                proxies[unit].append(run)
                for dl in (run.cold, run.warm):
                    shutil.rmtree(dl.home, ignore_errors=True)
                for p in work.glob(f"{unit}*-{tag}*"):
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
    assert last_direct is not None
    direct_bytes = last_direct.bytes
    mods = seen["direct"]
    zips = sum(1 for _ in (last_direct.home / "pkg" / "mod" / "cache" / "download").rglob("*.zip"))
    shutil.rmtree(last_direct.home, ignore_errors=True)
    return Result(seconds, proxies, len(mods), zips, direct_bytes, orders)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def report(res: Result, frontend: str, sumdb: str | None) -> str:
    """Markdown: the times per mode, then each proxy's CPU and memory."""
    rounds = len(res.seconds["direct"])
    db = "the go command's default (on)" if sumdb is None else f"`{sumdb}`"
    out = [
        f"{res.modules} modules in the build list, {res.zips} zips, "
        f"{res.direct_bytes / MB:.0f} MB in a client's download cache; checksum database: "
        f"{db}; goproxy-core frontend {frontend}; {rounds} round(s), orders: "
        + "; ".join(" ".join(o) for o in res.orders)
        + ".\n\n",
        "| mode | median s | min-max s | median / direct |\n",
        "|---|---:|---:|---:|\n",
    ]
    direct = res.median("direct")
    for mode, secs in res.seconds.items():
        med = statistics.median(secs)
        out.append(
            f"| {mode} | {med:.1f} | {min(secs):.1f}-{max(secs):.1f} | {med / direct:.2f}x |\n"
        )
    out += [
        "\n| server | cold fill CPU-s | MB stored | CPU-s per MB | CPU-s per warm client | "
        "peak RSS MiB |\n",
        "|---|---:|---:|---:|---:|---:|\n",
    ]
    for name, runs in res.proxies.items():
        if not runs:
            continue
        cpu = statistics.median(r.cold_cpu for r in runs)
        stored = statistics.median(r.stored for r in runs) / MB
        warm = statistics.median(r.warm_cpu for r in runs)
        rss = max(r.rss_mib for r in runs)
        label = f"goproxy-core ({frontend})" if name == "goproxy" else name
        out.append(
            f"| {label} | {cpu:.1f} | {stored:.0f} | {cpu / stored:.3f} | {warm:.2f} | "
            f"{rss:.0f} |\n"
        )
    out.append(
        f"\nMedians over rounds. Goals (issue 11): a warm client costs the server no more CPU "
        f"than Athens' ({GOAL_WARM_CPU} CPU-s on the issue's prometheus graph); at most 0.02 "
        f"CPU-s per MB "
        f"ingested. The go command printed the same modules and hashes in every mode.\n"
    )
    return "".join(out)


MARK_BEGIN = "<!-- bench:realworld:begin -->"
MARK_END = "<!-- bench:realworld:end -->"
SECTION = f"""
## A real project's graph: straight to the upstream vs through the proxy

`python bench/realworld.py --project DIR [--upstream URL] [--sumdb off] [--rounds 3]
[--frontend trio] [--athens PATH] [--write]` (opt-in, needs network; never run by the suite)
takes a project directory holding go.mod and go.sum (or `GOPROXY_BENCH_PROJECT`) and an
upstream proxy (or `GOPROXY_BENCH_UPSTREAM`; by default the first proxy of `go env GOPROXY`,
read when it runs). Each round, in an order that rotates from round to round, it runs
`go mod download -json all` of a fresh copy of the project with fresh `GOPATH`, `GOMODCACHE`
and `GOCACHE` (`GOFLAGS=-modcacherw`, `GOTOOLCHAIN=local`, `GONOSUMDB`/`GOPRIVATE` empty):
`direct` to the upstream; `cold` through `goproxy serve --upstream URL` (the CLI, a subprocess
on loopback, default settings, an empty cache); `warm` through the same server again; `file`
from `file://` the download cache of the last direct run (`GOSUMDB=off`: the go command
alone); with `--athens PATH`, `athens cold` and `athens warm` through an Athens binary with
empty disk storage. The checksum database stays at the go command's default (`GOSUMDB`
unset): modules missing from go.sum are checked against it, through the proxy's `/sumdb/`
relay when the client goes through the proxy; `--sumdb off` turns it off for clients and
proxy. It prints each mode's median, spread and ratio to direct, and the server's CPU time
(`/proc/PID/stat` utime+stime) for the cold fill, per MB it stored and per warm client, and
its peak RSS; it fails if the go command printed other modules or hashes in any mode.
`tests/bench/test_realworld_smoke.py` runs it against a local generated upstream (with a
stand-in for the Athens binary). `--write` rewrites the block below.

{MARK_BEGIN}
{MARK_END}
"""


def write_doc(command: str, table: str) -> Path:
    """Replace the realworld block of docs/benchmarks.md, adding its section if missing."""
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
    p.add_argument(
        "--project",
        default=os.environ.get("GOPROXY_BENCH_PROJECT", ""),
        help="directory holding go.mod and go.sum (env GOPROXY_BENCH_PROJECT)",
    )
    p.add_argument(
        "--upstream",
        default=os.environ.get("GOPROXY_BENCH_UPSTREAM", ""),
        help="upstream proxy URL (env GOPROXY_BENCH_UPSTREAM; default: go env GOPROXY's first)",
    )
    p.add_argument(
        "--sumdb",
        default=None,
        help="GOSUMDB of the clients and sumdb of the proxy; off; default: the go command's",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    p.add_argument("--frontend", default="trio", choices=benchrun.FRONTENDS)
    p.add_argument("--athens", default=None, help="an Athens proxy binary: add its modes")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if not args.project:
        p.error("give --project DIR (or GOPROXY_BENCH_PROJECT)")
    project = Path(args.project).resolve()
    for name in ("go.mod", "go.sum"):
        if not (project / name).is_file():
            p.error(f"{project} holds no {name}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.athens and not os.access(args.athens, os.X_OK):
        p.error(f"--athens {args.athens}: not an executable file")
    upstream = args.upstream or default_upstream()

    old_term = signal.signal(signal.SIGTERM, benchrun.interrupt)
    work = Path(tempfile.mkdtemp(prefix="goproxy-realworld-"))
    try:
        res = bench_realworld(
            project,
            upstream,
            work,
            sumdb=args.sumdb,
            rounds=args.rounds,
            frontend=args.frontend,
            athens=args.athens,
        )
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = report(res, args.frontend, args.sumdb)
    print()
    print(table)
    if args.write:
        command = "python bench/realworld.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        print(f"wrote {write_doc(command.strip(), table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
