"""bench/run.py's fixture builder makes a GOPROXY tree that ``goproxy serve`` answers from.

No timing, no apt, no wrk: the benchmark itself is ``python bench/run.py``, not part of pytest.
"""

from __future__ import annotations

import io
import urllib.request
import zipfile

import pytest

from support import bench_module


@pytest.fixture(scope="module")
def bench():
    with bench_module("run") as module:
        yield module


def test_fixture_tree_is_served(bench, tmp_path):
    fx = bench.build_fixture(tmp_path, modules=3, big_zip_mib=1)
    mod = fx.modules[1]
    assert (fx.tree / mod / "@v" / "list").read_text() == "v1.0.0\nv1.1.0\n"
    assert (fx.root_module / "go.mod").read_text().count(" v1.1.0\n") == 3
    local = (fx.tree / mod / "@v" / "v1.1.0.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(local)) as zf:
        assert all(n.startswith(f"{mod}@v1.1.0/") for n in zf.namelist())
        assert zf.read(f"{mod}@v1.1.0/go.mod") == (fx.tree / mod / "@v" / "v1.1.0.mod").read_bytes()

    with bench.Processes() as procs:
        server = bench.start_goproxy(procs, tmp_path, cache=fx.tree, frontend="sockets")
        url = f"{server.url}/{mod}/@v/v1.1.0.zip"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            assert resp.read() == local
        procs.stop(server.proc)
        assert server.proc.returncode == 0
