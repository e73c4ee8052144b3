"""Module zip rules: every x/mod zip testdata archive, size limits, vendoring, properties."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import re
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core import InvalidPathError, InvalidVersionError, ProxyError, error_status
from goproxy_core.sumdb import CHUNK_SIZE, EMPTY_H1, hash1, hash1_contents, hash_zip
from goproxy_core.zip import (
    MAX_GO_MOD,
    MAX_LICENSE,
    MAX_ZIP_FILE,
    CheckedFiles,
    FileMode,
    SourceFile,
    ZipError,
    check_dir,
    check_files,
    check_zip,
    create_zip,
    is_vendored_package,
    str_to_fold,
    unzip_hash,
)

from support import VECTORS_DIR, load_vector, parse_txtar

ZIP_TESTDATA = VECTORS_DIR / "zip-testdata"


# --- helpers ------------------------------------------------------------------------------


def read_test(path: Path):
    """A zip testdata archive: its key=value params and its files (x/mod readTest)."""
    comment, files = parse_txtar(path.read_bytes())
    params = {"path": "", "version": "", "wantErr": "", "hash": ""}
    for line in comment.decode("utf-8", "surrogateescape").split("\n"):
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            assert key.strip() in params, line
            params[key.strip()] = value.strip()
    return params, files


def cases(folder: str):
    paths = sorted((ZIP_TESTDATA / folder).glob("*.txt"))
    return pytest.mark.parametrize("test_path", paths, ids=[p.stem for p in paths])


def source(name: str, data: bytes, **kw) -> SourceFile:
    return SourceFile(name, len(data), open=lambda: io.BytesIO(data), **kw)


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    """A zip holding ``entries`` exactly as named (x/mod extractTxtarToTempZip)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression) as z:
        warnings.simplefilter("ignore")  # duplicate names are part of the tests
        for name, data in entries:
            z.writestr(name, data)
    buf.seek(0)
    return buf


def report(fn, *args) -> CheckedFiles:
    """The CheckedFiles a check returns, or carries on the ZipError it raises."""
    try:
        return fn(*args)
    except ZipError as err:
        checked = err.checked
        message = str(err)
    assert checked is not None
    assert message == checked.error
    return checked


def format_checked(cf: CheckedFiles, prefix: str = "") -> str:
    """x/mod zip_test.go formatCheckedFiles, with paths joined to ``prefix``."""
    out = ["valid:\n"]
    out += [f"{prefix}{p}\n" for p in cf.valid]
    out.append("\nomitted:\n")
    out += [f"{prefix}{e}\n" for e in cf.omitted]
    out.append("\ninvalid:\n")
    out += [f"{prefix}{e}\n" for e in cf.invalid]
    return "".join(out)


def split_want(files):
    want = next(data for name, data in files if name == "want").decode()
    return want, [(n, d) for n, d in files if n != "want"]


class Zeros(io.RawIOBase):
    """``size`` zero bytes, produced chunk by chunk: never allocated whole."""

    _BLOCK = bytes(1 << 20)

    def __init__(self, size: int) -> None:
        self.left = size
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left, len(self._BLOCK))
        self.largest_read = max(self.largest_read, len(b))
        memoryview(b)[:n] = self._BLOCK[:n]
        self.left -= n
        return n


class Discard(io.RawIOBase):
    """A write-only, unseekable sink that keeps nothing."""

    written = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.written += len(b)
        return len(b)


# --- x/mod zip testdata -------------------------------------------------------------------


def _create(test_path: Path, from_dir: bool) -> None:
    params, files = read_test(test_path)
    out = io.BytesIO()
    sources = [source(name, data) for name, data in files]
    if params["wantErr"]:
        with pytest.raises(ProxyError) as info:
            create_zip(params["path"], params["version"], sources, out, from_dir=from_dir)
        assert params["wantErr"] in str(info.value)
        return
    got = create_zip(params["path"], params["version"], sources, out, from_dir=from_dir)
    assert got == params["hash"]
    assert hash_zip(out) == params["hash"]
    # What was written is a valid zip with the same hashes; and no directory entries.
    cf = check_zip(params["path"], params["version"], out)
    assert cf.zip_hash == cf.dir_hash == params["hash"]
    out.seek(0)
    assert not [n for n in zipfile.ZipFile(out).namelist() if n.endswith("/")]


@cases("create")
def test_create(test_path):
    _create(test_path, from_dir=False)


@cases("create_from_dir")
def test_create_from_dir(test_path):
    _create(test_path, from_dir=True)


@cases("unzip")
def test_unzip(test_path):
    params, files = read_test(test_path)
    f = make_zip(files)
    if params["wantErr"]:
        with pytest.raises(ProxyError) as info:
            unzip_hash(params["path"], params["version"], f)
        assert params["wantErr"] in str(info.value)
        return
    assert unzip_hash(params["path"], params["version"], f) == params["hash"]


@cases("check_files")
def test_check_files(test_path):
    want, files = split_want(read_test(test_path)[1])
    cf = report(check_files, [source(n, d) for n, d in files])
    assert format_checked(cf) == want


@cases("check_dir")
def test_check_dir(test_path):
    want, files = split_want(read_test(test_path)[1])
    cf = report(check_dir, [source(n, d) for n, d in files])
    assert format_checked(cf, "$work/") == want


@cases("check_zip")
def test_check_zip(test_path):
    params, files = read_test(test_path)
    want, files = split_want(files)
    cf = report(check_zip, params["path"], params["version"], make_zip(files))
    assert format_checked(cf) == want


# --- size limits (zip_size_limits.json) ---------------------------------------------------

SIZE_LIMITS = load_vector("zip_size_limits.json")
SIZE_ROWS = SIZE_LIMITS["size_limit_tests"]


def test_limits_match_vector():
    limits = SIZE_LIMITS["limits"]
    assert (
        limits["MaxZipFile"],
        limits["MaxGoMod"],
        limits["MaxLICENSE"],
    ) == (MAX_ZIP_FILE, MAX_GO_MOD, MAX_LICENSE)


def _zero_sources(row):
    return [
        SourceFile(f["name"], f["size"], open=lambda n=f["size"]: Zeros(n)) for f in row["files"]
    ]


def _expect(want: str, fn, *args):
    if want:
        with pytest.raises(ZipError) as info:
            fn(*args)
        assert want in str(info.value)
        return None
    return fn(*args)


def _zero_zip(row) -> io.BytesIO:
    """The row's files as a zip, content streamed from Zeros (x/mod TestUnzipSizeLimits)."""
    buf = io.BytesIO()
    mod = row["module"]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for f in row["files"]:
            with z.open(f"{mod['path']}@{mod['version']}/{f['name']}", "w", force_zip64=True) as w:
                src = Zeros(f["size"])
                while chunk := src.read(1 << 20):
                    w.write(chunk)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("row", SIZE_ROWS, ids=[r["desc"] for r in SIZE_ROWS])
def test_size_limits_check_files_and_create(row):
    mod = row["module"]
    _expect(row["want_check_files_err"] or row["want_err_all"], check_files, _zero_sources(row))
    sink = Discard()
    got = _expect(
        row["want_create_err"] or row["want_err_all"],
        create_zip,
        mod["path"],
        mod["version"],
        _zero_sources(row),
        sink,
    )
    if got is not None:
        prefix = f"{mod['path']}@{mod['version']}/"
        assert sink.written < 1 << 20  # zeros deflate well; nothing big was kept
        zero_digests = {f["name"]: _zero_digest(f["size"]) for f in row["files"]}
        assert got == hash1((prefix + n, d) for n, d in zero_digests.items())


def _zero_digest(size: int) -> str:
    h = hashlib.sha256()
    src = Zeros(size)
    while chunk := src.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("row", SIZE_ROWS, ids=[r["desc"] for r in SIZE_ROWS])
def test_size_limits_check_zip_and_unzip(row):
    mod = row["module"]
    f = _zero_zip(row)
    cf = _expect(
        row["want_check_zip_err"] or row["want_err_all"], check_zip, mod["path"], mod["version"], f
    )
    h = _expect(
        row["want_unzip_err"] or row["want_err_all"], unzip_hash, mod["path"], mod["version"], f
    )
    if cf is not None:
        assert h == cf.dir_hash == cf.zip_hash


# --- vendoring (zip_vendor.json) ----------------------------------------------------------

VENDOR_ROWS = [
    (row["path"], version, row["want"])
    for row in load_vector("zip_vendor.json")["is_vendored_package"]
    for version in row["go_versions"]
]


@pytest.mark.parametrize(("path", "go_version", "want"), VENDOR_ROWS)
def test_is_vendored_package(path, go_version, want):
    assert is_vendored_package(path, go_version) is want


@pytest.mark.parametrize(
    ("gomod", "new_rules"),
    [
        (b"go 1.24\n", True),
        (b"module m\n\ngo 1.24.3 // comment\n", True),
        (b'go "1.25"\n', False),  # Go checks the raw token: a quoted version fails
        (b"go 1.24rc1\n", True),
        (b"go v1.24-custom\n", True),  # fixed up by the lax parser
        (b"go 2.0\n", True),
        (b"go 1.23\n", False),
        (b"go 1.24.0rc1\n", False),  # go/version rejects a prerelease of a patch release
        (b"go 1.24\ngo 1.24\n", False),  # repeated: the lax parse fails
        (b"go 1.24 1.25\n", False),
        (b"go bogus\n", False),
        (b"module m\n", False),
    ],
)
def test_root_gomod_go_line_decides_vendor_rules(gomod, new_rules):
    files = [source("go.mod", gomod), source("vendor/modules.txt", b"")]
    cf = check_files(files)
    assert ("vendor/modules.txt" not in cf.valid) is new_rules


def test_go_version_suffix_and_invalid():
    assert is_vendored_package("vendor/modules.txt", "go1.24-bigcorp")
    assert not is_vendored_package("vendor/modules.txt", "go1.024")
    assert not is_vendored_package("vendor/modules.txt", "1.24")


# --- case folding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("m.go", "M.GO", True),
        ("\u212a.go", "k.go", True),  # Kelvin sign
        ("\u212a.go", "K.go", True),
        ("\u017f.go", "S.go", True),  # long s
        ("\u00df.go", "ss.go", False),  # not full case folding
        ("\u00df.go", "\u1e9e.go", True),
        ("\u03a3", "\u03c2", True),  # sigma, final sigma
        ("\u0130", "i", False),  # dotted capital I has its own orbit
        ("\u0131", "I", False),
        ("\u01c4", "\u01c6", True),  # DŽ dž
        ("\u1f80", "\u1f88", True),  # one-rune title case stands in for a two-rune upper
        ("\u0149", "\u0149", True),  # no simple mapping at all
        ("\u00e9", "\u00c9", True),
        ("a\udcff", "a\udcfe", True),  # undecodable bytes are all U+FFFD to Go
    ],
)
def test_str_to_fold(a, b, same):
    assert (str_to_fold(a) == str_to_fold(b)) is same


def test_kelvin_collision_in_create():
    files = [source("k.go", b"package k\n"), source("\u212a.go", b"package k\n")]
    with pytest.raises(ZipError, match="case-insensitive file name collision"):
        create_zip("example.com/m", "v1.0.0", files, io.BytesIO())
    files = [source("ss.go", b"package s\n"), source("\u00df.go", b"package s\n")]
    assert create_zip("example.com/m", "v1.0.0", files, io.BytesIO()).startswith("h1:")


# --- check_files details ------------------------------------------------------------------


def test_check_files_reasons():
    files = [
        source("/abs.go", b""),
        source("a/./b.go", b""),
        source("", b""),
        SourceFile("link.go", 4, mode=FileMode.SYMLINK),
        SourceFile("fifo", 0, mode=FileMode.OTHER),
        SourceFile("dir", 0, mode=FileMode.DIR),
        SourceFile("dir/x.go", 1, open=lambda: io.BytesIO(b"x")),
        SourceFile("neg.go", -1),
        SourceFile("go.mod", MAX_GO_MOD + 1, open=lambda: Zeros(MAX_GO_MOD + 1)),
        SourceFile("LICENSE", MAX_GO_MOD + 1),
        SourceFile("sub/GO.MOD", 1, mode=FileMode.SYMLINK),  # a symlink does not mark a module
        source("sub/x.go", b""),
    ]
    cf = report(check_files, files)
    assert cf.valid == ["dir/x.go", "neg.go", "sub/x.go"]
    assert [str(e) for e in cf.omitted] == [
        "link.go: file is a symbolic link",
        "fifo: not a regular file",
        "dir: not a regular file",
        "sub/GO.MOD: file is a symbolic link",
    ]
    assert [str(e) for e in cf.invalid] == [
        "/abs.go: file path is not relative",
        "a/./b.go: file path is not clean",
        ": file path is not clean",
        f"go.mod: go.mod file too large (max size is {MAX_GO_MOD} bytes)",
        f"LICENSE: LICENSE file too large (max size is {MAX_GO_MOD} bytes)",
    ]
    assert cf.size_error == f"module source tree too large (max size is {MAX_ZIP_FILE} bytes)"
    assert cf.error == cf.size_error


def test_check_files_size_error_reported_once():
    cf = report(check_files, [SourceFile(n, MAX_ZIP_FILE) for n in ("a", "b", "c")])
    assert cf.valid == ["a", "b", "c"]
    assert cf.error == f"module source tree too large (max size is {MAX_ZIP_FILE} bytes)"


def test_root_gomod_without_content():
    # Without a way to read it, the root go.mod has no go line: pre-1.24 vendor rules.
    cf = check_files([SourceFile("go.mod", 9), source("vendor/modules.txt", b"")])
    assert cf.valid == ["go.mod", "vendor/modules.txt"]


def test_check_files_valid_returns_report():
    cf = check_files([source("a.go", b"package a\n")])
    assert (cf.valid, cf.omitted, cf.invalid, cf.error) == (["a.go"], [], [], None)


def test_dot_dot_paths_are_not_clean():
    names = ["../x", "a/../../x", "a/b/../c", "/../x"]
    cf = report(check_files, [source(n, b"") for n in names])
    assert [e.reason for e in cf.invalid] == [
        'malformed file path "../x": invalid path element ".."',
        "file path is not clean",
        "file path is not clean",
        "file path is not clean",
    ]


# --- directory mode -----------------------------------------------------------------------


def test_check_dir_walk_order_and_skips():
    files = [
        source("a.go", b""),
        source("a/x.go", b""),
        SourceFile("empty", mode=FileMode.DIR),
        SourceFile("link", 3, mode=FileMode.SYMLINK),
        source("vendor/a/b/c.go", b""),
        SourceFile("vendor/a/b", mode=FileMode.DIR),
        SourceFile("m/go.mod", 3, mode=FileMode.SYMLINK),  # Lstat sees a non-directory
        source("m/x.go", b""),
        SourceFile("go.mod/x", 0, open=lambda: io.BytesIO()),
        source("a.go", b"the first entry of a name wins"),
        source("vendor/a/b/c.go/d", b""),  # a file where the walk already has a file
    ]
    cf = check_dir(files)
    # filepath.Walk: "a" and its contents come before "a.go".
    assert cf.valid == ["a/x.go", "a.go", "go.mod/x"]
    assert [str(e) for e in cf.omitted] == [
        "link: not a regular file",
        "m: directory is in another module",
        "vendor/a/b: file is in vendor directory",
        "vendor/a/b/c.go: file is in vendor directory",
        "vendor/a/b/c.go/d: file is in vendor directory",
    ]


def test_create_from_dir_skips_vcs_and_irregular():
    files = [
        source(".git/config", b"x"),
        source(".svn/x", b"x"),
        SourceFile("link.go", 3, mode=FileMode.SYMLINK),
        source("m.go", b"package m\n"),
    ]
    out = io.BytesIO()
    got = create_zip("example.com/m", "v1.0.0", files, out, from_dir=True)
    assert got == hash1_contents([("example.com/m@v1.0.0/m.go", b"package m\n")])
    # Without from_dir, VCS files are ordinary files.
    got2 = create_zip("example.com/m", "v1.0.0", files, io.BytesIO())
    assert got2 != got


def test_create_from_dir_vendor_dir_module():
    # x/mod TestCreateFromDirSpecial/dir_is_vendor: the directory passed in is "vendor".
    files = [source("go.mod", b"module example.com/m\n\ngo 1.13\n")]
    got = create_zip("example.com/m", "v1.0.0", files, io.BytesIO(), from_dir=True)
    assert got == "h1:XduFAgX/GaspZa8Jv4pfzoGEzNaU/r88PiCunijw5ok="
    assert create_zip("example.com/m", "v1.0.0", [], io.BytesIO(), from_dir=True) == EMPTY_H1


# --- create details -----------------------------------------------------------------------


def test_create_size_is_a_lie():
    lie = SourceFile("lie.go", 1, open=lambda: io.BytesIO(b"package large"))
    with pytest.raises(ZipError, match=r'file "lie\.go" is larger than declared size'):
        create_zip("example.com/large", "v1.0.0", [lie], io.BytesIO())


def test_create_failure_leaves_no_central_directory():
    out = io.BytesIO()
    lie = SourceFile("lie.go", 1, open=lambda: io.BytesIO(b"package large"))
    with pytest.raises(ZipError):
        create_zip("example.com/large", "v1.0.0", [source("a.go", b"a"), lie], out)
    gc.collect()
    assert b"PK\x05\x06" not in out.getvalue()


def test_create_shorter_than_declared_writes_what_there_is():
    short = SourceFile("short.go", 100, open=lambda: io.BytesIO(b"package s\n"))
    got = create_zip("example.com/m", "v1.0.0", [short], io.BytesIO())
    assert got == hash1_contents([("example.com/m@v1.0.0/short.go", b"package s\n")])


def test_create_negative_size():
    neg = SourceFile("neg.go", -(1 << 63), open=lambda: io.BytesIO())
    with pytest.raises(ZipError, match="module source tree too large"):
        create_zip("example.com/large", "v1.0.0", [neg], io.BytesIO())


def test_create_needs_content():
    with pytest.raises(ZipError, match=r'no content for file "a\.go"'):
        create_zip("example.com/m", "v1.0.0", [SourceFile("a.go", 1)], io.BytesIO())


def test_create_errors_carry_the_report():
    with pytest.raises(ZipError) as info:
        create_zip(
            "example.com/m", "v1.0.0", [source("a.go", b""), source("A.go", b"")], io.BytesIO()
        )
    assert (
        str(info.value)
        == 'create zip: A.go: case-insensitive file name collision: "a.go" and "A.go"'
    )
    assert info.value.checked.valid == ["a.go"]
    assert error_status(info.value) == 502


def test_create_reads_bounded_chunks():
    src = Zeros(3 << 20)
    out = Discard()
    create_zip("example.com/m", "v1.0.0", [SourceFile("z", 3 << 20, open=lambda: src)], out)
    assert src.left == 0
    assert src.largest_read <= CHUNK_SIZE


def test_create_module_errors():
    with pytest.raises(InvalidPathError):
        create_zip("cache", "v1.0.0", [], io.BytesIO())
    with pytest.raises(InvalidVersionError):
        create_zip("example.com/m", "v2.0.0", [], io.BytesIO())
    with pytest.raises(ZipError, match="is not canonical"):
        create_zip("example.com/m", "v1.0", [], io.BytesIO())


def test_create_is_deterministic():
    files = [source("go.mod", b"module example.com/m\n"), source("m.go", b"package m\n")]
    a, b = io.BytesIO(), io.BytesIO()
    create_zip("example.com/m", "v1.0.0", files, a)
    create_zip("example.com/m", "v1.0.0", files, b)
    assert a.getvalue() == b.getvalue()


# --- check_zip details --------------------------------------------------------------------

MOD, VER = "example.com/m", "v1.0.0"
PREFIX = f"{MOD}@{VER}/"


def test_check_zip_directory_entries():
    f = make_zip(
        [(PREFIX, b""), (PREFIX + "a/", b""), (PREFIX + "a/", b""), (PREFIX + "a/b.go", b"b")]
    )
    cf = check_zip(MOD, VER, f)
    assert cf.valid == [PREFIX + "a/b.go"]
    assert cf.dir_hash == hash1_contents([(PREFIX + "a/b.go", b"b")])
    assert cf.zip_hash == hash_zip(f) != cf.dir_hash


def test_check_zip_name_rules():
    f = make_zip(
        [
            (PREFIX + "a/", b""),
            (PREFIX + "a", b""),
            (PREFIX + "/", b""),
            (PREFIX + "sub/go.mod", b""),
            (PREFIX + "x/./y", b""),
        ]
    )
    cf = report(check_zip, MOD, VER, f)
    assert [e.reason for e in cf.invalid] == [
        'entry "a" is both a file and a directory',
        "file path is not clean",
        "go.mod file not in module root directory",
        "file path is not clean",
    ]


def test_check_zip_raw_names():
    # A name without the UTF-8 flag is raw bytes to Go, not cp437.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo(PREFIX + "\u00ff.go"), b"")  # written as UTF-8 with the flag
    raw = buf.getvalue().replace(b"\xc3\xbf", b"\xff\xfe").replace(b"\x00\x08", b"\x00\x00")
    cf = report(check_zip, MOD, VER, io.BytesIO(raw))
    assert cf.invalid[0].path == PREFIX + b"\xff\xfe.go".decode("utf-8", "surrogateescape")
    assert cf.invalid[0].reason.endswith("invalid UTF-8")


def test_check_zip_large_files():
    row = {
        "module": {"path": MOD, "version": VER},
        "files": [{"name": "sub/big", "size": MAX_GO_MOD + 1}],
    }
    cf = check_zip(MOD, VER, _zero_zip(row))
    assert cf.valid == [PREFIX + "sub/big"]


class Sparse(io.RawIOBase):
    """A seekable stream that claims a huge size and holds nothing."""

    def __init__(self, size):
        self.size, self.pos = size, 0

    def seekable(self):
        return True

    def readable(self):
        return True

    def seek(self, pos, whence=0):
        self.pos = {0: pos, 1: self.pos + pos, 2: self.size + pos}[whence]
        return self.pos

    def readinto(self, b):
        n = max(0, min(len(b), self.size - self.pos))
        memoryview(b)[:n] = bytes(n)
        self.pos += n
        return n


def test_check_zip_file_too_large():
    with pytest.raises(
        ZipError,
        match=r"module zip file is too large \(524288001 bytes; limit is 524288000 bytes\)",
    ) as info:
        check_zip(MOD, VER, Sparse(MAX_ZIP_FILE + 1))
    assert info.value.checked.size_error is not None
    with pytest.raises(ZipError, match="not a valid zip file"):
        check_zip(MOD, VER, Sparse(MAX_ZIP_FILE))


def test_check_zip_module_errors():
    with pytest.raises(InvalidPathError):
        check_zip("cache", VER, make_zip([]))
    with pytest.raises(ZipError, match=r'version "v1\.0\.0\+x" is not canonical'):
        check_zip(MOD, "v1.0.0+x", make_zip([]))


def _patch_sizes(data: bytes, name: bytes, size: int, crc: int | None = None) -> bytes:
    """Rewrite an entry's declared size (and CRC) in its local and central headers."""
    buf = bytearray(data)
    local = buf.index(b"PK\x03\x04")
    central = buf.index(b"PK\x01\x02")
    struct.pack_into("<L", buf, local + 22, size)
    struct.pack_into("<L", buf, central + 24, size)
    if crc is not None:
        struct.pack_into("<L", buf, local + 14, crc)
        struct.pack_into("<L", buf, central + 16, crc)
    return bytes(buf)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_check_zip_size_is_a_lie(method):
    # x/mod TestUnzipSizeLimitsSpecial/size_is_a_lie: 0xBAD zero bytes declared as 0xAC.
    data = make_zip([(PREFIX + "go.mod", bytes(0x0BAD))], method).getvalue()
    lie = _patch_sizes(data, b"go.mod", 0xAC, zlib.crc32(bytes(0xAC)))
    with pytest.raises(
        ZipError,
        match=r"uncompressed size of file example\.com/m@v1\.0\.0/go\.mod is larger than "
        r"declared size \(172 bytes\)",
    ):
        check_zip(MOD, VER, io.BytesIO(lie))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_check_zip_shorter_than_declared(method):
    data = make_zip([(PREFIX + "a.go", b"package a\n")], method).getvalue()
    with pytest.raises(ZipError, match="unexpected EOF"):
        check_zip(MOD, VER, io.BytesIO(_patch_sizes(data, b"a.go", 11)))


def test_check_zip_bad_crc():
    data = make_zip([(PREFIX + "a.go", b"package a\n")]).getvalue()
    with pytest.raises(ZipError, match="checksum error"):
        check_zip(MOD, VER, io.BytesIO(_patch_sizes(data, b"a.go", 10, 1234)))


def test_check_zip_unsupported_compression():
    f = make_zip([(PREFIX + "a.go", b"package a\n")], zipfile.ZIP_BZIP2)
    with pytest.raises(ZipError, match="unsupported compression algorithm"):
        check_zip(MOD, VER, f)


def test_check_zip_corrupt_entries():
    data = make_zip([(PREFIX + "a.go", b"package a\n" * 20)]).getvalue()
    # Local header magic broken.
    with pytest.raises(ZipError, match="not a valid zip file"):
        check_zip(MOD, VER, io.BytesIO(b"XXXX" + data[4:]))
    # Deflate data broken.
    start = 30 + len(PREFIX + "a.go")
    bad = data[:start] + b"\xff" * 8 + data[start + 8 :]
    with pytest.raises(ZipError, match="flate: corrupt input"):
        check_zip(MOD, VER, io.BytesIO(bad))


def test_check_zip_truncated_data():
    # The central directory says the data runs past the end of the stream.
    data = make_zip([(PREFIX + "a.go", b"x")], zipfile.ZIP_STORED).getvalue()
    buf = bytearray(data)
    central = buf.index(b"PK\x01\x02")
    struct.pack_into("<LL", buf, central + 20, 5000, 5000)
    with pytest.raises(ZipError, match="unexpected EOF"):
        check_zip(MOD, VER, io.BytesIO(bytes(buf)))


def test_check_zip_reports_size_once():
    row = {
        "module": {"path": MOD, "version": VER},
        "files": [{"name": n, "size": MAX_ZIP_FILE // 2 + 1} for n in ("a", "b", "c")],
    }
    cf = report(check_zip, MOD, VER, _zero_zip(row))
    assert cf.size_error.startswith("total uncompressed size of module contents too large")
    assert cf.valid == [PREFIX + n for n in "abc"]


def test_bad_local_header_offset():
    data = make_zip([(PREFIX + "a.go", b"x")], zipfile.ZIP_STORED).getvalue()
    buf = bytearray(data)
    central = buf.index(b"PK\x01\x02")
    struct.pack_into("<L", buf, central + 42, len(buf) - 10)
    with pytest.raises(ZipError, match="not a valid zip file"):
        check_zip(MOD, VER, io.BytesIO(bytes(buf)))


def test_deflate_trailing_bytes_are_ignored():
    data = make_zip([(PREFIX + "a.go", b"package a\n")]).getvalue()
    buf = bytearray(data)
    central = buf.index(b"PK\x01\x02")
    local_size = struct.unpack_from("<L", buf, 18)[0]
    # Declare two more compressed bytes than the deflate stream uses (the CD's 0x50 sig follows).
    struct.pack_into("<L", buf, central + 20, local_size + 2)
    assert check_zip(MOD, VER, io.BytesIO(bytes(buf))).dir_hash == hash1_contents(
        [(PREFIX + "a.go", b"package a\n")]
    )


def test_check_zip_not_a_zip():
    with pytest.raises(ZipError, match="not a valid zip file") as info:
        check_zip(MOD, VER, io.BytesIO(b"PK\x03\x04 this is not a zip"))
    assert error_status(info.value) == 502


# --- properties ---------------------------------------------------------------------------

# Windows-reserved names ("aux", "con", "nul", "prn", "com1"...) are invalid path elements.
_RESERVED = re.compile(r"^(aux|con|nul|prn|com[0-9]|lpt[0-9])(\.|$)")
_elem = st.from_regex(r"[a-z0-9]{1,3}(\.go)?", fullmatch=True).filter(
    lambda e: not _RESERVED.match(e)
)
_name = st.lists(_elem, min_size=1, max_size=3).map("/".join)


def _consistent(files: dict[str, bytes]) -> bool:
    names = list(files)
    return not any(m.startswith(n + "/") for n in names for m in names) and not any(
        n.startswith("vendor/") or "/vendor/" in n for n in names
    )


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(_name, st.binary(max_size=200), max_size=6).filter(_consistent),
    st.randoms(use_true_random=False),
)
def test_create_check_hash_roundtrip(files, rnd):
    items = list(files.items())
    out = io.BytesIO()
    got = create_zip(MOD, VER, [source(n, d) for n, d in items], out)
    assert got == hash1_contents((PREFIX + n, d) for n, d in items)
    cf = check_zip(MOD, VER, out)
    assert cf.zip_hash == cf.dir_hash == hash_zip(out) == got
    assert sorted(cf.valid) == sorted(PREFIX + n for n in files)
    rnd.shuffle(items)
    again = io.BytesIO()
    assert create_zip(MOD, VER, [source(n, d) for n, d in items], again) == got
    assert check_zip(MOD, VER, again).zip_hash == got


def test_negative_local_header_offset():
    # An end record pointing one byte past the real central directory makes zipfile shift
    # every local header offset below zero.
    data = bytearray(make_zip([(PREFIX + "a.go", b"x")]).getvalue())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<L", data, end + 16, struct.unpack_from("<L", data, end + 16)[0] + 1)
    with pytest.raises(ZipError, match="not a valid zip file"):
        check_zip(MOD, VER, io.BytesIO(bytes(data)))


_SAMPLE = make_zip(
    [(PREFIX + "go.mod", b"module example.com/m\n"), (PREFIX + "a.go", b"package a\n" * 50)]
).getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(_SAMPLE) - 1), st.integers(0, 255)), max_size=4),
    st.integers(1, len(_SAMPLE)),
)
def test_mangled_zips_fail_cleanly(edits, keep):
    data = bytearray(_SAMPLE)
    for pos, value in edits:
        data[pos] = value
    f = io.BytesIO(bytes(data[:keep]))
    for fn in (lambda: check_zip(MOD, VER, f), lambda: hash_zip(f)):
        with contextlib.suppress(ProxyError):  # anything else fails the test
            fn()
