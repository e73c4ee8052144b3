"""The exception tree of the core, and Go's string quoting for error texts.

Every error the core raises about modules, versions, files or upstream data is a
:class:`ProxyError` carrying a message a person can act on. Errors know their domain, not
HTTP: the protocol layer decides the status each one is answered with
(:func:`goproxy_core.proxy.error_status`, in ``proxy/replies.py``). Texts that Go prints are
reproduced exactly (x/mod ``module/module.go`` ``InvalidPathError``, ``InvalidVersionError``,
``ModuleError``), so users can search for them.

:class:`LocalProtocolError` is apart: it reports a caller misusing the core (a bug in a
frontend), so it is not a :class:`ProxyError` and no catch-all turns it into a reply.
"""

from __future__ import annotations

from .strconv import go_quote

__all__ = [
    "InvalidPathError",
    "InvalidVersionError",
    "LocalProtocolError",
    "ProxyError",
    "StoreError",
    "StoreFullError",
    "StoreNameError",
    "go_quote",
]


class ProxyError(Exception):
    """Base of the core's domain errors: bad paths, versions, files, upstream data.

    Attributes:
        message: the text, as ``str(e)``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LocalProtocolError(Exception):
    """The caller misused the core: a result nobody asked for, or use after close.

    Not a :class:`ProxyError`: it is a bug in the caller, never an answer for a client.
    """


class InvalidPathError(ProxyError):
    """A module, import or file path breaks Go's rules (x/mod ``module.InvalidPathError``).

    Attributes:
        kind: ``"module"``, ``"import"`` or ``"file"``.
        path: the offending path, as given.
        reason: why it is invalid, in Go's words.
    """

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


class StoreError(ProxyError):
    """The proxy's own cache failed to keep or give back a file (an I/O error, not the data's
    fault nor the upstream's); its text names the cache (``cache /var/cache/goproxy: ...``)."""


class StoreFullError(StoreError):
    """The cache has no space left (ENOSPC, or a quota: EDQUOT)."""


class StoreNameError(StoreError):
    """The cache's file system cannot hold the file's name (an element over its name limit)."""
