"""The disk quota with the real go command: clients fill a cache past a small
``max-cache-size``; after each gc cycle the cache is under it, the versions used last are the
ones kept, a pinned module survives, an evicted version is fetched again byte-identical, a
download in progress while its zip is evicted completes, two servers evicting one cache dir
never corrupt it, and a restart keeps the accounting exact."""

from __future__ import annotations

import hashlib
import io
import json
import random
import socket
import time
import zipfile
from pathlib import Path

import pytest

from goproxy_stores import DiskStore
from goproxy_stores.usage import UsageIndex
from serving import go_env, run_go, serving

from support import cache_usage

LIMIT = 240 * 1024
ZIP = 40 * 1024  # stored, random: a version takes a little more than this
MODS = [f"example.com/q/m{i:02}" for i in range(10)]
PINNED = "example.com/pinned/p"
BIG = "example.com/big"
T = "2024-01-02T03:04:05Z"
SETTINGS = {
    "GOPROXY_CORE_MAX_CACHE_SIZE": str(LIMIT),
    "GOPROXY_CORE_MIN_FREE_SPACE": "0",
    "GOPROXY_CORE_GC_INTERVAL": "0.5",
    "GOPROXY_CORE_PIN": "example.com/pinned",
    "GOPROXY_CORE_PREFETCH": "false",
}


def _add(tree: Path, mod: str, size: int, rnd: random.Random) -> None:
    d = tree / mod / "@v"
    d.mkdir(parents=True)
    (d / "v1.0.0.info").write_text(json.dumps({"Version": "v1.0.0", "Time": T}))
    (d / "v1.0.0.mod").write_text(f"module {mod}\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{mod}@v1.0.0/go.mod", f"module {mod}\n")
        z.writestr(f"{mod}@v1.0.0/blob.dat", rnd.randbytes(size))
    (d / "v1.0.0.zip").write_bytes(buf.getvalue())
    (d / "list").write_text("v1.0.0\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = tmp_path_factory.mktemp("quota-tree")
    rnd = random.Random(12)
    for mod in [*MODS, PINNED]:
        _add(t, mod, ZIP, rnd)
    _add(t, BIG, 8 << 20, rnd)
    return t


def disk_total(root: Path) -> int:
    return cache_usage(root)[0]


def stored(cache: Path, mod: str) -> bool:
    return (cache / mod / "@v" / "v1.0.0.zip").exists()


def whole(cache: Path, mod: str) -> bool:
    """All of a version's files, or none (never half removed)."""
    have = [(cache / mod / "@v" / f"v1.0.0.{e}").exists() for e in ("info", "mod", "zip")]
    return all(have) or not any(have)


def download(url: str, home: Path, mod: str) -> dict[str, str]:
    code, out, err = run_go(["mod", "download", "-json", f"{mod}@v1.0.0"], go_env(home, url))
    assert code == 0, err
    doc: dict[str, str] = json.loads(out)
    return doc


def wait_for(what: str, check, timeout: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def slow_get(port: int, path: str) -> tuple[socket.socket, bytes]:
    """A GET whose response is read later: returns the socket and the first bytes."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return s, s.recv(4096)


def test_quota_with_go_clients(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    up = f"file://{tree}"
    order: list[str] = []
    sums: dict[str, str] = {}
    with serving("--upstream", up, cache=cache, env=SETTINGS, log=tmp_path / "log") as served:
        assert any("quota: max-cache-size 240K" in line for line in served.lines), served.lines
        sums[PINNED] = download(served.url, tmp_path / "h-pin", PINNED)["Sum"]
        for i, mod in enumerate(MODS):
            sums[mod] = download(served.url, tmp_path / f"h{i}", mod)["Sum"]
            order.append(mod)
        # The oldest two used again (each go command has its own module cache: it asks).
        for mod in MODS[:2]:
            assert download(served.url, tmp_path / f"h-again-{mod[-3:]}", mod)["Sum"] == sums[mod]
            order.remove(mod)
            order.append(mod)
        # After a gc cycle: under the quota, the pinned version kept, and the versions kept
        # are the ones used last.
        wait_for("the cache under its quota", lambda: disk_total(cache) <= LIMIT)
        time.sleep(3)  # a flush and a gc cycle more: nothing else may go
        assert disk_total(cache) <= LIMIT
        assert stored(cache, PINNED)
        kept = [stored(cache, m) for m in order]
        assert any(kept) and not all(kept), kept
        first = kept.index(True)
        assert all(kept[first:]), (
            f"not the most recently used kept: {list(zip(order, kept, strict=True))}"
        )
        assert all(stored(cache, m) for m in MODS[:2])
        assert all(whole(cache, m) for m in MODS)
        # An evicted version is fetched again, byte-identical.
        gone = order[0]
        assert not stored(cache, gone)
        assert download(served.url, tmp_path / "h-refetch", gone)["Sum"] == sums[gone]
        wait_for("the refetched zip stored", lambda: stored(cache, gone))
        want = (tree / gone / "@v/v1.0.0.zip").read_bytes()
        assert (cache / gone / "@v/v1.0.0.zip").read_bytes() == want

        # A download in progress when its zip is evicted completes, byte-identical.
        big = (tree / BIG / "@v/v1.0.0.zip").read_bytes()
        s, first_bytes = slow_get(served.port, f"/{BIG}/@v/v1.0.0.zip")
        with s:
            wait_for("the big zip stored", lambda: stored(cache, BIG), timeout=60)
            s2, head2 = slow_get(served.port, f"/{BIG}/@v/v1.0.0.zip")  # from the store
            with s2:
                index = UsageIndex(DiskStore(cache), settle=0)
                try:
                    # A second process (this one) evicting everything it may, while the server's
                    # own evictor runs too: one at a time, never a corrupt cache.
                    def evict() -> bool:
                        index.gc(limit=1, min_free=0, keep=lambda m: m == PINNED)
                        return not stored(cache, BIG)

                    wait_for("the big zip evicted", evict)
                    for sock, head in ((s, first_bytes), (s2, head2)):
                        data = head
                        while chunk := sock.recv(1 << 16):
                            data += chunk
                        body = data.split(b"\r\n\r\n", 1)[1]
                        assert data.startswith(b"HTTP/1.1 200"), data[:200]
                        assert hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
                finally:
                    index.close()
        assert stored(cache, PINNED)
        assert all(whole(cache, m) for m in [*MODS, BIG])
    # A restart: the index agrees with the disk once its start-up scan is done.
    with serving("--upstream", up, cache=cache, env=SETTINGS) as served:
        index = UsageIndex(DiskStore(cache))
        try:
            wait_for("the accounting exact", lambda: index.total() == disk_total(cache))
            assert stored(cache, PINNED)
        finally:
            index.close()


def test_two_servers_evicting_one_cache_dir(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    up = f"file://{tree}"
    with (
        serving("--upstream", up, cache=cache, env=SETTINGS) as a,
        serving("--upstream", up, cache=cache, env=SETTINGS) as b,
    ):
        for i, mod in enumerate(MODS):
            download((a, b)[i % 2].url, tmp_path / f"h{i}", mod)
        wait_for("the cache under its quota", lambda: disk_total(cache) <= LIMIT)
        time.sleep(3)
        assert all(whole(cache, m) for m in MODS)
        # Both go on serving every version, evicted ones fetched again.
        for i, mod in enumerate(MODS):
            download((b, a)[i % 2].url, tmp_path / f"g{i}", mod)
    index = UsageIndex(DiskStore(cache))
    try:
        assert index.reconcile()  # nothing left half done; exact against the disk
        assert index.total() == disk_total(cache)
        for v in index.versions():
            assert whole(cache, v.module) and stored(cache, v.module)
    finally:
        index.close()
