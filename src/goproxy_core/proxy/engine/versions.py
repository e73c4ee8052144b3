"""Lists, ``@latest`` and retractions: which versions a module has and which one is latest.

The go command reads a list's first fields and derives latest from them
(cmd/go ``modfetch/proxy.go`` ``Versions``, ``Latest``; ``modload/query.go``); under the
``hide`` and ``gone`` policies the retractions in the newest go.mod are applied here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...modfile.rule import legacy_go_mod
from .. import keys as _cache
from ..checks import (
    MAX_INFO,
    MAX_LIST,
)
from ..config import RetractedPolicy
from ..info import validate_info
from ..replies import (
    CT_JSON,
    CT_TEXT,
    Reply,
    max_age,
    text_reply,
)
from ..targets import (
    FileKind,
    LatestReq,
    ListReq,
    VersionReq,
)
from ..versions import (
    Retraction,
    compatible_to_check,
    drop_lines,
    latest_from_list,
    parse_list,
    retraction_for,
    retractions_from_gomod,
    select_latest,
)
from .offline import OfflineFlow
from .walk import (
    Flow,
    _bytes_reply,
    _fetch,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..proxylist import Upstream


class VersionsFlow(OfflineFlow):
    """Lists, ``@latest`` and the retractions in force."""

    def list_answer(self, module: str, escaped: str) -> Flow[tuple[bytes, str, bool, int] | Reply]:
        """The module's list through the cache with its TTL (see :meth:`mutable`); offline,
        the versions the cache holds (:meth:`offline_list`)."""
        if self.cfg.offline_for(module):
            return self.offline_list(module, escaped)
        return self.mutable(
            module,
            _cache.list_key(escaped),
            "list",
            MAX_LIST,
            _as_sent,
            revalidate=ListReq(module=module, escaped=escaped),
        )

    def list_body(self, module: str, escaped: str) -> Flow[bytes | Reply]:
        """The module's list, as the upstream sent it."""
        got = yield from self.list_answer(module, escaped)
        if isinstance(got, Reply):
            return got
        return got[0]

    def versions(self, req_module: str, escaped: str) -> Flow[list[str] | Reply]:
        body = yield from self.list_body(req_module, escaped)
        if isinstance(body, Reply):
            return body
        return parse_list(body)

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
            got = yield from self.upstream_latest(LatestReq(module=module, escaped=escaped))
            if not isinstance(got, Reply):
                latest = validate_info(module, got[0], requested=None).Version
            else:
                # No @latest: the go command derives it from the list (cmd/go
                # modfetch/proxy.go ``Latest`` falls back to ``latestFromList``).
                body = yield from self.list_body(module, escaped)
                latest = None if isinstance(body, Reply) else latest_from_list(body)
                if latest is None:
                    return []
        mod = yield from self.small_version_file(module, escaped, latest, FileKind.MOD)
        if isinstance(mod, Reply):
            return []
        return retractions_from_gomod(mod[0])

    # Endpoints ---------------------------------------------------------------------------

    def list_(self, req: ListReq) -> Flow[Reply]:
        got = yield from self.list_answer(req.module, req.escaped)
        if isinstance(got, Reply):
            return got
        data, cache_status, stale, ttl = got
        if self.policy is not RetractedPolicy.SERVE:
            retracted = yield from self.retractions(req.module, req.escaped, parse_list(data))
            data = drop_lines(data, lambda v: retraction_for(v, retracted) is not None)
        return _bytes_reply(data, CT_TEXT, max_age(ttl), cache_status, stale=stale)

    def latest(self, req: LatestReq) -> Flow[Reply]:
        if self.policy is not RetractedPolicy.SERVE:
            chosen = yield from self.latest_honouring_retractions(req)
            if chosen is not None:
                return chosen
        got = yield from self.upstream_latest(req)
        if isinstance(got, Reply):
            return got
        data, cache_status, stale, ttl = got
        return _bytes_reply(data, CT_JSON, max_age(ttl), cache_status, stale=stale)

    def upstream_latest(self, req: LatestReq) -> Flow[tuple[bytes, str, bool, int] | Reply]:
        """The upstream's ``@latest`` answer, through the cache with its TTL; offline, the
        version the go command would pick from those the cache holds (:meth:`offline_latest`)."""
        if self.cfg.offline_for(req.module):
            return self.offline_latest(req.module, req.escaped)
        return self.mutable(
            req.module,
            _cache.latest_key(req.escaped),
            "latest",
            MAX_INFO,
            _latest_transform(req.module),
            _lists(req.escaped),
            revalidate=req,
        )

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
            got = yield from self.upstream_latest(req)
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


def _lists(escaped: str) -> Callable[[Upstream], Flow[bool]]:
    """Whether a proxy without ``@latest`` has the module's list: then the go command derives
    latest from that list and asks no further proxy (cmd/go modfetch/proxy.go ``Latest``
    falls back to ``latestFromList`` of the same proxy), and the walk ends there too. The
    client then derives it from the list the proxy serves, which came from the same upstream.
    """

    def has_list(up: Upstream) -> Flow[bool]:
        res = yield from _fetch(f"{up.url}/{_cache.list_key(escaped)}", MAX_LIST, upstream=up.url)
        return res.status == 200

    return has_list


def _as_sent(body: bytes) -> bytes:
    """A version list is kept as the upstream sent it (cmd/go modfetch/proxy.go ``Versions``
    reads the lines itself and skips what it cannot use; its size is limited by the fetch)."""
    return body


def _latest_transform(module: str) -> Callable[[bytes], bytes]:
    def transform(body: bytes) -> bytes:
        validate_info(module, body, requested=None)
        return body

    return transform
