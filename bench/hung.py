"""100 clients on 20 zips whose upstream never answers, against ``goproxy serve``.

Starts a loopback "upstream" that accepts connections and never answers, then ``goproxy serve``
(default settings, ``read-timeout`` from the command line, checksum database off), then 100
concurrent clients asking for 20 different zips; prints the statuses and each client's wait.

    python bench/hung.py [READ_TIMEOUT] [FRONTEND]

Run it with ``PYTHONPATH`` pointing at another checkout's ``src`` and ``src/frontends`` to
compare revisions.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def _hang(listener: socket.socket, held: list[socket.socket]) -> None:
    while True:
        conn, _ = listener.accept()
        held.append(conn)


def main() -> None:
    read_timeout = sys.argv[1] if len(sys.argv) > 1 else "5"
    frontend = sys.argv[2] if len(sys.argv) > 2 else "trio"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    held: list[socket.socket] = []
    threading.Thread(target=_hang, args=(listener, held), daemon=True).start()
    upstream = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as cache:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "goproxy_cli",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cache-dir",
                cache,
                "--upstream",
                upstream,
                "--frontend",
                frontend,
                "--sumdb",
                "off",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, GOPROXY_CORE_READ_TIMEOUT=read_timeout),
        )
        try:
            port = 0
            assert proc.stdout is not None
            for line in proc.stdout:
                m = re.search(r"GOPROXY=http://127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))
                    break
            if not port:
                raise SystemExit("goproxy serve did not start")

            def get(path: str) -> tuple[int, float]:
                start = time.monotonic()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                c.close()
                return r.status, time.monotonic() - start

            paths = [f"/example.com/m{i % 20}/@v/v1.0.0.zip" for i in range(100)]
            with ThreadPoolExecutor(100) as pool:
                results = list(pool.map(get, paths))
        finally:
            proc.terminate()
            proc.wait()
    waits = sorted(w for _, w in results)
    print(
        f"{frontend} read-timeout {read_timeout}s: statuses {sorted({s for s, _ in results})}, "
        f"wait min {waits[0]:.1f} s, median {statistics.median(waits):.1f} s, "
        f"max {waits[-1]:.1f} s"
    )


if __name__ == "__main__":
    main()
