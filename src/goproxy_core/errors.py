"""The exception tree of the core, and Go's string quoting for error texts.

Every error the core raises is a :class:`ProxyError`. Each knows the HTTP status it maps to
(see ``_status.py`` for the policy) and carries a message a person can act on. Texts that Go
prints are reproduced exactly (x/mod ``module/module.go`` ``InvalidPathError``,
``InvalidVersionError``, ``ModuleError``), so users can search for them.
"""

from __future__ import annotations

__all__ = [
    "InvalidPathError",
    "InvalidVersionError",
    "LocalProtocolError",
    "ProxyError",
    "RemoteProtocolError",
    "go_quote",
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


class ProxyError(Exception):
    """Base of every error the core raises.

    Attributes:
        status: the HTTP status a server answers with when this error ends a request.
    """

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LocalProtocolError(ProxyError):
    """The caller misused the core: a result nobody asked for, or use after close."""

    status = 500


class RemoteProtocolError(ProxyError):
    """The client sent something that is not acceptable HTTP.

    Attributes:
        status_hint: the 4xx status to answer with (h11's ``error_status_hint``).
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint
        self.status = status_hint


class InvalidPathError(ProxyError):
    """A module, import or file path breaks Go's rules (x/mod ``module.InvalidPathError``).

    Attributes:
        kind: ``"module"``, ``"import"`` or ``"file"``.
        path: the offending path, as given.
        reason: why it is invalid, in Go's words.
    """

    # A path that can never exist is "not here" for every proxy: 404 lets the go command
    # fall through to the next GOPROXY entry (a 400 would stop it; golang/go#33303).
    status = 404

    def __init__(self, kind: str, path: str, reason: str) -> None:
        self.kind = kind
        self.path = path
        self.reason = reason
        super().__init__(f"malformed {kind} path {go_quote(path)}: {reason}")


class InvalidVersionError(ProxyError):
    """A version is not valid, or not valid for the module path it is used with.

    The message follows x/mod: ``version "v1" invalid: reason`` on its own, or
    ``path@version: invalid version: reason`` when the module path is known
    (``module.ModuleError`` wrapping ``module.InvalidVersionError``).

    Attributes:
        version: the offending version, as given.
        reason: why it is invalid, in Go's words.
        path: the module path it was checked against, if any.
        pseudo: whether the version is a pseudo-version (Go then says "pseudo-version").
    """

    status = 404

    def __init__(
        self, version: str, reason: str, *, path: str | None = None, pseudo: bool = False
    ) -> None:
        self.version = version
        self.reason = reason
        self.path = path
        self.pseudo = pseudo
        noun = "pseudo-version" if pseudo else "version"
        if path is None:
            message = f"{noun} {go_quote(version)} invalid: {reason}"
        else:
            message = f"{path}@{version}: invalid {noun}: {reason}"
        super().__init__(message)
