"""The upstream walk, the negative cache, and answers kept by the store or asked upstream.

What every flow of the engine stands on: typed wrappers around the I/O effects, the walk down
the upstream list with GOPROXY semantics (``,`` falls through on 404/410 only, ``|`` on any
failure, ``off`` stops; cmd/go ``modfetch/proxy.go``), remembered not-founds, an immutable
version file from the store or the upstreams, and a mutable answer (a list, ``@latest``, a
query) fresh from the store, asked again, or stale.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast

import msgspec

from ...errors import ProxyError, StoreError
from ...module.escape import escape_version
from ...sumdb.dirhash import hash_gomod
from .. import keys as _cache
from ..checks import (
    MAX_INFO,
    MAX_MOD,
    MAX_NEGATIVE,
)
from ..effects import (
    BlobData,
    BlobInfo,
    FetchDirect,
    FetchUpstream,
    IOEffect,
    ReadBlob,
    Revalidate,
    SaveBlob,
    StatBlob,
    UpstreamResult,
)
from ..info import validate_info
from ..proxylist import Upstream, UpstreamKind
from ..record import (
    MAX_RECORD,
    FileRecord,
    VersionRecord,
    decode_record,
    encode_record,
    etag_for_digest,
)
from ..replies import (
    CT_JSON,
    CT_TEXT,
    CT_ZIP,
    IMMUTABLE,
    BlobBody,
    Reply,
    error_reply,
    etag_for_blob,
    etag_for_bytes,
    max_age,
    store_error,
    text_reply,
)
from ..targets import (
    FileKind,
)
from .checksums import ChecksumFlow, Refusal

if TYPE_CHECKING:
    from ..config import CompiledConfig
    from ..targets import Request

T = TypeVar("T")
Flow: TypeAlias = Generator[IOEffect, object, T]


_CONTENT_TYPES = {FileKind.INFO: CT_JSON, FileKind.MOD: CT_TEXT, FileKind.ZIP: CT_ZIP}
_CACHE = "goproxy"
_negative_encoder = msgspec.json.Encoder()


class _Negative(msgspec.Struct, frozen=True):
    """A remembered answer of the walk: a not-found, or (``failed``) a failed fetch."""

    status: int
    message: str
    failed: bool = False


_negative_decoder = msgspec.json.Decoder(_Negative)


class _Failed(msgspec.Struct, frozen=True):
    """Why the upstream walk produced nothing."""

    reply: Reply
    not_found: bool
    shared: bool = False
    """A failure of the upstreams (or the checksum database), remembered for
    ``failure_ttl``; never the cache's own failure, which a later request may not meet."""


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
    url: str,
    max_size: int,
    into: str | None = None,
    *,
    relay: bool = False,
    relay_above: int = 0,
    upstream: str = "",
    immutable: bool = False,
    saves: str | None = None,
) -> Flow[UpstreamResult]:
    r = yield FetchUpstream(url, max_size, into, relay, relay_above, upstream, immutable, saves)
    return cast("UpstreamResult", r)


def _fetch_direct(
    module: str,
    file: str,
    max_size: int,
    into: str | None = None,
    immutable: bool = False,
    saves: str | None = None,
) -> Flow[UpstreamResult]:
    r = yield FetchDirect(module, file, max_size, into, immutable, saves)
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


def _blob_reply(
    key: str, info: BlobInfo, content_type: str, cache_status: str, sha256: str = ""
) -> Reply:
    """A stored blob's reply; its ETag from its content's digest when known (the record)."""
    return Reply(
        status=200,
        content_type=content_type,
        blob=BlobBody(key, info.size),
        cache_control=IMMUTABLE,
        etag=etag_for_digest(sha256) if sha256 else etag_for_blob(key, info.size, info.mtime),
        cache_status=cache_status,
    )


ZIP_MISS = f"{_CACHE}; fwd=miss; stored"
REVALIDATING = f"{_CACHE}; hit; fwd=stale; detail=revalidating"
"""Cache-Status of a stale answer served at once while it is refreshed in the background."""
REVALIDATING_MAX_AGE = 5
"""``max-age`` of such an answer: short, as a fresher one is on its way."""
NOT_STORED = 'detail="cache write failed"'
"""Cache-Status detail of an answer fetched and served but that the store failed to keep."""


def _miss_status(fwd: str, saved: bool) -> str:
    """Cache-Status of a fetched answer: ``stored`` if the store kept it, else it says not."""
    return f"{_CACHE}; fwd={fwd}; " + ("stored" if saved else NOT_STORED)


def relayed_zip_reply(key: str, size: int) -> Reply:
    """The reply whose head goes out when a zip is relayed while it is fetched.

    No ETag: the content is not known before it has all arrived and been checked.
    """
    return Reply(
        status=200,
        content_type=CT_ZIP,
        blob=BlobBody(key, size),
        cache_control=IMMUTABLE,
        cache_status=ZIP_MISS,
    )


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


class FlowBase(ChecksumFlow):
    """One request's flow: its settings, its time, the walk, and the checksum database."""

    def __init__(self, cfg: CompiledConfig, now: float, relay: bool) -> None:
        self.cfg = cfg
        self.now = now
        self.relay = relay
        self.policy = cfg.config.retracted
        self.source = ""  # the upstream whose answer is being validated (for records)
        self.refreshing = False  # a background refresh (``Revalidate``): always ask upstream
        self.prefetching = 0  # in a prefetch (``Prefetch``): its depth; failures not remembered
        self.proxies_only = False  # a prefetch (``Prefetch``): the walk ends at ``direct``
        self.from_direct = False  # the validated answer came from ``direct``
        # Which modules the client may read (auth.may_read): the catalog lists only those.
        self.readable: Callable[[str], bool] | None = None

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
        final_not_found: Callable[[Upstream], Flow[bool]] | None = None,
        immutable: bool = False,
        saves: str | None = None,
    ) -> Flow[T | _Failed]:
        """Ask the upstreams in order for ``rel``; the first validated 200 wins.

        ``file`` names the same file for direct mode, unescaped: ``list``, ``latest``, or a
        version or query with its suffix (``v1.0.0.zip``, ``main.info``). ``immutable``
        marks the fetches of a canonical version's ``.info`` or ``.mod`` (``FetchUpstream``);
        ``saves`` names the key ``validate`` saves a good body under (``FetchUpstream.saves``).
        ``final_not_found``, when given, is asked about a proxy that answered 404 or 410 and
        is not the last upstream: True ends the walk there, with that not-found.
        """
        not_found: list[tuple[Upstream, UpstreamResult]] = []
        fault: Reply | None = None
        upstreams = self.cfg.upstreams_for(module)
        stopped_by_off = False
        for i, up in enumerate(upstreams):
            if up.kind is UpstreamKind.OFF:
                stopped_by_off = True
                break
            if up.kind is UpstreamKind.DIRECT and self.proxies_only:
                break  # a prefetch asks upstream proxies only: what they lack, a client asks
            if up.kind is UpstreamKind.DIRECT:
                res = yield from _fetch_direct(module, file, max_size, into, immutable, saves)
            else:
                res = yield from _fetch(
                    f"{up.url}/{rel}",
                    max_size,
                    into,
                    relay=relay,
                    relay_above=self.cfg.config.verify_before_send,
                    upstream=up.url,
                    immutable=immutable,
                    saves=saves,
                )
            if res.store_failure is not None:
                # The cache could not take the body: its fault, not this upstream's, and the
                # next upstream's body would not fit either.
                failure = res.store_failure
                return _Failed(
                    error_reply(store_error(failure.message, failure.kind)), not_found=False
                )
            if res.status == 200:
                self.source = _describe(up)
                self.from_direct = up.kind is UpstreamKind.DIRECT
                try:
                    return (yield from validate(res))
                except Refusal as e:
                    # The checksum database failed us, not this upstream: stop here.
                    return _Failed(e.reply, not_found=False, shared=True)
                except StoreError as e:
                    # The cache failed to keep a checked file: named as the cache's failure.
                    return _Failed(error_reply(e), not_found=False)
                except ProxyError as e:
                    fault = text_reply(
                        502, f"upstream {_describe(up)} sent bad data for {module}: {e}"
                    )
                    if up.fall_through_on_error:
                        continue
                    break
            if res.status in (404, 410):
                not_found.append((up, res))
                if (
                    final_not_found is not None
                    and up.kind is not UpstreamKind.DIRECT
                    and i + 1 < len(upstreams)
                    and (yield from final_not_found(up))
                ):
                    break
                continue
            fault = self._fault(up, module, res)
            if not up.fall_through_on_error:
                break
        if fault is not None:
            return _Failed(fault, not_found=False, shared=True)
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
            # Nobody was asked: nothing to remember (a cache-only or offline proxy writes no
            # not-found entries, and what an import adds is answered at once).
            return _Failed(
                text_reply(
                    404,
                    f"not found: {module}: not in this offline proxy (it is not in the cache, "
                    "and upstream lookups are off)",
                    cache_control=max_age(60),
                ),
                not_found=False,
            )
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
        """A remembered not-found (``negative_ttl``) or failed fetch (``failure_ttl``) of ``key``.

        Both live under one store key (the latest outcome of the walk wins), so a miss costs
        one read whichever is on. In the store, so every process and worker shares them.
        """
        config = self.cfg.config
        neg = yield from _read(_cache.negative_key(key), MAX_NEGATIVE)
        longest = max(config.negative_ttl, config.failure_ttl)
        if neg is None or not _cache.is_fresh(neg.mtime, self.now, longest):
            return None
        try:
            entry = _negative_decoder.decode(neg.data)
        except msgspec.DecodeError:
            return None
        if entry.failed:
            if not _cache.is_fresh(neg.mtime, self.now, config.failure_ttl):
                return None
            # Answered as the failure itself was (its status and text, never cached by
            # clients): the go command shows the text as it would have the first time.
            return text_reply(
                entry.status,
                entry.message,
                cache_status=f'{_CACHE}; hit; detail="failure remembered"',
            )
        if not _cache.is_fresh(neg.mtime, self.now, config.negative_ttl):
            return None
        ttl = _cache.remaining_ttl(neg.mtime, self.now, config.negative_ttl)
        return text_reply(
            entry.status,
            entry.message,
            cache_control=max_age(ttl),
            cache_status=f"{_CACHE}; hit; detail=negative",
        )

    def remember_not_found(self, key: str, reply: Reply, *, failed: bool = False) -> Flow[None]:
        """Remember the walk's not-found (or, ``failed``, its failure) for ``key``."""
        entry = _Negative(reply.status, reply.body.decode().strip(), failed)
        yield from _save(_cache.negative_key(key), _negative_encoder.encode(entry))

    def failed(self, key: str, failure: _Failed) -> Flow[Reply]:
        reply = failure.reply
        if self.prefetching:
            pass  # no client asked: nothing remembered (see :mod:`.prefetch`)
        elif failure.not_found and self.cfg.config.negative_ttl > 0:
            yield from self.remember_not_found(key, reply)
        elif failure.shared and self.cfg.config.failure_ttl > 0:
            yield from self.remember_not_found(key, reply, failed=True)
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
        saved = [False]  # a failed save still serves the fetched bytes (serving beats failing)

        def validate(res: UpstreamResult) -> Flow[bytes]:
            # A .mod is kept as sent: cmd/go modfetch/proxy.go ``GoMod`` returns the bytes
            # unparsed (only ``checkGoMod`` hashes them); what the proxy reads of it for its
            # own features copes with one that does not parse.
            if kind is FileKind.INFO:
                validate_info(module, res.body, requested=version)
                saved[0] = yield from _save(key, res.body)
                return res.body
            h1 = hash_gomod(res.body)
            sumdb, why = yield from self.verify_sum(module, version, h1, gomod=True)
            saved[0] = yield from _save(key, res.body)
            if saved[0]:
                digest = hashlib.sha256(res.body).hexdigest()
                rec = FileRecord(h1, len(res.body), digest, self.source, self.now, sumdb, why)
                yield from self.record_file(module, escaped, version, mod=rec)
            return res.body

        got = yield from self.walk(
            module, key, f"{version}.{kind.value}", max_size, validate, immutable=True, saves=key
        )
        if isinstance(got, _Failed):
            return (yield from self.failed(key, got))
        return got, _miss_status("miss", saved[0])

    # Version records ---------------------------------------------------------------------

    def read_record(self, escaped: str, escaped_version: str) -> Flow[VersionRecord | None]:
        """The version's record, if one is stored and readable."""
        kept = yield from _read(_cache.record_key(escaped, escaped_version), MAX_RECORD)
        return None if kept is None else decode_record(kept.data)

    def record_file(
        self,
        module: str,
        escaped: str,
        version: str,
        *,
        mod: FileRecord | None = None,
        zip: FileRecord | None = None,
    ) -> Flow[None]:
        """Add a just committed ``.mod`` or ``.zip`` to its version's record.

        Read, amend, save: the other file's entry is kept. Two processes storing the two
        files of one version at the same moment may each save a record without the other's
        entry; ``goproxy verify`` checks such a file against its proof and, with ``--repair``,
        writes the entry again.
        """
        ev = escape_version(version)
        old = yield from self.read_record(escaped, ev)
        if old is None or old.module != module or old.version != version:
            old = VersionRecord(module, version)
        new = msgspec.structs.replace(
            old, mod=mod if mod is not None else old.mod, zip=zip if zip is not None else old.zip
        )
        yield from _save(_cache.record_key(escaped, ev), encode_record(new))

    # Mutable answers ---------------------------------------------------------------------

    def mutable(
        self,
        module: str,
        key: str,
        file: str,
        max_size: int,
        transform: Callable[[bytes], bytes],
        final_not_found: Callable[[Upstream], Flow[bool]] | None = None,
        *,
        revalidate: Request | None = None,
    ) -> Flow[tuple[bytes, str, bool, int] | Reply]:
        """A list, ``@latest`` or query answer: (bytes, cache status, stale, max-age) or a reply.

        ``transform`` checks an upstream body and returns what to keep (raising ``ProxyError``);
        ``final_not_found`` is :meth:`walk`'s. ``revalidate`` is the request that refreshes
        this answer alone: given, a stored answer past its TTL but within ``max_stale`` is
        returned at once, stale, and a ``Revalidate`` for it is yielded (stale-while-revalidate,
        RFC 5861 §3); past ``max_stale`` (or with ``max_stale`` 0, or no ``revalidate``) the
        upstreams are asked first, and an old answer is served only if they all fail (RFC 5861
        §4, stale-if-error).

        In a refresh (:attr:`refreshing`) the upstreams are always asked, and a failure returns
        its reply: the stored answer, its time stamp and the negative cache stay as they were.
        """
        ttl = self.cfg.config.list_ttl
        cached: BlobData | None = None
        if not self.refreshing:
            cached = yield from _read(key, max_size)
            if cached is not None and _cache.is_fresh(cached.mtime, self.now, ttl):
                left = _cache.remaining_ttl(cached.mtime, self.now, ttl)
                return cached.data, f"{_CACHE}; hit; ttl={left}", False, left
            max_stale = self.cfg.config.max_stale
            if (
                cached is not None
                and revalidate is not None
                and max_stale > 0
                and _cache.is_fresh(cached.mtime, self.now, ttl + max_stale)
            ):
                yield Revalidate(key, revalidate, self.cfg.config)
                return cached.data, REVALIDATING, True, min(REVALIDATING_MAX_AGE, int(ttl))
            if cached is None:
                neg = yield from self.remembered_not_found(key)
                if neg is not None:
                    return neg

        saved = [False]  # a failed save still serves the answer (serving beats failing)

        def validate(res: UpstreamResult) -> Flow[bytes]:
            data = transform(res.body)
            saved[0] = yield from _save(key, data)
            return data

        got = yield from self.walk(
            module, key, file, max_size, validate, final_not_found=final_not_found
        )
        if not isinstance(got, _Failed):
            fwd = "stale" if cached is not None else "miss"
            return got, _miss_status(fwd, saved[0]), False, int(ttl)
        if self.refreshing:
            return got.reply  # nothing stored: the old answer keeps its bytes and its time
        if cached is not None:
            # Every upstream failed: an old answer beats none (PROTOCOL.md §19.8).
            return cached.data, f'{_CACHE}; hit; fwd=stale; detail="upstream failed"', True, 0
        return (yield from self.failed(key, got))
