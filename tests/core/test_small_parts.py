"""Small building blocks: cache keys and freshness, config checks, Go quoting, .info checks."""

from __future__ import annotations

import datetime

import pytest

from goproxy_core import (
    BadRequestError,
    BadUpstreamError,
    ConfigError,
    InvalidPathError,
    InvalidVersionError,
    LocalProtocolError,
    ModFileError,
    NotFoundError,
    ProxyError,
    ZipError,
    error_reply,
    error_status,
    parse_gomod,
)
from goproxy_core.direct import (
    CodeRepoError,
    DirectError,
    RepoFileError,
    RepoResolveError,
    UnsupportedVCSError,
)
from goproxy_core.errors import go_quote
from goproxy_core.module import InvalidEscapedPathError
from goproxy_core.proxy import (
    CompiledConfig,
    ProxyConfig,
    SumdbConfig,
    encode_info,
    is_fresh,
    key_for,
    negative_key,
    parse_target,
    remaining_ttl,
    validate_info,
)
from goproxy_core.sumdb import (
    DirHashError,
    InvalidKeyError,
    MalformedNoteError,
    MalformedTilePathError,
    NoteError,
    TlogError,
)
from sumdbfix import FixtureDB

KEYS = [
    (b"/example.com/!m/@v/list", "example.com/!m/@v/list"),
    (b"/example.com/!m/@latest", "example.com/!m/@latest"),
    (b"/example.com/!m/@v/v1.0.0-!p.zip", "example.com/!m/@v/v1.0.0-!p.zip"),
    (b"/sumdb/sum.example/tile/8/0/000", "sumdb/sum.example/tile/8/0/000"),
]


@pytest.mark.parametrize(("target", "key"), KEYS)
def test_keys_are_the_escaped_goproxy_layout(target, key):
    assert key_for(parse_target(target)) == key


def test_freshness():
    assert is_fresh(100.0, 150.0, 60.0)
    assert not is_fresh(100.0, 160.0, 60.0)
    assert not is_fresh(300.0, 100.0, 60.0)  # far in the future: clock trouble
    assert remaining_ttl(100.0, 150.0, 60.0) == 10
    assert remaining_ttl(100.0, 500.0, 60.0) == 0
    assert negative_key("a/@v/list") == "_goproxy/notfound/a/@v/list"


def test_config_checks():
    with pytest.raises(ConfigError, match="base path"):
        CompiledConfig(ProxyConfig(base_path="mod"))
    with pytest.raises(ConfigError, match="TTL"):
        CompiledConfig(ProxyConfig(list_ttl=-1))
    db = FixtureDB("sum.example")
    cfg = CompiledConfig(ProxyConfig(upstream="off", sumdb=(SumdbConfig("sum.example", db.vkey),)))
    assert cfg.lookups_off
    assert list(cfg.sumdb) == ["sum.example"]
    assert cfg.sumdb["sum.example"].url == ""
    assert cfg.sumdb_for("example.com/m") is cfg.sumdb["sum.example"]
    with pytest.raises(ConfigError, match=r"is for sum\.example, not other\.example"):
        CompiledConfig(ProxyConfig(sumdb=(SumdbConfig("other.example", db.vkey),)))
    with pytest.raises(ConfigError, match="invalid verifier key"):
        CompiledConfig(ProxyConfig(sumdb=(SumdbConfig("sum.example", "sum.example+1+x"),)))
    with pytest.raises(ConfigError, match="listed twice"):
        CompiledConfig(ProxyConfig(sumdb=(SumdbConfig("sum.example", db.vkey),) * 2))
    with pytest.raises(ConfigError, match="verify-before-send"):
        CompiledConfig(ProxyConfig(verify_before_send=-1))
    cfg = CompiledConfig(
        ProxyConfig(
            sumdb=(SumdbConfig("sum.example", db.vkey),),
            private="corp.example",
            nosumdb="x.example",
        )
    )
    assert cfg.sumdb_for("corp.example/m") is None
    assert cfg.sumdb_for("x.example/m") is None
    assert cfg.sumdb_for("example.com/m") is not None
    assert not CompiledConfig(ProxyConfig(upstream="https://a.example")).lookups_off


QUOTES = [
    ("abc", '"abc"'),
    ('a"b\\c', '"a\\"b\\\\c"'),
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
    ("\x00\x7f", '"\\x00\\x7f"'),
    ("é\u00a0", '"é\\u00a0"'),
    ("\U000e0001", '"\\U000e0001"'),
    ("\udcff", '"\\xff"'),
    ("\ud800", '"\\ufffd"'),
]


@pytest.mark.parametrize(("s", "want"), QUOTES)
def test_go_quote(s, want):
    assert go_quote(s) == want


ERROR_STATUSES = [
    (InvalidPathError("module", "a", "bad"), 404),
    (InvalidEscapedPathError("A"), 404),
    (InvalidVersionError("v1", "bad"), 404),
    (NotFoundError("no"), 404),
    (MalformedTilePathError("tile/x"), 404),
    (BadRequestError("bad"), 400),
    (BadUpstreamError("bad"), 502),
    (ZipError("bad"), 502),
    (DirHashError("bad"), 502),
    (NoteError("bad"), 502),
    (MalformedNoteError(), 502),
    (TlogError("bad"), 502),
    (InvalidKeyError("bad"), 500),
    (ConfigError("bad"), 500),
    (ProxyError("bad"), 500),
    (RepoResolveError("bad"), 404),
    (UnsupportedVCSError("hg"), 404),
    (RepoFileError("big"), 404),
    (CodeRepoError("bad"), 404),
    (DirectError("bad"), 404),
]


@pytest.mark.parametrize(("error", "status"), ERROR_STATUSES)
def test_error_status_table(error, status):
    assert not hasattr(error, "status")
    assert error_status(error) == status
    reply = error_reply(error, cache_control="public, max-age=5")
    assert (reply.status, reply.body, reply.cache_control) == (
        status,
        str(error).encode() + b"\n",
        "public, max-age=5",
    )


def test_modfile_errors_are_upstream_faults():
    with pytest.raises(ModFileError) as info:
        parse_gomod(b"module (", strict=True)
    assert error_status(info.value) == 502


def test_local_protocol_error_is_no_proxy_error():
    # A frontend's misuse of the core must never become a 5xx reply through a catch-all.
    assert not issubclass(LocalProtocolError, ProxyError)


INFO_OK = [
    b'{"Version":"v1.0.0"}',
    b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03-07:00"}',
    b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03.123456789Z","Origin":{"VCS":"git"}}',
    # What Go's time.Parse(time.RFC3339, …) takes beyond the RFC, and time.Time's
    # UnmarshalJSON with it: a one-digit hour, a comma, more than nine digits, a 24-hour zone.
    b'{"Version":"v1.0.0","Time":"2019-05-07T7:31:03Z"}',
    b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03,5Z"}',
    b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03.1234567891234Z"}',
    b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03+24:00"}',
]
INFO_BAD = [
    (b'{"Version":"v1.0.0","Time":"2019-13-07T07:31:03Z"}', "RFC 3339"),
    (b'{"Version":"v1.0.0","Time":"2019-05-07 07:31:03"}', "RFC 3339"),
    (b'{"Version":"v1.0.0","Time":"2019-02-29T07:31:03Z"}', "RFC 3339"),
    (b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:60Z"}', "RFC 3339"),
    (b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03+25:00"}', "RFC 3339"),
    (b'{"Version":"v1.0.0","Time":"2019-05-07T07:31:03z"}', "RFC 3339"),
    (b'{"Version":"v1.0.0+meta"}', "non-canonical"),
    (b'{"Version":"master"}', "non-canonical"),
    (b'{"Version":""}', "non-canonical"),
]


@pytest.mark.parametrize("body", INFO_OK)
def test_info_ok(body):
    assert validate_info("example.com/m", body, requested="v1.0.0").Version == "v1.0.0"


@pytest.mark.parametrize(("body", "err"), INFO_BAD)
def test_info_bad(body, err):
    with pytest.raises(BadUpstreamError, match=err):
        validate_info("example.com/m", body, requested=None)


def test_latest_info_may_name_a_version_the_path_does_not_allow():
    """The go command takes @latest's v2.0.0 for a path without /v2 as said (checked with
    go1.26 over a file:// tree); only a non-canonical version fails it."""
    assert (
        validate_info("example.com/m", b'{"Version":"v2.0.0"}', requested=None).Version == "v2.0.0"
    )


def test_encode_info():
    t = datetime.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert encode_info("v1.0.0", t) == b'{"Version":"v1.0.0","Time":"2024-01-02T01:04:05Z"}'
    assert encode_info("v1.0.0", None) == b'{"Version":"v1.0.0"}'


def test_store_failures_are_named_as_the_cache_s():
    from goproxy_core.errors import StoreError, StoreFullError, StoreNameError
    from goproxy_core.proxy.replies import REASONS, error_status, store_error

    for kind, cls, status in [
        ("full", StoreFullError, 507),
        ("name", StoreNameError, 414),
        ("failed", StoreError, 503),
    ]:
        e = store_error("cache /c: why", kind)
        assert type(e) is cls
        assert error_status(e) == status
        assert status in REASONS
