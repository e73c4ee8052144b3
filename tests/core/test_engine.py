"""The engine end to end, with no sockets: scripted upstreams drive requests to responses."""

from __future__ import annotations

import json

import pytest

from goproxy_core.proxy import ProxyConfig, ProxyConnection, UpstreamResult
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange

from support import make_zip, parse_responses

UP = "https://up.example"
UP2 = "https://up2.example"
MOD = "example.com/m"
GOMOD = b"module example.com/m\n\ngo 1.21\n"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}'
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package m\n"})


def routes(base: str = UP) -> dict:
    p = f"{base}/{MOD}/@v/"
    return {
        p + "list": (200, b"v1.0.0\nv1.1.0\n"),
        p + "v1.0.0.info": (200, INFO, "application/json"),
        p + "v1.0.0.mod": (200, GOMOD),
        p + "v1.0.0.zip": (200, ZIP, "application/zip"),
        f"{base}/{MOD}/@latest": (200, b'{"Version":"v1.1.0"}', "application/json"),
    }


def get(path, *, store, upstream=None, config=None, now=1000.0, method="GET", headers=()):
    conn = ProxyConnection(config or ProxyConfig(upstream=UP))
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    raw = exchange(
        conn,
        f"{method} {path} HTTP/1.1\r\nHost: proxy\r\n{extra}\r\n".encode(),
        store=store,
        upstream=upstream,
        now=now,
    )
    (resp,) = parse_responses(raw, head=method == "HEAD")
    return resp


def kept(store):
    """The store's keys but remembered failures (checked to be failures, not not-founds)."""
    out = []
    keys = store.keys()
    for key in keys:
        if key.startswith("_goproxy/notfound/"):
            assert json.loads(store.get(key))["failed"] is True, key
        else:
            out.append(key)
    return out


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def upstream():
    return ScriptedUpstream(routes())


# -- list -------------------------------------------------------------------------------


def test_list_miss_then_hit_then_stale(store, upstream):
    status, headers, body = get(f"/{MOD}/@v/list", store=store, upstream=upstream)
    assert (status, body) == (200, b"v1.0.0\nv1.1.0\n")
    assert headers["cache-control"] == "public, max-age=60"
    assert "fwd=miss" in headers["cache-status"]
    assert upstream.requests == [f"{UP}/{MOD}/@v/list"]

    status, headers, body = get(f"/{MOD}/@v/list", store=store, upstream=upstream, now=1030)
    assert status == 200 and "hit" in headers["cache-status"]
    assert headers["cache-control"] == "public, max-age=30"
    assert len(upstream.requests) == 1

    upstream.routes[f"{UP}/{MOD}/@v/list"] = (500, b"boom")
    status, headers, body = get(f"/{MOD}/@v/list", store=store, upstream=upstream, now=1100)
    assert (status, body) == (200, b"v1.0.0\nv1.1.0\n")
    assert headers["warning"] == '110 - "Response is Stale"'
    assert "fwd=stale" in headers["cache-status"]
    assert len(upstream.requests) == 2


def test_list_revalidates_after_ttl(store, upstream):
    """With max-stale 0, a list past its TTL is asked upstream before the answer."""
    config = ProxyConfig(upstream=UP, max_stale=0)
    get(f"/{MOD}/@v/list", store=store, upstream=upstream, config=config)
    store.now = 2000.0
    upstream.routes[f"{UP}/{MOD}/@v/list"] = (200, b"v1.0.0\nv1.1.0\nv1.2.0\n")
    _status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=config, now=2000
    )
    assert body.endswith(b"v1.2.0\n")
    assert "fwd=stale; stored" in headers["cache-status"]


@pytest.mark.parametrize(
    "body",
    [
        b"v1.0.0 2019-01-01T00:00:00Z\nv0.0.0-20190101000000-abcdefabcdef\n\n"
        b"not-a-version\nv1.0.0\nv2.0.0+incompatible\n",
        b"v1.0.0\r\n\xff\xfe not UTF-8\nv1.1.0",
    ],
    ids=["pseudo-and-junk", "not-utf8"],
)
def test_list_passes_through_as_sent(store, body):
    """cmd/go modfetch/proxy.go ``Versions`` reads the lines itself; ``latestFromList`` needs
    the pseudo-versions and their times: the list is stored and served byte for byte."""
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/list": (200, body)})
    status, _, got = get(f"/{MOD}/@v/list", store=store, upstream=up)
    assert (status, got) == (200, body)
    assert store.get(f"{MOD}/@v/list") == body


def test_empty_list_for_known_module(store):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/list": (200, b"")})
    assert get(f"/{MOD}/@v/list", store=store, upstream=up)[:3:2] == (200, b"")


# -- .info / .mod / .zip ------------------------------------------------------------------


def test_info_is_immutable_with_etag_and_304(store, upstream):
    status, headers, body = get(f"/{MOD}/@v/v1.0.0.info", store=store, upstream=upstream)
    assert (status, body) == (200, INFO)
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "application/json"
    etag = headers["etag"]
    status, headers, body = get(
        f"/{MOD}/@v/v1.0.0.info", store=store, upstream=upstream, headers=[("If-None-Match", etag)]
    )
    assert (status, body) == (304, b"")
    assert len(upstream.requests) == 1
    assert store.get(f"{MOD}/@v/v1.0.0.info") == INFO


def test_info_for_another_version_is_refused(store):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v1.0.0.info": (200, b'{"Version":"v1.0.1"}')})
    status, _, body = get(f"/{MOD}/@v/v1.0.0.info", store=store, upstream=up)
    assert status == 502
    assert b"instead of requested version v1.0.0" in body
    assert kept(store) == []


@pytest.mark.parametrize(
    ("version", "info"),
    [("v2.0.0", b'{"Version":"v2.0.0"}'), ("v2.0.0", b'{"Version":"v1.0.0"}')],
    ids=["same", "other"],
)
def test_info_for_a_version_invalid_for_the_module_is_served(store, version, info):
    """cmd/go modfetch/proxy.go ``Stat`` holds only a canonical version valid for the module
    to its own name; v2.0.0 of a path without /v2 gets whatever the upstream says."""
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/{version}.info": (200, info)})
    status, _, body = get(f"/{MOD}/@v/{version}.info", store=store, upstream=up)
    assert (status, body) == (200, info)


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[]",
        b'{"Time":"x"}',
        b'{"Version":"v1.0"}',
        b'{"Version":"v1.0.0","Time":"yesterday"}',
    ],
)
def test_bad_info_is_not_stored(store, bad):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v1.0.0.info": (200, bad)})
    status, _, _ = get(f"/{MOD}/@v/v1.0.0.info", store=store, upstream=up)
    assert status == 502
    assert kept(store) == []


def test_info_query_is_mutable_and_keeps_the_resolved_version(store):
    pseudo = "v0.0.0-20240102030405-abcdefabcdef"
    body = json.dumps({"Version": pseudo, "Time": "2024-01-02T03:04:05Z"}).encode()
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/master.info": (200, body)})
    status, headers, got = get(f"/{MOD}/@v/master.info", store=store, upstream=up)
    assert (status, got) == (200, body)
    assert headers["cache-control"] == "public, max-age=60"
    assert store.get(f"{MOD}/@v/{pseudo}.info") == body
    # The resolved version is now served from the store.
    status, headers, got = get(f"/{MOD}/@v/{pseudo}.info", store=store, upstream=up)
    assert (status, got) == (200, body) and headers["cache-status"] == "goproxy; hit"


def test_incompatible_query_for_unsuffixed_path(store):
    body = b'{"Version":"v2.0.0+incompatible"}'
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v2.0.0.info": (200, body)})
    status, _, got = get(f"/{MOD}/@v/v2.0.0.info", store=store, upstream=up)
    assert (status, got) == (200, body)


def test_mod_naming_another_module_is_relayed_unchanged(store):
    other = b"module example.com/other\n"
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v1.0.0.mod": (200, other)})
    status, headers, body = get(f"/{MOD}/@v/v1.0.0.mod", store=store, upstream=up)
    assert (status, body) == (200, other)
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_mod_that_does_not_parse_is_served_as_sent(store):
    """cmd/go modfetch/proxy.go ``GoMod`` returns the bytes unparsed."""
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v1.0.0.mod": (200, b"module (\n")})
    status, _, body = get(f"/{MOD}/@v/v1.0.0.mod", store=store, upstream=up)
    assert (status, body) == (200, b"module (\n")
    assert store.get(f"{MOD}/@v/v1.0.0.mod") == b"module (\n"


def test_mod_of_a_version_the_path_does_not_allow_is_asked_for(store):
    """cmd/go modfetch/proxy.go ``GoMod`` asks for v2.0.0 of a path without /v2 too (the
    go command's test modules have such a version): the proxy asks the upstream as well."""
    mod = b"module example.com/m\n"
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v2.0.0.mod": (200, mod)})
    status, headers, body = get(f"/{MOD}/@v/v2.0.0.mod", store=store, upstream=up)
    assert (status, body) == (200, mod)
    assert headers["cache-control"] == "public, max-age=31536000, immutable"


def test_zip_miss_streams_into_store(store, upstream):
    status, headers, body = get(f"/{MOD}/@v/v1.0.0.zip", store=store, upstream=upstream)
    assert (status, body) == (200, ZIP)
    assert headers["content-type"] == "application/zip"
    assert headers["content-length"] == str(len(ZIP))
    assert store.get(f"{MOD}/@v/v1.0.0.zip") == ZIP
    status, headers, body = get(f"/{MOD}/@v/v1.0.0.zip", store=store, upstream=upstream)
    assert (status, body, headers["cache-status"]) == (200, ZIP, "goproxy; hit")
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "bad",
    [
        b"PK\x03\x04 this is not a zip",
        make_zip("example.com/other", "v1.0.0", {"a.go": b"package a\n"}),
        make_zip(MOD, "v1.0.0", {"go.mod": b"module example.com/m\n", "sub/go.mod": b"module x\n"}),
    ],
    ids=["corrupt", "wrong-prefix", "nested-gomod"],
)
def test_bad_zip_is_not_stored(store, bad):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v1.0.0.zip": (200, bad)})
    status, _, body = get(f"/{MOD}/@v/v1.0.0.zip", store=store, upstream=up)
    assert status == 502, body
    assert kept(store) == []


@pytest.mark.parametrize("zip_files", [{"go.mod": b"module example.com/m\n\ngo 1.22\n"}, {}])
def test_zip_is_not_compared_with_the_mod(store, upstream, zip_files):
    """fetch.go ``downloadZip`` compares the zip with nothing: a go.mod differing from the
    ``.mod``, or none at all, is served either way, whichever file was fetched first."""
    mod_first = get(f"/{MOD}/@v/v1.0.0.mod", store=store, upstream=upstream)
    assert mod_first[0] == 200
    z = make_zip(MOD, "v1.0.0", {"m.go": b"package m\n", **zip_files})
    upstream.routes[f"{UP}/{MOD}/@v/v1.0.0.zip"] = (200, z)
    status, _, body = get(f"/{MOD}/@v/v1.0.0.zip", store=store, upstream=upstream)
    assert (status, body) == (200, z)
    assert store.get(f"{MOD}/@v/v1.0.0.zip") == z


def test_zip_without_gomod_agrees_with_synthesized_mod(store):
    legacy = b"module example.com/m\n"
    z = make_zip(MOD, "v1.0.0", {"m.go": b"package m\n"})
    up = ScriptedUpstream(
        {f"{UP}/{MOD}/@v/v1.0.0.mod": (200, legacy), f"{UP}/{MOD}/@v/v1.0.0.zip": (200, z)}
    )
    assert get(f"/{MOD}/@v/v1.0.0.mod", store=store, upstream=up)[0] == 200
    assert get(f"/{MOD}/@v/v1.0.0.zip", store=store, upstream=up)[0] == 200


def test_head_sends_no_body(store, upstream):
    status, headers, body = get(
        f"/{MOD}/@v/v1.0.0.zip", store=store, upstream=upstream, method="HEAD"
    )
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len(ZIP))


# -- upstream list semantics -------------------------------------------------------------


def _answer(kind):
    return {
        "ok": (200, b"v9.9.9\n"),
        "404": (404, b"not found: gone fishing"),
        "410": (410, b"gone"),
        "403": (403, b"forbidden by policy"),
        "500": (500, b"oops"),
        "timeout": UpstreamResult(status=0, error="timed out", timeout=True),
        "refused": UpstreamResult(status=0, error="connection refused"),
    }[kind]


@pytest.mark.parametrize(
    ("sep", "first", "asks_second", "status"),
    [
        (",", "404", True, 200),
        (",", "410", True, 200),
        (",", "403", False, 403),
        (",", "500", False, 502),
        (",", "timeout", False, 504),
        (",", "refused", False, 502),
        ("|", "404", True, 200),
        ("|", "403", True, 200),
        ("|", "500", True, 200),
        ("|", "timeout", True, 200),
        ("|", "refused", True, 200),
    ],
)
def test_goproxy_list_semantics(store, sep, first, asks_second, status):
    up = ScriptedUpstream(
        {f"{UP}/{MOD}/@v/list": _answer(first), f"{UP2}/{MOD}/@v/list": (200, b"v9.9.9\n")}
    )
    cfg = ProxyConfig(upstream=f"{UP}{sep}{UP2}")
    got = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert got[0] == status
    assert (f"{UP2}/{MOD}/@v/list" in up.requests) is asks_second


def test_not_found_everywhere_is_404_and_remembered(store):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/list": (404, b"not found: no such module")})
    cfg = ProxyConfig(upstream=f"{UP},{UP2}")
    status, headers, body = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert status == 404 and body == b"not found: no such module\n"
    assert len(up.requests) == 2
    status, headers, body = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg, now=1010)
    assert status == 404 and "negative" in headers["cache-status"]
    assert len(up.requests) == 2
    get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg, now=1100)
    assert len(up.requests) == 4


def test_fault_is_preferred_over_not_found(store):
    up = ScriptedUpstream(
        {f"{UP}/{MOD}/@v/list": (404, b"nope"), f"{UP2}/{MOD}/@v/list": (500, b"down")}
    )
    cfg = ProxyConfig(upstream=f"{UP},{UP2}")
    status, _, body = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert status == 502 and b"answered 500" in body
    assert kept(store) == []  # a fault is never remembered as not-found


@pytest.mark.parametrize(
    ("answer", "status"),
    [((500, b"down"), 502), ((200, b"PK\x03\x04 not a zip"), 502), ((403, b"vetoed"), 403)],
)
def test_a_failure_is_remembered_for_failure_ttl_with_its_status_and_text(store, answer, status):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/v1.0.0.zip": answer})
    cfg = ProxyConfig(upstream=UP, failure_ttl=5, negative_ttl=0)
    path = f"/{MOD}/@v/v1.0.0.zip"
    first = get(path, store=store, upstream=up, config=cfg)
    assert first[0] == status and first[1]["cache-status"] == "goproxy; fwd=miss"
    again = get(path, store=store, upstream=up, config=cfg, now=1004.5)
    assert (again[0], again[2]) == (first[0], first[2])
    assert again[1]["cache-status"] == 'goproxy; hit; detail="failure remembered"'
    assert again[1]["cache-control"] == first[1]["cache-control"]
    assert len(up.requests) == 1
    get(path, store=store, upstream=up, config=cfg, now=1005)  # the window has passed
    assert len(up.requests) == 2
    assert kept(store) == []


def test_failure_ttl_zero_remembers_nothing_and_not_found_keeps_its_own_ttl(store):
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/list": (500, b"down")})
    cfg = ProxyConfig(upstream=UP, failure_ttl=0)
    get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert store.keys() == []
    get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert len(up.requests) == 2
    # A not-found is remembered for negative_ttl, whatever failure_ttl says.
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/list": (404, b"gone")})
    cfg = ProxyConfig(upstream=UP, failure_ttl=1, negative_ttl=60)
    get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    status, headers, _ = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg, now=1030)
    assert status == 404 and "negative" in headers["cache-status"]
    assert len(up.requests) == 1
    # An old failure entry past failure_ttl is not answered even when negative_ttl is longer.
    up = ScriptedUpstream({f"{UP}/{MOD}/@v/list": (500, b"down")})
    get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg, now=2000)
    get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg, now=2030)
    assert len(up.requests) == 2


def test_off_is_cache_only(store):
    cfg = ProxyConfig(upstream="off")
    status, _, body = get(f"/{MOD}/@v/v1.0.0.info", store=store, config=cfg)
    assert status == 404 and b"lookups are off" in body
    store.put(f"{MOD}/@v/v1.0.0.info", INFO)
    assert get(f"/{MOD}/@v/v1.0.0.info", store=store, config=cfg)[2] == INFO


def test_private_modules_come_from_their_repository_only(store):
    """Private modules go to ``direct`` whatever the upstream list says (issue: direct mode)."""
    up = ScriptedUpstream({"direct:example.com/m@list": (200, b"v1.0.0\n")})
    cfg = ProxyConfig(upstream=f"{UP},file:///srv/private", private="example.com/m", anonymous="*")
    status, _, body = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert (status, body) == (200, b"v1.0.0\n")
    assert up.requests == ["direct:example.com/m@list"]
    cfg = ProxyConfig(upstream=UP, private="*.com", anonymous="*")
    status, _, body = get(f"/{MOD}/@v/v1.0.0.info", store=store, upstream=up, config=cfg)
    assert status == 404
    assert all(u.startswith("direct:") for u in up.requests)


def test_direct_upstream_answers_and_failures(store):
    up = ScriptedUpstream(
        {
            "direct:example.com/m@v1.0.0.info": (200, INFO),
            "direct:example.com/m@list": (404, b"not found: no tags"),
        }
    )
    cfg = ProxyConfig(upstream=f"{UP}|direct")
    status, _, body = get(f"/{MOD}/@v/v1.0.0.info", store=store, upstream=up, config=cfg)
    assert (status, body) == (200, INFO)
    status, _, body = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert status == 404 and b"no tags" in body


# -- relaying a zip while it is fetched ----------------------------------------------------


def _drive_relay(zip_bytes, *, method="GET"):
    """Carry out effects by hand, relaying the upstream body as a server does."""
    from goproxy_core.proxy import (
        AbortBlob,
        CheckZip,
        CloseConnection,
        CommitBlob,
        FetchUpstream,
        ReadBlob,
        SendBytes,
        StatBlob,
    )

    store = MemoryStore()
    conn = ProxyConnection(ProxyConfig(upstream=UP))
    conn.receive_data(f"{method} /{MOD}/@v/v1.0.0.zip HTTP/1.1\r\nHost: p\r\n\r\n".encode())
    out = bytearray()
    writer = None
    seen = []
    while True:
        eff = conn.next_effect(1000.0, 1000.0)
        seen.append(type(eff).__name__)
        if isinstance(eff, SendBytes):
            out += eff.data
        elif isinstance(eff, StatBlob):
            conn.blob_statted(None)
        elif isinstance(eff, ReadBlob):
            conn.blob_read(None)
        elif type(eff).__name__ == "SaveBlob":  # the version's record, after the commit
            store.put(eff.key, eff.data)
            conn.blob_saved(True)
        elif isinstance(eff, FetchUpstream):
            assert eff.relay is (method == "GET")
            writer = store.writer(eff.into)
            writer.write(zip_bytes)
            if eff.relay:
                out += conn.relay_started(len(zip_bytes))
                out += zip_bytes[:-10]  # everything but the held-back tail
                held = zip_bytes[-10:]
            else:
                held = b""
            conn.upstream_fetched(UpstreamResult(status=200, held=held))
        elif isinstance(eff, CheckZip):
            conn.zip_checked(eff.check(writer.reader()))
        elif isinstance(eff, CommitBlob):
            conn.blob_committed(writer.commit())
        elif isinstance(eff, AbortBlob):
            writer.abort()
            conn.blob_aborted()
        elif isinstance(eff, CloseConnection):
            return bytes(out), seen, store, True
        elif type(eff).__name__ == "SendBlob":
            out += store.get(eff.key)
            conn.blob_sent()
        else:
            return bytes(out), seen, store, False


def test_relay_releases_the_tail_only_after_the_zip_is_stored():
    out, seen, store, closed = _drive_relay(ZIP)
    assert not closed
    ((status, headers, body),) = parse_responses(out)
    assert (status, body) == (200, ZIP)
    assert headers["cache-status"] == "goproxy; fwd=miss; stored"
    assert seen.index("CommitBlob") < len(seen) - 2
    assert "SendBlob" not in seen
    assert store.get(f"{MOD}/@v/v1.0.0.zip") == ZIP


def test_relay_of_a_bad_zip_cuts_the_connection():
    bad = b"PK\x03\x04" + b"x" * 100
    out, seen, store, closed = _drive_relay(bad)
    assert closed
    assert "AbortBlob" in seen
    assert parse_responses(out) == []  # the client never sees a complete response
    assert kept(store) == []


def test_head_is_never_relayed():
    out, _seen, _store, _closed = _drive_relay(ZIP, method="HEAD")
    ((status, _headers, body),) = parse_responses(out, head=True)
    assert status == 200 and body == b""


def test_relay_started_out_of_turn():
    from goproxy_core import LocalProtocolError

    conn = ProxyConnection(ProxyConfig(upstream=UP))
    with pytest.raises(LocalProtocolError):
        conn.relay_started(10)


PSEUDO = "v0.0.0-20240102030405-abcdefabcdef"


@pytest.mark.parametrize(
    ("first_list", "answer"),
    [((200, f"{PSEUDO} 2024-01-02T03:04:05Z\n".encode()), 404), ((404, b"no"), 200)],
    ids=["first-has-list", "first-has-nothing"],
)
def test_latest_stays_with_the_upstream_that_has_the_list(store, first_list, answer):
    """cmd/go modfetch/proxy.go ``Latest``: a proxy without @latest but with a list gives
    latest from that list (``latestFromList``) and no further proxy is asked. The proxy
    answers 404 there, so the client derives it from the list, which comes from the same
    upstream; only a proxy without the module lets the walk go on."""
    up = ScriptedUpstream(
        {
            f"{UP}/{MOD}/@latest": (404, b"not found"),
            f"{UP}/{MOD}/@v/list": first_list,
            f"{UP2}/{MOD}/@latest": (200, b'{"Version":"v1.9.0"}'),
            f"{UP2}/{MOD}/@v/list": (200, b"v1.9.0\n"),
        }
    )
    cfg = ProxyConfig(upstream=f"{UP},{UP2}")
    status, _, body = get(f"/{MOD}/@latest", store=store, upstream=up, config=cfg)
    assert status == answer, body
    status, _, body = get(f"/{MOD}/@v/list", store=store, upstream=up, config=cfg)
    assert body == (first_list[1] if answer == 404 else b"v1.9.0\n")


def test_latest_of_the_last_upstream_asks_no_list(store):
    up = ScriptedUpstream({f"{UP}/{MOD}/@latest": (404, b"not found")})
    assert get(f"/{MOD}/@latest", store=store, upstream=up)[0] == 404
    assert up.requests == [f"{UP}/{MOD}/@latest"]
