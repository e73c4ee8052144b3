"""Wire models: the ``.info`` / ``@latest`` JSON, and the checks an upstream's answer must pass.

``.info`` is ``{"Version": …, "Time": …}`` plus optional ``Origin`` and legacy fields
(PROTOCOL.md §10, golang/go ``modfetch/proxy.go``). The upstream's bytes are what we store and
serve (msgspec would round Go's nanosecond times), so decoding here only validates.
"""

from __future__ import annotations

import datetime
import re

import msgspec

from ..errors import InvalidPathError, InvalidVersionError, ProxyError
from ..module.paths import canonical_version, check

__all__ = [
    "BadUpstreamError",
    "VersionInfo",
    "encode_info",
    "names_a_version",
    "rfc3339_instant",
    "validate_info",
]


class BadUpstreamError(ProxyError):
    """An upstream answered 200 with data that must not be stored or served."""


class InfoOrigin(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The part of ``.info``'s ``Origin`` the core looks at: the ref a query went through."""

    Ref: str = ""


class VersionInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The fields of ``.info`` the protocol defines; other fields are kept in the bytes."""

    Version: str
    Time: str | None = None
    Origin: InfoOrigin | None = None


_info_decoder = msgspec.json.Decoder(VersionInfo)
_info_encoder = msgspec.json.Encoder()
# What Go's time.Parse(time.RFC3339, …) accepts, its generic path included (time/format.go
# ``parse``; time.Time's UnmarshalJSON takes the same, its stricter checks being disabled): an
# hour of one or two digits, a fractional second of any length after "." or "," (read to the
# nanosecond) though the layout has none, and "Z" or a ±hh:mm zone with hh <= 24, mm <= 60.
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d?):(\d\d):(\d\d)(?:[.,](\d+))?(?:Z|([+-])(\d\d):(\d\d))"
)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def validate_info(module: str, body: bytes, *, requested: str | None) -> VersionInfo:
    """Check an upstream ``.info`` or ``@latest`` answer for ``module``.

    Args:
        module: the module path asked for.
        body: the JSON bytes.
        requested: the version asked for; when it is canonical and valid for the module, the
            answer must name exactly it (the go command rejects anything else: "proxy
            returned info for version X instead of requested version"), and no other rule
            applies to its version. None for queries and ``@latest``.

    Returns:
        The decoded fields.

    Raises:
        BadUpstreamError: not a JSON object with a string ``Version`` (for ``@latest``: a
            canonical one), or a ``Time`` that is not RFC 3339.
    """
    try:
        info = _info_decoder.decode(body)
    except msgspec.DecodeError as e:
        raise BadUpstreamError(f"invalid .info JSON: {e}") from None
    v = info.Version
    if requested is not None:
        # cmd/go modfetch/proxy.go ``Stat``: only a canonical version that is valid for the
        # module must be answered with exactly itself; for any other, whatever the proxy
        # says is taken as said.
        if v != requested and names_a_version(module, requested):
            raise BadUpstreamError(f"info for version {v} instead of requested version {requested}")
    elif not v or canonical_version(v) != v:
        # @latest's answer names the version it resolves to, which the go command then asks
        # for by that name (cmd/go modload/query.go): a version that is no canonical semver
        # fails there ("no matching versions", "unexpected invalid semantic version"). One the
        # module path does not allow (v2.0.0 of a path without /v2) it takes as said.
        raise BadUpstreamError(f"info names non-canonical version {v!r}")
    # cmd/go modfetch/proxy.go ``Stat`` unmarshals Time into a time.Time.
    if info.Time is not None and rfc3339_instant(info.Time) is None:
        raise BadUpstreamError(f"info has a Time that is not RFC 3339: {info.Time!r}")
    return info


def names_a_version(module: str, version: str) -> bool:
    """Whether ``version`` is canonical and valid for ``module``: a fixed version, not a query."""
    if canonical_version(version) != version:
        return False
    try:
        check(module, version)
    except (InvalidVersionError, InvalidPathError):
        return False
    return True


def rfc3339_instant(text: str) -> tuple[int, int] | None:
    """(seconds since the epoch, nanoseconds) of a time as Go reads RFC 3339, or None.

    As cmd/go reads a ``.info``'s ``Time`` and a list line's time (``time.Parse`` with
    ``time.RFC3339``); see ``_RFC3339`` for what that accepts beyond the RFC.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, sec, frac, sign, oh, om = m.groups()
    try:
        t = datetime.datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(sec), tzinfo=datetime.UTC
        )
    except ValueError:
        return None
    offset = 0
    if sign is not None:
        if int(oh) > 24 or int(om) > 60:
            return None
        offset = (int(oh) * 60 + int(om)) * 60 * (1 if sign == "+" else -1)
    seconds = int((t - _EPOCH).total_seconds()) - offset
    return seconds, int(frac[:9].ljust(9, "0")) if frac else 0


def encode_info(version: str, time: datetime.datetime | None) -> bytes:
    """``.info`` bytes for a version we resolved ourselves, with the time in UTC."""
    fields: dict[str, str] = {"Version": version}
    if time is not None:
        fields["Time"] = time.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _info_encoder.encode(fields)
