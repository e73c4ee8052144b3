"""``goproxy serve --workers 2``: one scrape of ``/metrics`` sees every worker's requests."""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from serving import serving

ESC = "example.com/!wk"
GOMOD = b"module example.com/Wk\n\ngo 1.21\n"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'
CONNECTIONS = 40  # fresh connections, which the kernel spreads over both workers


def _tree(root: Path) -> Path:
    v = root / ESC / "@v"
    v.mkdir(parents=True)
    (v / "v1.0.0.info").write_bytes(INFO)
    (v / "v1.0.0.mod").write_bytes(GOMOD)
    return root


def _get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def _requests(text: str) -> dict[tuple[str, str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "goproxy_requests_total":
                out[(s.labels["kind"], s.labels["status"], s.labels["cache"])] = s.value
    return out


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text()
    return [int(pid) for pid in children.split()]


def _metrics_dir(pid: int) -> str:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [e.split(b"=", 1)[1] for e in env if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert len(found) == 1
    return found[0].decode()


def _requests_of(directory: str, pid: int) -> float:
    """What one worker counted in goproxy_requests_total, from its own file."""
    total = 0.0
    for key, value, *_ in MmapedDict.read_all_values_from_file(f"{directory}/counter_{pid}.db"):
        if json.loads(key)[1] == "goproxy_requests_total":
            total += value
    return total


def test_one_scrape_sees_both_workers(tmp_path):
    tree = _tree(tmp_path / "tree")
    args = ("--workers", "2", "--upstream", tree.as_uri())
    with serving(*args, cache=tmp_path / "cache") as srv:
        workers = _workers(srv.proc.pid)
        assert len(workers) == 2
        directory = _metrics_dir(workers[0])
        assert _metrics_dir(workers[1]) == directory
        assert os.path.isdir(directory)
        sent: dict[tuple[str, str, str], float] = {}
        for i in range(CONNECTIONS):
            path = f"/{ESC}/@v/v1.0.0.info" if i % 2 else f"/{ESC}/@v/v1.0.0.mod"
            status, _ = _get(srv.port, path)
            assert status == 200
        status, _ = _get(srv.port, "/nothing-here")
        assert status == 404
        # A worker counts an exchange just after its answer went out: wait for the last.
        deadline = time.monotonic() + 10
        while True:
            per_worker = [_requests_of(directory, pid) for pid in workers]
            if sum(per_worker) >= CONNECTIONS + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert all(n > 0 for n in per_worker), per_worker  # both workers served requests
        assert sum(per_worker) == CONNECTIONS + 1
        for _ in range(6):  # whichever worker answers the scrape, it sees the same totals
            status, body = _get(srv.port, "/metrics")
            assert status == 200
            got = _requests(body.decode())
            got.pop(("metrics", "200", "none"), None)  # earlier scrapes
            sent = got
            assert sum(got.values()) == CONNECTIONS + 1
            assert got[("other", "404", "none")] == 1
            info = got.get(("info", "200", "miss"), 0) + got.get(("info", "200", "hit"), 0)
            mod = got.get(("mod", "200", "miss"), 0) + got.get(("mod", "200", "hit"), 0)
            assert info == mod == CONNECTIONS // 2
            assert 1 <= got[("info", "200", "miss")] <= 2  # once per worker at most
            pids = {
                s.labels["pid"]
                for f in text_string_to_metric_families(body.decode())
                for s in f.samples
                if s.name == "goproxy_worker_resident_memory_bytes"
            }
            assert pids == {str(p) for p in workers}
    assert sent
    assert not os.path.exists(directory)  # removed when the supervisor exits
