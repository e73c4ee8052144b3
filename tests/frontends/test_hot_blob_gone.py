"""A repeated zip answer (the hot table) whose stored file was removed since, by an eviction or
a quarantine in another process: the server opens the file before the response head goes out,
so the client is answered again through the engine, byte-identical, never cut short."""

from __future__ import annotations

import http.client
import os

import pytest

from goproxy_core import ProxyConfig
from goproxy_stores import DiskStore

from conftest import FRONTENDS, running
from support import make_zip

MOD = "example.com/m"
KEY = f"{MOD}/@v/v1.0.0.zip"


def _get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_hot_zip_removed_behind_the_servers_back_is_answered_again(frontend, tmp_path):
    zipped = make_zip(
        MOD, "v1.0.0", {"go.mod": f"module {MOD}\n".encode(), "a.bin": os.urandom(300_000)}
    )
    upstream = tmp_path / "upstream" / MOD / "@v"
    upstream.mkdir(parents=True)
    (upstream / "v1.0.0.zip").write_bytes(zipped)
    cache = tmp_path / "cache"
    config = ProxyConfig(upstream=(tmp_path / "upstream").as_uri(), min_free_space=0)
    with running(frontend, DiskStore(cache), config) as port:
        assert _get(port, f"/{KEY}") == (200, zipped)  # a miss: fetched and stored
        assert _get(port, f"/{KEY}") == (200, zipped)  # a store hit: now a hot answer
        (cache / KEY).unlink()  # evicted by another process
        assert _get(port, f"/{KEY}") == (200, zipped)  # answered again, not cut short
        assert (cache / KEY).read_bytes() == zipped  # fetched and stored again
        assert _get(port, f"/{KEY}") == (200, zipped)
