"""Stale-while-revalidate: a mutable answer past its TTL but within max-stale is answered at once
and refreshed in the background (``Revalidate``); past max-stale it is asked upstream first."""

from __future__ import annotations

import json

import pytest

from goproxy_core import (
    CompiledConfig,
    ConfigError,
    ProxyConfig,
    ProxyConnection,
    Revalidate,
    UpstreamResult,
)
from goproxy_core.proxy.engine import handle_refresh
from goproxy_core.proxy.targets import HealthReq, LatestReq, ListReq
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange, run_refresh

from support import parse_responses

UP = "https://up.example"
MOD = "example.com/m"
LIST = f"{UP}/{MOD}/@v/list"
LATEST = f"{UP}/{MOD}/@latest"
QUERY = f"{UP}/{MOD}/@v/main.info"
LIST_KEY = f"{MOD}/@v/list"
OLD = b"v1.0.0\n"
NEW = b"v1.0.0\nv1.1.0\n"
INFO10 = b'{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}'
INFO11 = b'{"Version":"v1.1.0","Time":"2024-02-02T03:04:05Z"}'


def get(path, *, store, upstream, config, now, revalidations=None):
    raw = exchange(
        ProxyConnection(config),
        f"GET {path} HTTP/1.1\r\nHost: proxy\r\n\r\n".encode(),
        store=store,
        upstream=upstream,
        now=now,
        revalidations=revalidations,
    )
    (resp,) = parse_responses(raw)
    return resp


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def upstream():
    return ScriptedUpstream({LIST: (200, OLD)})


CFG = ProxyConfig(upstream=UP, list_ttl=60, max_stale=600)


def _cached(store, upstream, config=CFG):
    """Store the list at t=1000."""
    status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=config, now=1000
    )
    assert (status, body) == (200, OLD) and "fwd=miss; stored" in headers["cache-status"]
    upstream.routes[LIST] = (200, NEW)
    upstream.requests.clear()


def test_fresh_hit_asks_nothing(store, upstream):
    _cached(store, upstream)
    asked: list[Revalidate] = []
    status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=1059, revalidations=asked
    )
    assert (status, body) == (200, OLD)
    assert headers["cache-status"] == "goproxy; hit; ttl=1"
    assert asked == [] and upstream.requests == []


def test_stale_within_max_stale_is_answered_at_once_then_refreshed(store, upstream):
    _cached(store, upstream)
    asked: list[Revalidate] = []
    status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=1100, revalidations=asked
    )
    # Answered from the store, the upstream not asked while the client waited.
    assert (status, body) == (200, OLD)
    assert headers["cache-status"] == "goproxy; hit; fwd=stale; detail=revalidating"
    assert headers["cache-control"] == "public, max-age=5"
    assert headers["warning"] == '110 - "Response is Stale"'
    assert upstream.requests == []
    assert asked == [Revalidate(LIST_KEY, ListReq(MOD, MOD), CFG)]
    # The refresh, run later, asks the upstream and stores the new list at its own time.
    assert run_refresh(asked[0], store=store, upstream=upstream, now=1101) == ""
    assert upstream.requests == [LIST]
    assert store.get(LIST_KEY) == NEW
    assert store.stat(LIST_KEY).mtime == 1101
    status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=1102
    )
    assert (status, body) == (200, NEW) and headers["cache-status"] == "goproxy; hit; ttl=59"


def test_exchange_runs_the_refresh_after_the_reply(store, upstream):
    _cached(store, upstream)
    status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=1100
    )
    assert (status, body) == (200, OLD) and "revalidating" in headers["cache-status"]
    assert upstream.requests == [LIST] and store.get(LIST_KEY) == NEW


def test_past_max_stale_is_fetched_in_the_foreground(store, upstream):
    _cached(store, upstream)
    asked: list[Revalidate] = []
    status, headers, body = get(
        f"/{MOD}/@v/list",
        store=store,
        upstream=upstream,
        config=CFG,
        now=1000 + 60 + 600,
        revalidations=asked,
    )
    assert (status, body) == (200, NEW)
    assert headers["cache-status"] == "goproxy; fwd=stale; stored"
    assert asked == [] and upstream.requests == [LIST]


def test_past_max_stale_and_upstream_failing_serves_the_old_answer(store, upstream):
    _cached(store, upstream)
    upstream.routes[LIST] = (500, b"boom")
    status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=5000
    )
    assert (status, body) == (200, OLD)
    assert headers["cache-status"] == 'goproxy; hit; fwd=stale; detail="upstream failed"'
    assert headers["warning"] == '110 - "Response is Stale"'


def test_max_stale_zero_keeps_foreground_fetches(store, upstream):
    config = ProxyConfig(upstream=UP, list_ttl=60, max_stale=0)
    _cached(store, upstream, config)
    asked: list[Revalidate] = []
    status, headers, body = get(
        f"/{MOD}/@v/list",
        store=store,
        upstream=upstream,
        config=config,
        now=1061,
        revalidations=asked,
    )
    assert (status, body) == (200, NEW) and "fwd=stale; stored" in headers["cache-status"]
    assert asked == [] and upstream.requests == [LIST]


@pytest.mark.parametrize(
    "failure",
    [(500, b"boom"), (404, b"gone"), UpstreamResult(status=0, error="timeout", timeout=True)],
    ids=["500", "404", "timeout"],
)
def test_refresh_failure_keeps_the_old_answer_and_its_time(store, upstream, failure):
    _cached(store, upstream)
    upstream.routes[LIST] = failure
    asked: list[Revalidate] = []
    get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=1100, revalidations=asked
    )
    why = run_refresh(asked[0], store=store, upstream=upstream, now=1100)
    assert why  # one line saying why, for the log
    assert "\n" not in why
    assert store.get(LIST_KEY) == OLD and store.stat(LIST_KEY).mtime == 1000
    assert store.keys() == [LIST_KEY]  # nothing else: no not-found remembered


def test_refresh_of_bad_data_stores_nothing(store):
    upstream = ScriptedUpstream({LATEST: (200, INFO10, "application/json")})
    get(f"/{MOD}/@latest", store=store, upstream=upstream, config=CFG, now=1000)
    upstream.routes[LATEST] = (200, b"not json", "application/json")
    asked: list[Revalidate] = []
    _status, headers, body = get(
        f"/{MOD}/@latest", store=store, upstream=upstream, config=CFG, now=1100, revalidations=asked
    )
    assert json.loads(body)["Version"] == "v1.0.0" and "revalidating" in headers["cache-status"]
    assert asked[0].request == LatestReq(MOD, MOD)
    assert "bad data" in run_refresh(asked[0], store=store, upstream=upstream, now=1100)
    assert store.get(f"{MOD}/@latest") == INFO10


def test_latest_is_refreshed_in_the_background(store):
    upstream = ScriptedUpstream({LATEST: (200, INFO10, "application/json")})
    get(f"/{MOD}/@latest", store=store, upstream=upstream, config=CFG, now=1000)
    upstream.routes[LATEST] = (200, INFO11, "application/json")
    _status, headers, body = get(
        f"/{MOD}/@latest", store=store, upstream=upstream, config=CFG, now=1100
    )
    assert json.loads(body)["Version"] == "v1.0.0" and "revalidating" in headers["cache-status"]
    _status, headers, body = get(
        f"/{MOD}/@latest", store=store, upstream=upstream, config=CFG, now=1101
    )
    assert json.loads(body)["Version"] == "v1.1.0" and "ttl=" in headers["cache-status"]


def test_query_is_refreshed_in_the_background_with_its_version_info(store):
    upstream = ScriptedUpstream({QUERY: (200, INFO10, "application/json")})
    get(f"/{MOD}/@v/main.info", store=store, upstream=upstream, config=CFG, now=1000)
    upstream.routes[QUERY] = (200, INFO11, "application/json")
    _status, headers, body = get(
        f"/{MOD}/@v/main.info", store=store, upstream=upstream, config=CFG, now=1100
    )
    assert json.loads(body)["Version"] == "v1.0.0" and "revalidating" in headers["cache-status"]
    assert store.get(f"{MOD}/@v/main.info") == INFO11
    # The resolved version's own .info is kept under its name, as a foreground fetch does.
    assert store.get(f"{MOD}/@v/v1.1.0.info") == INFO11


def test_ttl_zero_answers_max_age_zero(store, upstream):
    config = ProxyConfig(upstream=UP, list_ttl=0, max_stale=600)
    _cached(store, upstream, config)
    _status, headers, body = get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=config, now=1001
    )
    assert body == OLD and headers["cache-control"] == "public, max-age=0"


def test_refresh_reports_a_store_that_failed(store, upstream):
    _cached(store, upstream)
    asked: list[Revalidate] = []
    get(
        f"/{MOD}/@v/list", store=store, upstream=upstream, config=CFG, now=1100, revalidations=asked
    )
    store.fail_writes = True
    assert run_refresh(asked[0], store=store, upstream=upstream, now=1100) == (
        "the cache failed to store it"
    )


def test_refresh_of_something_not_mutable_is_refused():
    flow = handle_refresh(CompiledConfig(CFG), HealthReq(ready=False), 0.0)
    with pytest.raises(StopIteration) as stop:
        next(flow)
    assert "not a list, @latest or query" in stop.value.value


def test_negative_max_stale_is_refused():
    with pytest.raises(ConfigError, match="max-stale"):
        CompiledConfig(ProxyConfig(max_stale=-1))
