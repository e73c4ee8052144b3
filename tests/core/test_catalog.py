"""The catalog in the core: routes, the ``ReadCatalog`` effect, rendering, escaping, paging,
search, the Content-Security-Policy, and that no module is shadowed by the pages' paths."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import (
    BadRequestError,
    Breaker,
    CatalogData,
    CatalogVersion,
    FreeSpace,
    ModuleUse,
    ProxyConfig,
    ProxyConnection,
    ReadCatalog,
    SumdbConfig,
    UpstreamHealth,
    catalog_from_files,
    compile_config,
    escape_path,
)
from goproxy_core.errors import InvalidPathError
from goproxy_core.proxy.catalog import (
    CATALOG_CSP,
    CATALOG_SCRIPT,
    CATALOG_STYLE,
    PageContext,
    catalog_json,
    page_context,
    render_index,
    render_module,
    rfc3339,
    select_versions,
    top_modules,
)
from goproxy_core.proxy.targets import (
    CATALOG_MARKS_MAX,
    CatalogReq,
    IndexReq,
    ListReq,
    ModulePageReq,
    decode_page_token,
    encode_page_token,
    parse_target,
)
from goproxy_core.proxy.versions import Retraction
from goproxy_core.semver import is_valid as semver_is_valid
from goproxy_core.sumdb.note import generate_key
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange

from support import parse_responses

UP = "https://up.example"
XSS = '<script>alert("x")</script>'


def _store(files: dict[str, bytes], now: float = 1_700_000_000.0) -> MemoryStore:
    store = MemoryStore()
    store.now = now
    for key, data in files.items():
        w = store.writer(key)
        w.write(data)
        w.commit()
    return store


STORE_FILES = {
    "example.com/alpha/@v/v1.0.0.mod": b"module example.com/alpha\n",
    "example.com/alpha/@v/v1.0.0.info": b'{"Version":"v1.0.0"}',
    "example.com/alpha/@v/v1.2.0.mod": (
        b"// Deprecated: use example.com/beta.\nmodule example.com/alpha\n\n"
        b"retract v1.0.0 // broken build\n"
    ),
    "example.com/alpha/@v/v1.10.0.info": b'{"Version":"v1.10.0"}',  # no .mod stored
    "example.com/!beta/@v/v0.1.0.mod": b"module example.com/Beta\n",
    "example.com/x~y_z/@v/v2.0.0+incompatible.mod": b"module example.com/x~y_z\n",
    "example.com/alpha/@v/list": b"v1.0.0\nv1.2.0\n",
    "sumdb/sum.test/latest": b"tree\n",
}


def _get(
    target: str,
    store: MemoryStore,
    *,
    accept: str = "",
    host: str = "proxy.test:8080",
    config: ProxyConfig | None = None,
    method: str = "GET",
    extra: str = "",
    upstream: ScriptedUpstream | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = ProxyConnection(config or ProxyConfig(upstream=UP))
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
    if accept:
        head += f"Accept: {accept}\r\n"
    raw = exchange(
        conn,
        (head + extra + "\r\n").encode(),
        store=store,
        upstream=upstream or ScriptedUpstream(),
        now=1_700_000_100.0,
    )
    [(status, headers, body)] = parse_responses(raw, head=method == "HEAD")
    return status, headers, body


# -- routes --------------------------------------------------------------------------------------


def test_routes_parse() -> None:
    assert parse_target(b"/") == IndexReq()
    assert parse_target(b"/catalog") == CatalogReq()
    assert parse_target(b"/catalog?q=ex%2Bam+ple&n=7&other=1") == CatalogReq("ex+am+ple", 7)
    assert parse_target(b"/catalog?pagesize=3") == CatalogReq(limit=3)
    token = encode_page_token("example.com/M", "v1.0.0")
    assert parse_target(f"/catalog?token={token}".encode()).after == ("example.com/M", "v1.0.0")
    assert parse_target(b"/catalog?token=") == CatalogReq()
    assert parse_target(b"/-/module/example.com/!m") == ModulePageReq(
        "example.com/M", "example.com/!m"
    )
    assert parse_target(b"/go/-/module/example.com/m", "/go") == ModulePageReq(
        "example.com/m", "example.com/m"
    )


@pytest.mark.parametrize(
    "query",
    [
        b"n=0",
        b"n=1001",
        b"n=x",
        b"n=%C2%B2",
        b"pagesize=-1",
        b"token=%%",
        b"q=%FF",
        b"token=abc",
        b"marks=yes",
    ],
)
def test_bad_catalog_parameters_are_400(query: bytes) -> None:
    with pytest.raises(BadRequestError):
        parse_target(b"/catalog?" + query)
    status, _, body = _get("/catalog?" + query.decode(), _store({}))
    assert status == 400
    assert body.startswith(b"catalog: ")


def test_a_long_search_is_refused() -> None:
    with pytest.raises(BadRequestError, match="longer than"):
        parse_target(b"/catalog?q=" + b"a" * 257)


@pytest.mark.parametrize(
    "target",
    [
        "/example.com/-/module/x/@v/list",  # "-" is a valid element after the first
        "/catalog.example.com/m/@v/list",
        "/example.com/catalog/@v/list",
        "/catalog.example.com/@v/list",
    ],
)
def test_a_module_named_like_a_catalog_route_is_still_a_module(target: str) -> None:
    req = parse_target(target.encode())
    assert isinstance(req, ListReq)
    up = ScriptedUpstream({f"{UP}{target}": (200, b"v1.0.0\n")})
    status, _, body = _get(target, _store({}), accept="text/html", upstream=up)
    assert (status, body) == (200, b"v1.0.0\n")


@pytest.mark.parametrize(
    "target", ["/-/module/-x.example/m", "/-/module/catalog", "/-/modules/example.com/m", "/-/"]
)
def test_the_page_prefix_names_no_module(target: str) -> None:
    status, headers, _ = _get(target, _store({}))
    assert status == 404
    assert headers["content-type"].startswith("text/plain")


# -- the index page ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("TEXT/HTML; charset=utf-8", True),
        ("text/html;q=0", False),
        ("text/html;q=zero", False),
        ("text/html;level=1;q=0.5", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
    ],
)
def test_accept_decides_html_or_text(accept: str, html: bool) -> None:
    status, headers, body = _get("/", _store(STORE_FILES), accept=accept)
    assert status == 200
    assert headers["vary"] == "Accept"
    if html:
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert headers["cache-control"] == "no-store"
        assert body.startswith(b"<!DOCTYPE html>")
    else:
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert b"GOPROXY=<this URL>" in body


def test_index_page_shows_setup_store_and_modules() -> None:
    cfg = ProxyConfig(upstream=UP, max_cache_size=1 << 30, base_path="/go")
    status, headers, body = _get("/go/", _store(STORE_FILES), accept="text/html", config=cfg)
    assert status == 200
    page = body.decode()
    assert "<title>goproxy-core: Go module proxy</title>" in page
    assert "go env -w GOPROXY=http://proxy.test:8080/go</pre>" in page
    assert "of 1.0 GiB (max-cache-size)" in page
    assert '<a href="/go/-/module/example.com/!beta">example.com/Beta</a>' in page
    assert '<a href="/go/-/module/example.com/x~y_z">example.com/x~y_z</a>' in page
    assert 'data-base="/go"' in page
    assert "5 module versions, 3 modules" in page  # alpha x3, Beta, x~y_z
    assert "(store listing)" in page
    # Without use counts (no usage index), nothing is "most requested".
    assert 'id="most-requested" class="muted">Nothing counted yet' in page
    assert "https://up.example" in page
    # HEAD: the same head, no body.
    status, head_headers, head_body = _get(
        "/go/", _store(STORE_FILES), accept="text/html", config=cfg, method="HEAD"
    )
    assert (status, head_body) == (200, b"")
    assert head_headers["content-length"] == headers["content-length"]


def test_forwarded_https_and_a_missing_host() -> None:
    status, _, body = _get(
        "/", _store({}), accept="text/html", extra="X-Forwarded-Proto: https\r\n"
    )
    assert status == 200
    assert b"GOPROXY=https://proxy.test:8080</pre>" in body
    assert page_context([(b"accept", b"text/html")]) == PageContext("", True)
    assert page_context([(b"host", b"[::1]:80")]).origin == "http://[::1]:80"


@pytest.mark.parametrize(
    "host", ['"><script>alert(1)</script>', "a b", "x.example/<b>", "evil.example:80:81", "-x"]
)
def test_a_hostile_host_header_is_never_echoed(host: str) -> None:
    status, _, body = _get("/", _store({}), accept="text/html", host=host)
    assert status == 200
    assert b"<script>alert" not in body
    assert b"<b>" not in body
    assert b"GOPROXY=http://&lt;this proxy&#x27;s host:port&gt;" in body


def test_setup_lines_for_checksum_databases_and_private_modules() -> None:
    cfg = compile_config(
        ProxyConfig(
            upstream=UP,
            own_sumdb="sumdb.corp.example",
            sumdb=(SumdbConfig("sum.test", generate_key("sum.test", b"k" * 32)[1]),),
            private="*.corp.example",
        )
    )
    ctx = PageContext("http://p.test", True)
    page = render_index(ctx, cfg, CatalogData(sumdb_key="sumdb.corp.example+1234+KEY")).decode()
    assert (
        "go env -w GOSUMDB=&quot;sumdb.corp.example+1234+KEY "
        "http://p.test/sumdb/sumdb.corp.example&quot;"
    ) in page
    assert (
        "The checksum database sum.test is relayed at <code>http://p.test/sumdb/sum.test/" in page
    )
    assert "go env -w GONOSUMDB=*.corp.example" in page
    page = render_index(ctx, cfg, CatalogData()).decode()
    assert "the verifier key: goproxy sumdb key --name sumdb.corp.example" in page


def test_upstream_health_and_credentials_kept_out() -> None:
    cfg = compile_config(
        ProxyConfig(
            upstream="https://user:secret@a.example/p,https://b.example|https://c.example,direct,off"
        )
    )
    data = CatalogData(
        upstreams=(
            UpstreamHealth("https://user:secret@a.example/p", "open", 5, 12.4),
            UpstreamHealth("https://b.example", "half-open", 5),
            UpstreamHealth("https://c.example", "closed", 2),
        )
    )
    page = render_index(PageContext(), cfg, data).decode()
    assert "secret" not in page
    assert "https://a.example/p" in page
    assert "circuit breaker open after 5 consecutive failures, next try in 12 s" in page
    assert "probing after failures" in page
    assert "answering (2 recent failures)" in page
    assert "modules come from their repositories" in page
    off = render_index(PageContext(), compile_config(ProxyConfig(upstream="off")), data)
    assert b"cache only: nothing is fetched" in off
    cfg = compile_config(ProxyConfig(upstream="https://d.example,file:///srv/mods"))
    page = render_index(
        PageContext(), cfg, CatalogData(upstreams=(UpstreamHealth("https://d.example", "unknown"),))
    ).decode()
    assert '<span class="muted">unknown</span>' in page
    assert "a local directory" in page
    page = render_index(PageContext(), cfg, CatalogData()).decode()
    assert "not known" in page


def test_store_section_variants() -> None:
    cfg = compile_config(ProxyConfig(upstream=UP, min_free_space=1 << 30))
    data = CatalogData(
        total_bytes=3 << 20,
        file_count=9,
        free=FreeSpace(512 << 20, "/var/cache/goproxy"),
        prefetch=(("started", 3), ("hits", 1)),
        complete=False,
        source="store listing",
        most_requested=(ModuleUse("example.com/m", 2, 100, 1.0, 7),),
    )
    page = render_index(PageContext(), cfg, data).decode()
    assert "3.0 MiB used; no max-cache-size" in page
    assert "at least this many" in page
    assert '<p class="bad">512.0 MiB free on /var/cache/goproxy, min-free-space 1.0 GiB</p>' in page
    assert "Prefetch: started 3, hits 1" in page
    assert "7 uses" in page and "2 versions" in page
    page = render_index(PageContext(), cfg, CatalogData(available=False, why="no index")).decode()
    assert "Not available: no index" in page
    assert "unknown used" not in page


# -- escaping ------------------------------------------------------------------------------------


def test_every_text_is_escaped_in_the_pages() -> None:
    cfg = compile_config(ProxyConfig(upstream=UP))
    bad = CatalogVersion(f"example.com/{XSS}", f"v1.0.0-{XSS}", 10, 1.0, 1)
    data = CatalogData(
        versions=(bad,),
        most_requested=(ModuleUse(bad.module, 1, 10, 1.0, 1),),
        most_recent=(ModuleUse(bad.module, 1, 10, 1.0, 1),),
        free=FreeSpace(1, XSS),
        prefetch=((XSS, 1),),
        source=XSS,
        why=XSS,
    )
    pages = [
        render_index(PageContext(), cfg, data),
        render_module(
            PageContext(),
            cfg,
            bad.module,
            data,
            gomod_version=bad.version,
            deprecated=XSS,
            retractions=[Retraction(bad.version, bad.version, XSS)],
        ),
        render_module(
            PageContext(), cfg, bad.module, msgspec.structs.replace(data, available=False)
        ),
    ]
    for page in pages:
        text = page.decode()
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
        # The only scripts are the inline one the policy allows.
        assert text.count("<script>") == text.count(CATALOG_SCRIPT)


def test_a_markup_module_path_in_a_request_is_a_plain_404() -> None:
    status, headers, body = _get(
        "/-/module/example.com/%3Cscript%3Ealert(1)%3C/script%3E", _store({})
    )
    assert status == 404
    assert headers["content-type"] == "text/plain; charset=utf-8"
    status, headers, body = _get("/catalog?q=%3Cscript%3E", _store(STORE_FILES))
    assert status == 200
    assert json.loads(body) == {"modules": []}
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"


def test_module_page_links_keep_tilde_plus_and_case_escapes() -> None:
    store = _store(STORE_FILES)
    status, _, body = _get("/-/module/example.com/x~y_z", store)
    assert status == 200
    assert b'<h1 id="module">example.com/x~y_z</h1>' in body
    assert b"v2.0.0+incompatible" in body
    status, _, body = _get("/-/module/example.com/!beta", store)
    assert status == 200
    assert b"example.com/Beta" in body
    # Unescaped capitals are not a module path's escaped form: 404, as for any proxy path.
    assert _get("/-/module/example.com/Beta", store)[0] == 404


# -- the content security policy ----------------------------------------------------------------


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_policy_hashes_the_inline_script_and_style() -> None:
    status, headers, body = _get("/", _store(STORE_FILES), accept="text/html")
    csp = headers["content-security-policy"]
    assert csp == CATALOG_CSP
    page = body.decode()
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert scripts == [CATALOG_SCRIPT] and styles == [CATALOG_STYLE]
    assert f"script-src {_source_hash(scripts[0])};" in csp
    assert f"style-src {_source_hash(styles[0])};" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    # No inline event handler or style attribute, which the policy would block.
    assert not re.search(r"\son[a-z]+=|\sstyle=", page)
    status, headers, body = _get("/-/module/example.com/alpha", _store(STORE_FILES))
    assert status == 200
    assert headers["content-security-policy"] == CATALOG_CSP
    assert "<script>" not in body.decode()


# -- module pages --------------------------------------------------------------------------------


def test_module_page_versions_marks_and_order() -> None:
    status, headers, body = _get("/-/module/example.com/alpha", _store(STORE_FILES))
    assert status == 200
    assert headers["cache-control"] == "no-store"
    page = body.decode()
    rows = re.findall(r"<tr><td><code>([^<]*)</code>(.*?)</tr>", page)
    assert [v for v, _ in rows] == ["v1.10.0", "v1.2.0", "v1.0.0"]  # semver, highest first
    assert "retracted</span>: broken build" in rows[2][1]
    assert "retracted" not in rows[0][1] + rows[1][1]
    assert '<span class="mark deprecated">deprecated</span> use example.com/beta.' in page
    # v1.10.0 has no stored go.mod: the marks come from the next highest.
    assert "from the go.mod of v1.2.0, the highest version stored" in page
    assert "GOPROXY=http://proxy.test:8080 go get example.com/alpha@latest" in page


def test_module_page_of_an_unknown_module_is_404_html() -> None:
    status, headers, body = _get("/-/module/example.com/none", _store(STORE_FILES))
    assert status == 404
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"No version of this module is cached." in body


def test_module_page_with_a_go_mod_that_does_not_parse() -> None:
    files = {"example.com/m/@v/v1.0.0.mod": b"module example.com/m\nretract (\n"}
    status, _, body = _get("/-/module/example.com/m", _store(files))
    assert status == 200
    assert b"retracted</span>" not in body and b"deprecated</span>" not in body
    assert b"from the go.mod of v1.0.0" in body


def test_module_page_notes_a_cut_list_and_no_origin() -> None:
    cfg = compile_config(ProxyConfig(upstream=UP))
    data = CatalogData(versions=(CatalogVersion("example.com/m", "v1.0.0"),), more=True)
    page = render_module(PageContext(), cfg, "example.com/m", data).decode()
    assert "The first 1 versions only." in page
    assert "<pre>go get example.com/m@latest</pre>" in page


# -- /catalog JSON, paging, search --------------------------------------------------------------


def _all_pages(store: MemoryStore, query: str) -> list[list[dict[str, object]]]:
    pages = []
    target = "/catalog?" + query
    while True:
        status, headers, body = _get(target, store)
        assert status == 200, body
        assert headers["cache-control"] == "no-store"
        got = json.loads(body)
        pages.append(got["modules"])
        if "next" not in got:
            return pages
        target = f"/catalog?{query}&token={got['next']}"


def test_catalog_pages_through_every_version_once() -> None:
    store = _store(STORE_FILES)
    pages = _all_pages(store, "n=2")
    assert [len(p) for p in pages] == [2, 2, 1]
    flat = [(m["module"], m["version"]) for p in pages for m in p]
    assert flat == [
        ("example.com/Beta", "v0.1.0"),
        ("example.com/alpha", "v1.0.0"),
        ("example.com/alpha", "v1.10.0"),
        ("example.com/alpha", "v1.2.0"),
        ("example.com/x~y_z", "v2.0.0+incompatible"),
    ]
    first = pages[0][0]
    assert first == {
        "module": "example.com/Beta",
        "version": "v0.1.0",
        "size": len(STORE_FILES["example.com/!beta/@v/v0.1.0.mod"]),
        "last_use": "2023-11-14T22:13:20Z",
        "uses": 0,
    }
    # One page holding everything has no "next", as Athens leaves it out.
    assert len(_all_pages(store, "")) == 1


def test_catalog_search_is_case_insensitive_and_pages_too() -> None:
    store = _store(STORE_FILES)
    pages = _all_pages(store, "q=ALPHA&n=1")
    assert [m["version"] for p in pages for m in p] == ["v1.0.0", "v1.10.0", "v1.2.0"]
    assert _all_pages(store, "q=%7Ey_") == [[{**_all_pages(store, "")[0][-1]}]]
    assert _all_pages(store, "q=nothing") == [[]]


def test_catalog_marks_retractions_and_deprecation() -> None:
    store = _store(STORE_FILES)
    status, _, body = _get("/catalog?q=alpha&marks=1", store)
    assert status == 200
    got = {m["version"]: (m["retracted"], m["deprecated"]) for m in json.loads(body)["modules"]}
    assert got == {
        "v1.0.0": ("broken build", "use example.com/beta."),
        "v1.2.0": ("", "use example.com/beta."),
        "v1.10.0": ("", "use example.com/beta."),
    }
    files = {"example.com/m/@v/v1.0.0.mod": b"module example.com/m\nretract v1.0.0\n"}
    body = _get("/catalog?marks=1", _store(files))[2]
    assert json.loads(body)["modules"][0]["retracted"] == "retracted"
    assert "retracted" not in json.loads(_get("/catalog?marks=0", _store(files))[2])["modules"][0]


def test_catalog_marks_read_at_most_the_first_modules() -> None:
    files = {f"example.com/m{i:02}/@v/v1.0.0.info": b"{}" for i in range(CATALOG_MARKS_MAX + 2)}
    got = json.loads(_get("/catalog?marks=1", _store(files))[2])["modules"]
    assert len(got) == CATALOG_MARKS_MAX + 2
    assert all("retracted" in m for m in got[:CATALOG_MARKS_MAX])
    assert not any("retracted" in m for m in got[CATALOG_MARKS_MAX:])


def test_catalog_not_available_is_501() -> None:
    conn = ProxyConnection(ProxyConfig(upstream=UP))
    conn.receive_data(b"GET /catalog HTTP/1.1\r\nHost: p\r\n\r\n")
    effect = conn.next_effect(0.0, 0.0)
    assert effect == ReadCatalog(limit=1000)
    conn.catalog_read(CatalogData(available=False, why="the store cannot list"))
    out = b""
    while True:
        eff = conn.next_effect(0.0, 0.0)
        if not hasattr(eff, "data"):
            break
        out += eff.data
    [(status, headers, body)] = parse_responses(out)
    assert status == 501
    assert body == b"catalog not available: the store cannot list\n"
    assert headers["content-security-policy"] == CATALOG_CSP


def test_index_effect_asks_for_the_summary_of_http_upstreams() -> None:
    conn = ProxyConnection(ProxyConfig(upstream=f"{UP},file:///srv,direct", own_sumdb="s.example"))
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: p\r\nAccept: text/html\r\n\r\n")
    effect = conn.next_effect(0.0, 0.0)
    assert effect == ReadCatalog(
        limit=0, summary=True, top=10, upstreams=(UP,), own_sumdb="s.example"
    )


def test_catalog_json_shape() -> None:
    data = CatalogData(versions=(CatalogVersion("example.com/M", "v1.0.0", 5, 0.0, 2),), more=True)
    got = json.loads(catalog_json(data))
    assert got["next"] == encode_page_token("example.com/M", "v1.0.0")
    assert got["modules"][0]["last_use"] == "1970-01-01T00:00:00Z"
    assert json.loads(catalog_json(CatalogData(more=True))) == {"modules": []}
    assert rfc3339(1e20) == "1970-01-01T00:00:00Z"


# -- the pure selection --------------------------------------------------------------------------


def test_catalog_from_files_sums_versions_and_keeps_totals() -> None:
    files = [(k, len(v), 10.0 + i) for i, (k, v) in enumerate(STORE_FILES.items())]
    data = catalog_from_files(files, ReadCatalog(summary=True, top=2), complete=False)
    assert data.total_bytes == sum(len(v) for v in STORE_FILES.values())
    assert data.file_count == len(STORE_FILES)
    assert (data.version_count, data.module_count) == (5, 3)
    assert data.complete is False
    assert [m.module for m in data.most_recent] == ["example.com/x~y_z", "example.com/Beta"]
    alpha = [v for v in data.versions if v.module == "example.com/alpha"]
    assert sum(v.bytes for v in alpha) == sum(
        len(v) for k, v in STORE_FILES.items() if k.startswith("example.com/alpha/@v/v")
    )
    only = catalog_from_files(files, ReadCatalog(module="example.com/Beta"))
    assert [v.version for v in only.versions] == ["v0.1.0"]
    assert only.total_bytes is None


def test_select_and_top() -> None:
    vs = [
        CatalogVersion("b.example/m", "v1.0.0", 1, 5.0, 0),
        CatalogVersion("a.example/m", "v1.0.0", 1, 1.0, 3),
        CatalogVersion("a.example/m", "v1.1.0", 1, 2.0, 4),
    ]
    got, more = select_versions(vs, ReadCatalog(after=("a.example/m", "v1.0.0"), limit=1))
    assert (got, more) == ((vs[2],), True)
    requested, recent = top_modules(vs, 5)
    assert requested == (ModuleUse("a.example/m", 2, 2, 2.0, 7),)
    assert [m.module for m in recent] == ["b.example/m", "a.example/m"]


def test_breaker_status_changes_nothing() -> None:
    b = Breaker(2, 10.0)
    assert b.status(0.0) == ("closed", 0, 0.0)
    b.failure(0.0)
    assert b.status(0.0) == ("closed", 1, 0.0)
    b.failure(1.0)
    assert b.status(3.0) == ("open", 2, 8.0)
    assert b.status(30.0) == ("open", 2, 0.0)
    assert b.allow(30.0) is None  # the probe
    assert b.status(30.0) == ("half-open", 2, 0.0)


# -- the paging token ----------------------------------------------------------------------------

_ELEM = st.from_regex(r"[a-z0-9][a-zA-Z0-9~+_-]{0,8}", fullmatch=True)
_MODULES = st.builds(lambda a, b: f"{a}.example/{b}", _ELEM, _ELEM)
# Only valid versions: the regex also makes "v0.0.0-." (an empty pre-release identifier),
# which no stored version can be and escape_version refuses.
_VERSIONS = st.from_regex(
    r"v[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-zA-Z0-9.]{1,8})?", fullmatch=True
).filter(semver_is_valid)


@given(_MODULES, _VERSIONS)
def test_page_tokens_round_trip(module: str, version: str) -> None:
    try:
        escape_path(module)
    except InvalidPathError:
        return
    token = encode_page_token(module, version)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert decode_page_token(token) == (module, version)
    assert parse_target(f"/catalog?token={token}".encode()).after == (module, version)


@given(st.text(max_size=120))
def test_any_token_is_decoded_or_refused_400(token: str) -> None:
    try:
        module, version = decode_page_token(token)
    except BadRequestError:
        return
    assert encode_page_token(module, version) == token


@given(st.binary(max_size=80))
def test_base64_of_anything_is_decoded_or_refused_400(raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    try:
        module, version = decode_page_token(token)
    except BadRequestError:
        return
    assert (module, version) == decode_page_token(encode_page_token(module, version))


def test_answering_catalog_read_out_of_turn_is_misuse() -> None:
    from goproxy_core import LocalProtocolError

    conn = ProxyConnection(ProxyConfig(upstream=UP))
    with pytest.raises(LocalProtocolError):
        conn.catalog_read(CatalogData())
