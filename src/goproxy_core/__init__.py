"""goproxy_core: a pure Sans-IO implementation of the Go module proxy protocol.

No sockets, files, threads or clocks: a :class:`ProxyConnection` takes client bytes and the
results of I/O it asked for, and returns effects saying what I/O to do next. The building
blocks (Go's path, version, go.mod, zip and hash rules) are usable on their own.
See docs/core.md.
"""

from __future__ import annotations

from .errors import (
    InvalidPathError,
    InvalidVersionError,
    LocalProtocolError,
    ProxyError,
)
from .modfile.rule import GoMod, ModFileError, legacy_go_mod, parse_gomod, short_message
from .module.escape import escape_path, escape_version, unescape_path, unescape_version
from .module.paths import (
    PrefixPatterns,
    canonical_version,
    check,
    check_file_path,
    check_import_path,
    check_path,
    match_prefix_patterns,
    split_path_version,
)
from .module.pseudo import (
    is_pseudo_version,
    pseudo_version,
    pseudo_version_base,
    pseudo_version_rev,
    pseudo_version_time,
)
from .proxy.config import CompiledConfig, ProxyConfig, RetractedPolicy, compile_config
from .proxy.connection import AccessRecord, HotReplies, ProxyConnection
from .proxy.effects import (
    NEED_DATA,
    AbortBlob,
    BlobData,
    BlobInfo,
    CloseConnection,
    CommitBlob,
    Effect,
    FetchUpstream,
    NeedData,
    ReadBlob,
    SaveBlob,
    SendBlob,
    SendBytes,
    StatBlob,
    UpstreamResult,
)
from .proxy.info import BadUpstreamError, VersionInfo, validate_info
from .proxy.proxylist import DIRECT_PREFIX, ConfigError, Upstream, UpstreamKind, parse_upstreams
from .proxy.replies import Reply, error_reply, error_status, text_reply
from .proxy.request import ResponseHead, request_flow, response_head
from .proxy.targets import (
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
from .semver import canonical, compare, compare_versions, is_valid, sort_versions
from .sumdb.dirhash import hash_gomod, hash_zip
from .zip import ZipError, check_zip, create_zip

__all__ = [
    "DIRECT_PREFIX",
    "NEED_DATA",
    "AbortBlob",
    "AccessRecord",
    "BadRequestError",
    "BadUpstreamError",
    "BlobData",
    "BlobInfo",
    "CloseConnection",
    "CommitBlob",
    "CompiledConfig",
    "ConfigError",
    "Effect",
    "FetchUpstream",
    "FileKind",
    "GoMod",
    "HealthReq",
    "HotReplies",
    "IndexReq",
    "InvalidPathError",
    "InvalidVersionError",
    "LatestReq",
    "ListReq",
    "LocalProtocolError",
    "ModFileError",
    "NeedData",
    "NotFoundError",
    "PrefixPatterns",
    "ProxyConfig",
    "ProxyConnection",
    "ProxyError",
    "ReadBlob",
    "Reply",
    "Request",
    "ResponseHead",
    "RetractedPolicy",
    "SaveBlob",
    "SendBlob",
    "SendBytes",
    "StatBlob",
    "SumdbKind",
    "SumdbReq",
    "Upstream",
    "UpstreamKind",
    "UpstreamResult",
    "VersionInfo",
    "VersionReq",
    "ZipError",
    "canonical",
    "canonical_version",
    "check",
    "check_file_path",
    "check_import_path",
    "check_path",
    "check_zip",
    "compare",
    "compare_versions",
    "compile_config",
    "create_zip",
    "error_reply",
    "error_status",
    "escape_path",
    "escape_version",
    "hash_gomod",
    "hash_zip",
    "is_pseudo_version",
    "is_valid",
    "legacy_go_mod",
    "match_prefix_patterns",
    "parse_gomod",
    "parse_target",
    "parse_upstreams",
    "pseudo_version",
    "pseudo_version_base",
    "pseudo_version_rev",
    "pseudo_version_time",
    "request_flow",
    "response_head",
    "short_message",
    "sort_versions",
    "split_path_version",
    "text_reply",
    "unescape_path",
    "unescape_version",
    "validate_info",
]
