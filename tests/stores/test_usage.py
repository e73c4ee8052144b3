"""The disk quota's usage index (``goproxy_stores.usage``): batched last uses, exact totals
after restarts, crashes and files changed behind its back, and eviction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from goproxy_core import AccessRecord, ProxyConfig, compile_config
from goproxy_core.proxy import unit_keys
from goproxy_stores import DiskStore
from goproxy_stores.usage import UsageIndex, UsageTracker, _unit

from support import cache_usage

ROOT = Path(__file__).resolve().parents[2]


def put(
    store: DiskStore,
    module: str,
    version: str,
    size: int,
    exts: tuple[str, ...] = ("info", "mod", "zip"),
) -> None:
    unit = _unit(module, version)
    for ext in exts:
        w = store.writer(f"{unit}.{ext}")
        w.write(b"x" * size)
        w.commit()


def disk_total(root: Path) -> int:
    """Every file's bytes but the index's own, its lock and pending writes."""
    return cache_usage(root)[0]


def rec(target: str, status: int = 200, when: float = 0.0) -> AccessRecord:
    return AccessRecord("GET", target, status, 1, "", 0.0, when)


def tracker(store: DiskStore, **cfg: object) -> UsageTracker:
    config = compile_config(ProxyConfig(**{"min_free_space": 0, **cfg}))  # type: ignore[arg-type]
    return UsageTracker(store, config, settle=0, flush_interval=0.05)


def test_uses_are_batched_and_survive_a_restart(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store, max_cache_size=1 << 30)
    put(store, "example.com/M", "v1.0.0", 10)
    t.flush()  # the commits: a row, last use = when stored
    before = t.index.version("example.com/M", "v1.0.0")
    assert before is not None and before.bytes == 30 and before.uses == 0
    t.note([rec("/example.com/!m/@v/v1.0.0.zip", when=before.last_use + 100)])
    t.note([rec("/example.com/!m/@v/v1.0.0.info", when=before.last_use + 50)])
    t.note([rec("/example.com/!m/@v/v1.0.0.mod", status=404, when=before.last_use + 500)])
    t.note([rec("/example.com/!m/@v/list", when=before.last_use + 500)])
    t.note([rec("/example.com/!m/@v/v1.0.0.mod", status=304, when=before.last_use + 70)])
    # Nothing written yet: the uses wait in memory for the flush.
    assert t.index.version("example.com/M", "v1.0.0") == before
    t.flush()
    after = t.index.version("example.com/M", "v1.0.0")
    assert after is not None and after.uses == 3 and after.last_use == before.last_use + 100
    # An older use never moves last use back.
    t.note([rec("/example.com/!m/@v/v1.0.0.zip", when=before.last_use + 1)])
    t.flush()
    t.index.close()
    again = UsageIndex(DiskStore(tmp_path)).version("example.com/M", "v1.0.0")
    assert again is not None and again.last_use == after.last_use and again.uses == 4


def test_thread_flushes_and_stops(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store, max_cache_size=1 << 30)
    t.start()
    put(store, "example.com/m", "v1.0.0", 5)
    t.note([rec("/example.com/m/@v/v1.0.0.zip", when=time.time() + 1000)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = t.index.version("example.com/m", "v1.0.0")
        if row is not None and row.uses == 1:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the thread did not flush")
    t.stop()
    assert t.note_file not in store.on_change


def test_reconcile_makes_totals_exact(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store)
    put(store, "example.com/a", "v1.0.0", 100)
    put(store, "example.com/b", "v1.0.0", 100)
    t.flush()
    assert t.index.total() == disk_total(tmp_path)
    # Behind its back: a file added, one grown, one removed, a list, a link, a pending write.
    (tmp_path / "example.com/c/@v").mkdir(parents=True)
    (tmp_path / "example.com/c/@v/v1.0.0.mod").write_bytes(b"y" * 7)
    (tmp_path / "example.com/c/@v/list").write_bytes(b"v1.0.0\n")
    (tmp_path / "example.com/a/@v/v1.0.0.zip").write_bytes(b"z" * 1000)
    (tmp_path / "example.com/b/@v/v1.0.0.info").unlink()
    (tmp_path / "example.com/b/@v/.v1.0.0.zip.x.tmp").write_bytes(b"p" * 99)
    os.symlink("/etc/hostname", tmp_path / "example.com/b/@v/v9.0.0.zip")
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "linked")
    (tmp_path / "outside" / "big").write_bytes(b"o" * 500)
    assert t.index.total() != disk_total(tmp_path)
    assert t.index.reconcile()
    assert t.index.total() == disk_total(tmp_path)
    rows = {v.module: v for v in t.index.versions()}
    assert rows["example.com/a"].bytes == 1200
    assert rows["example.com/b"].bytes == 200
    assert rows["example.com/c"].bytes == 7
    # A second process starting at the same time skips its own scan.
    assert not UsageIndex(store).reconcile(since=time.time() - 60)


def test_gc_evicts_least_recently_used_and_keeps_pinned(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    forgotten: list[int] = []
    t = tracker(store, max_cache_size=1200, pin="pinned.test", private="corp.test")
    t.index.on_evicted = lambda: forgotten.append(1)
    mods = ["example.com/a", "example.com/b", "pinned.test/p", "corp.test/x", "example.com/c"]
    for m in mods:
        put(store, m, "v1.0.0", 100)  # 300 bytes each: 1500 in all
    t.flush()
    now = time.time()
    used = {"example.com/a": 300, "example.com/b": 100, "example.com/c": 200}
    t.note([rec(f"/{m}/@v/v1.0.0.zip", when=now + s) for m, s in used.items()])
    (tmp_path / "example.com/a/@v/list").write_bytes(b"v1.0.0\n")
    t.index.reconcile()
    result = t.gc()
    assert result is not None
    # 1507 > 1200: down to 1080 at most: b and c go (least recently used first); a was used
    # last, the pinned and private ones (never used) are kept.
    assert [v.module for v in result.evicted] == ["example.com/b", "example.com/c"]
    mark = (tmp_path / "_goproxy/evicted").stat().st_size  # the eviction mark's own bytes
    assert result.total_after == t.index.total() == disk_total(tmp_path) == 907 + mark
    for m in ("example.com/b", "example.com/c"):
        assert not any((tmp_path / k).exists() for k in unit_keys(_unit(m, "v1.0.0")))
    assert (tmp_path / "example.com/a/@v/list").exists()  # lists stay
    assert (tmp_path / "pinned.test/p/@v/v1.0.0.zip").exists()
    assert (tmp_path / "corp.test/x/@v/v1.0.0.zip").exists()
    assert forgotten  # the server was told to drop what it keeps in memory
    # Under the quota now: nothing more goes.
    again = t.index.apply_quota(t.config)
    assert again is not None and again.evicted == ()
    # A version committed again after its eviction is simply indexed again.
    put(store, "example.com/a", "v1.0.0", 100)
    t.flush()
    row = t.index.version("example.com/a", "v1.0.0")
    assert row is not None and row.bytes == 300
    assert t.index.total() == disk_total(tmp_path)


def test_remove_one_version(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store)
    put(store, "example.com/a", "v1.0.0", 10, ("info", "mod", "zip", "lookup", "record"))
    t.flush()
    assert t.index.remove("example.com/a", "v9.9.9") is None
    gone = t.index.remove("example.com/a", "v1.0.0")
    assert gone is not None and gone.bytes == 50
    assert t.index.version("example.com/a", "v1.0.0") is None
    assert not list(store.list_keys("example.com/"))
    assert t.index.total() == disk_total(tmp_path)


def test_min_free_space_triggers_eviction(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    put(store, "example.com/a", "v1.0.0", 10)
    free = store.free_space()[0]
    t = tracker(store)
    t.index.reconcile()  # files stored before the index was
    # Wanting more free space than there is: every version that may go goes.
    result = t.index.gc(limit=0, min_free=free * 4, keep=lambda m: False)
    assert result is not None and [v.module for v in result.evicted] == ["example.com/a"]


def test_two_evictors_at_once_never_corrupt(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store, max_cache_size=3000)
    for i in range(40):
        put(store, f"example.com/m{i:02}", "v1.0.0", 100)
    t.flush()
    results: list[object] = []
    others = [UsageIndex(DiskStore(tmp_path), settle=0.2) for _ in range(4)]

    def run(ix: UsageIndex) -> None:
        results.append(ix.gc(limit=3000, min_free=0, keep=lambda m: False))
        ix.close()

    threads = [threading.Thread(target=run, args=(ix,)) for ix in others]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done = [r for r in results if r is not None]
    assert done  # one evicted; the others skipped or found nothing left to do
    mark = (tmp_path / "_goproxy/evicted").stat().st_size
    assert t.index.total() == disk_total(tmp_path) <= 2700 + mark
    for v in t.index.versions():  # every version left is whole
        assert all((tmp_path / f"{v.unit}.{e}").exists() for e in ("info", "mod", "zip"))


CRASHER = textwrap.dedent(
    """
    import os, sys, time
    from goproxy_stores import DiskStore
    from goproxy_stores.usage import UsageIndex
    store = DiskStore(sys.argv[1])
    real = store.delete
    def slow(key):
        real(key)
        print("unlinked", key, flush=True)
        time.sleep(30)
    store.delete = slow
    UsageIndex(store, settle=0).gc(limit=1000, min_free=0, keep=lambda m: False)
    """
)


def test_kill_9_mid_eviction_is_finished_by_the_next_start(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store)
    for i in range(5):
        put(store, f"example.com/m{i}", "v1.0.0", 100)
    t.flush()
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'src/frontends'}")
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("unlinked example.com/m"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    # Half removed now: one file gone, its version marked.
    assert t.index.total() != disk_total(tmp_path)
    assert t.index.reconcile()
    assert t.index.total() == disk_total(tmp_path)
    left = list(t.index.versions())
    # 1500 bytes over a 1000 quota: two versions were marked; both are gone now, whole.
    assert len(left) == 3
    for v in left:
        assert all((tmp_path / f"{v.unit}.{e}").exists() for e in ("info", "mod", "zip"))
    # Nothing of the evicted version is left on disk.
    units = {v.unit for v in left}
    gone = [
        f"example.com/m{i}" for i in range(5) if _unit(f"example.com/m{i}", "v1.0.0") not in units
    ]
    assert len(gone) == 2
    for m in gone:
        assert not any((tmp_path / k).exists() for k in unit_keys(_unit(m, "v1.0.0")))


def test_a_version_used_while_being_evicted_is_spared(tmp_path: Path, caplog) -> None:
    store = DiskStore(tmp_path)
    t = tracker(store)
    for m in ("example.com/a", "example.com/b"):
        put(store, m, "v1.0.0", 100)
    t.flush()
    a = _unit("example.com/a", "v1.0.0")

    def used_meanwhile() -> None:  # a client asked for a during the settle time
        t.index.record_uses({a: (time.time() + 100, 1)})

    # a, the least recently used, is planned; used meanwhile, it stays this cycle ...
    result = t.index.gc(limit=400, min_free=0, keep=lambda m: False, flush=used_meanwhile)
    assert result is not None and result.evicted == ()
    row = t.index.version("example.com/a", "v1.0.0")
    assert row is not None and row.uses == 1 and (tmp_path / f"{a}.zip").exists()
    # ... and the next one removes b, now the least recently used.
    result = t.index.gc(limit=400, min_free=0, keep=lambda m: False)
    assert result is not None and [v.module for v in result.evicted] == ["example.com/b"]
    # Only what may not go is left, over the quota: one warning, not one per cycle.
    keep_all = {"limit": 1, "min_free": 0, "keep": lambda m: True}
    with caplog.at_level("WARNING", logger="goproxy.quota"):
        for _ in range(3):
            assert t.index.gc(**keep_all).evicted == ()  # type: ignore[arg-type,union-attr]
    assert len([r for r in caplog.records if "nothing may be evicted" in r.message]) == 1
