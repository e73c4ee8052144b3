"""Pseudo-versions: recognising, taking apart and building them.

Owns PROTOCOL.md §7. A pseudo-version names an untagged commit by its UTC commit time and
revision, on top of the newest tag before it, in one of three forms::

    vX.0.0-yyyymmddhhmmss-abcdefabcdef          no base tag
    vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdefabcdef    base vX.Y.Z (the patch is incremented)
    vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef    base vX.Y.Z-pre

Build metadata of the base (``+incompatible``) is carried over. Numbers are handled as
decimal strings, so any size works.

Ported from golang.org/x/mod ``module/pseudo.go`` (``PseudoVersion``, ``IsPseudoVersion``,
``PseudoVersionTime``, ``PseudoVersionRev``, ``PseudoVersionBase``, ``incDecimal``,
``decDecimal``), with Go's exact error texts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final, NamedTuple

from .. import semver as _semver
from ..errors import InvalidVersionError, go_quote

__all__ = [
    "PSEUDO_VERSION_TIMESTAMP_FORMAT",
    "dec_decimal",
    "format_pseudo_timestamp",
    "inc_decimal",
    "is_pseudo_version",
    "is_zero_pseudo_version",
    "parse_pseudo_timestamp",
    "pseudo_version",
    "pseudo_version_base",
    "pseudo_version_rev",
    "pseudo_version_time",
    "zero_pseudo_version",
]

PSEUDO_VERSION_TIMESTAMP_FORMAT: Final = "20060102150405"
"""Go's layout for the timestamp (``yyyymmddhhmmss``, UTC); see :func:`format_pseudo_timestamp`."""

# re.ASCII: Go's \d is [0-9] only. fullmatch, not "$": "$" would accept a trailing newline.
_PSEUDO_RE: Final = re.compile(
    r"v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
).fullmatch

_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)
_ZERO_REV: Final = "000000000000"


class _Parts(NamedTuple):
    base: str
    """``vX.0.0``, ``vX.Y.(Z+1)-0`` or ``vX.Y.Z-pre.0``."""
    timestamp: str
    rev: str
    build: str


def inc_decimal(decimal: str) -> str:
    """The decimal string plus one, keeping its width unless it overflows (Go ``incDecimal``).

    ``"99"`` → ``"100"``, ``"009"`` → ``"010"``. (Go panics on ``""``; this returns ``"1"``.)
    """
    stripped = decimal.rstrip("9")
    nines = len(decimal) - len(stripped)
    if not stripped:
        return "1" + "0" * nines
    return stripped[:-1] + chr(ord(stripped[-1]) + 1) + "0" * nines


def dec_decimal(decimal: str) -> str:
    """The decimal string minus one, or ``""`` if it is all zeros (Go ``decDecimal``).

    ``"100"`` → ``"99"`` (a leading 1 that becomes 0 is dropped), ``"1"`` → ``"0"``.
    """
    stripped = decimal.rstrip("0")
    zeros = len(decimal) - len(stripped)
    if not stripped:
        return ""
    if len(stripped) == 1 and stripped == "1" and zeros:
        return "9" * zeros
    return stripped[:-1] + chr(ord(stripped[-1]) - 1) + "9" * zeros


def format_pseudo_timestamp(t: datetime) -> str:
    """``t`` in UTC as ``yyyymmddhhmmss`` (Go ``t.UTC().Format(PseudoVersionTimestampFormat)``).

    Args:
        t: the commit time; a naive datetime is taken to be UTC already.
    """
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"


def parse_pseudo_timestamp(timestamp: str) -> datetime | None:
    """The UTC time of a 14-digit ``yyyymmddhhmmss`` stamp, or None if it is not a real time.

    Like Go's ``time.Parse``, months, days (per month and leap year), hours, minutes and seconds
    must be in range. Unlike Go, year 0000 is refused (Python's datetime starts at year 1).
    """
    if len(timestamp) != 14 or not (timestamp.isascii() and timestamp.isdigit()):
        return None
    try:
        return datetime(
            int(timestamp[0:4]),
            int(timestamp[4:6]),
            int(timestamp[6:8]),
            int(timestamp[8:10]),
            int(timestamp[10:12]),
            int(timestamp[12:14]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def pseudo_version(major: str, older: str, t: datetime, rev: str) -> str:
    """Build a pseudo-version (x/mod ``module.PseudoVersion``).

    Args:
        major: the major version (``"v2"``) used when there is no base tag; ``""`` means v0.
        older: the newest tag before the commit (``"v1.2.3"``, ``"v1.2.3-pre"``,
            ``"v2.0.0+incompatible"``), or ``""`` for none.
        t: the commit time (converted to UTC; naive means UTC).
        rev: the revision identifier, usually the 12-character commit hash prefix.

    Returns:
        ``vX.0.0-ts-rev``, ``vX.Y.(Z+1)-0.ts-rev[+build]`` or ``vX.Y.Z-pre.0.ts-rev[+build]``.
    """
    if not major:
        major = "v0"
    segment = f"{format_pseudo_timestamp(t)}-{rev}"
    build = _semver.build(older)
    older = _semver.canonical(older)
    if not older:
        return f"{major}.0.0-{segment}"
    if _semver.prerelease(older):
        return f"{older}.0.{segment}{build}"
    i = older.rfind(".") + 1
    return f"{older[:i]}{inc_decimal(older[i:])}-0.{segment}{build}"


def zero_pseudo_version(major: str) -> str:
    """The placeholder pseudo-version with zero time and revision (``ZeroPseudoVersion``).

    ``zero_pseudo_version("v0") == "v0.0.0-00010101000000-000000000000"``.
    """
    return pseudo_version(major, "", _ZERO_TIME, _ZERO_REV)


def is_pseudo_version(v: str) -> bool:
    """Whether ``v`` has pseudo-version syntax (x/mod ``module.IsPseudoVersion``).

    This is a syntax check: some strings it accepts have no valid base
    (:func:`pseudo_version_base` rejects them).
    """
    return v.count("-") >= 2 and _PSEUDO_RE(v) is not None and _semver.is_valid(v)


def is_zero_pseudo_version(v: str) -> bool:
    """Whether ``v`` is :func:`zero_pseudo_version` of its own major (``IsZeroPseudoVersion``)."""
    return v == zero_pseudo_version(_semver.major(v))


def _parse(v: str) -> _Parts:
    """Take a pseudo-version apart (Go ``parsePseudoVersion``)."""
    if not is_pseudo_version(v):
        raise InvalidVersionError(v, "syntax error", pseudo=True)
    build = _semver.build(v)
    if build:
        v = v[: -len(build)]
    j = v.rfind("-")
    v, rev = v[:j], v[j + 1 :]
    i = v.rfind("-")
    j = v.rfind(".")
    if j > i:
        return _Parts(v[:j], v[j + 1 :], rev, build)  # "vX.Y.Z-pre.0" or "vX.Y.(Z+1)-0"
    return _Parts(v[:i], v[i + 1 :], rev, build)  # "vX.0.0"


def pseudo_version_time(v: str) -> datetime:
    """The commit time recorded in a pseudo-version (x/mod ``module.PseudoVersionTime``).

    Returns:
        A timezone-aware UTC datetime.

    Raises:
        InvalidVersionError: ``pseudo-version "…" invalid: syntax error`` or
            ``… invalid: malformed time "…"``.
    """
    timestamp = _parse(v).timestamp
    t = parse_pseudo_timestamp(timestamp)
    if t is None:
        raise InvalidVersionError(v, f"malformed time {go_quote(timestamp)}", pseudo=True)
    return t


def pseudo_version_rev(v: str) -> str:
    """The revision identifier of a pseudo-version (x/mod ``module.PseudoVersionRev``).

    Raises:
        InvalidVersionError: ``v`` is not a pseudo-version.
    """
    return _parse(v).rev


def pseudo_version_base(v: str) -> str:
    """The tag a pseudo-version is based on, or ``""`` if none (``PseudoVersionBase``).

    ``v1.2.4-0.ts-rev`` → ``v1.2.3``; ``v1.2.3-pre.0.ts-rev`` → ``v1.2.3-pre``; build metadata
    is kept (``+incompatible``); ``vX.0.0-ts-rev`` → ``""``.

    Raises:
        InvalidVersionError: not a pseudo-version; ``vX.Y.0-0.…`` (the base would have patch
            -1); or ``vX.0.0-ts-rev+build`` (no base, yet build metadata).
    """
    base, _, _, build = _parse(v)
    pre = _semver.prerelease(base)
    if not pre:
        if build:
            # "vX.0.0-" says there is no parent tag, "+incompatible" says the parent tag's major
            # does not fit the path: the two contradict each other.
            raise InvalidVersionError(
                v, f"lacks base version, but has build metadata {go_quote(build)}", pseudo=True
            )
        return ""
    if pre == "-0":
        base = base[: -len(pre)]
        i = base.rfind(".")
        patch = dec_decimal(base[i + 1 :])
        if not patch:
            raise InvalidVersionError(
                v, f"version before {base} would have negative patch number", pseudo=True
            )
        return base[: i + 1] + patch + build
    # "vX.Y.Z-pre.0" → "vX.Y.Z-pre"; the regex guarantees the ".0".
    return base[: -len(".0")] + build
