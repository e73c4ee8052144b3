"""Effects: the I/O the core asks its caller to carry out, and the results it takes back.

Theory of operation: the core never does I/O. ``ProxyConnection.next_effect(now, monotonic)``
returns one effect at a time; the caller carries it out and reports the result through the matching
past-tense method (``blob_statted``, ``blob_read``, ``upstream_fetched`` ...), then asks for the
next effect. An effect that needs no answer (``SendBytes``) is simply done before asking again.
Bodies of any size move as streams owned by the caller: the core names a blob, the caller moves
its bytes (``SendBlob``), so a zip is never held whole in memory.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

import msgspec

from ..errors import ProxyError
from ..sumdb.dirhash import sha256_stream
from ..sumdb.server import hash_record
from .checks import check_upstream_zip
from .config import ProxyConfig, compile_config

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping

    from ..zip.stream import StreamedEntry
    from .replies import Reply
    from .targets import Request, VersionReq
    from .warm import WarmItem

__all__ = [
    "NEED_DATA",
    "AbortBlob",
    "AppendSumdb",
    "BlobData",
    "BlobInfo",
    "CheckZip",
    "CloseConnection",
    "CommitBlob",
    "Effect",
    "FetchDirect",
    "FetchUpstream",
    "IOEffect",
    "KeyList",
    "ListKeys",
    "MetricsPage",
    "NeedData",
    "Prefetch",
    "PrefetchOutcome",
    "ReadBlob",
    "ReadCatalog",
    "ReadSumdb",
    "RenderMetrics",
    "Revalidate",
    "SaveBlob",
    "SendBlob",
    "SendBytes",
    "StatBlob",
    "StoreFailure",
    "SumdbAnswer",
    "SumdbPart",
    "UpstreamResult",
    "WarmCache",
    "ZipVerdict",
]


class NeedData(enum.Enum):
    """Sentinel type: the core needs more bytes from the client (``receive_data``)."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


class SendBytes(msgspec.Struct, frozen=True):
    """Write ``data`` to the client; no answer is expected."""

    data: bytes


class SendBlob(msgspec.Struct, frozen=True):
    """Write the stored blob ``key`` (exactly ``size`` bytes) to the client as a response body.

    With ``head`` empty, the response head has already gone out through ``SendBytes``. With
    ``head`` set (a repeated answer from the hot table), open the blob first, then write
    ``head`` and the blob: if the blob is gone (a cache eviction or a quarantine, perhaps by
    another process, removed it since the answer was kept), nothing has been written yet, and
    the caller answers ``blob_missing()``: the connection then answers the request again
    through the engine (the store, then the upstreams). The caller may use ``sendfile``.
    Answer with ``blob_sent()``, or ``send_failed()`` if the client went away or the blob could
    not be read whole.
    """

    key: str
    size: int
    head: bytes = b""


class StatBlob(msgspec.Struct, frozen=True):
    """Look up the blob ``key`` in the store. Answer ``blob_statted(BlobInfo | None)``."""

    key: str


class ReadBlob(msgspec.Struct, frozen=True):
    """Read the small blob ``key`` whole (it is at most ``max_size`` bytes).

    Answer ``blob_read(BlobData | None)``; None when absent (or larger than ``max_size``).
    ``immutable`` says the blob's bytes can never change once stored (a version's ``.info``
    or ``.mod``, a checksum-database tile): a caller may keep them in memory and answer
    later reads of the key without touching the store.
    """

    key: str
    max_size: int
    immutable: bool = False


class StoreSpace(msgspec.Struct, frozen=True):
    """Ask the store how much room it has left (for ``/readyz``).

    Answer ``store_space_told(FreeSpace | None)``; None when the store cannot tell (it keeps
    no local files, or asking failed).
    """


class FreeSpace(msgspec.Struct, frozen=True):
    """The room a store has left: ``free`` bytes, where ``where`` names it (its directory)."""

    free: int
    where: str


class RenderMetrics(msgspec.Struct, frozen=True):
    """Render the server's metrics for ``/metrics`` (the Prometheus exposition format).

    Answer ``metrics_rendered(MetricsPage | None)``; None when this caller keeps no metrics
    (answered 404). The core counts nothing itself: the caller's metrics are its own.
    """


class MetricsPage(msgspec.Struct, frozen=True):
    """A rendered metrics page: its ``body`` and its ``content_type``."""

    body: bytes
    content_type: str


class SaveBlob(msgspec.Struct, frozen=True):
    """Store ``data`` under ``key`` atomically (visible only once complete).

    Answer ``blob_saved(ok)``; a failed save is not an error for the request being served.
    """

    key: str
    data: bytes


class FetchUpstream(msgspec.Struct, frozen=True):
    """GET ``url`` from an upstream (``http``, ``https`` or ``file``).

    With ``into`` None, read the body whole (at most ``max_size`` bytes: a larger body is a
    failure) and answer ``upstream_fetched`` with ``body``. With ``into`` set, stream a 200 body
    into a pending (invisible) store write for that key, and answer with its status; the core
    then says ``CheckZip``, and ``CommitBlob`` or ``AbortBlob`` for that key. Non-200 bodies
    are always read whole, up to 64 KiB.

    With ``relay`` (a GET for this very file), the caller may also stream the body to the
    client while it arrives: on a 200 with a Content-Length it calls
    ``ProxyConnection.relay_started(length)``, sends the bytes that returns, then sends each
    chunk as it is written, holding back the last one, which it reports as
    ``UpstreamResult.held``. The core releases it only once the blob is checked and stored;
    a bad blob cuts the connection short, so the client never takes it for complete. Bodies
    of at most ``relay_above`` bytes are not relayed: they are fetched whole and verified
    before the response head goes out, so a refused one gets a clear status and text.

    ``upstream`` is the base URL of the GOPROXY entry the fetch is for ("" when it is not one):
    the caller keys its per-upstream circuit breaker (:class:`goproxy_core.Breaker`) by it.

    ``immutable``: the body is a canonical version's ``.info`` or ``.mod``, the same bytes
    whenever it is asked for. A caller that shares one fetch among concurrent requests may
    also hand a 200 body to requests arriving a few seconds after it landed (while the flow
    that fetched it checks it against the checksum database and stores it), instead of
    fetching it again; each request's own flow validates what it is handed.

    ``saves``: the store key under which the flow will save a 200 body fetched whole
    (``SaveBlob``), once it has checked it; None if it saves none. A caller that shares one
    fetch among processes (``goproxy_stores.leases``) holds a lease on it (or on ``into``) until
    that save, and a process waiting on another's lease answers from the blob once saved.
    """

    url: str
    max_size: int
    into: str | None = None
    relay: bool = False
    relay_above: int = 0
    upstream: str = ""
    immutable: bool = False
    saves: str | None = None


class FetchDirect(msgspec.Struct, frozen=True):
    """Answer a proxy file from the module's own repository (direct mode).

    Asked for ``direct`` in the upstream list, and for every module matching the private
    patterns. Carry it out by running :func:`goproxy_core.direct.direct_flow` with ``module``
    and ``file`` (the reference driver over ``git`` is ``goproxy_io.vcs``), then answer
    ``upstream_fetched`` as for ``FetchUpstream``: a 200 with ``body``, or with ``into`` set a
    200 whose body went into a pending store write for that key (then ``CheckZip``, and
    ``CommitBlob`` or ``AbortBlob``); a module or version that does not exist is a 404 or 410.

    Attributes:
        module: the module path.
        file: ``"list"``, ``"latest"``, or a version or query with its suffix, unescaped:
            ``"v1.2.3.info"``, ``"main.info"``, ``"v1.2.3.mod"``, ``"v1.2.3.zip"``.
        max_size: the largest answer accepted, in bytes.
        into: the key of a pending store write for the body (zips), or None.
        immutable: as for :class:`FetchUpstream`: a canonical version's ``.info`` or ``.mod``.
        saves: as for :class:`FetchUpstream`: the key a 200 body is saved under, or None.
    """

    module: str
    file: str
    max_size: int
    into: str | None = None
    immutable: bool = False
    saves: str | None = None


class CheckZip(msgspec.Struct, frozen=True):
    """Check the zip in the pending write for ``key`` (from ``FetchUpstream(into=key)``).

    The rule is the core's (:meth:`check`); running it is the caller's work: it reads a file
    of unknown size (up to 500 MiB) and spends CPU on every byte, so an event-loop server runs
    it in a worker thread. Call ``check`` with a readable, seekable view of the pending write
    and answer ``zip_checked`` with the :class:`ZipVerdict` it returns: the problem ("" when
    the zip is good) and, for a good zip, its ``h1:`` hash (x/mod ``dirhash.HashZip``),
    computed in the same pass so that the core can compare it with the checksum database
    without reading the zip on the caller's event loop.

    Attributes:
        key: the pending write's key.
        module: the module path.
        version: the version.
    """

    key: str
    module: str
    version: str

    def check(
        self,
        stream: BinaryIO,
        digest: tuple[str, int] | None = None,
        streamed: Mapping[int, StreamedEntry] | None = None,
    ) -> ZipVerdict:
        """Run the check over ``stream``: the verdict for ``zip_checked``.

        One pass over the entries: the rule (x/mod ``zip.CheckZip``, plus ``Unzip``'s reads)
        hashes every entry as it inflates it, which is all ``dirhash.HashZip`` needs, so the
        ``h1:`` comes from that pass. ``digest`` is the SHA-256 (hex) and length of the whole
        stream when the caller computed them while the bytes were written (the reference
        executor hashes the body as it streams in); without it they are read here.
        ``streamed`` holds the entries a :class:`~goproxy_core.zip.stream.ZipFollower` read
        whole as the body arrived: those the central directory matches are not inflated
        again, so only the directory's cross-check is left (the verdict is the same).
        """
        try:
            h1 = check_upstream_zip(self.module, self.version, stream, streamed).zip_hash
        except ProxyError as e:  # the rule's words, or dirhash's
            return ZipVerdict(problem=str(e))
        assert h1 is not None  # check_zip sets it on every zip it passes
        if digest is None:
            stream.seek(0)
            digest = sha256_stream(stream)
        sha256, size = digest
        return ZipVerdict(h1=h1, sha256=sha256, size=size)


class StoreFailure(msgspec.Struct, frozen=True):
    """The store failed to keep a blob: an answer to ``CommitBlob``, or in ``UpstreamResult``.

    Attributes:
        message: the cache's own words, naming it (``cache /var/cache/goproxy: no space left
            on device``).
        kind: ``"full"`` (no space or quota left), ``"name"`` (the file system cannot hold
            the key's name) or ``"failed"`` (any other I/O failure).
    """

    message: str
    kind: str = "failed"


class ZipVerdict(msgspec.Struct, frozen=True):
    """What ``CheckZip.check`` found.

    Attributes:
        problem: why the zip is refused, in words; "" for a good zip.
        h1: the zip's ``h1:`` hash (go.sum form) when it is good.
        sha256: the SHA-256 of its bytes (hex) when it is good: its ETag, and its record's.
        size: its length in bytes when it is good.
        store_failure: the pending write could not be read back (a flush failed on a full
            disk): the cache's failure, not the zip's; ``problem`` is then "".
    """

    problem: str = ""
    h1: str = ""
    sha256: str = ""
    size: int = 0
    store_failure: StoreFailure | None = None


class CommitBlob(msgspec.Struct, frozen=True):
    """Publish the pending write for ``key`` (from ``FetchUpstream(into=key)``).

    Answer ``blob_committed(BlobInfo | StoreFailure | None)``: the stored blob's info, or why
    the store could not keep it (None: it failed, no reason given).
    """

    key: str


class AbortBlob(msgspec.Struct, frozen=True):
    """Discard the pending write for ``key``; nothing of it may stay visible.

    Answer ``blob_aborted()``. ``refused`` says why the upstream's blob was refused (bad
    data: a broken zip, a checksum mismatch), "" for any other reason: a caller that shares
    one fetch among concurrent requests hands that refusal to the requests waiting on it
    (``UpstreamResult.refused``) instead of having each fetch the same bad blob again.
    """

    key: str
    refused: str = ""


class SumdbPart(enum.Enum):
    """What :class:`ReadSumdb` reads from the proxy's own checksum database."""

    LATEST = "latest"
    LOOKUP = "lookup"
    TILE = "tile"


class ReadSumdb(msgspec.Struct, frozen=True):
    """Read an answer of the proxy's own checksum database ``name`` from its log.

    Compute it with :mod:`goproxy_core.sumdb.server` over the log's records, stored hashes
    and latest signed tree (``goproxy_io.sumdb_log`` is the reference log), and answer
    ``sumdb_answered(SumdbAnswer)``: ``found`` False for a version not in the log, or a tile
    not (yet) in the tree.

    Attributes:
        name: the database name (``ProxyConfig.own_sumdb``).
        part: ``LATEST`` (the signed tree note), ``LOOKUP`` (``lookup_body`` of
            ``module``@``version``) or ``TILE`` (``hash_tile``/``data_tile`` of ``tile``).
        module: for ``LOOKUP``, the module path.
        version: for ``LOOKUP``, the version.
        tile: for ``TILE``, the tile path (``tile/8/0/000.p/3``), already parsed once.
    """

    name: str
    part: SumdbPart
    module: str = ""
    version: str = ""
    tile: str = ""


class AppendSumdb(msgspec.Struct, frozen=True):
    """Append ``module``@``version`` to the own checksum database ``name``; answer its lookup.

    The version's zip and ``.mod`` are stored (under ``zip_key`` and ``mod_key``). Hash them
    with :meth:`record`, off your event loop (it reads the whole zip), then append the record
    in one transaction with its stored hashes and a newly signed tree, unless the version is
    in the log already (a record, once published, never changes: the one logged is kept).
    Answer ``sumdb_answered(SumdbAnswer)`` with the version's lookup body.
    """

    name: str
    module: str
    version: str
    zip_key: str
    mod_key: str

    def record(self, zip_file: BinaryIO, gomod: bytes) -> bytes:
        """The version's record: the go.sum lines of the zip (read through) and of ``gomod``."""
        return hash_record(self.module, self.version, zip_file, gomod)


class SumdbAnswer(msgspec.Struct, frozen=True):
    """The answer to :class:`ReadSumdb` or :class:`AppendSumdb`.

    Attributes:
        found: the answer exists (False: not in the log, or not yet).
        body: the answer's bytes.
        error: the log could not be read or written: what went wrong, for the log and a 500.
    """

    found: bool
    body: bytes = b""
    error: str = ""


class Revalidate(msgspec.Struct, frozen=True):
    """Refresh the mutable answer stored under ``key`` in the background; answer None at once.

    Yielded when a ``list``, ``@latest`` or query answer past its TTL but within
    ``ProxyConfig.max_stale`` is answered from the store (stale-while-revalidate): the request
    goes on without waiting. The caller runs :meth:`refresh`, a core flow that asks the
    upstreams for that answer and stores it, driving its effects as for a request (a fresh
    pending-write table, nothing relayed) wherever it likes, off the request's path: the
    reference executor (``goproxy_io.executor``) runs a few at a time on threads of its own,
    one per key, and drops the rest. Dropping one is always safe: the next stale hit asks again.

    Attributes:
        key: the store key of the answer (what to run at most once at a time).
        request: the request whose answer it is (a ``ListReq``, ``LatestReq`` or query
            ``VersionReq``).
        config: the settings to refresh it under.
    """

    key: str
    request: Request
    config: ProxyConfig

    def refresh(self, now: float) -> Generator[IOEffect, object, str]:
        """The refresh flow at ``now``: yields effects, returns "" or why it stored nothing."""
        from .engine import handle_refresh

        return handle_refresh(compile_config(self.config), self.request, now)


class PrefetchOutcome(msgspec.Struct, frozen=True):
    """How one prefetched file ended (what :meth:`Prefetch.run` returns).

    Attributes:
        stored: the prefetch fetched, verified and stored the file.
        present: it was in the store already (nothing fetched).
        error: neither: why not, one line for the log ("" otherwise).
    """

    stored: bool = False
    present: bool = False
    error: str = ""


class Prefetch(msgspec.Struct, frozen=True):
    """Fetch these files in the background, as a client's request would; answer None at once.

    Yielded when a ``.mod`` fetched cold from an upstream proxy (a miss, not a hit, not from
    ``direct``) has been stored: ``requests`` are the ``.mod`` and ``.info`` of every canonical
    module version its ``require`` lines name (not private, not ``nosumdb``): what the go
    command, reading that go.mod while loading the module graph, asks for next. The caller runs
    :meth:`run` for each, a core flow that fetches, verifies against the checksum database and
    stores the file exactly as a client's request would (without remembering a failure),
    wherever it likes, off the request's path: the reference executor (``goproxy_io.executor``)
    queues them, runs a few at a time, one per key, and drops what does not fit. Dropping one is
    always safe: the client's own request fetches it.

    A prefetched ``.mod`` that was itself a miss and does not prune the module graph yields
    its own ``Prefetch`` with ``depth`` one more, up to
    :data:`~goproxy_core.proxy.engine.prefetch.MAX_PREFETCH_DEPTH`.

    Attributes:
        requests: canonical ``.mod`` and ``.info`` requests, each file once.
        depth: 1 for the requires of a ``.mod`` a client asked for; one more per prefetch hop.
        config: the settings to fetch them under.
    """

    requests: tuple[VersionReq, ...]
    depth: int
    config: ProxyConfig

    @staticmethod
    def key(req: VersionReq) -> str:
        """The store key of ``req``'s file (what to run at most once at a time)."""
        from .keys import version_key

        return version_key(req.escaped, req.escaped_version, req.kind.value)

    def run(self, req: VersionReq, now: float) -> Generator[IOEffect, object, PrefetchOutcome]:
        """The flow fetching ``req`` (one of :attr:`requests`) at ``now``."""
        from .engine import handle_prefetch

        return handle_prefetch(compile_config(self.config), req, now, self.depth)


class ReadCatalog(msgspec.Struct, frozen=True):
    """Tell what the cache holds, for the catalog page and ``/catalog``.

    Answer ``catalog_read(CatalogData)`` (:mod:`goproxy_core.proxy.catalog`): the module
    versions stored (each with its bytes, last use and uses, as far as the caller knows them)
    that match, ordered by module path then version (plain string order), those after
    ``after`` only, at most ``limit`` of them, and ``more`` when others follow; with
    ``summary``, also the cache's totals, free space, the ``top`` most requested and most
    recently used modules, the state of each upstream in ``upstreams`` (its circuit breaker),
    the prefetch counters, and the verifier key of the own checksum database ``own_sumdb``.
    A caller that cannot tell answers ``CatalogData(available=False, why=…)``. It may read an
    index or list the store (bounded): run it off your event loop.
    ``goproxy_core.proxy.catalog.catalog_from_files`` answers it from a list of stored files.

    Attributes:
        search: only module paths containing this (case-insensitive); "" for all.
        module: only this module's versions; "" for all.
        after: the page starts after this (module, version); None: from the first.
        limit: versions at most.
        summary: also the totals, top lists, upstream health and counters.
        top: how many modules each top list holds.
        upstreams: the GOPROXY entries' base URLs (the circuit breakers' keys).
        own_sumdb: the own checksum database's name ("" none).
    """

    search: str = ""
    module: str = ""
    after: tuple[str, str] | None = None
    limit: int = 1000
    summary: bool = False
    top: int = 10
    upstreams: tuple[str, ...] = ()
    own_sumdb: str = ""


class ListKeys(msgspec.Struct, frozen=True):
    """List the stored keys that start with ``prefix`` (``BlobStore.list_keys``).

    Answer ``keys_listed(KeyList)``: at most ``limit`` keys, in any order, ``complete`` False
    when there were more. Pending writes are not keys. The offline answers of a list and
    ``@latest`` ask it for one module's ``@v/`` directory (what the cache holds of the module).
    It reads a directory of unknown size: an event-loop server runs it in a worker thread.

    Attributes:
        prefix: the key prefix (``example.com/m/@v/``).
        limit: the most keys wanted.
    """

    prefix: str
    limit: int = 100_000


class KeyList(msgspec.Struct, frozen=True):
    """The answer to :class:`ListKeys`.

    Attributes:
        keys: the keys found (at most the effect's ``limit``), in any order.
        complete: False when more keys matched than were returned.
        error: the store could not be listed: the cache's own words, naming it ("" when it
            could).
    """

    keys: tuple[str, ...] = ()
    complete: bool = True
    error: str = ""


class WarmCache(msgspec.Struct, frozen=True):
    """Fetch these module versions into the cache, as clients' requests would; answer the
    totals (a :class:`~goproxy_core.proxy.warm.WarmSummary`).

    Yielded by ``POST /admin/warm`` (``ProxyConfig.admin_warm``) for the versions its go.sum
    body lists. The caller runs :meth:`run` for each of :meth:`requests` (the ``.info``,
    ``.mod`` and ``.zip`` of each version, or the ``.mod`` only), a few at once and off its
    event loop: it takes as long as the fetches do. Each flow is a client's ``GET`` of that
    file (served from the store when there; else fetched, verified, recorded, stored), with
    prefetch off. ``goproxy_io``'s ``Executor`` runs it with ``goproxy_io.warm.Warmer``,
    :data:`~goproxy_core.proxy.warm.WARM_JOBS` files at once.

    Attributes:
        items: the module versions, each once.
        config: the settings to fetch them under.
    """

    items: tuple[WarmItem, ...]
    config: ProxyConfig

    def requests(self) -> tuple[VersionReq, ...]:
        """Every file to fetch, in order."""
        return tuple(r for item in self.items for r in item.requests())

    def run(self, req: VersionReq, now: float) -> Generator[IOEffect, object, Reply]:
        """The flow fetching ``req`` (one of :meth:`requests`) at ``now``: a client's GET."""
        from .engine import handle_request

        config = msgspec.structs.replace(self.config, prefetch=False)
        return handle_request(compile_config(config), req, now)


class CloseConnection(msgspec.Struct, frozen=True):
    """Close the client connection (after writing everything sent so far)."""


IOEffect: TypeAlias = (
    StatBlob
    | ReadBlob
    | SaveBlob
    | StoreSpace
    | RenderMetrics
    | FetchUpstream
    | FetchDirect
    | CheckZip
    | CommitBlob
    | AbortBlob
    | ReadSumdb
    | AppendSumdb
    | Revalidate
    | Prefetch
    | ReadCatalog
    | ListKeys
    | WarmCache
)
"""The effects a request's flow yields: store, upstream, check and own-database I/O."""

Effect: TypeAlias = NeedData | SendBytes | SendBlob | IOEffect | CloseConnection


class BlobInfo(msgspec.Struct, frozen=True):
    """What a store knows of a blob without reading it.

    Attributes:
        size: length in bytes.
        mtime: when it was stored, in seconds since the epoch (the store's clock).
    """

    size: int
    mtime: float


class BlobData(msgspec.Struct, frozen=True):
    """A small blob read whole, with the time it was stored."""

    data: bytes
    mtime: float


class UpstreamResult(msgspec.Struct, frozen=True):
    """What came back from a ``FetchUpstream``.

    Attributes:
        status: the HTTP status (a ``file://`` upstream maps a missing file to 404 and a
            permission error to 403); 0 when no response arrived.
        body: the body read whole (non-200 answers, and 200 answers without ``into``).
        error: for status 0, what went wrong (``"timeout"``, ``"connection refused"``, a
            truncated body ...), in words for the log and the client's error text.
        content_type: the response's Content-Type, "" if none.
        timeout: whether the failure was a timeout (answered as 504 rather than 502).
        stored: with ``into``, the blob is already in the store, fetched, checked and
            committed by a concurrent request for the same key (single-flight): the core
            serves it without checking it again.
        held: with ``relay`` after ``relay_started``: the end of the body, not yet sent.
        refused: with ``into``, a concurrent request fetched this blob and refused it for
            this reason (``AbortBlob.refused``): the core refuses it the same way.
        store_failure: with ``into``, the body could not be written into the store (status
            0): the cache's fault, not the upstream's.
    """

    status: int
    body: bytes = b""
    error: str = ""
    content_type: str = ""
    timeout: bool = False
    stored: BlobInfo | None = None
    held: bytes = b""
    refused: str = ""
    store_failure: StoreFailure | None = None
