"""The store every command works on: its three flags, and opening it from the settings.

``goproxy serve``, ``verify``, ``warm``, ``export``, ``import``, ``cache`` and ``sumdb key``
all take ``--store``, ``--store-endpoint`` and ``--store-region`` (or their config keys and
``GOPROXY_CORE_*`` variables) and open the same store from them: the object store the URL
names, else the disk store on ``cache-dir``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goproxy_stores import DiskStore

if TYPE_CHECKING:
    import argparse

    from goproxy_core.storage import BlobStore

    from .settings import Settings

__all__ = ["STORE_FLAGS", "add_store_flags", "open_store", "store_flags"]

STORE_FLAGS = ("store", "store_endpoint", "store_region")
"""The settings the store flags set (argparse destinations)."""


def add_store_flags(
    p: argparse.ArgumentParser,
    store_help: str,
    *,
    endpoint_help: str = "as for serve",
    region_help: str = "as for serve",
) -> None:
    """Register ``--store``, ``--store-endpoint`` and ``--store-region`` on ``p``."""
    p.add_argument("--store", metavar="URL", help=store_help)
    p.add_argument("--store-endpoint", metavar="URL", help=endpoint_help)
    p.add_argument("--store-region", metavar="REGION", help=region_help)


def store_flags(ns: argparse.Namespace) -> dict[str, object]:
    """The store flags' values, as settings (None where a flag was not given)."""
    return {name: getattr(ns, name, None) for name in STORE_FLAGS}


def open_store(settings: Settings) -> BlobStore:
    """The ``store`` URL's object store (its ``state_dir``, for the quota's index of it:
    ``cache-dir``), else the disk store on ``cache-dir``."""
    if settings.store:
        from goproxy_stores.objectstore import open_object_store

        return open_object_store(
            settings.store,
            endpoint=settings.store_endpoint,
            region=settings.store_region,
            lease_time=settings.lease_time,
            state_dir=settings.cache_dir,
        )
    disk = DiskStore(settings.cache_dir)
    disk.sweep()
    return disk
