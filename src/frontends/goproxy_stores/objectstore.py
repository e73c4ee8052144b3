"""A blob store on an object store (S3-compatible, a local directory, memory) through obstore.

Selected by URL (:func:`open_object_store`): ``s3://BUCKET[/PREFIX]`` (with an endpoint for
S3-compatible servers and the ``AWS_*`` variables obstore reads), ``file:///PATH`` and
``memory://``. Keys are the core's escaped names, so the bucket's layout under the prefix is a
GOPROXY tree like the disk store's.

Only obstore's synchronous API is used: every call blocks the calling thread, which is what
the :class:`~goproxy_core.storage.BlobStore` interface asks (servers call it from worker
threads). Its async API is asyncio-only and is not used.

Writes and atomicity. A writer spools what it is given to an unnamed local temporary file
(``O_TMPFILE`` where the system has it: a writer killed with ``kill -9`` leaves nothing on the
machine), so memory stays flat whatever the size of a zip and ``reader()`` can read the
pending blob back, seekable, for validation. ``commit`` uploads the file to the final key in
one atomic write: a single PUT for small blobs, a multipart upload for large ones (parts of
``part_size`` bytes, read from the file as they go). Object stores make either visible only
when it is complete (S3 publishes a multipart object at ``CompleteMultipartUpload``; obstore's
local store writes a temporary file and renames it), so readers see the old blob or the new
one, never a part, and a pending write is never a key. Why not an upload under a temporary key
followed by a conditional create of the final key: the store contract is the disk store's
(the last complete commit wins: mutable keys such as ``@v/list`` are overwritten, and every
writer of an immutable key writes the same bytes), an upload to the final key is already
atomic, and obstore performs a conditional put (``mode="create"``) only as a single
non-multipart request whose body it holds in memory, which a 500 MiB zip must not be.
Conditional creates are for small objects: the cross-replica leases build on them.

A crash during a multipart upload may leave an incomplete upload in the bucket: invisible as
a key, but billed until a lifecycle rule aborts it (docs/object-store.md).

Reads stream: :meth:`ObjectStore.open` returns a buffered, seekable file whose reads are
ranged GETs streamed in chunks. Every GET is pinned to the ETag the object had when it was
opened: one GET streams one version to its end, and a blob replaced meanwhile fails the GET a
seek makes (``OSError``) instead of mixing two versions.

Objects under ``.goproxy/`` are the store's own (``own_get``, ``own_put`` and friends: small
objects, written whole, conditionally where asked; leases and logs build on them): no key can
start with a dot (the core's own files are under ``_goproxy/``, module paths start with a
letter or digit), so they are never keys, as the disk store's hidden files are not.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urlsplit

import obstore
from obstore import exceptions as obe
from obstore.store import LocalStore, MemoryStore, S3Store

from goproxy_core.storage import BlobInfo

from .leases import LEASE_TIME, FileLeases, ObjectLeases

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from obstore import GetOptions
    from obstore.store import ObjectStore as _ObStore
    from obstore.store import RetryConfig

    from .leases import Leases

__all__ = [
    "INTERNAL_PREFIX",
    "STORE_URL_FORMS",
    "ObjectStore",
    "OwnObject",
    "StoreURLError",
    "open_object_store",
    "parse_store_url",
]

INTERNAL_PREFIX = ".goproxy/"
"""Where the store's own objects are (:meth:`ObjectStore.own_get`): never keys."""

_PART = 8 << 20
_RETRY: RetryConfig = {
    "max_retries": 3,
    "backoff": {
        "init_backoff": datetime.timedelta(milliseconds=100),
        "max_backoff": datetime.timedelta(seconds=2),
        "base": 2,
    },
    "retry_timeout": datetime.timedelta(seconds=20),
}
# obstore raises its NotFoundError for some stores and the builtin for others (S3 HEAD).
_NOT_FOUND = (obe.NotFoundError, FileNotFoundError)
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class OwnObject:
    """One of the store's own small objects (under :data:`INTERNAL_PREFIX`), as read."""

    data: bytes
    etag: str | None
    """The version read: a conditional write (``match``) replaces exactly this one."""
    modified: float
    """When it was last written, on the store's clock (seconds since the epoch)."""


class StoreURLError(ValueError):
    """A store URL that names no store this proxy can open."""


def _io_error(e: Exception, key: str) -> OSError:
    """An obstore failure as the ``OSError`` the store's callers handle."""
    if isinstance(e, _NOT_FOUND):
        return FileNotFoundError(2, "not in the object store", key)
    # obstore's text goes on with a multi-line "Debug source:" dump: the first line says it.
    text = str(e).split("\n", 1)[0].strip()
    return OSError(f"object store: {key or '/'}: {type(e).__name__}: {text}")


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith(("/", ".")) or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid store key {key!r}")
    return key


class _SeekableRaw(io.RawIOBase):
    """A readable raw stream that keeps its own position: ``seek`` and ``tell`` for both
    readers below (:meth:`_end` is the size, :meth:`_moved` drops what was read ahead)."""

    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _end(self) -> int:
        raise NotImplementedError

    def _moved(self) -> None:
        """The position changed (by a seek)."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            pos = self._end() + offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            pos = offset
        if pos < 0:
            raise OSError(22, "negative seek position")
        if pos != self._pos:
            self._pos = pos
            self._moved()
        return pos


class _ObjectReader(_SeekableRaw):
    """A seekable raw stream over one object version: ranged GETs, streamed in chunks."""

    def __init__(self, store: _ObStore, key: str, size: int, etag: str | None) -> None:
        self._store, self._key, self._size, self._etag = store, key, size, etag
        self._pos = 0
        self._chunks: Iterator[Any] | None = None
        self._left = memoryview(b"")

    def _end(self) -> int:
        return self._size

    def _moved(self) -> None:
        self._chunks, self._left = None, memoryview(b"")

    def _next_chunk(self) -> memoryview:
        if self._chunks is None:
            options: GetOptions = {"range": (self._pos, self._size)}
            if self._etag:
                options["if_match"] = self._etag
            try:
                result = obstore.get(self._store, self._key, options=options)
            except obe.BaseError as e:
                raise _io_error(e, self._key) from e
            self._chunks = iter(result.stream(min_chunk_size=_READ_CHUNK))
        try:
            return memoryview(next(self._chunks))
        except StopIteration:
            raise OSError(f"object store: {self._key}: ended early at {self._pos}") from None
        except obe.BaseError as e:
            raise _io_error(e, self._key) from e

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        if not self._left:
            self._left = self._next_chunk()
        n = min(want, len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        self._pos += n
        return n


class _PreadReader(_SeekableRaw):
    """A reader of the spool file with its own position (``os.pread``), so several readers
    and the writer never move each other."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pos = 0

    def _end(self) -> int:
        return os.fstat(self._fd).st_size

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class _ObjectWriter:
    def __init__(self, owner: ObjectStore, key: str) -> None:
        self._owner, self._key = owner, key
        self._f: BinaryIO | None = tempfile.TemporaryFile(dir=owner.spool_dir)  # noqa: SIM115
        self._size = 0
        self._readers: list[BinaryIO] = []

    def write(self, data: bytes) -> None:
        assert self._f is not None, "writer already finished"
        self._f.write(data)
        self._size += len(data)

    def reader(self) -> BinaryIO:
        assert self._f is not None, "writer already finished"
        self._f.flush()
        r = io.BufferedReader(_PreadReader(self._f.fileno()), _READ_CHUNK)
        self._readers.append(r)
        return r

    def _finish(self) -> BinaryIO | None:
        f, self._f = self._f, None
        for r in self._readers:
            r.close()
        self._readers.clear()
        return f

    def commit(self) -> BlobInfo:
        f = self._finish()
        if f is None:
            raise ValueError("writer already finished")
        with f:
            f.flush()
            f.seek(0)
            part = self._owner.part_size
            try:
                # One atomic write of the final key (see the module's docstring): a PUT, or a
                # multipart upload read from the spool file part by part.
                obstore.put(
                    self._owner.inner,
                    self._key,
                    f,
                    use_multipart=self._size > part,
                    chunk_size=part,
                    max_concurrency=self._owner.upload_concurrency,
                )
            except obe.BaseError as e:
                raise _io_error(e, self._key) from e
        self._owner._changed(self._key)
        return BlobInfo(size=self._size, mtime=time.time())

    def abort(self) -> None:
        f = self._finish()
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()

    def __del__(self) -> None:
        # A writer dropped without commit or abort: its spool file goes with it.
        if getattr(self, "_f", None) is not None:
            self.abort()


class ObjectStore:
    """Blobs as objects in an obstore store (``BlobStore``).

    Args:
        inner: the obstore store (its prefix, if any, already applied).
        url: where it is, for messages and ``/readyz`` (no credentials).
        spool_dir: where pending writes are spooled (None: the system's temporary directory).
        part_size: blobs larger than this go up as multipart uploads of parts this size.
        upload_concurrency: parts uploaded at once per blob (memory: this many parts).
        local_root: the directory of a ``file://`` store (its leases are lock files there).
        lease_time: seconds a lease object lasts without a renewal (``leases()``; the
            ``lease-time`` setting).
        state_dir: a local directory for this process's own state about the store (the
            quota's usage index, ``goproxy_stores.objusage``); None: no such state is kept.

    Attributes:
        on_change: called with a key after its blob was committed, moved (both keys) or
            deleted by this process, in the thread that did it; must be quick (the quota's
            usage index batches them), as the disk store's.
    """

    def __init__(
        self,
        inner: _ObStore,
        *,
        url: str = "",
        spool_dir: str | None = None,
        part_size: int = _PART,
        upload_concurrency: int = 4,
        local_root: str | None = None,
        lease_time: float = LEASE_TIME,
        state_dir: str | None = None,
    ) -> None:
        self.inner = inner
        self.state_dir = state_dir
        self.on_change: list[Callable[[str], None]] = []
        self.local_root = local_root
        self.lease_time = lease_time
        self.url = url
        self.spool_dir = spool_dir
        self.part_size = part_size
        self.upload_concurrency = upload_concurrency

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def _changed(self, *keys: str) -> None:
        for fn in self.on_change:
            for key in keys:
                fn(key)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(obstore.head(self.inner, _check_key(key)))
        except _NOT_FOUND:
            return None
        except obe.BaseError as e:
            raise _io_error(e, key) from e

    def open(self, key: str) -> BinaryIO | None:
        """A buffered, seekable stream of the blob (ranged reads of its version), or None."""
        meta = self._head(key)
        if meta is None:
            return None
        raw = _ObjectReader(self.inner, key, int(meta["size"]), meta.get("e_tag"))
        return io.BufferedReader(raw, _READ_CHUNK)

    def stat(self, key: str) -> BlobInfo | None:
        """Size and time of storing (the object's last-modified time), or None."""
        meta = self._head(key)
        if meta is None:
            return None
        return BlobInfo(size=int(meta["size"]), mtime=meta["last_modified"].timestamp())

    def writer(self, key: str) -> _ObjectWriter:
        return _ObjectWriter(self, _check_key(key))

    def delete(self, key: str) -> None:
        try:
            obstore.delete(self.inner, _check_key(key))
        except _NOT_FOUND:
            pass
        except obe.BaseError as e:
            raise _io_error(e, key) from e
        self._changed(key)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``; the listing starts at its last ``/`` (obstore lists by
        whole path segments), so one module's ``@v/`` does not walk the bucket."""
        for key, _, _ in self.list_objects(prefix):
            yield key

    def list_objects(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        """Key, size and last-modified time (seconds since the epoch) of every blob under
        ``prefix``, from the listing alone (1000 keys a request on S3, no HEAD per key): what
        the quota's index is filled from, as the disk store's is by a scan."""
        head, _, _ = prefix.rpartition("/")
        try:
            for batch in obstore.list(self.inner, prefix=head or None):
                for meta in batch:
                    key = meta["path"]
                    if key.startswith(prefix) and not key.startswith(INTERNAL_PREFIX):
                        yield key, int(meta["size"]), meta["last_modified"].timestamp()
        except obe.BaseError as e:
            raise _io_error(e, prefix) from e

    def move(self, key: str, to: str) -> bool:
        """A server-side copy, then a delete (a rename where the store has one): a reader
        sees the whole blob under one key or the other."""
        try:
            if isinstance(self.inner, LocalStore):
                obstore.rename(self.inner, _check_key(key), _check_key(to))
            else:
                obstore.copy(self.inner, _check_key(key), _check_key(to))
                obstore.delete(self.inner, key)
        except _NOT_FOUND:
            return False
        except obe.BaseError as e:
            raise _io_error(e, key) from e
        self._changed(key, to)
        return True

    # The store's own small objects (leases, the usage records, the checksum database's log):
    # names relative to INTERNAL_PREFIX, bodies held in memory, writes that may be conditional.

    @property
    def conditional_updates(self) -> bool:
        """Whether :meth:`own_put` takes ``match`` (obstore's local store has only creates)."""
        return not isinstance(self.inner, LocalStore)

    def own_get(self, name: str) -> OwnObject | None:
        """The store's own object ``name``, or None."""
        path = INTERNAL_PREFIX + name
        try:
            got = obstore.get(self.inner, path)
            data = bytes(got.bytes())
        except _NOT_FOUND:
            return None
        except obe.BaseError as e:
            raise _io_error(e, path) from e
        meta = got.meta
        return OwnObject(data, meta.get("e_tag"), meta["last_modified"].timestamp())

    def own_put(
        self, name: str, data: bytes, *, create: bool = False, match: str | None = None
    ) -> str | None:
        """Write the store's own object ``name``, whole: its new ETag, or None when the
        condition failed. ``create``: only if no object has the name (of several writers one
        wins: S3's If-None-Match). ``match``: only if it is still the version with this ETag
        (If-Match; not on a ``file://`` store, :attr:`conditional_updates`)."""
        path = INTERNAL_PREFIX + name
        mode: Any = "create" if create else {"e_tag": match} if match is not None else None
        try:
            put = obstore.put(self.inner, path, data, mode=mode)
        except (obe.AlreadyExistsError, obe.PreconditionError):
            return None
        except _NOT_FOUND:  # an If-Match on an object deleted meanwhile
            return None
        except obe.BaseError as e:
            raise _io_error(e, path) from e
        return put.get("e_tag") or ""

    def own_delete(self, name: str) -> None:
        """Delete the store's own object ``name`` (nothing if it is gone)."""
        path = INTERNAL_PREFIX + name
        try:
            obstore.delete(self.inner, path)
        except _NOT_FOUND:
            pass
        except obe.BaseError as e:
            raise _io_error(e, path) from e

    def own_list(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """Name, size and time of writing of the store's own objects under ``prefix`` (a
        directory name ending in ``/``)."""
        base = INTERNAL_PREFIX + prefix
        try:
            for batch in obstore.list(self.inner, prefix=base.rstrip("/")):
                for meta in batch:
                    path = meta["path"]
                    if path.startswith(base):
                        yield (
                            path[len(INTERNAL_PREFIX) :],
                            int(meta["size"]),
                            meta["last_modified"].timestamp(),
                        )
        except obe.BaseError as e:
            raise _io_error(e, base) from e

    def leases(self) -> Leases:
        """The leases that make one process of all those serving this store fetch each file
        (``goproxy_stores.leases``): lease objects by conditional create, or lock files in a
        ``file://`` store's directory."""
        if self.local_root is not None:
            return FileLeases(os.path.join(self.local_root, INTERNAL_PREFIX, "leases"))
        return ObjectLeases(self, lease_time=self.lease_time)

    def check(self) -> None:
        """Raise ``OSError`` unless the store answers (a listing of one page)."""
        try:
            next(iter(obstore.list(self.inner, prefix=INTERNAL_PREFIX.rstrip("/"))), None)
        except obe.BaseError as e:
            raise _io_error(e, INTERNAL_PREFIX) from e


STORE_URL_FORMS = "s3://BUCKET[/PREFIX], file:///ABSOLUTE/PATH or memory://"
"""What a ``store`` URL may be (for messages)."""


def parse_store_url(url: str) -> str:
    """What is wrong with a ``store`` URL, or ``""`` if it names a store."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a store URL"
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return "" if not (parts.netloc or parts.path.strip("/")) else "memory:// takes no path"
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            return "a file URL needs an absolute path"
        return ""
    if scheme == "s3":
        if not parts.netloc:
            return "an s3 URL needs a bucket"
        if parts.query or parts.fragment or any(c in parts.netloc for c in ":@"):
            return "an s3 URL is a bucket and a prefix only"
        return ""
    return "not a store URL"


def open_object_store(
    url: str,
    *,
    endpoint: str = "",
    region: str = "",
    spool_dir: str | None = None,
    lease_time: float = LEASE_TIME,
    state_dir: str | None = None,
) -> ObjectStore:
    """The store a ``store`` URL names.

    Args:
        url: ``s3://BUCKET[/PREFIX]``, ``file:///PATH`` (created if missing) or ``memory://``.
        endpoint: an S3-compatible server's URL (``http://`` allowed); empty: AWS's, or
            ``AWS_ENDPOINT_URL`` from the environment.
        region: the bucket's region; empty: ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.
        spool_dir: where pending writes are spooled.
        lease_time: seconds a lease object lasts without a renewal (``ObjectStore.leases``).
        state_dir: this process's local directory for its state about the store (the quota's
            usage index; ``goproxy serve`` passes its ``cache-dir``).

    Raises:
        StoreURLError: the URL names no store; its message names the value and what is
            expected.
    """
    what = parse_store_url(url)
    if what:
        raise StoreURLError(f"{url!r}: {what} (want {STORE_URL_FORMS})")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    inner: _ObStore
    if scheme == "memory":
        inner = MemoryStore()
    elif scheme == "file":
        path = unquote(parts.path)
        os.makedirs(path, exist_ok=True)
        inner = LocalStore(path, mkdir=True)
    else:
        config: dict[str, Any] = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        allow_http = (endpoint or os.environ.get("AWS_ENDPOINT_URL", "")).startswith("http:")
        try:
            inner = S3Store(
                parts.netloc,
                prefix=parts.path.strip("/") or None,
                config=config,  # type: ignore[arg-type]
                client_options={"allow_http": allow_http, "connect_timeout": "5s"},
                # obstore's default retries for three minutes: a store that is down would
                # hold every request that long. A few quick retries ride out a blip; then
                # the request fails (a 5xx for the client, /readyz says not ready).
                retry_config=_RETRY,
            )
        except obe.BaseError as e:
            raise StoreURLError(f"{url!r}: {e}") from e
    local_root = unquote(parts.path) if scheme == "file" else None
    return ObjectStore(
        inner,
        url=url,
        spool_dir=spool_dir,
        local_root=local_root,
        lease_time=lease_time,
        state_dir=state_dir,
    )
