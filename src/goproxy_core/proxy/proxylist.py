"""Upstream lists in GOPROXY syntax, and the URLs the core asks of each upstream.

The list is parsed exactly as the go command parses ``GOPROXY`` (golang/go
``src/cmd/go/internal/modfetch/proxy.go``, PROTOCOL.md §3): entries are separated by ``,``
(fall through to the next entry only on 404/410) or ``|`` (fall through on any error); ``off``
ends the list and disables lookups; a bare host gets ``https://``; ``file://`` URLs must be
path-only. ``direct`` builds answers from version control (:mod:`goproxy_core.direct`) and,
like ``off``, ends the list.
"""

from __future__ import annotations

import enum
import re

import msgspec

from ..errors import ProxyError

__all__ = ["ConfigError", "Upstream", "UpstreamKind", "parse_upstreams"]


class ConfigError(ProxyError):
    """A configuration value is invalid; the message names the value and the rule."""


class UpstreamKind(enum.Enum):
    """How an upstream is reached."""

    HTTP = "http"
    FILE = "file"
    DIRECT = "direct"
    OFF = "off"


class Upstream(msgspec.Struct, frozen=True):
    """One entry of an upstream list.

    Attributes:
        url: the base URL without a trailing slash (``"off"`` for the keyword).
        kind: how it is reached.
        fall_through_on_error: the entry was followed by ``|``: any failure moves on to the
            next entry, not only 404 and 410.
    """

    url: str
    kind: UpstreamKind
    fall_through_on_error: bool = False

    @property
    def is_public(self) -> bool:
        """Whether asking this upstream sends module names to a proxy of someone else's.

        ``direct`` is not public: it asks only the module's own repository host.
        """
        return self.kind is UpstreamKind.HTTP


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _is_abs_path(s: str) -> bool:
    return s.startswith("/") or bool(re.match(r"^[A-Za-z]:[\\/]", s))


def _check_url(url: str) -> Upstream:
    m = _SCHEME.match(url)
    if m is None:
        raise ConfigError(f"invalid proxy URL missing scheme: {url}")
    scheme = m.group(1).lower()
    rest = url[m.end() :]
    if scheme in ("http", "https"):
        if not rest.startswith("//") or len(rest) == 2 or rest[2] == "/":
            raise ConfigError(f"invalid proxy URL missing host: {url}")
        if "?" in rest or "#" in rest:
            raise ConfigError(f"invalid proxy URL with a query or fragment: {url}")
        return Upstream(url=url.rstrip("/"), kind=UpstreamKind.HTTP)
    if scheme == "file":
        # Go accepts only a path: file:///abs/dir (an empty host), nothing else.
        if not rest.startswith("///") or "?" in rest or "#" in rest:
            raise ConfigError(f"invalid file:// proxy URL with non-path elements: {url}")
        return Upstream(url=("file://" + rest[2:]).rstrip("/"), kind=UpstreamKind.FILE)
    raise ConfigError(f"invalid proxy URL scheme (must be https, http, file): {url}")


def parse_upstreams(spec: str) -> tuple[Upstream, ...]:
    """Parse an upstream list written in GOPROXY syntax.

    Args:
        spec: e.g. ``"https://a.example,https://b.example|file:///srv/mods"`` or ``"off"``.

    Returns:
        The entries in order. ``off`` is kept as the last entry (lookups stop there).

    Raises:
        ConfigError: an entry is not a usable URL, or no entries remain.
    """
    out: list[Upstream] = []
    rest = spec
    while rest:
        i = min((j for j in (rest.find(","), rest.find("|")) if j >= 0), default=-1)
        if i >= 0:
            entry, on_error, rest = rest[:i], rest[i] == "|", rest[i + 1 :]
        else:
            entry, on_error, rest = rest, False, ""
        entry = entry.strip()
        if not entry:
            continue
        if entry == "off":
            out.append(Upstream(url="off", kind=UpstreamKind.OFF))
            break
        if entry == "direct":
            # As for the go command, "direct" is the end of the line.
            out.append(Upstream(url="direct", kind=UpstreamKind.DIRECT))
            break
        # As the go command does: single words are reserved keywords; anything with a dot,
        # colon or slash that is not already a URL or an absolute path is a host.
        if any(c in entry for c in ".:/") and ":/" not in entry and not _is_abs_path(entry):
            entry = "https://" + entry
        up = _check_url(entry)
        out.append(msgspec.structs.replace(up, fall_through_on_error=on_error))
    if not out:
        raise ConfigError("upstream list is not the empty string, but contains no entries")
    return tuple(out)
