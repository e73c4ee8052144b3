"""The ``goproxy`` command: settings from flags, environment and TOML; serving; shutdown."""

from __future__ import annotations

import http.client

import pytest

from goproxy_cli.settings import SettingsError, go_defaults, go_known_key, load_settings
from goproxy_core import SumdbConfig
from serving import goproxy, serving
from sumdbfix import FixtureDB

ENV = {"HOME": "/nonexistent"}


def test_defaults_and_precedence(tmp_path):
    cfg = tmp_path / "goproxy.toml"
    cfg.write_text('listen = "127.0.0.1:9000"\nupstream = "https://file.example"\nworkers = 3\n')
    env = {**ENV, "GOPROXY_CORE_UPSTREAM": "https://env.example", "GOPROXY_CORE_SUMDB": "off"}
    s = load_settings({"workers": 2, "frontend": None}, environ=env, config_file=str(cfg))
    assert s.listen == "127.0.0.1:9000"  # from the file
    assert s.upstream == "https://env.example"  # the environment beats the file
    assert s.workers == 2  # flags beat both
    assert s.frontend == "trio"
    assert s.sumdb_databases() == ()
    assert s.cache_dir.endswith("goproxy-core")


def test_config_file_from_environment(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'retracted = "gone"\nlist-ttl = 5\nmax-stale = 0\nsumdb = "off"\nupstream = "off"\n'
    )
    s = load_settings({}, environ={**ENV, "GOPROXY_CORE_CONFIG": str(cfg)})
    assert (s.retracted, s.list_ttl, s.max_stale) == ("gone", 5.0, 0.0)
    assert (s.proxy_config().list_ttl, s.proxy_config().max_stale) == (5.0, 0.0)
    s = load_settings({}, environ={**ENV, "GOPROXY_CORE_MAX_STALE": "120"})
    assert s.proxy_config().max_stale == 120.0
    assert load_settings({}, environ=ENV).proxy_config().max_stale == 86400.0


def test_prefetch_settings(tmp_path):
    default = load_settings({}, environ=ENV).proxy_config()
    assert (default.prefetch, default.prefetch_concurrency) == (True, 8)
    cfg = tmp_path / "c.toml"
    cfg.write_text('prefetch = false\nprefetch-concurrency = 2\nsumdb = "off"\n')
    s = load_settings({}, environ=ENV, config_file=str(cfg)).proxy_config()
    assert (s.prefetch, s.prefetch_concurrency) == (False, 2)
    s = load_settings({}, environ={**ENV, "GOPROXY_CORE_PREFETCH": "false"}).proxy_config()
    assert s.prefetch is False
    with pytest.raises(SettingsError, match="prefetch-concurrency: too small"):
        load_settings({}, environ={**ENV, "GOPROXY_CORE_PREFETCH_CONCURRENCY": "0"})


@pytest.mark.parametrize(
    ("toml", "env", "want"),
    [
        ("", {}, 512 << 20),
        ("min-free-space = 0\n", {}, 0),
        ("min-free-space = 4096\n", {}, 4096),
        ("min-free-space = '2G'\n", {}, 2 << 30),
        ("", {"GOPROXY_CORE_MIN_FREE_SPACE": "100M"}, 100 << 20),
        ("", {"GOPROXY_CORE_MIN_FREE_SPACE": "64KiB"}, 64 << 10),
        ("", {"GOPROXY_CORE_MIN_FREE_SPACE": "12345"}, 12345),
    ],
)
def test_min_free_space_takes_bytes_or_suffixes(tmp_path, toml, env, want):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml + "sumdb = 'off'\nupstream = 'off'\n")
    s = load_settings({}, environ={**ENV, **env}, config_file=str(cfg))
    assert s.proxy_config().min_free_space == want
    assert s.proxy_config().failure_ttl == 5.0


@pytest.mark.parametrize(
    ("env", "want", "line"),
    [
        ({}, 0, "quota: max-cache-size unlimited, min-free-space 512M: past either"),
        (
            {"GOPROXY_CORE_MAX_CACHE_SIZE": "10G", "GOPROXY_CORE_PIN": "example.com/keep"},
            10 << 30,
            "max-cache-size 10G, min-free-space 512M",
        ),
        (
            {"GOPROXY_CORE_MAX_CACHE_SIZE": "1536M", "GOPROXY_CORE_MIN_FREE_SPACE": "0"},
            1536 << 20,
            "max-cache-size 1536M, min-free-space 0 (not checked)",
        ),
        ({"GOPROXY_CORE_MIN_FREE_SPACE": "0"}, 0, "quota: off"),
        ({"GOPROXY_CORE_MAX_CACHE_SIZE": "1000"}, 1000, "max-cache-size 1000,"),
    ],
)
def test_quota_settings(env, want, line):
    s = load_settings({}, environ={**ENV, "GOPROXY_CORE_SUMDB": "off", **env})
    cfg = s.proxy_config()
    assert cfg.max_cache_size == want
    assert line in s.quota_summary()
    if "GOPROXY_CORE_PIN" in env:
        assert cfg.pin == "example.com/keep"
        assert "never evicted: pin example.com/keep" in s.quota_summary()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"GOPROXY_CORE_MAX_CACHE_SIZE": "10G"},
            "quota: max-cache-size 10G on the object store, one quota for every replica on it",
        ),
        ({}, "quota: off: max-cache-size unlimited (nothing is evicted)"),
    ],
)
def test_quota_on_an_object_store_ignores_min_free_space(env, line):
    """A bucket has no free space to keep: min-free-space (512M by default, or set) is
    ignored with a note on the quota line, not refused."""
    s = load_settings(
        {"store": "memory://"},
        environ={**ENV, "GOPROXY_CORE_SUMDB": "off", "GOPROXY_CORE_MIN_FREE_SPACE": "1G", **env},
    )
    summary = s.quota_summary()
    assert summary.startswith(line), summary
    assert summary.endswith("; min-free-space does not apply to an object store (ignored)")


def test_negative_min_free_space_is_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("min-free-space = -1\nsumdb = 'off'\n")
    with pytest.raises(SettingsError, match="min-free-space: negative"):
        load_settings({}, environ=ENV, config_file=str(cfg))


@pytest.mark.parametrize(
    ("toml", "env", "err"),
    [
        ("lisen = 'x'\n", {}, "lisen"),
        ("", {"GOPROXY_CORE_LISEN": "x"}, "GOPROXY_CORE_LISEN"),
        ("workers = 'many'\n", {}, "workers"),
        ("", {"GOPROXY_CORE_WORKERS": "many"}, "workers"),
        ("", {"GOPROXY_CORE_ACCESS_LOG": "maybe"}, "access-log"),
        ("frontend = 'tornado'\n", {}, "frontend"),
        ("listen = 'nohost'\n", {}, "listen"),
        ("upstream = 'ftp://x.example'\n", {}, "scheme"),
        ("not toml [", {}, "TOML"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, toml, env, err):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml + "sumdb = 'off'\n" if "sumdb" not in toml and "[" not in toml else toml)
    with pytest.raises(SettingsError, match=err):
        load_settings({}, environ={**ENV, **env}, config_file=str(cfg))


def test_missing_config_file():
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({}, environ=ENV, config_file="/nonexistent/x.toml")


def test_sumdb_takes_verifier_keys():
    a, b = FixtureDB("sum.example"), FixtureDB("other.example", seed=b"o" * 32)
    s = load_settings(
        {
            "upstream": "file:///srv,https://up.example",
            "sumdb": f"{a.vkey}, {b.vkey}=https://db.example",
            "nosumdb": "corp.example",
        },
        environ=ENV,
    )
    assert s.sumdb_databases() == (
        SumdbConfig("sum.example", a.vkey, ""),
        SumdbConfig("other.example", b.vkey, "https://db.example"),
    )
    assert s.proxy_config().nosumdb == "corp.example"
    line = s.verification_summary()
    assert a.vkey in line and "nosumdb corp.example" in line
    assert "off" in load_settings({"sumdb": "off"}, environ=ENV).verification_summary()


def test_sumdb_bare_name_needs_a_known_key():
    with pytest.raises(
        SettingsError, match=r"no verifier key known for this name .*got 'nokey\.example'"
    ):
        load_settings({"sumdb": "nokey.example", "upstream": "off"}, environ=ENV)
    with pytest.raises(SettingsError, match="want name"):
        load_settings({"sumdb": "sum.example+x=ftp://x", "upstream": "off"}, environ=ENV)
    with pytest.raises(SettingsError, match="invalid verifier key"):
        load_settings({"sumdb": "sum.example+1+AAAA", "upstream": "off"}, environ=ENV)


def test_bare_name_reads_the_go_installation_key():
    # The go toolchain's default database: its key is the one built into the go command.
    _, name = go_defaults()
    assert name, "the go command names a default checksum database"
    key = go_known_key(name)
    assert key is not None and key.startswith(name + "+")
    s = load_settings({"sumdb": f"{name}=https://db.example", "upstream": "off"}, environ=ENV)
    assert s.sumdb_databases() == (SumdbConfig(name, key, "https://db.example"),)


def test_go_defaults_never_name_direct_or_off():
    upstream, _ = go_defaults()
    assert "direct" not in upstream and "off" not in upstream.split(",")


def _healthz(port: int) -> tuple[int, bytes, http.client.HTTPConnection]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/healthz")
    r = c.getresponse()
    return r.status, r.read(), c


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_serve_and_sigterm_drains_with_exit_0(tmp_path, frontend):
    with serving("--upstream", "off", "--frontend", frontend, cache=tmp_path / "cache") as s:
        status, body, c = _healthz(s.port)
        assert (status, body) == (200, b"ok\n")
        # an idle keep-alive connection must not hold the shutdown up
        s.stop(timeout=15)
        c.close()


def test_workers_share_one_port(tmp_path):
    args = ("--upstream", "off", "--workers", "2", "--frontend", "sockets")
    with serving(*args, cache=tmp_path / "cache") as s:
        for _ in range(4):
            status, _, c = _healthz(s.port)
            assert status == 200
            c.close()


def test_version_and_bad_flag():
    out = goproxy("--version")
    assert out.returncode == 0 and out.stdout.startswith("goproxy-core ")
    out = goproxy("serve", "--upstream", "ftp://x.example")
    assert out.returncode == 2 and "ftp://x.example" in out.stderr
