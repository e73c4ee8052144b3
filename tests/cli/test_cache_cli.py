"""``goproxy cache ls|du|rm|gc|stats`` on a cache filled through a real ``goproxy serve`` with
a fixture upstream (a ``file://`` GOPROXY tree): each command's text and JSON output against
the disk, ``rm`` while the server serves the same dir and a client downloads (the server
fetches the removed version again, byte-identical), ``gc`` under a small quota keeping the
most recently used versions and the pinned ones, waiting for a gc lock held elsewhere, the
progress bars (on a terminal only), and one line with exit status 2 for every bad input."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import pty
import random
import select
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
import zipfile
from pathlib import Path
from unittest import mock

import pytest

from goproxy_cli.cache import human_size
from goproxy_cli.main import main
from goproxy_core.module.escape import escape_path, escape_version
from goproxy_core.proxy.quota import unit_keys
from goproxy_stores.usage import FLUSH_INTERVAL, INDEX_FILE, LOCK_FILE
from serving import go_env, goproxy, goproxy_env, run_go, serving

from support import cache_usage

T = "2024-01-02T03:04:05Z"
# (module, version, zip payload bytes); sizes differ so that --sort size has one answer.
VERSIONS = [
    ("example.com/q/a", "v1.0.0", 30_000),
    ("example.com/q/a", "v1.9.0", 12_000),
    ("example.com/q/a", "v1.10.0", 14_000),
    ("example.com/q/b", "v1.0.0", 40_000),
    ("example.com/q/c", "v1.2.3", 22_000),
    ("example.com/Big", "v2.0.0+incompatible", 3_000_000),
    ("example.com/pin/p", "v1.0.0", 26_000),
    ("other.example/x", "v0.1.0", 8_000),
]
BIG = ("example.com/Big", "v2.0.0+incompatible")
# Serving with a quota far above the cache: last uses are recorded, nothing is evicted.
SERVE_ENV = {
    "GOPROXY_CORE_MAX_CACHE_SIZE": "1G",
    "GOPROXY_CORE_MIN_FREE_SPACE": "0",
    "GOPROXY_CORE_PREFETCH": "false",
}


def unit(module: str, version: str) -> str:
    return f"{escape_path(module)}/@v/{escape_version(version)}"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = tmp_path_factory.mktemp("cache-cli-tree")
    rnd = random.Random(5)
    for module, version, size in VERSIONS:
        d = t / escape_path(module) / "@v"
        d.mkdir(parents=True, exist_ok=True)
        v = escape_version(version)
        (d / f"{v}.info").write_text(json.dumps({"Version": version, "Time": T}))
        (d / f"{v}.mod").write_text(f"module {module}\n")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr(f"{module}@{version}/go.mod", f"module {module}\n")
            z.writestr(f"{module}@{version}/blob.dat", rnd.randbytes(size))
        (d / f"{v}.zip").write_bytes(buf.getvalue())
        with (d / "list").open("a") as f:
            f.write(version + "\n")
    return t


def get(url: str, module: str, version: str, ext: str) -> bytes:
    with urllib.request.urlopen(f"{url}/{unit(module, version)}.{ext}", timeout=60) as r:
        body: bytes = r.read()
        return body


def fill(url: str, versions: list[tuple[str, str]]) -> None:
    """Ask for each version's three files, in order (each a use, one after the other)."""
    for module, version in versions:
        for ext in ("info", "mod", "zip"):
            get(url, module, version, ext)
        time.sleep(0.02)  # distinct last uses


def fill_in_order(url: str, versions: list[tuple[str, str]]) -> None:
    """Store the versions, then use them again in order once the server has indexed them
    (a version's first last use is when its row was written, its files' flush)."""
    fill(url, versions)
    time.sleep(FLUSH_INTERVAL + 0.5)
    fill(url, versions)


def on_disk(cache: Path, module: str, version: str) -> int:
    """A version's bytes on disk (0: none of its files)."""
    total = 0
    for key in unit_keys(unit(module, version)):
        p = cache / key
        if p.exists():
            total += p.stat().st_size
    return total


def disk_total(cache: Path) -> tuple[int, int]:
    """(bytes, files) of the cache as the index counts them."""
    return cache_usage(cache)


def cache(
    *args: str, env: dict[str, str] | None = None, real: bool = False
) -> subprocess.CompletedProcess[str]:
    """``goproxy cache args...``: in this process (the command line's ``main``, stdout and
    stderr captured, the environment without ``GOPROXY_CORE_*`` but ``env``), or as its own
    process (``real``)."""
    if real:
        return goproxy("cache", *args, env=env)
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        for name in [k for k in os.environ if k.startswith("GOPROXY_CORE_")]:
            del os.environ[name]
        os.environ.update(env or {})
        try:
            code = main(["cache", *args])
        except SystemExit as e:  # argparse
            code = int(e.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    r = cache(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def all_versions() -> list[tuple[str, str]]:
    return [(m, v) for m, v, _ in VERSIONS]


def test_ls_du_stats(tree: Path, tmp_path: Path) -> None:
    c = tmp_path / "cache"
    order = all_versions()
    with serving("--upstream", f"file://{tree}", cache=c, env=SERVE_ENV) as served:
        fill_in_order(served.url, order)
        fill(served.url, [("example.com/q/b", "v1.0.0")])  # used twice: most used, used last
    order.remove(("example.com/q/b", "v1.0.0"))
    order.append(("example.com/q/b", "v1.0.0"))
    d = ["--cache-dir", str(c)]

    # ls --json: every version, its bytes as on disk, its uses; by module, then semver order.
    rows = lines(ok("ls", "--json", *d))
    assert [(r["module"], r["version"]) for r in rows] == [
        ("example.com/Big", "v2.0.0+incompatible"),
        ("example.com/pin/p", "v1.0.0"),
        ("example.com/q/a", "v1.0.0"),
        ("example.com/q/a", "v1.9.0"),
        ("example.com/q/a", "v1.10.0"),
        ("example.com/q/b", "v1.0.0"),
        ("example.com/q/c", "v1.2.3"),
        ("other.example/x", "v0.1.0"),
    ]
    for r in rows:
        assert r["bytes"] == on_disk(c, str(r["module"]), str(r["version"])) > 0
        want_uses = 9 if r["module"] == "example.com/q/b" else 6
        assert r["uses"] == want_uses, r
        assert isinstance(r["last_use"], str) and r["last_use"].endswith("Z")
    by_use = lines(ok("ls", "--json", "--sort", "last-use", "--no-scan", *d))
    assert [(r["module"], r["version"]) for r in by_use] == order
    by_size = lines(ok("ls", "--json", "--sort", "size", *d))
    sizes = [r["bytes"] for r in by_size]
    assert sizes == sorted(sizes, reverse=True) and by_size[0]["module"] == "example.com/Big"

    # ls text: a header, one row per version, human sizes.
    text = ok("ls", *d).splitlines()
    assert text[0].split() == ["MODULE", "VERSION", "SIZE", "LAST", "USE", "USES"]
    assert len(text) == 1 + len(VERSIONS)
    big = on_disk(c, *BIG)
    assert text[1].split()[:4] == [
        "example.com/Big",
        "v2.0.0+incompatible",
        *human_size(big).split(),
    ]

    # Patterns (GOPRIVATE syntax) and exact versions.
    picked = lines(ok("ls", "--json", "example.com/q", *d))
    assert {r["module"] for r in picked} == {
        "example.com/q/a",
        "example.com/q/b",
        "example.com/q/c",
    }
    picked = lines(ok("ls", "--json", "*.example,example.com/pin", *d))
    assert {r["module"] for r in picked} == {"other.example/x", "example.com/pin/p"}
    picked = lines(ok("ls", "--json", "example.com/q/a@v1.9.0", "example.com/Big", *d))
    assert [(r["module"], r["version"]) for r in picked] == [
        BIG,
        ("example.com/q/a", "v1.9.0"),
    ]
    assert ok("ls", "example.com/nothing", *d) == ""
    r = cache("ls", "example.com/q/a@v1.5.0", *d)
    assert r.returncode == 1
    assert r.stderr == "goproxy: cache ls: example.com/q/a@v1.5.0: not in the cache\n"

    # du: the whole cache as on disk, against the quota; the largest modules.
    total, files = disk_total(c)
    quota = ["--max-cache-size", "8M", "--min-free-space", "0"]
    du = lines(ok("du", "--json", "--top", "2", *quota, *d))[0]
    assert du["bytes"] == total and du["files"] == files
    assert du["versions"] == len(VERSIONS) and du["modules"] == 6
    assert du["max_cache_size"] == 8 << 20 and du["min_free_space"] == 0
    assert du["over"] is False and isinstance(du["free_space"], int)
    assert du["versions_bytes"] == sum(on_disk(c, m, v) for m, v in all_versions())
    assert du["largest"] == [
        {"module": "example.com/Big", "bytes": big, "versions": 1},
        {
            "module": "example.com/q/a",
            "bytes": sum(on_disk(c, "example.com/q/a", v) for v in ("v1.0.0", "v1.9.0", "v1.10.0")),
            "versions": 3,
        },
    ]
    text = ok("du", *quota, *d)
    assert f"({total} bytes)" in text
    assert f"max-cache-size 8.00 MiB: {100 * total / (8 << 20):.1f}% used" in text
    assert "min-free-space 0 (not checked)" in text
    over = lines(ok("du", "--json", "--no-scan", *d, env={"GOPROXY_CORE_MAX_CACHE_SIZE": "1M"}))
    assert over[0]["over"] is True and over[0]["max_cache_size"] == 1 << 20
    assert "over the quota" in ok("du", "--max-cache-size", "1M", *d)

    # stats: counts, the most used, the least recently used, the last scan.
    st = lines(ok("stats", "--json", "--top", "3", *d))[0]
    assert (st["versions"], st["modules"], st["files"], st["bytes"]) == (8, 6, files, total)
    assert st["uses"] == 6 * len(VERSIONS) + 3 and st["evicting"] == 0
    assert st["most_used"][0]["module"] == "example.com/q/b"  # type: ignore[index]
    least = st["least_recently_used"]
    assert [(r["module"], r["version"]) for r in least] == order[:3]  # type: ignore[union-attr]
    assert str(st["last_scan"]).endswith("Z")
    text = ok("stats", *d)
    assert f"8 versions of 6 modules; {files} files, {human_size(total)}" in text
    assert "most used:" in text and "least recently used:" in text


def test_ls_of_a_cache_never_indexed(tree: Path, tmp_path: Path) -> None:
    """A cache served without a quota has no index: the first command scans and makes it,
    --no-scan or not (last use: when the files were stored)."""
    c = tmp_path / "cache"
    env = {"GOPROXY_CORE_MIN_FREE_SPACE": "0", "GOPROXY_CORE_PREFETCH": "false"}
    with serving("--upstream", f"file://{tree}", cache=c, env=env) as served:
        fill(served.url, [("example.com/q/c", "v1.2.3")])
    assert not (c / INDEX_FILE).exists()
    r = cache("ls", "--json", "--no-scan", "--cache-dir", str(c))
    assert r.returncode == 0, r.stderr
    assert "no index yet: scanning anyway" in r.stderr
    [row] = lines(r.stdout)
    assert (row["module"], row["version"], row["uses"]) == ("example.com/q/c", "v1.2.3", 0)
    assert row["bytes"] == on_disk(c, "example.com/q/c", "v1.2.3")


def slow_get(port: int, path: str) -> tuple[socket.socket, bytes]:
    """A GET whose answer is read later (a small receive buffer holds the server back)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return s, s.recv(4096)


def read_all(s: socket.socket, first: bytes) -> bytes:
    data = first
    while chunk := s.recv(1 << 16):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body


def test_rm_while_serving(tree: Path, tmp_path: Path) -> None:
    c = tmp_path / "cache"
    d = ["--cache-dir", str(c)]
    big_zip = (tree / f"{unit(*BIG)}.zip").read_bytes()
    a10 = ("example.com/q/a", "v1.10.0")
    with serving("--upstream", f"file://{tree}", cache=c, env=SERVE_ENV) as served:
        fill(served.url, all_versions())
        fill(served.url, [BIG, a10])  # answered from the store now (and kept in memory)
        home = tmp_path / "home"
        code, out, err = run_go(
            ["mod", "download", "-json", "example.com/q/a@v1.10.0"], go_env(home, served.url)
        )
        assert code == 0, err
        want_sum = json.loads(out)["Sum"]
        # A download of the big zip in progress while it is removed.
        s, first = slow_get(served.port, f"/{unit(*BIG)}.zip")
        with s:
            r = cache("rm", f"{BIG[0]}@{BIG[1]}", f"{a10[0]}@{a10[1]}", *d, real=True)
            assert r.returncode == 0, r.stderr
            assert hashlib.sha256(read_all(s, first)).digest() == hashlib.sha256(big_zip).digest()
        out_lines = r.stdout.splitlines()
        assert out_lines[0].startswith("removed example.com/Big@v2.0.0+incompatible (")
        assert out_lines[1].startswith("removed example.com/q/a@v1.10.0 (")
        assert out_lines[2].startswith("removed 2 versions, freed ")
        for v in (BIG, a10):
            assert on_disk(c, *v) == 0
        assert [
            (x["module"], x["version"]) for x in lines(ok("ls", "--json", "--no-scan", *d))
        ] == [(m, v) for m, v in sorted(set(all_versions()) - {BIG, a10}, key=_order)]
        # The server answers after by fetching again, byte-identical; a go client agrees.
        assert get(served.url, *BIG, "zip") == big_zip
        assert get(served.url, *BIG, "zip") == big_zip  # from the store again
        code, out, err = run_go(
            ["mod", "download", "-json", "example.com/q/a@v1.10.0"],
            go_env(tmp_path / "home2", served.url),
        )
        assert code == 0, err
        assert json.loads(out)["Sum"] == want_sum
        assert (c / f"{unit(*BIG)}.zip").read_bytes() == big_zip
        # A whole module, and a pattern (with --pattern), private or pinned or not.
        r = cache("rm", "example.com/q/a", *d)
        assert r.returncode == 0, r.stderr
        assert "removed 3 versions" in r.stdout
        assert all(on_disk(c, "example.com/q/a", v) == 0 for v in ("v1.0.0", "v1.9.0", "v1.10.0"))
        r = cache("rm", "--pattern", "example.com/q,*.example", *d)
        assert r.returncode == 0, r.stderr
        assert [line.split()[1] for line in r.stdout.splitlines()[:-1]] == [
            "example.com/q/b@v1.0.0",
            "example.com/q/c@v1.2.3",
            "other.example/x@v0.1.0",
        ]
        assert "removed 3 versions" in r.stdout
        assert (
            get(served.url, "other.example/x", "v0.1.0", "zip")
            == (tree / f"{unit('other.example/x', 'v0.1.0')}.zip").read_bytes()
        )
    total, _ = disk_total(c)
    assert lines(ok("du", "--json", *d))[0]["bytes"] == total


def _order(mv: tuple[str, str]) -> tuple[str, tuple[int, ...]]:
    m, v = mv
    return m, tuple(int(x) for x in v[1:].split("+")[0].split("."))


def test_gc_under_a_small_quota(tree: Path, tmp_path: Path) -> None:
    c = tmp_path / "cache"
    d = ["--cache-dir", str(c)]
    small = [v for v in all_versions() if v != BIG]
    with serving("--upstream", f"file://{tree}", cache=c, env=SERVE_ENV) as served:
        fill_in_order(served.url, small)  # the pinned one is used early: it would go first
        fill(served.url, [small[0], small[1]])
        time.sleep(FLUSH_INTERVAL + 0.5)  # the server writes its batch of uses
        order = [v for v in small if v not in small[:2]] + small[:2]
        total, _ = disk_total(c)
        limit = total // 2
        quota = ["--max-cache-size", str(limit), "--min-free-space", "0"]

        # --dry-run: the least recently used first, never the pinned one; nothing removed.
        dry = ok("gc", "--dry-run", "--pin", "example.com/pin", *quota, *d).splitlines()
        planned = [tuple(line.split()[2].split("@")) for line in dry[:-1]]
        assert planned and ("example.com/pin/p", "v1.0.0") not in planned
        assert planned == [v for v in order if v[0] != "example.com/pin/p"][: len(planned)]
        assert dry[-1].startswith(f"would remove {len(planned)} versions, freeing ")
        assert disk_total(c)[0] == total

        # gc while the server serves: the same versions go, the most recently used stay.
        r = cache("gc", "--pin", "example.com/pin", *quota, *d)
        assert r.returncode == 0, r.stderr
        removed = [tuple(line.split()[1].split("@")) for line in r.stdout.splitlines()[:-1]]
        assert removed == planned
        after, _ = disk_total(c)
        assert after <= limit * 0.9
        kept = [on_disk(c, *v) > 0 for v in order]
        assert kept[-2:] == [True, True]  # used last
        first = next(
            i
            for i, (v, k) in enumerate(zip(order, kept, strict=True))
            if k and v[0] != "example.com/pin/p"
        )
        assert all(kept[first:])
        assert on_disk(c, "example.com/pin/p", "v1.0.0") > 0
        assert f"removed {len(removed)} versions" in r.stdout
        # Under the quota now: nothing more goes; private is kept as pin is.
        assert ok("gc", *quota, *d).splitlines()[-1].startswith("removed 0 versions")
        r = cache("gc", "--dry-run", "--private", "example.com/q", "--max-cache-size", "1", *d)
        assert r.returncode == 0, r.stderr
        left = lines(ok("ls", "--json", "--sort", "last-use", "--no-scan", *d))
        assert [line.split()[2] for line in r.stdout.splitlines()[:-1]] == [
            f"{x['module']}@{x['version']}"
            for x in left
            if not str(x["module"]).startswith("example.com/q/")
        ]
        assert "example.com/pin/p@v1.0.0" in r.stdout
        # An evicted version is fetched again, byte-identical.
        gone = removed[0]
        assert get(served.url, *gone, "zip") == (tree / f"{unit(*gone)}.zip").read_bytes()


def test_gc_waits_for_the_gc_lock(tree: Path, tmp_path: Path) -> None:
    c = tmp_path / "cache"
    with serving("--upstream", f"file://{tree}", cache=c, env=SERVE_ENV) as served:
        fill(served.url, [("example.com/q/c", "v1.2.3")])
    fd = os.open(c / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a server evicting
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "goproxy_cli",
                "cache",
                "gc",
                "--no-scan",
                "--cache-dir",
                str(c),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=goproxy_env(()),
        )
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "another process is evicting" in line and "waiting" in line, line
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("removed 0 versions"), out


def _on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run ``goproxy cache args`` with stderr on a pseudo-terminal: (status, stdout, what the
    terminal showed)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "goproxy_cli", "cache", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        env=goproxy_env(()),
    )
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the follower side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out, shown.decode(errors="replace")


def test_progress_bars_on_a_terminal_only(tree: Path, tmp_path: Path) -> None:
    c = tmp_path / "cache"
    with serving("--upstream", f"file://{tree}", cache=c, env=SERVE_ENV) as served:
        fill(served.url, all_versions())
    d = ["--cache-dir", str(c)]
    code, out, shown = _on_a_terminal(["du", "--json", *d])
    assert code == 0 and json.loads(out)["versions"] == len(VERSIONS)
    assert "scanning the cache" in shown and "file" in shown, shown
    code, out, shown = _on_a_terminal(["du", "--json", "--quiet", *d])
    assert code == 0 and shown == ""
    # Removing many versions: a bar too.
    code, out, shown = _on_a_terminal(["rm", "--pattern", "example.com/q", *d])
    assert code == 0 and "removed 5 versions" in out
    assert "removing versions" in shown, shown
    # Not a terminal: no bar (stderr empty).
    r = cache("du", *d)
    assert r.returncode == 0 and r.stderr == ""


@pytest.mark.parametrize(
    ("args", "env", "want"),
    [
        (["ls", "example.com/[a"], {}, "goproxy: cache ls: example.com/[a: malformed pattern"),
        (["ls", "example.com/q,"], {}, "goproxy: cache ls: example.com/q,: an empty pattern"),
        (
            ["ls", "Example.com@v1.0.0"],
            {},
            "goproxy: cache ls: Example.com@v1.0.0: not a module path",
        ),
        (
            ["rm", "example.com/q/*"],
            {},
            "goproxy: cache rm: example.com/q/*: a pattern: give --pattern",
        ),
        (["rm", "nodot/x"], {}, "goproxy: cache rm: nodot/x: not a module path"),
        (
            ["rm", "example.com/q/a@latest"],
            {},
            "goproxy: cache rm: example.com/q/a@latest: not a version",
        ),
        (["du", "--top", "-1"], {}, "goproxy: cache du: --top -1: negative"),
        (["du", "--top", "x"], {}, "goproxy: cache du: argument --top: invalid int value: 'x'"),
        (["ls", "--sort", "age"], {}, "goproxy: cache ls: argument --sort: invalid choice: 'age'"),
        (["rm"], {}, "goproxy: cache rm: the following arguments are required: MODULE[@VERSION]"),
        (["stats", "--top", "-2"], {}, "goproxy: cache stats: --top -2: negative"),
        (["gc", "--max-cache-size", "lots"], {}, "goproxy: max-cache-size: not a size (got 'lots'"),
        (["gc"], {"GOPROXY_CORE_MIN_FREE_SPACE": "-1"}, "goproxy: min-free-space: not a size"),
        (["gc", "--pin", "a[b"], {}, "goproxy: pin: malformed pattern (got 'a[b'"),
        (
            ["du"],
            {"GOPROXY_CORE_NO_SUCH": "1"},
            "goproxy: GOPROXY_CORE_NO_SUCH: unknown environment",
        ),
        (["du", "--config", "/nonexistent/c.toml"], {}, "goproxy: config: cannot read the file"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], want: str
) -> None:
    (tmp_path / "cache").mkdir()
    r = cache(*args, "--cache-dir", str(tmp_path / "cache"), env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith(want), r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_bad_cache_dir_and_missing_names(tree: Path, tmp_path: Path) -> None:
    r = cache("ls", "--cache-dir", str(tmp_path / "none"), real=True)
    assert r.returncode == 2
    assert r.stderr == (
        f"goproxy: cache-dir: no such directory (got '{tmp_path / 'none'}'; want the cache dir "
        "of goproxy serve)\n"
    )
    (tmp_path / "file").write_text("x")
    r = cache("du", "--cache-dir", str(tmp_path / "file"))
    assert r.returncode == 2 and "cache-dir: not a directory" in r.stderr
    c = tmp_path / "cache"
    with serving("--upstream", f"file://{tree}", cache=c, env=SERVE_ENV) as served:
        fill(served.url, [("example.com/q/a", "v1.0.0"), ("example.com/q/b", "v1.0.0")])
    d = ["--cache-dir", str(c)]
    for args, want in [
        (["example.com/nope"], "goproxy: cache rm: example.com/nope: not in the cache\n"),
        (
            ["example.com/q/a@v1.9.0"],
            "goproxy: cache rm: example.com/q/a@v1.9.0: not in the cache\n",
        ),
        (
            ["example.com/q"],
            "goproxy: cache rm: example.com/q: not in the cache (2 modules under it: rm "
            "--pattern example.com/q removes them)\n",
        ),
        (["--pattern", "*.example"], "goproxy: cache rm: *.example: not in the cache\n"),
    ]:
        r = cache("rm", *args, *d)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", want)
    # Nothing was removed by a command that failed on one of its names.
    r = cache("rm", "example.com/q/a", "example.com/nope", *d)
    assert r.returncode == 1
    assert on_disk(c, "example.com/q/a", "v1.0.0") > 0


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1536, "1.50 KiB"),
        (100 * 1024 - 1, "100 KiB"),
        (999 * 1024, "999 KiB"),
        (1000 * 1024, "0.98 MiB"),
        (8 << 20, "8.00 MiB"),
        (5 << 40, "5.00 TiB"),
    ],
)
def test_human_size(n: int, want: str) -> None:
    assert human_size(n) == want
