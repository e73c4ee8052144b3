"""Version lists, "latest", and retractions, as the go command judges them.

* A list body is stored and served as the upstream sent it. The go command splits it at
  ``\n``, takes the first whitespace-separated field of each line, keeps valid semver that is
  not a pseudo-version, and ignores the rest (golang/go ``modfetch/proxy.go`` ``Versions``);
  the pseudo-versions and the RFC 3339 time in a line's second field are what ``latestFromList``
  reads for a module without tags, so no line is dropped or rewritten. :func:`parse_list` reads
  the versions the same way for the proxy's own decisions; :func:`drop_lines` leaves out the
  lines of retracted versions (``hide``/``gone``), keeping every other byte.
* "latest" (golang/go ``modload/query.go`` ``filterVersions``): walk the sorted versions;
  ``+incompatible`` versions above a compatible version whose go.mod is real (not the
  synthesized ``module path`` line) are ignored; then the highest release, else the highest
  prerelease (PROTOCOL.md §8, §13).
* Retractions are read from the go.mod of the version "latest" resolves to when retractions
  are ignored; a version is retracted when ``low <= v <= high`` for one of its intervals
  (semver order) (PROTOCOL.md §14, x/mod ``modfile/rule.go``). A go.mod that does not parse
  declares no retractions.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING

import msgspec

from .. import semver as _semver
from ..errors import InvalidVersionError
from ..modfile.rule import ModFileError, parse_gomod, short_message
from ..module.pseudo import is_pseudo_version, pseudo_version_time
from .info import rfc3339_instant

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "Retraction",
    "compatible_to_check",
    "drop_lines",
    "first_field",
    "go_fields",
    "latest_from_list",
    "parse_list",
    "retractions_from_gomod",
    "select_latest",
]


class Retraction(msgspec.Struct, frozen=True):
    """A retracted interval, inclusive at both ends, with its rationale as written."""

    low: str
    high: str
    rationale: str = ""

    def covers(self, version: str) -> bool:
        """Whether ``version`` lies in this interval (semver order)."""
        return _semver.compare(self.low, version) <= 0 and _semver.compare(version, self.high) <= 0

    @property
    def message(self) -> str:
        """The rationale as the go command displays it."""
        return short_message(self.rationale, "retracted by module author")


# The runes Go's ``unicode.IsSpace`` accepts, which ``strings.Fields`` splits at (Python's
# ``str.split`` also splits at U+001C..U+001F, which Go does not).
_GO_SPACE = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def go_fields(line: bytes) -> list[str]:
    """A list line's fields as cmd/go reads them (``strings.Fields``)."""
    return [f for f in _GO_SPACE.split(line.decode("utf-8", "replace")) if f]


def first_field(line: bytes) -> str:
    """A list line's first field as cmd/go reads it (``strings.Fields(line)[0]``), or ""."""
    fields = go_fields(line)
    return fields[0] if fields else ""


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# Go's zero time.Time, which ``latestFromList`` starts from: only later times count.
_ZERO_TIME = (int((datetime.datetime(1, 1, 1, tzinfo=datetime.UTC) - _EPOCH).total_seconds()), 0)


def latest_from_list(body: bytes) -> str | None:
    """The version a list names as latest for a module without a usable tag, or None.

    As cmd/go ``modfetch/proxy.go`` ``latestFromList``: among lines whose first field is valid
    semver, the one with the latest time, read from the line's second field (RFC 3339) or,
    where there is none, from the pseudo-version itself; a tagged version without a time is
    skipped, and of equal times the first line wins.
    """
    best: str | None = None
    best_time = _ZERO_TIME
    for line in body.split(b"\n"):
        fields = go_fields(line)
        if not fields or not _semver.is_valid(fields[0]):
            continue
        t: tuple[int, int] | None
        if len(fields) >= 2:
            t = rfc3339_instant(fields[1])
        elif is_pseudo_version(fields[0]):
            try:
                t = (int((pseudo_version_time(fields[0]) - _EPOCH).total_seconds()), 0)
            except InvalidVersionError:
                t = None
        else:
            continue
        if t is not None and t > best_time:
            best, best_time = fields[0], t
    return best


def parse_list(body: bytes) -> list[str]:
    """The versions a go command takes from a list body, first seen first, no repeats.

    As cmd/go ``modfetch/proxy.go`` ``Versions``: lines split at ``\n`` only, each line's
    first field, kept when it is valid semver and not a pseudo-version.
    """
    seen: set[str] = set()
    out: list[str] = []
    for line in body.split(b"\n"):
        v = first_field(line)
        if v in seen or not _semver.is_valid(v) or is_pseudo_version(v):
            continue
        seen.add(v)
        out.append(v)
    return out


def drop_lines(body: bytes, drop: Callable[[str], bool]) -> bytes:
    """``body`` without the lines whose first field is a valid version ``drop`` is true for.

    Every other line is kept byte for byte, its ``\n`` included.
    """
    lines = body.split(b"\n")
    kept = [
        line for line in lines if not ((v := first_field(line)) and _semver.is_valid(v) and drop(v))
    ]
    return body if len(kept) == len(lines) else b"\n".join(kept)


def _allowed_sorted(versions: Iterable[str], allowed: Callable[[str], bool]) -> list[str]:
    return [v for v in _semver.sort_versions(list(versions)) if allowed(v)]


def compatible_to_check(
    versions: Iterable[str], allowed: Callable[[str], bool] = lambda v: True
) -> str | None:
    """The compatible version whose go.mod decides whether ``+incompatible`` ones count.

    None when no such decision is needed (no ``+incompatible`` version above an allowed
    compatible one).
    """
    last_compatible: str | None = None
    for v in _allowed_sorted(versions, allowed):
        if not v.endswith("+incompatible"):
            last_compatible = v
        elif last_compatible is not None:
            return last_compatible
    return None


def select_latest(
    versions: Iterable[str],
    allowed: Callable[[str], bool] = lambda v: True,
    *,
    compatible_has_gomod: bool = False,
) -> str | None:
    """The version the go command's ``@latest`` query picks from a list, or None.

    Args:
        versions: tagged versions (no pseudo-versions), in any order.
        allowed: False for versions to skip (retracted ones, when honouring retractions).
        compatible_has_gomod: whether the version named by :func:`compatible_to_check` (for
            the same ``allowed``) has a real go.mod; then ``+incompatible`` versions above it
            are ignored.
    """
    releases: list[str] = []
    prereleases: list[str] = []
    last_compatible: str | None = None
    for v in _allowed_sorted(versions, allowed):
        if not v.endswith("+incompatible"):
            last_compatible = v
        elif last_compatible is not None and compatible_has_gomod:
            break
        (prereleases if _semver.prerelease(v) else releases).append(v)
    if releases:
        return releases[-1]
    if prereleases:
        return prereleases[-1]
    return None


def retractions_from_gomod(data: bytes) -> list[Retraction]:
    """The retracted intervals a go.mod declares; none if it does not parse (lax, as go)."""
    try:
        mod = parse_gomod(data)
    except ModFileError:
        return []
    return [Retraction(r.low, r.high, r.rationale) for r in mod.retract]


def retraction_for(version: str, retractions: Sequence[Retraction]) -> Retraction | None:
    """The first interval covering ``version``, or None."""
    for r in retractions:
        if r.covers(version):
            return r
    return None
