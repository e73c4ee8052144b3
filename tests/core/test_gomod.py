"""go.mod files: every x/mod modfile table and golden file, Go's error texts, and properties.

``modfile-testdata/work/`` holds go.work files (a different grammar) and is not used here.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core import InvalidVersionError, error_status
from goproxy_core.modfile import (
    CommentBlock,
    FileSyntax,
    GoMod,
    Line,
    LineBlock,
    ModFileDirectiveError,
    ModFileError,
    ModFileErrorEntry,
    ModFileSyntaxError,
    add_exclude,
    add_line,
    add_retract,
    auto_quote,
    drop_retract,
    format_gomod,
    format_syntax,
    go_version,
    is_directory_path,
    legacy_go_mod,
    module_path,
    must_quote,
    parse_gomod,
    parse_syntax,
    short_message,
)
from goproxy_core.strconv import go_unquote

from support import VECTORS_DIR, load_vector

MODFILE = load_vector("modfile.json")
TESTDATA = VECTORS_DIR / "modfile-testdata"
GOLDEN = sorted(TESTDATA.glob("*.golden"))
INPUTS = sorted(TESTDATA.glob("*.in"))


def _ids(rows, key="desc"):
    return [f"{i}-{r[key]}" for i, r in enumerate(rows)]


def _fmt(data: str, file: str = "out") -> bytes:
    return format_gomod(parse_gomod(data.encode(), file=file, strict=True))


# ---------------------------------------------------------------------------------------------
# Golden files (TestPrintGolden, TestPrintParse)
# ---------------------------------------------------------------------------------------------


def _shape(f: FileSyntax) -> list[object]:
    """The tree without positions and comments (x/mod's eqchecker ignores both)."""
    out: list[object] = []
    for stmt in f.stmts:
        if isinstance(stmt, Line):
            out.append(("line", stmt.tokens, stmt.in_block))
        elif isinstance(stmt, LineBlock):
            out.append(("block", stmt.tokens, [(ln.tokens, ln.in_block) for ln in stmt.lines]))
        else:
            out.append("comments")
    return out


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_formats_to_itself(path):
    data = path.read_bytes()
    assert format_syntax(parse_syntax(data, path.name)) == data


@pytest.mark.parametrize("path", GOLDEN + INPUTS, ids=lambda p: p.name)
def test_print_parse(path):
    data = path.read_bytes()
    f = parse_syntax(data, path.name)
    ndata = format_syntax(f)
    assert _shape(parse_syntax(ndata, path.name)) == _shape(f)
    try:
        pf1 = parse_gomod(data, file=path.name, strict=True)
    except ModFileError:
        assert path.stem in ("block", "comment", "rule1")
    else:
        pf2 = parse_gomod(ndata, file=path.name, strict=True)
        assert pf2 == pf1
        ndata = format_gomod(pf1)
        assert parse_gomod(ndata, file=path.name, strict=True) == pf1
    if path.suffix == ".in":
        assert ndata == path.with_suffix(".golden").read_bytes()


# ---------------------------------------------------------------------------------------------
# Tables from modfile/read_test.go and rule_test.go
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row", MODFILE["parse_punctuation"], ids=_ids(MODFILE["parse_punctuation"])
)
def test_parse_punctuation(row):
    tokens: list[str] = []
    for stmt in parse_syntax(row["src"].encode()).stmts:
        assert isinstance(stmt, (Line, LineBlock))
        tokens += stmt.tokens
        if isinstance(stmt, LineBlock):
            tokens.append("(")
            for line in stmt.lines:
                tokens += line.tokens
            tokens.append(")")
    assert " ".join(tokens) == row["want_tokens"]


# Where laxOK is true but ok is false, x/mod's test only forbids nothing; these are the
# inputs ParseLax still rejects (the lax go-version pattern needs text after the minor).
LAX_STILL_FAILS = {"module m\ngo v1.2\n"}


@pytest.mark.parametrize("row", MODFILE["parse_versions"], ids=_ids(MODFILE["parse_versions"]))
def test_parse_versions(row):
    data = row["input"].encode()
    for strict, ok in ((True, row["ok"]), (False, row["ok"] or row["lax_ok"])):
        if row["input"] in LAX_STILL_FAILS and not strict:
            ok = False
        if ok:
            parse_gomod(data, strict=strict)
        else:
            with pytest.raises(ModFileDirectiveError):
                parse_gomod(data, strict=strict)


def test_lax_go_version_is_cut_to_major_minor():
    f = parse_gomod(b"module m\ngo v1.2.beta1\n")
    assert f.go is not None
    assert f.go.version == "1.2"
    assert format_gomod(f) == b"module m\n\ngo 1.2\n"


@pytest.mark.parametrize("row", MODFILE["module_path"], ids=_ids(MODFILE["module_path"], "input"))
def test_module_path(row):
    assert module_path(row["input"].encode()) == row["expected"]


@pytest.mark.parametrize(
    "row", MODFILE["retract_rationale"], ids=_ids(MODFILE["retract_rationale"])
)
def test_retract_rationale(row):
    f = parse_gomod(row["in"].encode(), file="in", strict=True)
    assert [(r.low, r.high, r.rationale) for r in f.retract] == [
        (r["low"], r["high"], r["rationale"]) for r in row["parsed_retract"]
    ]
    assert f.retract[0].rationale == row["want"]


@pytest.mark.parametrize(
    "row", MODFILE["module_deprecated"], ids=_ids(MODFILE["module_deprecated"])
)
def test_module_deprecated(row):
    for strict in (True, False):
        f = parse_gomod(row["in"].encode(), file="in", strict=strict)
        assert f.module is not None
        assert f.module.path == "m"
        assert f.module.deprecated == row["want"]


@pytest.mark.parametrize(
    "row", MODFILE["retract_parse_computed"], ids=_ids(MODFILE["retract_parse_computed"], "src")
)
def test_retract_parse_computed(row):
    data = row["src"].encode()
    if row["err"] is not None:
        with pytest.raises(ModFileDirectiveError) as info:
            parse_gomod(data, strict=row["strict"])
        assert str(info.value) == row["err"]
        assert (info.value.line, info.value.column, info.value.file) == (3, 1, "go.mod")
        return
    f = parse_gomod(data, strict=row["strict"])
    assert [(r.low, r.high, r.rationale) for r in f.retract] == [
        (r["low"], r["high"], r["rationale"]) for r in row["retract"] or []
    ]
    if "module" in row:
        assert f.module is not None
        assert f.module.path == row["module"]
        assert f.module.deprecated == row["deprecated"]
    else:
        assert f.module is None


@pytest.mark.parametrize("row", MODFILE["add_retract"], ids=_ids(MODFILE["add_retract"]))
def test_add_retract(row):
    f = parse_gomod(row["in"].encode(), file="in", strict=True)
    add_retract(f, row["low"], row["high"], row["rationale"])
    out = format_gomod(f)
    assert out == row["out_formatted"].encode()
    assert out == _fmt(row["out"])
    assert f.retract[-1].low == row["low"]
    assert f.retract[-1].high == row["high"]


@pytest.mark.parametrize("row", MODFILE["drop_retract"], ids=_ids(MODFILE["drop_retract"]))
def test_drop_retract(row):
    f = parse_gomod(row["in"].encode(), file="in", strict=True)
    drop_retract(f, row["low"], row["high"])
    out = format_gomod(f)
    assert out == row["out_formatted"].encode()
    assert out == _fmt(row["out"])
    assert all((r.low, r.high) != (row["low"], row["high"]) for r in f.retract)
    assert parse_gomod(out).retract == f.retract


@pytest.mark.parametrize(
    "row",
    MODFILE["add_retract_validate_version"],
    ids=_ids(MODFILE["add_retract_validate_version"]),
)
def test_add_retract_validate_version(row):
    f = parse_gomod(b"module " + auto_quote(row["module_path"]).encode(), strict=True)
    with pytest.raises(InvalidVersionError) as info:
        add_retract(f, row["low"], row["high"])
    assert str(info.value) == row["want_err"]


@pytest.mark.parametrize(
    "row",
    MODFILE["add_exclude_validate_version"],
    ids=_ids(MODFILE["add_exclude_validate_version"]),
)
def test_add_exclude_validate_version(row):
    f = parse_gomod(b"module m", file="in", strict=True)
    with pytest.raises(InvalidVersionError) as info:
        add_exclude(f, row["module_path"], row["version"])
    assert str(info.value) == row["want_err"]


def test_add_exclude_groups_same_path():
    f = parse_gomod(b"module m\n\nexclude x v1.0.0\n", strict=True)
    add_exclude(f, "x", "v1.0.0")  # present: nothing to do
    add_exclude(f, "x", "v1.1.0")
    add_exclude(f, "x v", "v1.2.0")
    assert format_gomod(f) == (
        b'module m\n\nexclude (\n\tx v1.0.0\n\tx v1.1.0\n\t"x v" v1.2.0\n)\n'
    )
    assert [(e.path, e.version) for e in f.exclude] == [
        ("x", "v1.0.0"),
        ("x", "v1.1.0"),
        ("x v", "v1.2.0"),
    ]
    add_exclude(f, "x", "v1.0.1")  # hint is a line inside the block
    assert b"\tx v1.1.0\n\tx v1.0.1\n" in format_gomod(f)


def test_add_exclude_after_line_of_other_verb():
    f = parse_gomod(b"module m\nrequire x v1.0.0\n", strict=True)
    add_exclude(f, "y", "v1.0.0")
    assert format_gomod(f) == b"module m\n\nrequire x v1.0.0\n\nexclude y v1.0.0\n"


def test_add_retract_on_empty_file_and_major_suffix():
    f = GoMod()
    add_retract(f, "v1.0.0", "v1.0.0", "one\ntwo")
    assert format_gomod(f) == b"// one\n// two\nretract v1.0.0\n"
    g = parse_gomod(b"module gopkg.in/x.v2\n", strict=True)
    with pytest.raises(InvalidVersionError, match=r"must be of the form v2\.2\.3"):
        add_retract(g, "v2", "v2")


def test_drop_retract_collapses_block_with_comments():
    f = parse_gomod(
        b"module m\n\n// b\nretract ( // lp\n\t// a\n\tv1.0.0 // x\n\tv1.1.0\n)\n", strict=True
    )
    drop_retract(f, "v1.1.0", "v1.1.0")
    assert format_gomod(f) == b"module m\n\n// b\n// a\nretract v1.0.0 // x\n"
    assert parse_gomod(format_gomod(f), strict=True).retract[0].rationale == "b\na\nx"


@pytest.mark.parametrize("row", MODFILE["fix_version"], ids=_ids(MODFILE["fix_version"]))
def test_fix_version(row):
    def fix_v(path: str, version: str) -> str:
        if path != "example.com/m":
            raise ValueError("module path must be example.com/m")
        return "v" + version

    if row["want_err"]:
        with pytest.raises(ModFileDirectiveError) as info:
            parse_gomod(row["in"].encode(), file="in", strict=True, fix=fix_v)
        assert row["want_err"] in str(info.value)
        return
    got = format_gomod(parse_gomod(row["in"].encode(), file="in", strict=True, fix=fix_v))
    assert got == _fmt(row["want"])


def test_fixer_errors():
    def bad_path(path: str, version: str) -> str:
        raise InvalidVersionError(version, "nope", path=path)

    def bad(path: str, version: str) -> str:
        raise InvalidVersionError(version, "nope")

    data = b"module example.com/m\nrequire x 1.0.0\nretract 1.0.0\n"
    with pytest.raises(ModFileDirectiveError) as info:
        parse_gomod(data, strict=True, fix=bad_path)
    assert str(info.value) == (
        'go.mod:2: require x: version "1.0.0" invalid: nope\n'
        'go.mod:3: retract example.com/m: version "1.0.0" invalid: nope'
    )
    with pytest.raises(ModFileDirectiveError) as info:
        parse_gomod(data, strict=True, fix=bad)
    assert str(info.value).splitlines()[0] == 'go.mod:2: version "1.0.0" invalid: nope'


@pytest.mark.parametrize(
    "row", MODFILE["auto_quote_computed"], ids=_ids(MODFILE["auto_quote_computed"], "in")
)
def test_auto_quote(row):
    assert auto_quote(row["in"]) == row["auto_quote"]
    assert must_quote(row["in"]) is row["must_quote"]
    assert legacy_go_mod(row["in"]) == row["legacy_go_mod"].encode()
    parsed = parse_gomod(legacy_go_mod(row["in"]), strict=True).module
    assert parsed is not None
    assert parsed.path == row["in"]


@pytest.mark.parametrize(
    ("s", "want"),
    [
        ("(", False),
        ("a\u00a0b", True),
        ("a/*b", True),
        ("a\udcffb", False),
        ("é", False),
        ("é x", True),
        ("é(", True),
        ("é//", True),
    ],
)
def test_must_quote_edges(s, want):
    assert must_quote(s) is want


# ---------------------------------------------------------------------------------------------
# Error texts and positions (checked against x/mod ParseLax/Parse output)
# ---------------------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    (b"a/*b\n", "go.mod:1:2: mod files must use // comments (not /* */ comments)"),
    (b"a /*\n", "go.mod:1:3: mod files must use // comments (not /* */ comments)"),
    (b"a\x0bb\n", "go.mod:1:2: unexpected input character '\\v'"),
    (b"a\x7f\n", "go.mod:1:2: unexpected input character '\\x7f'"),
    (b"\x00", "go.mod:1: unexpected input character '\\x00'"),
    (b"x\x01", "go.mod:1:2: unexpected input character '\\x01'"),
    (b"\xc2\xa0x", "go.mod:1: unexpected input character '\\u00a0'"),
    ("x\U000e0001".encode(), "go.mod:1:2: unexpected input character '\\U000e0001'"),
    (b"\xe2\x80\xa8", "go.mod:1: unexpected input character '\\u2028'"),
    (b"`abc\n", "go.mod:1:5: unexpected newline in string"),
    (b'"abc', "go.mod:1: unexpected EOF in string"),
    (b'x "abc\\', "go.mod:1:3: unexpected EOF in string"),
    (b'x "a\\\nb\nc', "go.mod:2:2: unexpected newline in string"),
    (
        b"module m\nrequire (\n x v1.0.0\n",
        "go.mod:4: syntax error (unterminated block started at go.mod:2:1)",
    ),
    (b"require (\n) x\n", "go.mod:2:4: syntax error (expected newline after closing paren)"),
    (b"require (\n)/*\n", "go.mod:2:2: mod files must use // comments (not /* */ comments)"),
]


@pytest.mark.parametrize(("data", "want"), SYNTAX_ERRORS)
def test_syntax_errors(data, want):
    for strict in (True, False):
        with pytest.raises(ModFileSyntaxError) as info:
            parse_gomod(data, strict=strict)
        assert str(info.value) == want
        assert error_status(info.value) == 502
        entry = info.value.entries[0]
        assert (info.value.line, info.value.column) == (entry.line, entry.column)


STRICT_ERRORS = [
    (
        b"module m\nrequire x/v2 v1.0.0\n",
        'go.mod:2: require x/v2: version "v1.0.0" invalid: should be v2, not v1',
    ),
    (b"module m\nrequire x/v1 v1.0.0\n", "go.mod:2: invalid module path"),
    (b"module m\nrequire x\n", "go.mod:2: usage: require module/path v1.2.3"),
    (
        b"module m\nrequire x v1\\\n",
        'go.mod:2: require x: version "v1\\\\" invalid: must be of the form v1.2.3',
    ),
    (
        b'module m\nrequire x "v1\\x"\n',
        'go.mod:2: require x: version "\\"v1\\\\x\\"" invalid: invalid syntax',
    ),
    (
        b"module m\nrequire x' v1.0.0\n",
        "go.mod:2: invalid quoted string: unquoted string cannot contain quote",
    ),
    (b"module `m`\n", "go.mod:1: invalid quoted string: unquoted string cannot contain quote"),
    (b"module\n", "go.mod:1: usage: module module/path"),
    (b"module m\nmodule n\n", "go.mod:2: repeated module statement"),
    (b"module m\ngo 1.21\ngo 1.22\n", "go.mod:3: repeated go statement"),
    (b"module m\ngo 1 2\n", "go.mod:2: go directive expects exactly one argument"),
    (b"module m\ntoolchain go1.2\ntoolchain go1.3\n", "go.mod:3: repeated toolchain statement"),
    (b"module m\ntoolchain\n", "go.mod:2: toolchain directive expects exactly one argument"),
    (
        b"module m\ntoolchain x\n",
        "go.mod:2: invalid toolchain version 'x': must match format go1.23.0 or default",
    ),
    (b"module m\ngodebug x\n", "go.mod:2: usage: godebug key=value"),
    (b"module m\ngodebug a='b'\n", "go.mod:2: usage: godebug key=value"),
    (b"module m\ngodebug a=b c\n", "go.mod:2: usage: godebug key=value"),
    (b"module m\ntool a b\n", "go.mod:2: tool directive expects exactly one argument"),
    (b"module m\nignore\n", "go.mod:2: ignore directive expects exactly one argument"),
    (b"module m\nretract v1.0.0 v1.0.1\n", 'go.mod:2: unexpected token after version: "v1.0.1"'),
    (b"module m\nretract [v1.0.0\n", "go.mod:2: expected ',' after version"),
    (b"module m\nretract [\n", "go.mod:2: expected version after '['"),
    (b"module m\nretract [v1.0.0,\n", "go.mod:2: expected version after ','"),
    (b"module m\nretract [v1.0.0, v1.0.1\n", "go.mod:2: expected ']' after version"),
    (b"module m\nretract\n", "go.mod:2: expected '[' or version"),
    (
        b'module m\nretract "v1\\x"\n',
        'go.mod:2: retract: version "\\"v1\\\\x\\"" invalid: invalid syntax',
    ),
    (b"module m\nfoo bar\n", "go.mod:2: unknown directive: foo"),
    (b"module m\ngo (\n 1.21\n)\n", "go.mod:2: unknown block type: go"),
    (b"module m\nrequire x (\n y\n)\n", "go.mod:2: unknown block type: require x"),
    (
        b"module m\nrequire (\n\tx/v2 v1.0.0\n)\n",
        'go.mod:3:2: require x/v2: version "v1.0.0" invalid: should be v2, not v1',
    ),
    (
        b"module m\nreplace a\n",
        "go.mod:2: usage: replace module/path [v1.2.3] => other/module v1.4\n"
        "\t or replace module/path [v1.2.3] => ../local/directory",
    ),
    (
        b"module m\nreplace a => b\n",
        "go.mod:2: replacement module without version must be directory path "
        "(rooted or starting with . or ..)",
    ),
    (
        b"module m\nreplace a => b@v1.0.0\n",
        "go.mod:2: replacement module must match format 'path version', not 'path@version'",
    ),
    (
        b"module m\nreplace a => .\\b\n",
        "go.mod:2: replacement directory appears to be Windows path (on a non-windows system)",
    ),
    (
        b"module m\nreplace a => ./x v1.0.0\n",
        'go.mod:2: replacement module directory path "./x" cannot have version',
    ),
    (b"module m\nreplace a/v1 => ./x\n", "go.mod:2: replace a/v1: invalid module path"),
    (
        b"module m\nreplace a/v2 v1.0.0 => ./x\n",
        'go.mod:2: replace a/v2: version "v1.0.0" invalid: should be v2, not v1',
    ),
    (
        b"module m\nreplace a v1 => b v1.x\n",
        'go.mod:2: replace b: version "v1.x" invalid: must be of the form v1.2.3',
    ),
    (
        b"module m\nexclude x v2.0.0\n",
        'go.mod:2: exclude x: version "v2.0.0" invalid: should be v0 or v1, not v2',
    ),
]


@pytest.mark.parametrize(("data", "want"), STRICT_ERRORS)
def test_strict_directive_errors(data, want):
    with pytest.raises(ModFileDirectiveError) as info:
        parse_gomod(data, strict=True)
    assert str(info.value) == want


def test_errors_are_all_reported_in_order():
    data = b"module m\nfoo\nrequire x\n"
    with pytest.raises(ModFileDirectiveError) as info:
        parse_gomod(data, strict=True)
    assert [e.line for e in info.value.entries] == [2, 3]
    assert str(info.value) == (
        "go.mod:2: unknown directive: foo\ngo.mod:3: usage: require module/path v1.2.3"
    )


def test_lax_ignores_what_dependencies_may_contain():
    # x/mod TestParseLax
    data = b"""module m
		surprise attack
		x y (
			z
		)
		exclude v1.2.3
		replace <-!!!
		retract v1.2.3 v1.2.4
		retract (v1.2.3, v1.2.4]
		retract v1.2.3 (
			key1 value1
			key2 value2
		)
		require good v1.0.0
	"""
    f = parse_gomod(data, file="file")
    assert f.module is not None
    assert f.module.path == "m"
    assert [(r.path, r.version) for r in f.require] == [("good", "v1.0.0")]
    assert [(r.low, r.high) for r in f.retract] == [("v1.2.3", "v1.2.3")]
    with pytest.raises(ModFileDirectiveError):
        parse_gomod(data, file="file", strict=True)


def test_lax_still_checks_what_it_reads():
    with pytest.raises(ModFileDirectiveError, match="usage: require"):
        parse_gomod(b"module m\nrequire x\n")
    with pytest.raises(ModFileDirectiveError, match="ignore directive"):
        parse_gomod(b"module m\nignore\n")


def test_all_directives():
    data = b"""// Deprecated: use n
module "example.com/m"

go 1.23.0
toolchain go1.23.1
godebug (
	default=go1.21
	panicnil=1
)
require (
	golang.org/x/text v0.3.0 // indirect
	example.com/a v1.2 // indirect; reason
	example.com/b v1.0.0 //indirect
)
exclude example.com/a v1.1.0
replace example.com/a => ../a
replace example.com/b v1.0.0 => example.com/c v1.0.1
retract [v1.0.0, v1.0.5] // broken
tool example.com/m/cmd
ignore ./node_modules
"""
    f = parse_gomod(data, strict=True)
    assert f.module is not None
    assert (f.module.path, f.module.deprecated) == ("example.com/m", "use n")
    assert f.go is not None
    assert f.go.version == "1.23.0"
    assert f.toolchain is not None
    assert f.toolchain.name == "go1.23.1"
    assert [(g.key, g.value) for g in f.godebug] == [("default", "go1.21"), ("panicnil", "1")]
    assert [(r.path, r.version, r.indirect) for r in f.require] == [
        ("golang.org/x/text", "v0.3.0", True),
        ("example.com/a", "v1.2.0", True),
        ("example.com/b", "v1.0.0", True),
    ]
    assert [(x.path, x.version) for x in f.exclude] == [("example.com/a", "v1.1.0")]
    assert [(r.old_path, r.old_version, r.new_path, r.new_version) for r in f.replace] == [
        ("example.com/a", "", "../a", ""),
        ("example.com/b", "v1.0.0", "example.com/c", "v1.0.1"),
    ]
    assert [(r.low, r.high, r.rationale) for r in f.retract] == [("v1.0.0", "v1.0.5", "broken")]
    assert [t.path for t in f.tool] == ["example.com/m/cmd"]
    assert [i.path for i in f.ignore] == ["./node_modules"]
    out = format_gomod(f)
    assert b"module example.com/m\n" in out  # quotes dropped, as x/mod rewrites tokens
    assert b"example.com/a v1.2.0 // indirect; reason" in out
    lax = parse_gomod(data)
    assert lax.toolchain is None
    assert lax.godebug == lax.exclude == lax.replace == lax.tool == []
    assert lax.require == f.require
    assert lax.ignore == f.ignore


def test_is_directory_path():
    for p in (".", "..", "./a", ".\\a", "../a", "..\\a", "/a", "\\a", "c:", "Z:\\x"):
        assert is_directory_path(p), p
    for p in ("a", "a/b", ".a", "1:", "é:"):
        assert not is_directory_path(p), p


# ---------------------------------------------------------------------------------------------
# Syntax details
# ---------------------------------------------------------------------------------------------


def test_comment_attachment():
    data = (
        b"// top\n\n// a\nmodule m // eol\n\nrequire ( // lp\n"
        b"\t// b\n\tx v1.0.0 // c\n\n\t// tail\n) // rp\n// end\n"
    )
    f = parse_syntax(data)
    top, module, block, end = f.stmts
    assert isinstance(top, CommentBlock)
    assert [c.token for c in top.before] == ["// top"]
    assert isinstance(module, Line)
    assert [c.token for c in module.before] == ["// a"]
    assert [c.token for c in module.suffix] == ["// eol"]
    assert module.start.line == 4
    assert isinstance(block, LineBlock)
    assert [c.token for c in block.lparen.suffix] == ["// lp"]
    assert [c.token for c in block.lines[0].before] == ["// b"]
    assert [c.token for c in block.lines[0].suffix] == ["// c"]
    assert [c.token for c in block.rparen.before] == ["", "// tail"]
    assert [c.token for c in block.rparen.suffix] == ["// rp"]  # the block spans lines
    assert isinstance(end, CommentBlock)
    # As x/mod prints it: comments before ")" sit at the outer margin.
    assert format_syntax(f) == (
        b"// top\n\n// a\nmodule m // eol\n\nrequire ( // lp\n"
        b"\t// b\n\tx v1.0.0 // c\n\n// tail\n) // rp\n\n// end\n"
    )


def test_crlf_and_unicode_columns():
    data = "module m\r\n// c\r\nrequire é v1.0.0 // x\r\n".encode()
    f = parse_syntax(data)
    line = f.stmts[1]
    assert isinstance(line, Line)
    assert [c.token for c in line.before] == ["// c"]
    assert [c.token for c in line.suffix] == ["// x"]
    assert line.end.column == len("require é v1.0.0") + 1
    assert format_syntax(f) == b"module m\n\n// c\nrequire \xc3\xa9 v1.0.0 // x\n"
    with pytest.raises(ModFileSyntaxError, match=r"^go.mod:1:3: unexpected"):
        parse_syntax("éé\x00".encode()[:4] + b"\x00")


def test_invalid_utf8_is_kept_byte_for_byte():
    data = b"module m\xff\n"
    f = parse_gomod(data, strict=True)
    assert f.module is not None
    assert f.module.path == "m\udcff"
    assert format_gomod(f) == data
    assert module_path(data) == "m\udcff"


def test_string_escapes_spanning_lines():
    f = parse_syntax(b'x "a\\\nb" // c\ny\n')
    first, second = f.stmts
    assert isinstance(first, Line)
    assert first.tokens == ["x", '"a\\\nb"']
    assert [c.token for c in first.suffix] == []
    assert [c.token for c in f.before] == ["// c"]  # the line spans two lines
    assert isinstance(second, Line)
    assert second.start.line == 3


@pytest.mark.parametrize(
    ("quoted", "want"),
    [
        ('"abc"', "abc"),
        ("`a\\b`", "a\\b"),
        ('"\\a\\b\\f\\n\\r\\t\\v\\\\\\""', '\a\b\f\n\r\t\v\\"'),
        ('"\\x41\\u00e9\\U0001F600\\101"', "A\u00e9\U0001f600A"),
        ('"\\xff"', "\udcff"),
        ('"\\xc3\\xa9"', "\u00e9"),
        ('"\\ud800"', "\ufffd"),
        ('"\udcff\\x41"', "\ufffdA"),
        ('"\udcff"', "\udcff"),
    ],
)
def test_go_unquote(quoted, want):
    assert go_unquote(quoted) == want


@pytest.mark.parametrize(
    "bad",
    [
        '"',
        "x",
        '"a',
        "`a`b`",
        "'a'",
        '"a\nb"',
        '"a"b"',
        '"\\"',
        '"\\q"',
        '"\\x4"',
        '"\\xzz"',
        '"\\U00110000"',
        '"\\400"',
        '"\\18"',
        '"\\1"',
        '"\\\'"',
    ],
)
def test_go_unquote_rejects(bad):
    with pytest.raises(ValueError, match="invalid syntax"):
        go_unquote(bad)


def test_error_entry_text_without_position():
    assert str(ModFileErrorEntry("f", 0, 0, "m")) == "f: m"
    assert str(ModFileErrorEntry("", 0, 0, "m", "retract")) == "retract: m"
    assert str(ModFileErrorEntry("f", 2, 1, "m", "require", "x")) == "f:2: require x: m"


# ---------------------------------------------------------------------------------------------
# Quick helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"module m\ngo 1.24\n", "1.24"),
        (b"module m\n\tgo 1.21rc1 // c\n", "1.21rc1"),
        (b"module m\ngo v1.22.1\n", "1.22"),
        (b"module m\n", ""),
        (b"module m\ngovern x\n", ""),
        (b"module m\ngo 1.24\nrequire x\n", ""),  # any error: no version, as x/mod's zip
        (b"module m\ngo 1\n", ""),
        (b"module m\ngo 1.21\nexclude bad\n", "1.21"),  # lax: exclude is not read
    ],
)
def test_go_version(data, want):
    assert go_version(data) == want


@pytest.mark.parametrize(
    ("message", "want"),
    [
        ("", "dflt"),
        ("  \n second", "dflt"),
        ("  first line \nsecond", "first line"),
        ("x" * 500, "x" * 500),
        ("x" * 501, "(message omitted: too long)"),
        ("é" * 251, "(message omitted: too long)"),
        ("a\x00b", "(message omitted: contains non-printable characters)"),
        ("a\u200bb", "(message omitted: contains non-printable characters)"),
        ("a\u00a0b\u3000c\tz", "a\u00a0b\u3000c\tz"),
        ("a\udcffb", "a\udcffb"),
    ],
)
def test_short_message(message, want):
    assert short_message(message, "dflt") == want


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_paths = st.sampled_from(["example.com/m", "x", "a/b/v2", "gopkg.in/y.v1", '"q r"', "c"])
_versions = st.sampled_from(["v1.0.0", "v1.2.3", "v0.1.0-pre", "v1.2", "v2.0.0+incompatible"])
_comments = st.sampled_from(["", "", " // indirect", " // why", " //", " // Deprecated: d"])
_retract_args = st.one_of(_versions, st.builds(lambda a, b: f"[{a}, {b}]", _versions, _versions))


def _stmt(verb: str, args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    line = st.builds(lambda a, c: f"{a}{c}", args, _comments)
    before = st.sampled_from(["", "// above\n", "// a\n//\n// b\n"])
    single = st.builds(lambda b, ln: f"{b}{verb} {ln}\n", before, line)
    block = st.builds(
        lambda b, c, lines: f"{b}{verb} ({c}\n" + "".join(f"\t{ln}\n" for ln in lines) + ")\n",
        before,
        _comments,
        st.lists(st.one_of(line, st.just(""), st.just("// in block")), max_size=4),
    )
    return st.one_of(single, block)


_gomod_texts = st.builds(
    lambda mod, go, rest, sep: mod + go + sep.join(rest),
    st.builds(
        lambda b, p, c: f"{b}module {p}{c}\n",
        st.sampled_from(["", "// Deprecated: x\n"]),
        _paths,
        _comments,
    ),
    st.sampled_from(["", "go 1.21\n", "go 1.22.1 // lang\n"]),
    st.lists(
        st.one_of(
            _stmt("require", st.builds(lambda p, v: f"{p} {v}", _paths, _versions)),
            _stmt("retract", _retract_args),
            _stmt("exclude", st.builds(lambda p, v: f"{p} {v}", _paths, _versions)),
            st.just("// loose comment\n"),
        ),
        max_size=6,
    ),
    st.sampled_from(["", "\n", "\n\n"]),
)


@settings(max_examples=300, deadline=None)
@given(_gomod_texts)
def test_format_then_parse_gives_same_structure(text):
    data = text.encode()
    try:
        f = parse_gomod(data, strict=True)
    except ModFileDirectiveError:
        return  # e.g. a v2 version without +incompatible; x/mod rejects it too
    out = format_gomod(f)
    g = parse_gomod(out, strict=True)
    assert g == f
    assert format_gomod(g) == out
    assert parse_gomod(data) == parse_gomod(out)


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=200)
    | st.text(alphabet=' \t\r\n()[]{},/*"`\\amv1.0x\x00\xa0é', max_size=60).map(str.encode)
)
def test_parser_raises_only_modfile_errors(data):
    for strict in (True, False):
        error: ModFileError | None = None
        try:
            f = parse_gomod(data, strict=strict)
        except ModFileError as e:
            error = e
        else:
            assert isinstance(format_gomod(f), bytes)
        if error is not None:
            assert error.entries
            assert str(error).startswith("go.mod")
    module_path(data)
    go_version(data)


# ---------------------------------------------------------------------------------------------
# Rarely taken paths (outputs checked against x/mod ParseLax + Format)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "want"),
    [
        # A two-line statement cannot take the comment: it goes before the file...
        (b'foo "x\\\ny" // c2\nmodule m\n', b'// c2\nfoo "x\\\ny"\n\nmodule m\n'),
        # ... or to the last one-line statement before it, after that line's own comment.
        (b'module m // c1\nfoo "x\\\ny" // c2\n', b'module m // c1\n// c2\n\nfoo "x\\\ny"\n'),
    ],
)
def test_suffix_comments_after_multiline_statements(data, want):
    assert format_gomod(parse_gomod(data)) == want


def test_fixer_raising_other_errors():
    def broken(path: str, version: str) -> str:
        raise ValueError("cannot fix")

    with pytest.raises(ModFileDirectiveError) as info:
        parse_gomod(b"module m\nrequire x 1.0.0\n", strict=True, fix=broken)
    assert str(info.value) == "go.mod:2: cannot fix"


def test_add_exclude_for_path_with_bad_major_suffix():
    f = parse_gomod(b"module m\n", strict=True)
    add_exclude(f, "x/v1", "v1.0.0")  # SplitPathVersion fails: no major check, as in x/mod
    assert format_gomod(f) == b"module m\n\nexclude x/v1 v1.0.0\n"


def test_add_line_hints():
    f = parse_syntax(b"module m\nrequire (\n\ta v1.0.0\n\tb v1.0.0\n)\n")
    module, block = f.stmts
    assert isinstance(module, Line)
    assert isinstance(block, LineBlock)
    after_module = add_line(f, module, ["go", "1.21"])
    assert f.stmts[1] is after_module
    after_block_line = add_line(f, block.lines[0], ["toolchain", "go1.21"])
    assert f.stmts[3] is after_block_line
    inside = add_line(f, block.lines[0], ["require", "c", "v1.0.0"])
    assert block.lines[1] is inside
    at_block = add_line(f, block, ["require", "d", "v1.0.0"])
    assert block.lines[-1] is at_block
    assert format_syntax(f) == (
        b"module m\n\ngo 1.21\n\nrequire (\n\ta v1.0.0\n\tc v1.0.0\n\tb v1.0.0\n\td v1.0.0\n)\n"
        b"\ntoolchain go1.21\n"
    )
    assert add_line(f, Line(tokens=["x"]), ["y"]) is f.stmts[-1]  # unknown hint: append


def test_cleanup_keeps_comment_blocks_and_big_blocks():
    f = parse_gomod(
        b"// loose\n\nmodule m\n\nretract (\n\tv1.0.0\n\tv1.1.0\n\tv1.2.0\n)\n\nretract v1.3.0\n",
        strict=True,
    )
    drop_retract(f, "v1.1.0", "v1.1.0")
    drop_retract(f, "v1.3.0", "v1.3.0")
    assert format_gomod(f) == b"// loose\n\nmodule m\n\nretract (\n\tv1.0.0\n\tv1.2.0\n)\n"
