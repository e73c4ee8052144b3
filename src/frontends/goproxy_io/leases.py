"""Single-flight across processes: a lease per store key, so one process fetches each file.

:mod:`goproxy_io.flights` shares one fetch among the requests of one process. Several processes
serving one cache (``--workers N``, or several servers on one cache directory; next, replicas
on one object store) share it through a lease on the store key the fetch will be stored under
(``FetchUpstream.into`` for a zip, ``FetchUpstream.saves`` for a ``.info`` or ``.mod``):

* A process that leads a local flight for such a file first tries to take the lease
  (:meth:`Leases.try_acquire`, never waiting). Taken: it looks in the store once more (the
  file may have been committed just before), then fetches, checks and stores as usual, and
  releases the lease when the pending write is committed or aborted, when the small file is
  saved, when the fetch fails, or when the connection ends with it still held
  (``Executor.abandon``).
* Held by another: the process waits (:func:`wait`) on the fetching thread it already has (one
  thread per waiting request: every fetch runs on an executor thread, never on an event
  loop), polling the store for the committed blob with a growing pause (50 ms doubling to
  500 ms), and trying the lease again each time. The blob appears: it answers from the store,
  as a follower of a local flight does (its own reader, never a shared one). The lease frees
  with nothing stored (the holder failed, refused bad data, or died): it takes the lease and
  leads. Neither before the request's deadline (the fetcher's ``fetch_deadline``), while the
  holder shows no progress for ``read_timeout`` (it renews its lease as the body arrives, at
  most once a second: a large zip over a slow link is waited for): a timeout, answered 504
  with a text naming the wait.
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

**On an object store** (next: replicas on one bucket) the store hands its leases to the
executor through a ``leases()`` method (``Executor`` takes them from any store that has one),
and keeps the same interface by a conditional create: the lease is an object
``_goproxy/leases/<sha256 of the key>`` holding the holder's id and an expiry (now + lease
time, say 30 s). ``try_acquire`` creates it with ``mode="create"`` (If-None-Match: the first
writer wins, the others get "already exists"); when it exists but its expiry has passed, a
taker replaces it conditionally on the ETag it read (If-Match), so of several takers one wins.
``renew`` rewrites it with a later expiry, If-Match on the holder's last ETag (a failed renew
means another took it over: the holder aborts its pending write rather than commit over the new
leader); ``release`` deletes it. A crashed leader blocks others for at most the lease time; a
lease object left behind expires, and ``sweep`` deletes expired ones. ``idle`` is the time
since the lease object was last written (its Last-Modified); the executor renews as the body
arrives once a second, which an object store should thin out to a third of the lease time.
Waiting is the same :func:`wait` loop: poll the store for the committed key, try the lease
again. (The executor does not yet act on a failed ``renew``: with flock it cannot fail.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import math
import os
import threading
import time
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LEASE_DIR", "FileLease", "FileLeases", "Lease", "Leases", "lease_name", "wait"]

LEASE_DIR = "_goproxy/leases"
"""Where a disk cache keeps its lock files, under the cache directory."""

_FIRST_PAUSE = 0.05
_MAX_PAUSE = 0.5

T = TypeVar("T")


def lease_name(key: str) -> str:
    """The lease's file or object name for store key ``key``: a hash, so every key fits."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class Lease(Protocol):
    """A held lease: the holder's side."""

    key: str

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
