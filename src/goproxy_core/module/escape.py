"""Case encoding of module paths and versions: the ``!`` escaping of the proxy protocol.

Owns PROTOCOL.md §5. Every upper-case ASCII letter becomes ``!`` plus its lower-case form,
so that ``example.com/M`` and ``example.com/m`` stay apart on case-insensitive disks and URL
spaces; nothing else changes. Both the module path and the version are escaped in proxy URLs,
checksum-database lookups and cache keys; list bodies, ``.info`` and go.sum carry them plain.

Ported from golang.org/x/mod ``module/module.go`` (``EscapePath``, ``EscapeVersion``,
``UnescapePath``, ``UnescapeVersion``), with Go's exact error texts.
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import InvalidPathError, InvalidVersionError, ProxyError, go_quote
from .paths import check_elem, check_path

__all__ = [
    "InvalidEscapedPathError",
    "InvalidEscapedVersionError",
    "escape_path",
    "escape_version",
    "unescape_path",
    "unescape_version",
]

_UPPER_TO_BANG: Final = {c: "!" + chr(c).lower() for c in range(ord("A"), ord("Z") + 1)}
# Anything that makes escaping or unescaping more than the identity: an upper-case letter, a
# "!" or a non-ASCII character. The common request has none, so one C-level scan settles it.
_NOT_PLAIN: Final = re.compile(r"[A-Z!]|[^\x00-\x7f]").search
# A well-formed escaped string: ASCII, no upper case, every "!" followed by a-z.
_ESCAPED: Final = re.compile(r"(?:[\x00-\x20\x22-\x40\x5b-\x7f]|![a-z])*").fullmatch
_BANG_LOWER: Final = re.compile(r"!([a-z])")


class InvalidEscapedPathError(InvalidPathError):
    """An escaped module path that is badly escaped or names an invalid module path.

    The message is Go's: ``invalid escaped module path "…"``, followed by ``: <error>`` when
    the unescaped path fails :func:`check_path`.

    Attributes:
        escaped: the escaped form as received.
        cause: the path error of the unescaped form, if that is what failed.
    """

    def __init__(self, escaped: str, cause: InvalidPathError | None = None) -> None:
        self.kind = "module"
        self.path = escaped
        self.escaped = escaped
        self.cause = cause
        self.reason = cause.message if cause is not None else "invalid escaping"
        message = f"invalid escaped module path {go_quote(escaped)}"
        if cause is not None:
            message += f": {cause.message}"
        ProxyError.__init__(self, message)


class InvalidEscapedVersionError(InvalidVersionError):
    """An escaped version that is badly escaped or names an invalid version string.

    The message is Go's: ``invalid escaped version "…"``, followed by ``: <reason>`` when the
    unescaped version is not a valid file name element (Go then quotes the unescaped form).
    """

    def __init__(self, version: str, reason: str | None = None) -> None:
        self.version = version
        self.reason = reason if reason is not None else "invalid escaping"
        self.path = None
        self.pseudo = False
        message = f"invalid escaped version {go_quote(version)}"
        if reason is not None:
            message += f": {reason}"
        ProxyError.__init__(self, message)


class _RawVersionError(InvalidVersionError):
    """An InvalidVersionError whose text is given verbatim (Go returns a bare error there)."""

    def __init__(self, version: str, message: str) -> None:
        self.version = version
        self.reason = message
        self.path = None
        self.pseudo = False
        ProxyError.__init__(self, message)


def escape_path(path: str) -> str:
    """The escaped form of a module path (x/mod ``module.EscapePath``).

    Args:
        path: a module path; it must pass :func:`check_path`.

    Returns:
        ``path`` with every ``A``-``Z`` replaced by ``!`` and the lower-case letter.

    Raises:
        InvalidPathError: the path is not a valid module path.
    """
    check_path(path)  # also guarantees ASCII and no "!", which escaping relies on
    if _NOT_PLAIN(path) is None:
        return path
    return path.translate(_UPPER_TO_BANG)


def escape_version(v: str) -> str:
    """The escaped form of a version (x/mod ``module.EscapeVersion``).

    Versions need not be semver (``master`` is fine) but must be a valid file name element
    without ``!``.

    Raises:
        InvalidVersionError: ``version "…" invalid: disallowed version string``.
    """
    if _NOT_PLAIN(v) is None:
        # Plain ASCII without upper case or "!": only the element rules can still fail.
        if check_elem(v, "file") is None:
            return v
        raise InvalidVersionError(v, "disallowed version string")
    if "!" in v or check_elem(v, "file") is not None:
        raise InvalidVersionError(v, "disallowed version string")
    if not v.isascii():
        # A Unicode letter passes the file-name rules but cannot be case-escaped; Go reports
        # this with the bare text below.
        raise _RawVersionError(v, "internal error: inconsistency in EscapePath")
    return v.translate(_UPPER_TO_BANG)


def _unescape(escaped: str) -> str | None:
    """The unescaped string, or None if ``escaped`` is not well formed (Go ``unescapeString``)."""
    if _NOT_PLAIN(escaped) is None:
        return escaped
    if _ESCAPED(escaped) is None:
        return None
    return _BANG_LOWER.sub(lambda m: m.group(1).upper(), escaped)


def unescape_path(escaped: str) -> str:
    """The module path an escaped path stands for (x/mod ``module.UnescapePath``).

    Args:
        escaped: the escaped module path, as found in a request URL or cache key.

    Returns:
        The module path.

    Raises:
        InvalidEscapedPathError: bad escaping (an upper-case letter, a ``!`` not followed by
            ``a``-``z``, non-ASCII) or the result is not a valid module path.
    """
    path = _unescape(escaped)
    if path is None:
        raise InvalidEscapedPathError(escaped)
    try:
        check_path(path)
    except InvalidPathError as err:
        raise InvalidEscapedPathError(escaped, err) from None
    return path


def unescape_version(escaped: str) -> str:
    """The version an escaped version stands for (x/mod ``module.UnescapeVersion``).

    Args:
        escaped: the escaped version, as found in a request URL or cache key.

    Returns:
        The version (not necessarily semver; callers check that separately).

    Raises:
        InvalidEscapedVersionError: bad escaping, or the result is not a valid file name.
    """
    v = _unescape(escaped)
    if v is None:
        raise InvalidEscapedVersionError(escaped)
    reason = check_elem(v, "file")
    if reason is not None:
        raise InvalidEscapedVersionError(v, reason)
    return v
