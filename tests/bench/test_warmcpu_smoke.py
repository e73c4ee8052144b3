"""bench/warmcpu.py runs end to end on a tiny graph: warm clients through a proxy verifying
against a fixture checksum database, their requests counted and the server's CPU read.

No timing is judged here; the benchmark itself is ``python bench/warmcpu.py``.
"""

from __future__ import annotations

from support import bench_module


def test_warm_clients_are_measured():
    with bench_module("warmcpu") as module:
        r = module.measure(modules=3, clients=1, frontend="trio")
    assert r["runs"] == 1
    # Three modules: two .mod and one .zip each, with lookups and tiles beside them.
    assert r["requests_per_client"] >= 9
    assert 0 < r["sumdb_requests_per_client"] < r["requests_per_client"]
    assert r["cpu_s_per_client"] >= 0
