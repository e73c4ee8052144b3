"""The GOPROXY protocol layer: requests, the caching engine, replies and HTTP connections.

:class:`ProxyConnection` speaks HTTP/1.1 over bytes it is handed and yields effects
(:mod:`.effects`) for the caller to carry out; :func:`request_flow` decides one request that
another server already parsed (the ASGI and WSGI adapters). Around them: the configuration
(:class:`ProxyConfig`, :func:`compile_config`), the upstream list (:func:`parse_upstreams`),
request targets (:func:`parse_target`), store keys (:func:`key_for` …), ``.info`` checks
(:func:`validate_info`), and the one table from outcome to HTTP status (:func:`text_reply`,
:func:`error_status`, :func:`error_reply`): the core's errors know their domain, this layer
knows HTTP.

The connection's state machine is public for callers and tests that check it:
:class:`ConnectionState` (``ProxyConnection.state``), ``INPUTS`` (the methods that move it),
``ANSWERS`` (each answer method and the effect it answers) and ``TRANSITIONS`` (state → input
→ possible next states); ``states.py`` has the theory of operation.
"""

from __future__ import annotations

from .breaker import Breaker, BreakerState, Transition
from .config import CompiledConfig, ProxyConfig, RetractedPolicy, SumdbConfig, compile_config
from .connection import AccessRecord, ProxyConnection
from .effects import (
    NEED_DATA,
    AbortBlob,
    AppendSumdb,
    BlobData,
    BlobInfo,
    CheckZip,
    CloseConnection,
    CommitBlob,
    Effect,
    FetchDirect,
    FetchUpstream,
    FreeSpace,
    NeedData,
    ReadBlob,
    ReadSumdb,
    SaveBlob,
    SendBlob,
    SendBytes,
    StatBlob,
    StoreFailure,
    StoreSpace,
    SumdbAnswer,
    SumdbPart,
    UpstreamResult,
    ZipVerdict,
)
from .hot import HotReplies
from .info import BadUpstreamError, VersionInfo, encode_info, validate_info
from .keys import (
    NEGATIVE_PREFIX,
    is_fresh,
    key_for,
    latest_key,
    list_key,
    negative_key,
    remaining_ttl,
    version_key,
)
from .proxylist import ConfigError, Upstream, UpstreamKind, parse_upstreams
from .replies import (
    CT_JSON,
    CT_OCTET,
    CT_TEXT,
    CT_ZIP,
    IMMUTABLE,
    NO_STORE,
    Reply,
    error_reply,
    error_status,
    max_age,
    text_reply,
)
from .request import MAX_HEADERS, MAX_TARGET, ResponseHead, request_flow, response_head
from .states import ANSWERS, INPUTS, TRANSITIONS, ConnectionState
from .targets import (
    BadRequestError,
    FileKind,
    HealthReq,
    IndexReq,
    LatestReq,
    ListReq,
    NotFoundError,
    Request,
    SumdbKind,
    SumdbReq,
    VersionReq,
    parse_target,
)

__all__ = [
    "ANSWERS",
    "CT_JSON",
    "CT_OCTET",
    "CT_TEXT",
    "CT_ZIP",
    "IMMUTABLE",
    "INPUTS",
    "MAX_HEADERS",
    "MAX_TARGET",
    "NEED_DATA",
    "NEGATIVE_PREFIX",
    "NO_STORE",
    "TRANSITIONS",
    "AbortBlob",
    "AccessRecord",
    "AppendSumdb",
    "BadRequestError",
    "BadUpstreamError",
    "BlobData",
    "BlobInfo",
    "Breaker",
    "BreakerState",
    "CheckZip",
    "CloseConnection",
    "CommitBlob",
    "CompiledConfig",
    "ConfigError",
    "ConnectionState",
    "Effect",
    "FetchDirect",
    "FetchUpstream",
    "FileKind",
    "FreeSpace",
    "HealthReq",
    "HotReplies",
    "IndexReq",
    "LatestReq",
    "ListReq",
    "NeedData",
    "NotFoundError",
    "ProxyConfig",
    "ProxyConnection",
    "ReadBlob",
    "ReadSumdb",
    "Reply",
    "Request",
    "ResponseHead",
    "RetractedPolicy",
    "SaveBlob",
    "SendBlob",
    "SendBytes",
    "StatBlob",
    "StoreFailure",
    "StoreSpace",
    "SumdbAnswer",
    "SumdbConfig",
    "SumdbKind",
    "SumdbPart",
    "SumdbReq",
    "Transition",
    "Upstream",
    "UpstreamKind",
    "UpstreamResult",
    "VersionInfo",
    "VersionReq",
    "ZipVerdict",
    "compile_config",
    "encode_info",
    "error_reply",
    "error_status",
    "is_fresh",
    "key_for",
    "latest_key",
    "list_key",
    "max_age",
    "negative_key",
    "parse_target",
    "parse_upstreams",
    "remaining_ttl",
    "request_flow",
    "response_head",
    "text_reply",
    "validate_info",
    "version_key",
]
