"""The real go command through a proxy whose cache is an object store: ``--store s3://...`` on a
real S3-compatible server (``weed mini`` on loopback), with the checksum database on.

The proxy verifies against the database before storing, the go command verifies again, and a
second proxy on the same bucket (a fresh process, nothing in memory) serves the stored files
with the upstream gone.
"""

from __future__ import annotations

import obstore
import pytest

from goproxy_stores.objectstore import open_object_store
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini
from serving import download_sums, go_env, goproxy, run_go, serving
from sumdbfix import app_and_lib

NAME = "sumdb.test"


@pytest.fixture
def world(tmp_path):
    tree = tmp_path / "upstream"
    db, zips = app_and_lib(tree, NAME)
    return tree, db, zips


def test_go_mod_download_with_the_cache_in_a_bucket(world, weed, tmp_path, monkeypatch):  # noqa: F811
    tree, db, zips = world
    url = f"s3://{weed.bucket}/e2e-{tmp_path.name}"
    args = ("--store", url, "--sumdb", db.vkey, "--cache-dir", str(tmp_path / "local"))
    env = weed.env()
    with serving("--upstream", tree.as_uri(), *args, env=env) as served:
        assert any(f"cache {url}" in line for line in served.lines), served.lines
        code, out, err = run_go(
            ["mod", "download", "-json", "example.com/app@v1.0.0", "example.com/lib@v1.0.0"],
            go_env(tmp_path / "home1", served.url, sumdb=db.vkey),
        )
        assert code == 0, err
        sums = download_sums(out)
        assert sums["example.com/lib"] == db.records[0].decode().split()[2]

    # What the proxy kept is in the bucket, byte for byte, and nothing on the local disk.
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    store = open_object_store(url, endpoint=weed.endpoint)
    with store.open("example.com/lib/@v/v1.0.0.zip") as f:
        assert f.read() == zips["example.com/lib"]
    assert not list((tmp_path / "local").rglob("*.zip"))

    # A new proxy on the same bucket with the upstream off: served from the object store.
    with serving("--upstream", "off", *args, env=env) as served:
        work = tmp_path / "w"
        work.mkdir()
        home = tmp_path / "home2"
        gov = go_env(home, served.url, sumdb=db.vkey)
        assert run_go(["mod", "init", "example.com/scratch"], gov, work)[0] == 0
        code, _, err = run_go(["get", "example.com/app@v1.0.0"], gov, work)
        assert code == 0, err
        code, out, err = run_go(["mod", "verify"], gov, work)
        assert code == 0, err
        assert "all modules verified" in out
    assert obstore.head(store.inner, "example.com/app/@v/v1.0.0.mod")["size"] > 0

    # goproxy verify checks what the bucket holds.
    out = goproxy("verify", *args, env=env)
    assert out.returncode == 0, out.stderr
    assert "2 versions" in out.stdout + out.stderr, out.stdout + out.stderr
