"""Prefetch with the real go command: through a cold proxy in front of a slow upstream, the
proxy asks the upstream for the next wave's ``.mod`` files before the go command asks for them
(so the go command's requests for them are store hits), without asking the upstream for any
``.mod`` twice, and ``go mod download`` prints exactly the same with prefetch on and off."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from serving import go_env, run_go, serving

from support import bench_module

ACCESS = re.compile(
    r"goproxy\.access GET (/\S+) (\d+) \d+ (.*) [\d.]+ms id=\S+(?: upstream=\S+)?$", re.M
)


@pytest.fixture(scope="module")
def coldgraph():
    with bench_module("coldgraph", "coldgraph_go") as module:
        yield module


def _download(graph, url: str, home: Path) -> str:
    code, out, err = run_go(["mod", "download", "-json"], go_env(home, url), graph.project)
    assert code == 0, err
    docs = [json.loads(d) for d in out.replace("}\n{", "}\x00{").split("\x00") if d.strip()]
    for d in docs:
        for k in ("Info", "GoMod", "Zip", "Dir"):
            d[k] = d[k].replace(str(home), "HOME")
    return json.dumps(docs, sort_keys=True)


def test_the_next_wave_is_fetched_before_the_go_command_asks(coldgraph, tmp_path):
    graph = coldgraph.build_graph(tmp_path, modules=30, layers=5, zip_size=2000)
    outputs, mod_hits = {}, {}
    with coldgraph.SlowUpstream(graph.tree, latency=0.05) as up:
        outputs["straight"] = _download(graph, up.url, tmp_path / "home-straight")
        for prefetch in ("true", "false"):
            up.requests.clear()
            log = tmp_path / f"proxy-{prefetch}.log"
            with serving(
                "--upstream",
                up.url,
                cache=tmp_path / f"cache-{prefetch}",
                log=log,
                env={"GOPROXY_CORE_PREFETCH": prefetch},
            ) as served:
                outputs[prefetch] = _download(graph, served.url, tmp_path / f"home-{prefetch}")
            asked = collections.Counter(p for p in up.paths() if p.endswith(".mod"))
            # The prefetch and the go command share one fetch of a .mod: the go command
            # follows it, is handed its body in the moment between its landing and its being
            # stored (``Flights.keep``), or finds it stored.
            assert asked and max(asked.values()) == 1, asked.most_common(3)
            text = log.read_text()
            mod_hits[prefetch] = [
                path
                for path, status, cache in ACCESS.findall(text)
                if path.endswith(".mod") and status == "200" and cache == "goproxy; hit"
            ]
            if prefetch == "true":
                summary = re.findall(r"prefetch: started (\d+), stored (\d+).* hits (\d+)", text)
                assert summary, text[-2000:]
                started, stored, hits = map(int, summary[-1])
                assert stored > 0 and hits > 0 and started >= stored
    # Without prefetch a cold proxy has no .mod in store before the go command asks for it;
    # with it, the go command finds later waves' .mod files already stored.
    assert mod_hits["false"] == []
    deep = [
        p for p in mod_hits["true"] if not any(p.startswith(f"/{m}/") for m in graph.modules[:6])
    ]
    assert deep, mod_hits["true"]
    assert outputs["true"] == outputs["false"] == outputs["straight"]
