"""bench/objstore_http.py end to end on a tiny tree: a disk server and an object-store server
(a real weed mini), cold ``go mod download`` and cold zips through each, then wrk on their
cached ``.info`` and 1 MiB zip. No timing is judged; the benchmark itself is
``python bench/objstore_http.py``."""

from __future__ import annotations

from support import bench_module


def test_cold_and_hit_are_measured_on_both_stores(tmp_path):
    with bench_module("objstore_http") as module:
        results = module.measure(
            tmp_path, modules=3, zips=2, latency=0.005, rounds=1, duration=1, clients=2, reps=1
        )
        text = module.table(results, modules=3, latency=0.005)
    assert set(results) == {"cold", "cold zip", ".info", "1 MiB .zip"}
    for by_store in results.values():
        assert set(by_store) == {"disk", "s3 (weed mini)"}
        assert all(v and min(v) > 0 for v in by_store.values())
    assert all(len(v) == 2 for v in results["cold zip"].values())
    assert "| hit 1 MiB .zip: requests/s |" in text
    assert "| cold `go mod download`, 3 modules, 5 ms" in text
