"""The quota's usage index on an object store: one quota for every replica on one bucket.

:class:`~goproxy_stores.usage.UsageIndex` and :class:`~goproxy_stores.usage.UsageTracker`
do the work, as on a disk cache; this module is the :class:`ObjectPlace` they are given,
what differs on a bucket:

* The index. Each replica keeps its own SQLite index in its local cache dir,
  ``<cache-dir>/_goproxy/usage-<hash of the store URL>.sqlite``: filled by a listing of the
  bucket (:meth:`~goproxy_stores.objectstore.ObjectStore.list_objects`: key, size and
  last-modified from the listing, 1000 keys a request on S3) at start and every hour, and
  by the keys this replica commits, moves and deletes (the store's ``on_change``, one HEAD
  each).
* Last uses, shared. Each replica writes its flushed batch (the versions used in those few
  seconds, and the files it changed with their sizes) as one small object of its own,
  ``.goproxy/usage/batches/<replica>/<time>.json``: never a write per hit, at most one
  object per flush interval, none when idle. Whoever runs a gc first folds every replica's
  batches into its index (last use and uses only grow, so a batch folded twice changes
  nothing) and compacts them: one snapshot, ``.goproxy/usage/snapshot.json`` (the fleet's
  last use and count per version, and the names of the batches it holds, so a crash
  between writing it and deleting them never counts them twice), then the folded batches
  are deleted. The objects stay few: the snapshot and at most one batch per replica per
  flush since the last gc. A replica whose index has not seen the snapshot it reads
  (another replica ran a gc since this one's last listing or gc, and deleted batches it
  never saw) lists the bucket before it decides.
* Eviction: one replica at a time, under the lease ``_goproxy/gc`` (``store.leases()``:
  a lease object by conditional create, lock files on a ``file://`` store), never waited
  for: the others skip. The lease is renewed between versions; a gc that loses it stops.
  The versions chosen are written to ``.goproxy/usage/evicting.json`` before the servers are
  told (the ``_goproxy/evicted`` mark, a key in the bucket every replica's watch stats) and
  removed from it once their objects are deleted: a replica killed in between leaves the
  list, and whoever takes the lease next (its gc, or a scan at start that gets it) finishes
  the removal, so no version stays half removed once the lease has expired.
* Free space means nothing on a bucket: only ``max-cache-size`` applies
  (:meth:`ObjectPlace.free_space` is None, and ``min-free-space`` is not checked).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from .leases import holder_id
from .usage import _OWN

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .leases import Lease, Leases
    from .objectstore import ObjectStore
    from .usage import UsageIndex

__all__ = ["BATCHES", "EVICTING", "GC_LEASE", "SNAPSHOT", "ObjectPlace", "index_path"]

log = logging.getLogger("goproxy.quota")

GC_LEASE = "_goproxy/gc"
"""The lease (``store.leases()``) one replica evicts under."""
BATCHES = "usage/batches/"
"""Each replica's flushed batches, under the store's own prefix (``.goproxy/``)."""
SNAPSHOT = "usage/snapshot.json"
"""The fleet's last uses folded so far."""
EVICTING = "usage/evicting.json"
"""The versions an evictor is removing (left behind by a crash: finished by the next)."""

_LOCK_PAUSE = 0.2


def index_path(store: ObjectStore) -> str:
    """Where this process keeps its index of ``store``: the store's ``state_dir``,
    ``_goproxy/usage-<hash>.sqlite``, one file per store URL (a ``memory://`` store, which
    lives in one process, per process and store)."""
    if store.state_dir is None:
        raise ValueError(
            f"{store.url or 'the object store'}: no local directory for the usage index "
            "(the store's state_dir, goproxy's cache-dir)"
        )
    name = store.url
    if store.url.startswith("memory:"):
        name += f"#{os.getpid()}.{id(store)}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return os.path.join(store.state_dir, "_goproxy", f"usage-{digest}.sqlite")


def _replica_name(holder: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", holder)


class ObjectPlace:
    """The usage index's place on an object store (:class:`~goproxy_stores.usage.UsagePlace`).

    Args:
        store: the object store (its ``state_dir`` holds the index).
        replica: this process's name in the batches it writes (default: host, pid and a
            random part).
        leases: where the gc lease is taken (default: ``store.leases()``).
    """

    lock_name = "the gc lease"
    shared_index = False  # each replica's own: the bucket's list of what is being evicted counts

    def __init__(
        self, store: ObjectStore, *, replica: str | None = None, leases: Leases | None = None
    ) -> None:
        self.store = store
        self.where = store.url
        self.index_path = index_path(store)
        self.replica = _replica_name(replica or holder_id())
        self.leases = store.leases() if leases is None else leases
        self._lease: Lease | None = None
        self._lock = threading.Lock()
        self._unpublished: tuple[dict[str, tuple[float, int]], dict[str, int | None]] = ({}, {})
        self._batch = 0
        self._unpublished_logged = -1e9
        self._seq: int | None = None  # the snapshot the index agrees with (listed or written)
        self._applied: set[str] = set()  # batches whose files are in this index

    # -- the lock: a lease, never waited for by gc --------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, wait: bool) -> Iterator[bool]:
        lease = self.leases.try_acquire(GC_LEASE)
        while lease is None and wait:
            time.sleep(_LOCK_PAUSE)
            lease = self.leases.try_acquire(GC_LEASE)
        if lease is None:
            yield False
            return
        self._lease = lease
        try:
            yield True
        finally:
            self._lease = None
            lease.release()

    def lock_held(self) -> bool:
        lease = self.leases.try_acquire(GC_LEASE)
        if lease is None:
            return True
        lease.release()
        return False

    def alive(self) -> bool:
        lease = self._lease
        return lease is None or lease.renew()

    def free_space(self) -> int | None:
        return None  # a bucket has no free space to keep: only max-cache-size applies

    # -- the files: a listing ----------------------------------------------------------------

    def scan(self, progress: Callable[[int], None] | None) -> dict[str, tuple[int, float]]:
        """Every blob of the bucket (the listing's size and last-modified time).

        The snapshot's number and the batches there are are read first: the listing holds
        every file change they hold, so a gc need not list again unless another replica
        compacts (and deletes) batches after this."""
        seq = self._snapshot().get("seq", 0)
        before = {name for name, _, _ in self.store.own_list(BATCHES)}
        found: dict[str, tuple[int, float]] = {}
        counted = 0
        for key, size, mtime in self.store.list_objects():
            if key not in _OWN:
                found[key] = (size, mtime)
            if progress is not None and len(found) - counted >= 1000:
                progress(len(found) - counted)
                counted = len(found)
        if progress is not None and len(found) > counted:
            progress(len(found) - counted)
        self._seq = seq
        self._applied |= before
        return found

    # -- evictions every replica sees ----------------------------------------------------------

    def marked(self) -> list[str]:
        got = self.store.own_get(EVICTING)
        if got is None:
            return []
        try:
            units = json.loads(got.data)["units"]
        except (ValueError, KeyError, TypeError):
            log.warning("%s: %s is not what gc writes: ignored", self.where, EVICTING)
            return []
        return [u for u in units if isinstance(u, str)]

    def mark(self, units: list[str]) -> None:
        body = {"holder": self.replica, "time": time.time(), "units": units}
        self.store.own_put(EVICTING, json.dumps(body).encode())

    def unmark(self) -> None:
        self.store.own_delete(EVICTING)

    # -- last uses: batches and the snapshot ---------------------------------------------------

    def publish(self, uses: dict[str, tuple[float, int]], files: dict[str, int | None]) -> None:
        """Write one batch object (nothing when there is nothing new); what a failed write
        held is kept for the next one (one warning a minute), never raised."""
        with self._lock:
            old_uses, old_files = self._unpublished
            for unit, (last, count) in uses.items():
                was, n = old_uses.get(unit, (0.0, 0))
                old_uses[unit] = (max(was, last), n + count)
            old_files.update(files)
            if not old_uses and not old_files:
                return
            self._unpublished = ({}, {})
            self._batch += 1
            name = f"{BATCHES}{self.replica}/{time.time():017.6f}-{self._batch:06d}.json"
        body = {"uses": {u: [t, n] for u, (t, n) in old_uses.items()}, "files": old_files}
        try:
            self.store.own_put(name, json.dumps(body, separators=(",", ":")).encode())
        except OSError as e:
            with self._lock:
                new_uses, new_files = self._unpublished
                for unit, (last, count) in new_uses.items():
                    was, n = old_uses.get(unit, (0.0, 0))
                    old_uses[unit] = (max(was, last), n + count)
                old_files.update(new_files)
                self._unpublished = (old_uses, old_files)
            # The store down: kept (it is small) and written with the next batch; one line
            # a minute, not one per flush.
            now = time.monotonic()
            if now >= self._unpublished_logged + 60:
                self._unpublished_logged = now
                log.warning(
                    "quota: last uses not written to %s (kept for later): %s", self.where, e
                )

    def _snapshot(self) -> dict[str, Any]:
        got = self.store.own_get(SNAPSHOT)
        if got is not None:
            try:
                snap = json.loads(got.data)
                if isinstance(snap, dict) and isinstance(snap.get("uses"), dict):
                    return snap
            except ValueError:
                pass
            log.warning("%s: %s is not what gc writes: started again", self.where, SNAPSHOT)
        return {"seq": 0, "uses": {}, "folded": []}

    def before_gc(self, index: UsageIndex, *, compact: bool) -> None:
        """Fold the snapshot and every replica's batches into ``index``; with ``compact``
        (the lease held), write them back as one snapshot and delete the batches folded.

        The index is listed first when the snapshot it reads is not the one its last listing
        or compaction saw (another replica folded, and deleted, batches whose files this
        index never saw)."""
        snap = self._snapshot()
        folded = set(snap.get("folded", ()))
        # In the order they were written (their names start with the time), whoever wrote them.
        batches = sorted(
            (name for name, _, _ in self.store.own_list(BATCHES)),
            key=lambda name: name.rpartition("/")[2],
        )
        if compact and snap.get("seq", 0) != self._seq:
            index.rescan()
        totals: dict[str, tuple[float, int]] = {}
        for unit, value in snap["uses"].items():
            totals[unit] = (float(value[0]), int(value[1]))
        fresh: list[str] = []
        for name in batches:
            if name in folded:
                continue
            got = self.store.own_get(name)
            if got is None:  # compacted meanwhile by another holder
                continue
            try:
                batch = json.loads(got.data)
                uses = batch["uses"]
                files = batch["files"]
            except (ValueError, KeyError, TypeError):
                log.warning("%s: %s is not a usage batch: deleted", self.where, name)
                fresh.append(name)
                continue
            fresh.append(name)
            if name not in self._applied and files:
                index.record_files(list(files), sizes=files, now=got.modified)
                self._applied.add(name)
            for unit, (last, count) in uses.items():
                was, n = totals.get(unit, (0.0, 0))
                totals[unit] = (max(was, float(last)), n + int(count))
        index.apply_uses(totals)
        if not compact:
            return
        known = index.units()
        seq = int(snap.get("seq", 0)) + 1
        done = [n for n in batches if n in folded or n in fresh]
        body = {
            "seq": seq,
            "holder": self.replica,
            "time": time.time(),
            "uses": {u: [t, n] for u, (t, n) in totals.items() if u in known},
            "folded": done,
        }
        self.store.own_put(SNAPSHOT, json.dumps(body, separators=(",", ":")).encode())
        self._seq = seq
        for name in done:
            self.store.own_delete(name)
        self._applied &= set(batches)
