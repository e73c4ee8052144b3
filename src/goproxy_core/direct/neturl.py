"""The part of Go's ``net/url`` that repository resolution relies on.

Ported from Go's ``net/url/url.go``: ``shouldEscape`` and ``escape`` (for hosts and paths in
discovery URLs), ``unescape``, and ``Parse`` (without the fragment) with its host, port and
userinfo checks, so a go-import repo root is accepted or refused with Go's words
(``cmd/go/internal/vcs`` ``validateRepoRoot``). Bytes that are not UTF-8 travel as
``surrogateescape`` code points.
"""

from __future__ import annotations

import ipaddress

from ..strconv import go_quote

__all__ = ["URLError", "escape", "parse_url", "unescape"]


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_HOST_OK = frozenset(b"!$&'()*+,;=:[]<>\"")
_UNRESERVED = frozenset(b"-_.~")
_RESERVED = frozenset(b"$&+,/:;=?@")


def _should_escape(c: int, mode: str) -> bool:
    """Go's net/url shouldEscape for the modes used here: ``path``, ``host``, ``zone``."""
    if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or 0x30 <= c <= 0x39:
        return False
    if mode != "path" and c in _HOST_OK:
        return False
    if c in _UNRESERVED:
        return False
    if c in _RESERVED and mode == "path":
        return c == 0x3F  # '?'
    return True


def escape(s: str, mode: str) -> str:
    """Percent-encode ``s`` as Go's url.URL.String does for a host or a path."""
    out: list[str] = []
    for c in s.encode("utf-8", "surrogateescape"):
        out.append(f"%{c:02X}" if _should_escape(c, mode) else chr(c))
    return "".join(out)


class URLError(Exception):
    """A URL Go's ``net/url`` rejects; the text is Go's."""


def _bytes_text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def unescape(s: bytes, mode: str) -> bytes:
    """Go's net/url unescape; raises :class:`URLError` with Go's text."""
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 0x25:  # '%'
            if i + 2 >= n or s[i + 1] not in _HEX_DIGITS or s[i + 2] not in _HEX_DIGITS:
                raise URLError(f"invalid URL escape {go_quote(_bytes_text(s[i : i + 3]))}")
            seq = s[i : i + 3]
            v = int(seq[1:], 16)
            if mode == "host" and v >> 4 < 8 and seq != b"%25":
                raise URLError(f"invalid URL escape {go_quote(_bytes_text(seq))}")
            if mode == "zone" and seq != b"%25" and v != 0x20 and _should_escape(v, "host"):
                raise URLError(f"invalid URL escape {go_quote(_bytes_text(seq))}")
            out.append(v)
            i += 3
            continue
        if mode in ("host", "zone") and c < 0x80 and _should_escape(c, mode):
            raise URLError(f"invalid character {go_quote(chr(c))} in host name")
        out.append(c)
        i += 1
    return bytes(out)


def _valid_optional_port(port: bytes) -> bool:
    return not port or (port[:1] == b":" and all(0x30 <= b <= 0x39 for b in port[1:]))


def _parse_host(scheme: str, host: bytes) -> None:
    bracket = host.rfind(b"[")
    if bracket > 0:
        raise URLError("invalid IP-literal")
    if bracket == 0:
        close = host.rfind(b"]")
        if close < 0:
            raise URLError("missing ']' in host")
        colon_port = host[close + 1 :]
        if not _valid_optional_port(colon_port):
            raise URLError(f"invalid port {go_quote(_bytes_text(colon_port))} after host")
        name = host[1:close]
        zone = name.find(b"%25")
        if zone >= 0:
            literal = unescape(name[:zone], "host") + unescape(name[zone:], "zone")
        else:
            literal = unescape(name, "host")
        text = _bytes_text(literal)
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise URLError(
                f"invalid host: ParseAddr({go_quote(text)}): unable to parse IP"
            ) from None
        if addr.version == 4:
            raise URLError("invalid IP-literal")
        return
    first = host.find(b":")
    if first >= 0:
        # Since Go 1.26 an http(s) host may not hold more than one colon.
        colon = first if scheme in ("http", "https") else host.rfind(b":")
        if not _valid_optional_port(host[colon:]):
            raise URLError(f"invalid port {go_quote(_bytes_text(host[colon:]))} after host")
    unescape(host, "host")


_USERINFO_OK = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:~!$&'()*+,;=%@"
)


def parse_url(raw: bytes) -> str:
    """Go's url.Parse without the fragment; returns the (lower-cased) scheme."""
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise URLError("net/url: invalid control character in URL")
    if raw == b"*":
        return ""
    scheme, rest = b"", raw
    for i, c in enumerate(raw):
        if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A:
            continue
        if (0x30 <= c <= 0x39 or c in b"+-.") and i > 0:
            continue
        if c == 0x3A:  # ':'
            if i == 0:
                raise URLError("missing protocol scheme")
            scheme, rest = raw[:i], raw[i + 1 :]
        break
    lower = _bytes_text(scheme).lower()
    query = rest.endswith(b"?") and rest.count(b"?") == 1
    rest = rest[:-1] if query else rest.partition(b"?")[0]
    if not rest.startswith(b"/"):
        if lower:
            return lower  # an opaque URL, scheme:rest
        if b":" in rest.partition(b"/")[0]:
            raise URLError("first path segment in URL cannot contain colon")
    if (lower or not rest.startswith(b"///")) and rest.startswith(b"//"):
        authority, slash, tail = rest[2:].partition(b"/")
        rest = slash + tail
        at = authority.rfind(b"@")
        _parse_host(lower, authority[at + 1 :])
        if at >= 0:
            userinfo = authority[:at]
            if not all(b in _USERINFO_OK for b in userinfo):
                raise URLError("net/url: invalid userinfo")
            for part in userinfo.split(b":", 1):
                unescape(part, "userinfo")
    unescape(rest, "path")
    return lower
