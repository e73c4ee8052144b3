"""Store operations as the servers carry out the core's effects: I/O failures are logged and
turned into the answers the core expects (absent, not saved), never raised into a connection."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from goproxy_core import BlobData

if TYPE_CHECKING:
    from goproxy_core import BlobInfo
    from goproxy_core.storage import BlobStore, BlobWriter

__all__ = ["commit_or_none", "read_small", "save", "stat"]

log = logging.getLogger("goproxy.store")


def stat(store: BlobStore, key: str) -> BlobInfo | None:
    """``store.stat``, with an I/O failure counted as absent."""
    try:
        return store.stat(key)
    except OSError:
        log.exception("store stat failed for %s", key)
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
    except OSError:
        log.exception("store read failed for %s", key)
        return None
    return None if len(data) > max_size else BlobData(data, info.mtime)


def save(store: BlobStore, key: str, data: bytes) -> bool:
    """Write ``data`` under ``key`` atomically; False (logged) if the store failed."""
    try:
        w = store.writer(key)
        try:
            w.write(data)
            w.commit()
        except BaseException:
            w.abort()
            raise
    except OSError:
        log.exception("store write failed for %s", key)
        return False
    return True


def commit_or_none(writer: BlobWriter, key: str) -> BlobInfo | None:
    """Publish a pending write; on failure abort it and return None (logged)."""
    try:
        return writer.commit()
    except OSError:
        log.exception("store commit failed for %s", key)
        writer.abort()
        return None
