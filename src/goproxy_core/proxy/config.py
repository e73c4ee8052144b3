"""The core's settings, and their compiled form shared by every connection."""

from __future__ import annotations

import enum
import functools
import re

import msgspec

from ..module.paths import PrefixPatterns
from ..sumdb.note import NoteError, Verifier, is_valid_name, new_verifier
from .proxylist import ConfigError, Upstream, UpstreamKind, parse_upstreams

__all__ = [
    "CompiledConfig",
    "CompiledSumdb",
    "ProxyConfig",
    "RetractedPolicy",
    "SumdbConfig",
    "compile_config",
    "is_sumdb_name",
]

VERIFY_BEFORE_SEND = 8 << 20
"""Zips up to this size are fetched and verified whole before their response head goes out."""


class RetractedPolicy(enum.Enum):
    """What the proxy does with versions their authors retracted.

    * ``SERVE`` (default): list and serve them; the go command reads the retractions from
      the latest go.mod and decides (what every public proxy does).
    * ``HIDE``: leave them out of ``list`` and ``@latest``; still served by exact version, so
      builds that pin them keep working.
    * ``GONE``: like ``HIDE``, and their ``.info``/``.mod``/``.zip`` answer 410 with a text
      naming the version, the author's rationale and the newest version to use instead.
    """

    SERVE = "serve"
    HIDE = "hide"
    GONE = "gone"


class SumdbConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One checksum database: its name, its verifier key, and optionally where it is.

    Attributes:
        name: the database name (``host[/path]``), as in ``GOSUMDB``.
        key: its verifier key, ``name+hash+keydata`` (the ``GOSUMDB`` syntax); its name must
            be ``name``.
        url: where to reach it; "" to find the way as the go command does (cmd/go
            ``modfetch/sumdb.go`` ``dbDial``): through the first upstream answering 200 to
            ``sumdb/<name>/supported``, or the database itself for ``direct``.
    """

    name: str
    key: str
    url: str = ""


class ProxyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings of the protocol core.

    Attributes:
        upstream: upstream list in GOPROXY syntax (``,`` and ``|`` separated http(s) and
            ``file://`` URLs, ``direct`` for the modules' own repositories, or ``off`` for a
            cache-only proxy: then lists, ``@latest`` and the checksum databases reached
            through the upstreams are answered from the cache, as with ``offline``).
        offline: answer everything from the cache and reach nothing: no upstream, no
            ``direct`` (not even for ``private`` modules), no checksum database (not even at
            a configured URL). A list answers the versions stored, ``@latest`` the one the go
            command would pick from them, and ``/sumdb/<name>/`` the checksum database's
            proofs kept in the cache (:mod:`goproxy_core.proxy.engine.offline`).
        private: GOPRIVATE-style patterns; matching modules come from their own
            repositories (``direct``) whatever ``upstream`` says, so their names reach no proxy.
        retracted: the retraction policy.
        base_path: the URL path the proxy is mounted under (``""`` or like ``"/mod"``).
        list_ttl: seconds a ``list``, ``@latest`` or query answer stays fresh.
        negative_ttl: seconds a not-found answer is remembered.
        failure_ttl: seconds a failed fetch (an upstream's 5xx, timeout or transport error,
            bad data refused, a checksum database refusal) is remembered and answered again
            with the same status and text, so many clients on one bad file cost one upstream
            request; 0: never. The cache's own failures (a full disk) are never remembered.
        max_stale: seconds past ``list_ttl`` a ``list``, ``@latest`` or query answer is still
            answered at once from the store (stale-while-revalidate, RFC 5861) while the
            caller refreshes it in the background (``Revalidate``); past that it is asked
            upstream before answering. 0 turns this off: every answer past its TTL is asked
            upstream first. Either way an old answer is served when every upstream fails.
        sumdb: the checksum databases, each with its verifier key. Every ``.mod`` and
            ``.zip`` of a canonical version from an upstream is verified against the first
            one before it is stored; each is relayed under ``/sumdb/<name>/``.
        nosumdb: GONOSUMDB-style patterns: versions of matching modules are not verified
            (modules matching ``private`` never are: their names reach no database).
        verify_before_send: zips up to this many bytes are fetched and verified whole before
            the response head goes out, so a refusal is a clear 502; larger ones are relayed
            as they arrive with their tail held back until verified.
        own_sumdb: the name of the proxy's own checksum database, served at
            ``/sumdb/<name>/`` from its log (``ReadSumdb``, ``AppendSumdb``); "" for none.
        prefetch: when a ``.mod`` fetched cold from an upstream proxy is served, fetch the
            ``.mod`` and ``.info`` of every version it requires in the background
            (``Prefetch``), so the go command's next wave of the module graph is already
            stored; never for private or ``nosumdb`` modules, never from ``direct``.
        prefetch_concurrency: prefetched files fetched at once at most (the caller's
            background threads; the reference executor reads it from each ``Prefetch``).
        min_free_space: bytes the store must have free for ``/readyz`` to answer 200 (a
            store that cannot tell is not judged); 0: not checked. Under it, the caller's
            disk quota also evicts (:mod:`goproxy_core.proxy.quota`).
        max_cache_size: the disk quota: bytes the cache may hold before the least recently
            used module versions are evicted (the caller's usage index does it, deciding
            with :func:`goproxy_core.proxy.quota.plan_eviction`); 0: no limit.
        pin: GOPRIVATE-style patterns of modules whose versions the quota never evicts
            (nor those matching ``private``: see :meth:`CompiledConfig.keeps`).
        gc_interval: seconds between the caller's checks of the quota.
        metrics: answer ``/metrics`` (the caller renders it: ``RenderMetrics``); False: a 404
            saying metrics are off, and the caller need keep none.
        idle_timeout: seconds a kept-alive connection may wait for its next request.
        request_timeout: seconds a client has to send a whole request head, counted from
            its first byte, or for a fresh connection from the connection's start.
        max_request_head: the largest request line plus headers accepted, in bytes.
        admin_warm: answer ``POST /admin/warm`` (a go.sum body: its versions are fetched
            into the cache, ``WarmCache``); False: a 404 saying the endpoint is off. A
            request needs a token with ``admin:warm`` (:mod:`~goproxy_core.proxy.auth`).
        anonymous: GOPRIVATE-style patterns of the modules clients without a token may read;
            "" (the default): every module not matching ``private``; ``none``: no module, and
            no endpoint but ``/healthz``, ``/readyz`` (and ``/metrics`` without
            ``metrics_auth``). Other modules need a token whose scope covers them
            (:func:`~goproxy_core.proxy.auth.authorize`).
        metrics_auth: ``/metrics`` needs a token with ``admin:metrics``; False: open.
    """

    upstream: str = "off"
    offline: bool = False
    private: str = ""
    retracted: RetractedPolicy = RetractedPolicy.SERVE
    base_path: str = ""
    list_ttl: float = 60.0
    negative_ttl: float = 60.0
    failure_ttl: float = 5.0
    max_stale: float = 86400.0
    sumdb: tuple[SumdbConfig, ...] = ()
    nosumdb: str = ""
    verify_before_send: int = VERIFY_BEFORE_SEND
    own_sumdb: str = ""
    prefetch: bool = True
    prefetch_concurrency: int = 8
    min_free_space: int = 512 << 20
    max_cache_size: int = 0
    pin: str = ""
    gc_interval: float = 30.0
    metrics: bool = True
    idle_timeout: float = 60.0
    request_timeout: float = 10.0
    max_request_head: int = 16384
    admin_warm: bool = False
    anonymous: str = ""
    metrics_auth: bool = False


class CompiledConfig:
    """A :class:`ProxyConfig` with its lists parsed once, shared by all connections."""

    def __init__(self, config: ProxyConfig) -> None:
        base = config.base_path.rstrip("/")
        if base and not base.startswith("/"):
            raise ConfigError(f"base path must start with '/': {config.base_path!r}")
        if config.list_ttl < 0 or config.negative_ttl < 0 or config.failure_ttl < 0:
            raise ConfigError("cache TTLs must not be negative")
        if config.max_stale < 0:
            raise ConfigError("max-stale must not be negative")
        self.config = config
        self.base_path = base
        self.upstreams: tuple[Upstream, ...] = parse_upstreams(config.upstream)
        if config.offline:
            self.upstreams = _OFF  # the list is still checked above, but nothing is asked
        self.private = PrefixPatterns(config.private)
        if config.min_free_space < 0:
            raise ConfigError("min-free-space must not be negative")
        if config.max_cache_size < 0:
            raise ConfigError("max-cache-size must not be negative")
        if config.gc_interval <= 0:
            raise ConfigError("gc-interval must be more than 0")
        self.pin = PrefixPatterns(config.pin)
        # Who may read what without a token (proxy.auth): None with anonymous_none False is
        # the default, every module not private.
        anonymous = config.anonymous.strip()
        self.anonymous_none = anonymous == "none"
        self.anonymous: PrefixPatterns | None = (
            PrefixPatterns(anonymous) if anonymous and not self.anonymous_none else None
        )
        if config.prefetch_concurrency < 1:
            raise ConfigError("prefetch-concurrency must be 1 or more")
        if config.verify_before_send < 0:
            raise ConfigError("verify-before-send must not be negative")
        self.sumdb: dict[str, CompiledSumdb] = {}
        for db in config.sumdb:
            if db.name in self.sumdb:
                raise ConfigError(f"sumdb: {db.name} is listed twice")
            self.sumdb[db.name] = CompiledSumdb(db)
        self.nosumdb = PrefixPatterns(config.nosumdb)
        self.verifying: CompiledSumdb | None = next(iter(self.sumdb.values()), None)
        if config.own_sumdb and not is_sumdb_name(config.own_sumdb):
            raise ConfigError(
                f"own checksum database name {config.own_sumdb!r}: want host[/path], "
                "as GOSUMDB names a database"
            )
        if config.own_sumdb in self.sumdb:
            raise ConfigError(
                f"checksum database {config.own_sumdb} is both relayed (sumdb) and our own "
                "(own-sumdb): give our own a name of its own"
            )

    def sumdb_for(self, module: str) -> CompiledSumdb | None:
        """The database that versions of ``module`` are verified against, or None.

        None when no database is configured, or the module matches ``private`` (its name is
        never sent to a database) or ``nosumdb`` (as the go command's ``GONOSUMDB``).
        """
        if self.verifying is None or self.private.matches(module) or self.nosumdb.matches(module):
            return None
        return self.verifying

    def keeps(self, module: str) -> bool:
        """Whether the disk quota must never evict ``module``'s versions: it matches
        ``private`` (built from its own repository, maybe unreachable from elsewhere) or
        ``pin``."""
        return self.private.matches(module) or self.pin.matches(module)

    @property
    def quota_on(self) -> bool:
        """Whether the cache's size is looked after (``max-cache-size`` or
        ``min-free-space`` set): last uses are then recorded."""
        return bool(self.config.max_cache_size or self.config.min_free_space)

    def upstreams_for(self, module: str) -> tuple[Upstream, ...]:
        """The upstreams that may be asked about ``module``, in order.

        A module matching the private patterns comes from its own repository only
        (``direct``), whatever the upstream list says: its name reaches no proxy. With
        ``offline``, every module's list is ``off``: nothing is asked.
        """
        if self.private.matches(module) and not self.config.offline:
            return _DIRECT_ONLY
        return self.upstreams

    def offline_for(self, module: str) -> bool:
        """Whether ``module``'s list and ``@latest`` are answered from the cache alone.

        True with ``offline``, and when the upstreams ``module`` may be asked begin with
        ``off`` (a private module, built with ``direct``, is not offline under ``off``).
        """
        ups = self.upstreams_for(module)
        return not ups or ups[0].kind is UpstreamKind.OFF

    def sumdb_offline(self, db: CompiledSumdb) -> bool:
        """Whether ``db``'s endpoints are answered from the proofs in the cache alone.

        True with ``offline``, and when the database has no URL of its own and the upstream
        list begins with ``off``: then nothing could reach it (cmd/go ``modfetch/sumdb.go``
        ``dbDial`` finds a database through the proxies only).
        """
        return self.config.offline or (self.lookups_off and not db.url)

    @property
    def lookups_off(self) -> bool:
        """Whether the list starts with ``off``: a cache-only proxy."""
        return self.upstreams[0].kind is UpstreamKind.OFF


class CompiledSumdb:
    """A :class:`SumdbConfig` with its key parsed."""

    def __init__(self, db: SumdbConfig) -> None:
        try:
            verifier = new_verifier(db.key)
        except NoteError as e:
            raise ConfigError(
                f"sumdb: invalid verifier key {db.key!r} for {db.name}: {e} "
                "(want name+hash+keydata, the GOSUMDB syntax)"
            ) from None
        if verifier.name != db.name:
            raise ConfigError(
                f"sumdb: verifier key {db.key!r} is for {verifier.name}, not {db.name}"
            )
        self.name = db.name
        self.key = db.key
        self.url = db.url.rstrip("/")
        self.verifiers: tuple[Verifier, ...] = (verifier,)


_DIRECT_ONLY = (Upstream(url="direct", kind=UpstreamKind.DIRECT),)
_OFF = (Upstream(url="off", kind=UpstreamKind.OFF),)


_SUMDB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*(/[A-Za-z0-9.\-_~]+)*")


def is_sumdb_name(name: str) -> bool:
    """Whether ``name`` can name a checksum database: a note key name that is a host[/path].

    cmd/go ``modfetch.dbDial`` takes the name from the verifier key and requires that
    ``https://<name>`` be a plain URL; the proxy serves it under ``/sumdb/<name>/``.
    """
    return bool(is_valid_name(name) and _SUMDB_NAME.fullmatch(name) and ".." not in name)


@functools.lru_cache(maxsize=32)
def compile_config(config: ProxyConfig) -> CompiledConfig:
    """The compiled form of ``config`` (cached: configs are immutable)."""
    return CompiledConfig(config)
