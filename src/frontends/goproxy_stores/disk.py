"""A blob store on a local file system whose layout is itself a GOPROXY tree.

Keys are the core's escaped names (``example.com/!m/@v/v1.0.0.zip``), so the cache directory
can be served as it is with ``GOPROXY=file:///path/to/cache``, offline.

Atomicity: a write goes to a hidden temporary file in the target's own directory, is flushed
and fsynced, then renamed over the target (``os.replace``, atomic on POSIX), and the directory
is fsynced. Readers see the old blob or the new one, never a part. A crash leaves at most a
hidden ``.*.tmp`` file, which no GOPROXY path can name and which :meth:`DiskStore.sweep`
removes. Several processes may share one directory: the last complete rename wins, and every
writer of an immutable key writes the same bytes.

A temporary file's name says whose it is: ``.<name>.<host>-<pid>-<start>-<random>.tmp``, the
writer's host (a short hash of its name), process id and the process's start time (clock ticks
since boot, from ``/proc``; 0 where unknown). ``sweep`` removes at once, whatever their age, the
files of this host whose process is gone (or whose pid now names a later process); a live
writer's file is kept, and a name it cannot judge (another host's, an older layout's) is
removed only once it is older than an hour.

Faults: a write that fails (ENOSPC, EIO) is aborted by its caller, and aborting removes the
temporary file even when closing it fails again. The store never follows a symbolic link: a
key whose file or any directory under the root is a link is absent (so a link planted in the
cache dir is never served), and writes refuse to go through one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import socket
import stat as _stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from goproxy_core.storage import BlobInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["DiskStore"]

_TMP_SUFFIX = ".tmp"
_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=3).hexdigest()
_WRITER = re.compile(r"\.([0-9a-f]{6})-(\d+)-(\d+)-[0-9a-f]+\.tmp\Z")


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time (clock ticks since boot), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold anything: split after it.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


_own: dict[int, str] = {}


def _own_tag() -> str:
    """This process's part of a temporary file's name (recomputed in a forked child)."""
    pid = os.getpid()
    tag = _own.get(pid)
    if tag is None:
        st = _proc_stat(pid)
        tag = _own[pid] = f"{_HOST}-{pid}-{st[1] if st else 0}"
    return tag


def _writer_gone(name: str) -> bool | None:
    """Whether a temporary file's writer is dead; None if the name is not this host's."""
    m = _WRITER.search(name)
    if m is None or m.group(1) != _HOST:
        return None  # not ours to judge: the age rule decides
    pid, start = int(m.group(2)), int(m.group(3))
    if pid == os.getpid():
        return _own_tag() != f"{_HOST}-{pid}-{start}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass  # alive, another user's (EPERM)
    st = _proc_stat(pid)
    if st is None:
        return False
    state, started = st
    # A zombie writes no more; a pid with another start time is a later process.
    return state == "Z" or (start != 0 and started != start)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# What a key that cannot be a file here raises: a name too long, a link met with O_NOFOLLOW.
_ABSENT_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP})


def _no_links_above(root: Path, path: Path) -> bool:
    """Whether no directory between the (resolved) ``root`` and ``path`` is a symbolic link.

    One ``lstat`` per directory below the root (the root itself is resolved once, at start);
    a directory that does not exist is no link (the open or stat then finds nothing).
    """
    d = str(root)
    for part in str(path)[len(d) + 1 :].split(os.sep)[:-1]:
        d += os.sep + part
        try:
            if _stat.S_ISLNK(os.lstat(d).st_mode):
                return False
        except (FileNotFoundError, NotADirectoryError):
            return True
    return True


def _links_refused(path: Path) -> OSError:
    return OSError(errno.ELOOP, "a symbolic link in the cache dir is not followed", str(path))


class _DiskWriter:
    def __init__(self, root: Path, target: Path, done: Callable[[], None] | None = None) -> None:
        self._target = target
        self._done = done
        target.parent.mkdir(parents=True, exist_ok=True)
        if not _no_links_above(root, target):
            raise _links_refused(target.parent)
        unique = f"{_own_tag()}-{secrets.token_hex(4)}"
        self._tmp = target.parent / f".{target.name}.{unique}{_TMP_SUFFIX}"
        fd = os.open(self._tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
        self._f: BinaryIO | None = os.fdopen(fd, "w+b")
        self._readers: list[BinaryIO] = []

    def write(self, data: bytes) -> None:
        assert self._f is not None, "writer already finished"
        self._f.write(data)

    def reader(self) -> BinaryIO:
        assert self._f is not None, "writer already finished"
        self._f.flush()
        r = open(self._tmp, "rb")  # noqa: SIM115 - closed at commit or abort
        self._readers.append(r)
        return r

    def _close_readers(self) -> None:
        for r in self._readers:
            r.close()
        self._readers.clear()

    def fileno(self) -> int:
        """The temporary file's descriptor (for callers that splice into it)."""
        assert self._f is not None
        return self._f.fileno()

    def commit(self) -> BlobInfo:
        f = self._f
        if f is None:
            raise ValueError("writer already finished")
        self._f = None
        self._close_readers()
        try:
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(self._tmp, self._target)
        except BaseException:
            # Closing flushes what is buffered, which fails again on a full disk: the temporary
            # file is removed whatever closing says.
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            raise
        _fsync_dir(self._target.parent)
        st = os.stat(self._target)
        if self._done is not None:
            self._done()
        return BlobInfo(size=st.st_size, mtime=st.st_mtime)

    def abort(self) -> None:
        self._close_readers()
        f, self._f = self._f, None
        if f is not None:
            # Closing flushes the buffer, which raises again on a full disk (ENOSPC) or a
            # failed device (EIO): the file goes whatever closing says.
            with contextlib.suppress(OSError):
                f.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __del__(self) -> None:
        # A writer dropped without commit or abort (a crashed task) leaves nothing behind.
        if getattr(self, "_f", None) is not None and hasattr(self, "_readers"):
            self.abort()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DiskStore:
    """Blobs as files under ``root``.

    Args:
        root: the cache directory (created if missing).

    Attributes:
        on_change: called with a key after its file was committed, moved (both keys) or
            deleted, in the thread that did it; must be quick (the disk quota's usage
            index batches them, ``goproxy_stores.usage``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.on_change: list[Callable[[str], None]] = []

    def _changed(self, *keys: str) -> None:
        for fn in self.on_change:
            for key in keys:
                fn(key)

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (it may not exist)."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid store key {key!r}")
        if any(p.startswith(".") and p.endswith(_TMP_SUFFIX) for p in parts):
            raise ValueError(f"invalid store key {key!r}")
        return self.root.joinpath(*parts)

    def free_space(self) -> tuple[int, str]:
        """Bytes free for an unprivileged writer on the cache's file system, and the cache
        directory (``SpaceReportingStore``)."""
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize, str(self.root)

    def local_path(self, key: str) -> str:
        """The file that holds ``key``, as a string (``LocalBlobStore``: sendfile works)."""
        return str(self.path(key))

    def open(self, key: str) -> BinaryIO | None:
        """The blob's file, or None: absent, not a regular file, or reached through a link."""
        p = self.path(key)
        try:
            if not _no_links_above(self.root, p):
                return None
            fd = os.open(p, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as e:
            if e.errno in _ABSENT_ERRNOS:
                return None
            raise
        try:
            if not _stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                return None
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    def stat(self, key: str) -> BlobInfo | None:
        """Size and time of storing, or None (absent, not a regular file, or a link)."""
        p = self.path(key)
        try:
            if not _no_links_above(self.root, p):
                return None
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            if e.errno in _ABSENT_ERRNOS:
                return None
            raise
        if not _stat.S_ISREG(st.st_mode):
            return None
        return BlobInfo(size=st.st_size, mtime=st.st_mtime)

    def writer(self, key: str) -> _DiskWriter:
        return _DiskWriter(
            self.root,
            self.path(key),
            functools.partial(self._changed, key) if self.on_change else None,
        )

    def delete(self, key: str) -> None:
        p = self.path(key)
        if not _no_links_above(self.root, p):
            return  # through a link: not the store's file
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(p)  # a link itself is removed, never what it names
            self._changed(key)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key under ``prefix`` (hidden files and directories are not keys)."""
        head, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*head.split("/")) if head else self.root
        for dirpath, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            base = "" if rel == "." else rel + "/"
            for name in files:
                key = base + name
                if (
                    not name.startswith(".")
                    and key.startswith(prefix)
                    and not os.path.islink(os.path.join(dirpath, name))
                ):
                    yield key

    def move(self, key: str, to: str) -> bool:
        """Rename ``key``'s file to ``to``'s (atomic: one file system)."""
        src, dst = self.path(key), self.path(to)
        if self.stat(key) is None:
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not _no_links_above(self.root, dst):
            raise _links_refused(dst.parent)
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            return False  # moved or deleted by another process meanwhile
        _fsync_dir(src.parent)
        _fsync_dir(dst.parent)
        self._changed(key, to)
        return True

    def sweep(self, older_than: float = 3600.0, *, now: float | None = None) -> int:
        """Remove temporary files left by crashed writers; returns how many.

        A file of this host's goes when its writer's process is gone, whatever its age, and
        stays while it lives; a name it cannot judge (another host's, an older layout's) goes
        when older than ``older_than`` seconds.
        """
        cutoff = (time.time() if now is None else now) - older_than
        removed = 0
        for dirpath, dirs, files in os.walk(self.root):
            # Hidden directories are not the store's (``.vcs`` holds direct mode's mirrors).
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith(".") and name.endswith(_TMP_SUFFIX):
                    p = os.path.join(dirpath, name)
                    with contextlib.suppress(OSError):
                        gone = _writer_gone(name)
                        if gone or (gone is None and os.lstat(p).st_mtime < cutoff):
                            os.unlink(p)
                            removed += 1
        return removed
