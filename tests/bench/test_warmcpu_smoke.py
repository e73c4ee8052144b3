"""bench/warmcpu.py runs end to end on a tiny graph: warm clients through a proxy verifying
against a fixture checksum database, their requests counted and the server's CPU read.

No timing is judged here; the benchmark itself is ``python bench/warmcpu.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

WARMCPU = Path(__file__).resolve().parents[2] / "bench" / "warmcpu.py"


def test_warm_clients_are_measured():
    spec = importlib.util.spec_from_file_location("goproxy_bench_warmcpu", WARMCPU)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        r = module.measure(modules=3, clients=1, frontend="trio")
    finally:
        del sys.modules[spec.name]
    assert r["runs"] == 1
    # Three modules: two .mod and one .zip each, with lookups and tiles beside them.
    assert r["requests_per_client"] >= 9
    assert 0 < r["sumdb_requests_per_client"] < r["requests_per_client"]
    assert r["cpu_s_per_client"] >= 0
