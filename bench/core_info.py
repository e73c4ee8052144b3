"""Core time per cached ``.info`` request, with no I/O at all.

``python bench/core_info.py [--n N]`` pushes the same keep-alive request through one
``ProxyConnection`` N times, answering its ``ReadBlob`` from memory, and prints microseconds
per request for three variants measured in the same run:

* ``h11``: every request head parsed by h11 (the fast path switched off): the baseline;
* ``fast``: simple heads read by the core's own parser;
* ``fast+hot``: and repeated immutable answers served from a ``HotReplies`` table, as the
  servers run it.

``--cpu`` times with the process's CPU clock instead of the wall clock, and ``--rounds R``
keeps the best of R rounds: steadier on a machine shared with other work. Run it with
``PYTHONPATH`` at another checkout's ``src`` to compare two revisions.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from goproxy_core import (
    NEED_DATA,
    BlobData,
    HotReplies,
    ProxyConfig,
    ProxyConnection,
    ReadBlob,
    SendBytes,
    compile_config,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_REQ = (
    b"GET /example.com/m/@v/v1.0.0.info HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n"
)
_INFO = BlobData(b'{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}', 0.0)


class _H11Only(ProxyConnection):
    def _fast_request(self) -> bool:
        return False


def _per_request(conn: ProxyConnection, n: int, clock: Callable[[], float]) -> float:
    def one() -> None:
        conn.receive_data(_REQ)
        while True:
            e = conn.next_effect(1e9, 0.0)
            if e is NEED_DATA:
                return
            if isinstance(e, ReadBlob):
                conn.resolve(_INFO)
            elif not isinstance(e, SendBytes):
                raise SystemExit(f"unexpected effect {e!r}")

    for _ in range(min(n, 2000)):
        one()
    conn.take_log()
    t = clock()
    for _ in range(n):
        one()
    took = clock() - t
    conn.take_log()
    return took / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="requests per variant (50000)")
    ap.add_argument("--cpu", action="store_true", help="time with the process's CPU clock")
    ap.add_argument("--rounds", type=int, default=1, help="best of this many rounds (1)")
    args = ap.parse_args()
    n = args.n
    clock = time.process_time if args.cpu else time.perf_counter
    cfg = compile_config(ProxyConfig(upstream="off"))
    rounds = range(max(1, args.rounds))
    base = min(_per_request(_H11Only(cfg), n, clock) for _ in rounds)
    fast = min(_per_request(ProxyConnection(cfg), n, clock) for _ in rounds)
    hot = min(_per_request(ProxyConnection(cfg, hot=HotReplies()), n, clock) for _ in rounds)
    what = "CPU" if args.cpu else "core"
    print(f"{what} time per cached .info ({n} requests each, best of {len(rounds)})")
    for name, us in (("h11", base), ("fast", fast), ("fast+hot", hot)):
        print(f"  {name:9} {us:6.1f} us  {base / us:5.2f}x the h11 baseline")


if __name__ == "__main__":
    main()
