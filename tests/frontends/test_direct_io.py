"""Direct mode through the servers: private names stay private, and a repository that cannot be
reached (credentials missing, nothing listening, a server that never answers) gives a clear
error within the timeout while the server keeps answering everyone else.

Repositories are made here with git; ``url.<base>.insteadOf`` points the module paths
(``git.example.test/...``) at them, exactly as a user's git configuration would.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from goproxy_core import ProxyConfig, SumdbConfig
from goproxy_core.testing import MemoryStore
from goproxy_io import FetchSettings
from goproxy_io.vcs_settings import VCSSettings
from serving import GoResult, go_env, run_go
from sumdbfix import FixtureDB

from conftest import running
from support import make_zip

HOST = "git.example.test"
DATE = "2024-01-02T03:04:05+00:00"


def _git(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return r.stdout


def _base_env(home: Path, gitconfig: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.test",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.test",
        "GIT_AUTHOR_DATE": DATE,
        "GIT_COMMITTER_DATE": DATE,
    }


def _make_repo(path: Path, files: dict[str, str], tags: list[str], env: dict[str, str]) -> None:
    path.mkdir(parents=True)
    _git(["init", "-q", "-b", "main"], path, env)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    _git(["add", "-A"], path, env)
    _git(["commit", "-q", "-m", "first"], path, env)
    for t in tags:
        _git(["tag", t], path, env)


class _Recorder(http.server.ThreadingHTTPServer):
    """A public upstream proxy that serves a few files and records every path it is asked."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _RecorderHandler)


class _RecorderHandler(http.server.BaseHTTPRequestHandler):
    server: _Recorder

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_response(404)
            body = b"not found"
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def world(tmp_path):
    """A private repository that needs a public module, and the git config that finds it."""
    home = tmp_path / "home"
    home.mkdir()
    repos = tmp_path / "repos"
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        f'[url "{repos.as_uri()}/"]\n\tinsteadOf = https://{HOST}/\n'
        '[protocol "file"]\n\tallow = always\n'
    )
    env = _base_env(home, gitconfig)
    gomod = f"module {HOST}/team/priv.git\n\ngo 1.21\n\nrequire example.com/pub v1.0.0\n"
    _make_repo(
        repos / "team" / "priv.git",
        {"go.mod": gomod, "priv.go": 'package priv\n\nimport _ "example.com/pub"\n'},
        ["v1.0.0"],
        env,
    )
    pubmod = b"module example.com/pub\n\ngo 1.21\n"
    files = {
        "/example.com/pub/@v/list": b"v1.0.0\n",
        "/example.com/pub/@v/v1.0.0.info": b'{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}',
        "/example.com/pub/@v/v1.0.0.mod": pubmod,
        "/example.com/pub/@v/v1.0.0.zip": make_zip(
            "example.com/pub", "v1.0.0", {"go.mod": pubmod, "pub.go": b"package pub\n"}
        ),
    }
    db = FixtureDB("sum.example")
    db.add("example.com/pub", "v1.0.0", pubmod, files["/example.com/pub/@v/v1.0.0.zip"])
    db.publish()
    files.update({f"/sumdb/sum.example/{p}": d for p, d in db.files().items()})
    return {
        "home": home,
        "env": env,
        "gitconfig": gitconfig,
        "files": files,
        "tmp": tmp_path,
        "db": db,
    }


def _go(args: list[str], proxy: str, home: Path, cwd: Path) -> GoResult:
    return run_go(args, go_env(home, proxy, GONOSUMDB=HOST), cwd)


def test_private_names_never_reach_the_public_upstream(world):
    up = _Recorder(world["files"])
    threading.Thread(target=up.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{up.server_address[1]}"
        config = ProxyConfig(
            upstream=base,
            private=HOST,
            anonymous="*",  # plain HTTP: the go command sends no token; anyone may read
            sumdb=(SumdbConfig("sum.example", world["db"].vkey),),
        )
        fetch = FetchSettings(
            retries=0,
            vcs=VCSSettings(
                world["tmp"] / "vcs", env={"GIT_CONFIG_GLOBAL": str(world["gitconfig"])}
            ),
        )
        with running("trio", MemoryStore(), config, fetch) as port:
            proxy = f"http://127.0.0.1:{port}"
            work = world["tmp"] / "work"
            work.mkdir()
            _go(["mod", "init", "example.com/app"], proxy, world["home"], work)
            r = _go(["get", f"{HOST}/team/priv.git@v1.0.0"], proxy, world["home"], work)
            assert r.returncode == 0, r.stderr
            r = _go(["build", "./..."], proxy, world["home"], work)
            assert r.returncode == 0, r.stderr
            # The checksum database is never asked about a private module either.
            url = f"{proxy}/sumdb/sum.example/lookup/{HOST}/team/priv.git@v1.0.0"
            assert _get(url, timeout=10)[0] == 404
        assert f"{HOST}/team/priv.git v1.0.0" in (work / "go.mod").read_text()
        assert up.paths, "the public module came through the public upstream"
        assert all(HOST not in p and "priv" not in p for p in up.paths), up.paths
    finally:
        up.shutdown()
        up.server_close()


class _Locked(http.server.ThreadingHTTPServer):
    """A git server that wants credentials for everything."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _LockedHandler)


class _LockedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _silent_listener() -> socket.socket:
    """A port that accepts connections and never says a word."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def _get(url: str, timeout: float = 30) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


@pytest.mark.parametrize("frontend", ["trio", "sockets"])
def test_unreachable_repositories_fail_clearly_and_in_time(frontend, tmp_path):
    locked = _Locked()
    threading.Thread(target=locked.serve_forever, daemon=True).start()
    silent = _silent_listener()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        f'[url "http://127.0.0.1:{locked.server_address[1]}/"]\n'
        f"\tinsteadOf = https://{HOST}/locked/\n"
        f'[url "http://127.0.0.1:{closed_port}/"]\n'
        f"\tinsteadOf = https://{HOST}/gone/\n"
        f'[url "http://127.0.0.1:{silent.getsockname()[1]}/"]\n'
        f"\tinsteadOf = https://{HOST}/silent/\n"
        # Nothing at all for ssh: a refused connection, never a prompt.
        f'[url "ssh://127.0.0.1:{closed_port}/"]\n'
        f"\tinsteadOf = ssh://{HOST}/\n"
    )
    timeout = 4.0
    fetch = FetchSettings(
        retries=0,
        vcs=VCSSettings(
            tmp_path / "vcs",
            timeout=timeout,
            env={"GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1"},
        ),
    )
    config = ProxyConfig(upstream="direct", negative_ttl=0)
    try:
        with running(frontend, MemoryStore(), config, fetch) as port:
            base = f"http://127.0.0.1:{port}"
            cases = {
                "locked": ("credentials", (502,)),
                "gone": ("", (404, 502)),
                "silent": ("timed out", (504,)),
            }
            results: dict[str, tuple[int, str, float]] = {}

            def ask(name: str) -> None:
                t0 = time.monotonic()
                status, body = _get(f"{base}/{HOST}/{name}/repo.git/@v/list", timeout=60)
                results[name] = (status, body, time.monotonic() - t0)

            threads = [threading.Thread(target=ask, args=(n,)) for n in cases]
            for t in threads:
                t.start()
            # While git waits on the silent server, everyone else is still answered at once.
            t0 = time.monotonic()
            assert _get(f"{base}/healthz", timeout=5)[0] == 200
            assert time.monotonic() - t0 < 2
            for t in threads:
                t.join(60)
            for name, (words, statuses) in cases.items():
                status, body, took = results[name]
                assert status in statuses, (name, status, body)
                assert words in body, (name, body)
                assert f"{HOST}/{name}/repo.git" in body, (name, body)
                # Each probe (https, then ssh) is bounded by the timeout.
                assert took < 3 * timeout + 5, (name, took)
    finally:
        locked.shutdown()
        locked.server_close()
        silent.close()
