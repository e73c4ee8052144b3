"""Upstream faults, with a real scripted upstream server: nothing bad is ever stored, and once
the upstream heals the right bytes come back. With the upstream down, stored versions are still
served and lists go stale."""

from __future__ import annotations

import contextlib
import errno
import http.client
import io
import logging
import os
import socket
import socketserver
import threading
import time

import pytest

from goproxy_core import FetchUpstream, ProxyConfig
from goproxy_core.testing import MemoryStore
from goproxy_io import Fetcher, FetchSettings
from goproxy_stores import DiskStore

from conftest import in_thread, running
from support import make_zip

MOD = "example.com/fault"
P = f"/{MOD}/@v/"
GOMOD = b"module example.com/fault\n"
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "f.go": b"package fault\n" * 500})


class Scripted(socketserver.ThreadingTCPServer):
    """An HTTP/1.0-ish upstream whose answer per path is set by the test."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.modes: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self.hang = 3.0  # seconds mode "hang" sleeps before answering
        self.bodies: dict[str, bytes] = {}  # answers in place of GOOD's, by path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


GOOD = {P + "list": b"v1.0.0\n", P + "v1.0.0.mod": GOMOD, P + "v1.0.0.zip": ZIP}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        path = line.split()[1] if len(line.split()) > 1 else "/"
        srv: Scripted = self.server  # type: ignore[assignment]
        srv.hits[path] = srv.hits.get(path, 0) + 1
        mode = srv.modes.get(path, "ok")
        body = srv.bodies.get(path, GOOD.get(path, b"ok\n" if path == "/" else None))
        w = self.wfile
        if mode == "hang":
            time.sleep(srv.hang)
            mode = "ok"
        if mode == "503":
            w.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\nbusy\n")
        elif body is None or mode == "404":
            w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
        elif mode == "500":
            w.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops")
        elif mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self.connection.close()
        elif mode == "truncated":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            w.write(body[: len(body) // 2])
        elif mode == "corrupt":
            bad = body[:100] + bytes(len(body) - 100)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(bad) + bad)
        elif mode == "slow":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            w.write(body[:10])
            w.flush()
            time.sleep(3)
        else:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        with_flush = getattr(w, "flush", None)
        if with_flush:
            with contextlib.suppress(OSError):
                with_flush()


@pytest.fixture
def upstream():
    with in_thread(Scripted()) as srv:
        yield srv


def _get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    except (http.client.IncompleteRead, ConnectionError) as e:
        return 0, repr(e).encode()
    finally:
        c.close()


FAST = FetchSettings(read_timeout=1.0, connect_timeout=1.0, retries=0, netrc=False)


@pytest.mark.parametrize("fault", ["500", "reset", "truncated", "corrupt", "slow"])
def test_fault_stores_nothing_then_heals(frontend, upstream, tmp_path, fault):
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0, failure_ttl=0)  # heals at once
    with running(frontend, store, config, FAST) as port:
        assert _get(port, P + "v1.0.0.mod")[0] == 200
        upstream.modes[P + "v1.0.0.zip"] = fault
        status, _ = _get(port, P + "v1.0.0.zip")
        assert status in (0, 502, 504)
        assert store.stat(f"{MOD}/@v/v1.0.0.zip") is None
        assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
        upstream.modes[P + "v1.0.0.zip"] = "ok"
        assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
        assert (tmp_path / "cache" / MOD / "@v" / "v1.0.0.zip").read_bytes() == ZIP


def test_upstream_down_serves_stored_versions_and_stale_lists(frontend, upstream, tmp_path):
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, list_ttl=0.5)
    with running(frontend, store, config, FAST) as port:
        assert _get(port, P + "list") == (200, b"v1.0.0\n")
        assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
        upstream.shutdown()
        upstream.server_close()
        time.sleep(0.6)
        assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", P + "list")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"v1.0.0\n")
        assert r.getheader("Warning") == '110 - "Response is Stale"'
        c.close()


ZIP11 = make_zip(MOD, "v1.1.0", {"go.mod": GOMOD, "f.go": b"package fault\n" * 500})
GOOD[P + "v1.1.0.mod"] = GOMOD
GOOD[P + "v1.1.0.zip"] = ZIP11


class _FailingFile(io.RawIOBase):
    """A file on a failing disk: every write fails with ``errno`` (buffered: at flush)."""

    def __init__(self, err: int) -> None:
        self.err = err

    def writable(self) -> bool:
        return True

    def write(self, b):  # type: ignore[override]
        raise OSError(self.err, os.strerror(self.err))


class FailingDiskStore(DiskStore):
    """A disk store whose new writes fail with ``fail`` (an errno) once it is set.

    The temporary file is created (as on a real full disk: the inode fits, the data does
    not), so a writer left unaborted would show as a leftover.
    """

    fail = 0

    def writer(self, key):
        w = super().writer(key)
        if self.fail:
            w._f.close()
            w._f = io.BufferedWriter(_FailingFile(self.fail))
        return w


def _get_full(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), r.getheader("Cache-Status") or ""
    finally:
        c.close()


@pytest.mark.parametrize(("err", "status"), [(errno.ENOSPC, 507), (errno.EIO, 503)])
def test_failing_disk_is_named_leaves_nothing_and_keeps_serving(
    frontend, upstream, tmp_path, err, status
):
    root = tmp_path / "cache"
    store = FailingDiskStore(root)
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0)
    with running(frontend, store, config, FAST) as port:
        assert _get(port, P + "v1.0.0.mod") == (200, GOMOD)
        assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
        store.fail = err
        # A zip that cannot be stored: the cache's failure, named as such, not the upstream's.
        got, text, _ = _get_full(port, P + "v1.1.0.zip")
        cause = os.strerror(err).lower()
        assert (got, text.decode()) == (status, f"cache {store.root}: {cause}\n")
        # A small file is still served (serving beats failing), marked as not stored.
        got, text, cache_status = _get_full(port, P + "v1.1.0.mod")
        assert (got, text) == (200, GOMOD)
        assert "stored" not in cache_status.replace("cache write failed", "")
        assert 'detail="cache write failed"' in cache_status
        # Cached content is served as before.
        assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
        assert _get(port, P + "v1.0.0.mod") == (200, GOMOD)
        assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
        assert store.stat(f"{MOD}/@v/v1.1.0.zip") is None
        # Room again: the next request stores it.
        store.fail = 0
        assert _get(port, P + "v1.1.0.zip") == (200, ZIP11)
        assert (root / MOD / "@v" / "v1.1.0.zip").read_bytes() == ZIP11


def test_a_link_planted_in_the_cache_dir_is_not_served(frontend, tmp_path):
    root = tmp_path / "cache"
    (root / "example.com" / "m" / "@v").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_bytes(b"root:x:0:0:secret\n")
    (root / "example.com" / "m" / "@v" / "v1.0.0.mod").symlink_to(secret)
    (root / "example.com" / "m" / "@v" / "list").symlink_to(secret)
    config = ProxyConfig(upstream="off", negative_ttl=0)
    with running(frontend, DiskStore(root), config, FAST) as port:
        for path in ("/example.com/m/@v/v1.0.0.mod", "/example.com/m/@v/list"):
            status, body = _get(port, path)
            assert status == 404
            assert b"secret" not in body


def test_a_name_too_long_for_the_cache_is_a_clear_4xx(frontend, upstream, tmp_path, caplog):
    long = "a" * 300
    GOOD[f"/example.com/{long}/@v/v1.0.0.zip"] = ZIP
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0)
    with running(frontend, store, config, FAST) as port:
        status, body = _get(port, f"/example.com/{long}/@v/v1.0.0.zip")
    assert (status, body.decode()) == (
        414,
        f"cache {store.root}: path element too long for the cache\n",
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# --- bounded fetches and the circuit breaker ------------------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _fetch(fetcher, url, upstream="", max_size=1 << 20):
    return fetcher.fetch(FetchUpstream(url, max_size, upstream=upstream), MemoryStore())[0]


def _fetcher(**kw):
    base = {"read_timeout": 1.0, "connect_timeout": 1.0, "backoff": 0.01, "netrc": False}
    return Fetcher(FetchSettings(**(base | kw)))


def test_read_timeout_is_not_retried(upstream):
    upstream.modes[P + "list"] = "hang"
    f = _fetcher(retries=2, breaker_failures=0)
    t0 = time.monotonic()
    res = _fetch(f, upstream.url + P + "list")
    assert res.status == 0 and res.timeout
    assert time.monotonic() - t0 < 2.5
    assert upstream.hits[P + "list"] == 1
    f.close()


def test_503_is_retried_up_to_retries(upstream):
    upstream.modes[P + "list"] = "503"
    f = _fetcher(retries=2, breaker_failures=0)
    assert _fetch(f, upstream.url + P + "list").status == 503
    assert upstream.hits[P + "list"] == 3
    f.close()


def test_reset_before_head_is_retried(upstream):
    upstream.modes[P + "list"] = "reset"
    f = _fetcher(retries=2, breaker_failures=0)
    assert _fetch(f, upstream.url + P + "list").status == 0
    assert upstream.hits[P + "list"] == 3
    f.close()


def test_deadline_stops_retries(upstream):
    upstream.modes[P + "list"] = "503"
    f = _fetcher(retries=50, backoff=0.2, fetch_deadline=0.5, breaker_failures=0)
    t0 = time.monotonic()
    assert _fetch(f, upstream.url + P + "list").status == 503
    assert time.monotonic() - t0 < 1.5
    assert 1 < upstream.hits[P + "list"] < 6
    f.close()


def test_refused_is_retried_and_opens_the_breaker(caplog):
    url = f"http://127.0.0.1:{_closed_port()}"
    f = _fetcher(retries=1, breaker_failures=2, breaker_cooldown=60)
    caplog.set_level(logging.INFO, logger="goproxy.upstream")
    assert _fetch(f, url + P + "list", url).status == 0  # two attempts: two failures
    t0 = time.monotonic()
    res = _fetch(f, url + P + "list", url)
    assert time.monotonic() - t0 < 0.1
    assert res.status == 0 and res.timeout
    assert f"upstream {url} skipped: circuit breaker open" in res.error
    opened = [r for r in caplog.records if "circuit breaker open" in r.getMessage()]
    assert len(opened) == 1 and opened[0].levelno == logging.WARNING
    f.close()


def test_bad_data_and_404_do_not_count(upstream):
    # retries=1: the scripted upstream closes each connection, so a pooled one may be stale
    # (closed before a head: retried).
    f = _fetcher(retries=1, breaker_failures=1, breaker_cooldown=60)
    for _ in range(3):
        assert _fetch(f, upstream.url + P + "nope", upstream.url).status == 404
    tiny = _fetch(f, upstream.url + P + "list", upstream.url, max_size=2)
    assert tiny.error == "response too large"
    assert _fetch(f, upstream.url + P + "list", upstream.url).status == 200
    f.close()


@pytest.fixture
def good_upstream():
    with in_thread(Scripted()) as srv:
        yield srv


def test_hung_upstream_breaker_end_to_end(frontend, upstream, good_upstream, tmp_path, caplog):
    """A hung upstream answers within read-timeout + 5 s; after K hangs the breaker opens, the
    next miss fails at once naming it, `|` serves from the next upstream, /readyz names it, and
    after the cool-down a healed upstream closes it."""
    caplog.set_level(logging.INFO, logger="goproxy.upstream")
    fs = FetchSettings(
        read_timeout=1.0,
        connect_timeout=1.0,
        retries=2,
        backoff=0.01,
        breaker_failures=2,
        breaker_cooldown=2.0,
        netrc=False,
    )
    for path in (P + "list", P + "v1.0.0.mod", "/"):
        upstream.modes[path] = "hang"
    upstream.hang = 30.0
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0, failure_ttl=0)
    with running(frontend, store, config, fs) as port:
        for path in (P + "list", P + "v1.0.0.mod"):
            t0 = time.monotonic()
            status, body = _get(port, path)
            assert status == 504, body
            assert time.monotonic() - t0 < 1.0 + 5
        t0 = time.monotonic()
        status, body = _get(port, P + "v1.0.0.zip")
        assert time.monotonic() - t0 < 0.5
        assert status == 504
        assert f"upstream {upstream.url} skipped: circuit breaker open".encode() in body
        assert upstream.hits.get(P + "v1.0.0.zip", 0) == 0
        status, body = _get(port, "/readyz")
        assert status == 503 and upstream.url.encode() in body and b"circuit breaker" in body
        upstream.modes.clear()
        time.sleep(2.1)
        assert _get(port, P + "list") == (200, b"v1.0.0\n")
        assert _get(port, "/readyz")[0] == 200
    messages = [r.getMessage() for r in caplog.records if r.name == "goproxy.upstream"]
    assert sum("breaker open" in m for m in messages) == 1
    assert sum("breaker closed" in m for m in messages) == 1
    store2 = DiskStore(tmp_path / "cache2")
    fs2 = FetchSettings(
        read_timeout=1.0, connect_timeout=1.0, retries=0, breaker_failures=1, netrc=False
    )
    upstream.modes[P + "list"] = "hang"
    config2 = ProxyConfig(
        upstream=f"{upstream.url}|{good_upstream.url}", negative_ttl=0, failure_ttl=0
    )
    with running(frontend, store2, config2, fs2) as port:
        assert _get(port, P + "list") == (200, b"v1.0.0\n")  # one hang, then the next
        t0 = time.monotonic()
        assert _get(port, P + "list") == (200, b"v1.0.0\n")  # skipped at once
        assert time.monotonic() - t0 < 0.5


# --- failures shared for failure-ttl ----------------------------------------------------------


def _burst(port, path, n):
    """``n`` real clients asking ``path`` at once: their (status, body, Cache-Status)."""
    barrier = threading.Barrier(n)
    out: list[tuple[int, bytes, str]] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        got = _get_full(port, path)
        with lock:
            out.append(got)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_a_corrupt_zip_costs_one_fetch_for_many_clients_then_heals(frontend, upstream, tmp_path):
    """30 clients on one corrupt zip: at most 3 upstream requests, each client gets the 502
    naming the bad data; a client after them gets it remembered; after failure-ttl the healed
    upstream serves."""
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0, failure_ttl=1.5)
    path = P + "v1.0.0.zip"
    upstream.modes[path] = "corrupt"
    with running(frontend, store, config, FAST) as port:
        answers = _burst(port, path, 30)
        assert upstream.hits[path] <= 3
        texts = {body for _, body, _ in answers}
        assert {status for status, _, _ in answers} == {502}
        assert len(texts) == 1
        text = texts.pop().decode()
        assert text.startswith(f"upstream {upstream.url} sent bad data for {MOD}: ")
        hits = upstream.hits[path]
        status, body, cache_status = _get_full(port, path)
        assert (status, body.decode()) == (502, text)
        assert cache_status == 'goproxy; hit; detail="failure remembered"'
        assert upstream.hits[path] == hits
        assert store.stat(f"{MOD}/@v/v1.0.0.zip") is None
        upstream.modes[path] = "ok"
        time.sleep(1.6)
        assert _get(port, path) == (200, ZIP)
        assert upstream.hits[path] == hits + 1


def test_files_under_upstream_500_cost_one_request_each(frontend, upstream, tmp_path):
    store = DiskStore(tmp_path / "cache")
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0, failure_ttl=30)
    paths = [P + f"v1.{i}.0-fail.info" for i in range(20)]
    for p in paths:
        GOOD[p] = b"{}"
        upstream.modes[p] = "500"
    with running(frontend, store, config, FAST) as port:
        for p in paths:
            answers = _burst(port, p, 3)
            answers.append(_get_full(port, p))
            want = f"upstream {upstream.url} answered 500 for {MOD}: oops\n".encode()
            assert {(s, b) for s, b, _ in answers} == {(502, want)}
    assert sum(upstream.hits[p] for p in paths) == 20


# --- a full cache disk ------------------------------------------------------------------------


class _NoRoomStore(FailingDiskStore):
    """Stands in for a full disk where tmpfs cannot be mounted: ENOSPC writes, 0 bytes free."""

    def free_space(self):
        free, where = super().free_space()
        return (0 if self.fail else free), where


@contextlib.contextmanager
def _small_disk(tmp_path):
    """A real 8 MiB tmpfs for the cache (mounting needs root), else None."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    import subprocess

    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        )
    except OSError:
        done = None
    if done is None or done.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(root):
    """Write a filler file until the disk is full; returns it."""
    filler = root / "filler"
    with pytest.raises(OSError, match="No space left") as caught, open(filler, "wb") as f:  # noqa: PT012
        while True:
            f.write(b"\0" * (256 << 10))
            f.flush()
    assert caught.value.errno == errno.ENOSPC
    return filler


def test_full_disk_fails_readyz_keeps_serving_and_recovers(frontend, upstream, tmp_path, capsys):
    config = ProxyConfig(upstream=upstream.url, negative_ttl=0, min_free_space=1 << 20)
    with _small_disk(tmp_path) as mnt:
        if mnt is not None:
            root = mnt / "cache"
            store = DiskStore(root)
        else:
            root = tmp_path / "cache"
            store = _NoRoomStore(root)
        with capsys.disabled():
            print(f"\n[full disk test: {'real tmpfs' if mnt else 'ENOSPC store stand-in'}]")
        with running(frontend, store, config, FAST) as port:
            assert _get(port, "/readyz")[0] == 200
            assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
            if mnt is not None:
                filler = _fill(mnt)
            else:
                store.fail = errno.ENOSPC
            status, body = _get(port, "/readyz")
            assert status == 503, body
            text = body.decode()
            assert text.startswith(f"not ready: cache {store.root} has ")
            assert text.endswith(" free, below min-free-space 1 MiB\n")
            # Cached content is still served.
            assert _get(port, P + "v1.0.0.zip") == (200, ZIP)
            # A new zip cannot be kept: the cache's failure, named, and nothing left behind.
            status, body = _get(port, P + "v1.1.0.zip")
            assert (status, body.decode()) == (
                507,
                f"cache {store.root}: no space left on device\n",
            )
            assert store.stat(f"{MOD}/@v/v1.1.0.zip") is None
            assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
            if mnt is not None:
                filler.unlink()
            else:
                store.fail = 0
            assert _get(port, "/readyz")[0] == 200
            assert _get(port, P + "v1.1.0.zip") == (200, ZIP11)
