"""The warm planner: go.sum, module@version, go.work parsing; Go versions; the module graph.

The go command itself judges the graph in tests/gocmd/test_warm_go.py; here each rule is
pinned on its own, with no I/O: the planning flow's ``ReadGoMod`` asks are answered from a
dict.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core.proxy.targets import FileKind
from goproxy_core.proxy.warm import (
    TOOLCHAIN_MODULE,
    GoWork,
    ReadGoMod,
    WarmInputError,
    WarmItem,
    WarmPlan,
    go_compare,
    merge,
    parse_gosum,
    parse_gowork,
    parse_module_arg,
    plan_gomod,
    plan_workspace,
    toolchain_item,
)

# go.sum ----------------------------------------------------------------------------------


def test_gosum_lines_zip_and_gomod_only():
    data = (
        b"example.com/a v1.0.0 h1:aaa=\n"
        b"example.com/a v1.0.0/go.mod h1:bbb=\n"
        b"\n   \n"
        b"example.com/b v1.1.0/go.mod h1:ccc=\r\n"
        b"example.com/c v0.0.0-20240102030405-abcdefabcdef h1:ddd="
    )
    assert parse_gosum(data) == [
        WarmItem("example.com/a", "v1.0.0", True),
        WarmItem("example.com/b", "v1.1.0", False),
        WarmItem("example.com/c", "v0.0.0-20240102030405-abcdefabcdef", True),
    ]


def test_gosum_old_empty_gomod_hash_is_dropped():
    line = b"example.com/a v1.0.0/go.mod h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=\n"
    assert parse_gosum(line) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"example.com/a v1.0.0\n", "malformed go.sum: go.sum:1: wrong number of fields 2"),
        (b"\nexample.com/a v1.0.0 h1:x= extra\n", "go.sum:2: wrong number of fields 4"),
        (b"Example..com v1.0.0 h1:x=\n", "go.sum:1: "),
        (b"example.com/a v1.0 h1:x=\n", "go.sum:1: "),
        (b"example.com/a v2.0.0 h1:x=\n", "go.sum:1: "),
        (b"\xff\xfe v1.0.0 h1:x=\n", "not UTF-8"),
    ],
)
def test_gosum_errors_name_the_line(data, message):
    with pytest.raises(WarmInputError, match=message.replace(".", r"\.")):
        parse_gosum(data)


_PATHS = st.sampled_from(["example.com/a", "example.com/b/v2", "golang.test/x/y", "a.test/Up"])
_VERSIONS = st.sampled_from(
    ["v1.0.0", "v1.3.4", "v0.0.0-20240102030405-abcdefabcdef", "v1.2.3-rc.1"]
)


def _valid(path: str, version: str) -> str:
    """A version valid for the path: v2.x for a /v2 path, v0 or v1 otherwise."""
    if path.endswith("/v2"):
        return "v2." + version.split(".", 1)[1] if version.startswith("v1.") else "v2.0.0"
    return version


@given(
    st.lists(st.tuples(_PATHS, _VERSIONS, st.booleans()), max_size=20),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([" ", "\t", "  "]),
)
def test_gosum_parse_is_the_union_of_its_lines(entries, eol, sep):
    entries = [(p, _valid(p, v), z) for p, v, z in entries]
    text = ""
    for p, v, z in entries:
        text += sep.join([p, v if z else v + "/go.mod", "h1:abc="]) + eol
    got = parse_gosum(text.encode())
    assert got == merge(WarmItem(p, v, z) for p, v, z in entries)
    assert got == sorted(set(got))
    # Each module version once; its zip is fetched if any line names the zip.
    for it in got:
        assert it.zip == any(z for p, v, z in entries if (p, v) == (it.module, it.version))


@given(st.binary(max_size=200))
def test_gosum_never_fails_but_with_warm_input_error(data):
    with contextlib.suppress(WarmInputError):
        parse_gosum(data)


def test_item_requests():
    (mod,) = WarmItem("example.com/Up", "v1.0.0", False).requests()
    assert (mod.kind, mod.escaped, mod.canonical) == (FileKind.MOD, "example.com/!up", True)
    kinds = [r.kind for r in WarmItem("example.com/a", "v1.0.0", True).requests()]
    assert kinds == [FileKind.INFO, FileKind.MOD, FileKind.ZIP]


def test_module_arg():
    assert parse_module_arg("example.com/a@v1.2.3") == WarmItem("example.com/a", "v1.2.3", True)
    for bad in ("example.com/a", "@v1.0.0", "example.com/a@", "example.com/a@latest"):
        with pytest.raises(WarmInputError):
            parse_module_arg(bad)


# Go versions and the toolchain ------------------------------------------------------------

ORDERED = [
    "bad",
    "1.2",
    "1.9",
    "1.19",
    "1.20",
    "1.20.1",
    "1.21",
    "1.21rc1",
    "1.21rc2",
    "1.21.0",
    "1.21.1rc1",
    "1.21.1",
    "1.21.10",
    "1.22beta1",
    "1.22",
    "2",
]


def test_go_compare_order():
    for i, x in enumerate(ORDERED):
        for j, y in enumerate(ORDERED):
            want = (i > j) - (i < j)
            if {x, y} == {"1.22beta1", "1.22"}:
                want = 1 if x == "1.22beta1" else -1  # kind "" < "beta" for a language version
            assert go_compare(x, y) == want, (x, y)
    assert go_compare("1.20", "1.20.0") == 0
    assert go_compare("1", "1.0.0") == 0
    for bad in ("", "01.2", "1.02", "1.x", "1.21.", "1.21rc01", "1.21-rc1", "1.21RC1", "1.21.1X1"):
        assert go_compare(bad, "bad") == 0, bad


_GOV = st.from_regex(r"\A1\.(1[0-9]|2[0-9])(\.[0-9]|rc[12]|beta1)?\Z")


@given(_GOV, _GOV, _GOV)
def test_go_compare_is_an_order(x, y, z):
    assert go_compare(x, y) == -go_compare(y, x)
    if go_compare(x, y) <= 0 and go_compare(y, z) <= 0:
        assert go_compare(x, z) <= 0


def _tc(go, tc, local="1.22.3"):
    item = toolchain_item(go, tc, local=local, goos="linux", goarch="arm64")
    return None if item is None else item.version


def test_toolchain_selection():
    assert _tc("1.21", None) is None  # older than the local Go
    assert _tc("1.22.3", None) is None
    assert _tc("1.23", None) == "v0.0.1-go1.23.0.linux-arm64"  # a language version: its .0
    assert _tc("1.23rc1", None) == "v0.0.1-go1.23rc1.linux-arm64"
    assert _tc("1.22.4", None) == "v0.0.1-go1.22.4.linux-arm64"
    assert _tc("1.21", "go1.23.1") == "v0.0.1-go1.23.1.linux-arm64"
    assert _tc("1.24", "go1.23.1") == "v0.0.1-go1.24.0.linux-arm64"  # go beats toolchain
    assert _tc("1.21", "default") is None
    assert _tc("1.21", "go1.21.0") is None
    assert _tc(None, "corp-go1.25.0") == "v0.0.1-corp-go1.25.0.linux-arm64"
    assert _tc(None, "corp-x1.25.0") is None  # not a toolchain name
    assert _tc(None, "gox") is None
    assert _tc("1.19", None, local="1.18") == "v0.0.1-go1.19.linux-arm64"  # before 1.21: no .0
    item = toolchain_item("1.30", None, local="1.22", goos="darwin", goarch="amd64")
    assert item == WarmItem(TOOLCHAIN_MODULE, "v0.0.1-go1.30.0.darwin-amd64", True)


# go.work ------------------------------------------------------------------------------------


def test_gowork():
    data = (
        b"go 1.22\n"
        b"toolchain go1.23.0\n"
        b"godebug default=go1.21\n"
        b"use ./one\n"
        b'use (\n\t./two\n\t"./three four"\n)\n'
        b"replace example.com/a v1.0.0 => ../a\n"
        b"replace (\n\texample.com/b => example.com/c v1.2.0\n)\n"
    )
    w = parse_gowork(data)
    assert (w.go, w.toolchain, w.use) == ("1.22", "go1.23.0", ("./one", "./two", "./three four"))
    assert [(r.old_path, r.old_version, r.new_path, r.new_version) for r in w.replace] == [
        ("example.com/a", "v1.0.0", "../a", ""),
        ("example.com/b", "", "example.com/c", "v1.2.0"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"module example.com/x\n",
        b"use ./a ./b\n",
        b"replace example.com/a v1.0.0\n",
        b"replace a b c d => e\n",
        b'use "unterminated\n',
        b'use "\\q"\n',
        b"use (\n",
    ],
)
def test_gowork_errors(data):
    with pytest.raises(WarmInputError):
        parse_gowork(data, "w/go.work")


# The module graph -------------------------------------------------------------------------


def _run(flow, mods, dirs=None, waves=None):
    asked: list[ReadGoMod] = []
    answers = None
    while True:
        try:
            wave = flow.send(answers)
        except StopIteration as stop:
            plan: WarmPlan = stop.value
            return plan, asked
        assert wave and len(set(wave)) == len(wave)  # a wave asks each go.mod once
        if waves is not None:
            waves.append(wave)
        asked += wave
        answers = tuple(
            (dirs or {}).get((ask.main_dir, ask.dir), "no such directory")
            if ask.dir
            else mods.get((ask.module, ask.version), "404 not found")
            for ask in wave
        )


def _m(path, body=""):
    return f"module {path}\n\n{body}".encode()


GRAPH = {
    ("x.test/a", "v1.0.0"): _m(
        "x.test/a", "go 1.21\n\nrequire x.test/b v1.1.0\nrequire x.test/c v1.0.0\n"
    ),
    ("x.test/b", "v1.1.0"): _m("x.test/b", "go 1.21\n\nrequire x.test/e v1.0.0\n"),
    ("x.test/c", "v1.0.0"): _m("x.test/c", "require x.test/d v1.0.0\n"),
    ("x.test/d", "v1.0.0"): _m("x.test/d", "require x.test/e v1.1.0\nrequire x.test/main v1.0.0\n"),
    ("x.test/e", "v1.0.0"): _m("x.test/e", "go 1.21\n"),
    ("x.test/e", "v1.1.0"): _m("x.test/e", "go 1.21\n"),
}


def _items(plan):
    return {(i.module, i.version, i.zip) for i in plan.items}


def test_pruned_main_module_reads_roots_and_unpruned_deps():
    main = b"module x.test/main\n\ngo 1.21\n\nrequire x.test/a v1.0.0\n"
    plan, asked = _run(plan_gomod(main), GRAPH)
    assert {(a.module, a.version) for a in asked} == {
        ("x.test/a", "v1.0.0"),
    }
    assert _items(plan) == {("x.test/a", "v1.0.0", True)}
    assert plan.failures == ()


def test_unpruned_main_module_reads_everything_and_downloads_the_build_list():
    main = b"module x.test/main\n\nrequire x.test/a v1.0.0\n"
    waves: list = []
    plan, _ = _run(plan_gomod(main), GRAPH, waves=waves)
    # Breadth first, a wave at a time, each go.mod once.
    assert [[(a.module, a.version) for a in w] for w in waves] == [
        [("x.test/a", "v1.0.0")],
        [("x.test/b", "v1.1.0"), ("x.test/c", "v1.0.0")],
        [("x.test/d", "v1.0.0"), ("x.test/e", "v1.0.0")],
        [("x.test/e", "v1.1.0")],
    ]
    assert _items(plan) == {
        ("x.test/a", "v1.0.0", True),
        ("x.test/b", "v1.1.0", True),
        ("x.test/c", "v1.0.0", True),
        ("x.test/d", "v1.0.0", True),
        ("x.test/e", "v1.0.0", False),  # read for the graph, not selected
        ("x.test/e", "v1.1.0", True),
    }


def test_pruned_roots_with_an_unpruned_one():
    main = (
        b"module x.test/main\n\ngo 1.21\n\nrequire (\n\tx.test/a v1.0.0\n\tx.test/b v1.1.0\n"
        b"\tx.test/c v1.0.0\n)\n"
    )
    plan, _ = _run(plan_gomod(main), GRAPH)
    assert _items(plan) == {
        ("x.test/a", "v1.0.0", True),
        ("x.test/b", "v1.1.0", True),
        ("x.test/c", "v1.0.0", True),
        ("x.test/d", "v1.0.0", False),  # c does not prune: its requirement is read
        ("x.test/e", "v1.1.0", False),  # and d's, which does not prune either
    }


def test_replace_exclude_and_directories():
    main = (
        b"module x.test/main\n\ngo 1.21\n\n"
        b"require (\n\tx.test/c v1.0.0\n\tx.test/local v1.0.0\n\tx.test/gone v1.0.0\n)\n"
        b"replace x.test/c v1.0.0 => x.test/fork v1.0.0\n"
        b"replace x.test/c => x.test/other v9.0.0\n"
        b"replace x.test/local => ../local\n"
        b"exclude x.test/e v1.1.0\n"
        b"exclude x.test/gone v1.0.0\n"
    )
    mods = dict(GRAPH)
    mods[("x.test/fork", "v1.0.0")] = _m("x.test/fork", "require x.test/d v1.0.0\n")
    dirs = {("/src/main", "../local"): _m("x.test/local", "go 1.21\n\nrequire x.test/e v1.0.0\n")}
    plan, asked = _run(plan_gomod(main, file="/src/main/go.mod", dir="/src/main"), mods, dirs)
    assert ReadGoMod("x.test/local", "", "../local", "/src/main") in asked
    assert all(a.module != "x.test/gone" for a in asked)  # excluded roots are not read
    assert _items(plan) == {
        ("x.test/fork", "v1.0.0", True),  # c's replacement is what is downloaded
        ("x.test/d", "v1.0.0", False),
        # d's requirement on e v1.1.0 is excluded; the directory's module prunes, so its
        # requirement on e v1.0.0 is a graph node whose go.mod is not read.
    }


def test_failures_are_reported_not_raised():
    main = (
        b"module x.test/main\n\ngo 1.21\n\n"
        b"require (\n\tx.test/missing v1.0.0\n\tx.test/liar v1.0.0\n\tx.test/bad v1.0.0\n"
        b"\tx.test/anon v1.0.0\n)\n"
    )
    mods = {
        ("x.test/liar", "v1.0.0"): _m("x.test/other"),
        ("x.test/bad", "v1.0.0"): b"module x.test/bad\nrequire (\n",
        ("x.test/anon", "v1.0.0"): b"go 1.21\n",
    }
    plan, _ = _run(plan_gomod(main), mods)
    why = dict(plan.failures)
    assert why["x.test/missing@v1.0.0"] == "404 not found"
    assert "module declares its path as: x.test/other" in why["x.test/liar@v1.0.0"]
    assert why["x.test/bad@v1.0.0"].startswith("parsing go.mod: ")
    assert why["x.test/anon@v1.0.0"] == "parsing go.mod: missing module line"
    # What was read is still planned; what could not be is not downloaded twice over.
    assert ("x.test/liar", "v1.0.0", True) in _items(plan)


def test_main_gomod_errors():
    with pytest.raises(WarmInputError, match="no module directive"):
        _run(plan_gomod(b"go 1.21\n"), {})
    with pytest.raises(WarmInputError, match=r"x/go\.mod:2: unknown directive: bogus"):
        _run(plan_gomod(b"module x.test/m\nbogus line\n", file="x/go.mod"), {})


def test_no_requirements_nothing_to_download():
    plan, asked = _run(plan_gomod(b"module x.test/m\n"), {})
    assert (plan.items, asked) == ((), [])


def test_workspace():
    one = b"module x.test/one\n\ngo 1.21\n\nrequire x.test/a v1.0.0\nexclude x.test/e v1.1.0\n"
    two = b"module x.test/two\n\ngo 1.21\n\nrequire x.test/one v0.0.0\nrequire x.test/b v1.1.0\n"
    work = GoWork("1.21", None, ("./one", "./two"))
    plan, asked = _run(plan_workspace(work, [("/w/one", one), ("/w/two", two)]), GRAPH)
    assert all(a.module not in ("x.test/one", "x.test/two") for a in asked)
    assert _items(plan) == {
        ("x.test/a", "v1.0.0", True),
        ("x.test/b", "v1.1.0", True),
        ("x.test/c", "v1.0.0", True),
        ("x.test/d", "v1.0.0", True),
        ("x.test/e", "v1.0.0", True),
        ("x.test/main", "v1.0.0", True),  # d requires it; here it is not a main module
    }
    assert dict(plan.failures) == {"x.test/main@v1.0.0": "404 not found"}


def test_workspace_replace_wins_and_reloads_upgraded_versions():
    one = b"module x.test/one\n\ngo 1.21\n\nrequire x.test/p v1.0.0\nrequire x.test/q v1.0.0\n"
    mods = {
        ("x.test/p", "v1.0.0"): _m("x.test/p", "go 1.21\n\nrequire x.test/q v1.1.0\n"),
        ("x.test/q", "v1.0.0"): _m("x.test/q", "go 1.21\n"),
        ("x.test/q", "v1.1.0"): _m("x.test/q", "go 1.21\n\nrequire x.test/r v1.0.0\n"),
        ("x.test/r", "v1.0.0"): _m("x.test/r", "go 1.21\n"),
        ("x.test/s", "v2.0.0"): _m("x.test/p", "go 1.21\n"),
    }
    work = parse_gowork(b"go 1.21\nuse ./one\nreplace x.test/p => x.test/s v2.0.0\n")
    plan, asked = _run(plan_workspace(work, [("/w/one", one)]), mods)
    assert ReadGoMod("x.test/s", "v2.0.0") in asked
    items = _items(plan)
    assert ("x.test/s", "v2.0.0", True) in items
    assert ("x.test/q", "v1.0.0", True) in items


def test_merge_keeps_one_item_per_version():
    got = merge([WarmItem("a.test/x", "v1.0.0", False), WarmItem("a.test/x", "v1.0.0", True)])
    assert got == [WarmItem("a.test/x", "v1.0.0", True)]


# POST /admin/warm ---------------------------------------------------------------------------

UP = "https://up.example"


def _admin_world(**cfg):
    from goproxy_core import ProxyConfig
    from goproxy_core.testing import MemoryStore, ScriptedUpstream

    from support import make_zip

    z = make_zip("example.com/a", "v1.0.0", {"go.mod": b"module example.com/a\n"})
    routes = {
        f"{UP}/example.com/a/@v/v1.0.0.info": (
            200,
            b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}',
        ),
        f"{UP}/example.com/a/@v/v1.0.0.mod": (200, b"module example.com/a\n"),
        f"{UP}/example.com/a/@v/v1.0.0.zip": (200, z, "application/zip"),
        f"{UP}/example.com/b/@v/v1.0.0.mod": (200, b"module example.com/b\n"),
    }
    config = ProxyConfig(upstream=UP, **cfg)
    return config, MemoryStore(), ScriptedUpstream(routes)


# A token holding admin:warm, which POST /admin/warm needs (goproxy_core.proxy.auth).
WARM_TOKEN = "gpt_00000000000000aa_" + "w" * 43
AUTH = f"authorization: Bearer {WARM_TOKEN}\r\n"


def _conn(config):
    from goproxy_core import ProxyConnection
    from goproxy_core.proxy.auth import Keyring, Token, TokenTable, token_hash

    table = TokenTable([Token("00000000000000aa", "w", token_hash(WARM_TOKEN), admin=("warm",))])
    return ProxyConnection(config, keyring=Keyring(table))


def _post(body: bytes, *, target: str = "/admin/warm", head: str = "", method: str = "POST"):
    length = f"content-length: {len(body)}\r\n" if "transfer-encoding" not in head else ""
    return f"{method} {target} HTTP/1.1\r\nhost: x\r\n{AUTH}{length}{head}\r\n".encode() + body


GOSUM = (
    b"example.com/a v1.0.0 h1:aaa=\nexample.com/a v1.0.0/go.mod h1:bbb=\n"
    b"example.com/b v1.0.0/go.mod h1:ccc=\nexample.com/c v1.0.0/go.mod h1:ddd=\n"
)


def _one(raw: bytes, *, head: bool = False):
    from support import parse_responses

    (resp,) = parse_responses(raw, head=head)
    return resp


def test_admin_warm_is_off_by_default():
    from goproxy_core.testing import exchange

    config, store, up = _admin_world()
    status, _, body = _one(exchange(_conn(config), _post(GOSUM), store=store, upstream=up))
    assert status == 404
    assert b"admin-warm = false" in body
    assert up.requests == []


def test_admin_warm_fetches_the_gosum_and_answers_json():
    from goproxy_core.testing import exchange

    config, store, up = _admin_world(admin_warm=True)
    conn = _conn(config)
    status, headers, body = _one(exchange(conn, _post(GOSUM), store=store, upstream=up))
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    got = json.loads(body)
    assert (got["versions"], got["files"], got["fetched"], got["failed"]) == (3, 5, 4, 1)
    assert got["failures"] == ["example.com/c/@v/v1.0.0.mod: 404 not found"] or got["failures"][
        0
    ].startswith("example.com/c/@v/v1.0.0.mod: 404")
    assert store.stat("example.com/a/@v/v1.0.0.zip") is not None
    # Again on the same (kept-alive) connection: everything is there now.
    status, _, body = _one(exchange(conn, _post(GOSUM), store=store, upstream=up))
    got = json.loads(body)
    assert (got["fetched"], got["present"], got["bytes"]) == (0, 4, 0)


@pytest.mark.parametrize(
    ("raw", "status", "text"),
    [
        (_post(b"", method="GET"), 405, b"POST a go.sum"),
        (_post(b"", method="HEAD"), 405, b""),
        (_post(b"example.com/a v1.0.0\n"), 400, b"request body:1: wrong number of fields 2"),
        (_post(b"", head=f"content-length: {10 << 20}\r\n"), 413, b"at most"),
        (
            _post(
                b"%x\r\n" % (5 << 20) + b"x" * (5 << 20) + b"\r\n0\r\n\r\n",
                head="transfer-encoding: chunked\r\n",
            ),
            413,
            b"at most",
        ),
        (_post(b"", target="/admin/warm?x=1"), 200, b'"versions":0'),
    ],
)
def test_admin_warm_refusals(raw, status, text):
    from goproxy_core.testing import exchange

    config, store, up = _admin_world(admin_warm=True)
    if b"content-length: 10485760" in raw:
        raw = raw.replace(b"content-length: 0\r\n", b"")
    got_status, headers, body = _one(
        exchange(_conn(config), raw, store=store, upstream=up),
        head=raw.startswith(b"HEAD"),
    )
    assert got_status == status, body
    assert text in body
    if status == 405:
        assert headers["allow"] == "POST"
    assert up.requests == []


def test_admin_warm_below_a_base_path():
    from goproxy_core.testing import exchange

    config, store, up = _admin_world(admin_warm=True, base_path="/go")
    raw = exchange(_conn(config), _post(GOSUM, target="/go/admin/warm"), store=store, upstream=up)
    assert _one(raw)[0] == 200


def test_summary_lines():
    from goproxy_core.proxy.warm import WarmSummary

    s = WarmSummary(versions=2, files=4, fetched=3, present=0, failed=1, bytes=3 << 20)
    s.failures.append("example.com/x/@v/v1.0.0.zip: 404 not found")
    assert s.lines() == [
        "failed example.com/x/@v/v1.0.0.zip: 404 not found",
        "warm: 2 versions, 4 files in 0.0s: 3 fetched (3.0 MiB), 0 already cached, 1 failed",
    ]
    for n, shown in [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 << 40, "5120.0 GiB")]:
        assert WarmSummary(bytes=n).lines()[-1].split("(")[1].split(")")[0] == shown


def test_go_versions_with_odd_prereleases():
    assert go_compare("1.21rc", "1.21rc1") < 0  # a kind with no number sorts first
    assert go_compare("1.21.1x1", "1.21.1") < 0
    for bad in ("1.21r-1", "1.21rc1x", "1.21.1rc1x", "1.21.x"):
        assert go_compare(bad, "bad") == 0, bad


def test_admin_warm_body_not_sent_in_time_is_a_408():
    from goproxy_core.testing import exchange

    from support import parse_responses

    config, store, up = _admin_world(admin_warm=True)
    conn = _conn(config)
    raw = (
        b"POST /admin/warm HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n"
        + AUTH.encode()
        + b"\r\nexample"
    )
    assert exchange(conn, raw, store=store, upstream=up) == b""
    conn.timed_out()
    out = exchange(conn, b"", store=store, upstream=up)
    ((status, _, body),) = parse_responses(out)
    assert status == 408, body


def test_admin_warm_answers_expect_100_continue():
    from goproxy_core.testing import exchange

    config, store, up = _admin_world(admin_warm=True)
    conn = _conn(config)
    head = (
        b"POST /admin/warm HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
        b"content-length: %d\r\n%s\r\n" % (len(GOSUM), AUTH.encode())
    )
    assert exchange(conn, head, store=store, upstream=up) == b"HTTP/1.1 100 Continue\r\n\r\n"
    out = exchange(conn, GOSUM, store=store, upstream=up)
    assert out.startswith(b"HTTP/1.1 200 "), out
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["versions"] == 3
