"""Descriptor floods against ``goproxy serve`` with a small open-file limit (issue 10 item 2).

The server runs with ``RLIMIT_NOFILE`` soft = hard = 1024; the test opens 1500 sockets that
never send a byte (raising its own limit for them). A fresh client must still get its ``.info``
within a few seconds, and the log must hold no traceback and at most a few accept-failure lines.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from goproxy_cli.settings import SettingsError, load_settings
from serving import goproxy, serving

FRONTENDS = ["trio", "asyncio", "sockets"]
FLOOD = 1500
LIMIT = (1024, 1024)


@pytest.fixture(scope="module", autouse=True)
def _own_limit() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 20000) if hard != resource.RLIM_INFINITY else 20000
    assert want >= FLOOD + 200, f"the test needs {FLOOD + 200} descriptors, hard limit {hard}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _upstream(root: Path) -> str:
    """A file:// proxy tree with one version of ``example.com/m``."""
    d = root / "example.com" / "m" / "@v"
    d.mkdir(parents=True)
    (d / "list").write_text("v1.0.0\n")
    (d / "v1.0.0.info").write_text(
        json.dumps({"Version": "v1.0.0", "Time": "2020-01-01T00:00:00Z"})
    )
    (d / "v1.0.0.mod").write_text("module example.com/m\n")
    return f"file://{root}"


@contextlib.contextmanager
def _flood(port: int, count: int) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def _info(port: int) -> tuple[int, bytes, float]:
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", "/example.com/m/@v/v1.0.0.info")
        r = c.getresponse()
        return r.status, r.read(), time.monotonic() - start
    finally:
        c.close()


def _closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0.05)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_silent_flood_leaves_requests_answered(tmp_path, frontend):
    log = tmp_path / "server.log"
    args = ("--frontend", frontend, "--upstream", _upstream(tmp_path / "up"))
    with (
        serving(*args, cache=tmp_path / "cache", log=log, open_files=LIMIT) as s,
        _flood(s.port, FLOOD) as socks,
    ):
        assert len(socks) == FLOOD
        status, body, took = _info(s.port)
        assert status == 200, body
        assert json.loads(body)["Version"] == "v1.0.0"
        assert took < 5, f"the .info took {took:.1f} s under the flood"
        # The oldest silent sockets were closed to make room; the newest are still open.
        assert _closed_by_server(socks[0])
        assert not _closed_by_server(socks[-1])
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert "open-file limit 1024" in text
    assert "max-connections (480) reached" in text
    assert text.count("accept failed") <= 3, text[-3000:]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_out_of_descriptors_backs_off_quietly(tmp_path, frontend):
    """max-connections above what the limit allows: accepts fail (EMFILE) until the silent
    sockets time out; the failures are a counted line, not a traceback per attempt."""
    log = tmp_path / "server.log"
    args = (
        *("--frontend", frontend, "--upstream", _upstream(tmp_path / "up")),
        *("--max-connections", "5000"),
    )
    with (
        serving(*args, cache=tmp_path / "cache", log=log, open_files=LIMIT) as s,
        _flood(s.port, 1100),
    ):
        time.sleep(1.0)  # the server is out of descriptors for a while
        status, body, took = _info(s.port)
        assert status == 200, body
        assert took < 15  # the silent sockets get their 408 after request-timeout (10 s)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    failed = [line for line in text.splitlines() if "accept failed" in line]
    assert 1 <= len(failed) <= 4, text[-3000:]
    assert "Too many open files" in failed[0]


def test_soft_limit_is_raised_to_the_hard_one(tmp_path):
    log = tmp_path / "server.log"
    with serving("--upstream", "off", cache=tmp_path / "cache", log=log, open_files=(256, 4096)):
        pass
    assert "open-file limit raised from 256 to 4096 (the hard limit)" in log.read_text()


def test_max_connections_setting():
    env = {"HOME": "/nonexistent"}
    flags = {"upstream": "off", "sumdb": "off"}
    assert load_settings(flags, environ=env).max_connections == 0
    got = load_settings(flags, environ={**env, "GOPROXY_CORE_MAX_CONNECTIONS": "100"})
    assert got.max_connections == 100
    with pytest.raises(SettingsError) as e:
        load_settings({**flags, "max_connections": -1}, environ=env)
    assert str(e.value) == (
        "max-connections: negative (got -1; want 1 or more, or 0: from the open-file limit)"
    )
    out = goproxy("serve", "--upstream", "off", "--max-connections", "-5")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "goproxy: max-connections: negative (got -5; want 1 or more, or 0: from the open-file "
        "limit)"
    )


def test_fetch_deadline_and_breaker_settings():
    env = {"HOME": "/nonexistent"}
    flags = {"upstream": "off", "sumdb": "off"}
    got = load_settings(flags, environ=env)
    assert (got.fetch_deadline, got.breaker_failures, got.breaker_cooldown) == (90.0, 5, 30.0)
    got = load_settings(
        flags,
        environ={
            **env,
            "GOPROXY_CORE_FETCH_DEADLINE": "20",
            "GOPROXY_CORE_BREAKER_FAILURES": "0",
            "GOPROXY_CORE_BREAKER_COOLDOWN": "5",
        },
    )
    assert (got.fetch_deadline, got.breaker_failures, got.breaker_cooldown) == (20.0, 0, 5.0)
    for key, value, why, want in [
        ("fetch_deadline", 0.0, "not positive", "more than 0"),
        ("breaker_failures", -1, "negative", "0 or more"),
        ("breaker_cooldown", -1.5, "negative", "0 or more"),
    ]:
        with pytest.raises(SettingsError) as e:
            load_settings({**flags, key: value}, environ=env)
        name = key.replace("_", "-")
        assert str(e.value) == f"{name}: {why} (got {value}; want {want})"
    out = goproxy("serve", "--upstream", "off", "--breaker-failures", "-2")
    assert out.returncode == 2
    assert out.stderr.strip() == "goproxy: breaker-failures: negative (got -2; want 0 or more)"
