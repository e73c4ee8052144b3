"""``endpoint_of``: what a request target names, for logs, metrics and last use; never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import ENDPOINT_KINDS, Endpoint, endpoint_of


@pytest.mark.parametrize(
    ("target", "want"),
    [
        ("/example.com/m/@v/list", Endpoint("list", "example.com/m")),
        ("/example.com/!m/@v/v1.0.0.zip", Endpoint("zip", "example.com/M", "v1.0.0")),
        ("/example.com/m/@v/v1.0.0.mod", Endpoint("mod", "example.com/m", "v1.0.0")),
        ("/example.com/m/@v/v1.0.0.info", Endpoint("info", "example.com/m", "v1.0.0")),
        ("/example.com/m/@v/main.info", Endpoint("query", "example.com/m", "main")),
        ("/example.com/m/@v/v1.2.info?x=1", Endpoint("query", "example.com/m", "v1.2")),
        ("/example.com/m/@latest", Endpoint("latest", "example.com/m")),
        (
            "/sumdb/sum.test/lookup/example.com/!m@v1.0.0",
            Endpoint("sumdb-lookup", "example.com/M", "v1.0.0"),
        ),
        ("/sumdb/sum.test/tile/8/0/001", Endpoint("sumdb-tile")),
        ("/sumdb/sum.test/latest", Endpoint("sumdb-latest")),
        ("/sumdb/sum.test/supported", Endpoint("sumdb-supported")),
        ("/healthz", Endpoint("health")),
        ("/readyz", Endpoint("health")),
        ("/", Endpoint("index")),
        ("/catalog", Endpoint("catalog")),
        ("/catalog?q=x&n=5", Endpoint("catalog")),
        ("/-/module/example.com/!m", Endpoint("catalog", "example.com/M")),
        ("/-/other", Endpoint("other")),
        ("/catalog?n=0", Endpoint("other")),
        ("/bad%zz", Endpoint("other")),
        ("/example.com/m/@v/v1.0.0.tar", Endpoint("other")),
        ("example.com/m/@v/list", Endpoint("other")),
    ],
)
def test_endpoint_of(target: str, want: Endpoint) -> None:
    assert endpoint_of(target) == want
    assert endpoint_of(target.encode()) == want


def test_endpoint_of_a_base_path() -> None:
    assert endpoint_of("/mod/example.com/m/@v/list", "/mod") == Endpoint("list", "example.com/m")
    assert endpoint_of("/example.com/m/@v/list", "/mod").kind == "other"


@given(st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_endpoint_of_never_raises_and_its_kind_is_known(target: str | bytes) -> None:
    assert endpoint_of(target).kind in ENDPOINT_KINDS
