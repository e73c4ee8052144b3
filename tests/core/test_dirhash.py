"""h1 hashes: every dirhash.json case, streaming, byte-order sorting and the incremental hasher."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core.sumdb import (
    CHUNK_SIZE,
    EMPTY_H1,
    DirHashError,
    FileHasher,
    hash1,
    hash1_contents,
    hash_gomod,
    hash_zip,
    sha256_stream,
)

from support import load_vector

CASES = load_vector("dirhash.json")["cases"]
FILE_CASES = [c for c in CASES if "files" in c]
ZIP_CASES = [c for c in CASES if "zip_entries" in c]


def _zip(entries: list[tuple[str, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("case", FILE_CASES, ids=[c["desc"] for c in FILE_CASES])
def test_hash1_cases(case):
    files = [(name, data.encode()) for name, data in case["files"].items()]
    if case["err"]:
        with pytest.raises(DirHashError, match=case["err"]):
            hash1_contents(files)
        return
    assert hash1_contents(files) == case["hash"]
    digests = [(name, hashlib.sha256(data).hexdigest()) for name, data in files]
    assert hash1(reversed(digests)) == case["hash"]
    # The summary is what gets hashed: check it against the vector text too.
    summary = hashlib.sha256(case["summary"].encode()).digest()
    assert case["hash"] == "h1:" + base64.b64encode(summary).decode()


@pytest.mark.parametrize("case", FILE_CASES, ids=[c["desc"] for c in FILE_CASES])
def test_hash_zip_of_the_files(case):
    files = [(name, data.encode()) for name, data in case["files"].items()]
    f = _zip(files)
    if case["err"]:
        with pytest.raises(DirHashError):
            hash_zip(f)
    else:
        assert hash_zip(f) == case["hash"]


@pytest.mark.parametrize("case", ZIP_CASES, ids=[c["desc"] for c in ZIP_CASES])
def test_hash_zip_counts_directory_entries(case):
    # The vector's files: a directory entry and "data for <base>" content for the file.
    entries = [
        (n, b"" if n.endswith("/") else b"data for " + n.split("/")[-1].encode())
        for n in case["zip_entries"]
    ]
    assert hash_zip(_zip(entries)) == case["hash"]
    assert hash_zip(_zip(entries[1:])) != case["hash"]


def test_empty_hash():
    assert hash1([]) == EMPTY_H1
    assert hash_zip(_zip([])) == EMPTY_H1


def test_hash_gomod_matches_vector():
    case = next(c for c in FILE_CASES if list(c["files"]) == ["go.mod"])
    assert hash_gomod(case["files"]["go.mod"].encode()) == case["hash"]


def test_duplicate_zip_names_hash_the_last_entry_twice():
    with pytest.warns(UserWarning, match="Duplicate name"):
        f = _zip([("m@v1/a", b"first"), ("m@v1/a", b"second")])
    last = hashlib.sha256(b"second").hexdigest()
    assert hash_zip(f) == hash1([("m@v1/a", last), ("m@v1/a", last)])


def test_sort_is_raw_byte_order():
    # An undecodable 0xFF byte sorts after U+E000 (0xEE...) though its code point is smaller.
    bad = b"\xff".decode("utf-8", "surrogateescape")
    digest = "0" * 64
    summary = f"{digest}  \ue000\n".encode() + f"{digest}  ".encode() + b"\xff\n"
    want = "h1:" + base64.b64encode(hashlib.sha256(summary).digest()).decode()
    assert hash1([(bad, digest), ("\ue000", digest)]) == want


def test_file_hasher_incremental():
    hasher = FileHasher()
    hasher.add_bytes("b", b"2")
    assert hasher.add_stream("a", io.BytesIO(b"1" * (CHUNK_SIZE + 5))) == CHUNK_SIZE + 5
    assert hasher.sum() == hash1_contents([("a", b"1" * (CHUNK_SIZE + 5)), ("b", b"2")])
    with pytest.raises(DirHashError):
        hasher.add("x\ny", "0" * 64)


def test_sha256_stream_reads_in_chunks():
    class Counting(io.BytesIO):
        biggest = 0

        def read(self, n=-1):
            assert 0 < n <= CHUNK_SIZE
            return super().read(n)

    data = bytes(range(256)) * 5000
    assert sha256_stream(Counting(data)) == (hashlib.sha256(data).hexdigest(), len(data))


def test_hash_zip_rejects_non_zip():
    from goproxy_core.zip import ZipError

    with pytest.raises(ZipError, match="not a valid zip file"):
        hash_zip(io.BytesIO(b"PK\x03\x04 nope"))


_names = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=6)


@given(st.dictionaries(_names, st.binary(max_size=32), max_size=6), st.randoms())
def test_hash1_ignores_order(files, rnd):
    items = list(files.items())
    want = hash1_contents(items)
    rnd.shuffle(items)
    assert hash1_contents(items) == want
