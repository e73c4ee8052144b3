"""The disk quota's decisions: which module versions go when the cache is over its limits.

Pure: the caller (``goproxy_stores.usage``) measures the cache, keeps the index of last uses
and removes files; this module only says which versions to remove, and which store keys
belong to which version.

Rules (docs/operations.md, "The disk quota"):

* The unit of eviction is a module version: its ``.info``, ``.mod``, ``.zip``, checksum
  proof (``.lookup``) and record (``.record``) go together. Lists, ``@latest``, checksum
  database tiles and the proxy's own files (``_goproxy/``) are counted in the total but are
  never chosen.
* Eviction starts when the cache holds more than ``limit`` bytes or the file system has less
  than ``min_free`` bytes free. It removes the least recently used versions first (ties: the
  smaller module path, then version, so a plan is reproducible) and stops as soon as the
  cache is under the low-water mark (``low_water`` × ``limit``) and the free space is back
  above ``min_free`` plus the same margin (``min_free`` × (2 − ``low_water``)): a cache just
  over its limit is not trimmed again by every commit.
* A version ``keep`` protects (private modules, ``pin`` patterns) is never chosen, even if
  the marks then cannot be reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ..errors import ProxyError
from ..module.escape import unescape_path, unescape_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "LOW_WATER",
    "VERSION_EXTS",
    "StoredVersion",
    "VersionUnit",
    "over_limits",
    "plan_eviction",
    "unit_keys",
    "unit_of",
]

LOW_WATER = 0.9
"""Eviction stops once the cache is under this fraction of ``max-cache-size``."""

VERSION_EXTS = ("info", "mod", "zip", "lookup", "record")
"""The files of one module version (``keys.version_key``, ``proof_key``, ``record_key``)."""


class VersionUnit(msgspec.Struct, frozen=True):
    """The module version a store key belongs to.

    Attributes:
        unit: the keys' common stem, ``<escaped module>/@v/<escaped version>``; a version's
            files are ``unit + "." + ext`` for each of :data:`VERSION_EXTS`.
        module: the module path.
        version: the version.
    """

    unit: str
    module: str
    version: str


class StoredVersion(msgspec.Struct, frozen=True):
    """One module version as the usage index knows it.

    Attributes:
        unit: see :class:`VersionUnit`.
        module: the module path (what ``keep`` is asked about).
        version: the version.
        size: the bytes its files take.
        last_use: when a client last got one of its files (seconds since the epoch).
    """

    unit: str
    module: str
    version: str
    size: int
    last_use: float


def unit_of(key: str) -> VersionUnit | None:
    """The module version whose file ``key`` is, or None (a list, ``@latest``, a checksum
    database file, the proxy's own ``_goproxy/`` files, a name no version file has)."""
    if key.startswith(("_goproxy/", "sumdb/")):
        return None
    head, sep, name = key.rpartition("/@v/")
    if not sep or not head or "/" in name:
        return None
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in VERSION_EXTS or not stem:
        return None
    try:
        module = unescape_path(head)
        version = unescape_version(stem)
    except ProxyError:
        return None
    return VersionUnit(f"{head}/@v/{stem}", module, version)


def unit_keys(unit: str) -> tuple[str, ...]:
    """Every store key a version's files may have, from its :attr:`VersionUnit.unit`."""
    return tuple(f"{unit}.{ext}" for ext in VERSION_EXTS)


def _targets(limit: int, min_free: int, low_water: float) -> tuple[int, int]:
    """The marks a plan must reach: (largest total, smallest free space)."""
    total_mark = int(limit * low_water) if limit else -1
    free_mark = int(min_free * (2 - low_water)) if min_free else 0
    return total_mark, free_mark


def over_limits(total: int, limit: int, free: int | None, min_free: int) -> bool:
    """Whether the cache must shrink: more than ``limit`` bytes stored (0: no limit), or
    ``free`` (None: unknown) under ``min_free`` (0: not checked)."""
    if limit and total > limit:
        return True
    return bool(min_free and free is not None and free < min_free)


def plan_eviction(
    versions: Iterable[StoredVersion],
    total: int,
    limit: int,
    free: int | None,
    min_free: int,
    low_water: float = LOW_WATER,
    keep: Callable[[str], bool] = lambda module: False,
) -> list[StoredVersion]:
    """The versions to remove, least recently used first; empty when under both limits.

    Args:
        versions: every stored version the index knows.
        total: the bytes the whole cache takes (every file, not only versions).
        limit: ``max-cache-size`` in bytes; 0: no limit.
        free: the bytes free on the cache's file system; None: unknown (not judged).
        min_free: ``min-free-space`` in bytes; 0: not checked.
        low_water: the fraction of ``limit`` to end under (and of margin above ``min_free``).
        keep: whether a module's versions are protected (private, pinned): never chosen.

    Removing a version is assumed to free its ``size`` bytes, on the file system too.
    """
    if not 0 < low_water <= 1:
        raise ValueError(f"low_water must be in (0, 1], got {low_water}")
    if not over_limits(total, limit, free, min_free):
        return []
    total_mark, free_mark = _targets(limit, min_free, low_water)

    def done(freed: int) -> bool:
        under = total_mark < 0 or total - freed <= total_mark
        room = free is None or not min_free or free + freed >= free_mark
        return under and room

    plan: list[StoredVersion] = []
    freed = 0
    for v in sorted(versions, key=lambda v: (v.last_use, v.module, v.version, v.unit)):
        if done(freed):
            break
        if keep(v.module):
            continue
        plan.append(v)
        freed += v.size
    return plan
