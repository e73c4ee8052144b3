"""``goproxy verify``: re-hash what is stored, check it against records and proofs, quarantine.

Theory of operation: every version in the store (a ``.mod``, ``.zip`` or record under
``<module>/@v/``) is judged in a worker thread (``--jobs``): its files are streamed from the
store and hashed (the zip also checked against x/mod's rules, by the same ``CheckZip.check``
the proxy runs at ingest), its record and proof are read, and the core's
:func:`~goproxy_core.proxy.storecheck.judge_version` says what fails. A failed file is moved
out of the served tree to ``_goproxy/quarantine/<run>/<key>`` with a ``.why`` note beside it,
and its record entry is dropped, so the next request fetches it again from the upstreams,
verified. With ``--repair`` the quarantined files are fetched again at once, through the same
engine a request runs, and versions stored before records existed get theirs.

Exit status: 0 when nothing failed; 1 when something failed and was quarantined (with
``--repair``: and all of it was fetched again, verified); 3 when ``--repair`` could not fetch
something again (it stays quarantined; the next request tries again); 2 for bad settings.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import threading
import time
from typing import TYPE_CHECKING, TextIO

import msgspec

from goproxy_core import CheckZip, hash_gomod, request_flow
from goproxy_core.errors import ProxyError
from goproxy_core.module.escape import unescape_path, unescape_version
from goproxy_core.proxy import keys
from goproxy_core.proxy.auth import INTERNAL
from goproxy_core.proxy.checks import MAX_MOD, MAX_SUMDB
from goproxy_core.proxy.record import MAX_RECORD, decode_record, encode_record
from goproxy_core.proxy.storecheck import FileFacts, VersionVerdict, judge_version
from goproxy_core.sumdb.client import open_tree_note
from goproxy_core.sumdb.note import NoteError
from goproxy_core.sumdb.tile import Tile, tile_path
from goproxy_core.sumdb.tlog import TlogError
from goproxy_stores import ops

if TYPE_CHECKING:
    from collections.abc import Callable

    from goproxy_core import CompiledConfig
    from goproxy_core.proxy.record import VersionRecord
    from goproxy_core.storage import BlobStore
    from goproxy_core.sumdb.treenote import Tree
    from goproxy_io import Executor

__all__ = ["Outcome", "Progress", "VerifyRun", "find_versions"]

EXIT_OK = 0
EXIT_QUARANTINED = 1
EXIT_REPAIR_FAILED = 3

_KINDS = ("mod", "zip", "record", "lookup")


def find_versions(store: BlobStore) -> list[tuple[str, str]]:
    """Every (escaped module, escaped version) with a ``.mod``, ``.zip`` or record stored."""
    found: set[tuple[str, str]] = set()
    for key in store.list_keys():
        if key.startswith(("_goproxy/", "sumdb/")):
            continue
        escaped, sep, name = key.rpartition("/@v/")
        stem, dot, ext = name.rpartition(".")
        if sep and dot and ext in ("mod", "zip", "record"):
            found.add((escaped, stem))
    return sorted(found)


class Outcome(msgspec.Struct):
    """What became of one version."""

    module: str
    version: str
    verdict: VersionVerdict | None = None
    quarantined: list[str] = msgspec.field(default_factory=list)
    error: str = ""  # the version could not be checked (its name, or the store, failed)


class Progress:
    """A bar on a terminal, else a plain line every ``every`` versions."""

    def __init__(self, total: int, out: TextIO, *, every: int = 100) -> None:
        self.total = total
        self.out = out
        self.every = every
        self.tty = out.isatty()
        self.done = 0
        self.failed = 0
        self._shown = 0.0

    def step(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if self.tty:
            now = time.monotonic()
            if now - self._shown >= 0.1 or self.done == self.total:
                self._shown = now
                filled = 30 * self.done // max(self.total, 1)
                bar = "#" * filled + "-" * (30 - filled)
                self.out.write(
                    f"\rverify [{bar}] {self.done}/{self.total} versions, {self.failed} failed"
                )
                if self.done == self.total:
                    self.out.write("\n")
                self.out.flush()
        elif self.done % self.every == 0 or self.done == self.total:
            print(
                f"verify: {self.done}/{self.total} versions checked, {self.failed} failed",
                file=self.out,
                flush=True,
            )


class VerifyRun:
    """One ``goproxy verify`` over a store.

    Args:
        store: the store to check.
        cfg: the proxy's settings (databases, keys, ``private``, ``nosumdb``, upstreams).
        repair: fetch quarantined files again at once; write missing record entries.
        executor: carries out the engine's effects for ``repair``.
        now: the clock.
    """

    def __init__(
        self,
        store: BlobStore,
        cfg: CompiledConfig,
        *,
        repair: bool = False,
        executor: Executor | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.repair = repair
        self.executor = executor
        self.now = now
        self.stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now()))
        self.trees = self._trees()
        self._lock = threading.Lock()
        self.read_tile = functools.lru_cache(maxsize=4096)(self._read_tile)

    def _trees(self) -> dict[str, Tree]:
        trees: dict[str, Tree] = {}
        for name, db in self.cfg.sumdb.items():
            kept = ops.read_small(self.store, keys.sumdb_tree_key(name), MAX_SUMDB)
            if kept is None:
                continue
            try:
                trees[name] = open_tree_note(kept.data, db.verifiers)
            except (NoteError, TlogError):
                continue  # kept under another key: proofs are checked on their own
        return trees

    def _read_tile(self, name: str, t: Tile) -> bytes | None:
        kept = ops.read_small(self.store, keys.sumdb_key(name, tile_path(t)), MAX_SUMDB)
        return None if kept is None else kept.data

    # Hashing ------------------------------------------------------------------------------

    def _mod_facts(self, key: str) -> FileFacts | None:
        f = self.store.open(key)
        if f is None:
            return None
        with f:
            data = f.read(MAX_MOD + 1)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) > MAX_MOD:
            return FileFacts("", len(data), digest, problem="larger than a .mod may be")
        return FileFacts(hash_gomod(data), len(data), digest)

    def _zip_facts(self, key: str, module: str, version: str) -> FileFacts | None:
        info = self.store.stat(key)
        f = self.store.open(key) if info is not None else None
        if f is None or info is None:
            return None
        with f:
            verdict = CheckZip(key, module, version).check(f)
            if verdict.problem:
                f.seek(0)
                h = hashlib.sha256()
                size = 0
                while block := f.read(1 << 20):
                    h.update(block)
                    size += len(block)
                return FileFacts("", size, h.hexdigest(), problem=verdict.problem)
        return FileFacts(verdict.h1, verdict.size, verdict.sha256, stored=info.mtime)

    # One version ----------------------------------------------------------------------------

    def check(self, escaped: str, escaped_version: str) -> Outcome:
        """Judge one version; quarantine what fails; with ``repair``, complete its record."""
        try:
            module, version = unescape_path(escaped), unescape_version(escaped_version)
        except ProxyError as e:
            return Outcome(escaped, escaped_version, error=f"not a module version: {e}")
        out = Outcome(module, version)
        k = {kind: keys.version_key(escaped, escaped_version, kind) for kind in _KINDS}
        try:
            kept = ops.read_small(self.store, k["record"], MAX_RECORD)
            record = None if kept is None else decode_record(kept.data)
            proof = ops.read_small(self.store, k["lookup"], MAX_SUMDB)
            verdict = judge_version(
                self.cfg,
                module,
                version,
                record=record,
                mod=self._mod_facts(k["mod"]),
                zip=self._zip_facts(k["zip"], module, version),
                proof=None if proof is None else proof.data,
                trees=self.trees,
                read_tile=self.read_tile,
                now=self.now(),
            )
        except OSError as e:
            out.error = f"the store failed: {e}"
            return out
        out.verdict = verdict
        write = verdict.repaired if self.repair and verdict.repaired is not None else record
        dropped = {f.kind for f in verdict.failed}
        for finding in verdict.failed:
            if self._quarantine(k[finding.kind], finding.why, module, version):
                out.quarantined.append(k[finding.kind])
        if write is not None and dropped & {"mod", "zip"}:
            write = msgspec.structs.replace(
                write,
                mod=None if "mod" in dropped else write.mod,
                zip=None if "zip" in dropped else write.zip,
            )
        if write is not None and (write is not record or dropped & {"mod", "zip"}):
            self._write_record(k["record"], write)
        return out

    def _write_record(self, key: str, record: VersionRecord) -> None:
        if record.mod is None and record.zip is None:
            self.store.delete(key)
        else:
            ops.save(self.store, key, encode_record(record))

    def _quarantine(self, key: str, why: str, module: str, version: str) -> bool:
        """Move ``key`` out of the served tree, with a note of why beside it."""
        to = keys.quarantine_key(self.stamp, key)
        if not self.store.move(key, to):
            return False
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now()))
        note = (
            f"module {module}\nversion {version}\nfile {key}\n"
            f"quarantined {when} by goproxy verify\nwhy: {why}\n"
        )
        kept = ops.read_small(self.store, keys.record_key(*_split(key)), MAX_RECORD)
        if kept is not None:
            note += "record: " + kept.data.decode("utf-8", "replace") + "\n"
        ops.save(self.store, to + ".why", note.encode())
        return True

    # Repair ---------------------------------------------------------------------------------

    def refetch(self, key: str) -> str:
        """Fetch a quarantined file again through the engine: "" when it is stored, else why."""
        assert self.executor is not None
        from goproxy_io import Pending

        target = f"{self.cfg.base_path}/{key}".encode()
        flow = request_flow(
            self.cfg, b"GET", target, [(b"host", b"goproxy-verify")], self.now(), caller=INTERNAL
        )
        pending = Pending()
        result: object = None
        try:
            while True:
                effect = flow.send(result)
                result = self.executor.perform(effect, pending, None)
        except StopIteration as stop:
            reply = stop.value
        finally:
            self.executor.abandon(pending)
        if reply.status == 200:
            return ""
        return f"{reply.status} {reply.body.decode('utf-8', 'replace').strip()}"

    # The run --------------------------------------------------------------------------------

    def run(self, jobs: int, out: TextIO, progress: TextIO) -> int:
        """Check every version; print what failed and a summary; returns the exit status."""
        started = time.monotonic()
        versions = find_versions(self.store)
        bar = Progress(len(versions), progress)
        outcomes: list[Outcome] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            futures = [pool.submit(self.check, e, v) for e, v in versions]
            for fut in concurrent.futures.as_completed(futures):
                o = fut.result()
                outcomes.append(o)
                bar.step(bool(o.quarantined or o.error))
        outcomes.sort(key=lambda o: (o.module, o.version))
        failed = unproven = 0
        for o in outcomes:
            if o.error:
                failed += 1
                print(f"error {o.module}@{o.version}: {o.error}", file=out)
            if o.verdict is None:
                continue
            for finding, key in zip(o.verdict.failed, o.quarantined, strict=False):
                print(f"quarantined {key}: {finding.why}", file=out)
            if o.verdict.failed:
                failed += 1
            if o.verdict.unproven:
                unproven += 1
                print(f"unproven {o.module}@{o.version}: {o.verdict.unproven}", file=out)
        keys_out = [k for o in outcomes for k in o.quarantined if not k.endswith(".lookup")]
        refetch_failed: list[tuple[str, str]] = []
        if self.repair and keys_out:
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
                for key, why in zip(keys_out, pool.map(self.refetch, keys_out), strict=True):
                    if why:
                        refetch_failed.append((key, why))
                        print(f"not repaired {key}: {why}", file=out)
                    else:
                        print(f"repaired {key}: fetched again and verified", file=out)
        took = time.monotonic() - started
        quarantined = sum(len(o.quarantined) for o in outcomes)
        if quarantined:
            # Running servers watch this mark and forget the files they keep in memory.
            ops.save(self.store, keys.QUARANTINE_MARK, f"{self.stamp} {time.time()}\n".encode())
        summary = (
            f"verify: {len(outcomes)} versions in {took:.1f}s: {len(outcomes) - failed} good, "
            f"{failed} failed ({quarantined} files quarantined under "
            f"{keys.QUARANTINE_PREFIX}{self.stamp}/), {unproven} unproven"
        )
        if self.repair and keys_out:
            summary += f"; repaired {len(keys_out) - len(refetch_failed)} of {len(keys_out)}"
        print(summary, file=out, flush=True)
        if refetch_failed:
            return EXIT_REPAIR_FAILED
        return EXIT_QUARANTINED if failed else EXIT_OK


def _split(key: str) -> tuple[str, str]:
    escaped, _, name = key.rpartition("/@v/")
    return escaped, name.rpartition(".")[0]
