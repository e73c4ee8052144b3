"""The request engine: for one parsed request, which store and upstream I/O to do, and the answer.

Theory of operation: each request runs as a generator (a coroutine with no event loop). It
yields I/O effects (``StatBlob``, ``ReadBlob``, ``SaveBlob``, ``FetchUpstream``, ``CommitBlob``,
``AbortBlob``), receives their results, and finally returns a :class:`Reply`. The connection
(``_connection.py``) drives it and turns the reply into HTTP bytes, so the protocol decisions
below exist once, whatever server runs them.

The decisions, in order, for a module request:

1. Immutable content (a canonical version's ``.info``, ``.mod``, ``.zip``) is served from the
   store when present, never revalidated.
2. Mutable answers (``list``, ``@latest``, ``.info`` queries) are served from the store while
   fresh (``list_ttl``).
3. A remembered not-found (``negative_ttl``) is answered without asking upstreams.
4. Otherwise the upstreams are asked in order with GOPROXY semantics: after ``,`` only a 404
   or 410 moves on; after ``|`` any failure does; ``off`` stops. Private modules skip every
   http(s) upstream. An upstream's 200 is validated before it is stored; invalid data counts
   as that upstream failing.
5. When every upstream fails, a stale mutable answer is served (and says so); otherwise the
   most useful failure is answered: a fault (403 veto, 5xx, timeout, bad data) over a
   not-found, as the go command ranks them.
"""

from __future__ import annotations

import email.utils
import functools
from collections.abc import Callable, Generator
from typing import TypeAlias, TypeVar, cast

import msgspec

from ..errors import ProxyError
from ..modfile.rule import legacy_go_mod
from ..module.escape import escape_version
from . import keys as _cache
from .checks import (
    MAX_INFO,
    MAX_LIST,
    MAX_MOD,
    MAX_NEGATIVE,
    MAX_SUMDB,
    MAX_ZIP,
    check_mod,
    normalise_list,
    tile_ok,
)
from .config import CompiledConfig, RetractedPolicy
from .effects import (
    AbortBlob,
    BlobData,
    BlobInfo,
    CheckZip,
    CommitBlob,
    FetchDirect,
    FetchUpstream,
    ReadBlob,
    SaveBlob,
    StatBlob,
    UpstreamResult,
)
from .info import BadUpstreamError, validate_info
from .proxylist import Upstream, UpstreamKind
from .replies import (
    CT_JSON,
    CT_OCTET,
    CT_TEXT,
    CT_ZIP,
    IMMUTABLE,
    BlobBody,
    Reply,
    etag_for_blob,
    etag_for_bytes,
    max_age,
    text_reply,
)
from .targets import (
    FileKind,
    HealthReq,
    IndexReq,
    LatestReq,
    ListReq,
    Request,
    SumdbKind,
    SumdbReq,
    VersionReq,
)
from .versions import (
    Retraction,
    compatible_to_check,
    format_list,
    parse_list,
    retraction_for,
    retractions_from_gomod,
    select_latest,
)

__all__ = ["IOEffect", "handle_request", "relayed_zip_reply"]

IOEffect: TypeAlias = (
    StatBlob | ReadBlob | SaveBlob | FetchUpstream | FetchDirect | CheckZip | CommitBlob | AbortBlob
)
T = TypeVar("T")
Flow: TypeAlias = Generator[IOEffect, object, T]


_CONTENT_TYPES = {FileKind.INFO: CT_JSON, FileKind.MOD: CT_TEXT, FileKind.ZIP: CT_ZIP}
_CACHE = "goproxy"
_negative_encoder = msgspec.json.Encoder()


class _Negative(msgspec.Struct, frozen=True):
    status: int
    message: str


_negative_decoder = msgspec.json.Decoder(_Negative)


class _Failed(msgspec.Struct, frozen=True):
    """Why the upstream walk produced nothing."""

    reply: Reply
    not_found: bool


# --- typed wrappers around effects -------------------------------------------------------


def _stat(key: str) -> Flow[BlobInfo | None]:
    r = yield StatBlob(key)
    return cast("BlobInfo | None", r)


def _read(key: str, max_size: int, *, immutable: bool = False) -> Flow[BlobData | None]:
    r = yield ReadBlob(key, max_size, immutable)
    return cast("BlobData | None", r)


def _save(key: str, data: bytes) -> Flow[bool]:
    r = yield SaveBlob(key, data)
    return bool(r)


def _fetch(
    url: str, max_size: int, into: str | None = None, *, relay: bool = False
) -> Flow[UpstreamResult]:
    r = yield FetchUpstream(url, max_size, into, relay)
    return cast("UpstreamResult", r)


def _fetch_direct(
    module: str, file: str, max_size: int, into: str | None = None
) -> Flow[UpstreamResult]:
    r = yield FetchDirect(module, file, max_size, into)
    return cast("UpstreamResult", r)


# --- replies ---------------------------------------------------------------------------


def _bytes_reply(
    data: bytes, content_type: str, cache_control: str, cache_status: str, *, stale: bool = False
) -> Reply:
    immutable = cache_control == IMMUTABLE
    return Reply(
        status=200,
        content_type=content_type,
        body=data,
        cache_control=cache_control,
        etag=etag_for_bytes(data) if immutable else "",
        cache_status=cache_status,
        stale=stale,
    )


def _blob_reply(key: str, info: BlobInfo, content_type: str, cache_status: str) -> Reply:
    return Reply(
        status=200,
        content_type=content_type,
        blob=BlobBody(key, info.size),
        cache_control=IMMUTABLE,
        etag=etag_for_blob(key, info.size),
        cache_status=cache_status,
    )


ZIP_MISS = f"{_CACHE}; fwd=miss; stored"


def relayed_zip_reply(key: str, size: int) -> Reply:
    """The reply whose head goes out when a zip is relayed while it is fetched."""
    return _blob_reply(key, BlobInfo(size=size, mtime=0.0), CT_ZIP, ZIP_MISS)


def _error_text(result: UpstreamResult) -> str:
    """The upstream's own short text error, if it sent one we can show."""
    ct = result.content_type.split(";")[0].strip().lower()
    if ct not in ("text/plain", "") or not result.body:
        return ""
    try:
        text = result.body[:600].decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return " ".join(text.split())


def _describe(up: Upstream) -> str:
    if up.kind is UpstreamKind.DIRECT:
        return "direct (version control)"
    return up.url


def http_date(now: float) -> str:
    """An IMF-fixdate for ``now`` (whole seconds; formatted once per second)."""
    return _http_date_of_second(int(now))


@functools.lru_cache(maxsize=4)
def _http_date_of_second(second: int) -> str:
    return email.utils.formatdate(second, usegmt=True)


# --- the flow ----------------------------------------------------------------------------


class _RequestFlow:
    def __init__(self, cfg: CompiledConfig, now: float, relay: bool) -> None:
        self.cfg = cfg
        self.now = now
        self.relay = relay
        self.policy = cfg.config.retracted

    # Upstream walk ------------------------------------------------------------------------

    def walk(
        self,
        module: str,
        rel: str,
        file: str,
        max_size: int,
        validate: Callable[[UpstreamResult], Flow[T]],
        into: str | None = None,
        *,
        relay: bool = False,
    ) -> Flow[T | _Failed]:
        """Ask the upstreams in order for ``rel``; the first validated 200 wins.

        ``file`` names the same file for direct mode, unescaped: ``list``, ``latest``, or a
        version or query with its suffix (``v1.0.0.zip``, ``main.info``).
        """
        not_found: list[tuple[Upstream, UpstreamResult]] = []
        fault: Reply | None = None
        upstreams = self.cfg.upstreams_for(module)
        stopped_by_off = False
        for up in upstreams:
            if up.kind is UpstreamKind.OFF:
                stopped_by_off = True
                break
            if up.kind is UpstreamKind.DIRECT:
                res = yield from _fetch_direct(module, file, max_size, into)
            else:
                res = yield from _fetch(f"{up.url}/{rel}", max_size, into, relay=relay)
            if res.status == 200:
                try:
                    return (yield from validate(res))
                except ProxyError as e:
                    fault = text_reply(
                        502, f"upstream {_describe(up)} sent bad data for {module}: {e}"
                    )
                    if up.fall_through_on_error:
                        continue
                    break
            if res.status in (404, 410):
                not_found.append((up, res))
                continue
            fault = self._fault(up, module, res)
            if not up.fall_through_on_error:
                break
        if fault is not None:
            return _Failed(fault, not_found=False)
        if not_found:
            # As the go command reports: direct's error says most, else the first proxy's.
            up, res = next((x for x in not_found if x[0].kind is UpstreamKind.DIRECT), not_found[0])
            text = _error_text(res) or f"not found: {module}"
            return _Failed(
                text_reply(res.status, text, cache_control=max_age(self.cfg.config.negative_ttl)),
                not_found=True,
            )
        if self.cfg.private.matches(module) and not upstreams:
            why = "it matches the private patterns and no private upstream is configured"
        elif stopped_by_off or not upstreams:
            why = "it is not in the cache and upstream lookups are off"
        else:
            why = "it matches the private patterns and no private upstream has it"
        return _Failed(
            text_reply(404, f"not found: {module}: {why}", cache_control=max_age(60)),
            not_found=True,
        )

    def _fault(self, up: Upstream, module: str, res: UpstreamResult) -> Reply:
        where = f"upstream {_describe(up)}"
        if res.status == 0:
            status = 504 if res.timeout else 502
            return text_reply(status, f"{where} failed for {module}: {res.error or 'no answer'}")
        detail = _error_text(res)
        msg = f"{where} answered {res.status} for {module}" + (f": {detail}" if detail else "")
        # A 403 is an upstream's veto: pass it on, so the go command stops here too.
        return text_reply(403 if res.status == 403 else 502, msg)

    # Negative cache ----------------------------------------------------------------------

    def remembered_not_found(self, key: str) -> Flow[Reply | None]:
        neg = yield from _read(_cache.negative_key(key), MAX_NEGATIVE)
        if neg is None or not _cache.is_fresh(neg.mtime, self.now, self.cfg.config.negative_ttl):
            return None
        try:
            entry = _negative_decoder.decode(neg.data)
        except msgspec.DecodeError:
            return None
        ttl = _cache.remaining_ttl(neg.mtime, self.now, self.cfg.config.negative_ttl)
        return text_reply(
            entry.status,
            entry.message,
            cache_control=max_age(ttl),
            cache_status=f"{_CACHE}; hit; detail=negative",
        )

    def remember_not_found(self, key: str, reply: Reply) -> Flow[None]:
        entry = _Negative(reply.status, reply.body.decode().strip())
        yield from _save(_cache.negative_key(key), _negative_encoder.encode(entry))

    def failed(self, key: str, failure: _Failed) -> Flow[Reply]:
        reply = failure.reply
        if failure.not_found and self.cfg.config.negative_ttl > 0:
            yield from self.remember_not_found(key, reply)
        return msgspec.structs.replace(reply, cache_status=f"{_CACHE}; fwd=miss")

    # Small immutable files ---------------------------------------------------------------

    def small_version_file(
        self, module: str, escaped: str, version: str, kind: FileKind
    ) -> Flow[tuple[bytes, str] | Reply]:
        """``.info`` or ``.mod`` bytes of a canonical version (store, then upstreams)."""
        escaped_version = escape_version(version)
        key = _cache.version_key(escaped, escaped_version, kind.value)
        hit = yield from _read(key, MAX_MOD, immutable=True)
        if hit is not None:
            return hit.data, f"{_CACHE}; hit"
        neg = yield from self.remembered_not_found(key)
        if neg is not None:
            return neg
        max_size = MAX_INFO if kind is FileKind.INFO else MAX_MOD

        def validate(res: UpstreamResult) -> Flow[bytes]:
            if kind is FileKind.INFO:
                validate_info(module, res.body, requested=version)
            else:
                check_mod(res.body)
            yield from _save(key, res.body)
            return res.body

        got = yield from self.walk(module, key, f"{version}.{kind.value}", max_size, validate)
        if isinstance(got, _Failed):
            return (yield from self.failed(key, got))
        return got, f"{_CACHE}; fwd=miss; stored"

    # Mutable answers ---------------------------------------------------------------------

    def mutable(
        self,
        module: str,
        key: str,
        file: str,
        max_size: int,
        transform: Callable[[bytes], bytes],
    ) -> Flow[tuple[bytes, str, bool, int] | Reply]:
        """A list, ``@latest`` or query answer: (bytes, cache status, stale, max-age) or a reply.

        ``transform`` validates and normalises an upstream body (raising ``ProxyError``).
        """
        ttl = self.cfg.config.list_ttl
        cached = yield from _read(key, max_size)
        if cached is not None and _cache.is_fresh(cached.mtime, self.now, ttl):
            left = _cache.remaining_ttl(cached.mtime, self.now, ttl)
            return cached.data, f"{_CACHE}; hit; ttl={left}", False, left
        if cached is None:
            neg = yield from self.remembered_not_found(key)
            if neg is not None:
                return neg

        def validate(res: UpstreamResult) -> Flow[bytes]:
            data = transform(res.body)
            yield from _save(key, data)
            return data

        got = yield from self.walk(module, key, file, max_size, validate)
        if not isinstance(got, _Failed):
            fwd = "stale" if cached is not None else "miss"
            return got, f"{_CACHE}; fwd={fwd}; stored", False, int(ttl)
        if cached is not None:
            # Every upstream failed: an old answer beats none (PROTOCOL.md §19.8).
            return cached.data, f'{_CACHE}; hit; fwd=stale; detail="upstream failed"', True, 0
        return (yield from self.failed(key, got))

    def versions(self, req_module: str, escaped: str) -> Flow[list[str] | Reply]:
        got = yield from self.mutable(
            req_module, _cache.list_key(escaped), "list", MAX_LIST, normalise_list
        )
        if isinstance(got, Reply):
            return got
        return parse_list(got[0])

    def has_real_gomod(self, module: str, escaped: str, version: str) -> Flow[bool]:
        got = yield from self.small_version_file(module, escaped, version, FileKind.MOD)
        if isinstance(got, Reply):
            return False
        return got[0] != legacy_go_mod(module)

    def latest_of(
        self, module: str, escaped: str, versions: list[str], allowed: Callable[[str], bool]
    ) -> Flow[str | None]:
        """The version ``@latest`` resolves to among ``versions`` for ``allowed``."""
        check = compatible_to_check(versions, allowed)
        has_gomod = False
        if check is not None:
            has_gomod = yield from self.has_real_gomod(module, escaped, check)
        return select_latest(versions, allowed, compatible_has_gomod=has_gomod)

    def retractions(self, module: str, escaped: str, versions: list[str]) -> Flow[list[Retraction]]:
        """The retractions in force: those in the go.mod of latest-ignoring-retractions."""
        latest = yield from self.latest_of(module, escaped, versions, lambda v: True)
        if latest is None:
            got = yield from self.mutable(
                module, _cache.latest_key(escaped), "latest", MAX_INFO, _latest_transform(module)
            )
            if isinstance(got, Reply):
                return []
            latest = validate_info(module, got[0], requested=None).Version
        mod = yield from self.small_version_file(module, escaped, latest, FileKind.MOD)
        if isinstance(mod, Reply):
            return []
        return retractions_from_gomod(mod[0])

    # Endpoints ---------------------------------------------------------------------------

    def list_(self, req: ListReq) -> Flow[Reply]:
        got = yield from self.mutable(
            req.module, _cache.list_key(req.escaped), "list", MAX_LIST, normalise_list
        )
        if isinstance(got, Reply):
            return got
        data, cache_status, stale, ttl = got
        if self.policy is not RetractedPolicy.SERVE:
            versions = parse_list(data)
            retracted = yield from self.retractions(req.module, req.escaped, versions)
            data = format_list(v for v in versions if retraction_for(v, retracted) is None)
        return _bytes_reply(data, CT_TEXT, max_age(ttl), cache_status, stale=stale)

    def latest(self, req: LatestReq) -> Flow[Reply]:
        if self.policy is not RetractedPolicy.SERVE:
            chosen = yield from self.latest_honouring_retractions(req)
            if chosen is not None:
                return chosen
        got = yield from self.mutable(
            req.module,
            _cache.latest_key(req.escaped),
            "latest",
            MAX_INFO,
            _latest_transform(req.module),
        )
        if isinstance(got, Reply):
            return got
        data, cache_status, stale, ttl = got
        return _bytes_reply(data, CT_JSON, max_age(ttl), cache_status, stale=stale)

    def latest_honouring_retractions(self, req: LatestReq) -> Flow[Reply | None]:
        """``@latest`` under ``hide``/``gone``: the newest non-retracted tagged version."""
        versions = yield from self.versions(req.module, req.escaped)
        if isinstance(versions, Reply):
            return versions
        retracted = yield from self.retractions(req.module, req.escaped, versions)
        if not versions:
            if not retracted:
                return None
            # No tags: the upstream's @latest (a pseudo-version) unless it is retracted.
            got = yield from self.mutable(
                req.module,
                _cache.latest_key(req.escaped),
                "latest",
                MAX_INFO,
                _latest_transform(req.module),
            )
            if isinstance(got, Reply):
                return got
            v = validate_info(req.module, got[0], requested=None).Version
            if retraction_for(v, retracted) is None:
                return None
            return text_reply(404, f"not found: every version of {req.module} is retracted")
        best = yield from self.latest_of(
            req.module, req.escaped, versions, lambda v: retraction_for(v, retracted) is None
        )
        if best is None:
            return text_reply(
                404,
                f"not found: every version of {req.module} is retracted",
                cache_control=max_age(self.cfg.config.list_ttl),
            )
        info = yield from self.small_version_file(req.module, req.escaped, best, FileKind.INFO)
        if isinstance(info, Reply):
            return info
        return _bytes_reply(info[0], CT_JSON, max_age(self.cfg.config.list_ttl), info[1])

    def gone(self, req: VersionReq) -> Flow[Reply | None]:
        """Under ``gone``: a 410 naming the retraction if ``req``'s version is retracted."""
        versions = yield from self.versions(req.module, req.escaped)
        if isinstance(versions, Reply):
            return None
        retracted = yield from self.retractions(req.module, req.escaped, versions)
        hit = retraction_for(req.version, retracted)
        if hit is None:
            return None
        best = yield from self.latest_of(
            req.module, req.escaped, versions, lambda v: retraction_for(v, retracted) is None
        )
        instead = (
            f"use {req.module}@{best} instead"
            if best is not None
            else f"no version of {req.module} is left unretracted"
        )
        return text_reply(
            410,
            f"gone: {req.module}@{req.version} has been retracted by the module author "
            f"({hit.message}); {instead}",
            cache_control=max_age(self.cfg.config.list_ttl),
        )

    def version(self, req: VersionReq) -> Flow[Reply]:
        if self.policy is RetractedPolicy.GONE:
            withheld = yield from self.gone(req)
            if withheld is not None:
                return withheld
        if req.kind is not FileKind.ZIP:
            got = yield from self.small_version_file(req.module, req.escaped, req.version, req.kind)
            if isinstance(got, Reply):
                return got
            return _bytes_reply(got[0], _CONTENT_TYPES[req.kind], IMMUTABLE, got[1])
        key = _cache.version_key(req.escaped, req.escaped_version, "zip")
        info = yield from _stat(key)
        if info is not None:
            return _blob_reply(key, info, CT_ZIP, f"{_CACHE}; hit")
        neg = yield from self.remembered_not_found(key)
        if neg is not None:
            return neg
        zipped = yield from self.walk(
            req.module,
            key,
            f"{req.version}.zip",
            MAX_ZIP,
            lambda res: self.validate_zip(req, key, res),
            into=key,
            relay=self.relay,
        )
        if isinstance(zipped, _Failed):
            return (yield from self.failed(key, zipped))
        return _blob_reply(key, zipped, CT_ZIP, ZIP_MISS)

    def validate_zip(self, req: VersionReq, key: str, res: UpstreamResult) -> Flow[BlobInfo]:
        """Check a zip streamed into a pending write; commit it, or abort and raise."""
        if res.stored is not None:
            return res.stored
        mod = yield from _read(
            _cache.version_key(req.escaped, req.escaped_version, "mod"), MAX_MOD, immutable=True
        )
        problem = yield CheckZip(key, req.module, req.version, mod.data if mod else None)
        if problem:
            yield AbortBlob(key)
            raise BadUpstreamError(cast("str", problem))
        committed = yield CommitBlob(key)
        if committed is None:
            raise BadUpstreamError("the store could not keep the zip")
        return cast("BlobInfo", committed)

    def query(self, req: VersionReq) -> Flow[Reply]:
        """An ``.info`` query (branch, ``v1.2``, commit prefix): mutable, cached for a TTL."""
        key = _cache.version_key(req.escaped, req.escaped_version, "info")

        def transform(body: bytes) -> bytes:
            validate_info(req.module, body, requested=None)
            return body

        got = yield from self.mutable(req.module, key, f"{req.version}.info", MAX_INFO, transform)
        if isinstance(got, Reply):
            return got
        data, cache_status, stale, ttl = got
        if not stale and "stored" in cache_status:
            info = validate_info(req.module, data, requested=None)
            # The resolved version's own .info never changes: keep it under its own name,
            # unless its ``Origin`` names the ref the query went through (a branch, say);
            # the version's own .info names its tag, as the go command's does.
            if info.Origin is None or not info.Origin.Ref:
                yield from _save(
                    _cache.version_key(req.escaped, escape_version(info.Version), "info"), data
                )
        return _bytes_reply(data, CT_JSON, max_age(ttl), cache_status, stale=stale)

    def sumdb(self, req: SumdbReq) -> Flow[Reply]:
        base = self.cfg.sumdb.get(req.name)
        if base is None:
            # 404 on "supported" sends the go command to the database directly; refusing
            # other names keeps this from being an open relay (PROTOCOL.md §19.6, §19.7).
            return text_reply(
                404,
                f"not found: checksum database {req.name} is not proxied here",
                cache_control=max_age(3600),
            )
        if req.kind is SumdbKind.SUPPORTED:
            return _bytes_reply(b"", CT_TEXT, max_age(3600), f"{_CACHE}; hit")
        if req.kind is SumdbKind.LOOKUP and self.cfg.private.matches(req.module):
            return text_reply(
                404,
                f"not found: {req.module} matches the private patterns, so it is not looked "
                "up in a public checksum database (set GONOSUMDB or GOPRIVATE for it)",
            )
        key = _cache.key_for(req)
        ct = CT_OCTET if req.kind is SumdbKind.TILE and "/data/" not in req.path else CT_TEXT
        if req.immutable:
            hit = yield from _read(key, MAX_SUMDB, immutable=True)
            if hit is not None:
                return _bytes_reply(hit.data, ct, IMMUTABLE, f"{_CACHE}; hit")
        url = f"{base}/{req.path}"
        res = yield from _fetch(url, MAX_SUMDB)
        if res.status == 200 and (not req.immutable or tile_ok(req.path, res.body)):
            yield from _save(key, res.body)
            cc = IMMUTABLE if req.immutable else max_age(self.cfg.config.list_ttl)
            return _bytes_reply(res.body, ct, cc, f"{_CACHE}; fwd=miss; stored")
        if not req.immutable:
            stale = yield from _read(key, MAX_SUMDB)
            if stale is not None:
                return _bytes_reply(
                    stale.data,
                    ct,
                    max_age(0),
                    f'{_CACHE}; hit; fwd=stale; detail="upstream failed"',
                    stale=True,
                )
        if res.status in (404, 410):
            return text_reply(res.status, _error_text(res) or "not found")
        if res.status == 200:
            return text_reply(502, f"checksum database {req.name} sent a malformed tile")
        return text_reply(
            504 if res.timeout else 502,
            f"checksum database {req.name} failed: {res.error or res.status}",
        )

    def health(self, req: HealthReq) -> Flow[Reply]:
        if not req.ready:
            return text_reply(200, "ok")
        ok = yield from _save("_goproxy/readyz", str(self.now).encode())
        if not ok:
            return text_reply(503, "not ready: the store does not accept writes")
        first = self.cfg.upstreams[0]
        if first.kind is UpstreamKind.OFF:
            return text_reply(200, "ready (cache only: upstream lookups are off)")
        if first.kind is UpstreamKind.DIRECT:
            return text_reply(200, "ready (direct: modules come from their repositories)")
        # Any HTTP answer means the upstream is reachable; only no answer at all is not.
        res = yield from _fetch(first.url + "/", 4096)
        if res.status == 0:
            return text_reply(503, f"not ready: upstream {first.url} unreachable: {res.error}")
        return text_reply(200, "ready")

    def index(self) -> Reply:
        return text_reply(
            200,
            "goproxy-core: a Go module proxy. Point the go command at this URL:\n"
            "GOPROXY=<this URL> (for example http://127.0.0.1:8080)",
            cache_control=max_age(3600),
        )


def _latest_transform(module: str) -> Callable[[bytes], bytes]:
    def transform(body: bytes) -> bytes:
        validate_info(module, body, requested=None)
        return body

    return transform


def handle_request(
    cfg: CompiledConfig, req: Request, now: float, *, relay: bool = False
) -> Flow[Reply]:
    """Run one request to its reply.

    Args:
        cfg: the compiled configuration.
        req: the parsed request.
        now: the current time, seconds since the epoch.
        relay: a zip fetched from upstream may be streamed to the client as it arrives
            (a GET, not a HEAD).

    Returns:
        A generator that yields I/O effects, takes their results through ``send`` and returns
        the :class:`Reply`.
    """
    flow = _RequestFlow(cfg, now, relay)
    if isinstance(req, VersionReq):
        if req.canonical:
            return (yield from flow.version(req))
        return (yield from flow.query(req))
    if isinstance(req, ListReq):
        return (yield from flow.list_(req))
    if isinstance(req, LatestReq):
        return (yield from flow.latest(req))
    if isinstance(req, SumdbReq):
        return (yield from flow.sumdb(req))
    if isinstance(req, HealthReq):
        return (yield from flow.health(req))
    assert isinstance(req, IndexReq)
    return flow.index()
