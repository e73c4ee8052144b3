"""Semantic versions as the go command reads them (x/mod ``semver/semver.go``).

Go's dialect of SemVer 2.0.0: a leading ``v`` is required, ``vMAJOR`` and ``vMAJOR.MINOR`` are
accepted shorthands for ``.0`` (never with a prerelease or build suffix), build metadata is
ignored when comparing, and invalid versions sort below every valid one. PROTOCOL.md §6.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

__all__ = [
    "Semver",
    "build",
    "canonical",
    "compare",
    "compare_versions",
    "is_valid",
    "major",
    "major_minor",
    "parse",
    "prerelease",
    "sort_versions",
]


class Semver(NamedTuple):
    """A parsed semantic version; the number fields keep their decimal text (no overflow)."""

    major: str
    minor: str
    patch: str
    short: str
    """What ``v1`` / ``v1.2`` shorthand left out (``".0.0"``, ``".0"``) or ``""``."""
    prerelease: str
    """With its leading ``-``, or ``""``."""
    build: str
    """With its leading ``+``, or ``""``."""


def _parse_int(v: str, i: int) -> int:
    """Index after a decimal number starting at ``i`` with no leading zero, or -1."""
    j = i
    n = len(v)
    while j < n and "0" <= v[j] <= "9":
        j += 1
    if j == i or (v[i] == "0" and j != i + 1):
        return -1
    return j


def _is_ident_char(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "-"


def _is_bad_num(s: str) -> bool:
    return len(s) > 1 and s[0] == "0" and s.isascii() and s.isdigit()


def _parse_suffix(v: str, i: int, *, check_num: bool, stop: str) -> int:
    """Index after a ``-prerelease`` or ``+build`` starting at ``i`` (the sign), or -1."""
    n = len(v)
    j = i + 1
    start = j
    while j < n and v[j] != stop:
        c = v[j]
        if c == ".":
            if start == j or (check_num and _is_bad_num(v[start:j])):
                return -1
            start = j + 1
        elif not _is_ident_char(c):
            return -1
        j += 1
    if start == j or (check_num and _is_bad_num(v[start:j])):
        return -1
    return j


@functools.lru_cache(maxsize=4096)
def parse(v: str) -> Semver | None:
    """Parse ``v``, or return None if it is not a valid Go semantic version."""
    if not v or v[0] != "v":
        return None
    n = len(v)
    i = _parse_int(v, 1)
    if i < 0:
        return None
    major = v[1:i]
    if i == n:
        return Semver(major, "0", "0", ".0.0", "", "")
    if v[i] != ".":
        return None
    j = _parse_int(v, i + 1)
    if j < 0:
        return None
    minor = v[i + 1 : j]
    if j == n:
        return Semver(major, minor, "0", ".0", "", "")
    if v[j] != ".":
        return None
    k = _parse_int(v, j + 1)
    if k < 0:
        return None
    patch = v[j + 1 : k]
    pre = ""
    if k < n and v[k] == "-":
        e = _parse_suffix(v, k, check_num=True, stop="+")
        if e < 0:
            return None
        pre = v[k:e]
        k = e
    bld = ""
    if k < n and v[k] == "+":
        e = _parse_suffix(v, k, check_num=False, stop="")
        if e < 0:
            return None
        bld = v[k:e]
        k = e
    if k != n:
        return None
    return Semver(major, minor, patch, "", pre, bld)


def is_valid(v: str) -> bool:
    """Whether ``v`` is a valid Go semantic version."""
    return parse(v) is not None


def canonical(v: str) -> str:
    """``vX.Y.Z[-pre]`` for ``v``, build metadata dropped; ``""`` if ``v`` is invalid."""
    p = parse(v)
    if p is None:
        return ""
    return f"v{p.major}.{p.minor}.{p.patch}{p.prerelease}"


def major(v: str) -> str:
    """``vX`` for ``v``, or ``""`` if invalid."""
    p = parse(v)
    return "" if p is None else "v" + p.major


def major_minor(v: str) -> str:
    """``vX.Y`` for ``v``, or ``""`` if invalid."""
    p = parse(v)
    return "" if p is None else f"v{p.major}.{p.minor}"


def prerelease(v: str) -> str:
    """The prerelease suffix of ``v`` with its ``-``, or ``""``."""
    p = parse(v)
    return "" if p is None else p.prerelease


def build(v: str) -> str:
    """The build suffix of ``v`` with its ``+``, or ``""``."""
    p = parse(v)
    return "" if p is None else p.build


def _cmp_int(x: str, y: str) -> int:
    if x == y:
        return 0
    if len(x) != len(y):
        return -1 if len(x) < len(y) else 1
    return -1 if x < y else 1


def _is_num(s: str) -> bool:
    return s.isascii() and s.isdigit()


def _cmp_prerelease(x: str, y: str) -> int:
    if x == y:
        return 0
    if not x:
        return 1
    if not y:
        return -1
    xs = x[1:].split(".")
    ys = y[1:].split(".")
    for dx, dy in zip(xs, ys, strict=False):
        if dx == dy:
            continue
        nx, ny = _is_num(dx), _is_num(dy)
        if nx != ny:
            return -1 if nx else 1
        if nx:
            return _cmp_int(dx, dy)
        return -1 if dx < dy else 1
    if len(xs) == len(ys):
        return 0
    return -1 if len(xs) < len(ys) else 1


def compare(v: str, w: str) -> int:
    """-1, 0 or +1 as ``v`` is below, equal to or above ``w`` (Go's ``semver.Compare``).

    Invalid versions are equal to each other and below every valid one; build metadata
    is ignored.
    """
    if v == w:
        return 0
    pv = parse(v)
    pw = parse(w)
    if pv is None:
        return 0 if pw is None else -1
    if pw is None:
        return 1
    return (
        _cmp_int(pv.major, pw.major)
        or _cmp_int(pv.minor, pw.minor)
        or _cmp_int(pv.patch, pw.patch)
        or _cmp_prerelease(pv.prerelease, pw.prerelease)
    )


def compare_versions(v: str, w: str) -> int:
    """-1, 0 or +1: the order of Go's ``semver.Sort`` (x/mod ``semver.go`` ``ByVersion.Less``).

    :func:`compare` first; where it says the two are equal (``v2.0.0`` and
    ``v2.0.0+incompatible``, or two invalid versions) the plain strings decide, so this is 0
    only for equal strings and ``sorted(vs, key=functools.cmp_to_key(compare_versions))``
    gives the go command's order (the one :func:`sort_versions` returns).
    """
    c = compare(v, w)
    if c:
        return c
    return (v > w) - (v < w)


def sort_versions(versions: list[str]) -> list[str]:
    """A sorted copy, as Go's ``semver.Sort``: by :func:`compare_versions`."""
    return sorted(versions, key=functools.cmp_to_key(compare_versions))
