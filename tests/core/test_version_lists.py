"""Version list lines read as the go command reads them (cmd/go modfetch/proxy.go ``Versions``),
and lines left out without touching the others."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core.proxy.versions import drop_lines, first_field, parse_list

VERSIONS = [
    "v1.0.0",
    "v1.1.0",
    "v2.0.0+incompatible",
    "v1.2.0-pre",
    "v1.0",
    "v0.0.0-20240101000000-abcdefabcdef",
]
PIECES = st.sampled_from(
    [*VERSIONS, " ", "\t", "\r", "\n", "\x1c", "\x85", "\u3000", "x", "2024-01-01T00:00:00Z"]
)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.lists(PIECES, max_size=30).map(lambda xs: "".join(xs).encode()),
)


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b"v1.0.0\nv1.1.0\n", ["v1.0.0", "v1.1.0"]),
        (b"v1.0.0 2024-01-01T00:00:00Z\n  v1.1.0\textra\n", ["v1.0.0", "v1.1.0"]),
        # Lines end at \n only; \r, \v, \f, U+0085 and U+3000 separate fields (Go's
        # unicode.IsSpace), U+001C..U+001F do not (Python's str.split would split there).
        (b"v1.0.0\rv1.1.0\nv1.2.0\n", ["v1.0.0", "v1.2.0"]),
        (b"v1.0.0\x1cv1.1.0\nv1.2.0\xc2\x85x\n", ["v1.2.0"]),
        (b"v1.0.0\xe3\x80\x80x\n", ["v1.0.0"]),
        # Pseudo-versions, invalid semver and repeats are not versions of the list.
        (b"v0.0.0-20240101000000-abcdefabcdef\nv1\nnot\nv1.0.0\nv1.0.0\n", ["v1", "v1.0.0"]),
        (b"\xff\xfe\nv1.0.0\n", ["v1.0.0"]),
    ],
)
def test_parse_list_reads_lines_as_the_go_command(body, want):
    assert parse_list(body) == want


def test_first_field():
    assert first_field(b"  v1.0.0 2024") == "v1.0.0"
    assert first_field(b" \t\r") == ""


@given(BODIES)
def test_dropping_nothing_keeps_every_byte(body):
    assert drop_lines(body, lambda v: False) == body


@given(BODIES, st.sets(st.sampled_from(VERSIONS)))
def test_dropped_lines_leave_the_rest_as_sent(body, dropped):
    got = drop_lines(body, lambda v: v in dropped)
    # The input's own lines, in order, with their \n, minus those of dropped versions.
    lines = body.split(b"\n")
    assert got == b"\n".join(line for line in lines if first_field(line) not in dropped)
    assert parse_list(got) == [v for v in parse_list(body) if v not in dropped]
