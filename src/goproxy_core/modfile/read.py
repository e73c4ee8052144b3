"""go.mod syntax: the lexer, the line/block parser, comment attachment and editing support.

Owns the concrete syntax of go.mod files (PROTOCOL.md §11, §14): lines and factored
``verb ( ... )`` blocks, ``"..."`` strings with Go escapes and raw `````...````` strings,
``//`` comments (whole-line ones before a line or inside a block, end-of-line ones attached to
the syntax they follow). The printer is :mod:`.print`; Go's quoting is
:mod:`goproxy_core.strconv`.

Ported from golang.org/x/mod ``modfile/read.go`` (``parse``, the lexer, ``assignComments``,
``Cleanup``, ``addLine``, ``markRemoved``). Error texts are Go's, position included
(``go.mod:3:5: ...``), so users recognise them.

Text model: the input bytes are decoded as UTF-8 with ``surrogateescape``, so each invalid
byte becomes one code point U+DC80..U+DCFF, just as Go's decoder yields one ``RuneError`` per
invalid byte. Columns therefore count runes as Go's do, invalid bytes are identifier
characters as in Go (``RuneError`` is printable), and the printer turns them back into the
same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NamedTuple

from ..errors import ProxyError
from ..strconv import go_is_print, quote_rune

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Comment",
    "CommentBlock",
    "Comments",
    "FileSyntax",
    "LParen",
    "Line",
    "LineBlock",
    "ModFileError",
    "ModFileErrorEntry",
    "ModFileSyntaxError",
    "Position",
    "RParen",
    "add_line",
    "cleanup",
    "mark_removed",
    "parse_syntax",
]

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModFileErrorEntry:
    """One problem in a go.mod file (x/mod ``modfile.Error``).

    Attributes:
        file: the file name given to the parser.
        line: 1-based line, or 0 when unknown.
        column: 1-based column in runes; Go prints it only when it is above 1.
        message: the bare problem, e.g. ``usage: require module/path v1.2.3``.
        verb: the directive, when Go names it (``require``).
        mod_path: the module path the directive is about, when Go names it.
    """

    file: str
    line: int
    column: int
    message: str
    verb: str = ""
    mod_path: str = ""

    def __str__(self) -> str:
        if self.column > 1:
            pos = f"{self.file}:{self.line}:{self.column}: "
        elif self.line > 0:
            pos = f"{self.file}:{self.line}: "
        elif self.file:
            pos = f"{self.file}: "
        else:
            pos = ""
        if self.mod_path:
            directive = f"{self.verb} {self.mod_path}: "
        elif self.verb:
            directive = f"{self.verb}: "
        else:
            directive = ""
        return pos + directive + self.message


class ModFileError(ProxyError):
    """A go.mod file could not be parsed (x/mod ``modfile.ErrorList``).

    The text is Go's: one ``file:line[:col]: message`` per problem, joined by newlines.

    Attributes:
        entries: every problem found, in file order (a syntax error stops at the first).
        file: the file name of the first problem.
        line: the line of the first problem.
        column: the column (in runes) of the first problem.
    """

    def __init__(self, entries: Sequence[ModFileErrorEntry]) -> None:
        self.entries = tuple(entries)
        first = self.entries[0]
        self.file = first.file
        self.line = first.line
        self.column = first.column
        super().__init__("\n".join(str(e) for e in self.entries))


class ModFileSyntaxError(ModFileError):
    """The lexer or parser rejected the file: bad characters, strings, blocks or comments."""


# ---------------------------------------------------------------------------------------------
# Syntax tree (x/mod read.go). Nodes are mutable on purpose: edits (add/drop retract) and the
# version rewriting done while interpreting directives change tokens in place, as in Go.
# ---------------------------------------------------------------------------------------------


class Position(NamedTuple):
    """A place in the input: 1-based line, 1-based column in runes, 0-based rune offset."""

    line: int
    column: int
    offset: int


_NOWHERE: Final = Position(0, 0, 0)


@dataclass(frozen=True, slots=True)
class Comment:
    """One ``//`` comment; an empty ``token`` marks a preserved blank line inside a block."""

    start: Position = _NOWHERE
    token: str = ""  # without the trailing newline
    suffix: bool = False  # an end-of-line comment


@dataclass(slots=True, eq=False)
class Comments:
    """Comments attached to a node: whole lines before it, end-of-line ones after it."""

    before: list[Comment] = field(default_factory=list)
    suffix: list[Comment] = field(default_factory=list)
    after: list[Comment] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class CommentBlock(Comments):
    """A run of whole-line comments at top level that belongs to no statement."""

    start: Position = _NOWHERE


@dataclass(slots=True, eq=False)
class Line(Comments):
    """One statement line. ``tokens == []`` marks a line removed by an edit."""

    start: Position = _NOWHERE
    tokens: list[str] = field(default_factory=list)
    in_block: bool = False
    end: Position = _NOWHERE


@dataclass(slots=True, eq=False)
class LParen(Comments):
    """The ``(`` of a block, a place for its end-of-line comment."""

    pos: Position = _NOWHERE


@dataclass(slots=True, eq=False)
class RParen(Comments):
    """The ``)`` of a block; its ``before`` holds the comments after the block's last line."""

    pos: Position = _NOWHERE


@dataclass(slots=True, eq=False)
class LineBlock(Comments):
    """A factored block ``verb ( lines )``."""

    start: Position = _NOWHERE
    lparen: LParen = field(default_factory=LParen)
    tokens: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    rparen: RParen = field(default_factory=RParen)


Stmt = CommentBlock | Line | LineBlock


@dataclass(slots=True, eq=False)
class FileSyntax(Comments):
    """A whole go.mod file as syntax: its statements in order."""

    name: str = ""
    stmts: list[Stmt] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Theory of operation for the lexer.
#
# Go's lexer reads rune by rune; here one compiled regex finds each token (after skipping
# spaces, tabs and CRs), which keeps the work in C and the parse linear. The groups are tried
# in Go's order: comment, newline, punctuation, string, identifier. Every path the regex does
# not accept is an error, diagnosed by _lex_error with Go's message and position. Comments and
# newlines end a line, and a string may contain a backslash-newline (Go's lexer skips the
# escaped rune without looking), so those three update the line counter.
# ---------------------------------------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""[ \t\r]*
    (?:
      (?P<c>//[^\n]*\n?)
    | (?P<n>\n)
    | (?P<p>[()\[\]{},])
    | (?P<s>"(?:[^"\\\n]|\\[\s\S])*"|`[^`\n]*`)
    | (?P<i>(?:[!-'*+\-.0-Z\\^-z|~\u0080-\U0010ffff]|/(?![/*]))+)
    )?""",
    re.VERBOSE,
)

EOF: Final = "EOF"
EOLCOMMENT: Final = "EOLCOMMENT"
COMMENT: Final = "COMMENT"
IDENT: Final = "IDENT"
STRING: Final = "STRING"
_EOL: Final = frozenset({EOF, EOLCOMMENT, "\n"})
_KINDS: Final = {"n": "\n", "s": STRING, "i": IDENT}
_BLANK: Final = Comment()
_tuple_new: Final = tuple.__new__


class _Token(NamedTuple):
    kind: str
    text: str
    pos: Position
    end: Position


class _Parser:
    """Lexer and recursive-descent parser for one go.mod file (x/mod read.go ``input``)."""

    __slots__ = (
        "filename",
        "last_tok_line",
        "line",
        "line_start",
        "n",
        "off",
        "suffix_comments",
        "text",
        "token",
    )

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.text = text
        self.n = len(text)
        self.off = 0
        self.line = 1
        self.line_start = 0
        self.last_tok_line = 0
        self.suffix_comments: list[Comment] = []
        self.token = _Token(EOF, "", _NOWHERE, _NOWHERE)
        self._read_token()

    # -- lexer ---------------------------------------------------------------------------------

    def _error(self, message: str, pos: Position) -> ModFileSyntaxError:
        return ModFileSyntaxError([ModFileErrorEntry(self.filename, pos.line, pos.column, message)])

    def _here(self, off: int) -> Position:
        # tuple.__new__ skips NamedTuple's Python-level constructor: this runs per token.
        return _tuple_new(Position, (self.line, off - self.line_start + 1, off))

    def _read_token(self) -> None:
        text = self.text
        m = _TOKEN.match(text, self.off)
        assert m is not None  # every group is optional
        group = m.lastgroup
        end = m.end()
        if group is None:
            if end >= self.n:
                pos = self._here(end)
                self.token = _Token(EOF, "", pos, pos)
                self.off = end
                return
            raise self._lex_error(end)
        start = m.start(group)
        tok = m.group(group)
        pos = self._here(start)
        if group == "c":
            suffix = self.last_tok_line == self.line
            if tok.endswith("\n"):
                self.line += 1
                self.line_start = end
                tok = tok[:-2] if tok.endswith("\r\n") else tok[:-1]
            self.off = end
            self.token = _Token(EOLCOMMENT if suffix else COMMENT, tok, pos, self._here(end))
            if suffix:
                self.suffix_comments.append(Comment(pos, tok, True))
            return
        if group == "i":
            if tok[0] in '"`':
                raise self._string_error(start)
            if not tok.isascii():
                for k, ch in enumerate(tok):
                    if ch > "\x7f" and not go_is_print(ch):
                        if k == 0:
                            raise self._lex_error(start)
                        # The identifier ends here; the next token is the error.
                        tok = tok[:k]
                        end = start + k
                        break
            if text.startswith("/*", end):
                # Go meets "/*" while still scanning the identifier: report it now.
                raise self._error(
                    "mod files must use // comments (not /* */ comments)", self._here(end)
                )
        self.last_tok_line = self.line
        if group == "n":
            self.line += 1
            self.line_start = end
        elif group == "s" and "\n" in tok:
            self.line += tok.count("\n")
            self.line_start = start + tok.rindex("\n") + 1
            self.last_tok_line = self.line
        self.off = end
        self.token = _tuple_new(_Token, (_KINDS.get(group, tok), tok, pos, self._here(end)))

    def _lex_error(self, off: int) -> ModFileSyntaxError:
        text = self.text
        if text.startswith("/*", off):
            return self._error(
                "mod files must use // comments (not /* */ comments)", self._here(off)
            )
        # (A quote here is an identifier character: the "i" branch reports bad strings.)
        return self._error(f"unexpected input character {quote_rune(text[off])}", self._here(off))

    def _string_error(self, start: int) -> ModFileSyntaxError:
        """Replay Go's string scan to find where an unterminated string fails."""
        text = self.text
        quote = text[start]
        token_pos = self._here(start)
        line, line_start = self.line, self.line_start
        i = start + 1
        while True:
            if i >= self.n:
                return self._error("unexpected EOF in string", token_pos)
            c = text[i]
            if c == "\n":
                return self._error(
                    "unexpected newline in string", Position(line, i - line_start + 1, i)
                )
            i += 1
            if c == "\\" and quote == '"':
                if i >= self.n:
                    return self._error("unexpected EOF in string", token_pos)
                if text[i] == "\n":
                    line += 1
                    line_start = i + 1
                i += 1

    def _lex(self) -> _Token:
        tok = self.token
        self._read_token()
        return tok

    # -- parser --------------------------------------------------------------------------------

    def parse_file(self) -> FileSyntax:
        f = FileSyntax(name=self.filename)
        cb: CommentBlock | None = None
        while True:
            kind = self.token.kind
            if kind == "\n":
                self._lex()
                if cb is not None:
                    f.stmts.append(cb)
                    cb = None
            elif kind == COMMENT:
                tok = self._lex()
                if cb is None:
                    cb = CommentBlock(start=tok.pos)
                cb.before.append(Comment(tok.pos, tok.text))
            elif kind == EOF:
                if cb is not None:
                    f.stmts.append(cb)
                return f
            else:
                self._parse_stmt(f.stmts)
                if cb is not None:
                    f.stmts[-1].before = cb.before
                    cb = None

    def _parse_stmt(self, stmts: list[Stmt]) -> None:
        first = self._lex()
        start, end = first.pos, first.end
        tokens = [first.text]
        while True:
            tok = self._lex()
            kind = tok.kind
            if kind in _EOL:
                stmts.append(Line(start=start, tokens=tokens, end=end))
                return
            if kind == "(":
                nxt = self.token.kind
                if nxt in _EOL:
                    stmts.append(self._parse_line_block(start, tokens, tok))
                    return
                if nxt == ")":
                    rparen = self._lex()
                    if self.token.kind in _EOL:
                        self._lex()
                        stmts.append(
                            LineBlock(
                                start=start,
                                tokens=tokens,
                                lparen=LParen(pos=tok.pos),
                                rparen=RParen(pos=rparen.pos),
                            )
                        )
                        return
                    tokens.append("(")
                    tokens.append(")")
                else:
                    tokens.append("(")
            else:
                tokens.append(tok.text)
                end = tok.end

    def _parse_line_block(self, start: Position, tokens: list[str], lparen: _Token) -> LineBlock:
        x = LineBlock(start=start, tokens=tokens, lparen=LParen(pos=lparen.pos))
        comments: list[Comment] = []
        while True:
            kind = self.token.kind
            if kind == EOLCOMMENT:
                self._lex()  # attached later by _assign_comments
            elif kind == "\n":
                self._lex()
                # A blank line is kept as an empty comment, once per run.
                if (not comments and x.lines) or (comments and comments[-1].token != ""):
                    comments.append(_BLANK)
            elif kind == COMMENT:
                tok = self._lex()
                comments.append(Comment(tok.pos, tok.text))
            elif kind == EOF:
                raise self._error(
                    f"syntax error (unterminated block started at "
                    f"{self.filename}:{start.line}:{start.column})",
                    self.token.end,
                )
            elif kind == ")":
                rparen = self._lex()
                if len(comments) == 1 and comments[0] == _BLANK:
                    comments = []  # no blank line kept before ")"
                x.rparen.before = comments
                x.rparen.pos = rparen.pos
                if self.token.kind not in _EOL:
                    raise self._error(
                        "syntax error (expected newline after closing paren)", self.token.end
                    )
                self._lex()
                return x
            else:
                line = self._parse_line()
                x.lines.append(line)
                line.before = comments
                comments = []

    def _parse_line(self) -> Line:
        first = self._lex()
        start, end = first.pos, first.end
        tokens = [first.text]
        while True:
            tok = self._lex()
            if tok.kind in _EOL:
                return Line(start=start, tokens=tokens, end=end, in_block=True)
            tokens.append(tok.text)
            end = tok.end

    # -- comment attachment --------------------------------------------------------------------

    def assign_comments(self, f: FileSyntax) -> None:
        """Attach each end-of-line comment to the last one-line node ending before it.

        Whole-line comments were already placed by the parser (before a statement, a block
        line or a closing paren); only suffix comments are left. Nodes are visited in
        reverse post-order (by end position); leftovers go before the file.
        """
        suffix = self.suffix_comments
        if not suffix:
            return
        post: list[tuple[int, int, int, Comments]] = []
        for stmt in f.stmts:
            if isinstance(stmt, LineBlock):
                lp, rp = stmt.lparen.pos, stmt.rparen.pos
                post.append((lp.line, lp.line, lp.offset + 1, stmt.lparen))
                for line in stmt.lines:
                    post.append((line.start.line, line.end.line, line.end.offset, line))
                post.append((rp.line, rp.line, rp.offset + 1, stmt.rparen))
                post.append((stmt.start.line, rp.line, rp.offset + 1, stmt))
            elif isinstance(stmt, Line):
                post.append((stmt.start.line, stmt.end.line, stmt.end.offset, stmt))
            else:
                s = stmt.start
                post.append((s.line, s.line, s.offset, stmt))
        for start_line, end_line, end_off, node in reversed(post):
            if start_line != end_line:
                continue
            taken = False
            while suffix and end_off <= suffix[-1].start.offset:
                node.suffix.append(suffix.pop())
                taken = True
            if taken:
                node.suffix.reverse()
        f.before.extend(suffix)


def parse_syntax(data: bytes, file: str = "go.mod") -> FileSyntax:
    """Parse go.mod bytes into a syntax tree without interpreting directives (x/mod ``parse``).

    Args:
        data: the file content.
        file: the name used in error messages.

    Returns:
        The statements with their comments attached.

    Raises:
        ModFileSyntaxError: bad characters, strings, comments or blocks, with Go's text.
    """
    p = _Parser(file, data.decode("utf-8", "surrogateescape"))
    f = p.parse_file()
    p.assign_comments(f)
    return f


# ---------------------------------------------------------------------------------------------
# Editing support (x/mod read.go addLine, markRemoved, Cleanup)
# ---------------------------------------------------------------------------------------------


def add_line(x: FileSyntax, hint: Line | LineBlock | None, tokens: list[str]) -> Line:
    """Add a line of ``tokens`` next to ``hint`` (or after the last same-verb statement)."""
    verb = tokens[0]
    if hint is None:
        for stmt in reversed(x.stmts):
            if isinstance(stmt, (Line, LineBlock)) and stmt.tokens and stmt.tokens[0] == verb:
                hint = stmt
                break
    if hint is not None:
        for i, stmt in enumerate(x.stmts):
            if stmt is hint:
                assert isinstance(stmt, (Line, LineBlock))
                if not stmt.tokens or stmt.tokens[0] != verb:
                    new = Line(tokens=tokens)
                    x.stmts.insert(i + 1, new)
                    return new
                new = Line(tokens=tokens[1:], in_block=True)
                if isinstance(stmt, Line):
                    # Turn the line into a block holding it and the new line.
                    stmt.in_block = True
                    block = LineBlock(tokens=stmt.tokens[:1], lines=[stmt, new])
                    stmt.tokens = stmt.tokens[1:]
                    x.stmts[i] = block
                else:
                    stmt.lines.append(new)
                return new
            if isinstance(stmt, LineBlock):
                for j, line in enumerate(stmt.lines):
                    if line is hint:
                        if stmt.tokens[0] != verb:
                            new = Line(tokens=tokens)
                            x.stmts.insert(i + 1, new)
                            return new
                        new = Line(tokens=tokens[1:], in_block=True)
                        stmt.lines.insert(j + 1, new)
                        return new
    new = Line(tokens=tokens)
    x.stmts.append(new)
    return new


def mark_removed(line: Line) -> None:
    """Mark ``line`` (and its end-of-line comment) for removal by :func:`cleanup`."""
    line.tokens = []
    line.suffix = []


def cleanup(x: FileSyntax) -> None:
    """Drop removed lines; a block left with one line and no trailing comments becomes a line."""
    out: list[Stmt] = []
    for stmt in x.stmts:
        if isinstance(stmt, Line):
            if not stmt.tokens:
                continue
        elif isinstance(stmt, LineBlock):
            kept = [line for line in stmt.lines if line.tokens]
            if not kept:
                continue
            if len(kept) == 1 and not stmt.rparen.before:
                # Keep the Line object: directive entries point at it.
                line = kept[0]
                line.before = stmt.before + line.before
                line.suffix = line.suffix + stmt.suffix
                line.after = line.after + stmt.after
                line.tokens = stmt.tokens + line.tokens
                line.in_block = False
                line.start = line.end = _NOWHERE
                out.append(line)
                continue
            stmt.lines = kept
        out.append(stmt)
    x.stmts = out
