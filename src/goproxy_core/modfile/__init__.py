"""go.mod files as the go command reads, edits and prints them (golang.org/x/mod ``modfile``).

:func:`parse_gomod` gives a :class:`GoMod` (module path, go version, requirements,
exclusions, replacements, retractions, deprecation); :func:`format_gomod` prints one back.
:func:`legacy_go_mod` is the go.mod served for a version that has none, and
:func:`short_message` is how the go command shows a rationale or deprecation;
:func:`read_gosum` reads a go.sum as the go command does. The syntax
layer (:func:`parse_syntax`, :func:`format_syntax`, the tree classes) is here for tools that
edit files while keeping comments. Errors are :class:`ModFileError` (one ``file:line:col``
entry per problem).
"""

from __future__ import annotations

from .gosum import EMPTY_GOMOD_HASH, GoSumError, GoSumLine, read_gosum
from .print import format_syntax
from .read import (
    Comment,
    CommentBlock,
    Comments,
    FileSyntax,
    Line,
    LineBlock,
    LParen,
    ModFileError,
    ModFileErrorEntry,
    ModFileSyntaxError,
    Position,
    RParen,
    add_line,
    parse_syntax,
)
from .rule import (
    Exclude,
    Go,
    Godebug,
    GoMod,
    Ignore,
    ModFileDirectiveError,
    Module,
    Replace,
    Require,
    Retract,
    Tool,
    Toolchain,
    add_exclude,
    add_retract,
    auto_quote,
    drop_retract,
    format_gomod,
    go_version,
    is_directory_path,
    legacy_go_mod,
    module_path,
    must_quote,
    parse_gomod,
    short_message,
)

__all__ = [
    "EMPTY_GOMOD_HASH",
    "Comment",
    "CommentBlock",
    "Comments",
    "Exclude",
    "FileSyntax",
    "Go",
    "GoMod",
    "GoSumError",
    "GoSumLine",
    "Godebug",
    "Ignore",
    "LParen",
    "Line",
    "LineBlock",
    "ModFileDirectiveError",
    "ModFileError",
    "ModFileErrorEntry",
    "ModFileSyntaxError",
    "Module",
    "Position",
    "RParen",
    "Replace",
    "Require",
    "Retract",
    "Tool",
    "Toolchain",
    "add_exclude",
    "add_line",
    "add_retract",
    "auto_quote",
    "drop_retract",
    "format_gomod",
    "format_syntax",
    "go_version",
    "is_directory_path",
    "legacy_go_mod",
    "module_path",
    "must_quote",
    "parse_gomod",
    "parse_syntax",
    "read_gosum",
    "short_message",
]
