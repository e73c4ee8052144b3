"""The storage interface: what a cache backend must do for the core's callers.

The core names keys (see :mod:`goproxy_core.proxy.keys`); a store only keeps bytes. The
interface streams, so memory stays flat whatever the size of a zip, and a write becomes
visible only when it is complete (``commit``). It is synchronous and small on purpose: async
servers call it through their thread offload; a natively async backend may add an async twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from .proxy.effects import BlobInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BlobInfo", "BlobStore", "BlobWriter", "LocalBlobStore", "SpaceReportingStore"]


@runtime_checkable
class BlobWriter(Protocol):
    """A pending write: invisible to readers until :meth:`commit`."""

    def write(self, data: bytes) -> None:
        """Append ``data``."""

    def reader(self) -> BinaryIO:
        """A readable, seekable view of everything written so far (for validation).

        The writer closes it at ``commit`` or ``abort``.
        """

    def commit(self) -> BlobInfo:
        """Publish atomically; readers see all of it or nothing. Returns its info."""

    def abort(self) -> None:
        """Discard; nothing of it stays visible. Safe to call after a failed commit."""


@runtime_checkable
class BlobStore(Protocol):
    """A place that keeps blobs by key."""

    def open(self, key: str) -> BinaryIO | None:
        """A readable stream of the blob, or None if absent. Raises only on real I/O failure."""

    def stat(self, key: str) -> BlobInfo | None:
        """Size and time of storing, or None if absent."""

    def writer(self, key: str) -> BlobWriter:
        """Start a pending write for ``key``; concurrent writers of one key are allowed."""

    def delete(self, key: str) -> None:
        """Remove the blob if present."""

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key that starts with ``prefix``, in no particular order.

        Pending writes are not keys. Used by maintenance (``goproxy verify``), and offline
        for one module's ``@v/`` directory (``ListKeys``: its list and ``@latest`` are made
        from what the cache holds), so a prefix ending in ``/`` should not walk the whole
        store.
        """

    def move(self, key: str, to: str) -> bool:
        """Move the blob ``key`` to ``to`` (replacing what is there); False if absent.

        Afterwards ``key`` is absent. Atomic where the store can be (a rename on one file
        system); otherwise a copy then a delete, so a reader sees the blob under one key or
        the other, never a part.
        """


@runtime_checkable
class SpaceReportingStore(BlobStore, Protocol):
    """A store that can say how much room it has left (``/readyz`` checks it).

    Servers check for this capability with ``isinstance(store, SpaceReportingStore)``; a
    store without it answers ``StoreSpace`` with None, and ``/readyz`` does not judge space.
    """

    def free_space(self) -> tuple[int, str] | None:
        """Bytes an unprivileged writer may still store, and where (a directory); None if
        unknown."""


@runtime_checkable
class LocalBlobStore(BlobStore, Protocol):
    """A store whose blobs are regular files on this machine.

    Its ``open`` returns real files, so a server may hand them to ``sendfile``; servers check
    for this capability with ``isinstance(store, LocalBlobStore)``.
    """

    def local_path(self, key: str) -> str:
        """The file that holds ``key`` (it may not exist)."""
