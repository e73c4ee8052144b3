"""Every store passes the same conformance checks; the disk store's crash safety and layout."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import textwrap

import pytest

from goproxy_core.testing import MemoryStore, check_blob_store
from goproxy_stores import DiskStore


@pytest.fixture(params=["memory", "disk"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryStore()
    return DiskStore(tmp_path / "cache")


def test_conformance(store):
    check_blob_store(store)


def test_memory_store_is_bounded():
    s = MemoryStore(max_bytes=10)
    s.put("a", b"12345")
    s.put("b", b"12345")
    assert s.open("a") is not None  # touch a: b is now least recently used
    s.put("c", b"1")
    assert s.get("b") is None
    assert s.get("a") == b"12345"
    assert s.get("c") == b"1"


def test_disk_layout_is_a_goproxy_tree(tmp_path):
    s = DiskStore(tmp_path)
    w = s.writer("example.com/!m/@v/v1.0.0.mod")
    w.write(b"module example.com/M\n")
    w.commit()
    assert (tmp_path / "example.com" / "!m" / "@v" / "v1.0.0.mod").read_bytes() == (
        b"module example.com/M\n"
    )
    assert s.path("example.com/!m/@v/list") == tmp_path / "example.com" / "!m" / "@v" / "list"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a/.x.1234.tmp"])
def test_disk_rejects_unsafe_keys(tmp_path, key):
    with pytest.raises(ValueError, match="invalid store key"):
        DiskStore(tmp_path).path(key)


def test_disk_crash_between_write_and_commit_leaves_nothing_visible(tmp_path):
    # A child process writes half a blob and dies without committing.
    code = textwrap.dedent(
        f"""
        import os
        from goproxy_stores import DiskStore
        w = DiskStore({str(tmp_path)!r}).writer("example.com/m/@v/v1.0.0.zip")
        w.write(b"x" * 100000)
        os._exit(1)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    s = DiskStore(tmp_path)
    assert s.open("example.com/m/@v/v1.0.0.zip") is None
    leftovers = [f for _, _, fs in os.walk(tmp_path) for f in fs]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")
    assert s.sweep(older_than=0, now=1e12) == 1
    assert [f for _, _, fs in os.walk(tmp_path) for f in fs] == []


def test_disk_absent_keys_under_a_file(tmp_path):
    s = DiskStore(tmp_path)
    w = s.writer("a")
    w.write(b"x")
    w.commit()
    assert s.open("a/b") is None
    assert s.stat("a/b") is None
    s.delete("a/b")


def test_disk_list_keys_skips_pending_writes_and_hidden_dirs(tmp_path):
    s = DiskStore(tmp_path)
    w = s.writer("example.com/m/@v/v1.0.0.zip")
    w.write(b"pending")
    (tmp_path / ".vcs").mkdir()
    (tmp_path / ".vcs" / "x").write_bytes(b"mirror")
    check = s.writer("example.com/m/@v/v1.0.0.mod")
    check.write(b"module example.com/m\n")
    check.commit()
    assert list(s.list_keys()) == ["example.com/m/@v/v1.0.0.mod"]
    assert list(s.list_keys("example.com/m/@v/v1.0.0.m")) == ["example.com/m/@v/v1.0.0.mod"]
    assert list(s.list_keys("example.org/")) == []
    w.abort()


class _NoSpace(io.RawIOBase):
    """A file on a full disk: every write fails with ENOSPC (buffered writes fail at flush)."""

    def writable(self) -> bool:
        return True

    def write(self, b):  # type: ignore[override]
        raise OSError(errno.ENOSPC, "No space left on device")


def _fill_disk(writer) -> None:
    writer._f.close()
    writer._f = io.BufferedWriter(_NoSpace())


def _leftovers(root) -> list[str]:
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names]


def test_disk_failed_commit_on_a_full_disk_leaves_nothing(tmp_path):
    s = DiskStore(tmp_path)
    w = s.writer("example.com/m/@v/v1.0.0.zip")
    _fill_disk(w)
    w.write(b"x" * 100)  # buffered: the disk's refusal comes at flush
    with pytest.raises(OSError, match="No space"):
        w.commit()
    w.abort()  # safe after a failed commit
    assert _leftovers(tmp_path) == []


def test_disk_abort_on_a_full_disk_leaves_nothing(tmp_path):
    s = DiskStore(tmp_path)
    w = s.writer("example.com/m/@v/v1.0.0.zip")
    _fill_disk(w)
    w.write(b"x" * 100)
    w.abort()  # closing flushes and fails again: the temporary file goes all the same
    assert _leftovers(tmp_path) == []


def _child_writer(root, then: str) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from goproxy_stores import DiskStore
        w = DiskStore({str(root)!r}).writer("example.com/m/@v/v1.0.0.zip")
        w.write(b"x" * 100000)
        w._f.flush()
        print("writing", flush=True)
        {then}
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert p.stdout is not None
    assert p.stdout.readline() == b"writing\n"
    return p


def test_sweep_removes_a_killed_writer_s_temp_file_whatever_its_age(tmp_path):
    p = _child_writer(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    p.wait(10)
    p.stdout.close()
    assert [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith(".tmp")]
    # A fresh file (seconds old, not an hour): its writer is gone, so a new start removes it.
    assert DiskStore(tmp_path).sweep() == 1
    assert [f for _, _, fs in os.walk(tmp_path) for f in fs] == []


def test_sweep_keeps_a_live_writer_s_temp_file_whatever_its_age(tmp_path):
    p = _child_writer(tmp_path, "__import__('time').sleep(30)")
    try:
        (tmp, *_) = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
        os.utime(tmp, (1, 1))  # older than any age rule
        own = DiskStore(tmp_path).writer("example.com/m/@v/v1.0.0.mod")
        own.write(b"module example.com/m\n")
        assert DiskStore(tmp_path).sweep(older_than=0) == 0  # a concurrent start
        assert os.path.exists(tmp)
        own.commit()
    finally:
        p.kill()
        p.wait(10)
        p.stdout.close()
    assert DiskStore(tmp_path).sweep() == 1


def test_sweep_judges_foreign_names_by_age(tmp_path):
    d = tmp_path / "example.com" / "m" / "@v"
    d.mkdir(parents=True)
    old, new = d / ".v1.0.0.zip.0123456789ab.tmp", d / ".v1.0.0.mod.otherhost-1-2-ab.tmp"
    for f in (old, new):
        f.write_bytes(b"x")
    os.utime(old, (1, 1))
    assert DiskStore(tmp_path).sweep() == 1
    assert not old.exists() and new.exists()


def _plant_links(tmp_path):
    """A cache with a file link and a directory link, both pointing out of it."""
    root, outside = tmp_path / "cache", tmp_path / "outside"
    (outside / "@v").mkdir(parents=True)
    secret = outside / "@v" / "v1.0.0.mod"
    secret.write_bytes(b"secret\n")
    (root / "example.com" / "m" / "@v").mkdir(parents=True)
    (root / "example.com" / "m" / "@v" / "v1.0.0.mod").symlink_to(secret)
    (root / "example.com" / "d").symlink_to(outside)
    return root, secret


def test_disk_never_follows_a_link_out_of_the_cache_dir(tmp_path):
    root, secret = _plant_links(tmp_path)
    s = DiskStore(root)
    for key in ("example.com/m/@v/v1.0.0.mod", "example.com/d/@v/v1.0.0.mod"):
        assert s.open(key) is None
        assert s.stat(key) is None
        assert not s.move(key, "example.com/x/@v/v1.0.0.mod")
        s.delete(key)
    assert secret.read_bytes() == b"secret\n"  # deleting removed the link, not its target
    assert list(s.list_keys()) == []
    # A write through a linked directory is refused; over a linked file, it replaces the link.
    with pytest.raises(OSError, match="symbolic link"):
        s.writer("example.com/d/@v/v2.0.0.mod")
    (root / "example.com" / "m" / "@v" / "v1.0.0.mod").symlink_to(secret)
    w = s.writer("example.com/m/@v/v1.0.0.mod")
    w.write(b"module example.com/m\n")
    w.commit()
    assert secret.read_bytes() == b"secret\n"
    with s.open("example.com/m/@v/v1.0.0.mod") as f:
        assert f.read() == b"module example.com/m\n"


def test_disk_names_too_long_for_the_file_system_are_absent(tmp_path):
    s = DiskStore(tmp_path)
    key = "example.com/" + "a" * 300 + "/@v/list"
    assert s.open(key) is None
    assert s.stat(key) is None
    with pytest.raises(OSError) as e:
        s.writer(key)
    assert e.value.errno == errno.ENAMETOOLONG
