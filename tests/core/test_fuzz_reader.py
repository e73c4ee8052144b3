"""A bounded fuzz of the request reader: ``ProxyConnection`` fed random requests in random splits.

For any bytes, in any split, driven correctly, the connection raises nothing, answers with whole
valid HTTP/1.1 responses and nothing else, never a 5xx of its own making, logs one access record
per response with the same status, and answers the same whichever way the bytes were split (the
fast path and h11 agree) and whether or not the hot-answer table served them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goproxy_core.proxy import (
    NEED_DATA,
    CloseConnection,
    HotReplies,
    ProxyConfig,
    ProxyConnection,
    UpstreamResult,
)
from goproxy_core.proxy import connection as connection_module
from goproxy_core.testing import MemoryStore, ScriptedUpstream, carry_out

from fuzzreq import GOOD_TARGETS, MOD, Case, Req, cases, check_replies
from support import make_zip

GOMOD = f"module {MOD}\n\ngo 1.21\n".encode()
INFO = b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'
UP = "https://up.test"


def _store() -> MemoryStore:
    s = MemoryStore()
    s.put(f"{MOD}/@v/v1.0.0.info", INFO)
    s.put(f"{MOD}/@v/v1.0.0.mod", GOMOD)
    return s


def _upstream() -> ScriptedUpstream:
    zipped = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "a.go": b"package fz\n"})
    return ScriptedUpstream(
        {
            f"{UP}/{MOD}/@v/list": (200, b"v1.0.0\n"),
            f"{UP}/{MOD}/@v/v1.0.0.zip": (200, zipped, "application/zip"),
            f"{UP}/{MOD}/@latest": (200, INFO, "application/json"),
            f"{UP}/{MOD}/@v/v1.1.0.info": (500, b"upstream broke\n"),
        }
    )


def _config() -> ProxyConfig:
    return ProxyConfig(upstream=UP, max_request_head=8192)


def drive(
    conn: ProxyConnection,
    chunks: list[bytes],
    eof: bool,
    store: MemoryStore | None = None,
    upstream: ScriptedUpstream | None = None,
) -> bytes:
    """Hand ``chunks`` to ``conn`` one at a time, carrying out every effect in between."""
    store = _store() if store is None else store
    up = _upstream() if upstream is None else upstream
    out = bytearray()
    pending: dict = {}
    feed = [c for c in chunks if c] + ([b""] if eof else [])
    for i, chunk in enumerate(feed):
        conn.receive_data(chunk)
        while True:
            eff = conn.next_effect(1e9 + i, 100.0 + i * 0.001)
            if eff is NEED_DATA:
                break
            if isinstance(eff, CloseConnection):
                return bytes(out)
            carry_out(conn, eff, store, up, pending, out)
    if not eof:  # the client went quiet: the deadline passes
        conn.timed_out()
        while not isinstance(eff := conn.next_effect(2e9, 1e6), CloseConnection):
            assert eff is not NEED_DATA
            carry_out(conn, eff, store, up, pending, out)
    return bytes(out)


def _allowed(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """A 5xx the proxy may send: an upstream's failure relayed as 502 (never its own 500)."""
    return status < 500 or status == 502


def _comparable(resp: tuple[int, list[tuple[bytes, bytes]], bytes]) -> tuple:
    status, headers, body = resp
    return status, [(k, v) for k, v in headers if k != b"date"], body


# What h11 says of a head that cannot be framed: which fault it meets first, when a head has
# two (too long and malformed), depends on how much of it had arrived.
_FRAMING = {400, 414, 431}


def _same(a: list, b: list) -> bool:
    """The same answers but for the date, and for which fault a head with two is refused."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x[0] != y[0] and {x[0], y[0]} <= _FRAMING:
            assert (b"connection", b"close") in x[1] and (b"connection", b"close") in y[1]
            continue
        if x[0] == y[0] == 400 and x[2] != y[2] and x[2].startswith(b"bad request: "):
            # h11 words one malformed head by what had arrived: a blank line whole is "no
            # request line received", its CR alone first an "illegal request line".
            assert y[2].startswith(b"bad request: ")
            assert (b"connection", b"close") in x[1] and (b"connection", b"close") in y[1]
            continue
        if x[0] in _FRAMING and x[0] == y[0] and bool(x[2]) != bool(y[2]):
            # A HEAD over the limits: read whole, it is answered as a HEAD (no body); cut
            # off by h11's buffer limit, as a request of unknown method (as a GET, with text).
            assert (b"connection", b"close") in x[1] and (b"connection", b"close") in y[1]
            continue
        assert _comparable(x) == _comparable(y)
    return True


@contextlib.contextmanager
def _no_fast_path() -> Iterator[None]:
    """Every request head read by h11."""
    saved = connection_module.read_request_head
    connection_module.read_request_head = lambda buf, max_head: False
    try:
        yield
    finally:
        connection_module.read_request_head = saved


def _run(
    case: Case, chunks: list[bytes], hot: HotReplies | None = None, store: MemoryStore | None = None
) -> tuple[list, list]:
    conn = ProxyConnection(_config(), hot=hot)
    raw = drive(conn, chunks, case.eof, store=store)
    got = check_replies(raw, [r.method for r in case.reqs])
    return got, conn.take_log()


# Bounded: the file runs in seconds (a head of 20000 bytes in pieces is the slowest example).
FUZZ = settings(
    max_examples=300,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(cases())
def test_random_requests_in_random_splits(case: Case) -> None:
    whole, log_whole = _run(case, [case.data])
    split, log_split = _run(case, case.chunks())
    for status, headers, body in split:
        assert _allowed(status, headers, body), (status, body)
    assert [r.status for r in log_split] == [s for s, _, _ in split]
    assert [r.status for r in log_whole] == [s for s, _, _ in whole]
    assert _same(split, whole)


def test_a_blank_line_after_a_request_whole_or_split() -> None:
    """Found by the fuzzer: a blank line after a request, whole or its CR alone first."""
    req = Req(raw=b"GET /example.com/fz/@v/list HTTP/1.1\r\nHost: p\r\n\r\n", method=b"GET")
    case = Case(reqs=[req], garbage=b"\r\n", cuts=[len(req.raw) + 1], eof=False)
    whole, _ = _run(case, [case.data])
    split, _ = _run(case, case.chunks())
    assert len(case.chunks()) == 2
    assert [s for s, _, _ in whole] == [s for s, _, _ in split] == [200, 400]
    assert _same(split, whole)


@FUZZ
@given(cases(max_reqs=3))
def test_hot_table_answers_as_the_engine_does(case: Case) -> None:
    hot, store = HotReplies(), _store()
    _run(case, case.chunks(), hot, store)  # fills the store and the table
    again, _ = _run(case, case.chunks(), hot, store)
    cold, _ = _run(case, case.chunks(), None, store)
    assert _same(again, cold)


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=8), st.booleans())
def test_raw_bytes_in_random_splits(data: bytes, cuts: list[int], eof: bool) -> None:
    case = Case([], data, cuts, eof)
    conn = ProxyConnection(_config())
    raw = drive(conn, case.chunks(), eof)
    for status, headers, body in check_replies(raw, []):
        assert _allowed(status, headers, body), (status, body)


# -- bugs the fuzz found, kept as plain tests ---------------------------------------------------


def test_framing_error_text_names_the_problem_not_the_bytes():
    """h11 quotes the client's bytes as a Python repr in some messages; the 400 says the problem
    alone, the same whether the bad request line came whole or a byte at a time."""
    bad = b"\x00 /example.com/fz/@v/list HTTP/1.1\r\nHost: p\r\n\r\n"
    for chunks in ([bad], [bad[:1], bad[1:]]):
        raw = drive(ProxyConnection(_config()), chunks, eof=True)
        ((status, _, body),) = check_replies(raw, [])
        assert (status, body) == (400, b"bad request: illegal request line\n")
    bad = b"GET /x HTTP/1.1\r\nHost: p\r\nBad Name: v\r\n\r\n"
    ((status, _, body),) = check_replies(drive(ProxyConnection(_config()), [bad], True), [])
    assert (status, body) == (400, b"bad request: illegal header line\n")


def test_a_head_over_the_limits_gets_the_same_text_however_it_arrives():
    """h11's buffer limit said "Receive buffer too long" when a long head came in pieces, but
    "request target too long" when it came whole: the client now hears the limit's name."""
    long_target = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: p\r\n\r\n"
    many = b"GET /healthz HTTP/1.1\r\nHost: p\r\n" + b"X-Long: " + b"v" * 9000 + b"\r\n\r\n"
    for data, want in (
        (long_target, (414, b"request target too long\n")),
        (many, (431, b"request header fields too large\n")),
    ):
        for chunks in ([data], [data[:8193], data[8193:]], [data[:100], data[100:]]):
            raw = drive(ProxyConnection(_config()), chunks, eof=False)
            ((status, _, body),) = check_replies(raw, [])
            assert (status, body) == want, chunks[0][:20]


@FUZZ
@given(cases())
def test_fast_path_answers_as_h11_does(case: Case) -> None:
    """The fast path (``fastpath.read_request_head``) takes a request only when h11 would read
    it the same: with it turned off, every answer and access record is the same."""
    fast, log_fast = _run(case, case.chunks())
    with _no_fast_path():
        slow, log_slow = _run(case, case.chunks())
    assert _same(fast, slow)
    assert [(r.method, r.target, r.status, r.length) for r in log_fast] == [
        (r.method, r.target, r.status, r.length) for r in log_slow
    ]


_ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "a.go": b"package fz\n"})
# What an upstream may answer for any file: good bodies, wrong ones, refusals, failures.
_ANSWERS = st.sampled_from(
    [
        (200, b"v1.0.0\nv1.1.0\n"),
        (200, b"v1.0\nnot-a-version\n\x00\n"),
        (200, INFO, "application/json"),
        (200, b'{"Version":"v9.9.9"}', "application/json"),
        (200, b"{not json", "application/json"),
        (200, GOMOD),
        (200, b"module example.com/other\n"),
        (200, _ZIP, "application/zip"),
        (200, b"PK\x03\x04 broken zip", "application/zip"),
        (200, b""),
        (404, b"not found\n"),
        (410, b"gone\n"),
        (403, b"forbidden\n"),
        (429, b"slow down\n"),
        (500, b"upstream broke\n"),
        (503, b"unavailable\n"),
        UpstreamResult(status=0, error="connection refused"),
        UpstreamResult(status=0, error="timeout", timeout=True),
    ]
)
_FILES = [
    "@v/list",
    "@v/v1.0.0.info",
    "@v/v1.0.0.mod",
    "@v/v1.0.0.zip",
    "@latest",
    "@v/v1.1.0.info",
    "@v/v1.1.0.mod",
]


@FUZZ
@given(
    st.lists(
        st.sampled_from([t for t in GOOD_TARGETS if t.startswith("/")]), min_size=1, max_size=4
    ),
    st.fixed_dictionaries({f: _ANSWERS for f in _FILES}),
    st.booleans(),
    st.booleans(),
)
def test_upstream_and_store_failures_never_give_a_500(targets, answers, read_only, cached):
    """Whatever the upstream answers and whether the store can keep it, the answers are valid
    HTTP, and a 5xx is only an upstream's failure (502, 504) or the store's (503, 507)."""
    store = _store() if cached else MemoryStore()
    store.fail_writes = read_only
    up = ScriptedUpstream({f"{UP}/{MOD}/{f}": a for f, a in answers.items()})
    data = b"".join(f"GET {t} HTTP/1.1\r\nHost: p\r\n\r\n".encode() for t in targets)
    conn = ProxyConnection(_config())
    raw = drive(conn, [data], eof=True, store=store, upstream=up)
    got = check_replies(raw, [])
    assert len(got) == len(targets)
    for status, _, body in got:
        assert status < 500 or status in {502, 503, 504, 507}, (status, body)
