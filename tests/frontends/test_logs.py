"""Log formats: JSON lines whatever a client sent, request ids on lines, the slow-request log."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import warnings

import anyio
import anyio.to_thread
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from goproxy_core import AccessRecord
from goproxy_io import REQUEST_ID, configure_logging, log_access, new_id_prefix, set_slow_request
from goproxy_io.logs import AccessLine, JsonFormatter, RequestIdFilter, TextFormatter, rfc3339

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _record(target: str = "/example.com/m/@v/v1.0.0.info", **kw: object) -> AccessRecord:
    fields: dict[str, object] = {
        "method": "GET",
        "target": target,
        "status": 200,
        "length": 51,
        "cache_status": "goproxy; hit",
        "started": 100.0,
        "time": 0.0,
        "request_id": "ab-1",
        "upstream": "",
    }
    fields.update(kw)
    return AccessRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def logged():
    """Every line logged on the root logger, as JSON text, and the text formatter's lines."""
    out, text = io.StringIO(), io.StringIO()
    handlers = []
    for stream, fmt in ((out, JsonFormatter()), (text, TextFormatter("%(name)s %(message)s"))):
        h = logging.StreamHandler(stream)
        h.setFormatter(fmt)
        h.addFilter(RequestIdFilter())
        handlers.append(h)
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.INFO)
    for h in handlers:
        root.addHandler(h)
    try:
        yield out, text
    finally:
        for h in handlers:
            root.removeHandler(h)
        root.setLevel(old)
        set_slow_request(10.0)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_an_access_line_has_every_field(logged) -> None:
    out, text = logged
    log_access(_record(status=200), "", now=100.25)
    log_access(
        _record("/mod/example.com/!m/@v/list", status=404, cache_status="", upstream="u"),
        "/mod",
        now=101.0,
    )
    a, b = _lines(out)
    assert RFC3339.fullmatch(str(a["time"]))
    assert {k: a[k] for k in a if k != "time"} == {
        "level": "INFO",
        "logger": "goproxy.access",
        "msg": "GET /example.com/m/@v/v1.0.0.info 200 51 goproxy; hit 250.0ms id=ab-1",
        "request_id": "ab-1",
        "method": "GET",
        "path": "/example.com/m/@v/v1.0.0.info",
        "kind": "info",
        "module": "example.com/m",
        "version": "v1.0.0",
        "status": 200,
        "bytes": 51,
        "duration_ms": 250.0,
        "cache": "goproxy; hit",
        "upstream": None,
    }
    assert (b["kind"], b["module"], b["version"]) == ("list", "example.com/M", None)
    assert (b["status"], b["cache"], b["upstream"]) == (404, None, "u")
    assert text.getvalue().splitlines()[1].endswith(" id=ab-1 upstream=u")


def test_rfc3339_in_utc_with_milliseconds() -> None:
    assert rfc3339(0.0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1764859267.9996) == "2025-12-04T14:41:07.999Z"
    assert rfc3339(86400.5) == "1970-01-02T00:00:00.500Z"


# Anything a client may have put in a target or method, even what cannot be UTF-8.
_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)


@given(_ANY_TEXT, _ANY_TEXT, _ANY_TEXT)
@example("/m\ud800/@v/list\x00\x1b[31m", "G\udcff", "")
def test_any_target_gives_one_valid_json_line(target: str, method: str, base: str) -> None:
    rec = _record(target, method=method, request_id="x-1", upstream="u\n\x00")
    record = logging.LogRecord("goproxy.access", logging.INFO, __file__, 1, "%s", (target,), None)
    record.access = AccessLine(rec, base, 1.5)
    record.request_id = "x-1"
    line = JsonFormatter().format(record)
    assert "\n" not in line and "\r" not in line
    got = json.loads(line)
    assert got["request_id"] == "x-1"
    assert got["status"] == 200
    if target.encode("utf-8", "surrogatepass") == target.encode("utf-8", "replace"):
        assert got["path"] == target and got["msg"] == target  # nothing was lost


def test_tracebacks_are_a_field(logged) -> None:
    out, _ = logged
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("goproxy.server").exception("connection failed")
    (line,) = out.getvalue().splitlines()
    got = json.loads(line)
    assert got["msg"] == "connection failed" and got["level"] == "ERROR"
    assert "RuntimeError: boom\nsecond line" in str(got["exc"])
    assert "Traceback" in str(got["exc"])


def test_lines_logged_while_serving_carry_the_request_id(logged) -> None:
    out, text = logged
    log = logging.getLogger("goproxy.upstream")

    async def serve() -> None:
        REQUEST_ID.set("req-9")
        # A worker thread (the executor's) inherits the id.
        await anyio.to_thread.run_sync(log.warning, "upstream %s failed", "u")

    anyio.run(serve)
    log.warning("between requests")
    a, b = _lines(out)
    assert (a["request_id"], a["msg"]) == ("req-9", "upstream u failed")
    assert "request_id" not in b
    assert text.getvalue().splitlines() == [
        "goproxy.upstream upstream u failed request_id=req-9",
        "goproxy.upstream between requests",
    ]


def test_the_slow_request_log(logged) -> None:
    out, text = logged
    set_slow_request(2.0)
    log_access(_record(upstream="https://up.example"), now=101.5)  # 1.5 s: not slow
    log_access(_record(upstream="https://up.example", status=502), now=103.0)  # 3 s
    set_slow_request(0)
    log_access(_record(), now=1000.0)  # off
    lines = _lines(out)
    assert [x["logger"] for x in lines] == ["goproxy.access"] * 2 + ["goproxy.slow"] + [
        "goproxy.access"
    ]
    slow = lines[2]
    assert slow["level"] == "WARNING"
    assert (slow["request_id"], slow["status"], slow["duration_ms"]) == ("ab-1", 502, 3000.0)
    assert (slow["upstream"], slow["cache"]) == ("https://up.example", "goproxy; hit")
    assert slow["msg"] == (
        "slow request ab-1: GET /example.com/m/@v/v1.0.0.info took 3.0 s: status 502, "
        "cache goproxy; hit, upstream https://up.example"
    )
    # The text line names the id itself (no request_id= suffix added to it).
    assert "goproxy.slow slow request ab-1: GET " in text.getvalue()
    assert "request_id=" not in text.getvalue()
    with pytest.raises(ValueError, match="slow-request"):
        set_slow_request(-1)


def test_configure_logging_json_covers_warnings_and_uncaught_exceptions() -> None:
    import sys

    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    try:
        configure_logging("info", "json", out)
        logging.getLogger("goproxy").info("started")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("careful", stacklevel=1)
        t = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        t.start()
        t.join()
        try:
            raise KeyError("k")
        except KeyError:
            sys.excepthook(*sys.exc_info())
    finally:
        root.handlers[:], level, sys.excepthook, threading.excepthook = saved
        root.setLevel(level)
        logging.captureWarnings(False)
    lines = _lines(out)
    assert [(x["logger"], x["level"]) for x in lines] == [
        ("goproxy", "INFO"),
        ("py.warnings", "WARNING"),
        ("goproxy.crash", "CRITICAL"),
        ("goproxy.crash", "CRITICAL"),
    ]
    assert "careful" in str(lines[1]["msg"])
    assert "worker-x" in str(lines[2]["msg"]) and "ZeroDivisionError" in str(lines[2]["exc"])
    assert "KeyError" in str(lines[3]["exc"])


def test_id_prefixes_are_safe_and_differ() -> None:
    prefixes = {new_id_prefix() for _ in range(50)}
    assert len(prefixes) == 50
    assert all(re.fullmatch(r"[0-9a-f]{8}-", p) for p in prefixes)
