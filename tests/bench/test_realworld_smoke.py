"""bench/realworld.py end to end against a LOCAL upstream (coldgraph's generated graph): every
mode runs, the go command prints the same modules in each, the report holds every mode.

No network and no timing asserted; the benchmark itself is ``python bench/realworld.py``.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from support import bench_module


@pytest.fixture(scope="module")
def realworld():
    with bench_module("realworld") as module:
        yield module


@pytest.fixture
def graph(realworld, tmp_path):
    g = realworld.coldgraph.build_graph(tmp_path, modules=8, layers=2, zip_size=2000)
    (g.project / "go.sum").write_text("")
    return g


def fake_athens(tmp_path):
    """A stand-in for an Athens binary: reads Athens' settings from its environment and serves
    with ``goproxy serve`` (no Athens on this machine; this proves the script's plumbing)."""
    script = tmp_path / "athens"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            """\
            import os
            import sys

            assert os.environ["ATHENS_STORAGE_TYPE"] == "disk"
            env = dict(os.environ, GOPROXY_CORE_SUMDB="off")
            go_vars = os.environ["ATHENS_GO_BINARY_ENV_VARS"].split(";")
            upstream = dict(v.split("=", 1) for v in go_vars)["GOPROXY"]
            cmd = [sys.executable, "-m", "goproxy_cli", "serve", "--upstream", upstream]
            cmd += ["--listen", os.environ["ATHENS_PORT"]]
            cmd += ["--cache-dir", os.environ["ATHENS_DISK_STORAGE_ROOT"]]
            os.execve(sys.executable, cmd, env)
            """
        )
    )
    script.chmod(0o755)
    return script


def test_every_mode_against_a_local_upstream(realworld, graph, tmp_path, capsys, monkeypatch):
    with realworld.coldgraph.SlowUpstream(graph.tree, latency=0.002, rate=100e6) as up:
        monkeypatch.setenv("GOPROXY_BENCH_UPSTREAM", up.url)
        argv = ["--project", str(graph.project), "--sumdb", "off", "--rounds", "1"]
        assert realworld.main([*argv, "--athens", str(fake_athens(tmp_path))]) == 0
        asked = up.paths()
    out = capsys.readouterr().out
    for mode in ("direct", "cold", "warm", "file", "athens cold", "athens warm"):
        assert f"| {mode} |" in out
    assert "| goproxy-core (trio) |" in out and "| athens |" in out
    assert "8 modules in the build list, 8 zips" in out
    # direct, the cold proxy and the cold "athens" each fetched every zip from the upstream
    assert sum(p.endswith(".zip") for p in asked) == 3 * 8


def test_rounds_rotate_and_outputs_must_match(realworld, graph, tmp_path):
    with realworld.coldgraph.SlowUpstream(graph.tree, latency=0.0, rate=100e6) as up:
        res = realworld.bench_realworld(
            graph.project, up.url, tmp_path, sumdb="off", rounds=2, progress=str
        )
    assert res.orders == [["direct", "goproxy", "file"], ["goproxy", "file", "direct"]]
    assert all(len(v) == 2 for v in res.seconds.values())
    (run, _) = res.proxies["goproxy"]
    assert run.stored > 0 and run.rss_mib > 0 and run.cold_cpu > 0
    table = realworld.report(res, "trio", "off")
    assert "| direct | " in table and "1.00x |" in table


def test_the_go_command_output_is_parsed_and_errors_fail(realworld):
    text = '{"Path": "a.test/m", "Version": "v1.0.0", "Sum": "h1:x", "GoModSum": "h1:y"}\n{\n}'
    with pytest.raises(KeyError):
        realworld.parse_download_json(text)
    ok = '{"Path": "a.test/m", "Version": "v1.0.0", "Sum": "h1:x", "GoModSum": "h1:y"}\n'
    assert realworld.parse_download_json(ok * 2) == {("a.test/m", "v1.0.0", "h1:x", "h1:y")}
    bad = '{"Path": "a.test/m", "Version": "v1.0.0", "Error": "410 Gone"}'
    with pytest.raises(RuntimeError, match="410 Gone"):
        realworld.parse_download_json(bad)
