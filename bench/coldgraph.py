"""A cold module graph: ``go mod download`` straight to a slow upstream vs through the proxy.

``python bench/coldgraph.py [--modules N] [--latency MS] [--rate MBPS] [--rounds R] [--write]``

Everything runs on 127.0.0.1. The script

1. generates a module graph shaped like a real project's (:func:`build_graph`): a few hundred
   modules in layers, each go.mod requiring a handful of modules of deeper layers at one of
   their two versions, old-style go.mod files (``go 1.16``: no graph pruning, so the go
   command reads the graph wave by wave, as it does for the older parts of real graphs), and
   a project requiring the top layer;
2. serves it from a local upstream (:class:`SlowUpstream`) that waits ``latency`` before each
   answer and sends every body through one shared bandwidth cap (default 50 ms, 100 MB/s);
3. times ``go mod download`` of the project (fresh module cache each time, checksum database
   off, ``GOTOOLCHAIN=local``) straight to the upstream, through an empty proxy with prefetch
   on, through an empty proxy with prefetch off, and through the warm proxy; ``rounds``
   times, interleaved, and prints the medians and their ratios to going straight.

The functions are meant to be imported (``bench/coldpath.py`` runs them beside its single-zip
case): :func:`build_graph`, :class:`SlowUpstream`, :func:`go_mod_download`,
:func:`start_proxy` (:func:`proxy_process` with its process), :func:`bench_cold_graph`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import http.server
import json
import os
import random
import re
import shutil
import signal
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
PREFIX = "example.com/graph"
VERSIONS = ("v1.0.0", "v1.1.0")
ZIP_TIME = (2024, 1, 1, 0, 0, 0)
CHUNK = 64 * 1024


# --------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Graph:
    """A generated GOPROXY tree and the project requiring its top layer.

    Attributes:
        tree: the GOPROXY tree (``<module>/@v/<version>.{info,mod,zip}`` and ``list``).
        project: a go module directory whose go.mod requires the roots.
        modules: every module path, top layer first.
        layers: how many layers the graph has (the go command's waves, at least).
        mod_files: how many ``.mod`` files the tree holds.
    """

    tree: Path
    project: Path
    modules: list[str]
    layers: int
    mod_files: int


def _zip_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi.external_attr = 0o644 << 16
    zf.writestr(zi, data)


def write_version(
    tree: Path, module: str, version: str, requires: Sequence[tuple[str, str]], size: int
) -> None:
    """``module@version`` into ``tree``: its ``.info``, ``.mod``, a zip of about ``size`` bytes."""
    vdir = tree / module / "@v"
    vdir.mkdir(parents=True, exist_ok=True)
    gomod = f"module {module}\n\ngo 1.16\n"
    if requires:
        gomod += "\nrequire (\n" + "".join(f"\t{m} {v}\n" for m, v in requires) + ")\n"
    (vdir / f"{version}.mod").write_text(gomod)
    info = {"Version": version, "Time": "2024-01-01T00:00:00Z"}
    (vdir / f"{version}.info").write_text(json.dumps(info))
    pkg = module.rsplit("/", 1)[-1]
    prefix = f"{module}@{version}/"
    rng = random.Random(f"{module}@{version}")
    # Source-like text: compresses about as well as Go code does.
    words = ["func", "return", "if", "err", "nil", "package", pkg, "type", "struct", "{", "}"]
    body = " ".join(rng.choice(words) for _ in range(size // 5)).encode()
    with zipfile.ZipFile(vdir / f"{version}.zip", "w") as zf:
        _zip_entry(zf, prefix + "go.mod", gomod.encode())
        _zip_entry(zf, prefix + f"{pkg}.go", f"package {pkg}\n\n/*\n".encode() + body + b"\n*/\n")
    with (vdir / "list").open("a") as f:
        f.write(version + "\n")


def build_graph(
    base: Path,
    *,
    modules: int = 300,
    layers: int = 8,
    fanout: tuple[int, int] = (2, 6),
    zip_size: int = 40_000,
    seed: int = 11,
) -> Graph:
    """Generate a graph of ``modules`` modules in ``layers`` layers under ``base``.

    Every module has two versions; each version requires ``fanout`` (a range) modules of the
    layers below it, most from the next layer, at a random one of their versions, so the go
    command reads both versions' go.mod of many modules, as in a real graph. The top layer
    (about a tenth) is what the project requires, at ``v1.1.0``.
    """
    rng = random.Random(seed)
    tree = base / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    sizes = [max(1, modules // layers)] * layers
    sizes[-1] += modules - sum(sizes)
    names: list[list[str]] = []
    n = 0
    for size in sizes:
        names.append([f"{PREFIX}/m{n + i:03d}" for i in range(size)])
        n += size
    for depth, layer in enumerate(names):
        below = [m for lay in names[depth + 1 :] for m in lay]
        nxt = names[depth + 1] if depth + 1 < layers else []
        for module in layer:
            for version in VERSIONS:
                requires: dict[str, str] = {}
                if nxt:
                    want = rng.randint(*fanout)
                    for _ in range(want):
                        pool = nxt if rng.random() < 0.7 else below
                        requires[rng.choice(pool)] = rng.choice(VERSIONS)
                size = int(zip_size * rng.uniform(0.2, 2.0))
                write_version(tree, module, version, sorted(requires.items()), size)
    project = base / "project"
    project.mkdir(parents=True, exist_ok=True)
    roots = names[0]
    (project / "go.mod").write_text(
        f"module {PREFIX}/project\n\ngo 1.16\n\nrequire (\n"
        + "".join(f"\t{m} v1.1.0\n" for m in roots)
        + ")\n"
    )
    (project / "go.sum").unlink(missing_ok=True)
    flat = [m for lay in names for m in lay]
    return Graph(tree, project, flat, layers, len(flat) * len(VERSIONS))


# --------------------------------------------------------------------------------------------
# The upstream: latency per request, one bandwidth cap for every body
# --------------------------------------------------------------------------------------------


class _Bandwidth:
    """A shared link: each chunk waits for its turn at ``rate`` bytes per second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = 0.0
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.free_at)
            self.free_at = start + n / self.rate
            wait = self.free_at - now
        if wait > 0:
            time.sleep(wait)


class SlowUpstream:
    """A GOPROXY tree served over HTTP/1.1 on loopback, slowly, as a distant proxy would be.

    Each request waits ``latency`` seconds before its answer; bodies go out in 64 KiB chunks
    through one cap of ``rate`` bytes per second shared by all connections. ``requests`` logs
    ``(monotonic time, path)`` of every request as it arrives. Use as a context manager.
    """

    def __init__(self, tree: Path, *, latency: float = 0.05, rate: float = 100e6) -> None:
        self.tree = tree
        self.latency = latency
        self.bandwidth = _Bandwidth(rate)
        self.requests: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                upstream._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        """The paths asked so far, in order."""
        with self._lock:
            return [p for _, p in self.requests]

    def _answer(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((time.monotonic(), path))
        time.sleep(self.latency)
        file = (self.tree / path.lstrip("/")).resolve()
        if ".." in path or not file.is_file() or self.tree.resolve() not in file.parents:
            body = b"not found\n"
            h.send_response(404)
            h.send_header("Content-Type", "text/plain; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        data = file.read_bytes()
        ctype = {".info": "application/json", ".zip": "application/zip"}.get(
            file.suffix, "text/plain; charset=utf-8"
        )
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        for i in range(0, len(data), CHUNK):
            chunk = data[i : i + CHUNK]
            self.bandwidth.take(len(chunk))
            h.wfile.write(chunk)


# --------------------------------------------------------------------------------------------
# The go command and the proxy
# --------------------------------------------------------------------------------------------


def go_env(home: Path, goproxy: str) -> dict[str, str]:
    """The go command's environment: only this GOPROXY, caches under ``home``, no sumdb."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k != "PYTHONPATH"}
    env.update(
        GOPROXY=goproxy,
        GOSUMDB="off",
        GONOSUMDB="",
        GOPRIVATE="",
        GONOPROXY="",
        GOFLAGS="-modcacherw",
        GOTOOLCHAIN="local",
        GOENV="off",
        GOPATH=str(home),
        GOMODCACHE=str(home / "pkg" / "mod"),
        GOCACHE=str(home / "cache"),
        HOME=str(home),
    )
    return env


def go_mod_download(project: Path, goproxy: str, work: Path) -> tuple[float, str]:
    """``go mod download -json`` of ``project`` with a fresh module cache: (seconds, output).

    The output is the go command's JSON with this run's paths taken out, so runs compare.
    """
    home = Path(tempfile.mkdtemp(prefix="gohome-", dir=work))
    try:
        t0 = time.perf_counter()
        r = subprocess.run(
            ["go", "mod", "download", "-json"],
            cwd=project,
            env=go_env(home, goproxy),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"go mod download via {goproxy} failed:\n{r.stderr[-3000:]}")
        return elapsed, r.stdout.replace(str(home), "HOME")
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def start_proxy(
    upstream: str, cache: Path, log: Path, *, prefetch: bool = True, frontend: str = "trio"
) -> Iterator[str]:
    """``goproxy serve`` of ``upstream`` into ``cache`` on a free loopback port: its URL.

    The access log and the shutdown summary (``prefetch: started ...``) go to ``log``.
    """
    with proxy_process(upstream, cache, log, prefetch=prefetch, frontend=frontend) as (url, _):
        yield url


@contextlib.contextmanager
def proxy_process(
    upstream: str,
    cache: Path,
    log: Path,
    *,
    prefetch: bool = True,
    frontend: str = "trio",
    sumdb: str | None = "off",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`start_proxy`, also giving the server's process (for its CPU time and RSS).

    ``sumdb`` is the server's ``sumdb`` setting; ``None`` leaves it at its default (the go
    toolchain's checksum database, reached through the upstream and relayed under /sumdb/).
    """
    env = dict(os.environ, GOPROXY_CORE_PREFETCH="true" if prefetch else "false")
    env.pop("GOPROXY_CORE_SUMDB", None)
    if sumdb is not None:
        env["GOPROXY_CORE_SUMDB"] = sumdb
    env.setdefault("PYTHONPATH", f"{REPO / 'src'}:{REPO / 'src' / 'frontends'}")
    cmd = [sys.executable, "-m", "goproxy_cli", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--cache-dir", str(cache), "--upstream", upstream, "--frontend", frontend]
    with log.open("ab") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                break
            m = re.match(r"GOPROXY=(http://\S+)", line)
            url = m.group(1) if m else ""
        if not url:
            raise RuntimeError(f"goproxy serve did not start: {log.read_text()[-2000:]}")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@dataclasses.dataclass
class ColdGraphResult:
    """Seconds per mode (one list entry per round) and what the go command printed."""

    seconds: dict[str, list[float]]
    outputs: dict[str, str]
    prefetch_summary: str

    def median(self, mode: str) -> float:
        return statistics.median(self.seconds[mode])

    def ratio(self, mode: str) -> float:
        """The median of ``mode`` over the median going straight to the upstream."""
        return self.median(mode) / self.median("straight")


MODES = ("straight", "cold prefetch", "cold no prefetch", "warm")


def bench_cold_graph(
    graph: Graph,
    work: Path,
    *,
    latency: float = 0.05,
    rate: float = 100e6,
    rounds: int = 1,
    frontend: str = "trio",
) -> ColdGraphResult:
    """Time every mode of :data:`MODES`, ``rounds`` times, interleaved, against one upstream."""
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    outputs: dict[str, str] = {}
    summary = ""
    with SlowUpstream(graph.tree, latency=latency, rate=rate) as up:
        for r in range(rounds):
            took, outputs["straight"] = go_mod_download(graph.project, up.url, work)
            seconds["straight"].append(took)
            for prefetch, mode in ((False, "cold no prefetch"), (True, "cold prefetch")):
                cache = work / f"cache-{r}-{prefetch}"
                log = work / f"proxy-{r}-{prefetch}.log"
                with start_proxy(up.url, cache, log, prefetch=prefetch, frontend=frontend) as url:
                    took, outputs[mode] = go_mod_download(graph.project, url, work)
                    seconds[mode].append(took)
                    if prefetch:
                        took, outputs["warm"] = go_mod_download(graph.project, url, work)
                        seconds["warm"].append(took)
                if prefetch:
                    found = re.findall(r"prefetch: .*", log.read_text(errors="replace"))
                    summary = found[-1] if found else ""
                shutil.rmtree(cache, ignore_errors=True)
    return ColdGraphResult(seconds, outputs, summary)


def report(graph: Graph, res: ColdGraphResult, latency: float, rate: float) -> str:
    """A markdown table of the medians and ratios."""
    lines = [
        f"Graph: {len(graph.modules)} modules, {graph.mod_files} go.mod files, "
        f"{graph.layers} layers; upstream latency {latency * 1000:.0f} ms, "
        f"{rate / 1e6:.0f} MB/s; {len(res.seconds['straight'])} round(s), medians.",
        "",
        "| mode | seconds | ratio to straight | goal |",
        "|---|---|---|---|",
    ]
    goals = {"cold prefetch": "<= 0.9x"}
    for mode in MODES:
        lines.append(
            f"| {mode} | {res.median(mode):.2f} | {res.ratio(mode):.2f}x | {goals.get(mode, '')} |"
        )
    if res.prefetch_summary:
        lines += ["", f"Proxy with prefetch, at shutdown: `{res.prefetch_summary}`"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", type=int, default=300)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--latency", type=float, default=50.0, help="milliseconds per request")
    ap.add_argument("--rate", type=float, default=100.0, help="MB/s for every body together")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--frontend", default="trio")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coldgraph-") as tmp:
        work = Path(tmp)
        graph = build_graph(work, modules=args.modules, layers=args.layers)
        latency, rate = args.latency / 1000, args.rate * 1e6
        res = bench_cold_graph(
            graph, work, latency=latency, rate=rate, rounds=args.rounds, frontend=args.frontend
        )
    same = len({res.outputs[m] for m in MODES}) == 1
    print(f"# cold graph, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(report(graph, res, latency, rate))
    print(f"\ngo mod download output identical in every mode: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
