"""Store operations as the servers carry out the core's effects: I/O failures are logged and
turned into the answers the core expects (absent, not saved, a :class:`StoreFailure` naming the
cache), never raised into a connection."""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from goproxy_core import BlobData, FreeSpace, KeyList, StoreFailure
from goproxy_core.storage import SpaceReportingStore

if TYPE_CHECKING:
    from goproxy_core import BlobInfo
    from goproxy_core.storage import BlobStore, BlobWriter

__all__ = ["commit", "commit_or_none", "failure", "list_keys", "read_small", "save", "stat"]

log = logging.getLogger("goproxy.store")

_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def failure(store: BlobStore, e: OSError) -> StoreFailure:
    """What the client is told when ``store`` failed with ``e``: the cache named, the cause.

    ``cache /var/cache/goproxy: no space left on device`` (kind ``full``); a name the file
    system cannot hold (ENAMETOOLONG) is ``name``; anything else ``failed``.
    """
    root = getattr(store, "root", None)
    where = f"cache {root}" if root is not None else f"cache ({type(store).__name__})"
    if e.errno == errno.ENAMETOOLONG:
        return StoreFailure(f"{where}: path element too long for the cache", "name")
    cause = (e.strerror or str(e) or type(e).__name__).lower()
    return StoreFailure(f"{where}: {cause}", "full" if e.errno in _FULL else "failed")


def _log_write_failure(what: str, key: str, e: OSError) -> None:
    # An expected fault of the machine (full, read-only, name too long): one warning line,
    # no traceback per request.
    log.warning("store %s failed for %s: %s", what, key, e)


def stat(store: BlobStore, key: str) -> BlobInfo | None:
    """``store.stat``, with an I/O failure counted as absent."""
    try:
        return store.stat(key)
    except OSError as e:
        log.warning("store stat failed for %s: %s", key, e)
        return None


def read_small(store: BlobStore, key: str, max_size: int) -> BlobData | None:
    """A blob read whole if present and at most ``max_size`` bytes, else None."""
    try:
        info = store.stat(key)
        if info is None or info.size > max_size:
            return None
        f = store.open(key)
        if f is None:
            return None
        with f:
            data = f.read(max_size + 1)
    except OSError as e:
        log.warning("store read failed for %s: %s", key, e)
        return None
    return None if len(data) > max_size else BlobData(data, info.mtime)


def list_keys(store: BlobStore, prefix: str, limit: int) -> KeyList:
    """``ListKeys``: at most ``limit`` keys under ``prefix``; an I/O failure names the cache."""
    keys: list[str] = []
    try:
        for key in store.list_keys(prefix):
            if len(keys) >= limit:
                return KeyList(tuple(keys), complete=False)
            keys.append(key)
    except OSError as e:
        log.warning("store listing failed for %s: %s", prefix, e)
        return KeyList(error=failure(store, e).message)
    return KeyList(tuple(keys))


def free_space(store: BlobStore) -> FreeSpace | None:
    """The store's free space (``StoreSpace``); None if it cannot tell or asking failed."""
    if not isinstance(store, SpaceReportingStore):
        return None
    try:
        space = store.free_space()
    except OSError:
        return None
    return None if space is None else FreeSpace(*space)


def save(store: BlobStore, key: str, data: bytes) -> bool:
    """Write ``data`` under ``key`` atomically; False (logged) if the store failed.

    A failed write is aborted: it leaves nothing behind.
    """
    try:
        w = store.writer(key)
        try:
            w.write(data)
            w.commit()
        except BaseException:
            w.abort()
            raise
    except OSError as e:
        _log_write_failure("write", key, e)
        return False
    return True


def commit(store: BlobStore, writer: BlobWriter, key: str) -> BlobInfo | StoreFailure:
    """Publish a pending write; on failure abort it and say why (logged)."""
    try:
        return writer.commit()
    except OSError as e:
        _log_write_failure("commit", key, e)
        writer.abort()
        return failure(store, e)


def commit_or_none(writer: BlobWriter, key: str) -> BlobInfo | None:
    """Publish a pending write; on failure abort it and return None (logged)."""
    try:
        return writer.commit()
    except OSError as e:
        _log_write_failure("commit", key, e)
        writer.abort()
        return None
