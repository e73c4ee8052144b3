"""bench/coldpath.py runs end to end on a small zip: cold, warm and direct all arrive whole.

No timing is asserted; the benchmark itself is ``python bench/coldpath.py``, not part of pytest.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from support import bench_module


@pytest.fixture(scope="module")
def coldpath():
    with bench_module("coldpath") as module:
        # The upstream it measures against is a real nginx: installed from Debian if missing,
        # as `python bench/run.py` does (and .ci/run before the suite).
        module.benchrun.ensure_tools()
        yield module


@pytest.fixture
def work():
    # nginx's workers run as nobody: a directory they may enter (pytest's tmp_path is private).
    path = Path(tempfile.mkdtemp(prefix="goproxy-coldpath-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_zip_scenario_round_trip(coldpath, work):
    rows = coldpath.zip_scenario(
        work, frontends=["sockets", "trio"], zip_mib=2, rate_mb=50, rounds=1, progress=str
    )
    assert [(r.upstream, r.frontend) for r in rows] == [
        ("nginx loopback", "sockets"),
        ("nginx loopback", "trio"),
        ("nginx 50 MB/s", "sockets"),
        ("nginx 50 MB/s", "trio"),
    ]
    for row in rows:
        (rd,) = row.rounds
        assert rd.size > 2 * coldpath.MIB
        assert rd.direct > 0
        assert rd.cold > 0
        assert rd.warm > 0
        assert rd.rss_mib > 0
    table = coldpath.zip_report(rows, 2, 1)
    assert table.count("\n| ") == 5  # the head and one row per cell
    assert "x |" in table


def test_graph_scenario_runs_in_the_same_run(coldpath, work, capsys):
    assert list(coldpath.SCENARIOS) == ["graph", "zip"]
    argv = ["--graph-only", "--modules", "12", "--layers", "3", "--latency", "5"]
    assert coldpath.main([*argv, "--rounds", "1", "--frontends", "trio", "--rate", "50"]) == 0
    out = capsys.readouterr().out
    assert "### A cold module graph" in out and "12 modules" in out
    for mode in coldpath.coldgraph.MODES:
        assert f"| {mode} |" in out
    assert "One 2 MiB zip" not in out and "### One " not in out


def test_only_one_of_the_only_flags(coldpath):
    with pytest.raises(SystemExit):
        coldpath.main(["--zip-only", "--graph-only"])
