"""go-import tags: reading ``<meta name="go-import">`` from a go-get discovery page.

Ported from golang/go ``src/cmd/go/internal/vcs/discovery.go`` (``parseMetaGoImports``,
``attrValue``) on the part of Go's ``encoding/xml`` it runs (``Decoder.RawToken`` with
``Strict = false``, ``AutoClose = xml.HTMLAutoClose``, ``Entity = xml.HTMLEntity``, and
``procInst`` for the ``<?xml?>`` declaration), so a page is read tag for tag, and fails with
the same text, as the go command reads it.
"""

from __future__ import annotations

import bisect
import re
from typing import TypeAlias

import msgspec

from ..strconv import go_quote

__all__ = ["MetaImport", "parse_meta_go_imports", "proc_inst"]


class MetaImport(msgspec.Struct, frozen=True):
    """One ``<meta name="go-import" content="prefix vcs repo-root [subdir]">`` tag."""

    prefix: str
    vcs: str
    repo_root: str
    subdir: str = ""


def _bytes_text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class _XMLError(Exception):
    pass


class _EOF(Exception):
    pass


# Go's Unicode whitespace (unicode.IsSpace), which strings.Fields splits on.
_GO_FIELDS = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# Characters outside XML's Char production.
_ILLEGAL_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACE_RUN = re.compile(rb"[ \r\n\t]*")
_NAME_RUN = re.compile(rb"[A-Za-z0-9_:.\-\x80-\xff]+")
_UNQUOTED_RUN = re.compile(rb"[A-Za-z0-9_:\-]*")
_TEXT_RUNS = {
    -1: re.compile(rb"[^<&\r>]+"),
    0x22: re.compile(rb'[^<&\r>"]+'),
    0x27: re.compile(rb"[^<&\r>']+"),
}
_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"apos": "'", b"quot": '"'}
_ASCII_NAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:")
_ASCII_NAME_NEXT = _ASCII_NAME_FIRST | frozenset("0123456789.-")
# Beyond ASCII, Go's encoding/xml takes its name characters from XML 1.0 Appendix B (Unicode
# 2.0, Basic Multilingual Plane only): Letter (BaseChar | Ideographic) may start a name, and
# CombiningChar, Digit and Extender may follow. The same classes, as hexadecimal code point
# ranges (non-ASCII part only):
_LETTER_RANGES = (
    "C0-D6 D8-F6 F8-131 134-13E 141-148 14A-17E 180-1C3 1CD-1F0 1F4-1F5 1FA-217 250-2A8 "
    "2BB-2C1 386 388-38A 38C 38E-3A1 3A3-3CE 3D0-3D6 3DA 3DC 3DE 3E0 3E2-3F3 401-40C 40E-44F "
    "451-45C 45E-481 490-4C4 4C7-4C8 4CB-4CC 4D0-4EB 4EE-4F5 4F8-4F9 531-556 559 561-586 "
    "5D0-5EA 5F0-5F2 621-63A 641-64A 671-6B7 6BA-6BE 6C0-6CE 6D0-6D3 6D5 6E5-6E6 905-939 93D "
    "958-961 985-98C 98F-990 993-9A8 9AA-9B0 9B2 9B6-9B9 9DC-9DD 9DF-9E1 9F0-9F1 A05-A0A "
    "A0F-A10 A13-A28 A2A-A30 A32-A33 A35-A36 A38-A39 A59-A5C A5E A72-A74 A85-A8B A8D A8F-A91 "
    "A93-AA8 AAA-AB0 AB2-AB3 AB5-AB9 ABD AE0 B05-B0C B0F-B10 B13-B28 B2A-B30 B32-B33 B36-B39 "
    "B3D B5C-B5D B5F-B61 B85-B8A B8E-B90 B92-B95 B99-B9A B9C B9E-B9F BA3-BA4 BA8-BAA BAE-BB5 "
    "BB7-BB9 C05-C0C C0E-C10 C12-C28 C2A-C33 C35-C39 C60-C61 C85-C8C C8E-C90 C92-CA8 CAA-CB3 "
    "CB5-CB9 CDE CE0-CE1 D05-D0C D0E-D10 D12-D28 D2A-D39 D60-D61 E01-E2E E30 E32-E33 E40-E45 "
    "E81-E82 E84 E87-E88 E8A E8D E94-E97 E99-E9F EA1-EA3 EA5 EA7 EAA-EAB EAD-EAE EB0 EB2-EB3 "
    "EBD EC0-EC4 F40-F47 F49-F69 10A0-10C5 10D0-10F6 1100 1102-1103 1105-1107 1109 110B-110C "
    "110E-1112 113C 113E 1140 114C 114E 1150 1154-1155 1159 115F-1161 1163 1165 1167 1169 "
    "116D-116E 1172-1173 1175 119E 11A8 11AB 11AE-11AF 11B7-11B8 11BA 11BC-11C2 11EB 11F0 "
    "11F9 1E00-1E9B 1EA0-1EF9 1F00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D 1F50-1F57 1F59 1F5B "
    "1F5D 1F5F-1F7D 1F80-1FB4 1FB6-1FBC 1FBE 1FC2-1FC4 1FC6-1FCC 1FD0-1FD3 1FD6-1FDB "
    "1FE0-1FEC 1FF2-1FF4 1FF6-1FFC 2126 212A-212B 212E 2180-2182 3007 3021-3029 3041-3094 "
    "30A1-30FA 3105-312C 4E00-9FA5 AC00-D7A3 "
)
_NAME_EXTRA_RANGES = (
    "B7 2D0-2D1 300-345 360-361 387 483-486 591-5A1 5A3-5B9 5BB-5BD 5BF 5C1-5C2 5C4 640 "
    "64B-652 660-669 670 6D6-6E4 6E7-6E8 6EA-6ED 6F0-6F9 901-903 93C 93E-94D 951-954 962-963 "
    "966-96F 981-983 9BC 9BE-9C4 9C7-9C8 9CB-9CD 9D7 9E2-9E3 9E6-9EF A02 A3C A3E-A42 A47-A48 "
    "A4B-A4D A66-A71 A81-A83 ABC ABE-AC5 AC7-AC9 ACB-ACD AE6-AEF B01-B03 B3C B3E-B43 B47-B48 "
    "B4B-B4D B56-B57 B66-B6F B82-B83 BBE-BC2 BC6-BC8 BCA-BCD BD7 BE7-BEF C01-C03 C3E-C44 "
    "C46-C48 C4A-C4D C55-C56 C66-C6F C82-C83 CBE-CC4 CC6-CC8 CCA-CCD CD5-CD6 CE6-CEF D02-D03 "
    "D3E-D43 D46-D48 D4A-D4D D57 D66-D6F E31 E34-E3A E46-E4E E50-E59 EB1 EB4-EB9 EBB-EBC EC6 "
    "EC8-ECD ED0-ED9 F18-F19 F20-F29 F35 F37 F39 F3E-F3F F71-F84 F86-F8B F90-F95 F97 F99-FAD "
    "FB1-FB7 FB9 20D0-20DC 20E1 3005 302A-302F 3031-3035 3099-309A 309D-309E 30FC-30FE "
)


def _parse_ranges(spec: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    starts: list[int] = []
    ends: list[int] = []
    for item in spec.split():
        lo, _, hi = item.partition("-")
        starts.append(int(lo, 16))
        ends.append(int(hi or lo, 16))
    return tuple(starts), tuple(ends)


_LETTERS = _parse_ranges(_LETTER_RANGES)
_NAME_EXTRAS = _parse_ranges(_NAME_EXTRA_RANGES)


def _in_ranges(ranges: tuple[tuple[int, ...], tuple[int, ...]], cp: int) -> bool:
    i = bisect.bisect_right(ranges[0], cp) - 1
    return i >= 0 and cp <= ranges[1][i]


def _is_name_char(ch: str, first: bool) -> bool:
    """Whether ``ch`` may start (or continue) an XML name, by Go's encoding/xml tables."""
    if ch < "\x80":
        return ch in (_ASCII_NAME_FIRST if first else _ASCII_NAME_NEXT)
    cp = ord(ch)
    return _in_ranges(_LETTERS, cp) or (not first and _in_ranges(_NAME_EXTRAS, cp))


def _is_name(raw: bytes) -> bool:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(s) and _is_name_char(s[0], True) and all(_is_name_char(c, False) for c in s[1:])


def proc_inst(param: bytes, s: bytes) -> bytes:
    """The value of ``param="..."`` in a processing instruction (Go's encoding/xml procInst)."""
    param += b"="
    i = 0
    sep = 0
    while i < len(s):
        sub = s[i:]
        k = sub.find(param)
        if k < 0 or len(param) + k >= len(sub):
            return b""
        i += len(param) + k + 1
        c = sub[len(param) + k]
        if c in b"'\"":
            sep = c
            break
    if not sep:
        return b""
    j = s.find(bytes([sep]), i)
    return b"" if j < 0 else s[i:j]


_Token: TypeAlias = tuple[str, str, list[tuple[str, str]]]


class _Decoder:
    """The part of Go's non-strict ``xml.Decoder.RawToken`` that discovery depends on.

    Tokens are ``("start", local name, [(attr local name, value)])``, ``("end", local name,
    [])`` or ``("other", "", [])``. Errors carry Go's text, line number included.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._line = 1
        self._close: str | None = None

    # byte access, as Go's getc / mustgetc / ungetc

    def _getc(self) -> int:
        if self._pos >= len(self._data):
            return -1
        b = self._data[self._pos]
        self._pos += 1
        if b == 0x0A:
            self._line += 1
        return b

    def _mustgetc(self) -> int:
        b = self._getc()
        if b < 0:
            raise self._syntax("unexpected EOF")
        return b

    def _ungetc(self, b: int) -> None:
        self._pos -= 1
        if b == 0x0A:
            self._line -= 1

    def _skip_to(self, end: int) -> None:
        self._line += self._data.count(b"\n", self._pos, end)
        self._pos = end

    def _syntax(self, msg: str) -> _XMLError:
        return _XMLError(f"XML syntax error on line {self._line}: {msg}")

    def _space(self) -> None:
        m = _SPACE_RUN.match(self._data, self._pos)
        assert m is not None  # the pattern matches the empty string
        self._skip_to(m.end())

    def _read_name(self, buf: bytearray) -> bool:
        m = _NAME_RUN.match(self._data, self._pos)
        if m is not None:
            buf += m.group()
            self._pos = m.end()
        if self._pos >= len(self._data):
            raise self._syntax("unexpected EOF")
        return m is not None

    def _name(self) -> str | None:
        buf = bytearray()
        if not self._read_name(buf):
            return None
        raw = bytes(buf)
        if not _is_name(raw):
            raise self._syntax("invalid XML name: " + raw.decode("utf-8", "replace"))
        return raw.decode("utf-8")

    def _nsname(self) -> str | None:
        """The local part of a name, or None for no name (or one with two colons)."""
        s = self._name()
        if s is None or s.count(":") > 1:
            return None
        space, colon, local = s.partition(":")
        return local if colon and space and local else s

    def _checked(self, data: bytes) -> str:
        try:
            text = data.decode("utf-8")
            bad = False
        except UnicodeDecodeError as exc:
            text = data[: exc.start].decode("utf-8")
            bad = True
        m = _ILLEGAL_CHAR.search(text)
        if m is not None:
            raise self._syntax(f"illegal character code U+{ord(m.group()):04X}")
        if bad:
            raise self._syntax("invalid UTF-8")
        return text

    def _entity(self, buf: bytearray) -> bool:
        """Decode the entity after ``&`` in place; False (text kept) if it is none."""
        before = len(buf)
        buf.append(0x26)
        b = self._mustgetc()
        text = None
        if b == 0x23:  # '#'
            buf.append(b)
            b = self._mustgetc()
            base = 10
            if b == 0x78:  # 'x'
                base = 16
                buf.append(b)
                b = self._mustgetc()
            start = len(buf)
            while 0x30 <= b <= 0x39 or (base == 16 and (0x61 <= b <= 0x66 or 0x41 <= b <= 0x46)):
                buf.append(b)
                b = self._mustgetc()
            if b != 0x3B:
                self._ungetc(b)
            else:
                digits = bytes(buf[start:])
                buf.append(b)
                if digits:
                    n = int(digits, base)
                    if n <= 0x10FFFF:
                        text = "\ufffd" if 0xD800 <= n <= 0xDFFF else chr(n)
        else:
            self._ungetc(b)
            self._read_name(buf)
            b = self._mustgetc()
            if b != 0x3B:
                self._ungetc(b)
            else:
                name = bytes(buf[before + 1 :])
                buf.append(b)
                # (A name can be one only if it is in this table: no need for _is_name.)
                text = _ENTITIES.get(name)
        if text is None:
            return False  # not strict: keep the text as written
        del buf[before:]
        buf += text.encode("utf-8")
        return True

    def _text(self, quote: int, cdata: bool) -> str:
        """Character data up to ``<`` (or the closing quote, or ``]]>``), decoded."""
        data = self._data
        run = _TEXT_RUNS[quote]
        buf = bytearray()
        b0 = b1 = 0
        while True:
            if b1 != 0x0D:
                m = run.match(data, self._pos)
                if m is not None:
                    chunk = m.group()
                    buf += chunk
                    self._skip_to(m.end())
                    b0, b1 = (chunk[-2], chunk[-1]) if len(chunk) > 1 else (b1, chunk[0])
            b = self._getc()
            if b < 0:
                if cdata:
                    raise self._syntax("unexpected EOF in CDATA section")
                break
            if quote < 0 and b0 == b1 == 0x5D and b == 0x3E:  # "]]>"
                if cdata:
                    del buf[-2:]
                    break
                raise self._syntax("unescaped ]]> not in CDATA section")
            if b == 0x3C and not cdata:
                if quote >= 0:
                    raise self._syntax("unescaped < inside quoted string")
                self._ungetc(b)
                break
            if b == quote:
                break
            if b == 0x26 and not cdata:
                self._entity(buf)
                b0 = b1 = 0
                continue
            if b == 0x0D:
                buf.append(0x0A)
            elif b1 != 0x0D or b != 0x0A:
                buf.append(b)
            b0, b1 = b1, b
        return self._checked(bytes(buf))

    def _attr_value(self) -> str:
        b = self._mustgetc()
        if b in (0x22, 0x27):
            return self._text(b, False)
        # Not strict: an unquoted value is a run of [A-Za-z0-9_:-].
        self._ungetc(b)
        m = _UNQUOTED_RUN.match(self._data, self._pos)
        assert m is not None  # the pattern matches the empty string
        self._pos = m.end()
        if self._pos >= len(self._data):
            raise self._syntax("unexpected EOF")
        return m.group().decode("ascii")

    def token(self) -> _Token:
        """The next token; raises :class:`_EOF` at the end, :class:`_XMLError` on an error."""
        if self._close is not None:
            # The second half of a self-closing <name/>.
            closed, self._close = self._close, None
            return ("end", closed, [])
        b = self._getc()
        if b < 0:
            raise _EOF
        if b != 0x3C:
            self._ungetc(b)
            self._text(-1, False)
            return ("other", "", [])
        b = self._mustgetc()
        if b == 0x2F:  # "</"
            name = self._nsname()
            if name is None:
                raise self._syntax("expected element name after </")
            self._space()
            if self._mustgetc() != 0x3E:
                raise self._syntax(f"invalid characters between </{name} and >")
            return ("end", name, [])
        if b == 0x3F:  # "<?"
            self._processing_instruction()
            return ("other", "", [])
        if b == 0x21:  # "<!"
            self._markup_declaration()
            return ("other", "", [])
        self._ungetc(b)
        name = self._nsname()
        if name is None:
            raise self._syntax("expected element name after <")
        attrs: list[tuple[str, str]] = []
        while True:
            self._space()
            b = self._mustgetc()
            if b == 0x2F:
                if self._mustgetc() != 0x3E:
                    raise self._syntax("expected /> in element")
                self._close = name
                break
            if b == 0x3E:
                break
            self._ungetc(b)
            attr = self._nsname()
            if attr is None:
                raise self._syntax("expected attribute name in element")
            self._space()
            b = self._mustgetc()
            if b != 0x3D:  # not strict: a lone name is its own value
                self._ungetc(b)
                attrs.append((attr, attr))
                continue
            self._space()
            attrs.append((attr, self._attr_value()))
        return ("start", name, attrs)

    def _processing_instruction(self) -> None:
        target = self._name()
        if target is None:
            raise self._syntax("expected target name after <?")
        self._space()
        end = self._data.find(b"?>", self._pos)
        if end < 0:
            self._skip_to(len(self._data))
            raise self._syntax("unexpected EOF")
        content = self._data[self._pos : end]
        self._skip_to(end + 2)
        if target != "xml":
            return
        version = proc_inst(b"version", content)
        if version not in (b"", b"1.0"):
            raise _XMLError(
                f"xml: unsupported version {go_quote(_bytes_text(version))}; "
                "only version 1.0 is supported"
            )
        enc = _bytes_text(proc_inst(b"encoding", content))
        # Discovery reads UTF-8 (and ASCII, taken as UTF-8) only.
        if enc and enc.lower() not in ("utf-8", "ascii"):
            raise _XMLError(
                f"xml: opening charset {go_quote(enc)}: "
                f"can't decode XML document using charset {go_quote(enc)}"
            )

    def _markup_declaration(self) -> None:
        b = self._mustgetc()
        if b == 0x2D:  # "<!-"
            if self._mustgetc() != 0x2D:
                raise self._syntax("invalid sequence <!- not part of <!--")
            dashes = self._data.find(b"--", self._pos)
            if dashes < 0 or dashes + 2 >= len(self._data):
                self._skip_to(len(self._data))
                raise self._syntax("unexpected EOF")
            self._skip_to(dashes + 3)
            if self._data[dashes + 2] != 0x3E:
                raise self._syntax('invalid sequence "--" not allowed in comments')
            return
        if b == 0x5B:  # "<!["
            for want in b"CDATA[":
                if self._mustgetc() != want:
                    raise self._syntax("invalid <![ sequence")
            self._text(-1, True)
            return
        # A directive (<!DOCTYPE ...>): skip to the matching '>'; quoted '>' and '>' inside
        # comments do not count, nested '<' ... '>' pairs do.
        inquote = 0
        depth = 0
        while True:
            b = self._mustgetc()
            if inquote == 0 and b == 0x3E and depth == 0:
                return
            while True:
                if b == inquote:
                    inquote = 0
                elif inquote:
                    pass
                elif b in (0x22, 0x27):
                    inquote = b
                elif b == 0x3E:
                    depth -= 1
                elif b == 0x3C:
                    b = self._comment_in_directive()
                    if b >= 0:
                        depth += 1
                        continue  # examine the byte that broke "<!--"
                break

    def _comment_in_directive(self) -> int:
        """After ``<`` in a directive: skip a ``<!-- -->`` comment and return -1, or return
        the first byte that does not continue ``<!--``."""
        for want in b"!--":
            b = self._mustgetc()
            if b != want:
                return b
        end = self._data.find(b"-->", self._pos)
        if end < 0:
            self._skip_to(len(self._data))
            raise self._syntax("unexpected EOF")
        self._skip_to(end + 3)
        return -1


def parse_meta_go_imports(
    body: bytes, *, prefer_mod: bool = True
) -> tuple[tuple[MetaImport, ...], str]:
    """The go-import tags of an HTML page, as the go command reads them.

    Reading stops at ``</head>`` or ``<body>`` and at the first error; it is tolerant HTML
    rather than XML (unquoted attributes, attributes without values, unknown entities), but
    other markup errors end it. Tags whose content has other than 3 or 4 fields are ignored.

    Args:
        body: the page.
        prefer_mod: module mode (the proxy's): ``mod`` tags come first and hide the VCS tags
            with the same prefix; otherwise ``mod`` tags are dropped.

    Returns:
        The tags, and an error text: non-empty only when reading failed before any tag was
        found (otherwise the tags found so far count).
    """
    decoder = _Decoder(body)
    imports: list[MetaImport] = []
    while True:
        try:
            kind, name, attrs = decoder.token()
        except _EOF:
            break
        except _XMLError as exc:
            if not imports:
                return (), str(exc)
            break
        lower = name.lower()
        if (kind == "start" and lower == "body") or (kind == "end" and lower == "head"):
            break
        if kind != "start" or lower != "meta" or _attr(attrs, "name") != "go-import":
            continue
        fields = [f for f in _GO_FIELDS.split(_attr(attrs, "content")) if f]
        if len(fields) in (3, 4):
            imports.append(MetaImport(*fields))
    mods = [m for m in imports if m.vcs == "mod"] if prefer_mod else []
    have = {m.prefix for m in mods}
    return (*mods, *(m for m in imports if m.vcs != "mod" and m.prefix not in have)), ""


def _attr(attrs: list[tuple[str, str]], name: str) -> str:
    for key, value in attrs:
        if key.lower() == name:
            return value
    return ""
