"""ZipFollower: entries read as the bytes arrive give the same verdict and h1 as reading at random.

The property: for any zip, well formed or not, fed in any chunking, ``check_zip`` with the
follower's entries says exactly what it says without them (the same error text, or the same
two hashes); and on a well-formed zip the follower records every entry, so the check has
nothing left to inflate.
"""

from __future__ import annotations

import io
import warnings
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goproxy_core import CheckZip, ProxyError
from goproxy_core.zip import StreamedEntry, ZipFollower, check_zip

MOD = "example.com/m"
VER = "v1.0.0"
PREFIX = f"{MOD}@{VER}/"


class _Unseekable(io.RawIOBase):
    """A write-only sink zipfile cannot seek in: it writes data descriptors, as Go does."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(b)  # type: ignore[call-overload]
        self.buf += data
        return len(data)


def build(entries: list[tuple[str, bytes, int]], descriptors: bool) -> bytes:
    """A zip of ``(name, content, method)``; with ``descriptors``, written as a stream."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the test
        return _build(entries, descriptors)


def _build(entries: list[tuple[str, bytes, int]], descriptors: bool) -> bytes:
    if descriptors:
        sink = _Unseekable()
        with zipfile.ZipFile(sink, "w") as zf:  # type: ignore[arg-type]
            for name, data, method in entries:
                info = zipfile.ZipInfo(name)
                info.compress_type = method
                with zf.open(info, "w") as w:
                    w.write(data)
        return bytes(sink.buf)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in entries:
            zf.writestr(name, data, compress_type=method)
    return buf.getvalue()


def follow(data: bytes, chunk: int) -> dict[int, StreamedEntry]:
    f = ZipFollower()
    for i in range(0, len(data), chunk):
        f.feed(data[i : i + chunk])
    return f.entries


def outcome(data: bytes, streamed: dict[int, StreamedEntry] | None) -> tuple[str, ...]:
    try:
        cf = check_zip(MOD, VER, io.BytesIO(data), streamed)
    except ProxyError as e:
        return (type(e).__name__, str(e))
    return ("ok", cf.zip_hash or "", cf.dir_hash or "")


names = st.sampled_from(
    [
        PREFIX + "go.mod",
        PREFIX + "a.go",
        PREFIX + "dir/",
        PREFIX + "dir/b.go",
        PREFIX + "LICENSE",
        PREFIX + "A.go",
        "other@v1.0.0/x.go",
        PREFIX + "a.go",  # a duplicate, now and then
    ]
)
contents = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=8), st.integers(1, 5000)),
)
entry = st.tuples(names, contents, st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
mutation = st.one_of(
    st.none(),
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("junk"), st.integers(0, 10**6), st.integers(0, 255)),
)


def mutate(data: bytes, m: tuple[str, int, int] | None) -> bytes:
    if m is None or not data:
        return data
    kind, at, val = m
    at %= len(data)
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ val]) + data[at + 1 :]
    if kind == "cut":
        return data[:at]
    return data[:at] + bytes([val]) * 7 + data[at:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(entry, min_size=0, max_size=6),
    st.booleans(),
    mutation,
    st.sampled_from([1, 3, 64, 1000, 1 << 20]),
)
def test_streamed_verdict_equals_random_access(entries, descriptors, m, chunk):
    data = mutate(build(entries, descriptors), m)
    streamed = follow(data, chunk)
    assert outcome(data, streamed) == outcome(data, None)
    verdict = CheckZip("k", MOD, VER)
    assert verdict.check(io.BytesIO(data), None, streamed) == verdict.check(io.BytesIO(data))


@settings(max_examples=100, deadline=None)
@given(st.lists(entry, min_size=1, max_size=6), st.booleans(), st.sampled_from([1, 5, 4096]))
def test_well_formed_zips_are_followed_whole(entries, descriptors, chunk):
    data = build(entries, descriptors)
    streamed = follow(data, chunk)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        offsets = {i.header_offset for i in zf.infolist()}
    if descriptors and any(method == zipfile.ZIP_STORED for _, _, method in entries):
        # A stored entry behind a data descriptor has no length up front: the follower stops
        # there (the check reads the rest itself).
        assert set(streamed) < offsets
    else:
        assert set(streamed) == offsets


def _lying(entries: list[tuple[str, bytes, int]], patch: dict[int, bytes]) -> bytes:
    """A stored-entry zip with bytes of its first local header overwritten."""
    data = bytearray(build(entries, descriptors=False))
    for at, b in patch.items():
        data[at : at + len(b)] = b
    return bytes(data)


def test_local_headers_that_disagree_with_the_directory_are_read_again():
    files = [(PREFIX + "go.mod", b"module example.com/m\n", zipfile.ZIP_STORED)]
    good = build(files, descriptors=False)
    # A local header claiming a different size: the follower reads other bytes than the
    # directory says, so its entry is not used and the check reads the entry itself.
    longer = _lying(files, {18: (21).to_bytes(4, "little"), 22: (30).to_bytes(4, "little")})
    for data in (good, longer):
        streamed = follow(data, 7)
        assert outcome(data, streamed) == outcome(data, None)
    # A method the follower does not read, and garbage in front: nothing is recorded.
    assert follow(b"junk" + good, 4) == {}
    assert follow(_lying(files, {8: b"\x0c\x00"}), 4) == {}


def test_the_follower_stops_at_its_budget():
    files = [(PREFIX + "a.go", b"x" * 5000, zipfile.ZIP_DEFLATED)] * 2
    data = build(files, descriptors=True)
    f = ZipFollower(max_output=6000)
    f.feed(data)
    assert f.done
    assert len(f.entries) == 1
    assert outcome(data, f.entries) == outcome(data, None)


@settings(max_examples=50, deadline=None)
@given(st.lists(entry, min_size=1, max_size=4), st.booleans(), st.sampled_from([1, 7, 300, 4096]))
def test_chunks_read_in_place_or_copied_give_the_same_entries(entries, descriptors, chunk):
    # bytes are read where they are (only a leftover is copied); a bytearray the caller may
    # reuse is copied: overwriting it after feed() changes nothing.
    data = build(entries, descriptors)
    f = ZipFollower()
    for i in range(0, len(data), chunk):
        piece = bytearray(data[i : i + chunk])
        f.feed(piece)  # type: ignore[arg-type]
        piece[:] = b"\xff" * len(piece)
    assert f.entries == follow(data, chunk)
