"""bench/tls.py end to end, small: each frontend over plain HTTP and HTTPS, wrk on a cached
``.info`` and a cached zip fetched whole. No timing is judged; the benchmark itself is
``python bench/tls.py``."""

from __future__ import annotations

from support import bench_module


def test_http_and_https_are_measured_per_frontend(tmp_path):
    with bench_module("tls") as module:
        results = module.measure(tmp_path, duration=1, clients=2, reps=1, zip_mib=1)
        text = module.table(results, zip_mib=1)
    assert set(results) == {"trio", "asyncio", "sockets"}
    for by in results.values():
        for target in (".info", "zip"):
            assert set(by[target]) == {"http", "https"}
            assert all(len(v) == 1 and v[0] > 0 for v in by[target].values())
    assert "| HTTPS / HTTP |" in text
    assert len(text.splitlines()) == 5  # the head, the rule and three frontends
