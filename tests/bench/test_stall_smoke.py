"""bench/stall.py runs end to end on a small zip: probes answer, the cold zip arrives whole.

No timing is asserted; the benchmark itself is ``python bench/stall.py``, not part of pytest.
"""

from __future__ import annotations

import pytest

from support import bench_module


@pytest.fixture(scope="module")
def stall():
    with bench_module("stall") as module:
        yield module


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
