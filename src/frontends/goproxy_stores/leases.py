"""Single-flight across processes: a lease per store key, so one process fetches each file.

:mod:`goproxy_io.flights` shares one fetch among the requests of one process. Several processes
serving one cache (``--workers N``, several servers on one cache directory, or replicas
on one object store) share it through a lease on the store key the fetch will be stored under
(``FetchUpstream.into`` for a zip, ``FetchUpstream.saves`` for a ``.info`` or ``.mod``):

* A process that leads a local flight for such a file first tries to take the lease
  (:meth:`Leases.try_acquire`, never waiting). Taken: it looks in the store once more (the
  file may have been committed just before), then fetches, checks and stores as usual, and
  releases the lease when the pending write is committed or aborted, when the small file is
  saved, when the fetch fails, when the answer to a request whose small file was refused is
  decided (``Executor.answered``), or when the connection ends with it still held
  (``Executor.abandon``).
* Held by another: the process waits (:func:`wait`) on the fetching thread it already has (one
  thread per waiting request: every fetch runs on an executor thread, never on an event
  loop), polling the store for the committed blob with a growing pause (50 ms doubling to
  500 ms), and trying the lease again each time. The blob appears: it answers from the store,
  as a follower of a local flight does (its own reader, never a shared one). The lease frees
  with nothing stored (the holder failed, refused bad data, or died): it takes the lease and
  leads. Neither before the request's deadline (the fetcher's ``fetch_deadline``), while the
  holder shows no progress for ``Leases.wait_limit(read_timeout)`` (it renews its lease as
  the body arrives, at most once a second: a large zip over a slow link is waited for): a
  timeout, answered 504 with a text naming the wait. On an object store that limit is
  infinite: a lease object left unchanged for the lease time expires and is taken over
  instead, so a waiter there never gives up on a live holder and leads in a dead one's place.
* Leases are advisory and only ever save work: a process that cannot take or keep one still
  stores nothing but checked bytes, through writes that become visible whole, so a lost lease
  costs a second fetch, never a wrong or partial file.

Each lease has a holder's side (:class:`Lease`): ``renew`` (keep it while a long fetch runs,
as its body arrives; False when it was lost) and ``release``; waiters read
:meth:`Leases.idle`, the time since the last renewal.

**On a disk cache** (:class:`FileLeases`) the lease is an ``flock`` on
``_goproxy/leases/<sha256 of the key>.lock`` under the cache directory. The kernel releases it
when the holder exits in any way, ``kill -9`` included, so a crashed holder never blocks anyone:
the next poll takes it. ``renew`` sets the lock file's modification time, which ``idle`` reads.
The holder unlinks the file before it lets go, so lock files do not
pile up; a taker checks that the file it locked is still the one at the path (an unlinked one
is dropped and opened again), so two processes never both hold one key. A holder killed before
unlinking leaves an unlocked empty file, which the next taker of that key reuses and removes,
and :meth:`FileLeases.sweep` (run when a server starts) removes every such file.

**On an object store** (:class:`ObjectLeases`, what ``ObjectStore.leases()`` gives on S3 and
memory stores: replicas on one bucket) a lease is one of the store's own objects,
``.goproxy/leases/<sha256 of the key>``, holding the key, the holder's id and the lease time,
made with a conditional create (S3's ``If-None-Match: *``: of several replicas creating it at
once exactly one wins, the others get "already exists"). The holder keeps it by rewriting it
conditionally on the ETag it last wrote (``If-Match``), at most every third of the lease time
as the body arrives; a rewrite that fails means another replica took the lease over (this one
stalled for a whole lease time), and ``renew`` says False. The holder carries on: what both
store is the same checked file, each write visible whole, so a lost lease costs a second
fetch, never a wrong or partial file (fencing matters where writes differ: the checksum
database's log, which fences its appends by conditional creates of its own). A lease object
not rewritten for the lease time (:data:`LEASE_TIME`, 30 s) is expired: a waiter takes it over
with a conditional rewrite of the ETag it saw (of several takers one wins). Expiry is judged on the
waiter's own monotonic clock, from when it first saw that ETag, so replicas' wall clocks never
have to agree; a lease the waiter sees for the first time is also expired when the store's
Last-Modified is older than three lease times (a holder gone long ago). ``release`` deletes the
object; ``sweep`` (at start) deletes lease objects older than that. A leader killed with
``kill -9`` thus delays the others by one lease time at most, and leaves one small object that
the next taker or sweep removes.

On a ``file://`` store (a local or shared directory) ``ObjectStore.leases()`` gives
:class:`FileLeases` in ``.goproxy/leases/`` under its root: obstore's local store can create
conditionally but not rewrite conditionally, and ``flock`` is exact there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .objectstore import OwnObject

__all__ = [
    "LEASE_DIR",
    "LEASE_TIME",
    "FileLease",
    "FileLeases",
    "Lease",
    "Leases",
    "ObjectLease",
    "ObjectLeases",
    "lease_name",
    "wait",
]

LEASE_DIR = "_goproxy/leases"
"""Where a disk cache keeps its lock files, under the cache directory."""

LEASE_TIME = 30.0
"""Seconds an object-store lease lasts without a renewal (its holder renews every third)."""

_FIRST_PAUSE = 0.05
_MAX_PAUSE = 0.5

T = TypeVar("T")


def lease_name(key: str) -> str:
    """The lease's file or object name for store key ``key``: a hash, so every key fits."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class Lease(Protocol):
    """A held lease: the holder's side."""

    key: str
    took_over: bool
    """Taken over from a holder that stopped renewing it (for the take-over metric)."""

    def renew(self) -> bool:
        """The holder is making progress: keep the lease longer (others see it in
        :meth:`Leases.idle`); False if it was lost (another process took it over)."""
        ...

    def release(self) -> None:
        """Let the lease go (and remove what it leaves behind); idempotent."""
        ...


class Leases(Protocol):
    """Leases on store keys, shared by every process serving one store."""

    def try_acquire(self, key: str) -> Lease | None:
        """Take the lease on ``key`` without waiting: the lease, or None if another holds it."""
        ...

    def idle(self, key: str) -> float:
        """Seconds since the holder of ``key``'s lease took or renewed it (inf: unknown)."""
        ...

    def sweep(self) -> int:
        """Remove leases left behind by holders that died; how many were removed."""
        ...

    def wait_limit(self, read_timeout: float) -> float:
        """How long a waiter past its deadline still waits on a lease that :meth:`idle`
        shows unchanged (``wait``'s ``idle_limit``), for a holder whose fetch fails after
        ``read_timeout`` seconds without a byte."""
        ...


def wait(
    leases: Leases,
    key: str,
    committed: Callable[[], T | None],
    deadline: float,
    *,
    idle_limit: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Lease | T | None:
    """Wait for another process's lease on ``key``: what ``committed`` found, or the lease.

    Polls ``committed`` (the store: the blob, or None while it is absent) and the lease,
    pausing 50 ms, then twice as long each time up to 500 ms. Returns what ``committed``
    returned once it is not None, or the lease once it is free and nothing was committed (the
    caller leads), or None when ``deadline`` (on ``clock``) has passed and the holder has not
    renewed its lease for ``idle_limit`` seconds (a body still arriving is waited for).
    """
    pause = _FIRST_PAUSE
    while True:
        found = committed()
        if found is not None:
            return found
        lease = leases.try_acquire(key)
        if lease is not None:
            # Freed: by a holder that committed (between our two looks), or one that did not.
            found = committed()
            if found is not None:
                lease.release()
                return found
            return lease
        now = clock()
        if now >= deadline and leases.idle(key) >= idle_limit:
            return None
        sleep(min(pause, deadline - now) if now < deadline else pause)
        pause = min(pause * 2, _MAX_PAUSE)


class FileLease:
    """An ``flock`` held on a lock file; released by :meth:`release` or the holder's exit.

    Its file's modification time is when the holder last showed progress (:meth:`renew`).
    """

    def __init__(self, key: str, path: str, fd: int) -> None:
        self.key = key
        self.path = path
        self.took_over = False  # an flock is never taken from a live holder
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def renew(self) -> bool:
        """Mark progress (the lock file's time: :meth:`FileLeases.idle`); an ``flock`` itself
        lasts as long as its holder. False once released."""
        with self._lock:
            if self._fd is None:
                return False
            with contextlib.suppress(OSError):
                os.utime(self._fd)
            return True

    def release(self) -> None:
        """Unlink the lock file (still holding it, so no taker can lock a file about to go),
        then close it, which drops the lock."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(fd)


class FileLeases:
    """Leases as ``flock`` on ``<dir>/<hash>.lock``; a disk cache's ``dir`` is
    ``<cache-dir>/_goproxy/leases`` (:data:`LEASE_DIR`), created when first needed.

    Args:
        dir: the directory of the lock files.
    """

    def __init__(self, dir: str | os.PathLike[str]) -> None:
        self.dir = os.fspath(dir)

    def path(self, key: str) -> str:
        """The lock file of store key ``key``."""
        return os.path.join(self.dir, lease_name(key) + ".lock")

    def try_acquire(self, key: str) -> FileLease | None:
        """Lock ``key``'s file without waiting: the lease, or None if another holds it."""
        path = self.path(key)
        fd = self._lock(path)
        if fd is None:
            return None
        lease = FileLease(key, path, fd)
        lease.renew()  # a file reused from a killed holder: its time is now ours
        return lease

    def idle(self, key: str) -> float:
        """Seconds since the lease on ``key`` was taken or renewed (inf: no lock file)."""
        try:
            return max(0.0, time.time() - os.stat(self.path(key)).st_mtime)
        except OSError:
            return math.inf

    def wait_limit(self, read_timeout: float) -> float:
        """``read_timeout``: the holder renews (the lock file's time) as its body arrives,
        and a holder that dies loses its ``flock`` at once (the next poll takes it)."""
        return read_timeout

    def _lock(self, path: str) -> int | None:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except FileNotFoundError:
                os.makedirs(self.dir, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return None
                raise
            # The holder before us may have unlinked this file just before letting it go:
            # then the lock is on a file nobody else will find. Open the path again.
            try:
                here = os.stat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            mine = os.fstat(fd)
            if (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino):
                os.close(fd)
                continue
            return fd

    def sweep(self) -> int:
        """Remove every lock file no process holds (left by a holder killed mid-fetch)."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return 0
        removed = 0
        for name in names:
            if not name.endswith(".lock"):
                continue
            fd = self._lock(os.path.join(self.dir, name))
            if fd is not None:
                FileLease("", os.path.join(self.dir, name), fd).release()
                removed += 1
        return removed


class OwnObjects(Protocol):
    """What :class:`ObjectLeases` needs of a store: its own small objects, written
    conditionally (``goproxy_stores.objectstore.ObjectStore``)."""

    def own_get(self, name: str) -> OwnObject | None: ...

    def own_put(
        self, name: str, data: bytes, *, create: bool = False, match: str | None = None
    ) -> str | None: ...

    def own_delete(self, name: str) -> None: ...

    def own_list(self, prefix: str) -> Iterator[tuple[str, int, float]]: ...


def holder_id() -> str:
    """This process's id in the lease objects it writes: host, pid, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class ObjectLease:
    """A lease object held: renewed by conditional rewrites, released by a delete."""

    def __init__(
        self, owner: ObjectLeases, key: str, name: str, etag: str, *, took_over: bool = False
    ) -> None:
        self.key = key
        self.took_over = took_over
        self._owner = owner
        self._name = name
        self._etag: str | None = etag
        self._written = owner.clock()
        self._lock = threading.Lock()

    def renew(self) -> bool:
        """Rewrite the lease object if a third of the lease time has passed since the last
        write, conditionally on it being ours; False once lost (or released). A store that
        does not answer keeps the lease until the lease time has passed without a write."""
        owner = self._owner
        with self._lock:
            if self._etag is None:
                return False
            now = owner.clock()
            if now - self._written < owner.lease_time / 3:
                return True
            try:
                etag = owner.store.own_put(self._name, owner.body(self.key), match=self._etag)
            except OSError:
                return now - self._written < owner.lease_time
            if etag is None:  # rewritten by a replica that took it over
                self._etag = None
                return False
            self._etag, self._written = etag, now
            return True

    def release(self) -> None:
        """Delete the lease object, unless it was lost (then it is the new holder's)."""
        with self._lock:
            etag, self._etag = self._etag, None
        if etag is not None:
            with contextlib.suppress(OSError):  # left behind: it expires
                self._owner.store.own_delete(self._name)


class ObjectLeases:
    """Leases as the store's own objects ``leases/<hash>``, by conditional create.

    Args:
        store: the object store (``own_get``, ``own_put`` with ``create`` and ``match``).
        lease_time: seconds a lease lasts without a renewal.
        clock: a monotonic clock (tests pass their own).
    """

    PREFIX = "leases/"

    def __init__(
        self,
        store: OwnObjects,
        *,
        lease_time: float = LEASE_TIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.lease_time = lease_time
        self.clock = clock
        self.holder = holder_id()
        self._seen: dict[str, tuple[str | None, float]] = {}  # name: (ETag, first seen)
        self._writes = 0
        self._lock = threading.Lock()

    def body(self, key: str) -> bytes:
        """A lease object's content: for people looking at the bucket, never trusted, and
        different at every write (an S3 ETag is the MD5 of the content: a rewrite of the same
        bytes would look unchanged to waiters)."""
        with self._lock:
            self._writes += 1
            text = {
                "key": key,
                "holder": self.holder,
                "write": self._writes,
                "lease_time": self.lease_time,
            }
        return json.dumps(text).encode()

    def name(self, key: str) -> str:
        """The lease object's name (under the store's own prefix) for store key ``key``."""
        return self.PREFIX + lease_name(key)

    def _unchanged_for(self, name: str, got: OwnObject) -> float:
        """How long this process has seen the lease object at the version it has now."""
        now = self.clock()
        with self._lock:
            etag, since = self._seen.get(name, (None, now))
            if etag != got.etag:
                since = now
                if len(self._seen) > 10_000:
                    self._seen.clear()
            self._seen[name] = (got.etag, since)
        return now - since

    def _expired(self, name: str, got: OwnObject) -> bool:
        if self._unchanged_for(name, got) >= self.lease_time:
            return True
        return time.time() - got.modified > 3 * self.lease_time

    def try_acquire(self, key: str) -> ObjectLease | None:
        """Create the lease object; or take over an expired one; else None."""
        name = self.name(key)
        for _ in range(3):  # a lease deleted between our create and our read: again
            etag = self.store.own_put(name, self.body(key), create=True)
            if etag is not None:
                return ObjectLease(self, key, name, etag)
            got = self.store.own_get(name)
            if got is None:
                continue
            if not self._expired(name, got):
                return None
            etag = self.store.own_put(name, self.body(key), match=got.etag)
            return None if etag is None else ObjectLease(self, key, name, etag, took_over=True)
        return None

    def idle(self, key: str) -> float:
        """Seconds this process has seen the lease object of ``key`` unchanged (inf: none)."""
        name = self.name(key)
        got = self.store.own_get(name)
        if got is None:
            return math.inf
        return self._unchanged_for(name, got)

    def wait_limit(self, read_timeout: float) -> float:
        """Never give up on a lease object that changes: the holder rewrites it only every
        third of the lease time, so a limit near ``read_timeout`` would time a live holder
        out. One that stays unchanged for the lease time has expired, and :func:`wait`'s
        next :meth:`try_acquire` takes it over: a waiter leads then instead of answering
        504. (A holder whose body stalls stops renewing, so that is also when it is
        replaced.)"""
        return math.inf

    def sweep(self) -> int:
        """Delete lease objects not written for three lease times (holders long gone)."""
        removed = 0
        old = time.time() - 3 * self.lease_time
        for name, _, modified in list(self.store.own_list(self.PREFIX)):
            if modified < old:
                self.store.own_delete(name)
                removed += 1
        return removed
