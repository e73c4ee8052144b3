"""A tiny Go module proxy: the core, blocking sockets and a file:// upstream.

Usage: python docs/examples/tiny_server.py [MODULE_TREE] [PORT]
MODULE_TREE defaults to the go command's download cache ($GOMODCACHE/cache/download), itself a
GOPROXY tree: everything this machine has downloaded, served to others, offline.
"""

import os
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote

from goproxy_core import NEED_DATA, CloseConnection, ProxyConfig, ProxyConnection, UpstreamResult
from goproxy_core.testing import MemoryStore, carry_out

GOPATH = os.environ.get("GOPATH", os.path.expanduser("~/go")).split(os.pathsep)[0]
CACHE = os.environ.get("GOMODCACHE", os.path.join(GOPATH, "pkg", "mod"))
TREE = Path(sys.argv[1] if len(sys.argv) > 1 else os.path.join(CACHE, "cache", "download"))
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
CONFIG = ProxyConfig(upstream=TREE.resolve().as_uri())
STORE, LOCK = MemoryStore(256 << 20), threading.Lock()  # the cache, shared by all threads


def fetch(effect):  # the upstream: files of the tree
    try:
        return UpstreamResult(200, Path(unquote(effect.url.removeprefix("file://"))).read_bytes())
    except OSError:
        return UpstreamResult(404, b"not found")


def serve(sock):
    conn, pending, out = ProxyConnection(CONFIG), {}, bytearray()
    with sock:
        while True:
            effect = conn.next_effect(time.time(), time.monotonic())
            if isinstance(effect, CloseConnection):
                break
            if effect is NEED_DATA:
                sock.sendall(out)
                out.clear()
                conn.receive_data(sock.recv(65536))
            else:
                with LOCK:
                    STORE.now = time.time()
                    carry_out(conn, effect, STORE, fetch, pending, out)
        sock.sendall(out)


if __name__ == "__main__":
    with socket.create_server(("127.0.0.1", PORT)) as server:
        print(f"serving {TREE}\nGOPROXY=http://127.0.0.1:{server.getsockname()[1]}", flush=True)
        while True:
            threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
