"""bench/coldgraph.py end to end on a tiny graph: every mode runs, the go command prints the same
in each, and the proxy with prefetch reports its counters at shutdown.

No timing is asserted; the benchmark itself is ``python bench/coldgraph.py``.
"""

from __future__ import annotations

import pytest

from support import bench_module


@pytest.fixture(scope="module")
def coldgraph():
    with bench_module("coldgraph") as module:
        yield module


def test_graph_is_layered_and_real_shaped(coldgraph, tmp_path):
    g = coldgraph.build_graph(tmp_path, modules=20, layers=4)
    assert len(g.modules) == 20 and g.mod_files == 40
    top = g.modules[0]
    assert (g.tree / top / "@v" / "list").read_text() == "v1.0.0\nv1.1.0\n"
    gomod = (g.tree / top / "@v" / "v1.1.0.mod").read_text()
    assert gomod.startswith(f"module {top}\n\ngo 1.16\n") and "require (" in gomod
    assert " v1.1.0\n" in (g.project / "go.mod").read_text()


def test_every_mode_runs_and_the_go_command_sees_the_same(coldgraph, tmp_path):
    g = coldgraph.build_graph(tmp_path, modules=12, layers=3, zip_size=2000)
    res = coldgraph.bench_cold_graph(g, tmp_path, latency=0.005, rate=50e6)
    assert set(res.seconds) == set(coldgraph.MODES)
    assert all(len(v) == 1 and v[0] > 0 for v in res.seconds.values())
    assert len(set(res.outputs.values())) == 1, "go mod download printed different things"
    assert res.prefetch_summary.startswith("prefetch: started ")
    table = coldgraph.report(g, res, 0.005, 50e6)
    assert "| cold prefetch |" in table and "12 modules" in table
