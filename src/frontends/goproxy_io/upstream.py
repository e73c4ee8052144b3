"""Carrying out the core's ``FetchUpstream`` effects: http(s) through httpx, and file:// trees.

One small adapter over httpx (see docs/dependencies.md for why httpx): connection pooling and
keep-alive, HTTP/2 where the upstream offers it, ``HTTPS_PROXY``/``NO_PROXY`` from the
environment, ``.netrc`` credentials, timeouts, and retries with exponential backoff for the
idempotent GETs the core asks for (transport errors and 502/503/504 only: a 404 is an answer).
Bodies are bounded by the effect's ``max_size``; with ``into`` they stream into a pending store
write, so memory stays flat whatever the size of a zip. A body cut short is a failure, never a
short blob.

``Fetcher`` is blocking: every server runs it on a thread (async servers through
:class:`goproxy_io.executor.AsyncExecutor`), one fetch per thread, with the body relayed to
the client as it arrives where the core allows it (:class:`Relay`).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httpx

from goproxy_core import FetchDirect, FetchUpstream, UpstreamResult
from goproxy_stores import ops

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from goproxy_core.storage import BlobStore, BlobWriter

    from .vcs import DirectSource
    from .vcs_settings import VCSSettings

__all__ = [
    "FetchSettings",
    "Fetcher",
    "Relay",
    "default_vcs_dir",
    "fetch_file",
]

log = logging.getLogger("goproxy.store")

_ERROR_BODY_MAX = 64 * 1024
_RETRY_STATUS = frozenset({502, 503, 504})
_CHUNK = 256 * 1024


class FetchSettings:
    """How upstreams are reached.

    Args:
        connect_timeout: seconds to open a connection.
        read_timeout: seconds without a byte before a response counts as timed out.
        retries: extra attempts after a transport error or a 502/503/504.
        backoff: the first retry's delay in seconds; each next one doubles (with jitter).
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
        netrc: bool = True,
        user_agent: str = "goproxy-core",
        vcs: VCSSettings | None = None,
    ) -> None:
        self.vcs = vcs
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.retries = retries
        self.backoff = backoff
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
        return store.writer(key)
    except OSError as e:
        raise _StoreFault(e) from e


def _write(writer: BlobWriter, chunk: bytes) -> None:
    try:
        writer.write(chunk)
    except OSError as e:
        raise _StoreFault(e) from e


def _store_failed(store: BlobStore, key: str, fault: _StoreFault) -> UpstreamResult:
    """A fetch whose body the store could not take: the cache's failure, named as such."""
    log.warning("store write failed for %s: %s", key, fault.error)
    failure = ops.failure(store, fault.error)
    return UpstreamResult(status=0, error=failure.message, store_failure=failure)


def _failure(e: Exception) -> UpstreamResult:
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
        self._client = httpx.Client(
            timeout=self.settings.timeout,
            auth=self.settings.auth,
            headers={"User-Agent": self.settings.user_agent},
            follow_redirects=True,
            http2=True,
        )
        self._direct = _DirectHolder(self.settings)

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
        if isinstance(effect, FetchDirect):
            return self._direct.fetch(effect, store)
        if effect.url.startswith("file://"):
            return fetch_file(effect, store)
        attempt = 0
        while True:
            relay_now = relay if effect.relay else None
            result, writer = self._once(effect, store, relay_now)
            if relay_now is not None and relay_now.started:
                return result, writer  # bytes went to the client: no second attempt
            if result.store_failure is not None:
                return result, writer  # the cache failed, not the upstream: asking again won't help
            retry = result.status == 0 or result.status in _RETRY_STATUS
            if not retry or attempt >= self.settings.retries:
                return result, writer
            attempt += 1
            time.sleep(self.settings.delay(attempt))

    def _once(
        self, effect: FetchUpstream, store: BlobStore, relay: Relay | None
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        writer: BlobWriter | None = None
        try:
            with self._client.stream("GET", effect.url) as r:
                ctype = r.headers.get("content-type", "")
                if r.status_code != 200:
                    body = _read_bounded(r.iter_bytes(), _ERROR_BODY_MAX)
                    return UpstreamResult(status=r.status_code, body=body, content_type=ctype), None
                length = r.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > effect.max_size:
                    return UpstreamResult(status=0, error="response too large"), None
                if effect.into is None:
                    body = _read_bounded(r.iter_bytes(), effect.max_size + 1)
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
                return self._stream_into(r.iter_bytes(_CHUNK), writer, effect, ctype, relay)
        except _StoreFault as e:
            if writer is not None:
                writer.abort()
            return _store_failed(store, effect.into or "", e), None
        except (httpx.HTTPError, OSError) as e:
            if writer is not None:
                writer.abort()
            return _failure(e), None

    @staticmethod
    def _stream_into(
        chunks: Iterator[bytes],
        writer: BlobWriter,
        effect: FetchUpstream,
        ctype: str,
        relay: Relay | None,
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        """Write the body into ``writer``; relay all but its last chunk when relaying."""
        total = 0
        held = b""
        for chunk in chunks:
            total += len(chunk)
            if total > effect.max_size:
                writer.abort()
                return UpstreamResult(status=0, error="response too large"), None
            _write(writer, chunk)
            if relay is not None and relay.started:
                if held:
                    relay.send(held)
                held = chunk
        return UpstreamResult(status=200, content_type=ctype, held=held), writer


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
