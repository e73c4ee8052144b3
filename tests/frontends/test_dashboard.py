"""docs/grafana-dashboard.json: valid JSON, and every metric it queries is in a real scrape."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_metrics import _worker
from test_metrics_servers import FETCH, REQUESTS, _request, upstream  # noqa: F401 - a fixture

from goproxy_core import ProxyConfig
from goproxy_stores import DiskStore

from conftest import running

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
NAME = re.compile(r"\b((?:goproxy|process)_[a-z_]+)\b")


def _names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _queries(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_the_dashboard_is_valid_and_queries_only_metrics_a_scrape_has(upstream, tmp_path):  # noqa: F811
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"] and dashboard["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    queried = {name for q in _queries(dashboard) for name in NAME.findall(q)}
    assert len(queried) > 15
    # One process: a server after a known set of requests.
    with running(
        "trio", DiskStore(tmp_path / "cache"), ProxyConfig(upstream=upstream), FETCH
    ) as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path, _, status, cache in REQUESTS:
            _request(c, path, status, cache)
        c.request("GET", "/metrics")
        single = _names(c.getresponse().read().decode())
        c.close()
    # Several workers: their per-process figures.
    (tmp_path / "mp").mkdir()
    workers = _names(_worker(tmp_path / "mp", 1).stdout)
    missing = queried - single - workers
    assert not missing, f"the dashboard queries metrics no scrape has: {sorted(missing)}"
    # Whichever mode, each panel has something to show.
    for panel in dashboard["panels"]:
        names = {n for t in panel["targets"] for n in NAME.findall(t["expr"])}
        assert names & single, panel["title"]


@pytest.mark.parametrize(
    "panel", json.loads(DASHBOARD.read_text())["panels"], ids=lambda p: p["title"]
)
def test_each_panel_names_its_datasource_and_targets(panel):
    assert panel["datasource"]["uid"] == "${datasource}"
    assert panel["targets"]
    for t in panel["targets"]:
        assert t["refId"] and t["expr"].count("(") == t["expr"].count(")")
