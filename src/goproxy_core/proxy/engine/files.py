"""A version's ``.info``, ``.mod`` and ``.zip``, and ``.info`` queries.

A canonical version's files never change: served from the store, else fetched, checked and
stored for good (a zip through a pending write, ``CheckZip``, then ``CommitBlob``). A query
(a branch, ``v1.2``, a commit prefix) is a mutable answer, fresh for ``list_ttl``.
"""

from __future__ import annotations

from typing import cast

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
    UpstreamResult,
)
from ..info import BadUpstreamError, names_a_version, validate_info
from ..replies import (
    CT_JSON,
    CT_ZIP,
    IMMUTABLE,
    Reply,
    max_age,
)
from ..targets import (
    FileKind,
    VersionReq,
)
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
        problem = yield CheckZip(key, req.module, req.version)
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
            # cmd/go modfetch/proxy.go ``Stat`` of a query takes the version named as said.
            validate_info(req.module, body, requested=req.version)
            return body

        got = yield from self.mutable(req.module, key, f"{req.version}.info", MAX_INFO, transform)
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
