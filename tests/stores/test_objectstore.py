"""The object store (goproxy_stores.objectstore) passes the store conformance checks on a real
S3-compatible server (``weed mini`` on loopback), on obstore's local and memory stores, and
streams: large blobs go up as multipart uploads and come back through ranged reads."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from goproxy_core.testing import check_blob_store
from goproxy_stores.objectstore import ObjectStore, StoreURLError, open_object_store
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini


@pytest.fixture
def s3_env(monkeypatch):
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(params=["s3", "file", "memory"])
def store(request, tmp_path):
    if request.param == "memory":
        return open_object_store("memory://")
    if request.param == "file":
        return open_object_store((tmp_path / "bucket").as_uri())
    request.getfixturevalue("s3_env")
    server = request.getfixturevalue("weed")
    # A prefix of its own per test: the bucket is shared by the session.
    prefix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    return open_object_store(f"s3://{server.bucket}/{prefix}", endpoint=server.endpoint)


def test_conformance(store):
    check_blob_store(store)


def test_large_blob_streams_both_ways(store):
    """A blob of several parts goes up from the spool file part by part and comes back whole,
    with seeks answered by ranged reads."""
    store.part_size = 5 << 20  # S3's smallest part: three parts and a bit
    data = os.urandom(16 << 20)
    key = "example.com/big/@v/v1.0.0.zip"
    w = store.writer(key)
    for i in range(0, len(data), 1 << 20):
        w.write(data[i : i + (1 << 20)])
    r = w.reader()
    r.seek(len(data) - 10)
    assert r.read() == data[-10:]
    assert store.open(key) is None  # pending: not a key
    assert list(store.list_keys("example.com/")) == []
    assert w.commit().size == len(data)
    assert store.stat(key).size == len(data)
    with store.open(key) as f:
        f.seek(7 << 20)
        assert f.read(1000) == data[7 << 20 : (7 << 20) + 1000]
        assert f.seek(-5, os.SEEK_END) == len(data) - 5
        assert f.read() == data[-5:]
        f.seek(0)
        got = b"".join(iter(lambda: f.read(1 << 20), b""))
    assert got == data


def test_file_url_paths_are_unquoted(tmp_path):
    s = open_object_store((tmp_path / "a b").as_uri())
    w = s.writer("example.com/m/@v/list")
    w.write(b"v1.0.0\n")
    w.commit()
    assert (tmp_path / "a b" / "example.com/m/@v/list").read_bytes() == b"v1.0.0\n"


def test_empty_blob(store):
    w = store.writer("example.com/e/@v/list")
    w.commit()
    assert store.stat("example.com/e/@v/list").size == 0
    with store.open("example.com/e/@v/list") as f:
        assert f.read() == b""


def test_a_reopened_read_of_a_replaced_blob_fails_rather_than_mixing(store):
    key = "example.com/r/@v/list"
    for text in (b"v1.0.0\n" * 400_000, b"v2.0.0\n" * 400_000):
        w = store.writer(key)
        w.write(text)
        if text.startswith(b"v1"):
            w.commit()
            f = store.open(key)
            assert f.read(7) == b"v1.0.0\n"
        else:
            w.commit()
    f.seek(2_500_000)  # past the buffer: a new ranged read, pinned to the version opened
    with pytest.raises(OSError):
        f.read()
    f.close()


def test_internal_objects_are_not_keys(store):
    import obstore

    obstore.put(store.inner, ".goproxy/leases/x", b"lease")
    w = store.writer("example.com/m/@v/v1.0.0.mod")
    w.write(b"module example.com/m\n")
    w.commit()
    w = store.writer("_goproxy/quarantine/example.com/m/@v/v1.0.0.zip")  # the core's: keys
    w.commit()
    assert sorted(store.list_keys()) == [
        "_goproxy/quarantine/example.com/m/@v/v1.0.0.zip",
        "example.com/m/@v/v1.0.0.mod",
    ]
    store.check()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", ".goproxy/leases/x"])
def test_rejects_unsafe_keys(key):
    with pytest.raises(ValueError, match="invalid store key"):
        open_object_store("memory://").writer(key)


def test_dropped_writer_leaves_no_spool_file(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    s = ObjectStore(open_object_store("memory://").inner, spool_dir=str(spool))
    w = s.writer("example.com/m/@v/v1.0.0.zip")
    w.write(b"x" * 100000)
    assert os.listdir(spool) == []  # unnamed: a killed writer leaves nothing either
    del w
    assert list(s.list_keys()) == []


@pytest.mark.parametrize(
    "url",
    [
        "",
        "s3://",
        "s3:///prefix",
        "s3://bucket:x/p",
        "s3://key@bucket",
        "s3://[bad",
        "gs://bucket",
        "file://relative/path",
        "memory://x",
        "/tmp/x",
    ],
)
def test_bad_urls_are_one_line_naming_the_value(url):
    with pytest.raises(StoreURLError) as e:
        open_object_store(url)
    text = str(e.value)
    assert "\n" not in text
    assert repr(url) in text and "s3://BUCKET" in text


def test_an_unreachable_store_is_an_os_error(s3_env):
    s = open_object_store("s3://nothing/here", endpoint="http://127.0.0.1:9")
    t = time.monotonic()
    with pytest.raises(OSError, match="object store"):
        s.stat("example.com/m/@v/list")
    with pytest.raises(OSError):
        s.check()
    assert time.monotonic() - t < 15  # a few quick retries, not obstore's three minutes


def test_own_objects_are_written_whole_and_conditionally(store):
    """The store's own objects: first writer wins on ``create``, an ``If-Match`` write loses to
    a write in between (enforced by the real server), and none of them is ever a key."""
    assert store.own_get("leases/k") is None
    tag = store.own_put("leases/k", b"first", create=True)
    assert tag is not None
    assert store.own_put("leases/k", b"second", create=True) is None
    got = store.own_get("leases/k")
    assert got is not None and got.data == b"first" and got.etag == tag
    assert abs(got.modified - time.time()) < 60
    if store.conditional_updates:
        newer = store.own_put("leases/k", b"renewed", match=tag)
        assert newer is not None and newer != tag
        assert store.own_put("leases/k", b"stale", match=tag) is None
        assert store.own_get("leases/k").data == b"renewed"
    store.own_put("leases/other", b"x")
    assert sorted(name for name, _, _ in store.own_list("leases/")) == ["leases/k", "leases/other"]
    assert [(n, size) for n, size, _ in store.own_list("leases/o")] == []  # a directory prefix
    assert list(store.list_keys("")) == []
    store.own_delete("leases/k")
    store.own_delete("leases/k")  # gone already: nothing
    assert store.own_get("leases/k") is None
    if store.conditional_updates:
        assert store.own_put("leases/k", b"x", match=tag) is None  # deleted meanwhile


def test_a_writer_killed_mid_upload_leaves_nothing_visible(weed, s3_env, tmp_path):  # noqa: F811
    """``kill -9`` while a multipart upload is under way: the key never appears, whole or in
    part, and the spool file was never a name on disk."""
    import subprocess
    import sys
    import textwrap

    url = f"s3://{weed.bucket}/killed-{tmp_path.name}"
    spool = tmp_path / "spool"
    spool.mkdir()
    code = textwrap.dedent(
        f"""
        import os, sys
        from goproxy_stores.objectstore import open_object_store
        s = open_object_store({url!r}, endpoint={weed.endpoint!r}, spool_dir={str(spool)!r})
        s.part_size = 5 << 20
        w = s.writer("example.com/m/@v/v1.0.0.zip")
        for _ in range(200):
            w.write(os.urandom(1 << 20))
        print("committing", flush=True)
        w.commit()
        print("committed", flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    assert p.stdout.readline() == "committing\n"
    time.sleep(0.3)  # some parts are up
    p.kill()
    p.wait(10)
    rest = p.stdout.read()
    p.stdout.close()
    assert "committed" not in rest  # killed mid-upload, as meant
    s = open_object_store(url, endpoint=weed.endpoint)
    assert s.stat("example.com/m/@v/v1.0.0.zip") is None
    assert list(s.list_keys()) == []
    assert os.listdir(spool) == []
