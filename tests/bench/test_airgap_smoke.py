"""bench/airgap.py end to end on a tiny graph: every step runs (warm, export, import, an offline
proxy, file://) and the go command prints the same modules and hashes in every client run.

No timing is asserted; the benchmark itself is ``python bench/airgap.py``.
"""

from __future__ import annotations

from support import bench_module


def test_every_step_runs_and_the_clients_agree(tmp_path):
    with bench_module("airgap") as airgap:
        steps, facts = airgap.bench(tmp_path, modules=12, latency=0.005, big_mib=1, jobs=4)
        assert list(steps) == [
            "go mod download (straight)",
            "goproxy warm",
            "goproxy export",
            "goproxy import",
            "go mod download (offline proxy)",
            "go mod download (file://)",
        ]
        assert all(s.seconds > 0 and s.rss_mib > 0 for s in steps.values())
        assert facts["versions"] >= 5 and facts["bundle_mib"] > 1
        table = airgap.report(steps, facts)
        assert "| goproxy import |" in table and "12 generated modules" in table
