"""Carrying out the core's ``FetchUpstream`` effects: http(s) through httpx, and file:// trees.

One small adapter over httpx (see docs/dependencies.md for why httpx): connection pooling and
HTTP/1.1 keep-alive (never HTTP/2: see :data:`_LIMITS`), ``HTTPS_PROXY``/``NO_PROXY`` from the
environment, ``.netrc`` credentials, timeouts, and retries with exponential backoff for the
idempotent GETs the core asks for, only where a retry is cheap: connect errors, a connection
closed or reset before the response head, and 502/503/504 answers. A read timeout is never
retried (a hung upstream costs one read timeout, not three), nor is anything after bytes were
relayed. A total ``fetch_deadline`` bounds the attempts: no attempt or backoff sleep starts
past it, and sleeps are clipped to it. It does not bound a body that is arriving: once the head
is in, only the read timeout (no byte for that long) stops a transfer, so a large zip over a
slow link still succeeds.

A per-upstream circuit breaker (:class:`goproxy_core.Breaker`, keyed by the effect's
``upstream`` base URL) skips an upstream after ``breaker_failures`` consecutive timeouts or
connect failures, for ``breaker_cooldown`` seconds: the fetch fails at once with a text naming
the upstream, why and until when, and the core's walk does what GOPROXY says with it.
Bodies are bounded by the effect's ``max_size``; with ``into`` they stream into a pending store
write, so memory stays flat whatever the size of a zip. A body cut short is a failure, never a
short blob.

``Fetcher`` is blocking: every server runs it on a thread (async servers through
:class:`goproxy_io.executor.AsyncExecutor`), one fetch per thread, with the body relayed to
the client as it arrives where the core allows it (:class:`Relay`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httpcore
import httpx

from goproxy_core import Breaker, FetchDirect, FetchUpstream, UpstreamHealth, UpstreamResult
from goproxy_core.zip import ZipFollower
from goproxy_stores import ops

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import BinaryIO

    from goproxy_core import BlobInfo
    from goproxy_core.storage import BlobStore, BlobWriter
    from goproxy_core.zip import StreamedEntry

    from .metrics import Metrics
    from .vcs import DirectSource
    from .vcs_settings import VCSSettings

__all__ = [
    "FetchSettings",
    "Fetcher",
    "HashingWriter",
    "Relay",
    "default_vcs_dir",
    "fetch_file",
]

log = logging.getLogger("goproxy.store")
uplog = logging.getLogger("goproxy.upstream")

_ERROR_BODY_MAX = 64 * 1024
_RETRY_STATUS = frozenset({502, 503, 504})
# The ingest path moves zips in 1 MiB pieces: per-chunk costs (a write call, a hand-off to
# the hasher, a hop to the event loop for the relay) are paid 200 times for 200 MiB, and
# hashlib and file writes release the GIL on buffers this large.
_CHUNK = 1024 * 1024
# httpcore reads a connection at most READ_NUM_BYTES (64 KiB) per recv: on loopback that was
# 0.45 s of Python per 200 MiB against 0.27 s with 1 MiB reads. A recv only takes what has
# arrived, so small answers are unchanged. (A class attribute of httpcore's connections, set
# once for the process.)
_READ_SIZE = 1024 * 1024
# Upstream connections: HTTP/1.1, one per concurrent fetch, kept alive and reused. Not HTTP/2:
# httpcore's blocking HTTP/2 connection multiplexes every thread's streams over one socket
# under one read lock, and is not safe across threads (measured against a real upstream with
# 16 threads fetching a 765-file module graph: "deque mutated during iteration" in the HPACK
# encoder, then the upstream resetting streams with PROTOCOL_ERROR, in 3 runs of 4; a KeyError
# in its stream bookkeeping, and resets reaching the go command as 502s, in cold fills through
# the proxy; 3.3 CPU-s and 3.9 s in the run that finished, against 1.9-2.2 CPU-s and 2.0-2.9 s
# over HTTP/1.1). The pool keeps as many idle connections as the executor has fetch threads,
# for long enough to outlive the pauses of a go command's module graph load, so a cold fill
# pays a handful of TLS handshakes, not one per file.
_LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=64, keepalive_expiry=60.0)
# Chunks queued for the hasher thread at most: its memory bound (8 MiB per ingest).
_HASH_QUEUE = 8


class FetchSettings:
    """How upstreams are reached.

    Args:
        connect_timeout: seconds to open a connection.
        read_timeout: seconds without a byte before a response counts as timed out.
        retries: extra attempts after a connect error, a connection closed before the response
            head, or a 502/503/504 (never after a read timeout).
        backoff: the first retry's delay in seconds; each next one doubles (with jitter).
        fetch_deadline: seconds from a fetch's start after which no attempt or backoff sleep
            starts (a body already arriving is bounded by ``read_timeout`` only).
        breaker_failures: consecutive timeouts or connect failures on one upstream that open
            its circuit breaker; 0 turns the breaker off.
        breaker_cooldown: seconds an open breaker skips its upstream before one probe.
        netrc: read credentials from ``$NETRC`` or ``~/.netrc`` when present.
        user_agent: the User-Agent sent upstream.
        vcs: how ``direct`` fetches reach repositories (default: mirrors under
            :func:`default_vcs_dir`, see :class:`~goproxy_io.vcs.VCSSettings`).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.25,
        fetch_deadline: float = 90.0,
        breaker_failures: int = 5,
        breaker_cooldown: float = 30.0,
        netrc: bool = True,
        user_agent: str = "goproxy-core",
        vcs: VCSSettings | None = None,
    ) -> None:
        self.vcs = vcs
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self.fetch_deadline = fetch_deadline
        self.breaker_failures = breaker_failures
        self.breaker_cooldown = breaker_cooldown
        self.user_agent = user_agent
        self.auth: httpx.Auth | None = None
        if netrc:
            path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
            if os.path.isfile(path):
                self.auth = httpx.NetRCAuth(path)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))


def default_vcs_dir() -> str:
    """``$XDG_CACHE_HOME/goproxy-core/.vcs``, else ``~/.cache/goproxy-core/.vcs``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "goproxy-core", ".vcs")


class _DirectHolder:
    """The direct-mode source, made at its first use (most proxies never need git)."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.source: DirectSource | None = None
        self.mu = threading.Lock()

    def get(self) -> DirectSource:
        with self.mu:
            if self.source is None:
                from .vcs import DirectSource
                from .vcs_settings import VCSSettings

                vcs = self.settings.vcs or VCSSettings(default_vcs_dir())
                self.source = DirectSource(
                    vcs, auth=self.settings.auth, user_agent=self.settings.user_agent
                )
            return self.source

    def fetch(
        self, effect: FetchDirect, store: BlobStore
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        return self.get().fetch(effect, store)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


def _file_path(url: str) -> Path:
    return Path(unquote(url.removeprefix("file://")))


def fetch_file(effect: FetchUpstream, store: BlobStore) -> tuple[UpstreamResult, BlobWriter | None]:
    """Carry out a ``file://`` fetch: a missing file is 404, an unreadable one 403."""
    path = _file_path(effect.url)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return UpstreamResult(status=404, body=b"not found\n", content_type="text/plain"), None
    except PermissionError:
        return UpstreamResult(status=403, body=b"permission denied\n"), None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > effect.max_size:
            return UpstreamResult(status=0, error=f"{effect.url} is larger than allowed"), None
        if effect.into is None:
            return UpstreamResult(status=200, body=f.read(effect.max_size + 1)), None
        try:
            writer = _open_writer(store, effect.into)
            try:
                while chunk := f.read(_CHUNK):
                    _write(writer, chunk)
                _flush(writer)
            except BaseException:
                writer.abort()
                raise
        except _StoreFault as e:
            return _store_failed(store, effect.into, e), None
    return UpstreamResult(status=200), writer


class _StoreFault(Exception):
    """The store, not the upstream, failed while a body was written into it."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _open_writer(store: BlobStore, key: str) -> BlobWriter:
    try:
        return HashingWriter(store.writer(key))
    except OSError as e:
        raise _StoreFault(e) from e


_DONE = b""  # a lane's end-of-body mark (real chunks are never empty)


class _Lane:
    """One thread working on the body's chunks in order, fed through a bounded queue.

    ``work`` runs on each chunk; if it raises, the lane records the error in :attr:`error`,
    stops working and keeps draining its queue (the fetching thread must never wait on a
    queue nobody empties). After :meth:`skip` it drains without working (an aborted write).
    """

    def __init__(self, name: str, work: Callable[[bytes], None]) -> None:
        self.error: Exception | None = None
        self._work = work
        self._skip = False
        self._queue: queue.Queue[bytes] = queue.Queue(_HASH_QUEUE)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.put = self._queue.put

    def _run(self) -> None:
        work: Callable[[bytes], None] | None = self._work
        get, done = self._queue.get, self._queue.task_done
        while True:
            chunk = get()
            if chunk and work is not None and not self._skip:
                try:
                    work(chunk)
                except Exception as e:
                    self.error = e
                    work = None
            done()
            if not chunk:
                return

    def wait(self) -> None:
        """Wait until every chunk queued so far has been worked on."""
        self._queue.join()

    def skip(self) -> None:
        """Drain what is queued without working on it."""
        self._skip = True

    def finish(self) -> None:
        """Mark the end of the body and wait until the thread has ended."""
        self._queue.put(_DONE)
        self._thread.join()


class HashingWriter:
    """A pending write that is written, hashed and followed on threads of its own.

    ``CheckZip`` needs the whole body's SHA-256 and length, and every entry's content hashed
    (x/mod ``dirhash.HashZip``), inflated and checked against its CRC-32. Two threads, each fed
    the same chunks (bytes are immutable, so they share them) through a bounded queue, do that
    work as the body arrives: one writes each chunk into the store's pending write and adds it
    to the body's SHA-256, the other runs a :class:`goproxy_core.zip.ZipFollower` over it (each
    entry's inflate, CRC-32 and SHA-256). File writes, hashlib and zlib release the GIL on
    large buffers, so the two run on two cores beside the upstream read, which waits neither
    for the disk nor for a hash (only while a queue is full), and the check that comes after
    the last byte has only the central directory's cross-check left.

    :meth:`flush` waits until every byte written is in the pending write and raises what the
    write raised if it failed (an ``OSError``: the store's failure); :meth:`reader` and
    :meth:`commit` do the same first (a failed write is never read back nor published),
    :meth:`digest` and :meth:`streamed` wait for both threads, :meth:`abort` stops both and
    waits until they have ended.

    Neither hash's failure can pass a bad zip: a failing follower only loses the shortcut
    (the check then reads every entry itself), and a failing body hash is redone from the
    pending write by :meth:`digest`.

    Args:
        inner: the store's pending write, which keeps the bytes.
    """

    def __init__(self, inner: BlobWriter) -> None:
        self.inner = inner
        self._size = 0
        self._sha = hashlib.sha256()
        self._sha_failed: Exception | None = None
        self._write_failed: Exception | None = None
        self._follower = ZipFollower()
        self._lanes: tuple[_Lane, _Lane] | None = None
        self._digest: tuple[str, int] | None = None

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the pending write and both hashes.

        Raises what an earlier chunk's write raised (an ``OSError``: the store failed), if one
        failed.
        """
        if self._write_failed is not None:
            raise self._write_failed
        if not data:
            return
        self._size += len(data)
        if self._lanes is None:
            self._lanes = (
                _Lane("goproxy-write-hash", self._write_body),
                _Lane("goproxy-follow-zip", self._follower.feed),
            )
        chunk = bytes(data)
        for lane in self._lanes:
            lane.put(chunk)

    def _write_body(self, chunk: bytes) -> None:
        try:
            self.inner.write(chunk)
        except Exception as e:  # an OSError is the store's failure; anything else, a bug
            self._write_failed = e
            raise
        if self._sha_failed is None:
            try:
                self._sha.update(chunk)
            except Exception as e:
                self._sha_failed = e  # the write goes on; digest() hashes the stored bytes

    def flush(self) -> None:
        """Wait until everything written is in the pending write; raise what it raised."""
        if self._lanes is not None:
            self._lanes[0].wait()
        if self._write_failed is not None:
            raise self._write_failed

    def _finish(self) -> None:
        """Wait until both threads have ended (once; later calls return at once)."""
        lanes, self._lanes = self._lanes, None
        if lanes is None:
            return
        for lane in lanes:
            lane.finish()
        follow_error = lanes[1].error
        if follow_error is not None:
            # The follower is only a shortcut: without its entries the check reads every
            # entry itself.
            log.error(
                "following a zip as it arrived failed; it is checked whole",
                exc_info=follow_error,
            )
            self._follower.entries.clear()

    def _settle(self) -> tuple[str, int]:
        if self._digest is None:
            self._finish()
            if self._write_failed is not None:
                raise self._write_failed
            if self._sha_failed is not None:
                log.error(
                    "hashing a body as it arrived failed; it is hashed again from the store",
                    exc_info=self._sha_failed,
                )
                self._sha = hashlib.sha256()
                with self.inner.reader() as r:
                    while chunk := r.read(_CHUNK):
                        self._sha.update(chunk)
            self._digest = (self._sha.hexdigest(), self._size)
        return self._digest

    def digest(self) -> tuple[str, int]:
        """The hex SHA-256 and the length of everything written (call once writing is done)."""
        return self._settle()

    def streamed(self) -> dict[int, StreamedEntry]:
        """The entries the follower read whole, by local header offset (once writing is done)."""
        self._settle()
        return self._follower.entries

    def reader(self) -> BinaryIO:
        """See ``BlobWriter.reader`` (after :meth:`flush`)."""
        self.flush()
        return self.inner.reader()

    def commit(self) -> BlobInfo:
        """See ``BlobWriter.commit``: a write that failed raises what it raised instead."""
        self._finish()
        if self._write_failed is not None:
            raise self._write_failed
        return self.inner.commit()

    def abort(self) -> None:
        """See ``BlobWriter.abort``: both threads stop working and end before it returns."""
        if self._lanes is not None:
            for lane in self._lanes:
                lane.skip()
        self._finish()
        self.inner.abort()


def _write(writer: BlobWriter, chunk: bytes) -> None:
    try:
        writer.write(chunk)
    except OSError as e:
        raise _StoreFault(e) from e


def _flush(writer: BlobWriter) -> None:
    """Wait until the whole body is in the pending write: a failed write fails the fetch."""
    if isinstance(writer, HashingWriter):
        try:
            writer.flush()
        except OSError as e:
            raise _StoreFault(e) from e


def _store_failed(store: BlobStore, key: str, fault: _StoreFault) -> UpstreamResult:
    """A fetch whose body the store could not take: the cache's failure, named as such."""
    log.warning("store write failed for %s: %s", key, fault.error)
    failure = ops.failure(store, fault.error)
    return UpstreamResult(status=0, error=failure.message, store_failure=failure)


class _Attempt:
    """What one attempt's failure says about retrying it and about the upstream's health."""

    def __init__(self) -> None:
        self.head = False  # the response head arrived
        self.bytes = 0  # body bytes read
        self.retry = False  # cheap to ask again: nothing was waited on but a connect
        self.down = False  # a timeout or connect failure: counts towards the breaker

    def classify(self, e: Exception) -> None:
        connect = isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout))
        self.down = connect or isinstance(e, httpx.TimeoutException)
        closed_early = not self.head and isinstance(
            e, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
        )
        self.retry = connect or closed_early


def _failure(e: Exception) -> UpstreamResult:
    if isinstance(e, httpx.ConnectTimeout):
        return UpstreamResult(status=0, error="connect timed out", timeout=True)
    if isinstance(e, httpx.TimeoutException):
        return UpstreamResult(status=0, error="timed out", timeout=True)
    if isinstance(e, httpx.RemoteProtocolError):
        return UpstreamResult(status=0, error=f"broken response: {e}")
    text = str(e) or type(e).__name__
    return UpstreamResult(status=0, error=text)


class Fetcher:
    """Synchronous upstream fetching over one pooled ``httpx.Client``."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        _large_reads()
        self._client = httpx.Client(
            timeout=self.settings.timeout,
            auth=self.settings.auth,
            headers={"User-Agent": self.settings.user_agent},
            follow_redirects=True,
            http2=False,
            limits=_LIMITS,
        )
        self._direct = _DirectHolder(self.settings)
        self._breakers: dict[str, Breaker] = {}
        self._breakers_mu = threading.Lock()
        self.metrics: Metrics | None = None
        """Where each attempt, retry, skip and breaker change is counted (``/metrics``)."""

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()
        self._direct.close()

    def fetch(
        self, effect: FetchUpstream | FetchDirect, store: BlobStore, relay: Relay | None = None
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        """Carry out ``effect``; with ``into`` and a 200, also return the pending writer.

        With ``relay`` (and ``effect.relay``), a 200 body with a Content-Length is also sent to
        the client as it arrives, all but its last chunk (``UpstreamResult.held``). A
        ``FetchDirect`` goes to direct mode (:mod:`goproxy_io.vcs`).
        """
        metrics = self.metrics
        if isinstance(effect, FetchDirect) or effect.url.startswith("file://"):
            began = time.monotonic()
            if isinstance(effect, FetchDirect):
                got = self._direct.fetch(effect, store)
            else:
                got = fetch_file(effect, store)
            if metrics is not None:
                up = "direct" if isinstance(effect, FetchDirect) else effect.upstream or "file"
                res = got[0]
                took = time.monotonic() - began
                why = "timeout" if res.timeout else "transport"
                if res.status or res.store_failure is not None:
                    why = ""
                metrics.upstream_attempt(up, res.status, len(res.body), took, why)
            return got
        key = effect.upstream or _origin(effect.url)
        skipped = self._skip(key)
        if skipped is not None:
            if metrics is not None:
                metrics.upstream_skipped(key)
            return skipped, None
        start = time.monotonic()
        deadline = start + self.settings.fetch_deadline
        attempt = 0
        while True:
            relay_now = relay if effect.relay else None
            left = deadline - time.monotonic()
            how = _Attempt()
            began = time.monotonic()
            result, writer = self._once(effect, store, relay_now, how, left)
            if metrics is not None and result.store_failure is None:
                metrics.upstream_attempt(
                    key, result.status, how.bytes, time.monotonic() - began, _reason(result, how)
                )
            self._report(key, result, how)
            if relay_now is not None and relay_now.started:
                return result, writer  # bytes went to the client: no second attempt
            if result.store_failure is not None:
                return result, writer  # the cache failed, not the upstream: asking again won't help
            retry = how.retry if result.status == 0 else result.status in _RETRY_STATUS
            if not retry or attempt >= self.settings.retries:
                return result, writer
            attempt += 1
            if metrics is not None:
                metrics.upstream_retried(key)
            pause = min(self.settings.delay(attempt), deadline - time.monotonic())
            if pause <= 0:
                return result, writer
            time.sleep(pause)
            if time.monotonic() >= deadline:
                return result, writer

    def health(self, keys: Iterable[str]) -> tuple[UpstreamHealth, ...]:
        """The circuit breaker of each upstream base URL in ``keys``, changing nothing (an
        upstream never asked is ``closed`` with no failures; ``unknown`` with the breaker
        off)."""
        now = time.monotonic()
        out = []
        for key in keys:
            if self.settings.breaker_failures <= 0:
                out.append(UpstreamHealth(key, "unknown"))
                continue
            with self._breakers_mu:
                b = self._breakers.get(key)
                state = b.status(now) if b is not None else ("closed", 0, 0.0)
            out.append(UpstreamHealth(key, *state))
        return tuple(out)

    def _breaker(self, key: str) -> Breaker | None:
        if self.settings.breaker_failures <= 0:
            return None
        with self._breakers_mu:
            b = self._breakers.get(key)
            if b is None:
                b = Breaker(self.settings.breaker_failures, self.settings.breaker_cooldown)
                self._breakers[key] = b
            return b

    def _skip(self, key: str) -> UpstreamResult | None:
        """A failure at once while ``key``'s breaker is open, naming it, why and until when."""
        b = self._breaker(key)
        if b is None:
            return None
        now = time.monotonic()
        with self._breakers_mu:
            state = b.allow(now)
        if state is None:
            return None
        wait = max(0.0, state.until - now)
        return UpstreamResult(
            status=0,
            error=(
                f"upstream {key} skipped: circuit breaker open after {state.failures} "
                f"consecutive timeouts or connect failures, next try in {wait:.0f}s"
            ),
            # Answered as a 504 by the walk (walk.py ``_fault``): the skip stands in for the
            # timeout the client would otherwise wait out.
            timeout=True,
        )

    def _report(self, key: str, result: UpstreamResult, how: _Attempt) -> None:
        """Tell ``key``'s breaker how the attempt went; log each open and close once."""
        b = self._breaker(key)
        if b is None or result.store_failure is not None:
            return
        if result.status == 0 and not how.down:
            return  # bad data (too large, cut short): the upstream is up, the breaker stays
        with self._breakers_mu:
            t = b.failure(time.monotonic()) if result.status == 0 else b.success()
        if t is None:
            return
        if self.metrics is not None:
            self.metrics.breaker(key, t.opened)
        if t.opened:
            uplog.warning(
                "upstream %s: circuit breaker open after %d consecutive timeouts or connect "
                "failures; skipping it for %gs",
                key,
                t.failures,
                self.settings.breaker_cooldown,
            )
        else:
            uplog.info("upstream %s: circuit breaker closed, the upstream answers again", key)

    def _once(
        self,
        effect: FetchUpstream,
        store: BlobStore,
        relay: Relay | None,
        how: _Attempt,
        left: float,
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        writer: BlobWriter | None = None
        timeout = self.settings.timeout
        if left < self.settings.connect_timeout:
            # The deadline clips the connect, not the read: a body that keeps arriving is
            # bounded by the read timeout only.
            timeout = httpx.Timeout(timeout.read, connect=max(left, 0.001))
        try:
            with self._client.stream("GET", effect.url, timeout=timeout) as r:
                how.head = True
                ctype = r.headers.get("content-type", "")
                if r.status_code != 200:
                    body = _read_bounded(r.iter_bytes(), _ERROR_BODY_MAX)
                    how.bytes = len(body)
                    return UpstreamResult(status=r.status_code, body=body, content_type=ctype), None
                length = r.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > effect.max_size:
                    return UpstreamResult(status=0, error="response too large"), None
                if effect.into is None:
                    body = _read_bounded(r.iter_bytes(), effect.max_size + 1)
                    how.bytes = len(body)
                    if len(body) > effect.max_size:
                        return UpstreamResult(status=0, error="response too large"), None
                    return UpstreamResult(status=200, body=body, content_type=ctype), None
                writer = _open_writer(store, effect.into)
                if (
                    relay is not None
                    and length is not None
                    and length.isdigit()
                    and int(length) > effect.relay_above
                ):
                    relay.start(int(length))
                return self._stream_into(
                    _coalesce(r.iter_bytes(), _CHUNK), writer, effect, ctype, relay, how
                )
        except _StoreFault as e:
            if writer is not None:
                writer.abort()
            return _store_failed(store, effect.into or "", e), None
        except (httpx.HTTPError, OSError) as e:
            if writer is not None:
                writer.abort()
            how.classify(e)
            return _failure(e), None

    @staticmethod
    def _stream_into(
        chunks: Iterator[bytes],
        writer: BlobWriter,
        effect: FetchUpstream,
        ctype: str,
        relay: Relay | None,
        how: _Attempt,
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        """Write the body into ``writer``; relay all but its last chunk when relaying."""
        total = 0
        held = b""
        for chunk in chunks:
            total += len(chunk)
            how.bytes = total
            if total > effect.max_size:
                writer.abort()
                return UpstreamResult(status=0, error="response too large"), None
            _write(writer, chunk)
            if relay is not None and relay.started:
                if held:
                    relay.send(held)
                held = chunk
        _flush(writer)
        return UpstreamResult(status=200, content_type=ctype, held=held), writer


def _reason(result: UpstreamResult, how: _Attempt) -> str:
    """Why an attempt failed, for ``goproxy_upstream_errors_total``; "" when it did not."""
    if result.status != 0:
        return ""
    if result.timeout:
        return "timeout"
    return "transport" if how.down or not how.head else "bad-data"


def _coalesce(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Pieces of at least ``size`` bytes (the last may be shorter), in order, from ``chunks``.

    httpx's own re-chunking (``iter_bytes(chunk_size)``) copies every byte into a buffer, out
    of it and into slices again: 0.1-0.16 s of a 200 MiB ingest on loopback. Here a piece
    that arrives large enough passes unchanged (a 1 MiB read usually is), and smaller ones
    are joined once.
    """
    parts: list[bytes] = []
    have = 0
    for chunk in chunks:
        if not parts and len(chunk) >= size:
            yield chunk
            continue
        if chunk:
            parts.append(chunk)
            have += len(chunk)
        if have >= size:
            yield b"".join(parts)
            parts, have = [], 0
    if parts:
        yield b"".join(parts)


def _large_reads() -> None:
    """Let httpcore read up to ``_READ_SIZE`` per recv (HTTP/1.1 and HTTP/2 connections)."""
    for cls in (httpcore.HTTP11Connection, getattr(httpcore, "HTTP2Connection", None)):
        if cls is not None and getattr(cls, "READ_NUM_BYTES", _READ_SIZE) < _READ_SIZE:
            cls.READ_NUM_BYTES = _READ_SIZE


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: the breaker's key when the effect names no upstream."""
    u = httpx.URL(url)
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}"


def _read_bounded(chunks: object, limit: int) -> bytes:
    buf = bytearray()
    for chunk in chunks:  # type: ignore[attr-defined]
        buf += chunk
        if len(buf) >= limit:
            break
    return bytes(buf[:limit])


class Relay:
    """Sends a fetched body to the client as it arrives (see ``FetchUpstream.relay``).

    Args:
        start: called with the body's length; sends the response head.
        send: sends one chunk to the client.

    A client that goes away stops the relay, not the fetch: the blob is still stored for the
    next request.
    """

    def __init__(self, start: Callable[[int], None], send: Callable[[bytes], None]) -> None:
        self._start = start
        self._send = send
        self.started = False
        self.client_gone = False

    def start(self, size: int) -> None:
        """Send the head; from now on the client is being answered."""
        self.started = True
        try:
            self._start(size)
        except Exception:
            self.client_gone = True

    def send(self, chunk: bytes) -> None:
        """Send a chunk, unless the client is gone."""
        if self.client_gone:
            return
        try:
            self._send(chunk)
        except Exception:
            self.client_gone = True
