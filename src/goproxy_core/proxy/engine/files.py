"""A version's ``.info``, ``.mod`` and ``.zip``, and ``.info`` queries.

A canonical version's files never change: served from the store, else fetched, checked and
stored for good (a zip through a pending write, ``CheckZip``, then ``CommitBlob``). A query
(a branch, ``v1.2``, a commit prefix) is a mutable answer, fresh for ``list_ttl``.
"""

from __future__ import annotations

from typing import cast

from ...errors import ProxyError, StoreError
from ...module.escape import escape_version
from .. import keys as _cache
from ..checks import (
    MAX_INFO,
    MAX_ZIP,
)
from ..config import RetractedPolicy
from ..effects import (
    AbortBlob,
    BlobInfo,
    CheckZip,
    CommitBlob,
    Prefetch,
    PrefetchOutcome,
    StoreFailure,
    UpstreamResult,
    ZipVerdict,
)
from ..info import BadUpstreamError, names_a_version, validate_info
from ..record import FileRecord
from ..replies import (
    CT_JSON,
    CT_ZIP,
    IMMUTABLE,
    Reply,
    max_age,
    store_error,
)
from ..targets import (
    FileKind,
    VersionReq,
)
from .checksums import Refusal
from .prefetch import MAX_PREFETCH_DEPTH, next_wave
from .versions import VersionsFlow
from .walk import (
    _CACHE,
    _CONTENT_TYPES,
    ZIP_MISS,
    Flow,
    _blob_reply,
    _bytes_reply,
    _Failed,
    _save,
    _stat,
)


class FilesFlow(VersionsFlow):
    """Version files and queries."""

    def version(self, req: VersionReq) -> Flow[Reply]:
        if self.policy is RetractedPolicy.GONE:
            withheld = yield from self.gone(req)
            if withheld is not None:
                return withheld
        if req.kind is not FileKind.ZIP:
            got = yield from self.small_version_file(req.module, req.escaped, req.version, req.kind)
            if isinstance(got, Reply):
                return got
            if req.kind is FileKind.MOD:
                yield from self.prefetch_next_wave(got[0], got[1])
            return _bytes_reply(got[0], _CONTENT_TYPES[req.kind], IMMUTABLE, got[1])
        key = _cache.version_key(req.escaped, req.escaped_version, "zip")
        info = yield from _stat(key)
        if info is not None:
            sha256 = yield from self.zip_digest(req, info)
            return _blob_reply(key, info, CT_ZIP, f"{_CACHE}; hit", sha256)
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
        stored, sha256 = zipped
        if not sha256:
            sha256 = yield from self.zip_digest(req, stored)
        return _blob_reply(key, stored, CT_ZIP, ZIP_MISS, sha256)

    def prefetch_next_wave(self, gomod: bytes, cache_status: str) -> Flow[None]:
        """Yield ``Prefetch`` for what ``gomod`` requires, if it was just fetched from a proxy.

        Only a miss the store kept, fetched from an upstream proxy (not ``direct``), with
        ``prefetch`` on, and (in a prefetch) fewer than ``MAX_PREFETCH_DEPTH`` hops deep and
        from a go.mod that does not prune the graph: see :mod:`.prefetch` for why each bound.
        """
        if (
            not self.cfg.config.prefetch
            or self.from_direct
            or not cache_status.endswith("; stored")
            or "fwd=miss" not in cache_status
            or self.prefetching >= MAX_PREFETCH_DEPTH
        ):
            return
        wave = next_wave(self.cfg, gomod, prefetched=self.prefetching > 0)
        if wave:
            yield Prefetch(wave, self.prefetching + 1, self.cfg.config)

    def prefetched(self, req: VersionReq) -> Flow[PrefetchOutcome]:
        """Fetch and store ``req`` (a canonical ``.mod`` or ``.info``) for ``Prefetch``."""
        got = yield from self.small_version_file(req.module, req.escaped, req.version, req.kind)
        if isinstance(got, Reply):
            return PrefetchOutcome(error=" ".join(got.body.decode("utf-8", "replace").split()))
        data, status = got
        if status.endswith("; hit"):
            return PrefetchOutcome(present=True)
        if req.kind is FileKind.MOD:
            yield from self.prefetch_next_wave(data, status)
        if not status.endswith("; stored"):
            return PrefetchOutcome(error="the cache failed to store it")
        return PrefetchOutcome(stored=True)

    def zip_digest(self, req: VersionReq, info: BlobInfo) -> Flow[str]:
        """The stored zip's SHA-256 from its version's record, "" if unknown.

        One small read per zip answer that runs the engine (repeated answers come from the
        hot table, which keeps the head with its ETag). The record's size and time of storing
        must match the stored zip's, so a record left from a zip since replaced is not
        believed (the ETag then names the key, size and time: still a new one).
        """
        record = yield from self.read_record(req.escaped, req.escaped_version)
        if record is None or record.zip is None:
            return ""
        if (record.zip.size, record.zip.stored) != (info.size, info.mtime):
            return ""
        return record.zip.sha256

    def validate_zip(
        self, req: VersionReq, key: str, res: UpstreamResult
    ) -> Flow[tuple[BlobInfo, str]]:
        """Check a zip streamed into a pending write; commit it, or abort and raise.

        Returns the stored zip's info and the SHA-256 of its bytes ("" when a concurrent
        request stored it: its record has it).
        """
        if res.stored is not None:
            return res.stored, ""
        if res.refused:
            raise BadUpstreamError(res.refused)  # a concurrent fetch of this blob refused it
        verdict = cast("ZipVerdict", (yield CheckZip(key, req.module, req.version)))
        if verdict.store_failure is not None:
            yield AbortBlob(key)  # not refused: a follower may find room and fetch for itself
            raise store_error(verdict.store_failure.message, verdict.store_failure.kind)
        if verdict.problem:
            yield AbortBlob(key, refused=verdict.problem)
            raise BadUpstreamError(verdict.problem)
        try:
            sumdb, why = yield from self.verify_sum(
                req.module, req.version, verdict.h1, gomod=False
            )
        except Refusal:
            yield AbortBlob(key)
            raise
        except ProxyError as e:
            yield AbortBlob(key, refused=str(e))
            raise
        committed = yield CommitBlob(key)
        if isinstance(committed, StoreFailure):
            raise store_error(committed.message, committed.kind)
        if committed is None:
            raise StoreError("cache: the store could not keep the zip")
        info = cast("BlobInfo", committed)
        rec = FileRecord(
            verdict.h1,
            verdict.size,
            verdict.sha256,
            self.source,
            self.now,
            sumdb,
            why,
            stored=info.mtime,
        )
        yield from self.record_file(req.module, req.escaped, req.version, zip=rec)
        return info, verdict.sha256

    def query(self, req: VersionReq) -> Flow[Reply]:
        """An ``.info`` query (branch, ``v1.2``, commit prefix): mutable, cached for a TTL."""
        key = _cache.version_key(req.escaped, req.escaped_version, "info")

        def transform(body: bytes) -> bytes:
            # cmd/go modfetch/proxy.go ``Stat`` of a query takes the version named as said.
            validate_info(req.module, body, requested=req.version)
            return body

        got = yield from self.mutable(
            req.module, key, f"{req.version}.info", MAX_INFO, transform, revalidate=req
        )
        if isinstance(got, Reply):
            return got
        data, cache_status, stale, ttl = got
        if not stale and "stored" in cache_status:
            info = validate_info(req.module, data, requested=req.version)
            # The resolved version's own .info never changes: keep it under its own name,
            # unless its ``Origin`` names the ref the query went through (a branch, say);
            # the version's own .info names its tag, as the go command's does. Only a
            # canonical version valid for the module has a name of its own.
            if (info.Origin is None or not info.Origin.Ref) and names_a_version(
                req.module, info.Version
            ):
                yield from _save(
                    _cache.version_key(req.escaped, escape_version(info.Version), "info"), data
                )
        return _bytes_reply(data, CT_JSON, max_age(ttl), cache_status, stale=stale)
