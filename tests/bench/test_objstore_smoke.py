"""bench/objstore.py runs end to end on tiny sizes (a real weed mini, the disk store) and prints
one row per blob size and store. No timing is judged."""

from __future__ import annotations

from support import bench_module


def test_objstore_bench_prints_its_table(capsys):
    with bench_module("objstore") as bench:
        assert bench.main(["--small", "3", "--mib", "1", "--large-mib", "2", "--rounds", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("| blob | store |")
    assert len(rows) == 2 + 3 * 2
    assert sum("s3 (weed mini)" in r for r in rows) == 3
