"""bench/hung.py runs end to end with a 1 s read timeout: 100 clients, every one answered.

No timing is asserted; the benchmark itself is ``python bench/hung.py``, not part of pytest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HUNG_PY = Path(__file__).resolve().parents[2] / "bench" / "hung.py"


def test_hung_round_trip():
    out = subprocess.run(
        [sys.executable, str(HUNG_PY), "1", "asyncio"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "statuses [504]" in out, out
