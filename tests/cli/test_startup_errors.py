"""Start-up errors of ``goproxy serve``: one line each, naming the setting, the value and what
is expected, exit status 2, no traceback; workers that end with their supervisor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from serving import goproxy, goproxy_env, serving

BASE = ("serve", "--upstream", "off", "--sumdb", "off")


def _table(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine x.example login a password b\nfoo bar\n")
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tokens": [{"name": "x"}]}')
    want_up = "scheme://host[:port][/path] with scheme https, http or file, or direct, or off"
    return [
        (
            ["--listen", "127.0.0.1:99999"],
            {},
            "listen: the port is out of range (got '127.0.0.1:99999'; want HOST:PORT, "
            "PORT 1-65535 (0: any free port))",
        ),
        (
            ["--listen", "nohost"],
            {},
            "listen: not HOST:PORT (got 'nohost'; want HOST:PORT, PORT 1-65535 (0: any free port))",
        ),
        (
            ["--upstream", "http//host.example"],
            {},
            "upstream: URL without ':' after its scheme (got 'http//host.example'; "
            f"want {want_up})",
        ),
        (
            ["--upstream", "https://a.example:0"],
            {},
            f"upstream: URL port out of range 1-65535 (got 'https://a.example:0'; want {want_up})",
        ),
        (
            ["--upstream", "https://a.example,direct,https://b.example"],
            {},
            "upstream: an entry after 'direct' is never asked (got "
            "'https://a.example,direct,https://b.example'; want the list to end at 'direct')",
        ),
        (
            ["--upstream", "off|https://b.example"],
            {},
            "upstream: an entry after 'off' is never asked (got 'off|https://b.example'; "
            "want the list to end at 'off')",
        ),
        (
            ["--private", "["],
            {},
            "private: malformed pattern (got '['; want comma-separated path.Match globs such "
            "as *.corp.example,example.com/team)",
        ),
        (
            ["--nosumdb", "a.example,x\\"],
            {},
            "nosumdb: malformed pattern (got 'x\\\\'; want comma-separated path.Match globs "
            "such as *.corp.example,example.com/team)",
        ),
        (
            ["--sumdb", "bogus name"],
            {},
            "sumdb: not a checksum database (got 'bogus name'; want name+hash+key, optionally "
            "=URL, the GOSUMDB syntax; or off)",
        ),
        (
            [],
            {"GOPROXY_CORE_FRONTEND": "tornado"},
            "frontend: not a known value (got 'tornado'; want one of trio, asyncio, sockets)",
        ),
        ([], {"GOPROXY_CORE_LIST_TTL": "-1"}, "list-ttl: negative (got -1.0; want 0 or more)"),
        (
            [],
            {"GOPROXY_CORE_MAX_STALE": "-1"},
            "max-stale: negative (got -1.0; want 0 or more)",
        ),
        (
            [],
            {"GOPROXY_CORE_NEGATIVE_TTL": "-5"},
            "negative-ttl: negative (got -5.0; want 0 or more)",
        ),
        (
            [],
            {"GOPROXY_CORE_FAILURE_TTL": "-1"},
            "failure-ttl: negative (got -1.0; want 0 or more)",
        ),
        (
            [],
            {"GOPROXY_CORE_MIN_FREE_SPACE": "lots"},
            "min-free-space: not a size (got 'lots'; want bytes, or a number with K, M, G or T)",
        ),
        (
            ["--max-cache-size", "10 parsecs"],
            {},
            "max-cache-size: not a size (got '10 parsecs'; want bytes, or a number with K, M, G "
            "or T)",
        ),
        (
            [],
            {"GOPROXY_CORE_GC_INTERVAL": "0"},
            "gc-interval: not positive (got 0.0; want more than 0)",
        ),
        (
            ["--pin", "example.com/[x"],
            {},
            "pin: malformed pattern (got 'example.com/[x'; want comma-separated path.Match "
            "globs such as *.corp.example,example.com/team)",
        ),
        (
            [],
            {"GOPROXY_CORE_WORKERS": "many"},
            "workers: not a number (got 'many'; want a whole number)",
        ),
        (["--workers", "0"], {}, "workers: too small (got 0; want 1 or more)"),
        (
            ["--cache-dir", str(afile)],
            {},
            f"cache-dir: not a directory (got '{afile}'; want a directory this user can create "
            "files in)",
        ),
        (
            ["--cache-dir", str(afile / "sub")],
            {},
            f"cache-dir: not a directory (got '{afile / 'sub'}'; want a directory this user can "
            "create files in)",
        ),
        (
            [],
            {"NETRC": str(netrc)},
            f"netrc: malformed at line 2: bad follower token 'foo' (got '{netrc}'; want a netrc "
            "file: machine HOST login NAME password SECRET)",
        ),
        (
            ["--base-path", "mods"],
            {},
            "base-path: not an absolute URL path (got 'mods'; want /PATH)",
        ),
        (
            ["--tokens-file", str(tokens)],
            {},
            "tokens-file: not a tokens file: Object missing required field `id` - at "
            f"`$.tokens[0]` (got '{tokens}'; want a file `goproxy token add` wrote)",
        ),
        (
            ["--anonymous", "example.com/[x"],
            {},
            "anonymous: malformed pattern (got 'example.com/[x'; want comma-separated path.Match "
            "globs such as *.corp.example,example.com/team)",
        ),
    ]


def test_every_bad_value_is_one_line_naming_it(tmp_path):
    for args, env, line in _table(tmp_path):
        cache = [] if "--cache-dir" in args else ["--cache-dir", str(tmp_path / "cache")]
        out = goproxy(*BASE, *cache, *args, env=env)
        assert (out.returncode, out.stderr) == (2, f"goproxy: {line}\n"), (args, env)
        assert out.stdout == ""


def test_bad_value_in_the_config_file_names_key_and_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('frontend = "tornado"\n')
    out = goproxy(*BASE, "--config", str(cfg), "--cache-dir", str(tmp_path / "c"))
    assert out.returncode == 2
    assert out.stderr == (
        f"goproxy: frontend: not a known value in {cfg} (got 'tornado'; "
        "want one of trio, asyncio, sockets)\n"
    )


def test_tilde_is_expanded_in_paths(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    cfg = home / "c.toml"
    cfg.write_text('cache-dir = "~/cache"\nupstream = "off"\n')
    with serving("--config", "~/c.toml", env={"HOME": str(home)}) as s:
        assert s.lines[0].split("cache ")[1].startswith(str(home / "cache"))
    assert (home / "cache").is_dir()


def test_goproxy_line_has_the_base_path(tmp_path):
    with serving("--upstream", "off", "--base-path", "/mods/", cache=tmp_path / "c") as s:
        assert s.url.endswith(f":{s.port}/mods")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_is_one_line(tmp_path, workers):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    listen = f"127.0.0.1:{taken.getsockname()[1]}"
    try:
        out = goproxy(
            *BASE,
            "--cache-dir",
            str(tmp_path / "c"),
            "--listen",
            listen,
            "--workers",
            workers,
            timeout=60,
        )
    finally:
        taken.close()
    assert out.returncode == 1
    assert out.stderr == (
        f"goproxy: listen: cannot listen: Address already in use (got '{listen}'; want an "
        "address of this host that is free and this user may bind)\n"
    )


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_kill_9_of_the_supervisor_stops_the_workers(tmp_path):
    args = ("--upstream", "off", "--workers", "2", "--frontend", "sockets")
    with serving(*args, cache=tmp_path / "c") as s:
        assert _connects(s.port)
        os.kill(s.proc.pid, signal.SIGKILL)  # the supervisor only, not its group
        s.proc.wait(timeout=10)
        # A bound on liveness, not a timing: the workers drain as on SIGTERM, which on a
        # machine busy with other jobs can take seconds.
        deadline = time.monotonic() + 20
        while _connects(s.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _connects(s.port), "workers still serve after their supervisor died"
        s.kill()


def test_sigterm_during_start_up_drains_and_exits_0(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "goproxy_cli",
        *BASE,
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=goproxy_env(cmd)
    )
    time.sleep(0.3)  # inside the start-up: imports, settings
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "GOPROXY=" in out and "draining" in err
