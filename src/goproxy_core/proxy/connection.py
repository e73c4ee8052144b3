"""``ProxyConnection``: one client connection, from bytes in to effects out.

Theory of operation: the connection wraps an ``h11.Connection`` (pure, like us). The caller
loops on :meth:`ProxyConnection.next_effect`: ``NEED_DATA`` means read from the client and call
:meth:`receive_data`; ``SendBytes``/``SendBlob`` write to the client; store and upstream effects
are carried out and answered through the past-tense methods; ``CloseConnection`` ends the loop.
Requests are handled one at a time, in order (HTTP/1.1 pipelining): the next request is read
only when the previous response has been handed out whole.

The connection's :class:`~goproxy_core.proxy.states.ConnectionState` says which of those calls
may come next; ``states.TRANSITIONS`` is the table every public method checks first, and a call
the table does not allow raises ``LocalProtocolError`` and leaves the connection in ``ERROR``.

Each request runs ``engine.handle_request``, a generator of store and upstream effects that
returns a ``Reply``; this module turns the reply into HTTP (status line, headers, body or a
blob to stream), handles HEAD, conditional requests, keep-alive, limits and timeouts. Three
things keep the common case cheap: simple request heads are read without h11 (``fastpath``),
plain keep-alive responses are written without it, and repeated immutable answers come whole
from the server's ``HotReplies`` table (``hot``) without running the engine.
"""

from __future__ import annotations

import collections
import re
from typing import TYPE_CHECKING, NoReturn

import h11
import msgspec

from ..errors import LocalProtocolError, ProxyError
from .config import CompiledConfig, ProxyConfig, RetractedPolicy, compile_config
from .effects import (
    NEED_DATA,
    BlobData,
    BlobInfo,
    CloseConnection,
    Effect,
    FetchUpstream,
    FreeSpace,
    MetricsPage,
    SendBlob,
    SendBytes,
    SumdbAnswer,
    UpstreamResult,
    ZipVerdict,
)
from .engine import http_date, relayed_zip_reply
from .fastpath import head_bytes, read_request_head
from .replies import REASONS, Reply, error_reply, text_reply
from .request import MAX_HEADERS, MAX_TARGET, ResponseHead, request_flow, response_head
from .requestid import RequestIds
from .states import ANSWERS, ConnectionState, allowed_in
from .warm import MAX_WARM_BODY, WarmSummary, admin_warm_target

if TYPE_CHECKING:
    from collections.abc import Generator

    from .auth import Keyring
    from .catalog import CatalogData
    from .effects import KeyList
    from .engine import IOEffect
    from .hot import HotReplies

__all__ = ["AccessRecord", "ProxyConnection"]

_MAX_REQUEST_BODY = 64 * 1024
# How much of a request h11 could not read is kept for the access log's method and target.
_PEEK = 1024
# Bytes of a method or target that the access log shows of a request h11 could not read.
_LOGGED_TARGET = 512
# What a client is told of a head over the limits, however much of it h11 had buffered.
_LIMIT_TEXTS = {414: "request target too long", 431: "request header fields too large"}
# The client's own bytes that h11 writes into some of its messages, as a Python repr
# ("illegal request line: bytearray(b'...')", "Illegal header name b'...'"): cut from the text
# a client gets, which then names the problem the same however the bytes were split.
_H11_REPR = re.compile(r":? (?:bytearray\()?b['\"].*\Z", re.DOTALL)

# The states as module globals (an Enum member read through its class is slower), and for each
# input the states that accept it, straight from the table.
_IDLE = ConnectionState.IDLE
_RUNNING = ConnectionState.RUNNING
_AWAITING = ConnectionState.AWAITING
_RELAYING = ConnectionState.RELAYING
_SENDING = ConnectionState.SENDING
_SENDING_BLOB = ConnectionState.SENDING_BLOB
_CLOSING = ConnectionState.CLOSING
_CLOSED = ConnectionState.CLOSED
_ERROR = ConnectionState.ERROR
_QUIET = frozenset({_IDLE, _CLOSING, _CLOSED})  # no response under way
_PENDING = frozenset({_AWAITING, _RELAYING, _SENDING_BLOB})  # an effect awaits its answer
_OK_RECEIVE = allowed_in("receive_data")
_OK_NEXT = allowed_in("next_effect")
_OK_TIMED_OUT = allowed_in("timed_out")
_OK_SEND_FAILED = allowed_in("send_failed")
_OK_BLOB_SENT = allowed_in("blob_sent")
_OK_BLOB_MISSING = allowed_in("blob_missing")
_OK_RELAY = allowed_in("relay_started")
_OK_RESOLVE = allowed_in("resolve")
_OK_ANSWER = {name: allowed_in(name) for name in ANSWERS}
_RESOLVABLE = tuple(kind for kinds in ANSWERS.values() for kind in kinds)


class AccessRecord(msgspec.Struct, frozen=True):
    """One finished exchange, for the access log.

    Attributes:
        method: the request method. For a request h11 could not read (answered 400, 408,
            414, 431, 501 ...), the method and target as far as they were received, bytes
            outside printable ASCII as ``%XX``, each cut at 512 bytes.
        target: the request target as sent.
        status: the response status.
        length: the response body length (0 for HEAD and 304).
        cache_status: the ``Cache-Status`` parameters, or "".
        started: when the request head was complete (for a request h11 could not read: when
            its first bytes arrived), on the caller's monotonic clock (subtract it from the
            same clock for the time taken).
        time: the same moment in seconds since the epoch (for the log line's time stamp).
        alarm: what went wrong that an operator must see (a checksum database that forked),
            for an error log line; "" for an ordinary exchange.
        request_id: the id sent back as ``X-Request-Id`` (the client's own when it sent a
            safe one, see :mod:`~goproxy_core.proxy.requestid`).
        upstream: the upstream whose answer the response was made from (``Reply.upstream``);
            "" for a cache hit, or when no upstream answered.
        token: the name of the token the request came with (``Reply.token``); "" anonymous.
        audit: the exchange belongs in the audit trail (``Reply.audit``: a module matching
            ``private``, or a request with credentials).
    """

    method: str
    target: str
    status: int
    length: int
    cache_status: str
    started: float
    time: float
    alarm: str = ""
    request_id: str = ""
    upstream: str = ""
    token: str = ""
    audit: bool = False


class _BlobPlaceholder:
    """Stands for a blob body inside h11, which only needs its length."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


class ProxyConnection:
    """The protocol state of one client connection.

    Every public method but the queries (``state``, ``between_requests``, ``deadline``,
    ``take_log``) is an input to the connection's state machine (:attr:`state`, and the
    table ``goproxy_core.proxy.TRANSITIONS``). A call the current state does not allow, such
    as an answer to an effect that was not handed out, or any call after the connection
    closed, raises ``LocalProtocolError`` and leaves the connection in
    ``ConnectionState.ERROR``, where only ``next_effect`` still answers (``CloseConnection``).

    Args:
        config: the core's settings (compiled once and shared when a ``CompiledConfig``).
        hot: the server's table of repeated immutable answers (see :class:`HotReplies`);
            None to run every request through the engine.
        ids: the server's request ids (:class:`~goproxy_core.RequestIds`, with a prefix of
            the process's own); None: this connection numbers its requests from 1 alone.
        keyring: the tokens the server accepts (:class:`~goproxy_core.proxy.auth.Keyring`,
            shared by its connections; swap its table when the tokens file changes); None:
            none, so only what anonymous clients may read is served.
    """

    def __init__(
        self,
        config: ProxyConfig | CompiledConfig,
        *,
        hot: HotReplies | None = None,
        ids: RequestIds | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self._keyring = keyring
        self._cfg = compile_config(config) if isinstance(config, ProxyConfig) else config
        self._ids = ids if ids is not None else RequestIds()
        self._rid = b""  # the current request's id (X-Request-Id)
        self._hot = hot if self._cfg.config.retracted is not RetractedPolicy.GONE else None
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self._cfg.config.max_request_head
        )
        self._state = _IDLE
        self._keep_alive = True  # False: close once the current response is out
        self._outbox: collections.deque[SendBytes | SendBlob] = collections.deque()
        self._flow: Generator[IOEffect, object, Reply] | None = None
        # RUNNING: the flow's next effect, not yet handed out. AWAITING, RELAYING and
        # SENDING_BLOB: the effect handed out, whose answer is due.
        self._effect: Effect | None = None
        self._method = b"GET"
        self._target = b""
        self._if_none_match = b""
        self._started = 0.0
        self._started_at = 0.0
        # The next request's first bytes as h11 holds them (up to its request line, at most
        # _PEEK), kept while h11 reads it: the access log's method and target if h11 cannot.
        self._peek: bytes | None = None
        # When the first bytes of a request head not yet complete were seen (monotonic, wall),
        # and whether any request head was ever complete: a fresh connection gets
        # request_timeout, not idle_timeout, for its first head (see ``deadline``).
        self._arrived: tuple[float, float] | None = None
        self._fresh = True
        self._opened: float | None = None  # the first next_effect's monotonic time
        self._last_activity: float | None = None
        self._body_bytes = 0
        self._log: list[AccessRecord] = []
        self._now = 0.0
        self._mono = 0.0
        # Once relay_started: (key, size) whose head went out, and the held-back tail (None
        # when the relayed fetch failed part-way: that body can never be completed); the
        # flow's reply then finishes the relayed response (``_finish_relay``).
        self._relay: tuple[str, int] | None = None
        self._held: bytes | None = b""
        self._plain = False
        # Bytes received while h11 is idle and empty: read by the fast path first (see
        # ``_fast_request``). ``_fast`` marks a request taken that way: h11 never saw it.
        self._inbuf = bytearray()
        self._fast = False
        self._hot_blob = False  # the blob going out came from the hot table
        # A hot blob answer's access record, kept until its blob is opened (``blob_missing``
        # answers the request again, and the engine's answer is the one recorded).
        self._hot_record: tuple[int, int, str] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        # POST /admin/warm (when on): its head, kept while its body is read (``_body``);
        # ``_body`` None once it was too long (the reply is a 413).
        self._collect: tuple[bytes, bytes, list[tuple[bytes, bytes]]] | None = None
        self._body: bytearray | None = None

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands: which calls it accepts next.

        See :class:`~goproxy_core.proxy.states.ConnectionState` and the table
        ``goproxy_core.proxy.TRANSITIONS``; ``ERROR`` after caller misuse.
        """
        return self._state

    # -- driving -----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the client; ``b""`` means the client closed its side.

        Raises:
            LocalProtocolError: an effect handed out earlier awaits its answer, or the
                connection is closed or in ``ERROR``.
        """
        if self._state not in _OK_RECEIVE:
            self._misuse("receive_data")
        if data and self._h11_idle():
            self._inbuf += data
        else:
            self._flush_inbuf()
            self._h11.receive_data(data)
        self._last_activity = None

    def next_effect(self, now: float, monotonic: float) -> Effect:
        """The next thing the caller must do.

        Args:
            now: the wall clock, seconds since the epoch: the ``Date`` header, and the age
                of stored files against their TTLs (stored times are wall times).
            monotonic: the caller's clock that never jumps (a monotonic one): deadlines and how
                long a request took. Only differences of it are used.

        Returns:
            The effect; ``CloseConnection`` again and again once the connection is closed,
            and in ``ERROR``.

        Raises:
            LocalProtocolError: an effect handed out earlier has not been answered.
        """
        state = self._state
        if state not in _OK_NEXT:
            self._misuse("next_effect")
        self._now = now
        self._mono = monotonic
        if self._last_activity is None:
            self._last_activity = monotonic
            if self._opened is None:
                self._opened = monotonic
        if state is _SENDING:
            out = self._outbox.popleft()
            if type(out) is SendBlob:
                self._effect = out
                self._state = _SENDING_BLOB
            elif not self._outbox:
                self._state = _IDLE if self._keep_alive else _CLOSING
            return out
        if state is _RUNNING:
            eff = self._effect
            if type(eff) is FetchUpstream and eff.relay and self._relay is not None:
                # A response is already under way: a second upstream may not start another.
                eff = self._effect = msgspec.structs.replace(eff, relay=False)
            self._state = _AWAITING
            assert eff is not None
            return eff
        if state is _IDLE:
            return self._read_event()
        if state is not _ERROR:
            self._state = _CLOSED
        return CloseConnection()

    def deadline(self) -> float:
        """When, on the monotonic clock, the client must have sent more (after ``NEED_DATA``).

        A request head must be whole within ``request_timeout`` of its first byte, and a fresh
        connection's first head within ``request_timeout`` of the connection's start, however
        the bytes trickle in; a request body gets ``request_timeout`` from its last bytes; a
        client between requests on a kept-alive connection gets ``idle_timeout``. Past it,
        call :meth:`timed_out`.
        """
        cfg = self._cfg.config
        last = self._last_activity if self._last_activity is not None else 0.0
        if self._h11.their_state is h11.SEND_BODY:
            return last + cfg.request_timeout
        if self._fresh and self._opened is not None:
            return self._opened + cfg.request_timeout
        if self._inbuf or self._h11.trailing_data[0]:
            start = self._arrived[0] if self._arrived is not None else last
            return start + cfg.request_timeout
        return last + cfg.idle_timeout

    @property
    def between_requests(self) -> bool:
        """True when no request is part-way through: closing now loses nothing."""
        return (
            self._state in _QUIET
            and not self._inbuf
            and not self._h11.trailing_data[0]
            and self._h11.their_state in (h11.IDLE, h11.DONE)
        )

    def timed_out(self) -> None:
        """The deadline passed with no data: answer 408 if a request was under way, then close.

        Raises:
            LocalProtocolError: not waiting for data (the last effect was not ``NEED_DATA``).
        """
        if self._state not in _OK_TIMED_OUT:
            self._misuse("timed_out")
        self._fast = False
        self._flush_inbuf()
        partial = bool(self._h11.trailing_data[0]) or self._h11.their_state is h11.SEND_BODY
        if partial and self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            reply = text_reply(408, "request timeout: the request was not sent in time")
            if self._h11.their_state is h11.SEND_BODY:
                self._queue_reply(reply)
            else:
                self._answer_unread(reply, self._h11.trailing_data[0][:_PEEK])
        self._keep_alive = False
        self._settle()

    @property
    def request_id(self) -> str:
        """The id of the request being served (or last served); "" before the first."""
        return self._rid.decode("ascii")

    @property
    def base_path(self) -> str:
        """The URL path the proxy is mounted under (for ``endpoint_of`` on logged targets)."""
        return self._cfg.base_path

    def take_log(self) -> list[AccessRecord]:
        """The exchanges finished since the last call, oldest first."""
        log, self._log = self._log, []
        return log

    # -- answers to effects ----------------------------------------------------------------

    def blob_statted(self, info: BlobInfo | None) -> None:
        """Answer to ``StatBlob``."""
        self._answer("blob_statted", info)

    def blob_read(self, data: BlobData | None) -> None:
        """Answer to ``ReadBlob``."""
        self._answer("blob_read", data)

    def blob_saved(self, ok: bool) -> None:
        """Answer to ``SaveBlob``: whether the store kept it."""
        self._answer("blob_saved", ok)

    def store_space_told(self, space: FreeSpace | None) -> None:
        """Answer to ``StoreSpace``: the store's free space, or None if it cannot tell."""
        self._answer("store_space_told", space)

    def metrics_rendered(self, page: MetricsPage | None) -> None:
        """Answer to ``RenderMetrics``: the rendered page, or None if the caller keeps none."""
        self._answer("metrics_rendered", page)

    def relay_started(self, size: int) -> bytes:
        """During a ``FetchUpstream(relay=True)``: the upstream answered 200 with ``size`` bytes.

        Returns the response head to send to the client now; then send the body's chunks as
        they are written, holding back the last one for ``UpstreamResult.held``.

        Raises:
            LocalProtocolError: no relayable fetch is pending, or relaying already started.
        """
        eff = self._effect
        if (
            self._state not in _OK_RELAY
            or type(eff) is not FetchUpstream
            or not eff.relay
            or eff.into is None
        ):
            self._misuse("relay_started")
        self._state = _RELAYING
        self._relay = (eff.into, size)
        head = response_head(
            relayed_zip_reply(eff.into, size),
            method=self._method,
            if_none_match=b"",
            now=self._now,
            request_id=self._rid,
        )
        if self._fast:
            return head_bytes(head)
        return self._send_head(head)

    def upstream_fetched(self, result: UpstreamResult) -> None:
        """Answer to ``FetchUpstream`` or ``FetchDirect``."""
        self._answer("upstream_fetched", result)

    def zip_checked(self, verdict: ZipVerdict) -> None:
        """Answer to ``CheckZip``: the :class:`ZipVerdict` that ``CheckZip.check`` returned."""
        self._answer("zip_checked", verdict)

    def blob_committed(self, info: BlobInfo | None) -> None:
        """Answer to ``CommitBlob``: the published blob, or None if it could not be kept."""
        self._answer("blob_committed", info)

    def blob_aborted(self) -> None:
        """Answer to ``AbortBlob``."""
        self._answer("blob_aborted", None)

    def sumdb_answered(self, answer: SumdbAnswer) -> None:
        """Answer to ``ReadSumdb`` or ``AppendSumdb`` (the own checksum database)."""
        self._answer("sumdb_answered", answer)

    def revalidation_started(self) -> None:
        """Answer to ``Revalidate``, at once: the refresh was started, queued or dropped."""
        self._answer("revalidation_started", None)

    def prefetch_started(self) -> None:
        """Answer to ``Prefetch``, at once: the prefetches were queued or dropped."""
        self._answer("prefetch_started", None)

    def catalog_read(self, data: CatalogData) -> None:
        """Answer to ``ReadCatalog``: what the cache holds."""
        self._answer("catalog_read", data)

    def keys_listed(self, keys: KeyList) -> None:
        """Answer to ``ListKeys``: the stored keys under its prefix."""
        self._answer("keys_listed", keys)

    def warm_done(self, summary: WarmSummary) -> None:
        """Answer to ``WarmCache``: what the warm fetched, found and failed."""
        self._answer("warm_done", summary)

    def resolve(self, result: object) -> None:
        """Answer whichever store or upstream effect is pending with ``result``.

        The same as calling its past-tense method (``blob_statted``, ``upstream_fetched`` ...);
        convenient for a caller that carries out every effect through one function.

        Raises:
            LocalProtocolError: no store or upstream effect awaits its answer.
        """
        if self._state not in _OK_RESOLVE or not isinstance(self._effect, _RESOLVABLE):
            self._misuse("resolve")
        self._take(result)

    def blob_sent(self) -> None:
        """Answer to ``SendBlob``: the whole blob went out.

        Raises:
            LocalProtocolError: no ``SendBlob`` awaits its answer.
        """
        if self._state not in _OK_BLOB_SENT:
            self._misuse("blob_sent")
        self._effect = None
        self._hot_blob = False
        self._record_hot()
        self._settle()

    def blob_missing(self) -> None:
        """Answer to a ``SendBlob`` with a ``head``: the blob is gone and nothing was written.

        A repeated answer from the hot table named a stored file that has been removed since
        (an eviction or a quarantine, perhaps by another process). The table forgets it and
        the request is answered again through the engine: from the store if the file is back,
        else from the upstreams.

        Raises:
            LocalProtocolError: no ``SendBlob`` with a ``head`` awaits its answer.
        """
        eff = self._effect
        if self._state not in _OK_BLOB_MISSING or type(eff) is not SendBlob or not eff.head:
            self._misuse("blob_missing")
        if self._hot is not None:
            self._hot.drop(self._method, self._target)
        self._effect = None
        self._hot_blob = False
        self._hot_record = None
        self._flow = request_flow(
            self._cfg,
            self._method,
            self._target,
            self._headers,
            self._now,
            relay=True,
            keyring=self._keyring,
        )
        self._advance(None)

    def send_failed(self) -> None:
        """Writing to the client failed (or a blob could not be read whole): close.

        Raises:
            LocalProtocolError: nothing was being written to the client (an effect other
                than ``SendBlob`` awaits its answer), or the connection is closed.
        """
        if self._state not in _OK_SEND_FAILED:
            self._misuse("send_failed")
        if self._hot_blob and self._hot is not None:
            self._hot.drop(self._method, self._target)  # the store may have lost it
        self._record_hot()
        self._effect = None
        self._outbox.clear()
        self._keep_alive = False
        self._state = _CLOSING

    # -- internals ---------------------------------------------------------------------

    def _misuse(self, name: str) -> NoReturn:
        """The caller's ``name`` call is not allowed now: move to ERROR and say why."""
        state, self._state = self._state, _ERROR
        if state in _PENDING:
            detail = f"{type(self._effect).__name__} awaits its answer"
        else:
            detail = "not allowed"
        raise LocalProtocolError(f"{name} in state {state.name}: {detail}")

    def _answer(self, name: str, value: object) -> None:
        if self._state not in _OK_ANSWER[name] or not isinstance(self._effect, ANSWERS[name]):
            self._misuse(name)
        self._take(value)

    def _take(self, value: object) -> None:
        """The pending store or upstream effect's answer: run the flow on."""
        if self._state is _RELAYING:
            assert isinstance(value, UpstreamResult)
            self._held = value.held if value.status == 200 else None
        self._effect = None
        self._advance(value)

    def _advance(self, value: object) -> None:
        assert self._flow is not None
        try:
            self._effect = self._flow.send(value)
            self._state = _RUNNING
        except StopIteration as stop:
            self._flow = None
            self._queue_reply(stop.value)
            self._settle()
        except ProxyError as e:
            self._flow = None
            self._queue_reply(error_reply(e))
            self._settle()

    def _settle(self) -> None:
        """No flow runs and nothing awaits an answer: send what is queued, then read or close."""
        if self._outbox:
            self._state = _SENDING
        else:
            self._state = _IDLE if self._keep_alive else _CLOSING

    def _h11_idle(self) -> bool:
        """Whether h11 is between requests with nothing buffered: the fast path may read."""
        h = self._h11
        if h.our_state is not h11.IDLE or h.their_state is not h11.IDLE:
            return False
        buffered, closed = h.trailing_data
        return not buffered and not closed

    def _flush_inbuf(self) -> None:
        """Hand what the fast path holds to h11 (it could not take it, or h11 is busy)."""
        if self._inbuf:
            data = bytes(self._inbuf)
            self._inbuf.clear()
            self._h11.receive_data(data)

    def _fast_request(self) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]] | bool:
        """Take one simple request head off ``_inbuf`` without h11 (see ``fastpath``).

        Returns (method, target, headers) when taken, True when more bytes are needed, and
        False when h11 must read this request (anything unusual, or malformed).
        """
        return read_request_head(self._inbuf, self._cfg.config.max_request_head)

    def _read_event(self) -> Effect:
        if not self._inbuf and self._h11_idle():
            # Between requests with nothing received: what h11 would say, without asking it
            # (the question costs more than the rest of a cached answer's way back).
            return NEED_DATA
        while True:
            if self._inbuf and self._h11_idle():
                got = self._fast_request()
                if got is True:
                    if self._arrived is None:
                        self._arrived = (self._mono, self._now)
                    return NEED_DATA
                if got is not False:
                    assert not isinstance(got, bool)
                    self._begin(*got, plain=True, fast=True)
                    return self.next_effect(self._now, self._mono)
                self._flush_inbuf()
            h = self._h11
            if h.our_state is h11.DONE and h.their_state is h11.DONE:
                h.start_next_cycle()
            if h.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR) or (
                h.their_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
                and h.our_state is not h11.SEND_RESPONSE
            ):
                self._keep_alive = False
                self._state = _CLOSED
                return CloseConnection()
            if self._peek is None and h.their_state is h11.IDLE:
                self._peek_request()
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as e:
                self._protocol_error(e)
                return self.next_effect(self._now, self._mono)
            if event is h11.NEED_DATA:
                if self._arrived is None and h.trailing_data[0]:
                    self._arrived = (self._mono, self._now)
                return NEED_DATA
            if isinstance(event, h11.Request):
                self._start(event)
                return self.next_effect(self._now, self._mono)
            if isinstance(event, h11.Data) and self._collect is not None:
                assert self._body is not None
                if len(self._body) + len(event.data) <= MAX_WARM_BODY:
                    self._body += event.data
                    continue
                # Too long: answered 413 now, and the connection closes after it (the rest
                # of the body is not read on).
                (method, target, headers), self._collect = self._collect, None
                self._body = None
                self._keep_alive = False
                self._begin(method, target, headers, plain=False, fast=False, body=None)
                return self.next_effect(self._now, self._mono)
            if isinstance(event, h11.EndOfMessage) and self._collect is not None:
                (method, target, headers), self._collect = self._collect, None
                body, self._body = self._body, None
                self._begin(method, target, headers, plain=False, fast=False, body=body)
                return self.next_effect(self._now, self._mono)
            if isinstance(event, h11.Data):
                self._body_bytes += len(event.data)
                if self._body_bytes > _MAX_REQUEST_BODY and h.our_state is h11.DONE:
                    self._keep_alive = False
                    self._state = _CLOSED
                    return CloseConnection()
                continue
            if isinstance(event, h11.ConnectionClosed):
                self._keep_alive = False
                self._state = _CLOSED
                return CloseConnection()
            # EndOfMessage: loop to start the next cycle.

    def _peek_request(self) -> None:
        """Keep the first bytes h11 holds of the next request until its request line is in."""
        data = self._h11.trailing_data[0]
        if b"\n" in data or len(data) >= _PEEK:
            self._peek = data[:_PEEK]

    def _protocol_error(self, e: h11.RemoteProtocolError) -> None:
        """h11 could not frame the request: answer its status (h11's hint) and close.

        Nothing after a request that cannot be framed can be trusted to start a request
        (RFC 9112 §9.6 lets a server close after such a response), so every answer here
        closes the connection.
        """
        self._fast = False
        self._keep_alive = False
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = e.error_status_hint
            if status == 431 and not self._h11.trailing_data[0].count(b"\n"):
                status = 414  # the request line alone was too long
            if status in _LIMIT_TEXTS:
                # h11's buffer limit ("Receive buffer too long"): the words request_flow
                # uses for the same limit met in a head that arrived whole.
                reply = text_reply(status, _LIMIT_TEXTS[status])
            else:
                reason = _H11_REPR.sub("", str(e)) or "malformed HTTP request"
                phrase = REASONS.get(status, "bad request").lower()
                reply = text_reply(status, f"{phrase}: {reason}")
            if self._h11.our_state is h11.IDLE:  # no request was read: log what there is
                self._answer_unread(reply, self._peek or self._h11.trailing_data[0][:_PEEK])
            else:
                self._queue_reply(reply)
        self._peek = None
        self._settle()

    def _answer_unread(self, reply: Reply, data: bytes) -> None:
        """Queue ``reply`` to a request h11 could not read, whose first bytes are ``data``.

        The access log shows its method and target as far as they were received (bytes
        outside printable ASCII percent-encoded, each cut at ``_LOGGED_TARGET``), timed from
        the arrival of its first bytes. The reply is framed as to a GET (h11 read no method).
        """
        parts = data.split(b"\n", 1)[0].rstrip(b"\r").split(b" ", 2)
        self._method = b"GET"
        self._target = _printable(parts[1]) if len(parts) > 1 else b""
        self._started, self._started_at = self._arrived or (self._mono, self._now)
        self._arrived = None
        self._rid = self._ids.next()  # nothing of an unread head is trusted
        self._queue_reply(reply)
        method = (_printable(parts[0]) or b"-").decode("ascii")
        self._log[-1] = msgspec.structs.replace(self._log[-1], method=method)

    def _start(self, event: h11.Request) -> None:
        headers = list(event.headers)
        # Plain: HTTP/1.1, keep-alive, no request body, nothing h11 must still decide.
        plain = event.http_version == b"1.1" and not any(
            (n == b"connection" and b"close" in v.lower())
            or n in (b"transfer-encoding", b"expect")
            or (n == b"content-length" and v.strip() != b"0")
            for n, v in headers
        )
        if (
            event.method == b"POST"
            and self._cfg.config.admin_warm
            and admin_warm_target(event.target, self._cfg.base_path)
        ):
            self._start_body(event.method, event.target, headers)
            return
        self._begin(event.method, event.target, headers, plain=plain, fast=False)

    def _start_body(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """``POST /admin/warm``: read its body (at most ``MAX_WARM_BODY``) before the flow.

        A body declared longer is answered 413 at once, and the connection closes after it
        (the rest of the body is never read).
        """
        declared = next((v for n, v in headers if n == b"content-length"), b"")
        if declared.strip().isdigit() and int(declared) > MAX_WARM_BODY:
            self._keep_alive = False
            self._begin(method, target, headers, plain=False, fast=False, body=None)
            return
        self._method, self._target = method, target
        self._started, self._started_at = self._mono, self._now
        self._rid = self._ids.choose(b"")
        self._collect = (method, target, headers)
        self._body = bytearray()
        if self._h11.they_are_waiting_for_100_continue:
            # curl asks before a body over 1 KiB: say go on now rather than make it wait.
            data = self._h11.send(
                h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            )
            self._outbox.append(SendBytes(data or b""))
            self._state = _SENDING

    def _begin(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        plain: bool,
        fast: bool,
        body: bytes | bytearray | None = None,
    ) -> None:
        now = self._now
        self._method = method
        self._target = target
        self._started = self._mono
        self._started_at = now
        self._peek = self._arrived = None
        self._fresh = False
        self._body_bytes = 0
        self._if_none_match = b""
        sent_id = b""
        credentials = False
        for name, value in headers:
            if name == b"if-none-match":
                self._if_none_match = value
            elif name == b"x-request-id":
                sent_id = value
            elif name == b"authorization":
                credentials = True
        self._rid = rid = self._ids.choose(sent_id)
        self._headers = headers
        self._plain = plain
        self._fast = fast
        self._hot_blob = False
        self._hot_record = None
        # The hot table holds answers anyone may have; credentials are judged by the engine.
        if fast and self._hot is not None and not self._if_none_match and not credentials:
            hot = self._hot.get(method, target)
            if hot is not None:
                date = http_date(now).encode()
                parts = (
                    hot.before,
                    b"date: ",
                    date,
                    b"\r\nx-request-id: ",
                    rid,
                    b"\r\n",
                    hot.after,
                )
                if hot.blob_key:
                    # The head goes out with the blob, once the blob is open: if the store
                    # lost it meanwhile, nothing was sent and the engine answers instead.
                    self._outbox.append(SendBlob(hot.blob_key, hot.length, b"".join(parts)))
                    self._hot_blob = True
                    self._hot_record = (hot.status, hot.length, hot.cache_status)
                else:
                    self._outbox.append(SendBytes(b"".join(parts)))
                    self._record(hot.status, hot.length, hot.cache_status)
                self._state = _SENDING
                return
        if (
            len(target) > MAX_TARGET
            or len(headers) > MAX_HEADERS
            or (not fast and _head_size(headers) > self._cfg.config.max_request_head)
        ):
            # Refused by the request limits (414, 431): like a request h11 cannot frame, a
            # client this far off is not worth keeping.
            self._keep_alive = False
        self._flow = request_flow(
            self._cfg,
            method,
            target,
            headers,
            now,
            relay=True,
            body=None if body is None else bytes(body),
            keyring=self._keyring,
        )
        self._advance(None)

    def _queue_reply(self, reply: Reply) -> None:
        h = self._h11
        if self._relay is not None:
            self._finish_relay(reply)
            return
        head = response_head(
            reply,
            method=self._method,
            if_none_match=self._if_none_match,
            now=self._now,
            closing=not self._keep_alive,
            request_id=self._rid,
        )
        status = head.status
        if self._fast or (self._plain and self._keep_alive and h.our_state is h11.SEND_RESPONSE):
            self._queue_plain(reply, head)
            return
        data = self._send_head(head)
        length = 0
        if not head.body:
            data += h.send(h11.EndOfMessage()) or b""
            self._outbox.append(SendBytes(data))
        elif reply.blob is not None:
            self._outbox.append(SendBytes(data))
            # h11 only counts the body against Content-Length; the caller moves the bytes.
            placeholder = _BlobPlaceholder(reply.blob.size)
            h.send_with_data_passthrough(h11.Data(data=placeholder))  # type: ignore[arg-type]
            self._outbox.append(SendBlob(reply.blob.key, reply.blob.size))
            tail = h.send(h11.EndOfMessage()) or b""
            if tail:
                self._outbox.append(SendBytes(tail))
            length = reply.blob.size
        else:
            data += h.send(h11.Data(data=reply.body)) or b""
            data += h.send(h11.EndOfMessage()) or b""
            self._outbox.append(SendBytes(data))
            length = len(reply.body)
        self._record_reply(status, length, reply)

    def _queue_plain(self, reply: Reply, head: ResponseHead) -> None:
        """The fast path: write the response ourselves and start a fresh h11 connection.

        For a plain HTTP/1.1 keep-alive request with no body, h11's only remaining job would
        be to frame a response whose length we already know; building the bytes directly
        skips its header re-validation (a fifth of a cached answer). The request's h11
        connection is then replaced by a new one fed whatever the client pipelined after it.
        """
        data = head_bytes(head)
        if (
            self._fast
            and self._hot is not None
            and self._keep_alive
            and not self._if_none_match
            and not reply.audit
        ):
            self._hot.remember(self._method, self._target, reply, head)
        length = 0
        if head.body and reply.blob is not None:
            self._outbox.append(SendBytes(data))
            self._outbox.append(SendBlob(reply.blob.key, reply.blob.size))
            length = reply.blob.size
        else:
            if head.body:
                data += reply.body
                length = len(reply.body)
            self._outbox.append(SendBytes(data))
        self._record_reply(head.status, length, reply)
        if self._fast:
            return  # h11 never saw this request: it is still idle
        trailing, closed = self._h11.trailing_data
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self._cfg.config.max_request_head
        )
        if trailing:
            self._inbuf += trailing  # the fast path may read what was pipelined
        if closed:
            self._flush_inbuf()
            self._h11.receive_data(b"")

    def _finish_relay(self, reply: Reply) -> None:
        """The relayed body is out but for its held-back tail: release it, or cut the line."""
        assert self._relay is not None
        key, size = self._relay
        held, self._relay, self._held = self._held, None, b""
        blob = reply.blob
        if held is None:
            # The relayed fetch failed part-way (another upstream may have served the blob
            # since): the client has a prefix of a body that will not be completed.
            self._keep_alive = False
            self._record_reply(reply.status, 0, reply)
            return
        if reply.status == 200 and blob is not None and (blob.key, blob.size) == (key, size):
            if self._fast:
                self._outbox.append(SendBytes(held))
                self._record_reply(200, size, reply)
                return
            h = self._h11
            sent = _BlobPlaceholder(size - len(held))
            h.send_with_data_passthrough(h11.Data(data=sent))  # type: ignore[arg-type]
            data = (h.send(h11.Data(data=held)) or b"") + (h.send(h11.EndOfMessage()) or b"")
            self._outbox.append(SendBytes(data))
            self._record_reply(200, size, reply)
            return
        # Checked and refused after most of it went out: closing before the last bytes makes
        # the client see a short body, never a complete bad one.
        self._keep_alive = False
        self._record_reply(reply.status, size - len(held), reply)

    def _record_hot(self) -> None:
        if self._hot_record is not None:
            self._record(*self._hot_record)
            self._hot_record = None

    def _record_reply(self, status: int, length: int, reply: Reply) -> None:
        self._record(
            status,
            length,
            reply.cache_status,
            reply.alarm,
            reply.upstream,
            reply.token,
            reply.audit,
        )

    def _record(
        self,
        status: int,
        length: int,
        cache_status: str,
        alarm: str = "",
        upstream: str = "",
        token: str = "",
        audit: bool = False,
    ) -> None:
        # Positional (the fields' order): a tenth of a microsecond cheaper than by keyword,
        # on the hot path's every answer.
        self._log.append(
            AccessRecord(
                self._method.decode("ascii", "replace"),
                self._target.decode("ascii", "replace"),
                status,
                length,
                cache_status,
                self._started,
                self._started_at,
                alarm,
                self._rid.decode("ascii"),
                upstream,
                token,
                audit,
            )
        )

    def _send_head(self, head: ResponseHead) -> bytes:
        event = h11.Response(status_code=head.status, headers=head.headers, reason=head.reason)
        return self._h11.send(event) or b""


def _head_size(headers: list[tuple[bytes, bytes]]) -> int:
    """The header fields' size as ``request_flow`` counts it against ``max_request_head``."""
    return sum(len(n) + len(v) + 4 for n, v in headers)


def _printable(data: bytes) -> bytes:
    """``data`` cut at ``_LOGGED_TARGET`` bytes, every byte outside ``!``-``~`` as ``%XX``."""
    cut = data[:_LOGGED_TARGET]
    if all(0x21 <= b <= 0x7E for b in cut):
        return cut
    return b"".join(bytes((b,)) if 0x21 <= b <= 0x7E else b"%%%02X" % b for b in cut)
