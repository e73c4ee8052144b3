"""Upstream lists in GOPROXY syntax."""

from __future__ import annotations

import pytest

from goproxy_core.proxy import ConfigError, UpstreamKind, parse_upstreams

PARSE = [
    ("https://a.example", [("https://a.example", "http", False)]),
    (
        "https://a.example/,http://b.example/mod",
        [("https://a.example", "http", False), ("http://b.example/mod", "http", False)],
    ),
    (
        "a.example|b.example:8080/x",
        [("https://a.example", "http", True), ("https://b.example:8080/x", "http", False)],
    ),
    (
        " a.example , ,off,https://never.example",
        [("https://a.example", "http", False), ("off", "off", False)],
    ),
    ("file:///srv/mods/", [("file:///srv/mods", "file", False)]),
    ("off", [("off", "off", False)]),
    ("localhost:3000", [("https://localhost:3000", "http", False)]),
    ("direct", [("direct", "direct", False)]),
    # As for the go command, "direct" ends the list.
    (
        "https://a.example|direct,https://b.example",
        [("https://a.example", "http", True), ("direct", "direct", False)],
    ),
]


@pytest.mark.parametrize(("spec", "want"), PARSE)
def test_parse(spec, want):
    got = [(u.url, u.kind.value, u.fall_through_on_error) for u in parse_upstreams(spec)]
    assert got == want


BAD = [
    ("", "contains no entries"),
    (" , |", "contains no entries"),
    ("noscheme", "missing scheme"),
    ("/abs/path", "missing scheme"),
    ("ftp://a.example", "must be https, http, file"),
    ("file://host/path", "non-path elements"),
    ("file:///p?x=1", "non-path elements"),
    ("https://", "missing host"),
    ("https://a.example/?q", "query or fragment"),
]


@pytest.mark.parametrize(("spec", "err"), BAD)
def test_parse_errors(spec, err):
    with pytest.raises(ConfigError, match=err.replace("(", r"\(").replace(")", r"\)")):
        parse_upstreams(spec)


def test_public():
    a, b = parse_upstreams("https://a.example,file:///x")
    assert a.is_public and not b.is_public
    assert b.kind is UpstreamKind.FILE
    (d,) = parse_upstreams("direct")
    assert not d.is_public and d.kind is UpstreamKind.DIRECT
