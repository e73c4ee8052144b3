"""Helpers for testing code built on the core, with no sockets, files or clocks.

* :class:`MemoryStore`: a :class:`~goproxy_core.storage.BlobStore` in memory, with a clock the
  test sets (``store.now``), optionally bounded by bytes (least recently used blobs go first).
* :class:`ScriptedUpstream`: answers ``FetchUpstream`` effects from a table of URLs and records
  every URL asked.
* :class:`MemorySumdb`: the log of the proxy's own checksum database in memory; answers
  ``ReadSumdb`` and ``AppendSumdb``.
* :func:`carry_out`: carries out one effect against a store and an upstream, as every server
  does; :func:`exchange` drives a connection through whole requests.
* :func:`run_prefetch`: carries out a ``Prefetch`` (the next wave of the module graph) and
  the prefetches it leads to.
* :func:`run_refresh`: carries out a ``Revalidate`` (a background refresh of a stale list,
  ``@latest`` or query answer). :func:`exchange` runs the ones its requests asked for once
  their replies are out, as a server's background worker would, or hands them to the test.

Example::

    store = MemoryStore()
    upstream = ScriptedUpstream({"https://up.example/example.com/m/@v/list": (200, b"v1.0.0\\n")})
    conn = ProxyConnection(ProxyConfig(upstream="https://up.example"))
    raw = exchange(conn, b"GET /example.com/m/@v/list HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
                   store=store, upstream=upstream, now=1000.0)
"""

from __future__ import annotations

import collections
import io
from typing import TYPE_CHECKING, BinaryIO, cast

import msgspec

from .proxy.catalog import catalog_from_files
from .proxy.effects import (
    NEED_DATA,
    AbortBlob,
    AppendSumdb,
    BlobData,
    BlobInfo,
    CheckZip,
    CloseConnection,
    CommitBlob,
    Effect,
    FetchDirect,
    FetchUpstream,
    FreeSpace,
    KeyList,
    ListKeys,
    Prefetch,
    PrefetchOutcome,
    ReadBlob,
    ReadCatalog,
    ReadSumdb,
    RenderMetrics,
    Revalidate,
    SaveBlob,
    SendBlob,
    SendBytes,
    StatBlob,
    StoreSpace,
    SumdbAnswer,
    SumdbPart,
    UpstreamResult,
    WarmCache,
)
from .proxy.keys import version_key
from .proxy.warm import WarmSummary
from .storage import SpaceReportingStore
from .sumdb.note import new_signer
from .sumdb.server import (
    append_hashes,
    data_tile,
    hash_tile,
    lookup_body,
    signed_tree,
    tile_in_tree,
)
from .sumdb.tile import parse_tile_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from .proxy.connection import ProxyConnection
    from .proxy.targets import VersionReq
    from .storage import BlobStore, BlobWriter

__all__ = [
    "MemoryStore",
    "MemorySumdb",
    "ScriptedUpstream",
    "carry_out",
    "check_blob_store",
    "exchange",
    "run_prefetch",
    "run_refresh",
]


class _MemoryWriter:
    def __init__(self, store: MemoryStore, key: str) -> None:
        self._store = store
        self._key = key
        self._buf = io.BytesIO()
        self._done = False

    def write(self, data: bytes) -> None:
        self._buf.write(data)

    def reader(self) -> BinaryIO:
        return io.BytesIO(self._buf.getvalue())

    def commit(self) -> BlobInfo:
        if self._done:
            raise ValueError("writer already finished")
        self._done = True
        return self._store.put(self._key, self._buf.getvalue())

    def abort(self) -> None:
        self._done = True
        self._buf = io.BytesIO()


class MemoryStore:
    """A blob store in memory.

    Args:
        max_bytes: evict least recently used blobs past this total (None: unbounded).

    Attributes:
        now: the time stamped on blobs as they are stored; tests move it forward.
        fail_writes: make every commit fail (to test an unwritable store).
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self._blobs: collections.OrderedDict[str, tuple[bytes, float]] = collections.OrderedDict()
        self._size = 0
        self.max_bytes = max_bytes
        self.now = 0.0
        self.fail_writes = False

    def put(self, key: str, data: bytes, mtime: float | None = None) -> BlobInfo:
        """Store ``data`` under ``key`` at once (``mtime`` defaults to ``now``)."""
        if self.fail_writes:
            raise OSError("store is read-only")
        self.delete(key)
        when = self.now if mtime is None else mtime
        self._blobs[key] = (data, when)
        self._size += len(data)
        while self.max_bytes is not None and self._size > self.max_bytes and self._blobs:
            _, (old, _) = self._blobs.popitem(last=False)
            self._size -= len(old)
        return BlobInfo(size=len(data), mtime=when)

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None."""
        entry = self._blobs.get(key)
        return None if entry is None else entry[0]

    def keys(self) -> list[str]:
        """Every key stored."""
        return list(self._blobs)

    def open(self, key: str) -> BinaryIO | None:
        entry = self._blobs.get(key)
        if entry is None:
            return None
        self._blobs.move_to_end(key)
        return io.BytesIO(entry[0])

    def stat(self, key: str) -> BlobInfo | None:
        entry = self._blobs.get(key)
        return None if entry is None else BlobInfo(size=len(entry[0]), mtime=entry[1])

    def writer(self, key: str) -> BlobWriter:
        return _MemoryWriter(self, key)

    def delete(self, key: str) -> None:
        entry = self._blobs.pop(key, None)
        if entry is not None:
            self._size -= len(entry[0])

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return iter([k for k in self._blobs if k.startswith(prefix)])

    def move(self, key: str, to: str) -> bool:
        entry = self._blobs.get(key)
        if entry is None:
            return False
        self.delete(key)
        self.put(to, entry[0], entry[1])
        return True


Answer = UpstreamResult | tuple[int, bytes] | tuple[int, bytes, str]


class ScriptedUpstream:
    """Upstream answers from a table: URL → ``UpstreamResult`` or ``(status, body[, type])``.

    URLs not in the table answer 404. ``requests`` lists every URL asked, in order. A
    ``FetchDirect`` is looked up as ``direct:<module>@<file>`` (``direct:example.com/m@list``).
    An ``UpstreamResult`` with ``stored`` or ``refused`` stands for a concurrent request's
    fetch of the same blob (single-flight): it is handed to the core as is.
    """

    def __init__(self, routes: Mapping[str, Answer] | None = None) -> None:
        self.routes: dict[str, Answer] = dict(routes or {})
        self.requests: list[str] = []

    def __call__(self, effect: FetchUpstream | FetchDirect) -> UpstreamResult:
        if isinstance(effect, FetchDirect):
            url = f"direct:{effect.module}@{effect.file}"
        else:
            url = effect.url
        self.requests.append(url)
        answer = self.routes.get(url, (404, b"not found\n", "text/plain"))
        if isinstance(answer, UpstreamResult):
            return answer
        ctype = answer[2] if len(answer) == 3 else "text/plain; charset=utf-8"
        return UpstreamResult(status=answer[0], body=answer[1], content_type=ctype)


class MemorySumdb:
    """The log of an own checksum database, in memory (``goproxy_io.sumdb_log`` on disk).

    Args:
        signer_key: the database's signer key (``PRIVATE+KEY+<name>+...``).

    Attributes:
        records: the logged records, by id; ``index`` maps ``(module, version)`` to its id.
        error: when set, every answer fails with it (a log that cannot be read).
    """

    def __init__(self, signer_key: str) -> None:
        self.signer = new_signer(signer_key)
        self.records: list[bytes] = []
        self.index: dict[tuple[str, str], int] = {}
        self.hashes: dict[int, bytes] = {}
        self.error = ""

    def _read_hashes(self, indexes: list[int]) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def _read_records(self, start: int, count: int) -> list[bytes]:
        return self.records[start : start + count]

    def latest(self) -> bytes:
        """The signed note of the latest tree."""
        return signed_tree(len(self.records), self._read_hashes, self.signer)

    def append(self, module: str, version: str, text: bytes) -> bytes:
        """Log a version unless logged; its lookup body."""
        id = self.index.get((module, version))
        if id is None:
            id = len(self.records)
            first, hashes = append_hashes(id, text, self._read_hashes)
            self.hashes.update((first + i, h) for i, h in enumerate(hashes))
            self.records.append(text)
            self.index[module, version] = id
        return lookup_body(id, self.records[id], self.latest())

    def answer(self, effect: ReadSumdb | AppendSumdb, store: BlobStore) -> SumdbAnswer:
        """The answer to ``effect``; an ``AppendSumdb`` reads the version's files from ``store``."""
        if self.error:
            return SumdbAnswer(found=False, error=self.error)
        if isinstance(effect, AppendSumdb):
            mod, zf = _read_all(store, effect.mod_key), store.open(effect.zip_key)
            if mod is None or zf is None:
                return SumdbAnswer(found=False, error="the version's files left the store")
            with zf:
                text = effect.record(zf, mod)
            return SumdbAnswer(found=True, body=self.append(effect.module, effect.version, text))
        if effect.part is SumdbPart.LATEST:
            return SumdbAnswer(found=True, body=self.latest())
        if effect.part is SumdbPart.LOOKUP:
            id = self.index.get((effect.module, effect.version))
            if id is None:
                return SumdbAnswer(found=False)
            return SumdbAnswer(found=True, body=lookup_body(id, self.records[id], self.latest()))
        tile, n = parse_tile_path(effect.tile), len(self.records)
        if not tile_in_tree(tile, n):
            return SumdbAnswer(found=False)
        if tile.L == -1:
            return SumdbAnswer(found=True, body=data_tile(tile, n, self._read_records))
        return SumdbAnswer(found=True, body=hash_tile(tile, n, self._read_hashes))


def carry_out(
    conn: ProxyConnection,
    effect: Effect,
    store: BlobStore,
    upstream: Callable[[FetchUpstream | FetchDirect], UpstreamResult],
    pending: dict[str, BlobWriter],
    out: bytearray,
    sumdb: MemorySumdb | None = None,
    revalidations: list[Revalidate] | None = None,
    prefetches: list[Prefetch] | None = None,
) -> None:
    """Carry out one store, upstream or send effect and report its result to ``conn``.

    A ``Prefetch`` is answered at once and appended to ``prefetches`` (dropped without one):
    run it with :func:`run_prefetch` when the test wants the background fetches to happen.

    ``sumdb`` answers the own checksum database's effects (``ReadSumdb``, ``AppendSumdb``);
    without one they fail as a log that cannot be opened. A ``Revalidate`` is answered at
    once and appended to ``revalidations`` (dropped without one): run it with
    :func:`run_refresh` when the test wants the background refresh to happen.
    """
    if isinstance(effect, SendBytes):
        out += effect.data
    elif isinstance(effect, SendBlob):
        f = store.open(effect.key)
        if f is None:
            if effect.head:  # nothing written yet: the engine answers again
                conn.blob_missing()
            else:
                conn.send_failed()
            return
        with f:
            out += effect.head
            out += f.read()
        conn.blob_sent()
    elif isinstance(effect, Revalidate):
        if revalidations is not None:
            revalidations.append(effect)
        conn.revalidation_started()
    elif isinstance(effect, Prefetch):
        if prefetches is not None:
            prefetches.append(effect)
        conn.prefetch_started()
    else:
        conn.resolve(_perform(effect, store, upstream, pending, sumdb))


def _perform(
    effect: Effect,
    store: BlobStore,
    upstream: Callable[[FetchUpstream | FetchDirect], UpstreamResult],
    pending: dict[str, BlobWriter],
    sumdb: MemorySumdb | None,
) -> object:
    """The result of one store, upstream, check or own-database effect."""
    if isinstance(effect, (ReadSumdb, AppendSumdb)):
        if sumdb is None:
            return SumdbAnswer(found=False, error="no log")
        return sumdb.answer(effect, store)
    if isinstance(effect, StatBlob):
        return store.stat(effect.key)
    if isinstance(effect, ReadBlob):
        info = store.stat(effect.key)
        f = store.open(effect.key)
        if f is None or info is None or info.size > effect.max_size:
            return None
        with f:
            return BlobData(f.read(), info.mtime)
    if isinstance(effect, RenderMetrics):
        return None  # this harness keeps no metrics: /metrics is a 404 saying so
    if isinstance(effect, StoreSpace):
        space = store.free_space() if isinstance(store, SpaceReportingStore) else None
        return None if space is None else FreeSpace(*space)
    if isinstance(effect, SaveBlob):
        try:
            w = store.writer(effect.key)
            w.write(effect.data)
            w.commit()
        except OSError:
            return False
        return True
    if isinstance(effect, (FetchUpstream, FetchDirect)):
        res = upstream(effect)
        if res.status == 200 and len(res.body) > effect.max_size:
            res = UpstreamResult(status=0, error="response too large")
        if effect.into is not None and res.status == 200 and not (res.refused or res.stored):
            w = store.writer(effect.into)
            w.write(res.body)
            pending[effect.into] = w
            res = UpstreamResult(status=200, content_type=res.content_type)
        return res
    if isinstance(effect, CheckZip):
        return effect.check(pending[effect.key].reader())
    if isinstance(effect, CommitBlob):
        try:
            return pending.pop(effect.key).commit()
        except OSError:
            return None
    if isinstance(effect, AbortBlob):
        pending.pop(effect.key).abort()
        return None
    if isinstance(effect, ReadCatalog):
        return _catalog(effect, store)
    if isinstance(effect, ListKeys):
        keys = sorted(store.list_keys(effect.prefix))
        return KeyList(tuple(keys[: effect.limit]), complete=len(keys) <= effect.limit)
    if isinstance(effect, WarmCache):
        return _warm(effect, store, upstream, sumdb)
    if isinstance(effect, (Revalidate, Prefetch)):
        return None  # in a background flow: :func:`run_prefetch` keeps a Prefetch itself
    # NEED_DATA and CloseConnection are the caller's.
    raise TypeError(f"not an I/O effect: {effect!r}")  # pragma: no cover


def _warm(
    effect: WarmCache,
    store: BlobStore,
    upstream: Callable[[FetchUpstream | FetchDirect], UpstreamResult],
    sumdb: MemorySumdb | None,
) -> WarmSummary:
    """``WarmCache``: each file's flow in turn, at the store's clock; the totals."""
    now = store.now if isinstance(store, MemoryStore) else 0.0
    s = WarmSummary(versions=len(effect.items))
    for req in effect.requests():
        s.files += 1
        pending: dict[str, BlobWriter] = {}
        flow = effect.run(req, now)
        result: object = None
        try:
            while True:
                result = _perform(flow.send(result), store, upstream, pending, sumdb)
        except StopIteration as stop:
            reply = stop.value
        if reply.status != 200:
            s.failed += 1
            why = " ".join(reply.body.decode("utf-8", "replace").split())
            key = version_key(req.escaped, req.escaped_version, req.kind.value)
            s.failures.append(f"{key}: {reply.status} {why}")
        elif "; hit" in reply.cache_status:
            s.present += 1
        else:
            s.fetched += 1
            s.bytes += reply.length
    return s


def _catalog(effect: ReadCatalog, store: BlobStore) -> object:
    """``ReadCatalog`` from a listing of the store (sizes and times from ``stat``)."""
    files = []
    for key in store.list_keys():
        info = store.stat(key)
        if info is not None:
            files.append((key, info.size, info.mtime))
    data = catalog_from_files(files, effect)
    if effect.summary and isinstance(store, SpaceReportingStore):
        space = store.free_space()
        if space is not None:
            data = msgspec.structs.replace(data, free=FreeSpace(*space))
    return data


def run_refresh(
    effect: Revalidate,
    *,
    store: BlobStore,
    upstream: Callable[[FetchUpstream | FetchDirect], UpstreamResult] | None = None,
    now: float = 0.0,
    sumdb: MemorySumdb | None = None,
) -> str:
    """Carry out the background refresh ``effect`` asks for, at ``now``, to its end.

    A :class:`MemoryStore` is set to the same clock. Returns "" when the new answer was
    stored, else why not (what the reference executor logs).
    """
    up = upstream or ScriptedUpstream()
    if isinstance(store, MemoryStore):
        store.now = now
    pending: dict[str, BlobWriter] = {}
    flow = effect.refresh(now)
    result: object = None
    try:
        while True:
            step = flow.send(result)
            result = _perform(step, store, up, pending, sumdb)
    except StopIteration as stop:
        return cast("str", stop.value)


def run_prefetch(
    effect: Prefetch,
    *,
    store: BlobStore,
    upstream: Callable[[FetchUpstream | FetchDirect], UpstreamResult] | None = None,
    now: float = 0.0,
    sumdb: MemorySumdb | None = None,
) -> list[tuple[str, PrefetchOutcome]]:
    """Carry out ``effect`` and every ``Prefetch`` its flows yield, in order, at ``now``.

    Each file is fetched once (one per key, as the reference executor runs them). Returns each
    file's store key and outcome, in the order run.
    """
    up = upstream or ScriptedUpstream()
    if isinstance(store, MemoryStore):
        store.now = now
    queue: list[tuple[Prefetch, VersionReq]] = [(effect, r) for r in effect.requests]
    seen: set[str] = set()
    done: list[tuple[str, PrefetchOutcome]] = []
    while queue:
        parent, req = queue.pop(0)
        key = Prefetch.key(req)
        if key in seen:
            continue
        seen.add(key)
        pending: dict[str, BlobWriter] = {}
        flow = parent.run(req, now)
        result: object = None
        try:
            while True:
                step = flow.send(result)
                if isinstance(step, Prefetch):
                    queue.extend((step, r) for r in step.requests)
                    result = None
                else:
                    result = _perform(step, store, up, pending, sumdb)
        except StopIteration as stop:
            done.append((key, cast("PrefetchOutcome", stop.value)))
    return done


def exchange(
    conn: ProxyConnection,
    data: bytes,
    *,
    store: BlobStore,
    upstream: Callable[[FetchUpstream | FetchDirect], UpstreamResult] | None = None,
    now: float = 0.0,
    monotonic: float | None = None,
    close: bool = False,
    sumdb: MemorySumdb | None = None,
    revalidations: list[Revalidate] | None = None,
    prefetches: list[Prefetch] | None = None,
) -> bytes:
    """Feed ``data`` to ``conn`` and carry out effects until it needs more data or closes.

    Args:
        conn: the connection.
        data: bytes from the client (one or more requests; may be partial).
        store: the store effects act on.
        upstream: answers ``FetchUpstream`` (default: every URL is 404).
        now: the wall-clock value passed to the core.
        monotonic: the monotonic-clock value passed to the core (default: ``now``).
        close: after ``data``, signal that the client closed its side.
        sumdb: the own checksum database's log (see :func:`carry_out`).
        revalidations: where the background refreshes (``Revalidate``) the requests asked
            for go, for the test to run with :func:`run_refresh`. Without it, ``exchange``
            runs each at ``now`` once the connection has sent everything it had to send
            (as a server's background worker would, after the reply), in the order asked.
        prefetches: where the background prefetches (``Prefetch``) the requests asked for
            go, for the test to run with :func:`run_prefetch`; without it they are dropped
            (as a full queue would drop them).

    A :class:`MemoryStore` is set to the same clock (``store.now = now``), so blobs are
    stamped with the time the core sees.

    Returns:
        Every byte the connection sent back.
    """
    up = upstream or ScriptedUpstream()
    if isinstance(store, MemoryStore):
        store.now = now
    out = bytearray()
    pending: dict[str, BlobWriter] = {}
    asked: list[Revalidate] = [] if revalidations is None else revalidations
    conn.receive_data(data)
    eof_sent = False
    while True:
        effect = conn.next_effect(now, now if monotonic is None else monotonic)
        if effect is NEED_DATA:
            if close and not eof_sent:
                conn.receive_data(b"")
                eof_sent = True
                continue
            break
        if isinstance(effect, CloseConnection):
            break
        carry_out(conn, effect, store, up, pending, out, sumdb, asked, prefetches)
    if revalidations is None:
        for one in asked:
            run_refresh(one, store=store, upstream=up, now=now, sumdb=sumdb)
    return bytes(out)


def _read_all(store: BlobStore, key: str) -> bytes | None:
    f = store.open(key)
    if f is None:
        return None
    with f:
        return f.read()


def check_blob_store(store: BlobStore, *, prefix: str = "_check/") -> None:
    """Run the conformance checks every :class:`BlobStore` must pass.

    Round trips, absent keys, streaming writes, abort, a writer dropped before commit (as in
    a crash), concurrent writers of one key, overwrite and delete. Keys are made under
    ``prefix``; the store should be empty there.

    Raises:
        AssertionError: naming the rule the store broke.
    """
    k = prefix + "example.com/!m/@v/v1.0.0"
    assert store.open(k + ".zip") is None, "absent key must open as None"
    assert store.stat(k + ".zip") is None, "absent key must stat as None"
    store.delete(k + ".zip")  # deleting an absent key is not an error

    w = store.writer(k + ".mod")
    w.write(b"module ")
    w.write(b"example.com/M\n")
    assert store.open(k + ".mod") is None, "a pending write must be invisible"
    r = w.reader()
    assert r.read() == b"module example.com/M\n", "reader() must show what was written"
    r.close()
    info = w.commit()
    assert info.size == 21, "commit must report the size"
    assert _read_all(store, k + ".mod") == b"module example.com/M\n", "round trip"
    st = store.stat(k + ".mod")
    assert st is not None, "stat after commit"
    assert st.size == 21, "stat after commit must report the size"

    w = store.writer(k + ".info")
    w.write(b"partial")
    w.abort()
    assert store.open(k + ".info") is None, "abort must leave nothing"

    w = store.writer(k + ".info")
    w.write(b"partial")
    del w  # a writer dropped without commit, as after a crash
    assert store.open(k + ".info") is None, "an uncommitted write must never appear"

    a = store.writer(k + ".zip")
    b = store.writer(k + ".zip")
    chunk = bytes(range(256)) * 256
    for _ in range(16):
        a.write(chunk)
        b.write(chunk[::-1])
    a.commit()
    b.commit()
    got = _read_all(store, k + ".zip")
    assert got in (chunk * 16, chunk[::-1] * 16), "concurrent writers must not mix"

    w = store.writer(k + ".mod")
    w.write(b"module example.com/M // v2\n")
    w.commit()
    assert _read_all(store, k + ".mod") == b"module example.com/M // v2\n", "overwrite"

    assert sorted(store.list_keys(k)) == [k + ".mod", k + ".zip"], "list_keys"
    assert store.move(k + ".mod", prefix + "moved/v1.0.0.mod"), "move"
    assert store.open(k + ".mod") is None, "move must leave the old key absent"
    assert _read_all(store, prefix + "moved/v1.0.0.mod") == b"module example.com/M // v2\n"
    assert not store.move(k + ".mod", prefix + "moved/again"), "moving an absent key"
    assert sorted(store.list_keys(prefix + "moved/")) == [prefix + "moved/v1.0.0.mod"]

    for key in (k + ".zip", prefix + "moved/v1.0.0.mod"):
        store.delete(key)
        assert store.open(key) is None, "delete"
    assert list(store.list_keys(prefix)) == [], "list_keys after delete"
