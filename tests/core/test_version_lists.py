"""Version list lines read as the go command reads them (cmd/go modfetch/proxy.go ``Versions``),
and lines left out without touching the others."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core.proxy.versions import drop_lines, first_field, latest_from_list, parse_list

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


P1 = "v0.0.0-20240101000000-aaaaaaaaaaaa"
P2 = "v0.0.0-20240202000000-bbbbbbbbbbbb"


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (f"{P1}\n{P2}\n", P2),
        (f"{P2}\n{P1}\n", P2),
        # A line's own time beats the pseudo-version's; tagged lines count only with one.
        (f"{P2} 2024-01-01T00:00:00Z\n{P1} 2024-03-01T00:00:00Z\n", P1),
        (f"v1.0.0\n{P1}\n", P1),
        (f"v1.0.0 2025-01-01T00:00:00Z\n{P1}\n", "v1.0.0"),
        # Times are compared as instants, to the nanosecond, the first of equal ones winning.
        (f"{P1} 2024-01-01T10:00:00+02:00\n{P2} 2024-01-01T09:00:00Z\n", P2),
        (f"{P1} 2024-01-01T00:00:00.000000002Z\n{P2} 2024-01-01T00:00:00,000000001Z\n", P1),
        (f"{P1} 2024-01-01T00:00:00Z\n{P2} 2024-01-01T00:00:00Z\n", P1),
        # A second field that is no RFC 3339 time, or a zero time, counts for nothing.
        (f"{P2} yesterday\n{P1}\n", P1),
        ("v0.0.0-20241301000000-aaaaaaaaaaaa\n", None),
        (f"{P2} 2024-13-01T00:00:00Z\n{P2} 2024-01-01T00:00:00+25:00\n", None),
        (f"{P2} 2024-01-01T00:00:60Z\n{P2} 2024-01-01 00:00:00Z\n", None),
        # Go's generic parse takes a +24:00 zone and any number of fractional digits.
        (f"{P1} 2024-01-02T00:00:00+24:00\n{P2} 2024-01-01T00:00:00.0000000019Z\n", P2),
        (f"{P1} 0001-01-01T00:00:00Z\n", None),
        ("v1.0.0\nv1.1.0\n\nnot-a-version 2024-01-01T00:00:00Z\n", None),
        ("", None),
    ],
)
def test_latest_from_list(body, want):
    assert latest_from_list(body.encode()) == want


@given(
    st.datetimes(
        min_value=datetime.datetime(1, 1, 2),
        max_value=datetime.datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [datetime.UTC, *(datetime.timezone(datetime.timedelta(minutes=m)) for m in (-754, 330))]
        ),
    )
)
def test_rfc3339_times_order_as_instants(t):
    """The time read from a line orders as the instant it names (against Python's own)."""
    text = t.isoformat().replace("+00:00", "Z")
    earlier = (t - datetime.timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    body = f"{P1} {earlier}\n{P2} {text}\n".encode()
    assert latest_from_list(body) == P2
    assert latest_from_list(f"{P2} {text}\n{P1} {text}\n".encode()) == P2
