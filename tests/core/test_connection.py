"""HTTP handling of ProxyConnection: framing, bad input, pipelining, limits, misuse."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core import LocalProtocolError
from goproxy_core.proxy import (
    NEED_DATA,
    BlobData,
    CloseConnection,
    ConnectionState,
    HotReplies,
    ProxyConfig,
    ProxyConnection,
    ReadBlob,
    RetractedPolicy,
    SendBlob,
    SendBytes,
)
from goproxy_core.proxy.replies import REASONS
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange

from support import make_zip, parse_responses

INFO = b'{"Version":"v1.0.0"}'


def _conn(**kw):
    return ProxyConnection(ProxyConfig(upstream="off", **kw))


def _store():
    s = MemoryStore()
    s.put("example.com/m/@v/v1.0.0.info", INFO)
    return s


def _req(target, method="GET", extra=""):
    return f"{method} {target} HTTP/1.1\r\nHost: p\r\n{extra}\r\n".encode()


BAD_TARGETS = [
    ("/Example.com/m/@v/list", 404, b"invalid escaped module path"),
    ("/example.com/m/../x/@v/list", 404, b"malformed module path"),
    ("/example.com/%2e%2e/@v/list", 404, b"malformed module path"),
    ("/example.com/m%00/@v/list", 404, b"control characters"),
    ("/example.com/%zz/@v/list", 400, b"percent-encoding"),
    ("/example.com/%e9/@v/list", 404, b"not valid UTF-8"),
    ("/example.com/!!m/@v/list", 404, b"invalid escaped module path"),
    ("/example.com/m/@v/v1.0.0.exe", 404, b"unknown file"),
    ("/example.com/m/@v/v1.2.mod", 404, b"not canonical"),
    ("/example.com/m/@v/V1.0.0.info", 404, b"invalid escaped version"),
    ("/example.com/m", 404, b"not a module proxy path"),
    ("/sumdb/sum.example/lookup/x", 400, b"invalid module@version"),
    ("/sumdb/sum.example/tile/8/0/12", 400, b"invalid tile"),
    ("/sumdb/sum.example/other", 404, b"unknown checksum database endpoint"),
    ("/sumdb/../latest", 404, b"invalid checksum database name"),
    ("*", 400, b"absolute path"),
]


@pytest.mark.parametrize(("target", "status", "text"), BAD_TARGETS)
def test_bad_targets_get_a_text_4xx(target, status, text):
    raw = exchange(_conn(), _req(target), store=_store())
    ((got, headers, body),) = parse_responses(raw)
    assert got == status
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert text in body, body


def test_long_path_is_refused():
    raw = exchange(_conn(), _req("/" + "a" * 20000), store=_store())
    ((status, _, _body),) = parse_responses(raw)
    assert status in (414, 431)


def test_header_flood_is_refused():
    extra = "".join(f"X-{i}: {'v' * 50}\r\n" for i in range(1000))
    raw = exchange(_conn(), _req("/healthz", extra=extra), store=_store())
    ((status, _, _),) = parse_responses(raw)
    assert status == 431


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405(method):
    raw = exchange(
        _conn(), _req("/healthz", method=method, extra="Content-Length: 0\r\n"), store=_store()
    )
    ((status, headers, _),) = parse_responses(raw)
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_garbage_and_tls_bytes_get_400_and_close():
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), b"HELLO\r\n\r\n"):
        conn = _conn()
        raw = exchange(conn, junk, store=_store())
        ((status, headers, _),) = parse_responses(raw)
        assert status == 400 and headers["connection"] == "close"
        assert isinstance(conn.next_effect(0.0, 0.0), CloseConnection)


def test_pipelined_requests_are_answered_in_order():
    data = _req("/example.com/m/@v/v1.0.0.info") + _req("/healthz") + _req("/nope.example/x")
    raw = exchange(_conn(), data, store=_store())
    got = [(s, b) for s, _, b in parse_responses(raw)]
    assert got[0] == (200, INFO)
    assert got[1] == (200, b"ok\n")
    assert got[2][0] == 404


def test_byte_by_byte_is_the_same_as_whole():
    data = _req("/example.com/m/@v/v1.0.0.info") + _req("/healthz")
    whole = exchange(_conn(), data, store=_store())
    conn = _conn()
    store = _store()
    pieces = b"".join(exchange(conn, data[i : i + 1], store=store) for i in range(len(data)))
    assert pieces == whole


def test_connection_close_and_http10():
    conn = _conn()
    raw = exchange(conn, _req("/healthz", extra="Connection: close\r\n"), store=_store())
    assert parse_responses(raw)[0][0] == 200
    assert isinstance(conn.next_effect(0.0, 0.0), CloseConnection)
    conn = _conn()
    raw = exchange(conn, b"GET /healthz HTTP/1.0\r\n\r\n", store=_store())
    assert b"HTTP/1.1 200" in raw
    assert isinstance(conn.next_effect(0.0, 0.0), CloseConnection)


def test_client_close_ends_connection():
    conn = _conn()
    assert exchange(conn, b"", store=_store(), close=True) == b""
    assert isinstance(conn.next_effect(0.0, 0.0), CloseConnection)


def test_base_path():
    conn = ProxyConnection(ProxyConfig(upstream="off", base_path="/mod/"))
    raw = exchange(
        conn,
        _req("/mod/example.com/m/@v/v1.0.0.info")
        + _req("/example.com/m/@v/v1.0.0.info")
        + _req("/mod"),
        store=_store(),
    )
    (a, b, c) = parse_responses(raw)
    assert a[0] == 200 and b[0] == 404 and c[0] == 200


def test_absolute_form_target():
    raw = exchange(_conn(), _req("http://proxy.test/example.com/m/@v/v1.0.0.info"), store=_store())
    assert parse_responses(raw)[0][2] == INFO


def test_query_string_is_ignored():
    raw = exchange(_conn(), _req("/example.com/m/@v/v1.0.0.info?go-get=1"), store=_store())
    assert parse_responses(raw)[0][2] == INFO


def test_request_body_is_discarded_and_keepalive_continues():
    data = b"GET /healthz HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhello" + _req("/healthz")
    raw = exchange(_conn(), data, store=_store())
    assert [r[0] for r in parse_responses(raw)] == [200, 200]


def test_misuse_raises_local_protocol_error_and_the_connection_is_done():
    conn = _conn()
    conn.receive_data(_req("/example.com/m/@v/v1.0.0.info"))
    eff = conn.next_effect(0.0, 0.0)
    assert isinstance(eff, ReadBlob)
    with pytest.raises(LocalProtocolError):
        conn.next_effect(0.0, 0.0)
    assert conn.state is ConnectionState.ERROR
    # After misuse nothing is accepted, not even the answer that was due; the caller closes.
    for call in (
        lambda: conn.blob_read(BlobData(INFO, 0.0)),
        lambda: conn.blob_statted(None),
        lambda: conn.receive_data(b"x"),
        lambda: conn.blob_sent(),
    ):
        with pytest.raises(LocalProtocolError):
            call()
    assert isinstance(conn.next_effect(0.0, 0.0), CloseConnection)


def test_idle_and_request_timeouts():
    # Deadlines run on the monotonic clock (the second argument), whatever the wall clock says.
    # A fresh connection that sends nothing gets request_timeout, and is closed without a 408.
    conn = _conn(idle_timeout=30.0, request_timeout=5.0)
    assert conn.next_effect(1e9, 100.0) is NEED_DATA
    assert conn.deadline() == 105.0
    conn.timed_out()
    assert isinstance(conn.next_effect(1e9, 106.0), CloseConnection)
    assert conn.take_log() == []

    # Between requests on a kept-alive connection: idle_timeout from the last response.
    conn = _conn(idle_timeout=30.0, request_timeout=5.0)
    assert conn.next_effect(1e9, 100.0) is NEED_DATA
    conn.receive_data(_req("/healthz"))
    eff = conn.next_effect(1e9, 101.0)
    assert isinstance(eff, SendBytes) and eff.data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert conn.next_effect(1e9, 102.0) is NEED_DATA
    assert conn.deadline() == 131.0
    conn.receive_data(b"GET /hea")  # part-way through the next head: request_timeout again
    assert conn.next_effect(1e9, 140.0) is NEED_DATA
    assert conn.deadline() == 145.0
    conn.receive_data(b"lthz HT")  # a trickle moves no deadline: the head must be whole in time
    assert conn.next_effect(1e9, 144.0) is NEED_DATA
    assert conn.deadline() == 145.0
    conn.timed_out()
    eff = conn.next_effect(1e9, 145.5)
    assert isinstance(eff, SendBytes) and eff.data.startswith(b"HTTP/1.1 408 Request Timeout")
    [_, rec] = conn.take_log()
    assert (rec.method, rec.target, rec.status, rec.started) == ("GET", "/healthz", 408, 140.0)


def test_a_fresh_connection_has_request_timeout_for_its_first_head_however_it_trickles():
    conn = _conn(idle_timeout=30.0, request_timeout=5.0)
    assert conn.next_effect(1e9, 100.0) is NEED_DATA
    for mono in (102.0, 104.0):
        conn.receive_data(b"G")
        assert conn.next_effect(1e9, mono) is NEED_DATA
        assert conn.deadline() == 105.0
    conn.timed_out()
    eff = conn.next_effect(1e9, 105.0)
    assert isinstance(eff, SendBytes) and b" 408 " in eff.data
    assert isinstance(conn.next_effect(1e9, 105.0), CloseConnection)

    conn = _conn(idle_timeout=30.0, request_timeout=5.0)
    conn.receive_data(b"GET /healthz HTTP/1.1\r\n")
    assert conn.next_effect(1e9, 200.0) is NEED_DATA
    assert conn.deadline() == 205.0
    conn.timed_out()
    eff = conn.next_effect(1e9, 206.0)
    assert isinstance(eff, SendBytes) and b" 408 " in eff.data
    assert isinstance(conn.next_effect(1e9, 206.0), CloseConnection)


def test_wall_clock_jump_moves_no_deadline():
    conn = _conn(request_timeout=30.0)
    assert conn.next_effect(1_700_000_000.0, 50.0) is NEED_DATA
    assert conn.deadline() == 80.0
    # The wall clock steps back a day (NTP, a VM resumed): the deadline stays put.
    assert conn.next_effect(1_699_913_600.0, 51.0) is NEED_DATA
    assert conn.deadline() == 80.0


def test_date_is_wall_clock_and_duration_monotonic():
    conn = _conn()
    out = exchange(conn, _req("/healthz"), store=_store(), now=784111777.0, monotonic=12.5)
    assert b"Sun, 06 Nov 1994 08:49:37 GMT\r\n" in out
    [rec] = conn.take_log()
    assert (rec.started, rec.time) == (12.5, 784111777.0)


def test_malformed_request_is_timed_from_its_arrival():
    conn = _conn()
    exchange(conn, b"GET / HTTP/1.1\r\nbad header\r\n\r\n", store=_store(), now=1e9, monotonic=7.0)
    [rec] = conn.take_log()
    assert rec.status == 400 and (rec.started, rec.time) == (7.0, 1e9)


@pytest.mark.parametrize("hot", [False, True])
@pytest.mark.parametrize(
    ("raw", "method", "target", "status"),
    [
        (
            b"GET /a/b HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "GET",
            "/a/b",
            501,
        ),
        (b"HEAD /q\x01 HTTP/1.1\r\nHost: p\r\n\r\n", "HEAD", "/q%01", 400),
        (b"GET /x HTTP/1.1\r\nbad header\r\n\r\n", "GET", "/x", 400),
        (b"PUT /" + b"a" * 20000, "PUT", "/" + "a" * 511, 414),
        (b"\x16\x03\x01\x00", "%16%03%01%00", "", 400),
        (b"HEAD /x HTTP/1.1\r\nHost: p\r\nX: " + b"a" * 20000, "HEAD", "/x", 431),
    ],
)
def test_malformed_request_logs_what_was_read_and_closes(raw, method, target, status, hot):
    """Method and target as far as they came, timed from arrival; the connection then closes."""
    conn = _hot_conn(HotReplies()) if hot else _conn()
    assert exchange(conn, _req("/healthz"), store=_store(), now=1e9, monotonic=1.0)
    conn.take_log()
    out = exchange(conn, raw[:5], store=_store(), now=1e9 + 1, monotonic=2.0)
    if raw[5:]:  # the rest later: timed from the first bytes all the same
        assert out == b""
        out = exchange(conn, raw[5:], store=_store(), now=1e9 + 3, monotonic=4.0)
    [(got, headers, body)] = parse_responses(out)
    assert got == status and headers["connection"] == "close"
    assert out.startswith(b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status].encode()))
    if status in (414, 431):  # the limit's own words, as when the head is read whole
        assert body in (b"request target too long\n", b"request header fields too large\n")
    else:
        assert body.startswith(REASONS[status].lower().encode() + b": ")
    [rec] = conn.take_log()
    assert (rec.method, rec.target, rec.status) == (method, target, status)
    assert (rec.started, rec.time) == (2.0, 1e9 + 1)
    assert isinstance(conn.next_effect(1e9, 5.0), CloseConnection)


def test_limit_refusals_close_the_connection():
    """A head h11 reads whole but over the limits gets its 431 and the connection closes."""
    conn = _conn(max_request_head=2000)
    extra = "".join(f"X-{i}: {'v' * 50}\r\n" for i in range(60))
    out = exchange(conn, _req("/healthz", extra=extra) + _req("/healthz"), store=_store())
    [(status, headers, _)] = parse_responses(out)
    assert (status, headers["connection"]) == (431, "close")


def test_every_status_has_its_standard_reason_phrase():
    assert REASONS[501] == "Not Implemented" and REASONS[507] == "Insufficient Storage"
    assert REASONS[413] == "Content Too Large" and REASONS[414] == "URI Too Long"
    req = _req("/healthz", extra="Transfer-Encoding: gzip, chunked\r\n")
    raw = exchange(_conn(), req, store=_store())
    assert raw.startswith(b"HTTP/1.1 501 Not Implemented\r\n")


def test_access_log():
    conn = _conn()
    exchange(conn, _req("/healthz") + _req("/x.example/@v/list"), store=_store(), now=5.0)
    log = conn.take_log()
    assert [(r.method, r.target, r.status) for r in log] == [
        ("GET", "/healthz", 200),
        ("GET", "/x.example/@v/list", 404),
    ]
    assert conn.take_log() == []


def test_send_failed_closes():
    conn = ProxyConnection(ProxyConfig(upstream="off"))
    store = MemoryStore()
    store.put("example.com/m/@v/v1.0.0.zip", b"PK")
    conn.receive_data(_req("/example.com/m/@v/v1.0.0.zip"))
    effects = []
    while True:
        eff = conn.next_effect(0.0, 0.0)
        effects.append(type(eff).__name__)
        if type(eff).__name__ == "StatBlob":
            conn.blob_statted(store.stat(eff.key))
        elif type(eff).__name__ == "ReadBlob":
            conn.blob_read(None)
        elif type(eff).__name__ == "SendBlob":
            conn.send_failed()
        elif isinstance(eff, CloseConnection):
            break
    assert effects[-2:] == ["SendBlob", "CloseConnection"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_responses_or_close(data):
    conn = _conn()
    raw = exchange(conn, data, store=_store(), upstream=ScriptedUpstream(), close=True)
    for status, headers, _ in parse_responses(raw):
        assert status < 500
        assert headers["content-type"].startswith("text/plain") or status in (200, 304)


@given(st.text(alphabet="abcXYZ019./!%@~-_+vV", max_size=60))
def test_arbitrary_paths_never_5xx(path):
    raw = exchange(_conn(), _req("/" + path.replace(" ", "")), store=_store())
    for status, _, _ in parse_responses(raw):
        assert status < 500


# -- the fast request path and the hot-answer table ------------------------------------------


def _hot_conn(hot, **kw):
    return ProxyConnection(ProxyConfig(upstream="off", **kw), hot=hot)


def test_repeated_immutable_answers_skip_the_engine():
    hot = HotReplies()
    store = _store()
    first = exchange(_hot_conn(hot), _req("/example.com/m/@v/v1.0.0.info"), store=store, now=1e9)
    assert len(hot) == 1
    store.delete("example.com/m/@v/v1.0.0.info")  # not asked again: the answer is immutable
    again = exchange(
        _hot_conn(hot), _req("/example.com/m/@v/v1.0.0.info"), store=store, now=1e9 + 5
    )
    (s1, h1, b1), (s2, h2, b2) = parse_responses(first)[0], parse_responses(again)[0]
    assert (s1, b1) == (s2, b2) == (200, INFO)
    assert h1["date"] != h2["date"]
    assert {k: v for k, v in h1.items() if k != "date"} == {
        k: v for k, v in h2.items() if k != "date"
    }
    head = exchange(_hot_conn(hot), _req("/example.com/m/@v/v1.0.0.info", "HEAD"), store=store)
    assert parse_responses(head, head=True)[0][0] == 404  # HEAD is its own entry: not cached
    # Conditional requests still go through the engine (and get their 304).
    etag = h1["etag"]
    conn = _hot_conn(hot)
    raw = exchange(
        conn,
        _req("/example.com/m/@v/v1.0.0.info", extra=f"If-None-Match: {etag}\r\n"),
        store=_store(),
    )
    assert parse_responses(raw)[0][0] == 304


def test_hot_answers_are_bounded_and_off_under_gone():
    hot = HotReplies(max_bytes=10)
    for v in ("v1.0.0", "v1.0.1", "v1.0.2"):
        s = MemoryStore()
        s.put(f"example.com/m/@v/{v}.info", b'{"Version":"%s"}' % v.encode())
        exchange(_hot_conn(hot), _req(f"/example.com/m/@v/{v}.info"), store=s)
    assert len(hot) == 1  # started again once past its budget
    gone = HotReplies()
    exchange(
        _hot_conn(gone, retracted=RetractedPolicy.GONE),
        _req("/example.com/m/@v/v1.0.0.info"),
        store=_store(),
    )
    assert len(gone) == 0


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.0\r\nHost: p\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\nHost: q\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\nX: a\r\n b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n\r\nab",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\nX: \xe9\r\n\r\n",
        b"GET http://p/healthz HTTP/1.1\r\nHost: p\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\nBad Name: x\r\n\r\n",
        b"HEAD /healthz HTTP/1.1\r\nHost: p\r\nConnection: keep-alive\r\n\r\n",
        b"GET /healthz HTTP/1.1\nHost: p\n\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\n\r\n",
        b"GET /healthz HTTP/1.1\nHost: p\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: p\r\n\n",
    ],
)
def test_fast_path_answers_as_h11_does(head):
    """Whatever the fast path takes or hands to h11, the answer is h11's own."""
    fast = exchange(_hot_conn(HotReplies()), head + _req("/healthz"), store=_store(), now=1e9)
    conn = _conn()
    conn._fast_request = lambda: False  # type: ignore[method-assign]  # h11 reads everything
    slow = exchange(conn, head + _req("/healthz"), store=_store(), now=1e9)
    is_head = head.startswith(b"HEAD")
    assert parse_responses(fast, head=is_head) == parse_responses(slow, head=is_head)


def test_fast_path_waits_for_the_whole_head_and_bounds_it():
    conn = _hot_conn(HotReplies(), max_request_head=200)
    assert exchange(conn, b"GET /healthz HTTP/1.1\r\nHo", store=_store()) == b""
    assert not conn.between_requests
    raw = exchange(conn, b"st: p\r\n\r\n", store=_store())
    assert parse_responses(raw)[0][:1] == (200,)
    raw = exchange(conn, b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 300, store=_store())
    assert parse_responses(raw)[0][0] == 431


def test_repeated_zip_hits_go_straight_to_the_blob_and_a_lost_blob_is_forgotten():
    hot = HotReplies()
    store = _store()
    store.put("example.com/m/@v/v1.0.0.zip", b"PK-zip-bytes")
    req = _req("/example.com/m/@v/v1.0.0.zip")
    first = exchange(_hot_conn(hot), req, store=store)
    assert parse_responses(first)[0][2] == b"PK-zip-bytes"
    assert len(hot) == 1
    conn = _hot_conn(hot)
    conn.receive_data(req)
    blob = conn.next_effect(0.0, 0.0)
    # No StatBlob, and the head rides with the blob: written once the blob is open.
    assert isinstance(blob, SendBlob) and blob.size == len(b"PK-zip-bytes")
    assert blob.head.startswith(b"HTTP/1.1 200 ")
    conn.send_failed()  # say the client went away mid-blob: ask the engine next time
    assert len(hot) == 0
    assert [r.status for r in conn.take_log()] == [200]


def test_a_hot_zip_whose_file_is_gone_is_answered_again_by_the_engine():
    """An eviction (or a quarantine) in another process removed a file the hot table names:
    nothing was written yet, so the engine answers, here from the upstream, byte-identical,
    and the access log holds that one answer."""
    zipped = make_zip("example.com/m", "v1.0.0", {"go.mod": b"module example.com/m\n"})
    up = ScriptedUpstream({"https://up.test/example.com/m/@v/v1.0.0.zip": (200, zipped)})
    hot, store = HotReplies(), _store()
    store.put("example.com/m/@v/v1.0.0.zip", zipped)
    req = _req("/example.com/m/@v/v1.0.0.zip")

    def conn():
        return ProxyConnection(ProxyConfig(upstream="https://up.test"), hot=hot)

    exchange(conn(), req, store=store, upstream=up)
    assert len(hot) == 1 and up.requests == []
    store.delete("example.com/m/@v/v1.0.0.zip")  # evicted meanwhile
    again = conn()
    raw = exchange(again, req, store=store, upstream=up)
    [(status, _, body)] = parse_responses(raw)
    assert (status, body) == (200, zipped)
    assert len(up.requests) == 1  # fetched again
    [rec] = again.take_log()
    assert "fwd=miss" in rec.cache_status
    # Step by step: the hot answer's SendBlob carries the head; missing, it is forgotten.
    exchange(conn(), req, store=store, upstream=up)  # a store hit: in the hot table again
    assert len(hot) == 1
    store.delete("example.com/m/@v/v1.0.0.zip")
    hot_conn = conn()
    hot_conn.receive_data(req)
    blob = hot_conn.next_effect(0.0, 0.0)
    assert isinstance(blob, SendBlob) and blob.head.startswith(b"HTTP/1.1 200 ")
    hot_conn.blob_missing()
    assert len(hot) == 0
    assert hot_conn.state is not ConnectionState.SENDING_BLOB
    assert hot_conn.take_log() == []  # nothing recorded for an answer that never went out
    # A SendBlob without a head (its head already written) cannot be "missing".
    other = _hot_conn(HotReplies())
    other.receive_data(_req("/healthz"))
    with pytest.raises(LocalProtocolError):
        other.blob_missing()


BARE_LF_HEADS = [
    b"GET /healthz HTTP/1.1\nHost: p\n\n",
    b"GET /healthz HTTP/1.1\r\nHost: p\nUser-Agent: x\r\n\n",
    b"HEAD /healthz HTTP/1.1\nHost: p\r\n\r\n",
    b"GET /healthz HTTP/1.1\nHost: p\nX: a\n b\n\n",
    b"GET /healthz HTTP/1.1\nBad Name: x\n\n",
]


@pytest.mark.parametrize("hot", [False, True])
@pytest.mark.parametrize("head", BARE_LF_HEADS)
def test_bare_lf_heads_are_read_as_h11_reads_them(head, hot):
    """Lines ended by a bare LF: answered at once, exactly when and as h11 itself accepts them."""
    ref = h11.Connection(h11.SERVER)
    ref.receive_data(head)
    try:
        event = ref.next_event()
    except h11.RemoteProtocolError:
        event = None
    conn = _hot_conn(HotReplies()) if hot else _conn()
    for _ in range(2):  # the second time round from the hot table
        raw = exchange(conn, head, store=_store(), now=1e9)
        [(status, headers, body)] = parse_responses(raw, head=head.startswith(b"HEAD"))
        if isinstance(event, h11.Request):
            assert status == 200 and body == (b"" if event.method == b"HEAD" else b"ok\n")
        else:
            assert status == 400 and headers["connection"] == "close"
            break


def test_bare_lf_head_in_pieces_is_answered_when_complete():
    conn = _hot_conn(HotReplies(), request_timeout=5.0, idle_timeout=60.0)
    assert exchange(conn, b"GET /healthz HTTP/1.1\nHost: p\n", store=_store()) == b""
    assert conn.deadline() == 5.0  # part-way through a head
    raw = exchange(conn, b"\n", store=_store())
    assert parse_responses(raw)[0][0] == 200


class _NameLimitedStore(MemoryStore):
    """A store on a file system whose names are at most 255 bytes: such keys are never held."""

    @staticmethod
    def _too_long(key: str) -> bool:
        return any(len(part.encode()) > 255 for part in key.split("/"))

    def stat(self, key):
        return None if self._too_long(key) else super().stat(key)

    def open(self, key):
        return None if self._too_long(key) else super().open(key)

    def writer(self, key):
        if self._too_long(key):
            raise OSError(36, "File name too long")
        return super().writer(key)


@pytest.mark.parametrize("file", ["list", "v1.0.0.info", "v1.0.0.mod", "@latest"])
def test_a_path_element_over_255_bytes_is_passed_on(file):
    """Go's module path rules (x/mod module.CheckPath) set no element length: the core asks
    the upstream and passes its answer on even when the store cannot hold the key."""
    mod = "example.com/" + "a" * 300
    at = "" if file == "@latest" else "@v/"
    up = "https://up.example"
    body = {"list": b"v1.0.0\n", "v1.0.0.mod": b"module " + mod.encode() + b"\n"}.get(
        file, b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'
    )
    upstream = ScriptedUpstream({f"{up}/{mod}/{at}{file}": (200, body)})
    conn = ProxyConnection(ProxyConfig(upstream=up))
    raw = exchange(conn, _req(f"/{mod}/{at}{file}"), store=_NameLimitedStore(), upstream=upstream)
    [(status, _, got)] = parse_responses(raw)
    assert (status, got) == (200, body)
    missing = exchange(conn, _req(f"/{mod}x/@v/list"), store=_NameLimitedStore(), upstream=upstream)
    [(status, headers, text)] = parse_responses(missing)
    assert status == 404 and headers["content-type"].startswith("text/plain"), text
