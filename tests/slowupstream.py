"""A slow fixture upstream that counts requests per path, and clients that ask many things at
once: what the tests of single-flight across processes share (``--workers N`` on one disk
cache, replicas on one bucket).

``slow_upstream(files, delay)`` serves ``files`` (path: body) after ``delay`` seconds each,
counting requests in ``handler.hits``; a ``stall`` path sends half its body the first time
and then waits for ``handler.go_on``; a ``trickle`` path sends its body the first time in
``trickle_chunk`` pieces, ``trickle_pause`` seconds apart (a large zip on a slow link: the
fetch makes progress all along). ``many(ports, paths)`` asks for every path at once, each on a
fresh connection, spread round-robin over ``ports``.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import random
import threading
import time
from collections.abc import Iterator, Sequence

from support import make_zip

__all__ = ["get", "info", "many", "module_zip", "slow_upstream"]


def module_zip(module: str, version: str, gomod: bytes, size: int, *, noise: bool = False) -> bytes:
    """A module zip with a file of ``size`` bytes: a repeated pattern (a small zip), or with
    ``noise`` bytes that do not compress (a zip of about ``size`` bytes)."""
    blob = random.Random(size).randbytes(size) if noise else bytes(range(256)) * (size // 256)
    return make_zip(module, version, {"go.mod": gomod, "a.go": b"package w\n", "blob.bin": blob})


def info(version: str) -> bytes:
    return f'{{"Version":"{version}","Time":"2024-01-01T00:00:00Z"}}'.encode()


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int]
    files: dict[str, bytes]
    delay: float
    stall: str
    trickle: str
    trickle_chunk: int
    trickle_pause: float
    go_on: threading.Event
    lock: threading.Lock

    def do_GET(self):
        with self.lock:
            n = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        time.sleep(self.delay)
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == self.stall and n == 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.go_on.wait(60)
            return
        if self.path == self.trickle and n == 1:
            for i in range(0, len(body), self.trickle_chunk):
                self.wfile.write(body[i : i + self.trickle_chunk])
                self.wfile.flush()
                if self.go_on.wait(self.trickle_pause):
                    return
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def slow_upstream(
    files: dict[str, bytes],
    delay: float,
    *,
    stall: str = "",
    trickle: str = "",
    trickle_chunk: int = 64 << 10,
    trickle_pause: float = 0.1,
) -> Iterator[tuple[str, type[_Upstream]]]:
    """Serve ``files`` on loopback: yields (its URL, the handler class with ``hits`` and
    ``go_on``); at the end ``go_on`` is set (a stalled or trickling answer ends) and it stops."""
    handler = type(
        "H",
        (_Upstream,),
        {
            "hits": {},
            "files": files,
            "delay": delay,
            "stall": stall,
            "trickle": trickle,
            "trickle_chunk": trickle_chunk,
            "trickle_pause": trickle_pause,
            "go_on": threading.Event(),
            "lock": threading.Lock(),
        },
    )
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    finally:
        handler.go_on.set()
        srv.shutdown()
        srv.server_close()


def get(port: int, path: str, timeout: float = 60) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def many(
    ports: int | Sequence[int], paths: list[str]
) -> list[tuple[str, int, bytes] | tuple[str, str]]:
    """GET every path at once, each on a fresh connection, the i-th to ``ports[i % n]``:
    (path, status, body) or (path, error) for each."""
    spread = [ports] if isinstance(ports, int) else list(ports)
    out: list[tuple[str, int, bytes] | tuple[str, str]] = []
    lock = threading.Lock()

    def one(port: int, path: str) -> None:
        try:
            status, body = get(port, path)
            got: tuple[str, int, bytes] | tuple[str, str] = (path, status, body)
        except (OSError, http.client.HTTPException) as e:
            got = (path, f"{type(e).__name__}: {e}")
        with lock:
            out.append(got)

    threads = [
        threading.Thread(target=one, args=(spread[i % len(spread)], p)) for i, p in enumerate(paths)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return out
