"""The quota on an object store with two real servers on one bucket (``weed mini`` on
loopback) and the real go command: uses served by replica A count when replica B evicts (the
least recently used version goes, by the uses both saw), the evicted version is gone from the
bucket whole, A forgets what it kept in memory, the go command fetches the version again
through either replica with the same checksum, and ``goproxy cache ls|du|stats|rm|gc --store``
read and act on the same bucket."""

from __future__ import annotations

import io
import json
import random
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from goproxy_core.module.escape import escape_path, escape_version
from goproxy_stores.objectstore import ObjectStore, open_object_store
from goproxy_stores.usage import FLUSH_INTERVAL
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini
from serving import go_env, goproxy, run_go, serving

T = "2024-01-02T03:04:05Z"
ZIP = 60 * 1024
MODS = [f"example.com/q/x{i}" for i in range(1, 6)]
V = "v1.0.0"


def unit(module: str) -> str:
    return f"{escape_path(module)}/@v/{escape_version(V)}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    t = tmp_path / "upstream"
    rnd = random.Random(14)
    for module in MODS:
        d = t / escape_path(module) / "@v"
        d.mkdir(parents=True)
        (d / "list").write_text(V + "\n")
        (d / f"{V}.info").write_text(json.dumps({"Version": V, "Time": T}))
        (d / f"{V}.mod").write_text(f"module {module}\n")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr(f"{module}@{V}/go.mod", f"module {module}\n")
            z.writestr(f"{module}@{V}/blob.dat", rnd.randbytes(ZIP))
        (d / f"{V}.zip").write_bytes(buf.getvalue())
    return t


def download(home: Path, url: str, *modules: str) -> dict[str, str]:
    """``go mod download -json`` of the modules at V: their checksums."""
    code, out, err = run_go(
        ["mod", "download", "-json", *(f"{m}@{V}" for m in modules)], go_env(home, url)
    )
    assert code == 0, err
    text = "[" + out.replace("}\n{", "},{") + "]"
    return {d["Path"]: d["Sum"] for d in json.loads(text)}


def get(url: str, module: str, ext: str) -> bytes:
    with urllib.request.urlopen(f"{url}/{unit(module)}.{ext}", timeout=60) as r:
        body: bytes = r.read()
        return body


def stored(store: ObjectStore, module: str) -> int:
    """How many of the version's three files are in the bucket."""
    return sum(store.stat(f"{unit(module)}.{ext}") is not None for ext in ("info", "mod", "zip"))


def total(store: ObjectStore) -> int:
    return sum(size for _, size, _ in store.list_objects())


def test_two_replicas_keep_one_quota(tree, weed, tmp_path, monkeypatch):  # noqa: F811
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    url = f"s3://{weed.bucket}/quota-{tmp_path.name}"
    bucket = open_object_store(url, endpoint=weed.endpoint)
    x1, x2, x3, x4, x5 = MODS

    # Fill through A with a quota far above what is stored, to learn a version's size.
    upstream = ("--upstream", tree.as_uri(), "--sumdb", "off", "--store", url)
    big = {**weed.env(), "GOPROXY_CORE_MAX_CACHE_SIZE": "1G", "GOPROXY_CORE_PREFETCH": "false"}
    with serving(*upstream, "--cache-dir", str(tmp_path / "warm"), env=big) as served:
        assert any("min-free-space does not apply" in line for line in served.lines)
        sums = download(tmp_path / "h0", served.url, x1, x2, x3, x4)
    four = total(bucket)
    assert all(stored(bucket, m) == 3 for m in (x1, x2, x3, x4))

    # Two replicas with a quota a fifth version goes over: 4.8 versions (low water: 4.32).
    env = {
        **weed.env(),
        "GOPROXY_CORE_MAX_CACHE_SIZE": str(int(four * 1.2)),
        "GOPROXY_CORE_GC_INTERVAL": "3600",  # a gc only when a write goes over
        "GOPROXY_CORE_PREFETCH": "false",
    }
    with (
        serving(*upstream, "--cache-dir", str(tmp_path / "a"), env=env) as a,
        serving(*upstream, "--cache-dir", str(tmp_path / "b"), env=env) as b,
    ):
        line = next(x for x in a.lines if x.startswith("quota:"))
        assert "on the object store, one quota for every replica" in line
        time.sleep(FLUSH_INTERVAL + 0.5)  # both have listed the bucket
        # x4 used first (through A, which keeps its info in memory: a small file answered
        # from the store), then x1 and x2 through A only, x3 through B.
        get(a.url, x4, "info")
        time.sleep(0.1)
        for m in (x1, x2):
            get(a.url, m, "zip")
        get(b.url, x3, "zip")
        time.sleep(FLUSH_INTERVAL + 1)  # each replica's batch is in the bucket
        # B stores x5: over the quota, B evicts one version: x4, the least recently used
        # by what both saw (B alone saw x1 and x2 only as stored, before x4).
        download(tmp_path / "h1", b.url, x5)
        deadline = time.monotonic() + 30
        while stored(bucket, x4) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored(bucket, x4) == 0, ([stored(bucket, m) for m in MODS], b.stop())
        assert [stored(bucket, m) for m in (x1, x2, x3, x5)] == [3, 3, 3, 3]
        assert total(bucket) <= four * 1.2
        time.sleep(2)  # A's watch (every second) has seen the evicted mark
        # A forgot x4's info: asked again, it fetches and stores it anew.
        get(a.url, x4, "info")
        assert bucket.stat(f"{unit(x4)}.info") is not None
        # The go command gets x4 again through either replica, with the same checksum.
        assert download(tmp_path / "h2", b.url, x4) == {x4: sums[x4]}
        assert download(tmp_path / "h3", a.url, x4) == {x4: sums[x4]}
        assert stored(bucket, x4) == 3

    # The cache commands on the bucket (an index of their own, made by listing it).
    d = ["--store", url, "--cache-dir", str(tmp_path / "admin"), "--quiet"]
    env = weed.env()
    r = goproxy("cache", "ls", "--json", *d, env=env)
    assert r.returncode == 0, r.stderr
    rows = {x["module"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert sorted(rows) == sorted(MODS)
    assert rows[x1]["uses"] >= 1 and rows[x3]["uses"] >= 1  # uses folded from the batches
    r = goproxy("cache", "du", "--json", *d, env=env)
    assert r.returncode == 0, r.stderr
    du = json.loads(r.stdout)
    assert du["bytes"] == total(bucket) and du["cache_dir"] == url
    assert du["free_space"] is None and du["min_free_space"] == 0
    r = goproxy("cache", "du", *d, env=env)
    assert "only max-cache-size applies" in r.stdout
    r = goproxy("cache", "stats", "--json", *d, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["versions"] == 5
    r = goproxy("cache", "rm", f"{x2}@{V}", *d, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"removed {x2}@{V} (")
    assert stored(bucket, x2) == 0
    r = goproxy("cache", "gc", "--max-cache-size", str(int(four * 0.6)), *d, env=env)
    assert r.returncode == 0, r.stderr
    assert total(bucket) <= four * 0.6
    left = [m for m in MODS if stored(bucket, m)]
    assert all(stored(bucket, m) == 3 for m in left) and len(left) == 2
