"""Tree heads and lookup records in their text forms (x/mod ``sumdb/tlog/note.go``).

A signed tree head's text is ``go.sum database tree``, the size and the base64 root hash, one
per line (:func:`format_tree`, :func:`parse_tree`); a ``/lookup/`` answer is the record's id,
its text and the signed tree note (:func:`format_record`, :func:`parse_record`). Error texts
are Go's.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from .tlog import _INT64_MAX, HASH_SIZE, TlogError, _b64decode

__all__ = ["Tree", "format_record", "format_tree", "parse_record", "parse_tree"]

_TREE_PREFIX = b"go.sum database tree\n"
_TREE_SIZE_RE = re.compile(rb"0|[1-9][0-9]{0,18}")
_RECORD_ID_RE = re.compile(rb"[+-]?[0-9]+")
_RECORD_CONTROL_RE = re.compile(rb"[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True, slots=True)
class Tree:
    """A tree head: the log size and its root hash (x/mod ``tlog.Tree``)."""

    N: int
    hash: bytes


def format_tree(tree: Tree) -> bytes:
    """The text of a tree note, ``go.sum database tree\\nN\\nhash\\n`` (x/mod ``FormatTree``)."""
    b64 = binascii.b2a_base64(tree.hash, newline=False)
    return b"%s%d\n%s\n" % (_TREE_PREFIX, tree.N, b64)


def parse_tree(text: bytes) -> Tree:
    """Parse a tree note text; lines after the first three are ignored (x/mod ``ParseTree``).

    Raises:
        TlogError: ``malformed tree note``.
    """
    if not text.startswith(_TREE_PREFIX) or text.count(b"\n") < 3 or len(text) > 1_000_000:
        raise TlogError("malformed tree note")
    lines = text.split(b"\n", 3)
    # Only the canonical decimal form is accepted, so one tree has one text.
    if not _TREE_SIZE_RE.fullmatch(lines[1]) or int(lines[1]) > _INT64_MAX:
        raise TlogError("malformed tree note")
    h = _b64decode(lines[2])
    if h is None or len(h) != HASH_SIZE:
        raise TlogError("malformed tree note")
    return Tree(int(lines[1]), h)


def _is_valid_record_text(text: bytes) -> bool:
    """UTF-8 lines without control characters or blank lines, ending in ``\\n``."""
    if not text.endswith(b"\n") or b"\n\n" in text or _RECORD_CONTROL_RE.search(text):
        return False
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def format_record(id: int, text: bytes) -> bytes:
    """The lookup form of a record: ``id\\ntext\\n`` (x/mod ``FormatRecord``).

    Raises:
        TlogError: ``malformed record data``.
    """
    if not _is_valid_record_text(text):
        raise TlogError("malformed record data")
    return b"%d\n%s\n" % (id, text)


def parse_record(msg: bytes) -> tuple[int, bytes, bytes]:
    """Split a lookup body into record id, record text and the rest (x/mod ``ParseRecord``).

    Returns:
        ``(id, text, rest)``; ``rest`` is normally the signed tree note.

    Raises:
        TlogError: ``malformed record data``.
    """
    i = msg.find(b"\n")
    if i < 0 or not _RECORD_ID_RE.fullmatch(msg, 0, i):
        raise TlogError("malformed record data")
    id = int(msg[:i])
    if not -_INT64_MAX - 1 <= id <= _INT64_MAX:
        raise TlogError("malformed record data")
    msg = msg[i + 1 :]
    j = msg.find(b"\n\n")
    if j < 0:
        raise TlogError("malformed record data")
    text, rest = msg[: j + 1], msg[j + 2 :]
    if not _is_valid_record_text(text):
        raise TlogError("malformed record data")
    return id, text, rest
