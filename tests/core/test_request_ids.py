"""Request ids: ``X-Request-Id`` on every response the core writes, the same id in its record."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import ProxyConnection, RequestIds, safe_request_id
from goproxy_core.proxy import HotReplies, ProxyConfig
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange

from support import parse_responses

INFO = b'{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}'
UP = "https://up.example"
SAFE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def _store() -> MemoryStore:
    s = MemoryStore()
    s.put("example.com/m/@v/v1.0.0.info", INFO)
    return s


def _req(target: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"GET {target} HTTP/{version}\r\nHost: p\r\n{extra}\r\n".encode()


def _ids(raw: bytes) -> list[str]:
    return [h.get("x-request-id", "") for _, h, _ in parse_responses(raw)]


def test_counting_with_a_prefix() -> None:
    ids = RequestIds("ab12-")
    assert [ids.next(), ids.next(), ids.choose(b""), ids.next()] == [
        b"ab12-1",
        b"ab12-2",
        b"ab12-3",
        b"ab12-4",
    ]
    assert ids.choose(b"client-7") == b"client-7"
    assert ids.choose(b"bad id") == b"ab12-5"
    assert RequestIds().next() == b"1"


@pytest.mark.parametrize("prefix", ["has space-", "x" * 65, "new\nline", "é-"])
def test_an_unsafe_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="request id prefix"):
        RequestIds(prefix)


@given(st.binary(max_size=200))
def test_choose_keeps_only_safe_ids(sent: bytes) -> None:
    got = RequestIds("p-").choose(sent)
    assert SAFE.fullmatch(got.decode("ascii"))
    assert (got == sent) == safe_request_id(sent)
    if sent and SAFE.fullmatch(sent.decode("latin-1")):
        assert got == sent


@pytest.mark.parametrize("hot", [False, True])
def test_every_answer_has_its_own_id_and_the_record_has_it(hot: bool) -> None:
    ids = RequestIds("srv-")
    conn = ProxyConnection(ProxyConfig(upstream="off"), hot=HotReplies() if hot else None, ids=ids)
    target = "/example.com/m/@v/v1.0.0.info"
    raw = exchange(conn, _req(target) * 3 + _req("/nowhere.example/@v/list"), store=_store())
    got = _ids(raw)
    assert got == ["srv-1", "srv-2", "srv-3", "srv-4"]
    assert [r.request_id for r in conn.take_log()] == got
    assert conn.request_id == "srv-4"


def test_the_hot_answer_carries_the_clients_id_and_keeps_none_of_it() -> None:
    hot = HotReplies()
    conn = ProxyConnection(ProxyConfig(upstream="off"), hot=hot, ids=RequestIds("s-"))
    target = "/example.com/m/@v/v1.0.0.info"
    first = exchange(conn, _req(target, "X-Request-Id: one\r\n"), store=_store())
    assert len(hot) == 1
    again = exchange(conn, _req(target, "X-Request-Id: two\r\n") + _req(target), store=_store())
    assert _ids(first) == ["one"]
    assert _ids(again) == ["two", "s-1"]
    bodies = [b for _, _, b in parse_responses(first + again)]
    assert bodies == [INFO] * 3
    assert b"one" not in again


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc-123", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("Root=1-5759e988-bd862e3fe1be46a994272793", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ('quote"d', False),
    ],
)
def test_a_client_id_is_echoed_only_when_safe(sent: str, echoed: bool) -> None:
    conn = ProxyConnection(ProxyConfig(upstream="off"), ids=RequestIds("s-"))
    raw = exchange(conn, _req("/healthz", f"X-Request-Id: {sent}\r\n"), store=_store())
    assert _ids(raw) == [sent if echoed else "s-1"]
    (rec,) = conn.take_log()
    assert rec.request_id == (sent if echoed else "s-1")


@pytest.mark.parametrize(
    "data",
    [
        b"GET /\x01 HTTP/1.1\r\nHost: p\r\nX-Request-Id: mine\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: p\r\nBad Header: x\r\nX-Request-Id: mine\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-Request-Id: mine\r\n\r\n",  # no Host: h11 refuses it
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    ],
)
def test_an_unreadable_request_gets_an_id_of_ours(data: bytes) -> None:
    conn = ProxyConnection(ProxyConfig(upstream="off"), ids=RequestIds("s-"))
    raw = exchange(conn, data, store=_store(), close=True)
    ((status, headers, _),) = parse_responses(raw)
    assert status in (400, 414, 431)
    # Nothing of a head h11 could not read is trusted, the client's id neither.
    assert headers["x-request-id"] == "s-1"
    (rec,) = conn.take_log()
    assert rec.request_id == "s-1"


def test_http10_and_head_and_304_answers_have_ids() -> None:
    conn = ProxyConnection(ProxyConfig(upstream="off"), ids=RequestIds("s-"))
    target = "/example.com/m/@v/v1.0.0.info"
    raw = exchange(conn, _req(target), store=_store())
    etag = parse_responses(raw)[0][1]["etag"]
    raw = exchange(conn, _req(target, f"If-None-Match: {etag}\r\n"), store=_store())
    assert parse_responses(raw, head=True)[0][0] == 304
    assert _ids(raw) == ["s-2"]
    conn = ProxyConnection(ProxyConfig(upstream="off"), ids=RequestIds("t-"))
    raw = exchange(conn, _req(target, version="1.0"), store=_store(), close=True)
    assert _ids(raw) == ["t-1"]


def test_a_408_gets_an_id() -> None:
    conn = ProxyConnection(ProxyConfig(upstream="off"), ids=RequestIds("s-"))
    exchange(conn, b"GET /healthz HTTP/1.1\r\nHo", store=_store(), now=1.0)
    conn.timed_out()
    raw = exchange(conn, b"", store=_store(), now=100.0)
    ((status, headers, _),) = parse_responses(raw)
    assert (status, headers["x-request-id"]) == (408, "s-1")


def test_the_record_names_the_upstream_of_a_miss_and_none_for_a_hit() -> None:
    up = ScriptedUpstream({f"{UP}/example.com/n/@v/v1.0.0.info": (200, INFO, "application/json")})
    conn = ProxyConnection(ProxyConfig(upstream=UP, sumdb=()), ids=RequestIds("s-"))
    store = _store()
    raw = exchange(
        conn,
        _req("/example.com/n/@v/v1.0.0.info")
        + _req("/example.com/n/@v/v1.0.0.info")
        + _req("/example.com/m/@v/v1.0.0.info")
        + _req("/example.com/gone/@v/v1.0.0.info"),
        store=store,
        upstream=up,
    )
    assert [s for s, _, _ in parse_responses(raw)] == [200, 200, 200, 404]
    log = conn.take_log()
    assert [(r.status, r.upstream) for r in log] == [(200, UP), (200, ""), (200, ""), (404, "")]
    assert "miss" in log[0].cache_status and "hit" in log[1].cache_status
