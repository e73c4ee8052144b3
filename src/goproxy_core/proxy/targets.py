"""Request targets: from the bytes of an HTTP request target to a typed request, or why not.

URL space (PROTOCOL.md §1, go.dev/ref/mod "GOPROXY protocol"), relative to a configurable base
path: ``$module/@v/list``, ``$module/@v/$version.{info,mod,zip}``, ``$module/@latest``,
``sumdb/$name/{supported,latest,lookup/…,tile/…}``, plus ``healthz``, ``readyz``, the index
page, the catalog (``catalog?q=&n=&token=``, JSON) and a page per module
(``-/module/$module``). The target is percent-decoded strictly (``+`` stays ``+``), split at
the first ``/@v/`` or a trailing ``/@latest`` (module paths cannot contain ``@``), then
case-decoded (``!x`` → ``X``) and validated with x/mod's rules, so the store only ever sees
valid, escaped names.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import re
from typing import TypeAlias

import msgspec

from ..errors import InvalidVersionError, ProxyError, go_quote
from ..module.escape import escape_path, escape_version, unescape_path, unescape_version
from ..module.paths import canonical_version, check

__all__ = [
    "CATALOG_MARKS_MAX",
    "CATALOG_PAGE_MAX",
    "ENDPOINT_KINDS",
    "MODULE_PAGE",
    "BadRequestError",
    "CatalogReq",
    "Endpoint",
    "FileKind",
    "HealthReq",
    "IndexReq",
    "LatestReq",
    "ListReq",
    "ModulePageReq",
    "NotFoundError",
    "Request",
    "SumdbKind",
    "SumdbReq",
    "VersionReq",
    "decode_page_token",
    "encode_page_token",
    "endpoint_of",
    "parse_target",
]


class BadRequestError(ProxyError):
    """The request target is not well-formed HTTP (bad percent-encoding and the like)."""


class NotFoundError(ProxyError):
    """The request target names nothing this proxy serves."""


class FileKind(enum.Enum):
    """The three per-version files of the protocol."""

    INFO = "info"
    MOD = "mod"
    ZIP = "zip"


class ListReq(msgspec.Struct, frozen=True):
    """``$module/@v/list``."""

    module: str
    escaped: str


class VersionReq(msgspec.Struct, frozen=True):
    """``$module/@v/$version.$ext``.

    Attributes:
        module: the module path (unescaped).
        version: the version or query as the client wrote it (unescaped).
        kind: info, mod or zip.
        escaped: the escaped module path.
        escaped_version: the escaped version.
        canonical: ``version`` is canonical (for ``.info``, also valid for ``module``): its
            answer can never change. Otherwise (only for ``.info``) it is a query such as a
            branch name, ``v1.2`` or a commit hash, whose answer may change. A ``.mod`` or
            ``.zip`` of a canonical version the module path does not allow (v2.0.0 of a
            path without /v2) is still asked for as the go command asks for it (cmd/go
            modfetch/proxy.go ``GoMod``, ``Zip`` only escape the version).
    """

    module: str
    version: str
    kind: FileKind
    escaped: str
    escaped_version: str
    canonical: bool


class LatestReq(msgspec.Struct, frozen=True):
    """``$module/@latest``."""

    module: str
    escaped: str


class SumdbKind(enum.Enum):
    """The checksum database endpoints a proxy relays (PROTOCOL.md §16)."""

    SUPPORTED = "supported"
    LATEST = "latest"
    LOOKUP = "lookup"
    TILE = "tile"


class SumdbReq(msgspec.Struct, frozen=True):
    """``sumdb/$name/...``.

    Attributes:
        name: the checksum database name (``host[/path]``).
        kind: which endpoint.
        path: the part after the name, as it goes to the database (``lookup/m@v``,
            ``tile/8/0/x001/234.p/5``, ``latest``, ``supported``).
        module: for ``lookup``, the unescaped module path (so private modules can be refused).
        immutable: a full or partial tile, whose bytes never change, or a lookup: its record
            lines never change, and the signed tree in it stays good (see ``engine.sumdb``).
    """

    name: str
    kind: SumdbKind
    path: str
    module: str = ""
    immutable: bool = False


class HealthReq(msgspec.Struct, frozen=True):
    """``healthz`` (the process answers) or ``readyz`` (the store takes writes)."""

    ready: bool


class IndexReq(msgspec.Struct, frozen=True):
    """The base path itself: a short page saying how to use the proxy."""


MODULE_PAGE = "-/module/"
"""Where a module's catalog page lives, below the base path: ``-/module/<escaped path>``.

No module path and no GOPROXY path starts with ``-/``: a module path's first element can
never begin with a dash (x/mod module.CheckPath, and even CheckImportPath: "leading dash"),
and every other proxy path starts with a module path or ``sumdb/``. So this page can never
shadow a module, whatever the module is called (``example.com/-/module/x`` is still a
module: only the path's first element is looked at)."""

CATALOG_PAGE_MAX = 1000
"""The most module versions one ``/catalog`` page lists (and its default, as Athens's)."""

CATALOG_MARKS_MAX = 50
"""With ``marks=1``, the modules of a ``/catalog`` page whose go.mod is read, at most."""

_MAX_SEARCH = 256


class CatalogReq(msgspec.Struct, frozen=True):
    """``catalog?q=…&n=…&token=…``: the cached module versions as JSON, a page at a time.

    Attributes:
        search: the ``q`` parameter: only module paths containing it (case-insensitive).
        limit: the ``n`` (or Athens's ``pagesize``) parameter: versions per page.
        after: the ``token`` parameter decoded: the page starts after this (module, version).
        marks: the ``marks=1`` parameter: each entry also says whether its version is
            retracted and its module deprecated (go.mod reads: for the first
            ``CATALOG_MARKS_MAX`` modules of the page only).
    """

    search: str = ""
    limit: int = CATALOG_PAGE_MAX
    after: tuple[str, str] | None = None
    marks: bool = False


class ModulePageReq(msgspec.Struct, frozen=True):
    """``-/module/$module``: a module's catalog page (HTML)."""

    module: str
    escaped: str


Request: TypeAlias = (
    ListReq | VersionReq | LatestReq | SumdbReq | HealthReq | IndexReq | CatalogReq | ModulePageReq
)

_HEX = b"0123456789abcdefABCDEF"
_SUMDB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]*(/[A-Za-z0-9.\-_~]+)*$")
# x/mod sumdb/server.go: the escaped lookup target the checksum database accepts.
_LOOKUP = re.compile(r"^[^@]+@v[0-9]+\.[0-9]+\.[0-9]+(-[^@]*)?(\+incompatible)?$")
_TILE = re.compile(r"^tile/[0-9]+/(data|[0-9]+)(/x[0-9]{3})*/[0-9]{3}(\.p/[0-9]+)?$")


def _percent_decode(raw: bytes) -> str:
    """Strict RFC 3986 decoding: ``%XX`` only, ``+`` is a plus, the result must be UTF-8."""
    if b"%" in raw:
        parts = raw.split(b"%")
        out = bytearray(parts[0])
        for part in parts[1:]:
            if len(part) < 2 or part[0] not in _HEX or part[1] not in _HEX:
                raise BadRequestError("malformed percent-encoding in request path")
            out.append(int(part[:2], 16))
            out += part[2:]
        raw = bytes(out)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotFoundError("request path is not valid UTF-8") from None
    if any(c < " " or c == "\x7f" for c in text):
        raise NotFoundError("request path contains control characters")
    return text


def _strip_base(path: str, base_path: str) -> str | None:
    if not base_path:
        return path[1:]
    if path == base_path:
        return ""
    if path.startswith(base_path) and path[len(base_path)] == "/":
        return path[len(base_path) + 1 :]
    return None


def parse_target(target: bytes, base_path: str = "") -> Request:
    """Parse an HTTP request target into a typed request (results are cached: it is pure).

    Args:
        target: the request target as sent (origin-form ``/path?query``, or absolute-form).
        base_path: the path prefix the proxy is mounted under, ``""`` or like ``"/mod"``.

    Returns:
        The request.

    Raises:
        BadRequestError: the target is not a well-formed origin-form path.
        NotFoundError: the path names nothing this proxy serves.
        InvalidPathError: the module path breaks Go's rules (404: it exists nowhere).
        InvalidVersionError: the version breaks Go's rules or does not fit the path (404).
    """
    return _parse_target_cached(target, base_path)


@functools.lru_cache(maxsize=8192)
def _parse_target_cached(target: bytes, base_path: str) -> Request:
    # Clients ask for the same few thousand targets again and again; only successes are
    # cached (lru_cache does not keep exceptions), and requests are immutable structs.
    if target.startswith((b"http://", b"https://")):
        # absolute-form (RFC 9112 §3.2.2): keep only the path.
        slash = target.find(b"/", target.index(b"//") + 2)
        target = target[slash:] if slash >= 0 else b"/"
    if not target.startswith(b"/"):
        raise BadRequestError("request target must be an absolute path")
    q = target.find(b"?")
    query = b""
    if q >= 0:
        target, query = target[:q], target[q + 1 :]
    path = _percent_decode(target)
    rel = _strip_base(path, base_path)
    if rel is None:
        raise NotFoundError(f"not found: {path} is outside this proxy's base path {base_path}")
    if rel in ("", "/"):
        return IndexReq()
    if rel in ("healthz", "readyz"):
        return HealthReq(ready=rel == "readyz")
    if rel == "catalog":
        return _parse_catalog_query(query)
    if rel.startswith("-/"):
        if rel.startswith(MODULE_PAGE):
            escaped = rel[len(MODULE_PAGE) :]
            return ModulePageReq(module=unescape_path(escaped), escaped=escaped)
        raise NotFoundError(f"not found: {path} is not a page of this proxy")
    if rel.startswith("sumdb/"):
        return _parse_sumdb(rel[len("sumdb/") :])
    i = rel.find("/@v/")
    if i >= 0:
        escaped, file = rel[:i], rel[i + 4 :]
        module = unescape_path(escaped)
        if file == "list":
            return ListReq(module=module, escaped=escaped)
        return _parse_version_file(module, escaped, file)
    if rel.endswith("/@latest"):
        escaped = rel[: -len("/@latest")]
        return LatestReq(module=unescape_path(escaped), escaped=escaped)
    raise NotFoundError(f"not found: {path} is not a module proxy path")


def _parse_version_file(module: str, escaped: str, file: str) -> VersionReq:
    dot = file.rfind(".")
    ext = file[dot + 1 :] if dot > 0 else ""
    if ext not in ("info", "mod", "zip") or "/" in file:
        raise NotFoundError(f"not found: unknown file {file!r} (want list, .info, .mod or .zip)")
    kind = FileKind(ext)
    escaped_version = file[:dot]
    version = unescape_version(escaped_version)
    canonical = canonical_version(version) == version
    if canonical and kind is FileKind.INFO:
        try:
            check(module, version)
        except InvalidVersionError:
            # An .info query like m@v2.0.0 for a path without /v2 may resolve upstream to
            # v2.0.0+incompatible (PROTOCOL.md §8): a query, not a fixed answer.
            canonical = False
    elif not canonical and kind is not FileKind.INFO:
        # The go command asks for a .mod or .zip only by the canonical name of a version.
        want = canonical_version(version)
        reason = "not canonical"
        if want:
            reason += f" (should be {go_quote(want)})"
        raise InvalidVersionError(version, reason, path=module)
    return VersionReq(
        module=module,
        version=version,
        kind=kind,
        escaped=escaped,
        escaped_version=escaped_version,
        canonical=canonical,
    )


def _parse_catalog_query(query: bytes) -> CatalogReq:
    """The parameters of ``/catalog``: ``q``, ``n`` (or ``pagesize``), ``token``; others are
    ignored. Strict percent-decoding as for the path (``+`` stays a plus: module paths have
    them)."""
    search, limit, after, marks = "", CATALOG_PAGE_MAX, None, False
    for part in query.split(b"&"):
        if not part:
            continue
        name, _, raw = part.partition(b"=")
        try:
            value = _percent_decode(raw)
        except (BadRequestError, NotFoundError) as e:
            what = str(e).replace("request path", "query parameter")
            raise BadRequestError(f"catalog: {what}") from None
        if name == b"q":
            if len(value) > _MAX_SEARCH:
                raise BadRequestError(f"catalog: q is longer than {_MAX_SEARCH} characters")
            search = value
        elif name in (b"n", b"pagesize"):
            if (
                not value.isascii()
                or not value.isdigit()
                or not 1 <= int(value) <= CATALOG_PAGE_MAX
            ):
                raise BadRequestError(
                    f"catalog: {name.decode()} must be a number from 1 to {CATALOG_PAGE_MAX}"
                )
            limit = int(value)
        elif name == b"token":
            after = decode_page_token(value) if value else None
        elif name == b"marks":
            if value not in ("0", "1"):
                raise BadRequestError("catalog: marks must be 0 or 1")
            marks = value == "1"
    return CatalogReq(search=search, limit=limit, after=after, marks=marks)


def encode_page_token(module: str, version: str) -> str:
    """The ``/catalog`` paging token of the page after ``module``@``version``: opaque to
    clients (base64url of the escaped ``module@version``, unpadded), safe in a URL."""
    text = f"{escape_path(module)}@{escape_version(version)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[str, str]:
    """The (module, version) an :func:`encode_page_token` token names.

    Raises:
        BadRequestError: not a token this proxy makes (any string is either decoded or this).
    """
    bad = BadRequestError('catalog: invalid page token (use the "next" of an earlier page)')
    if not token or len(token) > 2048 or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        raise bad
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    escaped, sep, escaped_version = text.rpartition("@")
    if not sep:
        raise bad
    try:
        module, version = unescape_path(escaped), unescape_version(escaped_version)
    except ProxyError:
        raise bad from None
    if encode_page_token(module, version) != token:
        raise bad  # a non-canonical spelling of a token (padding bits, other escapes)
    return module, version


def _parse_sumdb(rest: str) -> SumdbReq:
    for suffix, kind in (("/supported", SumdbKind.SUPPORTED), ("/latest", SumdbKind.LATEST)):
        if rest.endswith(suffix):
            name = rest[: -len(suffix)]
            _check_sumdb_name(name)
            return SumdbReq(name=name, kind=kind, path=suffix[1:])
    i = rest.find("/lookup/")
    if i >= 0:
        name, target = rest[:i], rest[i + len("/lookup/") :]
        _check_sumdb_name(name)
        if not _LOOKUP.match(target):
            raise BadRequestError("invalid module@version syntax in checksum database lookup")
        escaped_mod, _, escaped_ver = target.rpartition("@")
        module = unescape_path(escaped_mod)
        unescape_version(escaped_ver)
        return SumdbReq(
            name=name, kind=SumdbKind.LOOKUP, path="lookup/" + target, module=module, immutable=True
        )
    i = rest.find("/tile/")
    if i >= 0:
        name, tile = rest[:i], rest[i + 1 :]
        _check_sumdb_name(name)
        if not _TILE.match(tile):
            raise BadRequestError("invalid tile syntax in checksum database request")
        return SumdbReq(name=name, kind=SumdbKind.TILE, path=tile, immutable=True)
    raise NotFoundError("not found: unknown checksum database endpoint")


def _check_sumdb_name(name: str) -> None:
    if not _SUMDB_NAME.match(name) or ".." in name:
        raise NotFoundError(f"not found: invalid checksum database name {name!r}")


ENDPOINT_KINDS = (
    "list",
    "info",
    "query",
    "mod",
    "zip",
    "latest",
    "sumdb-supported",
    "sumdb-latest",
    "sumdb-lookup",
    "sumdb-tile",
    "health",
    "index",
    "catalog",
    "other",
)
"""Every :attr:`Endpoint.kind`: a small fixed set, fit for a metric's label."""


class Endpoint(msgspec.Struct, frozen=True):
    """What a request target asked for, for logs, metrics and last-use accounting.

    Attributes:
        kind: one of :data:`ENDPOINT_KINDS`: ``query`` is the ``.info`` of a non-canonical
            version (a branch, ``v1.2``, a commit); ``catalog`` the ``/catalog`` JSON and
            the module pages (``-/module/…``, with the module); ``other`` a target this
            proxy does not serve or cannot parse (answered 400 or 404).
        module: the module path (for ``sumdb-lookup``, the one looked up), or "".
        version: the version or query as asked, or "".
    """

    kind: str
    module: str = ""
    version: str = ""


_OTHER = Endpoint("other")


def endpoint_of(target: str | bytes, base_path: str = "") -> Endpoint:
    """The :class:`Endpoint` a request target names (never raises; cached like
    :func:`parse_target`)."""
    raw = target.encode("utf-8", "replace") if isinstance(target, str) else target
    try:
        req = parse_target(raw, base_path)
    except ProxyError:
        return _OTHER
    return _endpoint_cached(req)


@functools.lru_cache(maxsize=8192)
def _endpoint_cached(req: Request) -> Endpoint:
    if isinstance(req, VersionReq):
        kind = req.kind.value if req.canonical or req.kind is not FileKind.INFO else "query"
        return Endpoint(kind, req.module, req.version)
    if isinstance(req, ListReq):
        return Endpoint("list", req.module)
    if isinstance(req, LatestReq):
        return Endpoint("latest", req.module)
    if isinstance(req, SumdbReq):
        if req.kind is SumdbKind.LOOKUP:
            try:
                version = unescape_version(req.path.rpartition("@")[2])
            except ProxyError:  # pragma: no cover - the target parsed, so it unescapes
                version = ""
            return Endpoint("sumdb-lookup", req.module, version)
        return Endpoint(f"sumdb-{req.kind.value}")
    if isinstance(req, HealthReq):
        return Endpoint("health")
    if isinstance(req, CatalogReq):
        return Endpoint("catalog")
    if isinstance(req, ModulePageReq):
        return Endpoint("catalog", req.module)
    return Endpoint("index")
