"""The ingest path: the body is hashed while it is written, and the check reads it once."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile

from goproxy_core import CheckZip
from goproxy_core.testing import MemoryStore
from goproxy_io.upstream import HashingWriter

MOD = "example.com/m"
VER = "v1.0.0"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"{MOD}@{VER}/{name}", data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def test_hashing_writer_digest_is_the_bodys():
    store = MemoryStore()
    w = HashingWriter(store.writer("k"))
    body = bytes(range(256)) * 40_000
    for i in range(0, len(body), 1 << 20):
        w.write(body[i : i + (1 << 20)])
    w.write(b"")
    assert w.digest() == (hashlib.sha256(body).hexdigest(), len(body))
    assert w.digest() == (hashlib.sha256(body).hexdigest(), len(body))
    with w.reader() as r:
        assert r.read() == body
    w.commit()
    assert store.open("k").read() == body


def test_hashing_writer_empty_and_aborted():
    store = MemoryStore()
    w = HashingWriter(store.writer("e"))
    assert w.digest() == (hashlib.sha256(b"").hexdigest(), 0)
    before = threading.active_count()
    w2 = HashingWriter(store.writer("a"))
    w2.write(b"x" * 100)
    w2.abort()
    w2.abort()  # a failed commit is followed by an abort: safe twice
    assert threading.active_count() == before  # the hasher thread has ended
    assert store.open("a") is None


def test_check_with_the_streamed_digest_equals_the_check_reading_it():
    data = _zip({"go.mod": b"module example.com/m\n", "a.go": b"package m\n" * 1000})
    eff = CheckZip("k", MOD, VER)
    read = eff.check(io.BytesIO(data))
    given = eff.check(io.BytesIO(data), (hashlib.sha256(data).hexdigest(), len(data)))
    assert read == given
    assert read.problem == ""
    assert read.h1.startswith("h1:")
    assert read.size == len(data)
    bad = eff.check(io.BytesIO(data[:-30]), (hashlib.sha256(data).hexdigest(), len(data)))
    assert bad.problem
    assert bad.h1 == ""


def test_hashing_writer_follows_the_zip_and_the_check_agrees():
    data = _zip({"go.mod": b"module example.com/m\n", "a.go": b"package m\n" * 50_000})
    store = MemoryStore()
    w = HashingWriter(store.writer("z"))
    for i in range(0, len(data), 4096):
        w.write(data[i : i + 4096])
    streamed = w.streamed()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert set(streamed) == {i.header_offset for i in zf.infolist()}
    eff = CheckZip("z", MOD, VER)
    with w.reader() as r:
        fast = eff.check(r, w.digest(), streamed)
    assert fast == eff.check(io.BytesIO(data))
    w.abort()


def test_a_failing_follower_costs_only_the_shortcut(monkeypatch):
    data = _zip({"go.mod": b"module example.com/m\n", "a.go": b"package m\n" * 50_000})
    store = MemoryStore()
    w = HashingWriter(store.writer("f"))

    def broken(chunk: bytes) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(w._follower, "feed", broken)
    for i in range(0, len(data), 1024):  # far more chunks than the queue holds
        w.write(data[i : i + 1024])
    assert w.streamed() == {}
    assert w.digest() == (hashlib.sha256(data).hexdigest(), len(data))
    eff = CheckZip("f", MOD, VER)
    with w.reader() as r:
        assert eff.check(r, w.digest(), w.streamed()) == eff.check(io.BytesIO(data))
    w.abort()
