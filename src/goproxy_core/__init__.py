"""goproxy_core: a pure Sans-IO implementation of the Go module proxy protocol."""

from __future__ import annotations

from ._errors import (
    InvalidPathError,
    InvalidVersionError,
    LocalProtocolError,
    ProxyError,
    RemoteProtocolError,
)
from ._semver import canonical, compare, is_valid

compare_versions = compare

__all__ = [
    "InvalidPathError",
    "InvalidVersionError",
    "LocalProtocolError",
    "ProxyError",
    "RemoteProtocolError",
    "canonical",
    "compare_versions",
    "is_valid",
]
