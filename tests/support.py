"""Shared helpers for the test suite: where the copied test data lives and how to read it."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
VECTORS_DIR = DATA_DIR / "vectors"
BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def debian_tool(command: str, *packages: str) -> str:
    """The path of ``command`` (on PATH or in /usr/sbin, /usr/bin), installed from Debian with
    the first of ``packages`` that installs when it is missing (as ``.ci/run`` does)."""

    def find() -> str | None:
        found = shutil.which(command)
        if found:
            return found
        for where in ("/usr/sbin", "/usr/bin"):
            if os.access(f"{where}/{command}", os.X_OK):
                return f"{where}/{command}"
        return None

    found = find()
    if found is None:
        assert shutil.which("apt-get"), f"{command} is missing and there is no apt-get"
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        for package in packages:
            installed = subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env)
            if installed.returncode == 0:
                break
        found = find()
    assert found, f"{command} is missing and {' or '.join(packages)} did not install it"
    return found


@contextlib.contextmanager
def bench_module(name: str, alias: str = "") -> Iterator[ModuleType]:
    """Import ``bench/<name>.py`` (the benchmarks are scripts, not a package) for a test."""
    spec = importlib.util.spec_from_file_location(
        f"goproxy_bench_{alias or name}", BENCH_DIR / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def load_vector(name: str) -> Any:
    """The parsed JSON vector file ``tests/data/vectors/<name>``."""
    with (VECTORS_DIR / name).open(encoding="utf-8") as f:
        return json.load(f)


def vector_str(value: Any) -> str:
    """A vector string value; ``{"utf8_invalid_hex": ...}`` becomes a surrogateescape'd str."""
    if isinstance(value, dict) and "utf8_invalid_hex" in value:
        return bytes.fromhex(value["utf8_invalid_hex"]).decode("utf-8", "surrogateescape")
    assert isinstance(value, str)
    return value


def parse_txtar(data: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split a txtar archive into its comment and ``(name, content)`` files (Go's txtar rules).

    Names are decoded with surrogateescape so that invalid UTF-8 survives.
    """
    comment_end = None
    files: list[tuple[str, bytes]] = []
    lines = data.splitlines(keepends=True)
    name: str | None = None
    buf: list[bytes] = []

    def flush() -> None:
        if name is not None:
            content = b"".join(buf)
            if content and not content.endswith(b"\n"):
                content += b"\n"
            files.append((name, content))

    comment: list[bytes] = []
    for line in lines:
        stripped = line.rstrip(b"\r\n") if line.endswith(b"\n") else line
        if stripped.startswith(b"-- ") and stripped.endswith(b" --") and len(stripped) >= 6:
            marker = stripped[3:-3].strip()
            if marker:
                if comment_end is None:
                    comment_end = True
                flush()
                name = marker.decode("utf-8", "surrogateescape")
                buf = []
                continue
        if name is None:
            comment.append(line)
        else:
            buf.append(line)
    flush()
    return b"".join(comment), files


def parse_responses(raw: bytes, *, head: bool = False) -> list[tuple[int, dict[str, str], bytes]]:
    """Every HTTP response in ``raw``, as ``(status, headers, body)``, read with an h11 client."""
    import h11

    client = h11.Connection(h11.CLIENT)
    out: list[tuple[int, dict[str, str], bytes]] = []
    # The client state machine needs to have sent a request per response.
    client.receive_data(raw)
    while True:
        client.send(
            h11.Request(method="HEAD" if head else "GET", target="/", headers=[("Host", "t")])
        )
        client.send(h11.EndOfMessage())
        status = 0
        headers: dict[str, str] = {}
        body = bytearray()
        while True:
            try:
                ev = client.next_event()
            except h11.RemoteProtocolError:
                return out  # the server closed the connection
            if ev is h11.NEED_DATA or isinstance(ev, h11.ConnectionClosed):
                return out
            if isinstance(ev, h11.Response):
                status = ev.status_code
                headers = {k.decode(): v.decode() for k, v in ev.headers}
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                out.append((status, headers, bytes(body)))
                break
        if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
            return out
        client.start_next_cycle()


def make_zip(module: str, version: str, files: dict[str, bytes]) -> bytes:
    """A module zip with ``files`` (names relative to the module root)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(f"{module}@{version}/{name}", content)
    return buf.getvalue()


def cache_usage(root: Path) -> tuple[int, int]:
    """(bytes, files) of a cache dir as the disk quota's index counts them: every regular file
    but the index's own, its gc lock, pending writes and fetches' lock files. A file removed
    while this walks (a server evicting) is not counted."""
    from goproxy_stores.usage import INDEX_FILE, LEASES, LOCK_FILE

    total = files = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if rel.startswith((INDEX_FILE, LEASES)) or rel == LOCK_FILE or name.endswith(".tmp"):
                continue
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
    return total, files
