"""ProxyConnection's state machine: every input in every state, and whole exchanges checked
move by move against the table (in the manner of h11's test_state.py and test_connection.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goproxy_core import (
    NEED_DATA,
    AbortBlob,
    BlobData,
    CheckZip,
    CloseConnection,
    CommitBlob,
    ConnectionState,
    FetchDirect,
    FetchUpstream,
    HotReplies,
    LocalProtocolError,
    ProxyConfig,
    ProxyConnection,
    ReadBlob,
    SaveBlob,
    SendBlob,
    SendBytes,
    StatBlob,
    UpstreamResult,
    ZipVerdict,
)
from goproxy_core.proxy import ANSWERS, INPUTS, TRANSITIONS
from goproxy_core.testing import MemoryStore, ScriptedUpstream, carry_out, exchange

from support import make_zip, parse_responses

if TYPE_CHECKING:
    from collections.abc import Callable

S = ConnectionState
NOW = 1000.0
UP = "https://up.example"
MOD = "example.com/m"
GOMOD = b"module example.com/m\n\ngo 1.21\n"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}'
ZIP = make_zip(MOD, "v1.0.0", {"go.mod": GOMOD, "m.go": b"package m\n"})
INFO_REQ = f"GET /{MOD}/@v/v1.0.0.info HTTP/1.1\r\nHost: p\r\n\r\n".encode()
ZIP_REQ = f"GET /{MOD}/@v/v1.0.0.zip HTTP/1.1\r\nHost: p\r\n\r\n".encode()
LIST_REQ = f"GET /{MOD}/@v/list HTTP/1.1\r\nHost: p\r\n\r\n".encode()
HEALTH_REQ = b"GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n"


def _routes() -> dict:
    p = f"{UP}/{MOD}/@v/"
    return {
        p + "list": (200, b"v1.0.0\n"),
        p + "v1.0.0.info": (200, INFO, "application/json"),
        p + "v1.0.0.mod": (200, GOMOD),
        p + "v1.0.0.zip": (200, ZIP, "application/zip"),
    }


def _conn(upstream: str = UP, hot: HotReplies | None = None) -> ProxyConnection:
    return ProxyConnection(ProxyConfig(upstream=upstream), hot=hot)


def _store(**files: bytes) -> MemoryStore:
    store = MemoryStore()
    for name, data in files.items():
        store.put(f"{MOD}/@v/v1.0.0.{name}", data)
    return store


def _drive(
    conn: ProxyConnection,
    data: bytes,
    stop: Callable[[object], bool],
    *,
    store: MemoryStore | None = None,
    bad_zip: bool = False,
) -> object:
    """Feed ``data``, carry out effects until ``stop(effect)``; return that effect."""
    store = store or MemoryStore()
    routes = _routes()
    if bad_zip:
        routes[f"{UP}/{MOD}/@v/v1.0.0.zip"] = (200, b"PK\x03\x04" + b"x" * 100)
    upstream = ScriptedUpstream(routes)
    pending: dict = {}
    conn.receive_data(data)
    while True:
        eff = conn.next_effect(NOW, NOW)
        if stop(eff):
            return eff
        assert eff is not NEED_DATA and not isinstance(eff, CloseConnection), eff
        carry_out(conn, eff, store, upstream, pending, bytearray())


def _is(kind: type, *, relay: bool | None = None) -> Callable[[object], bool]:
    def stop(eff: object) -> bool:
        return isinstance(eff, kind) and (relay is None or eff.relay is relay)

    return stop


# -- connections in each state, with the effect that awaits its answer, if any -------------


def _idle():
    return _conn(), None


def _idle_part_way():
    conn = _conn()
    conn.receive_data(b"GET /healthz HT")
    assert conn.next_effect(NOW, NOW) is NEED_DATA
    return conn, None


def _idle_pipelined():
    conn = _conn()
    _drive(conn, HEALTH_REQ + INFO_REQ, lambda e: isinstance(e, SendBytes))
    return conn, None


def _running():
    conn = _conn("off")
    _drive(conn, INFO_REQ, _is(ReadBlob))
    conn.blob_read(None)  # not stored: the flow goes on
    return conn, None


def _awaiting(
    kind: type, data: bytes, *, relay: bool | None = None, bad_zip: bool = False, up: str = UP
):
    def setup():
        conn = _conn(up)
        eff = _drive(conn, data, _is(kind, relay=relay), bad_zip=bad_zip)
        return conn, eff

    setup.__name__ = f"_awaiting_{kind.__name__}{'_relay' if relay else ''}"
    return setup


def _relaying():
    conn = _conn()
    eff = _drive(conn, ZIP_REQ, _is(FetchUpstream, relay=True))
    conn.relay_started(len(ZIP))
    return conn, eff


def _sending():
    conn = _conn()
    _drive(conn, INFO_REQ, _is(ReadBlob))
    conn.blob_read(BlobData(INFO, 0.0))
    return conn, None


def _sending_blob():
    conn = _conn()
    eff = _drive(conn, ZIP_REQ, _is(SendBlob), store=_store(zip=ZIP, mod=GOMOD))
    return conn, eff


def _sending_hot_blob():
    """A repeated zip answer from the hot table: its SendBlob carries the head."""
    hot, store = HotReplies(), _store(zip=ZIP, mod=GOMOD)
    first = _conn(hot=hot)
    _drive(first, ZIP_REQ, _is(SendBlob), store=store)
    first.blob_sent()
    conn = _conn(hot=hot)
    eff = _drive(conn, ZIP_REQ, _is(SendBlob), store=store)
    assert eff.head
    return conn, eff


def _closing():
    conn = _conn()
    conn.timed_out()
    return conn, None


def _closed():
    conn, _ = _closing()
    assert isinstance(conn.next_effect(NOW, NOW), CloseConnection)
    return conn, None


def _error():
    conn = _conn()
    with pytest.raises(LocalProtocolError):
        conn.blob_sent()
    return conn, None


SETUPS = [
    _idle,
    _idle_part_way,
    _idle_pipelined,
    _running,
    _awaiting(StatBlob, ZIP_REQ),
    _awaiting(ReadBlob, INFO_REQ),
    _awaiting(SaveBlob, INFO_REQ),
    _awaiting(FetchUpstream, LIST_REQ),
    _awaiting(FetchUpstream, ZIP_REQ, relay=True),
    _awaiting(FetchDirect, LIST_REQ, up="direct"),
    _awaiting(CheckZip, ZIP_REQ),
    _awaiting(CommitBlob, ZIP_REQ),
    _awaiting(AbortBlob, ZIP_REQ, bad_zip=True),
    _relaying,
    _sending,
    _sending_blob,
    _sending_hot_blob,
    _closing,
    _closed,
    _error,
]

_UPSTREAM_404 = UpstreamResult(status=404, body=b"not found", content_type="text/plain")
ARGS: dict[str, tuple] = {
    "receive_data": (HEALTH_REQ,),
    "next_effect": (NOW, NOW),
    "blob_saved": (True,),
    "upstream_fetched": (_UPSTREAM_404,),
    "zip_checked": (ZipVerdict(),),
    "blob_aborted": (),
    "revalidation_started": (),
    "prefetch_started": (),
    "relay_started": (len(ZIP),),
    "blob_sent": (),
    "blob_missing": (),
    "send_failed": (),
    "timed_out": (),
}


def _args(name: str, pending: object) -> tuple:
    if name == "resolve":
        if isinstance(pending, (FetchUpstream, FetchDirect)):
            return (_UPSTREAM_404,)
        if isinstance(pending, CheckZip):
            return (ZipVerdict(),)
        return (True,) if isinstance(pending, SaveBlob) else (None,)
    return ARGS.get(name, (None,))  # an answer that is a value or None


def _accepted(state: ConnectionState, name: str, pending: object) -> bool:
    """What the table allows, narrowed by the rule that an answer must match its effect."""
    if name not in TRANSITIONS[state]:
        return False
    if name in ANSWERS:
        return isinstance(pending, ANSWERS[name])
    if name == "relay_started":
        return isinstance(pending, FetchUpstream) and pending.relay and pending.into is not None
    if name == "blob_missing":  # only a hot answer's blob, whose head is not yet written
        return isinstance(pending, SendBlob) and bool(pending.head)
    return True


def test_the_table_covers_every_state_and_names_only_inputs():
    assert set(TRANSITIONS) == set(ConnectionState)
    for row in TRANSITIONS.values():
        for name, targets in row.items():
            assert name in INPUTS
            assert targets <= set(ConnectionState)
    for name in INPUTS:
        assert callable(getattr(ProxyConnection, name))
    # Every answer is accepted while its effect is pending, and nowhere else.
    for name in ANSWERS:
        assert {s for s, row in TRANSITIONS.items() if name in row} <= {S.AWAITING, S.RELAYING}


def test_the_setups_reach_every_state():
    assert {setup()[0].state for setup in SETUPS} == set(ConnectionState)


@pytest.mark.parametrize("name", INPUTS)
@pytest.mark.parametrize("setup", SETUPS, ids=lambda f: f.__name__.lstrip("_"))
def test_every_input_in_every_state(setup, name):
    conn, pending = setup()
    before = conn.state
    call = getattr(conn, name)
    if _accepted(before, name, pending):
        call(*_args(name, pending))
        assert conn.state in TRANSITIONS[before][name], (before, name, conn.state)
    else:
        with pytest.raises(LocalProtocolError):
            call(*_args(name, pending))
        assert conn.state is S.ERROR
        assert isinstance(conn.next_effect(NOW, NOW), CloseConnection)
        assert conn.state is S.ERROR


@pytest.mark.parametrize("name", [n for n in INPUTS if n != "next_effect"])
def test_error_is_for_good(name):
    conn, pending = _error()
    for _ in range(2):
        with pytest.raises(LocalProtocolError, match="ERROR"):
            getattr(conn, name)(*_args(name, pending))
        assert conn.state is S.ERROR
        assert isinstance(conn.next_effect(NOW, NOW), CloseConnection)
    assert conn.take_log() == []  # the queries still answer
    assert not conn.between_requests
    assert conn.deadline() > 0


def test_misuse_says_what_awaits_its_answer():
    conn, _ = _awaiting(ReadBlob, INFO_REQ)()
    with pytest.raises(LocalProtocolError, match="blob_statted in state AWAITING: ReadBlob"):
        conn.blob_statted(None)
    conn, _ = _relaying()
    with pytest.raises(LocalProtocolError, match="relay_started in state RELAYING"):
        conn.relay_started(1)
    conn, _ = _idle()
    with pytest.raises(LocalProtocolError, match="blob_sent in state IDLE: not allowed"):
        conn.blob_sent()


def test_closed_keeps_saying_close():
    conn, _ = _closed()
    for _ in range(3):
        assert isinstance(conn.next_effect(NOW, NOW), CloseConnection)
        assert conn.state is S.CLOSED


# -- whole exchanges, every move checked against the table ----------------------------------


class Checked:
    """Stands in for a ProxyConnection and checks each input's move against the table."""

    def __init__(self, conn: ProxyConnection) -> None:
        self.conn = conn
        self.moves: list[tuple[ConnectionState, str, ConnectionState]] = []

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.conn, name)
        if name not in INPUTS:
            return attr

        def call(*args: object) -> object:
            before = self.conn.state
            result = attr(*args)
            after = self.conn.state
            assert after in TRANSITIONS[before][name], (before, name, after)
            self.moves.append((before, name, after))
            return result

        return call

    def states(self) -> list[ConnectionState]:
        return [self.moves[0][0]] + [after for _, _, after in self.moves]


def _exchange(data: bytes | list[bytes], *, store: MemoryStore, conn=None, close=False):
    """``testing.exchange`` through :class:`Checked`, chunk by chunk until it closes."""
    checked = Checked(conn or _conn())
    upstream = ScriptedUpstream(_routes())
    chunks = [data] if isinstance(data, bytes) else list(data)
    raw = bytearray()
    for i, chunk in enumerate(chunks):
        if checked.conn.state is S.CLOSED:
            break
        last = close and i == len(chunks) - 1
        raw += exchange(checked, chunk, store=store, upstream=upstream, now=NOW, close=last)  # type: ignore[arg-type]
    return bytes(raw), checked


REQUESTS = {
    "info-cached": (INFO_REQ, {"info": INFO}),
    "info-fetched": (INFO_REQ, {}),
    "zip-cached": (ZIP_REQ, {"zip": ZIP, "mod": GOMOD}),
    "zip-fetched": (ZIP_REQ, {}),
    "list": (LIST_REQ, {}),
    "health": (HEALTH_REQ, {}),
    "head": (f"HEAD /{MOD}/@v/v1.0.0.zip HTTP/1.1\r\nHost: p\r\n\r\n".encode(), {"zip": ZIP}),
    "h11-read": (b"GET /healthz HTTP/1.1\r\nHost: p\r\nX: a\r\n b\r\n\r\n", {}),
    "http10": (b"GET /healthz HTTP/1.0\r\n\r\n", {}),
    "bad": (b"HELLO\r\n\r\n", {}),
}


@pytest.mark.parametrize("hot", [False, True], ids=["engine", "hot"])
@pytest.mark.parametrize("key", REQUESTS)
def test_whole_byte_by_byte_and_pipelined(key, hot):
    data, files = REQUESTS[key]
    table = HotReplies() if hot else None
    if hot:  # warm the table: the second time round, a hit skips the engine
        _exchange(data, store=_store(**files), conn=_conn(hot=table))
    whole, checked = _exchange(data, store=_store(**files), conn=_conn(hot=table))
    assert checked.states()[0] is S.IDLE
    assert checked.conn.state in (S.IDLE, S.CLOSED)

    pieces, by_byte = _exchange(
        [data[i : i + 1] for i in range(len(data))],
        store=_store(**files),
        conn=_conn(hot=table),
    )
    assert parse_responses(pieces, head=b"HEAD" in data) == parse_responses(
        whole, head=b"HEAD" in data
    )
    assert by_byte.conn.state is checked.conn.state

    # The same request with another behind it: both answered, in order, unless it closes.
    both, piped = _exchange(data + HEALTH_REQ, store=_store(**files), conn=_conn(hot=table))
    got = parse_responses(both, head=b"HEAD" in data)
    if checked.conn.state is S.CLOSED:
        assert len(got) == 1
    else:
        assert [s for s, _, _ in got][-1] == 200 and len(got) == 2
        assert piped.conn.state is S.IDLE
        assert piped.moves.count((S.IDLE, "next_effect", S.IDLE)) >= 1


def test_client_close_moves_to_closed():
    raw, checked = _exchange(INFO_REQ, store=_store(info=INFO), close=True)
    assert parse_responses(raw)[0][0] == 200
    assert checked.conn.state is S.CLOSED


def test_timeout_part_way_answers_408_then_closes():
    checked = Checked(_conn())
    checked.receive_data(b"GET /healthz HTTP/1.1\r\n")
    assert checked.next_effect(NOW, NOW) is NEED_DATA
    checked.timed_out()
    assert checked.conn.state is S.SENDING
    assert b" 408 " in checked.next_effect(NOW, NOW).data  # type: ignore[union-attr]
    assert checked.conn.state is S.CLOSING
    assert isinstance(checked.next_effect(NOW, NOW), CloseConnection)
    assert checked.conn.state is S.CLOSED


def test_timeout_of_a_silent_fresh_connection_closes_without_a_response():
    """IDLE, no byte yet: the deadline is request_timeout from the start; then just close."""
    checked = Checked(ProxyConnection(ProxyConfig(idle_timeout=30.0, request_timeout=5.0)))
    assert checked.next_effect(NOW, 100.0) is NEED_DATA
    assert checked.conn.deadline() == 105.0
    checked.timed_out()
    assert checked.conn.state is S.CLOSING
    assert isinstance(checked.next_effect(NOW, 105.0), CloseConnection)
    assert checked.conn.state is S.CLOSED and checked.conn.take_log() == []


def test_a_request_h11_cannot_frame_is_answered_then_closed():
    """IDLE → SENDING → CLOSING → CLOSED, even with a well-formed request pipelined behind."""
    checked = Checked(_conn())
    checked.receive_data(
        b"GET /x HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + HEALTH_REQ
    )
    eff = checked.next_effect(NOW, NOW)
    assert isinstance(eff, SendBytes) and eff.data.startswith(b"HTTP/1.1 501 Not Implemented")
    assert checked.conn.state is S.CLOSING
    assert isinstance(checked.next_effect(NOW, NOW), CloseConnection)
    assert checked.conn.state is S.CLOSED


def test_send_failed_on_a_blob_closes():
    conn, _ = _sending_blob()
    conn.send_failed()
    assert conn.state is S.CLOSING
    assert isinstance(conn.next_effect(NOW, NOW), CloseConnection)


@pytest.mark.parametrize("good", [True, False], ids=["stored", "refused"])
def test_relay_moves(good):
    """A relayed zip: AWAITING → RELAYING → RUNNING ... → SENDING (the tail) or CLOSING."""
    body = ZIP if good else b"PK\x03\x04" + b"x" * 100
    store = MemoryStore()
    checked = Checked(_conn())
    checked.receive_data(ZIP_REQ)
    writer = None
    while True:
        eff = checked.next_effect(NOW, NOW)
        if isinstance(eff, FetchUpstream):
            assert checked.conn.state is S.AWAITING
            writer = store.writer(eff.into)
            writer.write(body)
            assert checked.relay_started(len(body)).startswith(b"HTTP/1.1 200 ")
            assert checked.conn.state is S.RELAYING
            checked.upstream_fetched(UpstreamResult(200, held=body[-9:]))
        elif isinstance(eff, CheckZip):
            checked.zip_checked(eff.check(writer.reader()))
        elif isinstance(eff, (SendBytes, CloseConnection)):
            break
        elif isinstance(eff, CommitBlob):
            checked.blob_committed(writer.commit())
        elif isinstance(eff, AbortBlob):
            writer.abort()
            checked.blob_aborted()
        else:
            checked.resolve(None)
    if good:
        assert eff == SendBytes(ZIP[-9:])
        assert checked.conn.state is S.IDLE
    else:
        assert isinstance(eff, CloseConnection)
        assert checked.conn.state is S.CLOSED
    assert (S.RELAYING, "upstream_fetched", S.RUNNING) in checked.moves


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=50))
def test_arbitrary_bytes_move_only_as_the_table_says(data, size):
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    _exchange(chunks, store=_store(info=INFO), close=True)


def test_a_relay_whose_fetch_failed_is_cut_even_if_another_upstream_serves_the_zip():
    """After relay_started the client has part of a body: it cannot be completed from a second
    upstream's copy (the bytes relayed so far stop short), so the connection must close."""
    store = MemoryStore()
    checked = Checked(ProxyConnection(ProxyConfig(upstream=f"{UP}|https://up2.example")))
    checked.receive_data(ZIP_REQ)
    out = bytearray()
    writer = None
    while True:
        eff = checked.next_effect(NOW, NOW)
        if isinstance(eff, FetchUpstream) and eff.relay:
            out += checked.relay_started(len(ZIP))
            out += ZIP[:100]  # then the upstream goes away
            checked.upstream_fetched(UpstreamResult(0, error="truncated", held=ZIP[100:110]))
        elif isinstance(eff, FetchUpstream):
            assert eff.url.startswith("https://up2.example/")  # no second relay
            writer = store.writer(eff.into)
            writer.write(ZIP)
            checked.upstream_fetched(UpstreamResult(200))
        elif isinstance(eff, CheckZip):
            checked.zip_checked(eff.check(writer.reader()))
        elif isinstance(eff, CommitBlob):
            checked.blob_committed(writer.commit())
        elif isinstance(eff, SendBytes):
            out += eff.data
        elif isinstance(eff, CloseConnection) or eff is NEED_DATA:
            break
        else:
            checked.resolve(None)
    assert isinstance(eff, CloseConnection) and checked.conn.state is S.CLOSED
    assert parse_responses(bytes(out)) == []  # never a complete response
    assert store.get(f"{MOD}/@v/v1.0.0.zip") == ZIP  # stored for the next client all the same
