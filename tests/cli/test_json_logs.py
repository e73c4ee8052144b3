"""``goproxy serve --log-format json``: every line of stderr is one JSON object, with ids.

A fixture upstream on loopback answers one module (one file of it slowly); the proxy is the
real command line with each server, and ``--workers 2``. What is checked: each line parses
alone (``json.loads``), the start-up line, the access lines of a miss, a hit, a 404 and a
request h11 cannot read, with their fields; ``X-Request-Id`` on every answer (the client's
own when safe); and the slow-request line.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving import serving

MOD = "example.com/logs"
INFO = b'{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}'
SLOW_INFO = b'{"Version":"v1.1.0","Time":"2024-01-02T00:00:00Z"}'
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]+")


# Path: (body, seconds before the answer).
FILES = {
    f"/{MOD}/@v/v1.0.0.info": (INFO, 0.0),
    f"/{MOD}/@v/v1.1.0.info": (SLOW_INFO, 1.5),
}


class _Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, delay = FILES.get(self.path, (b"not found\n", 0.0))
        time.sleep(delay)
        self.send_response(200 if self.path in FILES else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _get(port: int, path: str, rid: str = "") -> tuple[int, dict[str, str]]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers={"X-Request-Id": rid} if rid else {})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str]]:
    """Send ``data`` as it is and read the one answer (the server closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    head = got.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers


def _json_lines(log: Path) -> list[dict[str, object]]:
    lines = log.read_text().splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # each line alone is one JSON object


@pytest.mark.parametrize(
    "args",
    [
        ("--frontend", "trio"),
        ("--frontend", "asyncio"),
        ("--frontend", "sockets"),
        ("--frontend", "trio", "--workers", "2"),
    ],
    ids=["trio", "asyncio", "sockets", "trio-workers"],
)
def test_json_lines_ids_and_the_slow_log(tmp_path: Path, args: tuple[str, ...]) -> None:
    log = tmp_path / "stderr.log"
    info = f"/{MOD}/@v/v1.0.0.info"
    flags = ("--log-format", "json", "--slow-request", "1", *args)
    with (
        _upstream() as up,
        serving("--upstream", up, *flags, cache=tmp_path / "cache", log=log) as s,
    ):
        answers = {
            "miss": _get(s.port, info, rid="client-id-1"),
            "hit": _get(s.port, info),
            "hot": _get(s.port, info, rid="bad id; drop table"),
            "404": _get(s.port, f"/{MOD}/@v/v9.0.0.info"),
            "slow": _get(s.port, f"/{MOD}/@v/v1.1.0.info"),
            "400": _raw(s.port, b"GET /\x01 HTTP/1.1\r\nHost: p\r\nX-Request-Id: x\r\n\r\n"),
        }
        s.stop()
    statuses = {k: v[0] for k, v in answers.items()}
    assert statuses == {"miss": 200, "hit": 200, "hot": 200, "404": 404, "slow": 200, "400": 400}
    ids = {k: v[1]["x-request-id"] for k, v in answers.items()}
    assert ids["miss"] == "client-id-1"
    for k in ("hit", "hot", "404", "slow", "400"):
        assert ID.fullmatch(ids[k]), (k, ids[k])
    assert len(set(ids.values())) == len(ids)

    lines = _json_lines(log)
    for line in lines:
        assert TIME.fullmatch(str(line["time"])) and line["level"] and line["logger"]
        assert isinstance(line["msg"], str)
    assert any(
        x["logger"] == "goproxy" and str(x["msg"]).startswith("serving on ") for x in lines
    ), lines
    access = {x["request_id"]: x for x in lines if x["logger"] == "goproxy.access"}
    assert set(ids.values()) <= set(access), (ids, access)
    miss = access[ids["miss"]]
    assert {k: miss[k] for k in ("method", "path", "kind", "module", "version", "status")} == {
        "method": "GET",
        "path": info,
        "kind": "info",
        "module": MOD,
        "version": "v1.0.0",
        "status": 200,
    }
    assert miss["bytes"] == len(INFO) and miss["upstream"] == up
    assert "miss" in str(miss["cache"]) and isinstance(miss["duration_ms"], float)
    for k in ("hit", "hot"):
        assert access[ids[k]]["cache"] == "goproxy; hit" and access[ids[k]]["upstream"] is None
    assert access[ids["404"]]["status"] == 404
    bad = access[ids["400"]]
    assert (bad["status"], bad["kind"], bad["path"]) == (400, "other", "/%01")
    slow = [x for x in lines if x["logger"] == "goproxy.slow"]
    assert [(x["level"], x["request_id"], x["path"]) for x in slow] == [
        ("WARNING", ids["slow"], f"/{MOD}/@v/v1.1.0.info")
    ]
    assert slow[0]["upstream"] == up and float(str(slow[0]["duration_ms"])) >= 1000
    assert access[ids["slow"]]["duration_ms"] == slow[0]["duration_ms"]


def test_text_lines_stay_as_they_were_with_the_id_added(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with _upstream() as up, serving("--upstream", up, cache=tmp_path / "cache", log=log) as s:
        status, headers = _get(s.port, f"/{MOD}/@v/v1.0.0.info", rid="t-1")
        s.stop()
    assert (status, headers["x-request-id"]) == (200, "t-1")
    text = log.read_text()
    line = next(x for x in text.splitlines() if "goproxy.access" in x)
    assert re.fullmatch(
        rf"\S+ \S+ INFO goproxy\.access GET /{MOD}/@v/v1\.0\.0\.info 200 {len(INFO)} "
        rf"goproxy; fwd=miss; stored [\d.]+ms id=t-1 upstream={re.escape(up)}",
        line,
    ), line
    assert not text.lstrip().startswith("{")


def test_log_settings_from_every_source(tmp_path: Path) -> None:
    from goproxy_cli.settings import SettingsError, load_settings

    env = {"HOME": "/nonexistent", "GOPROXY_CORE_SUMDB": "off", "GOPROXY_CORE_UPSTREAM": "off"}
    s = load_settings({}, environ=env)
    assert (s.log_format, s.slow_request) == ("text", 10.0)
    cfg = tmp_path / "c.toml"
    cfg.write_text('log-format = "json"\nslow-request = 2.5\n')
    s = load_settings({}, environ=env, config_file=str(cfg))
    assert (s.log_format, s.slow_request) == ("json", 2.5)
    s = load_settings(
        {}, environ={**env, "GOPROXY_CORE_LOG_FORMAT": "text", "GOPROXY_CORE_SLOW_REQUEST": "0"}
    )
    assert (s.log_format, s.slow_request) == ("text", 0.0)
    s = load_settings({"log_format": "json", "slow_request": 1.0}, environ=env)
    assert (s.log_format, s.slow_request) == ("json", 1.0)
    with pytest.raises(SettingsError, match="log-format: not a known value"):
        load_settings({}, environ={**env, "GOPROXY_CORE_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="slow-request: negative"):
        load_settings({"slow_request": -1.0}, environ=env)
