"""bench/quota.py runs end to end on a tiny tree: two warm servers, quota off and on, loaded
with wrk; the tracked one counted the hits.

No timing is judged here; the benchmark itself is ``python bench/quota.py``.
"""

from __future__ import annotations

from support import bench_module


def test_hits_with_and_without_the_quota_are_measured():
    with bench_module("quota", "quota_bench") as module:
        results = module.measure(duration=1, reps=1, modules=2)
        text = module.table(results)
    assert set(results) == {".info", "small .zip", "1 MiB .zip", "uses counted"}
    for target in (".info", "small .zip", "1 MiB .zip"):
        assert all(r[0] > 0 for r in results[target].values())
    assert results["uses counted"]["quota on (10G)"][0] > 0
    assert "| .info |" in text
