"""``goproxy serve --workers 4`` on one disk cache: one upstream request per file.

A slow upstream (1 s before each answer) counts requests; many clients on fresh connections,
which the kernel spreads over the workers, ask for the same uncached files at once. Then a
worker is killed (SIGKILL) while it holds a file's lease mid-body: another worker takes over,
stores the file whole, and no lock is left held.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from serving import serve, serving
from slowupstream import info, many, module_zip, slow_upstream

MOD = "example.com/workers"
GOMOD = b"module example.com/workers\n\ngo 1.21\n"
LEASES = "_goproxy/leases"


def _zip(version: str, size: int) -> bytes:
    return module_zip(MOD, version, GOMOD, size)


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text()
    return [int(pid) for pid in children.split()]


def _holders(cache: Path) -> dict[str, int]:
    """Lock file name -> pid of the process holding its flock (from /proc/locks)."""
    d = cache / LEASES
    inodes = {}
    for name in os.listdir(d) if d.exists() else []:
        try:
            inodes[os.stat(d / name).st_ino] = name
        except FileNotFoundError:
            continue
    held = {}
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK":
            ino = int(parts[5].rsplit(":", 1)[1])
            if ino in inodes:
                held[inodes[ino]] = int(parts[4])
    return held


def test_four_workers_fetch_each_file_once(tmp_path):
    files = {
        f"/{MOD}/@v/v1.0.0.info": info("v1.0.0"),
        f"/{MOD}/@v/v1.0.0.mod": GOMOD,
        f"/{MOD}/@v/v1.0.0.zip": _zip("v1.0.0", 256 << 10),
        f"/{MOD}/@v/v1.1.0.zip": _zip("v1.1.0", 3 << 20),
        f"/{MOD}/@v/v1.1.0.mod": GOMOD,
    }
    cache = tmp_path / "cache"
    with (
        slow_upstream(files, delay=1.0) as (upstream, handler),
        serving("--workers", "4", "--upstream", upstream, cache=cache) as served,
    ):
        assert len(_workers(served.proc.pid)) == 4
        paths = [p for p in files for _ in range(10)]
        got = many(served.port, paths)
        assert len(got) == len(paths)
        for item in got:
            assert len(item) == 3, item
            path, status, body = item
            assert status == 200, (path, status, body[:200])
            assert body == files[path], path  # every client the exact bytes
        assert handler.hits == dict.fromkeys(files, 1)  # one upstream request per file
        assert _holders(cache) == {}
    assert not (cache / LEASES).exists() or os.listdir(cache / LEASES) == []


def test_killing_the_lease_holder_mid_fetch(tmp_path):
    path = f"/{MOD}/@v/v1.2.0.zip"
    body = _zip("v1.2.0", 4 << 20)
    cache = tmp_path / "cache"
    with slow_upstream({path: body}, delay=0.0, stall=path) as (upstream, handler):
        served = serve("--workers", "4", "--upstream", upstream, cache=cache)
        try:
            first: list[object] = []
            t = threading.Thread(target=lambda: first.extend(many(served.port, [path])))
            t.start()
            end = time.monotonic() + 20
            while not _holders(cache):
                assert time.monotonic() < end, "no worker took the lease"
                time.sleep(0.02)
            assert handler.hits == {path: 1}
            (holder,) = _holders(cache).values()
            assert holder in _workers(served.proc.pid)
            # More clients, spread over every worker: those on the holder wait on its
            # flight, the others on its lease.
            rest: list[object] = []
            r = threading.Thread(target=lambda: rest.extend(many(served.port, [path] * 16)))
            r.start()
            time.sleep(1.0)
            assert handler.hits == {path: 1}
            os.kill(holder, signal.SIGKILL)
            t0 = time.monotonic()
            r.join(60)
            t.join(60)
            handler.go_on.set()
            took = time.monotonic() - t0
            answers = [x for x in rest + first if len(x) == 3]  # type: ignore[arg-type]
            assert answers, rest  # clients of the surviving workers were answered
            for _, status, got in answers:  # type: ignore[misc]
                assert status == 200 and got == body  # whole, never the half the holder had
            assert handler.hits == {path: 2}  # the killed fetch, and one take-over
            assert took < 10
            assert (cache / path.lstrip("/")).read_bytes() == body
            assert _holders(cache) == {}  # no lock left held
        finally:
            served.kill()
