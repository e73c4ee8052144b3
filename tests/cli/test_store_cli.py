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
        (
            ["--store", "memory://", "--own-sumdb", "sum.example.com"],
            {},
            "own-sumdb: its log is kept in the cache dir, not yet in an object store (got "
            "'sum.example.com'; want no own-sumdb with a store URL)",
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
