"""Go's string quoting and the Unicode classes it rests on (Go's ``strconv`` and ``unicode``).

Error texts quote paths and versions as Go's ``strconv.Quote`` does, and go.mod strings are
read with ``strconv.Unquote``; these ports keep both byte-for-byte. Ported from Go's
``strconv/quote.go`` (``Quote``, ``QuoteRune``, ``Unquote``, ``IsPrint``),
``unicode/graphic.go`` (``IsPrint``, ``IsGraphic``, ``IsSpace``) and ``strings.TrimSpace``.

Text model: bytes that were not valid UTF-8 are carried as ``surrogateescape`` code points
(U+DC80..U+DCFF), one per byte, as Go's decoder yields one ``RuneError`` per invalid byte.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = [
    "char_category_is_graphic",
    "go_is_print",
    "go_quote",
    "go_trim_space",
    "go_unquote",
    "is_go_space",
    "quote_rune",
]

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(s: str) -> str:
    """Quote ``s`` the way Go's ``strconv.Quote`` does.

    Bytes that were not valid UTF-8 are expected as ``surrogateescape`` code points
    (U+DC80..U+DCFF) and come out as ``\\xNN``, as Go prints them.
    """
    out = ['"']
    for ch in s:
        esc = _SIMPLE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif cp < 0x20 or cp == 0x7F:
            out.append(f"\\x{cp:02x}")
        elif 0xD800 <= cp <= 0xDFFF:
            out.append("\\ufffd")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


# Go's unicode.IsSpace, the set strings.TrimSpace strips.
_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def go_trim_space(s: str) -> str:
    """Go's ``strings.TrimSpace``: strip Unicode white space (not Python's wider set)."""
    return s.strip(_GO_SPACE)


def _is_escaped_byte(ch: str) -> bool:
    return "\udc80" <= ch <= "\udcff"


def go_is_print(ch: str) -> bool:
    """Go's ``unicode.IsPrint`` (L, M, N, P, S and ASCII space); invalid bytes count as printable.

    Python's ``isprintable`` excludes exactly the C and Z categories except the ASCII space, the
    same split; an escaped invalid byte stands for Go's printable ``RuneError``.
    """
    return ch.isprintable() or _is_escaped_byte(ch)


def char_category_is_graphic(ch: str) -> bool:
    """Go's ``unicode.IsGraphic``: printable, or a space separator (Zs)."""
    return go_is_print(ch) or unicodedata.category(ch) == "Zs"


def is_go_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace``."""
    return ch in _GO_SPACE


_SIMPLE_UNESCAPES: Final = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_RUNE_ERROR_UTF8: Final = "\ufffd".encode()


def go_unquote(s: str) -> str:
    """Go's ``strconv.Unquote`` for double-quoted and backquoted literals.

    Raises:
        ValueError: ``invalid syntax`` (Go's ``strconv.ErrSyntax``).
    """
    n = len(s)
    if n < 2 or s[0] != s[-1]:
        raise ValueError("invalid syntax")
    quote = s[0]
    body = s[1:-1]
    if quote == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body
    if quote != '"' or "\n" in body:
        raise ValueError("invalid syntax")
    if "\\" not in body and '"' not in body:
        return body
    out = bytearray()
    i = 0
    m = len(body)
    while i < m:
        c = body[i]
        if c == '"':
            raise ValueError("invalid syntax")
        if c != "\\":
            # A raw invalid byte goes through Go's DecodeRune as RuneError and is re-encoded.
            out += _RUNE_ERROR_UTF8 if _is_escaped_byte(c) else c.encode()
            i += 1
            continue
        if i + 1 >= m:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        i += 2
        simple = _SIMPLE_UNESCAPES.get(e)
        if simple is not None:
            out.append(simple)
        elif e == '"':
            out.append(34)
        elif e in "xuU":
            width = 2 if e == "x" else 4 if e == "u" else 8
            digits = body[i : i + width]
            if len(digits) < width or not all(d in _HEX_DIGITS for d in digits):
                raise ValueError("invalid syntax")
            i += width
            v = int(digits, 16)
            if e == "x":
                out.append(v)
            elif v > 0x10FFFF:
                raise ValueError("invalid syntax")
            elif 0xD800 <= v <= 0xDFFF:
                out += _RUNE_ERROR_UTF8  # Go's EncodeRune writes RuneError for surrogates
            else:
                out += chr(v).encode()
        elif "0" <= e <= "7":
            digits = body[i : i + 2]
            if len(digits) < 2 or not all("0" <= d <= "7" for d in digits):
                raise ValueError("invalid syntax")
            i += 2
            v = int(e + digits, 8)
            if v > 255:
                raise ValueError("invalid syntax")
            out.append(v)
        else:
            raise ValueError("invalid syntax")
    return out.decode("utf-8", "surrogateescape")


def quote_rune(ch: str) -> str:
    """Go's ``%#q`` of a rune that is not printable (``strconv.QuoteRune``)."""
    cp = ord(ch)
    simple = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}.get(cp)
    if simple is not None:
        body = simple
    elif cp < 0x20 or cp == 0x7F:
        body = f"\\x{cp:02x}"
    elif cp < 0x10000:
        body = f"\\u{cp:04x}"
    else:
        body = f"\\U{cp:08x}"
    return f"'{body}'"
