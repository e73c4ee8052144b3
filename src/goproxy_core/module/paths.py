"""Module, import and file path validity; major-version suffixes; GOPRIVATE-style patterns.

Owns the rules of PROTOCOL.md §4 (which strings are module, import and file paths, how the
``/vN`` or gopkg.in ``.vN`` suffix splits off and must agree with a version's major),
§8 (``+incompatible`` is allowed with any major on a path without a suffix) and the prefix
pattern matcher of §3 (GOPRIVATE, GONOPROXY, GONOSUMDB).

Ported from golang.org/x/mod ``module/module.go`` (``CheckPath``, ``CheckImportPath``,
``CheckFilePath``, ``SplitPathVersion``, ``CheckPathMajor``, ``Check``, ``CanonicalVersion``,
``MatchPrefixPatterns``) and Go's ``path/match.go`` (``path.Match``). Error reasons are Go's
exact words, so users can search for what they see.
"""

from __future__ import annotations

import functools
import re
from typing import Final, Literal

from .. import semver as _semver
from ..errors import InvalidPathError, InvalidVersionError, go_quote

__all__ = [
    "PathKind",
    "PrefixPatterns",
    "canonical_version",
    "check",
    "check_canonical",
    "check_elem",
    "check_file_path",
    "check_import_path",
    "check_path",
    "check_path_major",
    "is_incompatible",
    "match_path_major",
    "match_prefix_patterns",
    "path_major_prefix",
    "path_match",
    "split_path_version",
]

PathKind = Literal["module", "import", "file"]
"""Which of Go's three path grammars applies (also the word used in the error text)."""

INCOMPATIBLE: Final = "+incompatible"

# Element character sets. Module paths: ASCII letters, digits and ``-._~`` (no ``+`` or ``%``,
# which would change meaning in a URL); import paths add ``+`` (``c++`` binaries); file paths
# allow more punctuation, a space and every Unicode letter, but not the shell/OS specials
# ``" ' * < > ? ` | : \``.
_MOD_ELEM: Final = re.compile(r"[-.0-9A-Z_a-z~]+").fullmatch
_IMPORT_ELEM: Final = re.compile(r"[-+.0-9A-Z_a-z~]+").fullmatch
_FILE_ASCII: Final = frozenset(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()+,-.=@[]^_{}~ "
)
_MOD_CHARS: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-._~")
_FIRST_ELEM_CHARS: Final = frozenset("0123456789abcdefghijklmnopqrstuvwxyz-.")

# Reserved device names on Windows, compared case-insensitively with the part of an element
# before its first dot. Only ASCII letters without non-ASCII case partners occur (no K or S),
# so an ASCII upper-casing is exactly Go's strings.EqualFold here.
_BAD_WINDOWS_NAMES: Final = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)

# "/vN" at the end of a path: the run of digits and dots after "/v" (Go scans it by hand).
_SLASH_MAJOR: Final = re.compile(r"/v([0-9.]+)\Z").search


def _quote_rune(ch: str) -> str:
    """Go's ``%q`` of a single rune (``strconv.QuoteRune``): ``'x'``, ``'\\''``, ``'"'``."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if 0xD800 <= ord(ch) <= 0xDFFF:
        # An undecodable byte: Go's range loop yields U+FFFD for it, which is printable.
        return "'\ufffd'"
    return "'" + go_quote(ch)[1:-1] + "'"


def _char_ok(ch: str, kind: PathKind) -> bool:
    """Whether ``ch`` may appear in a path element of ``kind``."""
    if kind == "file":
        return ch in _FILE_ASCII or (ch >= "\x80" and ch.isalpha())
    return ch in _MOD_CHARS or (kind == "import" and ch == "+")


def _is_valid_utf8(s: str) -> bool:
    """Whether ``s`` holds no surrogate code points (our stand-in for invalid UTF-8 bytes)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_elem(elem: str, kind: PathKind) -> str | None:
    """Why ``elem`` is not a valid path element of ``kind``, or None if it is (Go ``checkElem``).

    Args:
        elem: one slash-free element.
        kind: the path grammar to apply.

    Returns:
        Go's reason text, or None.
    """
    if not elem:
        return "empty path element"
    if elem.count(".") == len(elem):
        return f"invalid path element {go_quote(elem)}"
    if elem[0] == "." and kind == "module":
        return "leading dot in path element"
    if elem[-1] == ".":
        return "trailing dot in path element"
    if kind == "module":
        chars_ok = _MOD_ELEM(elem) is not None
    elif kind == "import":
        chars_ok = _IMPORT_ELEM(elem) is not None
    else:
        chars_ok = all(_char_ok(ch, kind) for ch in elem)
    if not chars_ok:
        for ch in elem:  # pragma: no branch - some char is bad when chars_ok is False
            if not _char_ok(ch, kind):
                return f"invalid char {_quote_rune(ch)}"

    dot = elem.find(".")
    short = elem if dot < 0 else elem[:dot]
    if 3 <= len(short) <= 4 and short.isascii() and short.upper() in _BAD_WINDOWS_NAMES:
        return f"{go_quote(short)} disallowed as path element component on Windows"

    if kind == "file":
        # Windows short names (FOO~1) only matter for import paths.
        return None
    tilde = short.rfind("~")
    if 0 <= tilde < len(short) - 1:
        suffix = short[tilde + 1 :]
        if suffix.isascii() and suffix.isdigit():
            return "trailing tilde and digits in path element"
    return None


def _path_error(path: str, kind: PathKind) -> str | None:
    """Why ``path`` breaks the rules shared by all three kinds (Go ``checkPath``), or None."""
    if not _is_valid_utf8(path):
        return "invalid UTF-8"
    if not path:
        return "empty string"
    if path[0] == "-" and kind != "file":
        return "leading dash"
    if "//" in path:
        return "double slash"
    if path[-1] == "/":
        return "trailing slash"
    for elem in path.split("/"):
        reason = check_elem(elem, kind)
        if reason is not None:
            return reason
    return None


def _module_path_error(path: str) -> str | None:
    """Why ``path`` is not a module path, or None."""
    reason = _path_error(path, "module")
    if reason is not None:
        return reason
    # The leading slash and leading dash cases Go tests again here were caught above.
    first = path.split("/", 1)[0]
    if "." not in first:
        return "missing dot in first path element"
    if not _FIRST_ELEM_CHARS.issuperset(first):
        for ch in first:  # pragma: no branch - some char is bad when issuperset is False
            if ch not in _FIRST_ELEM_CHARS:
                return f"invalid char {_quote_rune(ch)} in first path element"
    if not split_path_version(path)[2]:
        return "invalid version"
    return None


def check_path(path: str) -> None:
    """Check that ``path`` is a valid module path (x/mod ``module.CheckPath``).

    A module path is an import path whose first element is a lower-case domain-like name with
    a dot, whose elements never start with a dot, and whose major-version suffix (if any) is
    well formed (``/v2`` and up; gopkg.in ``.vN``).

    Args:
        path: the module path, unescaped.

    Raises:
        InvalidPathError: ``malformed module path "…": <reason>``.
    """
    reason = _module_path_error(path)
    if reason is not None:
        raise InvalidPathError("module", path, reason)


def check_import_path(path: str) -> None:
    """Check that ``path`` is a valid package import path (x/mod ``module.CheckImportPath``).

    Args:
        path: the import path.

    Raises:
        InvalidPathError: ``malformed import path "…": <reason>``.
    """
    reason = _path_error(path, "import")
    if reason is not None:
        raise InvalidPathError("import", path, reason)


def check_file_path(path: str) -> None:
    """Check that ``path`` is a valid slash-separated file path (x/mod ``module.CheckFilePath``).

    Args:
        path: the file path, relative, with ``/`` separators.

    Raises:
        InvalidPathError: ``malformed file path "…": <reason>``.
    """
    reason = _path_error(path, "file")
    if reason is not None:
        raise InvalidPathError("file", path, reason)


def _split_gopkg_in(path: str) -> tuple[str, str, bool]:
    """``split_path_version`` for ``gopkg.in/`` paths, which must end in ``.vN[-unstable]``."""
    i = len(path)
    if path.endswith("-unstable"):
        i -= len("-unstable")
    while i > 0 and "0" <= path[i - 1] <= "9":
        i -= 1
    if i <= 1 or path[i - 1] != "v" or path[i - 2] != ".":
        return path, "", False
    prefix, path_major = path[: i - 2], path[i - 2 :]
    if len(path_major) <= 2 or (path_major[2] == "0" and path_major != ".v0"):
        return path, "", False
    return prefix, path_major, True


def split_path_version(path: str) -> tuple[str, str, bool]:
    """Split the major-version suffix off a module path (x/mod ``module.SplitPathVersion``).

    Args:
        path: a module path.

    Returns:
        ``(prefix, path_major, ok)`` with ``prefix + path_major == path``. ``path_major`` is
        ``""`` or ``/vN`` with N >= 2 (gopkg.in: ``.vN`` for any N, maybe ``-unstable``).
        ``ok`` is False when the last element looks like a suffix but is not a valid one
        (``/v0``, ``/v1``, ``/v02``, ``/v2.0``); ``check_path`` rejects such paths.
    """
    if path.startswith("gopkg.in/"):
        return _split_gopkg_in(path)
    m = _SLASH_MAJOR(path)
    if m is None:
        return path, "", True
    digits = m.group(1)
    if "." in digits or digits[0] == "0" or digits == "1":
        return path, "", False
    i = m.start()
    return path[:i], path[i:], True


def check_path_major(version: str, path_major: str) -> None:
    """Check that ``version`` agrees with the path suffix ``path_major`` (``CheckPathMajor``).

    Without a suffix the major must be v0 or v1, or the version must be ``+incompatible``;
    ``/vN`` and ``.vN`` demand major vN. gopkg.in ``.v1`` also accepts ``v0.0.0-`` versions,
    which old go commands wrote as pseudo-versions for it.

    Args:
        version: a semantic version.
        path_major: the second value of :func:`split_path_version`.

    Raises:
        InvalidVersionError: ``version "…" invalid: should be <want>, not <major>``.
    """
    if path_major.startswith(".v") and path_major.endswith("-unstable"):
        path_major = path_major[: -len("-unstable")]
    if path_major == ".v1" and version.startswith("v0.0.0-"):
        return
    major = _semver.major(version)
    if not path_major:
        if major in ("v0", "v1") or _semver.build(version) == INCOMPATIBLE:
            return
        want = "v0 or v1"
    elif path_major[0] in "/.":
        want = path_major[1:]
        if major == want:
            return
    else:
        want = path_major
    raise InvalidVersionError(version, f"should be {want}, not {major}")


def match_path_major(version: str, path_major: str) -> bool:
    """Whether ``version`` agrees with ``path_major`` (x/mod ``module.MatchPathMajor``)."""
    try:
        check_path_major(version, path_major)
    except InvalidVersionError:
        return False
    return True


def path_major_prefix(path_major: str) -> str:
    """The tag prefix implied by a path suffix: ``/v2`` → ``v2``, ``""`` → ``""`` (v0 or v1).

    Ported from x/mod ``module.PathMajorPrefix``.

    Raises:
        ValueError: ``path_major`` is not a suffix :func:`split_path_version` can return.
    """
    if not path_major:
        return ""
    if path_major[0] not in "/.":
        raise ValueError(f"path major suffix {path_major!r} lacks a separator")
    if path_major.startswith(".v") and path_major.endswith("-unstable"):
        path_major = path_major[: -len("-unstable")]
    m = path_major[1:]
    if m != _semver.major(m):
        raise ValueError(f"path major suffix {path_major!r} is not a valid major version")
    return m


def check(path: str, version: str) -> None:
    """Check that ``path@version`` is a valid module version (x/mod ``module.Check``).

    Args:
        path: the module path.
        version: the version; it must be valid semver and agree with the path's suffix.

    Raises:
        InvalidPathError: the path is not a module path.
        InvalidVersionError: ``path@version: invalid version: <reason>``.
    """
    check_path(path)
    if not _semver.is_valid(version):
        raise InvalidVersionError(version, "not a semantic version", path=path)
    try:
        check_path_major(version, split_path_version(path)[1])
    except InvalidVersionError as err:
        raise InvalidVersionError(version, err.reason, path=path) from None


def check_canonical(path: str, version: str) -> None:
    """:func:`check`, and ``version`` in its canonical form: a version the go command could
    have fetched and written down (in a go.sum, a ``go mod download`` argument).

    Raises:
        InvalidPathError: the path is not a module path.
        InvalidVersionError: not valid for the path, or not canonical
            (``path@version: invalid version: not a canonical version``).
    """
    check(path, version)
    if version != canonical_version(version):
        raise InvalidVersionError(version, "not a canonical version", path=path)


def canonical_version(v: str) -> str:
    """The canonical form of ``v``, keeping ``+incompatible`` (x/mod ``CanonicalVersion``).

    ``semver.canonical`` drops all build metadata; module versions keep this one suffix.
    A version is canonical for the protocol iff ``canonical_version(v) == v``.
    """
    cv = _semver.canonical(v)
    if _semver.build(v) == INCOMPATIBLE:
        cv += INCOMPATIBLE
    return cv


def is_incompatible(v: str) -> bool:
    """Whether ``v``'s build metadata is exactly ``+incompatible`` (PROTOCOL.md §8)."""
    return v.endswith(INCOMPATIBLE) and _semver.build(v) == INCOMPATIBLE


# ---------------------------------------------------------------------------------------------
# Theory of operation for the pattern matcher.
#
# GOPRIVATE is a comma list of path.Match globs; a glob with N slashes is matched against the
# first N+1 elements of the module path. path.Match's "*" and "?" never match "/", so a glob
# without character classes matches only strings with exactly its own number of slashes: it
# becomes the regex "<glob>(?:/|\Z)", and all such globs join one alternation compiled once.
# Go's matcher picks the leftmost place for each piece after a "*", which is the same answer a
# backtracking regex gives as long as nothing in the glob can match "/". A class such as
# "[^a]" can match "/", so globs with "[" go through a faithful port of path.Match instead.
# Malformed globs (a trailing "\", a bad class) never match, as in Go.
# ---------------------------------------------------------------------------------------------


class _BadPattern(Exception):
    """path.ErrBadPattern."""


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Split off leading stars and the star-free chunk after them (Go ``scanChunk``)."""
    stripped = pattern.lstrip("*")
    star = len(stripped) != len(pattern)
    in_range = False
    i = 0
    n = len(stripped)
    while i < n:
        c = stripped[i]
        if c == "\\":
            i += 1  # the escaped char is skipped; a trailing "\" is reported by _match_chunk
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            return star, stripped[:i], stripped[i:]
        i += 1
    return star, stripped, ""


def _get_esc(chunk: str) -> tuple[str, str]:
    """A possibly escaped character of a class, and the rest (Go ``getEsc``)."""
    if not chunk or chunk[0] in "-]":
        raise _BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    r = chunk[0]
    if 0xDC80 <= ord(r) <= 0xDCFF:  # an undecodable byte in the pattern
        raise _BadPattern
    rest = chunk[1:]
    if not rest:
        raise _BadPattern
    return r, rest


def _match_chunk(chunk: str, s: str) -> str | None:
    """The rest of ``s`` after ``chunk`` matched its start, or None (Go ``matchChunk``).

    Keeps parsing ``chunk`` after a mismatch so that a malformed pattern is always reported.
    """
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk[:1] == "^"
            if negated:
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk[:1] == "]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
            continue
        if c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
            continue
        if c == "\\":
            chunk = chunk[1:]
            if not chunk:
                raise _BadPattern
        if not failed:
            if chunk[0] != s[0]:
                failed = True
            s = s[1:]
        chunk = chunk[1:]
    return None if failed else s


def _go_path_match(pattern: str, name: str) -> bool:
    """Go ``path.Match`` on code points; raises _BadPattern for a malformed pattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            # A trailing star matches the rest of the name unless it has a slash.
            return "/" not in name
        t = _match_chunk(chunk, name)
        # The last chunk must use up the name; an earlier one may leave a rest for the next.
        if t is not None and (not t or pattern):
            name = t
            continue
        if star:
            # Try the chunk further on, skipping non-slash characters with the star.
            found = False
            for i in range(len(name)):
                if name[i] == "/":
                    break
                t = _match_chunk(chunk, name[i + 1 :])
                if t is not None:
                    if not pattern and t:
                        continue
                    name = t
                    found = True
                    break
            if found:
                continue
        # No match; still report a malformed remainder, as Go does.
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def path_match(pattern: str, name: str) -> bool:
    """Whether ``name`` matches the shell pattern ``pattern`` (Go's ``path.Match``).

    ``*`` matches any run of non-``/`` characters, ``?`` one non-``/`` character,
    ``[a-z]``/``[^a-z]`` a character class, ``\\c`` the character c.

    Raises:
        ValueError: the pattern is malformed (Go's ``path.ErrBadPattern``).
    """
    try:
        return _go_path_match(pattern, name)
    except _BadPattern:
        raise ValueError("syntax error in pattern") from None


def _glob_regex(glob: str) -> str | None:
    """A regex for a glob without classes, or None if it is malformed (a trailing ``\\``)."""
    out: list[str] = []
    i = 0
    n = len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i == n:
                return None
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class PrefixPatterns:
    """A compiled GOPRIVATE-style pattern list (x/mod ``module.MatchPrefixPatterns``).

    Build it once from the configuration, then call :meth:`matches` per request.

    Args:
        globs: comma-separated ``path.Match`` globs; empty globs and malformed globs are
            ignored, and one trailing ``/`` on a glob is dropped.
    """

    __slots__ = ("_fast", "_slow", "globs")

    def __init__(self, globs: str) -> None:
        self.globs = globs
        parts: list[str] = []
        self._slow: list[tuple[str, int]] = []
        for raw in globs.split(","):
            glob = raw.removesuffix("/")
            if not glob:
                continue
            if "[" in glob:
                self._slow.append((glob, glob.count("/")))
                continue
            rx = _glob_regex(glob)
            if rx is not None:
                parts.append(rx)
        self._fast = (
            re.compile("(?:" + "|".join(parts) + r")(?:/|\Z)", re.DOTALL).match if parts else None
        )

    def __repr__(self) -> str:
        return f"PrefixPatterns({self.globs!r})"

    def __bool__(self) -> bool:
        """Whether any usable glob is present (an empty list matches nothing)."""
        return self._fast is not None or bool(self._slow)

    def matches(self, target: str) -> bool:
        """Whether some leading path elements of ``target`` match one of the globs.

        Args:
            target: a module path, e.g. ``rsc.io/quote/v3``.
        """
        if self._fast is not None and self._fast(target) is not None:
            return True
        for glob, slashes in self._slow:
            prefix = _leading_elements(target, slashes)
            if prefix is None:
                continue
            try:
                if _go_path_match(glob, prefix):
                    return True
            except _BadPattern:
                continue
        return False


def _leading_elements(target: str, slashes: int) -> str | None:
    """The first ``slashes + 1`` elements of ``target``, or None if it has fewer."""
    if slashes == 0:
        i = target.find("/")
        return target if i < 0 else target[:i]
    parts = target.split("/", slashes + 1)
    if len(parts) <= slashes:
        return None
    return "/".join(parts[: slashes + 1])


@functools.lru_cache(maxsize=32)
def _compiled(globs: str) -> PrefixPatterns:
    """A cached :class:`PrefixPatterns` for one globs string."""
    return PrefixPatterns(globs)


def match_prefix_patterns(globs: str, target: str) -> bool:
    """Whether any path prefix of ``target`` matches one of ``globs`` (``MatchPrefixPatterns``).

    This is how the go command applies GOPRIVATE, GONOPROXY and GONOSUMDB: ``*.corp.com``
    matches ``git.corp.com/x/y``; ``*`` never crosses a ``/``. Prefer a :class:`PrefixPatterns`
    built once on hot paths.

    Args:
        globs: comma-separated ``path.Match`` globs.
        target: a module path.
    """
    return _compiled(globs).matches(target)
