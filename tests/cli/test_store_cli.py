"""The ``store`` settings of ``goproxy serve``: a bad URL or endpoint is one line naming the
key, the value and what is expected (exit status 2, no traceback)."""

from __future__ import annotations

import pytest

from serving import goproxy

BASE = ("serve", "--upstream", "off", "--sumdb", "off")
WANT = "want s3://BUCKET[/PREFIX], file:///ABSOLUTE/PATH or memory://"


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--store", "gs://bucket"], {}, f"store: not a store URL (got 'gs://bucket'; {WANT})"),
        (["--store", "s3://"], {}, f"store: an s3 URL needs a bucket (got 's3://'; {WANT})"),
        (
            [],
            {"GOPROXY_CORE_STORE": "file://relative"},
            f"store: a file URL needs an absolute path (got 'file://relative'; {WANT})",
        ),
        (
            ["--store", "s3://b", "--store-endpoint", "127.0.0.1:9000"],
            {},
            "store-endpoint: not an http(s) URL (got '127.0.0.1:9000'; want http(s)://HOST[:PORT]"
            " of the S3 API)",
        ),
    ],
)
def test_bad_store_settings_are_one_line(tmp_path, args, env, line):
    out = goproxy(*BASE, "--cache-dir", str(tmp_path / "c"), *args, env=env)
    assert (out.returncode, out.stderr, out.stdout) == (2, f"goproxy: {line}\n", "")


def test_memory_store_serves(tmp_path):
    from serving import serving

    with serving("--upstream", "off", "--store", "memory://", cache=tmp_path / "c") as served:
        assert any("cache memory://" in line for line in served.lines), served.lines


def test_readyz_judges_the_object_store(tmp_path):
    """``/readyz`` writes to the store: ready on a working one, a quick 503 naming the store
    on one that is down (a few retries, not minutes)."""
    import time
    import urllib.error
    import urllib.request

    from serving import serving

    dead = ("--store", "s3://bucket", "--store-endpoint", "http://127.0.0.1:9")
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}
    for args, want in ((("--store", "memory://"), 200), (dead, 503)):
        with serving("--upstream", "off", *args, cache=tmp_path / "c", env=env) as served:
            t = time.monotonic()
            try:
                with urllib.request.urlopen(served.url + "/readyz", timeout=30) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            assert status == want, body
            assert time.monotonic() - t < 20
            if want == 503:
                assert b"the store does not accept writes" in body


LEASE_WANT = (
    "want 3 or more seconds (a holder renews its lease every third of it, at most once a second)"
)


@pytest.mark.parametrize(
    ("args", "env", "config", "line"),
    [
        (["--lease-time", "1"], {}, "", f"lease-time: too short (got 1.0; {LEASE_WANT})"),
        (
            [],
            {"GOPROXY_CORE_LEASE_TIME": "0"},
            "",
            f"lease-time: too short (got 0.0; {LEASE_WANT})",
        ),
        ([], {}, "lease-time = 2.5\n", f"lease-time: too short (got 2.5; {LEASE_WANT})"),
    ],
)
def test_a_bad_lease_time_is_one_line(tmp_path, args, env, config, line):
    if config:
        (tmp_path / "g.toml").write_text(config)
        args = [*args, "--config", str(tmp_path / "g.toml")]
    out = goproxy(*BASE, "--cache-dir", str(tmp_path / "c"), "--store", "memory://", *args, env=env)
    assert (out.returncode, out.stderr, out.stdout) == (2, f"goproxy: {line}\n", "")


def test_lease_time_reaches_the_stores_leases(tmp_path):
    from goproxy_cli.settings import load_settings
    from goproxy_cli.stores import open_store
    from goproxy_stores.leases import ObjectLeases

    flags = {"upstream": "off", "sumdb": "off", "store": "memory://"}
    env = {"HOME": str(tmp_path)}
    assert load_settings(flags, environ=env).lease_time == 30.0
    settings = load_settings(flags, environ={**env, "GOPROXY_CORE_LEASE_TIME": "12"})
    assert settings.lease_time == 12.0
    leases = open_store(settings).leases()  # type: ignore[attr-defined]
    assert isinstance(leases, ObjectLeases) and leases.lease_time == 12.0
    assert load_settings({**flags, "lease_time": 45.0}, environ=env).lease_time == 45.0
