"""The states of a ``ProxyConnection`` and the table of the caller's inputs allowed in each.

Theory of operation: a connection is always in exactly one :class:`ConnectionState`. The
caller moves it with its *inputs*, the connection's public methods: ``receive_data``,
``next_effect``, the past-tense answers to effects (``blob_statted`` ... ``resolve``),
``relay_started``, ``blob_sent``, ``send_failed`` and ``timed_out``. :data:`TRANSITIONS` says,
for each state, which inputs it accepts and the states each may lead to; several destinations
mean the core decides (the engine yields another effect, or finishes with a reply). Any input a
state does not list is caller misuse: it raises ``LocalProtocolError`` and leaves the
connection in ``ERROR``.

One request goes round like this (``next_effect`` makes every move that is not an answer)::

    IDLE ──next_effect──▶ AWAITING ──answer──▶ RUNNING ──next_effect──▶ AWAITING ...
                            │ relay_started                      (the last answer)
                            ▼                                            │
                          RELAYING ──upstream_fetched──▶ RUNNING ...     ▼
    IDLE ◀──next_effect── SENDING ◀──blob_sent── SENDING_BLOB ◀──next_effect── SENDING

``SENDING`` ends in ``CLOSING`` instead of ``IDLE`` when the connection is not kept alive;
``next_effect`` then hands out ``CloseConnection`` and the state is ``CLOSED``.
A request answered from the ``HotReplies`` table skips the engine: one ``next_effect`` takes
it from ``IDLE`` to ``SENDING`` (or, its single ``SendBytes`` handed out, back to ``IDLE``).
The state describes the core, not the wire: after ``next_effect`` hands out a response's last
``SendBytes``, the connection is already ``IDLE`` (or ``CLOSING``) though the caller has yet to
write them.

Only the answer that matches the pending effect is accepted (``blob_read`` for a ``ReadBlob``
...): a state says an answer is due, the pending effect says which. To add an effect answered
through ``resolve``, add its effect type to :data:`ANSWERS`, under a new past-tense method
or one that already answers effects of its kind.

After misuse the connection is in ``ERROR`` for good: every input raises ``LocalProtocolError``
except ``next_effect``, which returns ``CloseConnection``. Nothing about the exchange can be
trusted any more (a response may be half-written), and closing is the only safe way out, so
the caller's loop ends the way it always does, by closing the socket. The queries
(``state``, ``between_requests``, ``deadline()``, ``take_log()``) never raise.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from .effects import (
    AbortBlob,
    AppendSumdb,
    CheckZip,
    CommitBlob,
    FetchDirect,
    FetchUpstream,
    ListKeys,
    Prefetch,
    ReadBlob,
    ReadCatalog,
    ReadSumdb,
    RenderMetrics,
    Revalidate,
    SaveBlob,
    StatBlob,
    StoreSpace,
    WarmCache,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ANSWERS", "INPUTS", "TRANSITIONS", "ConnectionState", "allowed_in"]


class ConnectionState(enum.Enum):
    """Where a :class:`~goproxy_core.ProxyConnection` stands.

    Attributes:
        IDLE: no response under way: reading the next request. ``next_effect`` returns
            ``NEED_DATA`` until a request head is complete, then starts it.
        RUNNING: a request's engine flow is under way and its next effect is ready for
            ``next_effect``.
        AWAITING: a store or upstream effect was handed out; its answer is due.
        RELAYING: a relayable ``FetchUpstream`` is out and ``relay_started`` was called: the
            zip goes to the client while it is fetched; ``upstream_fetched`` is due.
        SENDING: a response is queued; ``next_effect`` hands out its ``SendBytes`` and
            ``SendBlob``.
        SENDING_BLOB: a ``SendBlob`` was handed out; ``blob_sent`` or ``send_failed`` is due
            (or ``blob_missing``, for one with a ``head``).
        CLOSING: nothing is left to send and the connection is not kept alive;
            ``next_effect`` returns ``CloseConnection``.
        CLOSED: ``CloseConnection`` was handed out (``next_effect`` returns it again).
        ERROR: the caller misused the connection; close it.
    """

    IDLE = "IDLE"
    RUNNING = "RUNNING"
    AWAITING = "AWAITING"
    RELAYING = "RELAYING"
    SENDING = "SENDING"
    SENDING_BLOB = "SENDING_BLOB"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"
    ERROR = "ERROR"

    # Members are singletons: identity hashing keeps the per-call table checks cheap (Enum's
    # own __hash__ is Python code, several times slower in a set lookup).
    __hash__ = object.__hash__


ANSWERS: Final[Mapping[str, tuple[type, ...]]] = MappingProxyType(
    {
        "blob_statted": (StatBlob,),
        "blob_read": (ReadBlob,),
        "blob_saved": (SaveBlob,),
        "store_space_told": (StoreSpace,),
        "metrics_rendered": (RenderMetrics,),
        "upstream_fetched": (FetchUpstream, FetchDirect),
        "zip_checked": (CheckZip,),
        "blob_committed": (CommitBlob,),
        "blob_aborted": (AbortBlob,),
        "sumdb_answered": (ReadSumdb, AppendSumdb),
        "revalidation_started": (Revalidate,),
        "prefetch_started": (Prefetch,),
        "catalog_read": (ReadCatalog,),
        "keys_listed": (ListKeys,),
        "warm_done": (WarmCache,),
    }
)
"""Each past-tense answer method and the effect types it answers; ``resolve`` answers any."""

INPUTS: Final[tuple[str, ...]] = (
    "receive_data",
    "next_effect",
    *ANSWERS,
    "resolve",
    "relay_started",
    "blob_sent",
    "blob_missing",
    "send_failed",
    "timed_out",
)
"""Every input: the ``ProxyConnection`` methods that move its state."""

_S = ConnectionState
_AFTER_ANSWER: Final = frozenset({_S.RUNNING, _S.SENDING, _S.CLOSING})  # effect or reply next

_ROWS: Final[dict[ConnectionState, dict[str, frozenset[ConnectionState]]]] = {
    _S.IDLE: {
        "receive_data": frozenset({_S.IDLE}),
        # NEED_DATA; or a request starts and its first effect is handed out.
        "next_effect": frozenset(
            {_S.IDLE, _S.AWAITING, _S.SENDING, _S.SENDING_BLOB, _S.CLOSING, _S.CLOSED}
        ),
        "timed_out": frozenset({_S.SENDING, _S.CLOSING}),  # a 408, or just close
        "send_failed": frozenset({_S.CLOSING}),
    },
    _S.RUNNING: {
        "receive_data": frozenset({_S.RUNNING}),
        "next_effect": frozenset({_S.AWAITING}),
    },
    _S.AWAITING: {
        **dict.fromkeys(ANSWERS, _AFTER_ANSWER),
        "resolve": _AFTER_ANSWER,
        "relay_started": frozenset({_S.RELAYING}),
    },
    _S.RELAYING: {
        "upstream_fetched": _AFTER_ANSWER,
        "resolve": _AFTER_ANSWER,
    },
    _S.SENDING: {
        "receive_data": frozenset({_S.SENDING}),
        "next_effect": frozenset({_S.SENDING, _S.SENDING_BLOB, _S.IDLE, _S.CLOSING}),
        "send_failed": frozenset({_S.CLOSING}),
    },
    _S.SENDING_BLOB: {
        "blob_sent": frozenset({_S.SENDING, _S.IDLE, _S.CLOSING}),
        # A hot answer's blob was gone before anything was written: the engine answers.
        "blob_missing": _AFTER_ANSWER,
        "send_failed": frozenset({_S.CLOSING}),
    },
    _S.CLOSING: {
        "receive_data": frozenset({_S.CLOSING}),  # too late: the bytes are ignored
        "next_effect": frozenset({_S.CLOSED}),
        "send_failed": frozenset({_S.CLOSING}),
    },
    _S.CLOSED: {
        "next_effect": frozenset({_S.CLOSED}),
    },
    _S.ERROR: {
        "next_effect": frozenset({_S.ERROR}),  # CloseConnection
    },
}

TRANSITIONS: Final[Mapping[ConnectionState, Mapping[str, frozenset[ConnectionState]]]] = (
    MappingProxyType({state: MappingProxyType(row) for state, row in _ROWS.items()})
)
"""State → input → the states that input may lead to. An input missing from a state's row is
misuse: ``LocalProtocolError``, and the state becomes ``ERROR``."""


def allowed_in(name: str) -> frozenset[ConnectionState]:
    """The states in which the input ``name`` is accepted."""
    return frozenset(state for state, row in TRANSITIONS.items() if name in row)
