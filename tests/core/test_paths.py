"""Module/import/file path rules, major-version suffixes, module.Check, prefix patterns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import InvalidPathError, InvalidVersionError, error_status
from goproxy_core.module import (
    PrefixPatterns,
    canonical_version,
    check,
    check_elem,
    check_file_path,
    check_import_path,
    check_path,
    check_path_major,
    is_incompatible,
    match_path_major,
    match_prefix_patterns,
    path_major_prefix,
    path_match,
    split_path_version,
)

from support import load_vector, vector_str

PATHS = load_vector("module_paths.json")
CHECK = load_vector("module_check.json")
MATCH = load_vector("module_match.json")

CHECK_PATH = PATHS["check_path"]
CHECKERS = [
    ("path", check_path, "module"),
    ("import", check_import_path, "import"),
    ("file", check_file_path, "file"),
]


def _ids(rows, key):
    return [repr(vector_str(r[key])) for r in rows]


@pytest.mark.parametrize("case", CHECK_PATH, ids=_ids(CHECK_PATH, "path"))
@pytest.mark.parametrize(("field", "checker", "kind"), CHECKERS, ids=[c[0] for c in CHECKERS])
def test_check_paths(case, field, checker, kind):
    path = vector_str(case["path"])
    want_err = case[f"{field}_err"]
    assert (want_err is None) is case[f"{field}_ok"]
    if want_err is None:
        assert checker(path) is None
        return
    with pytest.raises(InvalidPathError) as exc:
        checker(path)
    assert str(exc.value) == want_err
    assert exc.value.kind == kind
    assert exc.value.path == path
    assert want_err.endswith(": " + exc.value.reason)
    assert error_status(exc.value) == 404


@pytest.mark.parametrize("case", CHECK_PATH, ids=_ids(CHECK_PATH, "path"))
def test_split_path_version_of_checked_paths(case):
    path = vector_str(case["path"])
    split = case["split"]
    prefix, major, ok = split_path_version(path)
    assert (prefix, major, ok) == (vector_str(split["prefix"]), split["path_major"], split["ok"])
    assert prefix + major == path


SPLIT = PATHS["split_path_version"]


@pytest.mark.parametrize("case", SPLIT, ids=[c["path"] for c in SPLIT])
def test_split_path_version(case):
    assert split_path_version(case["path"]) == (case["prefix"], case["path_major"], case["ok"])


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("gopkg.in/yaml.v2-unstable", ("gopkg.in/yaml", ".v2-unstable", True)),
        ("gopkg.in/yaml.v0-unstable", ("gopkg.in/yaml.v0-unstable", "", False)),
        ("gopkg.in/yaml.v02", ("gopkg.in/yaml.v02", "", False)),
        ("gopkg.in/yaml.v", ("gopkg.in/yaml.v", "", False)),
        ("gopkg.in/yaml", ("gopkg.in/yaml", "", False)),
        ("gopkg.in/v1", ("gopkg.in/v1", "", False)),
        ("x.y/z/v10", ("x.y/z", "/v10", True)),
        ("x.y/z/v02", ("x.y/z/v02", "", False)),
        ("x.y/z/v2v3", ("x.y/z/v2v3", "", True)),
        ("v2", ("v2", "", True)),
        ("/v2", ("", "/v2", True)),
    ],
)
def test_split_path_version_edges(path, want):
    assert split_path_version(path) == want


def test_check_path_gopkg_in():
    check_path("gopkg.in/yaml.v2")
    with pytest.raises(InvalidPathError, match="invalid version"):
        check_path("gopkg.in/yaml")


CHECK_ROWS = CHECK["check"]


@pytest.mark.parametrize(
    "case", CHECK_ROWS, ids=[f"{c['path']}@{c['version']}" for c in CHECK_ROWS]
)
def test_check(case):
    if case["ok"]:
        assert check(case["path"], case["version"]) is None
        return
    with pytest.raises((InvalidPathError, InvalidVersionError)) as exc:
        check(case["path"], case["version"])
    assert str(exc.value) == case["err"]
    assert error_status(exc.value) == 404
    if isinstance(exc.value, InvalidVersionError):
        assert exc.value.path == case["path"]
        assert exc.value.version == case["version"]


CANON = CHECK["canonical_version_computed"]


@pytest.mark.parametrize("case", CANON, ids=[c["version"] for c in CANON])
def test_canonical_version(case):
    assert canonical_version(case["version"]) == case["canonical_version"]


@pytest.mark.parametrize(
    ("v", "want"),
    [
        ("v2.0.0+incompatible", True),
        ("v2.0.1-0.20200722182040-012345abcdef+incompatible", True),
        ("v2.0.0+incompatible.x", False),
        ("v2.0.0", False),
        ("v2.0.0+Incompatible", False),
        ("2.0.0+incompatible", False),
    ],
)
def test_is_incompatible(v, want):
    assert is_incompatible(v) is want


MPM = MATCH["match_path_major"]


@pytest.mark.parametrize("case", MPM, ids=[f"{c['version']}~{c['path_major']}" for c in MPM])
def test_match_path_major(case):
    assert match_path_major(case["version"], case["path_major"]) is case["want"]
    if case["want"]:
        check_path_major(case["version"], case["path_major"])
    else:
        with pytest.raises(InvalidVersionError, match=r"^version \".*\" invalid: should be "):
            check_path_major(case["version"], case["path_major"])


@pytest.mark.parametrize(
    ("v", "pm", "err"),
    [
        ("v2.0.0", "", 'version "v2.0.0" invalid: should be v0 or v1, not v2'),
        ("v3.0.0", "/v2", 'version "v3.0.0" invalid: should be v2, not v3'),
        ("v1.0.0", ".v2-unstable", 'version "v1.0.0" invalid: should be v2, not v1'),
        ("v1.0.0", "v2", 'version "v1.0.0" invalid: should be v2, not v1'),
        ("junk", "", 'version "junk" invalid: should be v0 or v1, not '),
    ],
)
def test_check_path_major_errors(v, pm, err):
    with pytest.raises(InvalidVersionError) as exc:
        check_path_major(v, pm)
    assert str(exc.value) == err


def test_check_path_major_accepts():
    check_path_major("v2.0.0", ".v2-unstable")
    check_path_major("v0.0.0-20160102150405-abcdef123456", ".v1-unstable")
    check_path_major("v5.0.0+incompatible", "")


@pytest.mark.parametrize(
    ("pm", "want"),
    [("", ""), ("/v2", "v2"), (".v1", "v1"), (".v3-unstable", "v3"), (".v0", "v0")],
)
def test_path_major_prefix(pm, want):
    assert path_major_prefix(pm) == want


@pytest.mark.parametrize("pm", ["v2", "/x2", "/v2.1"])
def test_path_major_prefix_rejects(pm):
    with pytest.raises(ValueError, match="path major suffix"):
        path_major_prefix(pm)


@pytest.mark.parametrize(
    ("elem", "kind", "want"),
    [
        ("caf\u00e9", "file", None),
        ("caf\u00e9", "import", "invalid char '\u00e9'"),
        ("a\udcffb", "file", "invalid char '\ufffd'"),
        ("a\x00b", "file", "invalid char '\\x00'"),
        ("a\tb", "file", "invalid char '\\t'"),
        ("\u00e9.\u00e9", "file", None),
        ("Com9.txt", "file", '"Com9" disallowed as path element component on Windows'),
        ("lpt5", "import", '"lpt5" disallowed as path element component on Windows'),
        ("\u00e9on", "file", None),
        ("c++", "import", None),
        ("c++", "module", "invalid char '+'"),
        ("...", "file", 'invalid path element "..."'),
        ("a~1.go", "file", None),
        ("a~1.go", "import", "trailing tilde and digits in path element"),
        ("a~", "import", None),
        ("~1", "import", "trailing tilde and digits in path element"),
    ],
)
def test_check_elem(elem, kind, want):
    assert check_elem(elem, kind) == want


def test_non_ascii_windows_lookalike_is_fine():
    # U+212A KELVIN SIGN case-folds to "k", but no reserved name has a k in it.
    assert check_elem("\u212aon", "file") is None


MPP = MATCH["match_prefix_patterns"]


@pytest.mark.parametrize("case", MPP, ids=[f"{c['globs']}~{c['target']}" for c in MPP])
def test_match_prefix_patterns(case):
    assert match_prefix_patterns(case["globs"], case["target"]) is case["want"]
    assert PrefixPatterns(case["globs"]).matches(case["target"]) is case["want"]


@pytest.mark.parametrize(
    ("globs", "target", "want"),
    [
        # Character classes and escapes, per element, through the exact path.Match port.
        ("[a-z]*.io", "rsc.io/quote", True),
        ("[^r]*.io", "rsc.io/quote", False),
        ("*/[q]uote", "rsc.io/quote/v3", True),
        ("*/[!q]uote", "rsc.io/quote", True),  # "!" is a literal in Go classes, not negation
        ("*/[^q]uote", "rsc.io/quote", False),
        ("rsc.io/[", "rsc.io/quote", False),  # malformed: ignored
        ("rsc.io/[,rsc.io", "rsc.io/quote", True),  # a bad glob does not spoil the others
        ("a[/]b", "a/b/c", True),  # a class may match "/"; the glob still has one slash
        ("[a-z]", "a", True),
        ("x.y/[a-z]", "x.y", False),  # too few elements
        # Escapes in the fast path.
        ("rsc\\.io", "rsc.io/quote", True),
        ("rsc\\.io", "rscxio/quote", False),
        ("rsc.io\\", "rsc.io/quote", False),  # trailing backslash: malformed
        ("rsc.io/q\\*", "rsc.io/q*", True),
        ("rsc.io/q\\*", "rsc.io/quote", False),
        ("rsc.i?", "rsc.io/quote", True),
        ("rsc.i?", "rsc.i/", False),
        ("rsc.io//", "rsc.io/", True),  # one trailing slash dropped: "rsc.io/" needs 2 elements
        ("golang.org/x", "golang.org/x/text", True),
        ("golang.org/x", "golang.org/xerrors", False),
        ("*.corp.example.com", "git.corp.example.com/team/repo", True),
        ("*.corp.example.com", "corp.example.com/team/repo", False),
    ],
)
def test_match_prefix_patterns_more(globs, target, want):
    assert match_prefix_patterns(globs, target) is want


def test_prefix_patterns_object():
    assert not PrefixPatterns("")
    assert not PrefixPatterns(",,/")
    assert not PrefixPatterns("a\\")
    assert PrefixPatterns("rsc.io")
    assert PrefixPatterns("[a]")
    assert repr(PrefixPatterns("x.y")) == "PrefixPatterns('x.y')"
    p = PrefixPatterns("example.com,*.corp.io/team")
    assert p.globs == "example.com,*.corp.io/team"
    assert p.matches("example.com/a/b")
    assert p.matches("git.corp.io/team/x")
    assert not p.matches("git.corp.io/other")
    assert not p.matches("example.org")


# Go's path.Match semantics (own cases, in the spirit of Go's path/match_test.go).
PATH_MATCH = [
    ("xyz", "xyz", True),
    ("*", "xyz", True),
    ("*z", "xyz", True),
    ("x*", "x", True),
    ("x*", "xy/z", False),
    ("x*/q", "xyz/q", True),
    ("x*/q", "x/y/q", False),
    ("p*q*r*/s", "p1q2r3/s", True),
    ("p*q*r*/s", "p1q2r3/t/s", False),
    ("p*q?r*z", "pq1q22q3rzz", True),
    ("p*q?r*z", "pq1q22q3rzy", False),
    ("xy[z]", "xyz", True),
    ("xy[a-z]", "xyz", True),
    ("xy[a-c]", "xyz", False),
    ("xy[^z]", "xyz", False),
    ("xy[^a-c]", "xyz", True),
    ("x\\*y", "x*y", True),
    ("x\\*y", "xy", False),
    ("x?y", "x\u263ay", True),
    ("x[^x]y", "x\u263ay", True),
    ("x??y", "x\u263ay", False),
    ("[a-\u03b6]*", "\u03b2", True),
    ("*[a-\u03b6]", "B", False),
    ("x?y", "x/y", False),
    ("x*y", "x/y", False),
    ("[\\]x]", "]", True),
    ("[\\-]", "-", True),
    ("[y\\-]", "-", True),
    ("[y\\-]", "q", False),
    ("[\\-y]", "y", True),
    ("*y", "yyy", True),
    ("*x?", "axb", True),
    ("*x?", "ax", False),
    ("*[/]", "a/", True),
    ("a[/]*", "a/b", True),
    ("*[/]b", "a/b", True),
]
BAD_PATTERNS = [
    ("[]x]", "]"),
    ("[-]", "-"),
    ("[y-]", "y"),
    ("[-y]", "y"),
    ("\\", "x"),
    ("[a-b-c]", "a"),
    ("[", "x"),
    ("[^", "x"),
    ("[^bc", "x"),
    ("x[", "x"),
    ("x[", "xy"),
    ("x/y[", "q"),
    ("*[", "abc"),
    ("x*\\", "xyz"),
    ("a*[", "b"),
    ("q*[\udcff]", "q\u00ff"),
    ("[a\\", "a"),
    ("x*y*[", "xy"),
]


@pytest.mark.parametrize(("pattern", "name", "want"), PATH_MATCH)
def test_path_match(pattern, name, want):
    assert path_match(pattern, name) is want


@pytest.mark.parametrize(("pattern", "name"), BAD_PATTERNS)
def test_path_match_bad_pattern(pattern, name):
    with pytest.raises(ValueError, match="syntax error in pattern"):
        path_match(pattern, name)


def test_match_chunk_keeps_parsing_after_failure():
    # Go's matchChunk goes on reading the pattern after a mismatch, so that a malformed
    # pattern is reported whatever the name.
    assert path_match("ab", "") is False
    assert path_match("a?[x]", "ab") is False
    assert path_match("a*", "ab") is True
    with pytest.raises(ValueError, match="syntax error in pattern"):
        path_match("ab[", "")


_glob_chars = st.sampled_from(list("ab./*?\\"))
_name_chars = st.sampled_from(list("ab./"))


@given(st.text(_glob_chars, max_size=8), st.text(_name_chars, max_size=8))
def test_fast_path_agrees_with_path_match(glob, target):
    """The compiled regex for class-free globs gives Go's answer."""
    stripped = glob.removesuffix("/")
    slashes = stripped.count("/")
    parts = target.split("/")
    if not stripped or len(parts) <= slashes:
        want = False
    else:
        try:
            want = path_match(stripped, "/".join(parts[: slashes + 1]))
        except ValueError:
            want = False
    assert PrefixPatterns(glob).matches(target) is want


_valid_mod_elem = st.from_regex(r"[a-z0-9][a-zA-Z0-9_~-]{0,6}", fullmatch=True)


@given(st.lists(_valid_mod_elem, min_size=1, max_size=4))
def test_every_valid_module_path_is_an_import_and_file_path(elems):
    path = "example.com/" + "/".join(elems)
    try:
        check_path(path)
    except InvalidPathError:
        return
    check_import_path(path)
    check_file_path(path)
