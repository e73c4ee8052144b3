"""go.mod syntax trees back to text: the canonical format of ``go mod edit -fmt``.

Ported from golang.org/x/mod ``modfile/print.go`` (``Format`` and its printer): tabs indent
block lines, one blank line separates statements, comments keep their places, and trailing
blank lines are dropped.
"""

from __future__ import annotations

from ..strconv import go_trim_space
from .read import Comment, CommentBlock, Comments, FileSyntax, Line, LineBlock, LParen, RParen

__all__ = ["format_syntax"]


class _Printer:
    """Collects the formatted text; pending end-of-line comments wait for the newline."""

    __slots__ = ("comment", "margin", "out")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.comment: list[Comment] = []
        self.margin = 0

    def _tail(self, k: int) -> str:
        """The last ``k`` characters printed (fewer at the start)."""
        acc = ""
        for chunk in reversed(self.out):
            acc = chunk + acc
            if len(acc) >= k:
                break
        return acc[-k:]

    def indent(self) -> int:
        n = 0
        for chunk in reversed(self.out):
            i = chunk.rfind("\n")
            if i >= 0:
                return n + len(chunk) - i - 1
            n += len(chunk)
        return n

    def trim(self) -> None:
        out = self.out
        while out:
            chunk = out[-1]
            t = chunk.rstrip(" \t")
            if t:
                out[-1] = t
                return
            out.pop()

    def newline(self) -> None:
        out = self.out
        if self.comment:
            out.append(" ")
            for i, com in enumerate(self.comment):
                if i > 0:
                    self.trim()
                    out.append("\n" + "\t" * self.margin)
                out.append(go_trim_space(com.token))
            self.comment = []
        self.trim()
        # No blank line at the top of the file or after a blank line.
        if out and self._tail(2) != "\n\n":
            out.append("\n")
        if self.margin:
            out.append("\t" * self.margin)

    def file(self, f: FileSyntax) -> None:
        for com in f.before:
            self.out.append(go_trim_space(com.token))
            self.newline()
        last = len(f.stmts) - 1
        for i, stmt in enumerate(f.stmts):
            self.expr(stmt)
            if not isinstance(stmt, CommentBlock):
                self.newline()
            for com in stmt.after:
                self.out.append(go_trim_space(com.token))
                self.newline()
            if i < last:
                self.newline()

    def expr(self, x: Comments) -> None:
        if x.before:
            # Line comments start at the current margin, on a line of their own.
            self.trim()
            if self.indent() > 0:
                self.out.append("\n")
            if self.margin:
                self.out.append("\t" * self.margin)
            for com in x.before:
                self.out.append(go_trim_space(com.token))
                self.newline()
        if isinstance(x, Line):
            self.tokens(x.tokens)
        elif isinstance(x, LineBlock):
            self.tokens(x.tokens)
            self.out.append(" ")
            self.expr(x.lparen)
            self.margin += 1
            for line in x.lines:
                self.newline()
                self.expr(line)
            self.margin -= 1
            self.newline()
            self.expr(x.rparen)
        elif isinstance(x, LParen):
            self.out.append("(")
        elif isinstance(x, RParen):
            self.out.append(")")
        self.comment.extend(x.suffix)

    def tokens(self, tokens: list[str]) -> None:
        sep = ""
        out = self.out
        for t in tokens:
            if t in (",", ")", "]", "}"):
                sep = ""
            if sep:
                out.append(sep)
            out.append(t)
            sep = "" if t in ("(", "[", "{") else " "


def format_syntax(f: FileSyntax) -> bytes:
    """Format a syntax tree in the standard style (x/mod ``Format``).

    Args:
        f: the syntax tree, as parsed or edited.

    Returns:
        The file's bytes: tabs for block indentation, one blank line between statements,
        no trailing blank lines.
    """
    p = _Printer()
    p.file(f)
    b = "".join(p.out)
    stripped = b.rstrip("\n")
    if len(stripped) < len(b):
        b = stripped + "\n" if stripped else ""
    return b.encode("utf-8", "surrogateescape")
