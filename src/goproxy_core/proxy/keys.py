"""Cache keys and freshness: what is stored under which name, and for how long it is good.

Keys use the *escaped* module path and version (PROTOCOL.md §5), so a store on a
case-insensitive file system keeps ``example.com/M`` and ``example.com/m`` apart, and a disk
store laid out by these keys is itself a valid GOPROXY tree (``GOPROXY=file://$cache``).

Freshness (callers pass ``now``; the store reports when it wrote a blob):

* ``.info`` of a canonical version, ``.mod``, ``.zip`` and checksum-database tiles never change
  once published (they are pinned by go.sum and the checksum database): kept for ever, never
  revalidated.
* ``list``, ``@latest`` and ``.info`` queries (branches, ``v1.2``, commit prefixes) change as
  authors tag: fresh for ``list_ttl`` seconds, then asked again; when every upstream fails
  they are served stale, and the answer says so.
* not-found answers are remembered for ``negative_ttl`` seconds (upstreams do too, ~30 min at
  the public proxy), so a storm of requests for a missing module does not hammer upstreams.
"""

from __future__ import annotations

from .targets import LatestReq, ListReq, SumdbReq, VersionReq

__all__ = [
    "NEGATIVE_PREFIX",
    "is_fresh",
    "key_for",
    "latest_key",
    "list_key",
    "negative_key",
    "proof_key",
    "quarantine_key",
    "record_key",
    "remaining_ttl",
    "sumdb_key",
    "sumdb_route_key",
    "sumdb_tree_key",
    "version_key",
]

# Not a valid first element of a module path (no dot), so it never clashes with a module.
NEGATIVE_PREFIX = "_goproxy/notfound/"


def list_key(escaped: str) -> str:
    """Key of a module's version list."""
    return f"{escaped}/@v/list"


def latest_key(escaped: str) -> str:
    """Key of a module's ``@latest`` answer."""
    return f"{escaped}/@latest"


def version_key(escaped: str, escaped_version: str, ext: str) -> str:
    """Key of a per-version file (``ext`` is ``info``, ``mod`` or ``zip``)."""
    return f"{escaped}/@v/{escaped_version}.{ext}"


def proof_key(escaped: str, escaped_version: str) -> str:
    """Key of a version's checksum-database proof: the verified ``/lookup/`` body.

    It sits beside the version's files (``<module>/@v/<version>.lookup``): the record with
    its go.sum lines, and the signed tree that proved it, kept for a later re-check.
    """
    return version_key(escaped, escaped_version, "lookup")


def record_key(escaped: str, escaped_version: str) -> str:
    """Key of a version's record (:mod:`goproxy_core.proxy.record`): hashes, sizes, origin.

    Beside the version's files (``<module>/@v/<version>.record``), written after each of its
    ``.mod`` and ``.zip`` is committed, read back by ``goproxy verify``.
    """
    return version_key(escaped, escaped_version, "record")


QUARANTINE_PREFIX = "_goproxy/quarantine/"
QUARANTINE_MARK = QUARANTINE_PREFIX + "generation"
"""Rewritten by ``goproxy verify`` after it quarantined something: running servers watch it
and forget the stored files they keep in memory, so none is answered from there again."""


def quarantine_key(stamp: str, key: str) -> str:
    """Where a stored file that failed verification is moved, out of the served tree.

    ``stamp`` names the verification run (a UTC time), so a file quarantined twice keeps
    both copies; ``_goproxy/`` is no module path, so nothing there is ever served.
    """
    return f"{QUARANTINE_PREFIX}{stamp}/{key}"


def sumdb_key(name: str, path: str) -> str:
    """Key of a checksum database's file (a tile, ``latest``, a lookup) kept for the relay."""
    return f"sumdb/{name}/{path}"


def sumdb_tree_key(name: str) -> str:
    """Key of the newest signed tree note of database ``name`` verified here (never shrinks)."""
    return f"_goproxy/sumdb/{name}/verified-tree"


def sumdb_route_key(name: str) -> str:
    """Key of the remembered way to database ``name`` (its base URL, "" when unreachable)."""
    return f"_goproxy/sumdb/{name}/route"


def key_for(req: ListReq | VersionReq | LatestReq | SumdbReq) -> str:
    """The store key holding the answer to ``req``."""
    if isinstance(req, ListReq):
        return list_key(req.escaped)
    if isinstance(req, LatestReq):
        return latest_key(req.escaped)
    if isinstance(req, VersionReq):
        return version_key(req.escaped, req.escaped_version, req.kind.value)
    return sumdb_key(req.name, req.path)


def negative_key(key: str) -> str:
    """Key of the remembered not-found answer for ``key``."""
    return NEGATIVE_PREFIX + key


def is_fresh(stored_at: float, now: float, ttl: float) -> bool:
    """Whether a blob stored at ``stored_at`` is still fresh at ``now``.

    A blob stamped in the future (clock skew between replicas) counts as fresh, but never
    for longer than ``ttl`` past ``now``.
    """
    age = now - stored_at
    return age < ttl and age > -ttl


def remaining_ttl(stored_at: float, now: float, ttl: float) -> int:
    """Whole seconds a fresh blob has left, for ``Cache-Control: max-age``."""
    return max(0, min(int(ttl), int(ttl - (now - stored_at))))
