"""go.mod files: directives, retractions, deprecation, and the synthesized go.mod.

Owns the meaning of go.mod directives as the go command reads them (PROTOCOL.md §11, §14):

* ``parse_gomod(strict=True)`` is x/mod ``modfile.Parse`` (the main module); the default lax
  mode is ``modfile.ParseLax``, how the go command reads a dependency's go.mod: unknown
  directives and main-module-only ones (``exclude``, ``replace``, ``toolchain``, ...) are
  ignored, retract intervals it cannot parse (open or half-open) are silently dropped, and a
  ``go`` line such as ``go 1.21.beta1`` is cut down to ``1.21``.
* Without a version fixer (as the go command parses dependencies) ``require``/``exclude``
  versions must be canonical-able and are canonicalized, while ``retract`` versions are kept
  exactly as written.
* A retraction's rationale is the comment lines just above it plus its end-of-line comment;
  a line in a block without comments of its own inherits the block's. A module is deprecated
  when such a comment has a paragraph starting ``Deprecated:``.
* ``short_message`` is how the go command displays rationales and deprecations.
* ``legacy_go_mod`` is the exact go.mod served for a module version that has none.

Ported from golang.org/x/mod ``modfile/rule.go`` (``parseToFile``, ``add``, ``parseReplace``,
``parseVersionInterval``, ``parseDeprecation``, ``parseDirectiveComment``, ``AddRetract``,
``DropRetract``, ``AddExclude``, ``checkCanonicalVersion``), ``modfile/read.go``
(``ModulePath``) and golang/go ``cmd/go/internal/modload/modfile.go`` (``ShortMessage``),
``modfetch/coderepo.go`` (``LegacyGoMod``), and ``MustQuote``/``AutoQuote`` from
``modfile/rule.go``. The syntax layer is :mod:`.read` (parsing) and :mod:`.print` (printing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..errors import InvalidVersionError, ProxyError
from ..module.paths import (
    canonical_version,
    check_path_major,
    path_major_prefix,
    split_path_version,
)
from ..semver import major as semver_major
from ..strconv import (
    char_category_is_graphic,
    go_is_print,
    go_quote,
    go_trim_space,
    go_unquote,
    is_go_space,
)
from .print import format_syntax
from .read import (
    Comment,
    FileSyntax,
    Line,
    LineBlock,
    ModFileError,
    ModFileErrorEntry,
    ModFileSyntaxError,
    add_line,
    cleanup,
    mark_removed,
    parse_syntax,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    VersionFixer = Callable[[str, str], str]

__all__ = [
    "Exclude",
    "Go",
    "GoMod",
    "Godebug",
    "Ignore",
    "ModFileDirectiveError",
    "ModFileError",
    "ModFileErrorEntry",
    "ModFileSyntaxError",
    "Module",
    "Replace",
    "Require",
    "Retract",
    "Tool",
    "Toolchain",
    "add_exclude",
    "add_retract",
    "auto_quote",
    "drop_retract",
    "format_gomod",
    "go_version",
    "is_directory_path",
    "legacy_go_mod",
    "module_path",
    "must_quote",
    "parse_gomod",
    "parse_syntax",
    "short_message",
]


# ASCII inputs (nearly all paths and versions) are decided by two searches.
_QUOTE_ASCII: Final = re.compile(r"[\x00-\x20\"'`\x7f]|/[/*]").search
_PUNCT: Final = re.compile(r"[()\[\]{},]").search


def must_quote(s: str) -> bool:
    """Whether ``s`` must be quoted to be one token in a go.mod line (x/mod ``MustQuote``)."""
    if not s:
        return True
    if s.isascii():
        return _QUOTE_ASCII(s) is not None or (len(s) > 1 and _PUNCT(s) is not None)
    for ch in s:
        if ch in " \"'`":
            return True
        if ch in "()[]{},":
            if len(s) > 1:
                return True
        elif not go_is_print(ch):
            return True
    return "//" in s or "/*" in s


def auto_quote(s: str) -> str:
    """``s``, or its Go quotation if it must be quoted (x/mod ``AutoQuote``)."""
    return go_quote(s) if must_quote(s) else s


class ModFileDirectiveError(ModFileError):
    """The syntax is fine but directives are wrong (usage, versions, paths, repeats)."""


# ---------------------------------------------------------------------------------------------
# The interpreted file (x/mod rule.go File). Entries are frozen; ``syntax`` points at the line
# they came from and takes no part in equality, so two parses of equivalent text compare equal.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Module:
    """The ``module`` directive: the module path and its deprecation message, if any."""

    path: str
    deprecated: str = ""
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Go:
    """The ``go`` directive: the language version, e.g. ``1.23``."""

    version: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Toolchain:
    """The ``toolchain`` directive, e.g. ``go1.21rc1`` or ``default``."""

    name: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Godebug:
    """One ``godebug key=value`` setting."""

    key: str
    value: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Require:
    """One requirement; ``indirect`` when it has an ``// indirect`` comment."""

    path: str
    version: str
    indirect: bool = False
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Exclude:
    """One excluded module version."""

    path: str
    version: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Replace:
    """One replacement; ``old_version`` is empty for all versions, ``new_version`` for a dir."""

    old_path: str
    old_version: str
    new_path: str
    new_version: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Retract:
    """One retracted interval ``[low, high]`` (inclusive) and its rationale, as written."""

    low: str
    high: str
    rationale: str = ""
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Tool:
    """One ``tool`` package path."""

    path: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Ignore:
    """One ``ignore`` directory path."""

    path: str
    syntax: Line = field(default_factory=Line, compare=False, repr=False)


@dataclass(slots=True)
class GoMod:
    """A parsed go.mod file: each directive's entries, and the syntax tree for printing.

    It is mutable only so that :func:`add_retract`, :func:`drop_retract` and
    :func:`add_exclude` can edit it in place, as x/mod's ``File`` methods do.
    """

    module: Module | None = None
    go: Go | None = None
    toolchain: Toolchain | None = None
    godebug: list[Godebug] = field(default_factory=list)
    require: list[Require] = field(default_factory=list)
    exclude: list[Exclude] = field(default_factory=list)
    replace: list[Replace] = field(default_factory=list)
    retract: list[Retract] = field(default_factory=list)
    tool: list[Tool] = field(default_factory=list)
    ignore: list[Ignore] = field(default_factory=list)
    syntax: FileSyntax = field(default_factory=FileSyntax, compare=False, repr=False)


# ---------------------------------------------------------------------------------------------
# Directive interpretation
# ---------------------------------------------------------------------------------------------

_GO_VERSION: Final = re.compile(
    r"([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?"
).fullmatch
_LAX_GO_VERSION: Final = re.compile(r"v?(([1-9][0-9]*)\.(0|[1-9][0-9]*))([^0-9].*)").fullmatch
_TOOLCHAIN: Final = re.compile(r"default\Z|go1(?:\Z|\.)").match
_DEPRECATED: Final = re.compile(r"(?s)(?:\A|\n\n)Deprecated: *(.*?)(?:\Z|\n\n)").search
_LAX_VERBS: Final = frozenset({"go", "module", "retract", "require", "ignore"})
_BLOCK_VERBS: Final = frozenset(
    {"module", "godebug", "require", "exclude", "replace", "retract", "tool", "ignore"}
)


class _Problem(Exception):
    """A directive error before its position is known (x/mod's inner ``Error``)."""

    def __init__(self, message: str, verb: str = "", mod_path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.verb = verb
        self.mod_path = mod_path


def _keep(path: str, version: str) -> str:
    """The retract "fixer" used while parsing (x/mod ``dontFixRetract``): keep as written."""
    return version


def _parse_string(tokens: list[str], i: int) -> str:
    """The string value of ``tokens[i]``; the token is rewritten in its canonical quoting."""
    t = tokens[i]
    if t.startswith('"'):
        t = go_unquote(t)
    elif '"' in t or "'" in t or "`" in t:
        # Other quotes are reserved, and 'x' must not silently mean a literal x in quotes.
        raise ValueError("unquoted string cannot contain quote")
    tokens[i] = auto_quote(t)
    return t


def _parse_version(
    verb: str, path: str, tokens: list[str], i: int, fix: VersionFixer | None
) -> str:
    raw = tokens[i]
    try:
        t = _parse_string(tokens, i)
    except ValueError as e:
        raise _Problem(str(InvalidVersionError(raw, str(e))), verb, path) from None
    if fix is not None:
        try:
            t = fix(path, t)
        except InvalidVersionError as e:
            if e.path is None:
                raise _Problem(str(e)) from None
            bare = InvalidVersionError(e.version, e.reason, pseudo=e.pseudo)
            raise _Problem(str(bare), verb, path) from None
        except (ProxyError, ValueError) as e:
            raise _Problem(str(e)) from None
    else:
        cv = canonical_version(t)
        if not cv:
            reason = "must be of the form v1.2.3"
            raise _Problem(str(InvalidVersionError(t, reason)), verb, path)
        t = cv
    tokens[i] = t
    return t


def _parse_version_interval(
    verb: str, path: str, tokens: list[str], i: int, fix: VersionFixer | None
) -> tuple[str, str, int]:
    """Parse ``v`` or ``[low, high]`` at ``tokens[i:]``; returns low, high and the next index."""
    n = len(tokens)
    if i >= n or tokens[i] == "(":
        raise _Problem("expected '[' or version")
    if tokens[i] != "[":
        v = _parse_version(verb, path, tokens, i, fix)
        return v, v, i + 1
    i += 1
    if i >= n:
        raise _Problem("expected version after '['")
    low = _parse_version(verb, path, tokens, i, fix)
    i += 1
    if i >= n or tokens[i] != ",":
        raise _Problem("expected ',' after version")
    i += 1
    if i >= n:
        raise _Problem("expected version after ','")
    high = _parse_version(verb, path, tokens, i, fix)
    i += 1
    if i >= n or tokens[i] != "]":
        raise _Problem("expected ']' after version")
    return low, high, i + 1


def _directive_comment(block: LineBlock | None, line: Line) -> str:
    """The text of a directive's comments, or its block's when it has none (x/mod)."""
    comments: Line | LineBlock = line
    if block is not None and not line.before and not line.suffix:
        comments = block
    return "\n".join(
        go_trim_space(c.token[2:])
        for group in (comments.before, comments.suffix)
        for c in group
        if c.token.startswith("//")
    )


def _is_indirect(line: Line) -> bool:
    if not line.suffix:
        return False
    tok = line.suffix[0].token
    f = (tok[2:] if tok.startswith("//") else tok).split()
    return (len(f) == 1 and f[0] == "indirect") or (len(f) > 1 and f[0] == "indirect;")


def is_directory_path(ns: str) -> bool:
    """Whether a replacement target is a directory (x/mod ``IsDirectoryPath``), any OS syntax."""
    return (
        ns in (".", "..")
        or ns.startswith(("./", ".\\", "../", "..\\", "/", "\\"))
        or (len(ns) >= 2 and ns[1] == ":" and ns[0].isascii() and ns[0].isalpha())
    )


def _module_path_major(path: str) -> str:
    _, path_major, ok = split_path_version(path)
    if not ok:
        raise ValueError("invalid module path")
    return path_major


class _Interpreter:
    """Turns statements into :class:`GoMod` entries (x/mod ``parseToFile`` and ``add``)."""

    __slots__ = ("errors", "file", "fix", "mod", "strict")

    def __init__(self, mod: GoMod, fix: VersionFixer | None, strict: bool) -> None:
        self.mod = mod
        self.file = mod.syntax.name
        self.fix = fix
        self.strict = strict
        self.errors: list[ModFileErrorEntry] = []

    def report(self, line: Line, message: str, verb: str = "", mod_path: str = "") -> None:
        pos = line.start
        self.errors.append(
            ModFileErrorEntry(self.file, pos.line, pos.column, message, verb, mod_path)
        )

    def report_problem(self, line: Line, p: _Problem) -> None:
        self.report(line, p.message, p.verb, p.mod_path)

    def run(self) -> None:
        strict = self.strict
        for x in self.mod.syntax.stmts:
            if isinstance(x, Line):
                self.add(None, x, x.tokens[0], 1)
            elif isinstance(x, LineBlock):
                if len(x.tokens) > 1 or x.tokens[0] not in _BLOCK_VERBS:
                    if strict:
                        pos = x.start
                        self.errors.append(
                            ModFileErrorEntry(
                                self.file,
                                pos.line,
                                pos.column,
                                f"unknown block type: {' '.join(x.tokens)}",
                            )
                        )
                    continue
                for line in x.lines:
                    self.add(x, line, x.tokens[0], 0)
        self.fix_retract()

    def add(self, block: LineBlock | None, line: Line, verb: str, off: int) -> None:
        if not self.strict and verb not in _LAX_VERBS:
            return  # a dependency's main-module-only or future directive
        try:
            self._add(block, line, verb, off)
        except _Problem as p:
            self.report_problem(line, p)

    def _add(self, block: LineBlock | None, line: Line, verb: str, off: int) -> None:
        mod = self.mod
        tokens = line.tokens
        nargs = len(tokens) - off
        if verb == "go":
            if mod.go is not None:
                raise _Problem("repeated go statement")
            if nargs != 1:
                raise _Problem("go directive expects exactly one argument")
            if not _GO_VERSION(tokens[off]):
                m = None if self.strict else _LAX_GO_VERSION(tokens[off])
                if m is None:
                    raise _Problem(f"invalid go version '{tokens[off]}': must match format 1.23.0")
                tokens[off] = m.group(1)
            mod.go = Go(tokens[off], line)
        elif verb == "toolchain":
            if mod.toolchain is not None:
                raise _Problem("repeated toolchain statement")
            if nargs != 1:
                raise _Problem("toolchain directive expects exactly one argument")
            if not _TOOLCHAIN(tokens[off]):
                raise _Problem(
                    f"invalid toolchain version '{tokens[off]}': "
                    "must match format go1.23.0 or default"
                )
            mod.toolchain = Toolchain(tokens[off], line)
        elif verb == "module":
            if mod.module is not None:
                raise _Problem("repeated module statement")
            deprecated = ""
            m = _DEPRECATED(_directive_comment(block, line))
            if m is not None:
                deprecated = m.group(1)
            mod.module = Module("", deprecated, line)
            if nargs != 1:
                raise _Problem("usage: module module/path")
            mod.module = Module(self._string(tokens, off), deprecated, line)
        elif verb == "godebug":
            arg = tokens[off] if nargs == 1 else ""
            key, eq, value = arg.partition("=")
            if nargs != 1 or any(c in arg for c in "\"`',") or not eq:
                raise _Problem("usage: godebug key=value")
            mod.godebug.append(Godebug(key, value, line))
        elif verb in ("require", "exclude"):
            if nargs != 2:
                raise _Problem(f"usage: {verb} module/path v1.2.3")
            s = self._string(tokens, off)
            v = _parse_version(verb, s, tokens, off + 1, self.fix)
            try:
                path_major = _module_path_major(s)
            except ValueError as e:
                raise _Problem(str(e)) from None
            try:
                check_path_major(v, path_major)
            except InvalidVersionError as e:
                raise _Problem(str(e), verb, s) from None
            if verb == "require":
                mod.require.append(Require(s, v, _is_indirect(line), line))
            else:
                mod.exclude.append(Exclude(s, v, line))
        elif verb == "replace":
            mod.replace.append(self._replace(line, verb, off))
        elif verb == "retract":
            rationale = _directive_comment(block, line)
            try:
                low, high, i = _parse_version_interval(verb, "", tokens, off, _keep)
            except _Problem:
                # Only the main module reports bad intervals: future syntax such as open
                # intervals must not break the go command's reading of dependencies.
                if self.strict:
                    raise
                return
            if i < len(tokens) and self.strict:
                raise _Problem(f"unexpected token after version: {go_quote(tokens[i])}")
            mod.retract.append(Retract(low, high, rationale, line))
        elif verb in ("tool", "ignore"):
            if nargs != 1:
                raise _Problem(f"{verb} directive expects exactly one argument")
            s = self._string(tokens, off)
            if verb == "tool":
                mod.tool.append(Tool(s, line))
            else:
                mod.ignore.append(Ignore(s, line))
        else:
            raise _Problem(f"unknown directive: {verb}")

    @staticmethod
    def _string(tokens: list[str], i: int) -> str:
        try:
            return _parse_string(tokens, i)
        except ValueError as e:
            raise _Problem(f"invalid quoted string: {e}") from None

    def _replace(self, line: Line, verb: str, off: int) -> Replace:
        tokens = line.tokens
        args = tokens[off:]
        arrow = 1 if len(args) >= 2 and args[1] == "=>" else 2
        if len(args) < arrow + 2 or len(args) > arrow + 3 or args[arrow] != "=>":
            raise _Problem(
                f"usage: {verb} module/path [v1.2.3] => other/module v1.4\n"
                f"\t or {verb} module/path [v1.2.3] => ../local/directory"
            )
        s = self._string(tokens, off)
        try:
            path_major = _module_path_major(s)
        except ValueError as e:
            raise _Problem(str(e), verb, s) from None
        v = ""
        if arrow == 2:
            v = _parse_version(verb, s, tokens, off + 1, self.fix)
            try:
                check_path_major(v, path_major)
            except InvalidVersionError as e:
                raise _Problem(str(e), verb, s) from None
        ns = self._string(tokens, off + arrow + 1)
        nv = ""
        if len(args) == arrow + 2:
            if not is_directory_path(ns):
                if "@" in ns:
                    raise _Problem(
                        "replacement module must match format 'path version', not 'path@version'"
                    )
                raise _Problem(
                    "replacement module without version must be directory path "
                    "(rooted or starting with . or ..)"
                )
            if "\\" in ns:
                # Read as on a Unix system, as the go command on the proxy's side would.
                raise _Problem(
                    "replacement directory appears to be Windows path (on a non-windows system)"
                )
        else:
            nv = _parse_version(verb, ns, tokens, off + arrow + 2, self.fix)
            if is_directory_path(ns):
                raise _Problem(
                    f"replacement module directory path {go_quote(ns)} cannot have version"
                )
        return Replace(s, v, ns, nv, line)

    def fix_retract(self) -> None:
        """Re-read retract versions with the fixer, once the module path is known (x/mod)."""
        fix = self.fix
        mod = self.mod
        if fix is None:
            return
        path = mod.module.path if mod.module is not None else ""
        for k, r in enumerate(mod.retract):
            if not path:
                self.report(r.syntax, "no module directive found, so retract cannot be used")
                return  # only the first one
            tokens = r.syntax.tokens
            off = 1 if tokens[0] == "retract" else 0
            try:
                low, high, _ = _parse_version_interval("retract", path, tokens, off, fix)
            except _Problem as p:
                self.report_problem(r.syntax, p)
                low = high = ""
            mod.retract[k] = Retract(low, high, r.rationale, r.syntax)


def parse_gomod(
    data: bytes, *, file: str = "go.mod", strict: bool = False, fix: VersionFixer | None = None
) -> GoMod:
    """Parse and interpret a go.mod file.

    Args:
        data: the file content (the engine passes upstream bytes; up to 16 MiB).
        file: the name used in error messages.
        strict: x/mod ``Parse`` (the main module: every directive checked, unknown ones are
            errors) instead of ``ParseLax`` (how the go command reads dependencies).
        fix: called as ``fix(path, version)`` to canonicalize versions (``go mod edit``
            style); it may raise ``InvalidVersionError``. Without it, require/exclude/replace
            versions are canonicalized or rejected and retract versions are kept as written.

    Returns:
        The interpreted file; ``format_gomod`` prints it.

    Raises:
        ModFileSyntaxError: the text is not go.mod syntax (first problem only).
        ModFileDirectiveError: directives are wrong (all problems, Go's order).
    """
    mod = GoMod(syntax=parse_syntax(data, file))
    interp = _Interpreter(mod, fix, strict)
    interp.run()
    if interp.errors:
        raise ModFileDirectiveError(interp.errors)
    return mod


def format_gomod(f: GoMod) -> bytes:
    """Format a parsed (and maybe edited) go.mod file as ``go mod edit -fmt`` would (x/mod)."""
    return format_syntax(f.syntax)


# ---------------------------------------------------------------------------------------------
# Edits (x/mod rule.go)
# ---------------------------------------------------------------------------------------------


def _check_canonical_version(path: str, vers: str) -> None:
    """Require a canonical version matching ``path``'s major (x/mod ``checkCanonicalVersion``)."""
    _, path_major, path_major_ok = split_path_version(path)
    if not vers or vers != canonical_version(vers):
        prefix = path_major_prefix(path_major) if path_major else "v1"
        raise InvalidVersionError(vers, f"must be of the form {prefix}.2.3")
    if path_major_ok:
        try:
            check_path_major(vers, path_major)
        except InvalidVersionError:
            if not path_major:
                # The author probably meant vN.x.y+incompatible rather than "v0 or v1".
                reason = f"should be {vers}+incompatible (or module {path}/{semver_major(vers)})"
                raise InvalidVersionError(vers, reason) from None
            raise


def add_retract(f: GoMod, low: str, high: str, rationale: str = "") -> None:
    """Add ``retract low`` or ``retract [low, high]`` to ``f`` (x/mod ``File.AddRetract``).

    The line goes after the last retract statement (into its block), with ``rationale`` as
    comment lines above it.

    Raises:
        InvalidVersionError: a bound is not canonical or does not match the module's major.
    """
    path = f.module.path if f.module is not None else ""
    _check_canonical_version(path, high)
    _check_canonical_version(path, low)
    if low == high:
        tokens = ["retract", auto_quote(low)]
    else:
        tokens = ["retract", "[", auto_quote(low), ",", auto_quote(high), "]"]
    line = add_line(f.syntax, None, tokens)
    if rationale:
        line.before.extend(Comment(token="// " + text) for text in rationale.split("\n"))
    f.retract.append(Retract(low, high, "", line))


def drop_retract(f: GoMod, low: str, high: str) -> None:
    """Remove every retraction of exactly ``[low, high]`` and tidy the syntax (x/mod)."""
    kept: list[Retract] = []
    for r in f.retract:
        if r.low == low and r.high == high:
            mark_removed(r.syntax)
        else:
            kept.append(r)
    f.retract = kept
    cleanup(f.syntax)


def add_exclude(f: GoMod, path: str, version: str) -> None:
    """Add ``exclude path version`` unless present (x/mod ``File.AddExclude``).

    Raises:
        InvalidVersionError: the version is not canonical or does not match the path's major.
    """
    _check_canonical_version(path, version)
    hint: Line | None = None
    for x in f.exclude:
        if x.path == path and x.version == version:
            return
        if x.path == path:
            hint = x.syntax
    line = add_line(f.syntax, hint, ["exclude", auto_quote(path), version])
    f.exclude.append(Exclude(path, version, line))


# ---------------------------------------------------------------------------------------------
# Quick helpers
# ---------------------------------------------------------------------------------------------


def module_path(data: bytes) -> str:
    """The module path of a go.mod file, tolerating unrelated problems (x/mod ``ModulePath``).

    Returns:
        The path of the first ``module`` line that has one, or ``""``.
    """
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        i = line.find("//")
        if i >= 0:
            line = line[:i]
        line = go_trim_space(line)
        if not line.startswith("module"):
            continue
        rest = line[6:]
        n = len(rest)
        rest = go_trim_space(rest)
        if len(rest) == n or not rest:
            continue
        if rest[0] in '"`':
            try:
                return go_unquote(rest)
            except ValueError:
                return ""  # malformed quoted string or a multi-line module path
        return rest
    return ""


def legacy_go_mod(path: str) -> bytes:
    """The go.mod served for a module version without one (golang/go ``LegacyGoMod``).

    Exactly ``module <AutoQuote(path)>\\n``: its hash is in go.sum, and the go command tells a
    real go.mod from this one by comparing the bytes (PROTOCOL.md §11).
    """
    return ("module " + auto_quote(path) + "\n").encode("utf-8", "surrogateescape")


# A go line starts a line and is followed by a blank; without one the answer is "".
_HAS_GO_LINE: Final = re.compile(rb"(?m)^[ \t\r]*go[ \t\r]").search


def go_version(data: bytes) -> str:
    """The ``go`` line's version as a lax parse reads it, or ``""`` (x/mod zip ``parseGoVers``).

    Like x/mod's zip rules, any error in the file means ``""``. Files without a go line are
    answered without parsing. The zip vendoring rules compare the result with ``1.24``.
    """
    if _HAS_GO_LINE(data) is None:
        return ""
    try:
        mod = parse_gomod(data)
    except ModFileError:
        return ""
    return mod.go.version if mod.go is not None else ""


_MAX_MESSAGE: Final = 500


def short_message(rationale: str, default: str) -> str:
    """A go.mod message made safe for a terminal (golang/go modload ``ShortMessage``).

    Args:
        rationale: a retraction rationale or deprecation message.
        default: what to show when it is empty, e.g. ``"retracted by module author"``.

    Returns:
        The first line, trimmed; ``default`` if that is empty; a fixed notice when it is
        longer than 500 bytes or has a rune that is neither graphic nor space.
    """
    message = go_trim_space(rationale.partition("\n")[0])
    if not message:
        return default
    if len(message.encode("utf-8", "surrogateescape")) > _MAX_MESSAGE:
        return "(message omitted: too long)"
    if not message.isprintable():
        for ch in message:
            if not char_category_is_graphic(ch) and not is_go_space(ch):
                return "(message omitted: contains non-printable characters)"
    return message
