"""``goproxy verify`` in process, over a memory store: versions found, progress, quarantine."""

from __future__ import annotations

import io

from core.test_verify import MOD, ZIP, config, get, routes
from goproxy_cli.verify import Progress, VerifyRun, find_versions
from goproxy_core import compile_config
from goproxy_core.proxy.record import decode_record
from goproxy_core.testing import MemoryStore, ScriptedUpstream

KEY = f"{MOD}/@v/v1.0.0"


def _filled() -> MemoryStore:
    store, up = MemoryStore(), ScriptedUpstream(routes())
    assert get(f"/{MOD}/@v/v1.0.0.mod", store, up)[0] == 200
    assert get(f"/{MOD}/@v/v1.0.0.zip", store, up)[0] == 200
    store.put("example.com/legacy/@v/v0.1.0.zip", b"not a zip")
    store.put("example.com/legacy/@v/list", b"v0.1.0\n")
    store.put("_goproxy/quarantine/x/example.com/q/@v/v1.0.0.zip", b"old")
    return store


def _run(store: MemoryStore) -> tuple[int, str, str]:
    out, progress = io.StringIO(), io.StringIO()
    code = VerifyRun(store, compile_config(config()), now=lambda: 50.0).run(2, out, progress)
    return code, out.getvalue(), progress.getvalue()


def test_versions_are_found_by_their_files_and_records():
    assert find_versions(_filled()) == [("example.com/legacy", "v0.1.0"), (MOD, "v1.0.0")]


def test_a_good_version_passes_and_a_broken_legacy_zip_is_quarantined():
    store = _filled()
    code, out, progress = _run(store)
    assert code == 1, out
    assert "quarantined example.com/legacy/@v/v0.1.0.zip: the stored .zip is not valid" in out
    assert "2 versions" in out and "1 good, 1 failed" in out
    assert "2/2 versions checked, 1 failed" in progress
    assert store.get("example.com/legacy/@v/v0.1.0.zip") is None
    note = store.get("_goproxy/quarantine/19700101T000050Z/example.com/legacy/@v/v0.1.0.zip.why")
    assert note is not None and b"why: the stored .zip is not valid" in note
    assert store.get("_goproxy/quarantine/generation") is not None
    assert _run(store)[0] == 0


def test_a_flipped_zip_is_quarantined_and_its_record_entry_dropped():
    store = _filled()
    store.delete("example.com/legacy/@v/v0.1.0.zip")
    bad = bytearray(ZIP)
    bad[bad.rindex(b"m.go")] ^= 0x02
    store.put(KEY + ".zip", bytes(bad))
    code, out, _ = _run(store)
    assert code == 1 and f"quarantined {KEY}.zip: the stored .zip changed" in out, out
    rec = decode_record(store.get(KEY + ".record") or b"")
    assert rec is not None and rec.zip is None and rec.mod is not None
    assert store.get(KEY + ".zip") is None


def test_progress_is_a_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = Progress(2, out)
    bar.step(False)
    bar.step(True)
    text = out.getvalue()
    assert "\rverify [" in text and "2/2 versions, 1 failed" in text and text.endswith("\n")
