"""Case escaping of module paths and versions ("!" encoding): x/mod tables and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import InvalidPathError, InvalidVersionError, error_status
from goproxy_core.module import (
    InvalidEscapedPathError,
    InvalidEscapedVersionError,
    check_elem,
    check_path,
    escape_path,
    escape_version,
    unescape_path,
    unescape_version,
)

from support import load_vector, vector_str

ESCAPE = load_vector("module_escape.json")
CHECK_PATH = load_vector("module_paths.json")["check_path"]

ESCAPE_PATH = ESCAPE["escape_path"]


@pytest.mark.parametrize("case", ESCAPE_PATH, ids=[c["path"] for c in ESCAPE_PATH])
def test_escape_path(case):
    assert escape_path(case["path"]) == case["escaped"]
    assert unescape_path(case["escaped"]) == case["path"]


BAD_UNESCAPE = ESCAPE["bad_unescape_path"]


@pytest.mark.parametrize("case", BAD_UNESCAPE, ids=[c["escaped"] for c in BAD_UNESCAPE])
def test_bad_unescape_path(case):
    with pytest.raises(InvalidEscapedPathError) as exc:
        unescape_path(case["escaped"])
    assert str(exc.value) == case["err"]
    assert isinstance(exc.value, InvalidPathError)
    assert exc.value.escaped == case["escaped"]
    assert exc.value.path == case["escaped"]
    assert exc.value.kind == "module"
    assert error_status(exc.value) == 404


def _path_id(case):
    return repr(vector_str(case["path"]))


@pytest.mark.parametrize("case", CHECK_PATH, ids=[_path_id(c) for c in CHECK_PATH])
def test_escape_path_of_checked_paths(case):
    path = vector_str(case["path"])
    if case["escape_path_err"] is None:
        escaped = escape_path(path)
        assert escaped == path  # no upper case in the valid rows
        assert unescape_path(escaped) == path
        return
    with pytest.raises(InvalidPathError) as exc:
        escape_path(path)
    assert str(exc.value) == case["escape_path_err"]


@pytest.mark.parametrize("case", [c for c in CHECK_PATH if not c["path_ok"]], ids=_path_id)
def test_unescape_path_rejects_invalid_paths(case):
    path = vector_str(case["path"])
    with pytest.raises(InvalidEscapedPathError) as exc:
        unescape_path(path)
    assert str(exc.value).startswith("invalid escaped module path ")
    cause = exc.value.cause
    if cause is not None:
        # Escaping was fine; the unescaped path is bad, and Go says why.
        assert str(exc.value).endswith(": " + str(cause))
        assert exc.value.reason == str(cause)
        if "!" not in path:
            assert str(cause) == case["path_err"]


def test_unescape_path_chains_the_path_error():
    with pytest.raises(InvalidEscapedPathError) as exc:
        unescape_path("x.y/z/v1")
    assert str(exc.value) == (
        'invalid escaped module path "x.y/z/v1": malformed module path "x.y/z/v1": invalid version'
    )
    assert isinstance(exc.value.cause, InvalidPathError)


@pytest.mark.parametrize(
    "escaped",
    ["github.com/!", "github.com/!A", "github.com/\u00e9", "github.com/!\u00e9", "github.com/x!"],
)
def test_unescape_path_bad_escaping(escaped):
    with pytest.raises(InvalidEscapedPathError) as exc:
        unescape_path(escaped)
    assert exc.value.cause is None
    assert exc.value.reason == "invalid escaping"


ESCAPE_VERSION = ESCAPE["escape_version_computed"]


@pytest.mark.parametrize("case", ESCAPE_VERSION, ids=[c["version"] for c in ESCAPE_VERSION])
def test_escape_version(case):
    if case["err"] is None:
        assert escape_version(case["version"]) == case["escaped"]
        assert unescape_version(case["escaped"]) == case["version"]
        return
    with pytest.raises(InvalidVersionError) as exc:
        escape_version(case["version"])
    assert str(exc.value) == case["err"]
    assert exc.value.version == case["version"]


UNESCAPE_VERSION = ESCAPE["unescape_version_computed"]


@pytest.mark.parametrize("case", UNESCAPE_VERSION, ids=[c["escaped"] for c in UNESCAPE_VERSION])
def test_unescape_version(case):
    if case["err"] is None:
        assert unescape_version(case["escaped"]) == case["version"]
        assert escape_version(case["version"]) == case["escaped"]
        return
    with pytest.raises(InvalidEscapedVersionError) as exc:
        unescape_version(case["escaped"])
    assert str(exc.value) == case["err"]
    assert isinstance(exc.value, InvalidVersionError)
    assert error_status(exc.value) == 404


@pytest.mark.parametrize(
    ("v", "err"),
    [
        ("v1.0.0/x", 'version "v1.0.0/x" invalid: disallowed version string'),
        ("V1/x", 'version "V1/x" invalid: disallowed version string'),
        ("", 'version "" invalid: disallowed version string'),
        ("..", 'version ".." invalid: disallowed version string'),
        ("v1.0.0-\udcff", 'version "v1.0.0-\\xff" invalid: disallowed version string'),
        # A Unicode letter passes the file-name rules but cannot be escaped: Go's bare text.
        ("v1.0.0-\u00e9", "internal error: inconsistency in EscapePath"),
        ("v1.0.0-X\u00e9", "internal error: inconsistency in EscapePath"),
    ],
)
def test_escape_version_errors(v, err):
    with pytest.raises(InvalidVersionError) as exc:
        escape_version(v)
    assert str(exc.value) == err
    assert exc.value.version == v


@pytest.mark.parametrize(
    ("escaped", "err"),
    [
        # After unescaping the element rules apply, and Go quotes the unescaped form.
        ("v1.0.0-!x/y", "invalid escaped version \"v1.0.0-X/y\": invalid char '/'"),
        ("v1/y", "invalid escaped version \"v1/y\": invalid char '/'"),
        ("", 'invalid escaped version "": empty path element'),
        ("v1.0.0-\u00e9", 'invalid escaped version "v1.0.0-\u00e9"'),
    ],
)
def test_unescape_version_errors(escaped, err):
    with pytest.raises(InvalidEscapedVersionError) as exc:
        unescape_version(escaped)
    assert str(exc.value) == err


def test_escape_path_rejects_before_escaping():
    with pytest.raises(InvalidPathError, match="invalid char 'G' in first path element"):
        escape_path("Github.com/x")


# Valid module paths: a lower-case domain first element, then elements of the module path
# alphabet with upper case; check_path filters the rare invalid draw (Windows names etc.).
_domain = st.from_regex(r"[a-z0-9]{1,5}(\.[a-z0-9]{1,5}){1,2}", fullmatch=True)
_elem = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_~-]{0,5}(\.[A-Za-z0-9_-]{1,4})?", fullmatch=True)


def _valid(path):
    try:
        check_path(path)
    except InvalidPathError:
        return False
    return True


_module_paths = st.builds(
    lambda d, es: "/".join([d, *es]), _domain, st.lists(_elem, max_size=4)
).filter(_valid)


@given(_module_paths)
def test_escape_path_round_trip(path):
    escaped = escape_path(path)
    assert not any("A" <= c <= "Z" for c in escaped)
    assert unescape_path(escaped) == path
    assert escaped.lower() == escaped
    assert len(escaped) == len(path) + sum(c.isupper() for c in path)


_ident = r"[A-Za-z0-9-]{1,4}"
_versions = st.one_of(
    st.from_regex(
        rf"v[0-9]{{1,3}}\.[0-9]{{1,3}}\.[0-9]{{1,3}}(-{_ident}(\.{_ident}){{0,2}})?(\+{_ident})?",
        fullmatch=True,
    ),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_+-]{0,10}", fullmatch=True),
).filter(lambda v: check_elem(v, "file") is None)


@given(_versions)
def test_escape_version_round_trip(v):
    escaped = escape_version(v)
    assert not any("A" <= c <= "Z" for c in escaped)
    assert unescape_version(escaped) == v


@given(st.text(st.characters(codec="ascii"), max_size=12))
def test_unescape_path_never_crashes(escaped):
    try:
        path = unescape_path(escaped)
    except InvalidEscapedPathError:
        return
    assert escape_path(path) == escaped
