"""The one table from outcome to HTTP status, headers and plain-text body.

Policy (go.dev/ref/mod "GOPROXY protocol", PROTOCOL.md §2, STYLE.md §4): 404 and 410 both mean
"not here": with ``,`` in GOPROXY the go command then tries the next entry, but any other 4xx or
5xx stops it. So: unknown module or version, or a path that can never be valid → 404; known but
withheld (a retracted version under the ``gone`` policy) → 410; an upstream's veto (403) is
passed on; an upstream fault → 502 (504 for a timeout); the proxy's own cache failing → 507 when
it is full, 503 for any other store failure, 414 for a name its file system cannot hold (never
blamed on the upstream). Error bodies are short
``text/plain; charset=utf-8`` lines, which the go command shows its user after
``server response:`` (it keeps at most 8 lines).

Caching headers separate what can never change (a version's ``.info``, ``.mod``, ``.zip``,
checksum-database tiles: ``immutable``, with an ETag) from answers that move (``list``,
``@latest``, queries: a short ``max-age``).

The core's errors know their domain, not HTTP: :func:`error_status` is the one table from an
exception type to the status that answers it.
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Final

import msgspec

from ..direct.codehost import RepoFileError
from ..direct.coderepo import CodeRepoError
from ..direct.flow import DirectError
from ..direct.vcs import RepoResolveError, UnsupportedVCSError
from ..errors import (
    InvalidPathError,
    InvalidVersionError,
    ProxyError,
    StoreError,
    StoreFullError,
    StoreNameError,
)
from ..modfile.read import ModFileError
from ..sumdb.dirhash import DirHashError
from ..sumdb.note import InvalidKeyError, NoteError
from ..sumdb.tlog import MalformedTilePathError, TlogError
from ..zip import ZipError
from .info import BadUpstreamError
from .proxylist import ConfigError
from .targets import BadRequestError, NotFoundError

__all__ = [
    "CT_HTML",
    "CT_JSON",
    "CT_OCTET",
    "CT_TEXT",
    "CT_ZIP",
    "IMMUTABLE",
    "NO_STORE",
    "REASONS",
    "Reply",
    "error_reply",
    "error_status",
    "max_age",
    "store_error",
    "text_reply",
]

CT_TEXT = "text/plain; charset=utf-8"
CT_HTML = "text/html; charset=utf-8"
CT_JSON = "application/json"
CT_ZIP = "application/zip"
CT_OCTET = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"

# The reason phrase of every status (RFC 9110 §15; the status line's text is advisory, but a
# client or an operator reading a trace should see the standard one, never a made-up word).
REASONS: dict[int, str] = {
    **{int(status): status.phrase for status in HTTPStatus},
    413: "Content Too Large",  # RFC 9110 names; older Pythons carry the RFC 7231 ones
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}

# The go command drops a server response longer than 8 lines of ~81 bytes; keep well inside.
_MAX_MESSAGE = 600


def max_age(seconds: float) -> str:
    """``Cache-Control`` for an answer that may change after ``seconds``."""
    return f"public, max-age={max(0, int(seconds))}"


class BlobBody(msgspec.Struct, frozen=True):
    """A response body that is a stored blob, moved by the caller."""

    key: str
    size: int


class Reply(msgspec.Struct, frozen=True):
    """A decided response: the connection turns it into bytes and effects.

    Attributes:
        status: the HTTP status.
        content_type: the media type.
        body: the body, when it is small and in hand.
        blob: the body, when it is a stored blob.
        cache_control: the ``Cache-Control`` value.
        etag: a strong ETag (with quotes) for content that never changes, or "".
        cache_status: the RFC 9211 ``Cache-Status`` parameters (after our cache's name).
        stale: the answer is older than its TTL because no upstream could be reached.
        allow: for 405, the methods to list in ``Allow``.
        alarm: what an operator must see in the error log (the access record carries it):
            a checksum database that forked; "" for an ordinary answer.
        headers: more header fields (lower-case names), sent as they are: the catalog
            pages' ``content-security-policy``, ``vary`` and the like.
        upstream: the upstream whose answer this reply was made from (a GOPROXY entry's
            URL, or "direct (version control)"), for the access log; "" when none was
            asked or none answered (a cache hit, a not-found everywhere).
        token: the name of the token the request came with ("" anonymous), for the audit
            trail (:mod:`~goproxy_core.proxy.auth`); never the token itself.
        audit: the exchange goes to the audit trail (a module matching ``private``, or a
            request that carried credentials); such an answer is never repeated from the hot
            table.
    """

    status: int
    content_type: str = CT_TEXT
    body: bytes = b""
    blob: BlobBody | None = None
    cache_control: str = NO_STORE
    etag: str = ""
    cache_status: str = ""
    stale: bool = False
    allow: str = ""
    alarm: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    upstream: str = ""
    token: str = ""
    audit: bool = False

    @property
    def length(self) -> int:
        """The body's length in bytes."""
        return self.blob.size if self.blob is not None else len(self.body)


def _one_line(message: str) -> str:
    # Keep the body short and printable: the go command hides a response with control
    # characters altogether, and truncates long ones.
    text = "".join(c if c.isprintable() or c == "\n" else "?" for c in message).strip()
    if len(text.encode()) > _MAX_MESSAGE:
        text = text.encode()[:_MAX_MESSAGE].decode(errors="ignore") + " [truncated]"
    return text


def text_reply(
    status: int, message: str, *, cache_control: str = NO_STORE, cache_status: str = ""
) -> Reply:
    """A ``text/plain`` reply whose body is ``message`` plus a newline."""
    return Reply(
        status=status,
        body=(_one_line(message) + "\n").encode(),
        cache_control=cache_control,
        cache_status=cache_status,
    )


def etag_for_bytes(data: bytes) -> str:
    """A strong ETag for a body in hand."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def etag_for_blob(key: str, size: int, mtime: float) -> str:
    """An ETag for a stored blob whose content digest is not known (no version record).

    Its key, size and time of storing: a file replaced by another of the same size is
    stored at another time, so it never revalidates as unchanged. A blob with a record
    takes its content's ETag (:func:`goproxy_core.proxy.record.etag_for_digest`).
    """
    seed = f"{key}\0{size}\0{mtime!r}".encode()
    return '"' + hashlib.blake2b(seed, digest_size=12).hexdigest() + '"'


# The status for each error type; a subclass not named here takes its nearest base's.
_ERROR_STATUS: Final[dict[type[ProxyError], int]] = {
    # A path or version that can never exist is "not here" for every proxy: 404 lets the go
    # command fall through to the next GOPROXY entry (a 400 would stop it; golang/go#33303).
    InvalidPathError: 404,
    InvalidVersionError: 404,
    NotFoundError: 404,
    MalformedTilePathError: 404,
    BadRequestError: 400,
    # Bytes from an upstream, a checksum database or a module author that break the rules:
    # go.mod files, zips, file names, .info, signed notes and log proofs.
    BadUpstreamError: 502,
    ModFileError: 502,
    ZipError: 502,
    DirHashError: 502,
    NoteError: 502,
    TlogError: 502,
    # Direct mode: the repository has no such module or version, as a proxy's 404 would say.
    RepoResolveError: 404,
    UnsupportedVCSError: 404,
    RepoFileError: 404,
    CodeRepoError: 404,
    DirectError: 404,
    # The proxy's own cache: full (RFC 4918's 507), a name its file system cannot hold, or
    # any other I/O failure (503: the cache, not the upstream, is unavailable).
    StoreFullError: 507,
    StoreNameError: 414,
    StoreError: 503,
    # The server's own configuration (upstream lists, checksum database keys).
    ConfigError: 500,
    InvalidKeyError: 500,
    ProxyError: 500,
}


def error_status(e: ProxyError) -> int:
    """The HTTP status that answers a request ended by ``e`` (the table above)."""
    for cls in type(e).__mro__:
        status = _ERROR_STATUS.get(cls)
        if status is not None:
            return status
    return 500  # pragma: no cover - ProxyError is in the table


def error_reply(e: ProxyError, *, cache_control: str = NO_STORE) -> Reply:
    """The ``text/plain`` reply for a request ended by ``e``: its status and its text."""
    return text_reply(error_status(e), str(e), cache_control=cache_control)


def store_error(message: str, kind: str) -> StoreError:
    """The error for a ``StoreFailure`` of ``kind`` (``full``, ``name`` or ``failed``)."""
    if kind == "full":
        return StoreFullError(message)
    if kind == "name":
        return StoreNameError(message)
    return StoreError(message)
