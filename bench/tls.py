"""What TLS costs: cache hits and a 10 MiB zip over HTTPS against plain HTTP, per frontend.

``python bench/tls.py [--duration S] [--clients C] [--reps K] [--zip-mib M] [--frontends
LIST] [--write]``

Everything runs on 127.0.0.1, in one run on one machine. The script builds the fixture tree
of ``bench/run.py`` (a few small modules and one module whose zip is ``zip-mib`` MiB) and
serves it as a warm cache (``goproxy serve --upstream off``, access log off) with each
frontend twice, plain HTTP and HTTPS (``--tls-cert``/``--tls-key``: a certificate of a test
CA made by trustme, the CA trusted by the client), in turns, and measures on each:

1. cache-hit throughput of a ``.info``: ``wrk -t1 -c<clients>`` (keep-alive; wrk speaks
   HTTPS), ``reps`` cells of ``duration`` seconds, requests/s;
2. the time of the zip: ``reps`` GETs of it on new connections (each one a handshake under
   TLS) by Python's http.client, read to the end, milliseconds.

It prints medians with the ratio HTTPS / HTTP and, with ``--write``, puts the table into
docs/benchmarks.md (its own block). Under TLS no file goes out with sendfile (the bytes must be
encrypted): zips go through the TLS stream in 256 KiB chunks, which is most of the zip's cost.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py

BEGIN = "<!-- bench:tls:begin -->"
END = "<!-- bench:tls:end -->"
SECTION = f"""
## TLS: HTTPS against plain HTTP

`python bench/tls.py [--duration S] [--clients C] [--reps K] [--zip-mib M] [--frontends LIST]
[--write]`: each frontend serves the same warm cache twice, plain HTTP and HTTPS (a test CA's
certificate, `--tls-cert`/`--tls-key`), in turns, same run, same machine. Hits: `wrk -t1
-c<clients>` (keep-alive connections, so handshakes are few) on a cached `.info`, requests/s.
Zip: a cached zip of about 10 MiB fetched whole on a new connection each time (its handshake
included) by Python's http.client, milliseconds. Medians, with the slowest and fastest in
parentheses. Plain HTTP sends the zip with sendfile; HTTPS cannot (the bytes must be
encrypted) and sends it through the TLS stream in 256 KiB chunks. `tests/bench/test_tls_smoke.py`
runs it on a small zip. `--write` rewrites the block below.

{BEGIN}
{END}
"""
MODES = ("http", "https")


def _certificate(work: Path) -> tuple[Path, Path, Path]:
    """A test CA's certificate for 127.0.0.1 as files: (cert, key, the CA's own)."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, cafile = work / "cert.pem", work / "key.pem", work / "ca.pem"
    cert.write_bytes(b"".join(b.bytes() for b in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    cafile.write_bytes(ca.cert_pem.bytes())
    return cert, key, cafile


def _get_ms(url: str, size: int, context: ssl.SSLContext | None) -> float:
    """Milliseconds for one GET on a new connection answered 200 with ``size`` bytes."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    t = time.perf_counter()
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, timeout=60, context=context)
    else:
        conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        buf, got = bytearray(1 << 20), 0
        while n := resp.readinto(buf):
            got += n
    finally:
        conn.close()
    if resp.status != 200 or got != size:
        raise RuntimeError(f"GET {url}: {resp.status}, {got} bytes (want 200, {size})")
    return (time.perf_counter() - t) * 1000


def measure(
    work: Path,
    *,
    duration: float,
    clients: int,
    reps: int,
    zip_mib: int,
    frontends: tuple[str, ...] = bench.FRONTENDS,
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{frontend: {".info": {"http": [rps, ...], "https": [...]}, "zip": {"http": [ms, ...],
    "https": [...]}}}``."""
    fx = bench.build_fixture(work, modules=2, big_zip_mib=zip_mib)
    cert, key, cafile = _certificate(work)
    context = ssl.create_default_context(cafile=str(cafile))
    info = f"/{bench.INFO_MODULE}/@v/v1.0.0.info"
    zip_path = f"/{bench.BIG_ZIP_MODULE}/@v/v1.0.0.zip"
    info_size = (fx.tree / info.lstrip("/")).stat().st_size
    zip_size = (fx.tree / zip_path.lstrip("/")).stat().st_size
    tls = {"GOPROXY_CORE_TLS_CERT": str(cert), "GOPROXY_CORE_TLS_KEY": str(key)}
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    with bench.Processes() as procs:
        for frontend in frontends:
            by = results[frontend] = {
                ".info": {m: [] for m in MODES},
                "zip": {m: [] for m in MODES},
            }
            urls: dict[str, str] = {}
            servers = []
            for mode in MODES:
                server = bench.start_goproxy(
                    procs,
                    work,
                    cache=fx.tree,
                    frontend=frontend,
                    settings=tls if mode == "https" else {},
                )
                if not server.url.startswith(mode + "://"):
                    raise RuntimeError(f"{frontend} {mode}: the server says {server.url}")
                servers.append(server)
                urls[mode] = server.url
                _get_ms(server.url + info, info_size, context)  # warm: memo, hot answers
                _get_ms(server.url + zip_path, zip_size, context)
            for _ in range(reps):
                for mode in MODES:
                    got = bench.run_wrk(urls[mode] + info, duration, clients)
                    if got.errors:
                        raise RuntimeError(f"{frontend} {mode} .info: {got.errors}")
                    by[".info"][mode].append(got.rps)
                for mode in MODES:
                    by["zip"][mode].append(_get_ms(urls[mode] + zip_path, zip_size, context))
            for server in servers:
                procs.stop(server.proc)
            print(f"  {frontend}: {_row(by)}", flush=True)
    return results


def _cell(xs: list[float], fmt: str) -> str:
    return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"


def _row(by: dict[str, dict[str, list[float]]]) -> str:
    i, z = by[".info"], by["zip"]
    return (
        f"{_cell(i['http'], ',.0f')} | {_cell(i['https'], ',.0f')} | "
        f"{statistics.median(i['https']) / statistics.median(i['http']):.2f} | "
        f"{_cell(z['http'], '.1f')} | {_cell(z['https'], '.1f')} | "
        f"{statistics.median(z['https']) / statistics.median(z['http']):.2f}"
    )


def table(results: dict[str, dict[str, dict[str, list[float]]]], *, zip_mib: int) -> str:
    lines = [
        "| frontend | hit .info, HTTP: requests/s | HTTPS: requests/s | HTTPS / HTTP | "
        f"{zip_mib} MiB zip, HTTP: ms | HTTPS: ms | HTTPS / HTTP |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for frontend, by in results.items():
        lines.append(f"| {frontend} | {_row(by)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk cell (5)")
    p.add_argument("--clients", type=int, default=32, help="keep-alive connections (32)")
    p.add_argument("--reps", type=int, default=3, help="cells per target and mode (3)")
    p.add_argument("--zip-mib", type=int, default=10, help="the zip's size in MiB (10)")
    p.add_argument(
        "--frontends", default=",".join(bench.FRONTENDS), help="comma separated (all three)"
    )
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ns = p.parse_args(argv)
    signal.signal(signal.SIGTERM, bench.interrupt)
    bench.ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="goproxy-bench-tls-"))
    try:
        results = measure(
            work,
            duration=ns.duration,
            clients=ns.clients,
            reps=ns.reps,
            zip_mib=ns.zip_mib,
            frontends=tuple(f for f in ns.frontends.split(",") if f),
        )
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(results, zip_mib=ns.zip_mib)
    print(text, flush=True)
    if ns.write:
        args = argv if argv is not None else sys.argv[1:]
        command = " ".join(["python bench/tls.py", *args])
        print(bench.replace_doc_block(BEGIN, END, SECTION, command, text, bench.machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
