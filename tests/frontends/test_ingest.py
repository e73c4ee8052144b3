"""The ingest path: the body is hashed while it is written, and the check reads it once."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import CheckZip, FetchUpstream
from goproxy_core.testing import MemoryStore
from goproxy_io.upstream import HashingWriter, _coalesce, fetch_file

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
    assert threading.active_count() == before  # both hashing threads have ended
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


def _hashing_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name in ("goproxy-write-hash", "goproxy-follow-zip")
    ]


def test_two_threads_work_on_the_body_and_end_with_it():
    data = _zip({"go.mod": b"module example.com/m\n", "a.go": b"package m\n" * 50_000})
    store = MemoryStore()
    w = HashingWriter(store.writer("t"))
    assert _hashing_threads() == []
    w.write(data[:100])
    assert sorted(t.name for t in _hashing_threads()) == [
        "goproxy-follow-zip",
        "goproxy-write-hash",
    ]
    w.write(data[100:])
    w.flush()
    with w.reader() as r:  # every byte is in the pending write once flushed
        assert r.read() == data
    assert w.digest() == (hashlib.sha256(data).hexdigest(), len(data))
    assert _hashing_threads() == []
    assert len(w.streamed()) == 2
    w.commit()
    assert store.open("t").read() == data


def test_abort_stops_both_threads_without_working_off_the_queue(monkeypatch):
    store = MemoryStore()
    w = HashingWriter(store.writer("s"))
    fed: list[int] = []

    def slow(chunk: bytes) -> None:
        fed.append(len(chunk))
        time.sleep(0.2)

    monkeypatch.setattr(w._follower, "feed", slow)
    for _ in range(12):  # more than the queue holds: the writer waits for the slow thread
        w.write(b"x" * 1000)
    start = time.monotonic()
    w.abort()
    assert time.monotonic() - start < 1.0  # 8 queued chunks worked on would take 1.6 s
    assert len(fed) < 12
    assert _hashing_threads() == []
    assert store.open("s") is None


class _FailingWrite:
    """A pending write whose disk fills up after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.kept = bytearray()
        self.committed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        if len(self.kept) + len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.kept += data

    def reader(self) -> io.BytesIO:
        return io.BytesIO(bytes(self.kept))

    def commit(self) -> None:
        self.committed = True

    def abort(self) -> None:
        self.aborted = True


def test_a_failed_write_on_the_writing_thread_reaches_the_fetch_and_the_commit():
    inner = _FailingWrite(room=3000)
    w = HashingWriter(inner)  # type: ignore[arg-type]
    w.write(b"a" * 2000)
    w.write(b"b" * 2000)  # fails on the thread
    with pytest.raises(OSError, match="No space"):
        w.flush()
    with pytest.raises(OSError, match="No space"):
        w.write(b"c")  # the next chunk is refused at once
    with pytest.raises(OSError, match="No space"):
        w.reader()
    with pytest.raises(OSError, match="No space"):
        w.digest()
    with pytest.raises(OSError, match="No space"):
        w.commit()  # a short file is never published
    assert not inner.committed
    w.abort()
    assert inner.aborted
    assert _hashing_threads() == []


def test_any_failure_of_the_write_reaches_the_fetching_thread():
    class Closed(_FailingWrite):
        def write(self, data: bytes) -> None:
            raise ValueError("write to closed file")

    inner = Closed(room=0)
    w = HashingWriter(inner)  # type: ignore[arg-type]
    w.write(b"a" * 10)
    with pytest.raises(ValueError, match="closed file"):
        w.flush()
    with pytest.raises(ValueError, match="closed file"):
        w.commit()
    assert not inner.committed
    w.abort()
    assert _hashing_threads() == []


class _FullStore(MemoryStore):
    def writer(self, key: str):  # type: ignore[no-untyped-def]
        return _FailingWrite(room=10)


def test_a_fetch_into_a_full_store_is_the_stores_failure(tmp_path):
    (tmp_path / "v1.0.0.zip").write_bytes(b"z" * 5000)
    effect = FetchUpstream(f"file://{tmp_path}/v1.0.0.zip", max_size=1 << 20, into="k")
    result, writer = fetch_file(effect, _FullStore())
    assert writer is None
    assert result.status == 0
    assert result.store_failure is not None
    assert _hashing_threads() == []


class _BrokenHash:
    def update(self, data: bytes) -> None:
        raise MemoryError("hash state lost")


def test_a_failed_body_hash_is_redone_from_the_pending_write():
    data = _zip({"go.mod": b"module example.com/m\n", "a.go": b"package m\n" * 50_000})
    store = MemoryStore()
    w = HashingWriter(store.writer("h"))
    w._sha = _BrokenHash()  # type: ignore[assignment]
    for i in range(0, len(data), 4096):
        w.write(data[i : i + 4096])
    w.flush()  # the write goes on without the hash
    assert w.digest() == (hashlib.sha256(data).hexdigest(), len(data))
    eff = CheckZip("h", MOD, VER)
    with w.reader() as r:
        assert eff.check(r, w.digest(), w.streamed()) == eff.check(io.BytesIO(data))
    w.commit()
    assert store.open("h").read() == data
    assert _hashing_threads() == []


@given(st.lists(st.binary(max_size=40), max_size=30), st.integers(1, 64))
def test_coalesced_pieces_keep_the_bytes_and_are_large(chunks, size):
    pieces = list(_coalesce(iter(chunks), size))
    assert b"".join(pieces) == b"".join(chunks)
    assert all(pieces)
    assert all(len(p) >= size for p in pieces[:-1])
    if chunks and len(chunks[0]) >= size:
        assert pieces[0] is chunks[0]  # a piece large enough passes without a copy
