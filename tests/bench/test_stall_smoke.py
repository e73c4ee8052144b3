"""bench/stall.py runs end to end on a small zip: probes answer, the cold zip arrives whole.

No timing is asserted; the benchmark itself is ``python bench/stall.py``, not part of pytest.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

STALL_PY = Path(__file__).resolve().parents[2] / "bench" / "stall.py"


@pytest.fixture(scope="module")
def stall():
    spec = importlib.util.spec_from_file_location("goproxy_bench_stall", STALL_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_stall_round_trip(stall, tmp_path):
    results = stall.run_stall(
        tmp_path, frontends=["sockets", "asyncio"], rounds=1, zip_mib=1, baseline_s=0.2
    )
    assert set(results) == {"sockets", "asyncio"}
    for rounds in results.values():
        (rd,) = rounds
        assert rd.errors == []
        assert rd.during
        assert rd.baseline
        assert rd.zip.seconds > 0
    table = stall.report(results, 1, 0.2)
    assert table.count("\n| ") == 3  # the head and one row per frontend
