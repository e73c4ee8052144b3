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
# RFC 3339 as Go's time.Time marshals it: fractional seconds optional, Z or an offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


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
        BadUpstreamError: not a JSON object with a string ``Version`` (for a query or
            ``@latest``: valid and canonical for the module), or a ``Time`` that is not
            RFC 3339.
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
    else:
        # @latest's answer names the version it resolves to, which is then asked for under
        # its own name (cmd/go modload/query.go): it must be one.
        if canonical_version(v) != v:
            raise BadUpstreamError(f"info names non-canonical version {v!r}")
        try:
            check(module, v)
        except (InvalidVersionError, InvalidPathError) as e:
            raise BadUpstreamError(f"info names a version invalid for the module: {e}") from None
    if info.Time is not None:
        m = _RFC3339.match(info.Time)
        if m is None or not _valid_instant(info.Time):
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


def _valid_instant(t: str) -> bool:
    # fromisoformat takes at most 6 fractional digits; the regex already vetted the shape.
    head, dot, tail = t.partition(".")
    if dot:
        frac = tail.rstrip("Z").split("+")[0].split("-")[0]
        t = head + "." + frac[:6].ljust(6, "0") + tail[len(frac) :]
    try:
        datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def encode_info(version: str, time: datetime.datetime | None) -> bytes:
    """``.info`` bytes for a version we resolved ourselves, with the time in UTC."""
    fields: dict[str, str] = {"Version": version}
    if time is not None:
        fields["Time"] = time.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _info_encoder.encode(fields)
