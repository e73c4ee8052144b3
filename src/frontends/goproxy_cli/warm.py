"""``goproxy warm``: fill the cache with what the go command will need for a project.

Arguments are go.sum, go.mod and go.work files, directories holding them, and
``module@version``. A directory is read as the go command reads it: its go.work if there is
one, else its go.sum (and its go.mod's ``go`` and ``toolchain`` lines), else its go.mod's
module graph. What each means is :mod:`goproxy_core.proxy.warm`'s; the files are fetched by
:class:`goproxy_io.warm.Warmer`, through the engine, into the cache dir (or the object store
``--store`` names, as for serve), with serve's upstreams, private patterns and checksum
databases (servers may serve the same cache dir or bucket meanwhile: every file is committed
whole, with a rename on disk, one atomic upload to an object store).

Exit status: 0 everything is cached, 1 something failed (each failure is printed with its
reason), 2 bad settings or arguments.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from goproxy_core.proxy.warm import (
    ReadGoMod,
    WarmInputError,
    WarmItem,
    merge,
    parse_gosum,
    parse_gowork,
    parse_module_arg,
    plan_gomod,
    plan_workspace,
    toolchain_item,
)

from .stores import add_store_flags, open_store

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from goproxy_io.warm import FileOutcome, Warmer

    from .settings import Settings

__all__ = ["Inputs", "LocalGo", "local_go", "read_inputs", "register", "run"]


class LocalGo:
    """The local Go the toolchain lines are compared with: version (``1.22.3``), GOOS,
    GOARCH; an empty version plans no toolchain."""

    def __init__(self, version: str = "", goos: str = "", goarch: str = "") -> None:
        self.version = version
        self.goos = goos
        self.goarch = goarch


def local_go(version: str | None, goos: str | None, goarch: str | None) -> LocalGo:
    """The flags' values, the rest from ``go env`` when a go command is on PATH."""
    got = {"GOVERSION": "", "GOOS": "", "GOARCH": ""}
    if not (version and goos and goarch):
        try:
            out = subprocess.run(
                ["go", "env", "GOVERSION", "GOOS", "GOARCH"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                env={**os.environ, "GOTOOLCHAIN": "local"},
            ).stdout.split("\n")
            got = dict(zip(("GOVERSION", "GOOS", "GOARCH"), out, strict=False))
        except (OSError, subprocess.SubprocessError):
            pass
    v = version or got.get("GOVERSION", "").removeprefix("go").split(" ")[0].split("-")[0]
    return LocalGo(v, goos or got.get("GOOS", ""), goarch or got.get("GOARCH", ""))


class Inputs:
    """What the arguments ask for: versions, and go.mod / go.work graphs still to load."""

    def __init__(self) -> None:
        self.items: list[WarmItem] = []
        self.gomods: list[tuple[Path, bytes]] = []  # (main module dir, go.mod)
        self.works: list[tuple[Path, bytes]] = []  # (go.work path, bytes)
        self.notes: list[str] = []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise WarmInputError(f"{path}: cannot read: {e.strerror}") from None


def _toolchain(gomod: bytes, file: str, go: LocalGo, inputs: Inputs) -> None:
    from goproxy_core.modfile import ModFileError, parse_gomod

    if not go.version:
        return
    try:
        f = parse_gomod(gomod, file=file, strict=True)
    except ModFileError as e:
        raise WarmInputError(str(e)) from None
    _add_toolchain(
        f.go.version if f.go else None, f.toolchain.name if f.toolchain else None, go, inputs
    )


def _add_toolchain(v: str | None, name: str | None, go: LocalGo, inputs: Inputs) -> None:
    if not go.version:
        return
    item = toolchain_item(v, name, local=go.version, goos=go.goos, goarch=go.goarch)
    if item is not None:
        inputs.items.append(item)


def read_inputs(args: Sequence[str], go: LocalGo) -> Inputs:
    """Read every argument (files, directories, module@version).

    Raises:
        WarmInputError: an argument that is none of these, or a file that does not parse.
    """
    inputs = Inputs()
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            if (path / "go.work").is_file():
                path = path / "go.work"
            elif (path / "go.sum").is_file():
                inputs.items += parse_gosum(_read(path / "go.sum"), str(path / "go.sum"))
                if (path / "go.mod").is_file():
                    _toolchain(_read(path / "go.mod"), str(path / "go.mod"), go, inputs)
                continue
            elif (path / "go.mod").is_file():
                path = path / "go.mod"
            else:
                raise WarmInputError(f"{arg}: a directory with no go.work, go.sum or go.mod")
        if path.is_file():
            data = _read(path)
            if path.name == "go.work":
                inputs.works.append((path, data))
                work = parse_gowork(data, str(path))
                _add_toolchain(work.go, work.toolchain, go, inputs)
            elif path.name == "go.mod":
                inputs.gomods.append((path.parent, data))
                _toolchain(data, str(path), go, inputs)
            else:
                inputs.items += parse_gosum(data, str(path))
        elif "@" in arg:
            inputs.items.append(parse_module_arg(arg))
        else:
            raise WarmInputError(f"{arg}: no such file or directory, and not module@version")
    return inputs


def _read_dir(ask: ReadGoMod) -> bytes | str:
    """A directory replacement's go.mod (relative to its main module's directory)."""
    d = Path(ask.main_dir) / ask.dir
    try:
        return (d / "go.mod").read_bytes()
    except OSError as e:
        return f"replacement directory {d}: {e.strerror}"


def plan(
    inputs: Inputs, warmer: Warmer, jobs: int = 8
) -> tuple[list[WarmItem], list[tuple[str, str]]]:
    """Every version to fetch, loading go.mod and go.work graphs through ``warmer``."""
    items = list(inputs.items)
    failures: list[tuple[str, str]] = []
    for d, data in inputs.gomods:
        flow = plan_gomod(data, file=str(d / "go.mod"), dir=str(d))
        got = warmer.plan(flow, _read_dir, jobs)
        items += got.items
        failures += got.failures
    for path, data in inputs.works:
        work = parse_gowork(data, str(path))
        mods = []
        for use in work.use:
            mod_dir = path.parent / use
            mods.append((str(mod_dir), _read(mod_dir / "go.mod")))
        got = warmer.plan(plan_workspace(work, mods, dir=str(path.parent)), _read_dir, jobs)
        items += got.items
        failures += got.failures
    return merge(items), failures


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``goproxy warm`` to the command line."""
    w = sub.add_parser(
        "warm",
        help="fetch what the go command will need for go.sum, go.mod, go.work files or "
        "module@version into the cache",
        description="Fetch into the cache, through the proxy's own checks (checksum "
        "database, records), exactly what the go command fetches for the arguments: every "
        "version a go.sum lists (a /go.mod line: the go.mod only); a go.mod's module graph "
        "as the go command loads it and what `go mod download` fetches; a go.work's; the "
        "toolchain the go and toolchain lines select when newer than the local Go. A "
        "directory: its go.work, else its go.sum, else its go.mod. Files already cached are "
        "not fetched again, so a run that was stopped finishes on the next. Exit status: 0 "
        "all cached, 1 something failed, 2 bad settings or arguments.",
    )
    w.add_argument("inputs", nargs="+", metavar="FILE|DIR|MODULE@VERSION")
    w.add_argument("--cache-dir", metavar="DIR", help="the cache to fill (as for serve)")
    add_store_flags(w, "the object store to fill, as for serve")
    w.add_argument("--config", metavar="FILE", help="TOML config file (as for serve)")
    w.add_argument("--upstream", metavar="LIST", help="as for serve")
    w.add_argument("--sumdb", metavar="KEYS", help="as for serve")
    w.add_argument("--nosumdb", metavar="PATTERNS", help="as for serve")
    w.add_argument("--private", metavar="PATTERNS", help="as for serve")
    w.add_argument("--insecure", metavar="PATTERNS", help="as for serve")
    w.add_argument("--vcs-dir", metavar="DIR", help="as for serve")
    w.add_argument("--jobs", type=int, metavar="N", help="files fetched at once (8)")
    w.add_argument(
        "--go-version",
        metavar="VERSION",
        help="the local Go the toolchain lines are compared with, such as 1.22.3 (default: "
        "`go env GOVERSION`; none: no toolchain is fetched)",
    )
    w.add_argument("--goos", metavar="GOOS", help="the toolchain's GOOS (`go env GOOS`)")
    w.add_argument("--goarch", metavar="GOARCH", help="the toolchain's GOARCH (`go env GOARCH`)")
    w.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    w.add_argument("--log-format", choices=["text", "json"], help="as for serve")


WARM_LOCAL = ("inputs", "go_version", "goos", "goarch")
"""The ``warm`` flags that are not settings."""


def run(
    settings: Settings,
    ns: argparse.Namespace,
    fetcher_factory: object,
    out: TextIO = sys.stdout,
    progress: TextIO = sys.stderr,
) -> int:
    """``goproxy warm``: plan, fetch, print the summary; the exit status."""
    from goproxy_io import Executor
    from goproxy_io.warm import Warmer, warm_config

    from .settings import bad

    jobs = 8 if ns.jobs is None else ns.jobs
    if jobs < 1:
        print(f"goproxy: {bad('jobs', 'too small', jobs, '1 or more')}", file=sys.stderr)
        return 2
    started = time.monotonic()
    go = local_go(ns.go_version, ns.goos, ns.goarch)
    try:
        inputs = read_inputs(ns.inputs, go)
    except WarmInputError as e:
        print(f"goproxy: warm: {e}", file=sys.stderr)
        return 2
    store = open_store(settings)
    assert callable(fetcher_factory)
    executor = Executor(store, fetcher_factory(settings))
    try:
        warmer = Warmer(executor, warm_config(settings.proxy_config()))
        try:
            items, failures = plan(inputs, warmer, jobs)
        except WarmInputError as e:
            print(f"goproxy: warm: {e}", file=sys.stderr)
            return 2
        bar = _Bar(progress)
        try:
            summary = warmer.run(
                items, jobs, failures=failures, started=started, step=bar.step, total=bar.start
            )
        finally:
            bar.close()
    finally:
        executor.close()
    for line in summary.lines():
        print(line, file=out, flush=True)
    return 1 if summary.failed else 0


class _Bar:
    """A tqdm bar on a terminal; nothing otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.bar: object = None

    def start(self, total: int) -> None:
        if not self.out.isatty():
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="file", file=self.out, desc="warm", leave=False)

    def step(self, outcome: FileOutcome) -> None:
        if self.bar is not None:
            from tqdm import tqdm

            assert isinstance(self.bar, tqdm)
            self.bar.update(1)
            if outcome.error:
                self.bar.set_postfix(failed=outcome.key, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            from tqdm import tqdm

            assert isinstance(self.bar, tqdm)
            self.bar.close()
