"""``/metrics``: decided by the core, rendered by the caller (``RenderMetrics``), or a 404."""

from __future__ import annotations

import pytest

from goproxy_core import (
    NEED_DATA,
    LocalProtocolError,
    MetricsPage,
    ProxyConfig,
    ProxyConnection,
    RenderMetrics,
    SendBytes,
)
from goproxy_core.proxy import MetricsReq, parse_target
from goproxy_core.testing import MemoryStore, exchange

from support import parse_responses

REQ = b"GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n"


def _answer(conn: ProxyConnection, page: MetricsPage | None, request: bytes = REQ) -> bytes:
    """Drive ``conn`` over ``request``, answering ``RenderMetrics`` with ``page``."""
    conn.receive_data(request)
    out = bytearray()
    asked = 0
    while True:
        effect = conn.next_effect(0.0, 0.0)
        if effect is NEED_DATA:
            break
        if isinstance(effect, RenderMetrics):
            asked += 1
            conn.metrics_rendered(page)
        else:
            assert isinstance(effect, SendBytes), effect
            out += effect.data
    assert asked == 1
    return bytes(out)


def test_metrics_is_parsed_below_a_base_path() -> None:
    assert parse_target(b"/metrics") == MetricsReq()
    assert parse_target(b"/go/metrics", "/go") == MetricsReq()


def test_the_callers_page_is_answered_uncached() -> None:
    page = MetricsPage(b"goproxy_requests_total 1.0\n", "text/plain; version=0.0.4")
    ((status, headers, body),) = parse_responses(_answer(ProxyConnection(ProxyConfig()), page))
    assert status == 200
    assert body == page.body
    assert headers["content-type"] == page.content_type
    assert headers["cache-control"] == "no-store"


def test_head_gets_the_length_without_the_body() -> None:
    page = MetricsPage(b"x 1.0\n", "text/plain")
    head = b"HEAD /metrics HTTP/1.1\r\nHost: p\r\n\r\n"
    raw = _answer(ProxyConnection(ProxyConfig()), page, head)
    ((status, headers, body),) = parse_responses(raw, head=True)
    assert (status, body, headers["content-length"]) == (200, b"", "6")


def test_a_caller_keeping_no_metrics_answers_404() -> None:
    ((status, _, body),) = parse_responses(_answer(ProxyConnection(ProxyConfig()), None))
    assert status == 404
    assert body == b"not found: this server keeps no metrics\n"
    # The test harness keeps none either.
    raw = exchange(ProxyConnection(ProxyConfig()), REQ, store=MemoryStore(), upstream=None, now=0)
    assert parse_responses(raw)[0][0] == 404


def test_metrics_off_is_a_404_without_asking_the_caller() -> None:
    conn = ProxyConnection(ProxyConfig(metrics=False))
    raw = exchange(conn, REQ, store=MemoryStore(), upstream=None, now=0)
    ((status, _, body),) = parse_responses(raw)
    assert status == 404
    assert b"metrics are off" in body and b"metrics = false" in body


def test_an_answer_nobody_asked_for_is_refused() -> None:
    conn = ProxyConnection(ProxyConfig())
    with pytest.raises(LocalProtocolError):
        conn.metrics_rendered(None)
