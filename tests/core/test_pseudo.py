"""Pseudo-versions: x/mod pseudo_test.go tables, computed checks and round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import InvalidVersionError, error_status, semver
from goproxy_core.module import (
    PSEUDO_VERSION_TIMESTAMP_FORMAT,
    dec_decimal,
    format_pseudo_timestamp,
    inc_decimal,
    is_pseudo_version,
    is_zero_pseudo_version,
    parse_pseudo_timestamp,
    pseudo_version,
    pseudo_version_base,
    pseudo_version_rev,
    pseudo_version_time,
    zero_pseudo_version,
)

from support import load_vector

PSEUDO = load_vector("pseudo.json")


def _utc(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


ROWS = PSEUDO["pseudo_version"]


@pytest.mark.parametrize("case", ROWS, ids=[c["version"] for c in ROWS])
def test_pseudo_version(case):
    major = "" if case["older"] else case["major"]
    if case["older"]:
        # "major" is only consulted when there is no base tag.
        assert (
            pseudo_version(case["major"], case["older"], _utc(case["time"]), case["rev"])
            == (case["version"])
        )
    v = pseudo_version(major, case["older"], _utc(case["time"]), case["rev"])
    assert v == case["version"]
    assert is_pseudo_version(v) is case["is_pseudo"]
    assert is_pseudo_version(case["older"]) is case["older_is_pseudo"]

    assert case["time_err"] is None
    t = pseudo_version_time(v)
    assert t == _utc(case["parsed_time"])
    assert t.tzinfo is UTC
    assert case["rev_err"] is None
    assert pseudo_version_rev(v) == case["parsed_rev"]
    assert case["base_err"] is None
    assert pseudo_version_base(v) == case["parsed_base"] == case["older"]

    with pytest.raises(InvalidVersionError) as exc:
        pseudo_version_time(case["older"])
    assert str(exc.value) == case["older_time_err"]
    assert exc.value.pseudo is True


INVALID_BASE = PSEUDO["invalid_base"]


@pytest.mark.parametrize("case", INVALID_BASE, ids=[c["version"] for c in INVALID_BASE])
def test_invalid_pseudo_version_base(case):
    assert is_pseudo_version(case["version"]) is case["is_pseudo"]
    with pytest.raises(InvalidVersionError) as exc:
        pseudo_version_base(case["version"])
    assert str(exc.value) == case["err"]
    assert exc.value.version == case["version"]
    assert error_status(exc.value) == 404


def test_invalid_time():
    case = PSEUDO["invalid_time"]
    with pytest.raises(InvalidVersionError) as exc:
        pseudo_version_time(case["version"])
    assert str(exc.value) == case["err"]
    with pytest.raises(InvalidVersionError, match="syntax error"):
        pseudo_version_rev(case["version"])


@pytest.mark.parametrize(
    ("v", "stamp"),
    [
        ("v0.0.0-20061302150405-abcdef123456", "20061302150405"),  # month 13
        ("v0.0.0-20070229150405-abcdef123456", "20070229150405"),  # not a leap year
        ("v1.2.4-0.20060102250405-abcdef123456", "20060102250405"),  # hour 25
        ("v1.2.3-pre.0.20060102156005-abcdef123456", "20060102156005"),  # minute 60
        ("v0.0.0-20060102150460-abcdef123456", "20060102150460"),  # second 60
        ("v0.0.0-00000101000000-abcdef123456", "00000101000000"),  # year 0: Go accepts, we can't
    ],
)
def test_malformed_time(v, stamp):
    assert is_pseudo_version(v)
    with pytest.raises(InvalidVersionError) as exc:
        pseudo_version_time(v)
    assert str(exc.value) == f'pseudo-version "{v}" invalid: malformed time "{stamp}"'


def test_leap_day_is_a_time():
    assert pseudo_version_time("v0.0.0-20080229235959-abcdef123456") == datetime(
        2008, 2, 29, 23, 59, 59, tzinfo=UTC
    )


@pytest.mark.parametrize("stamp", ["2006010215040", "200601021504050", "2006010215040x", "٢" * 14])
def test_parse_pseudo_timestamp_rejects_non_stamps(stamp):
    assert parse_pseudo_timestamp(stamp) is None


INC = PSEUDO["inc_decimal"]
DEC = PSEUDO["dec_decimal"]


@pytest.mark.parametrize("case", INC, ids=[c["in"] for c in INC])
def test_inc_decimal(case):
    assert inc_decimal(case["in"]) == case["want"]


@pytest.mark.parametrize("case", DEC, ids=[c["in"] or "empty" for c in DEC])
def test_dec_decimal(case):
    assert dec_decimal(case["in"]) == case["want"]


@pytest.mark.parametrize(
    ("inc_in", "inc_want"),
    [("009", "010"), ("999", "1000"), ("", "1"), ("18446744073709551615", "18446744073709551616")],
)
def test_inc_decimal_more(inc_in, inc_want):
    assert inc_decimal(inc_in) == inc_want


@pytest.mark.parametrize(
    ("dec_in", "dec_want"), [("010", "009"), ("01", "00"), ("1000", "999"), ("10", "9")]
)
def test_dec_decimal_more(dec_in, dec_want):
    assert dec_decimal(dec_in) == dec_want


@given(st.integers(min_value=0, max_value=10**30))
def test_inc_dec_are_inverse(n):
    s = str(n)
    assert inc_decimal(s) == str(n + 1)
    assert dec_decimal(inc_decimal(s)) == s
    if n > 0:
        assert dec_decimal(s) == str(n - 1)


IS_PSEUDO = PSEUDO["is_pseudo_computed"]


@pytest.mark.parametrize("case", IS_PSEUDO, ids=[c["version"] for c in IS_PSEUDO])
def test_is_pseudo_version(case):
    assert is_pseudo_version(case["version"]) is case["is_pseudo"]


@pytest.mark.parametrize(
    "v",
    [
        "v0.0.0-20191109021931-daa7c04131f5\n",  # "$" in a Python regex would allow this
        "v0.0.0-\u0662\u0660191109021931-daa7c04131f5",  # non-ASCII digits
        "v0.0.0-20191109021931-daa7c04131f5+",
        "v01.0.0-20191109021931-daa7c04131f5",  # regex fits, but not valid semver
        "v1.2.3-20191109021931-daa7c04131f5",  # form 1 needs .0.0
    ],
)
def test_is_not_pseudo_version(v):
    assert not is_pseudo_version(v)


def test_zero_pseudo_version():
    assert zero_pseudo_version("v0") == "v0.0.0-00010101000000-000000000000"
    assert zero_pseudo_version("") == "v0.0.0-00010101000000-000000000000"
    assert zero_pseudo_version("v3") == "v3.0.0-00010101000000-000000000000"
    assert is_zero_pseudo_version("v0.0.0-00010101000000-000000000000")
    assert is_zero_pseudo_version("v2.0.0-00010101000000-000000000000")
    assert not is_zero_pseudo_version("v0.0.0-00010101000000-000000000001")
    assert not is_zero_pseudo_version("junk")
    assert pseudo_version_time(zero_pseudo_version("v1")) == datetime(1, 1, 1, tzinfo=UTC)


def test_timestamp_format():
    assert PSEUDO_VERSION_TIMESTAMP_FORMAT == "20060102150405"
    t = datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)
    assert format_pseudo_timestamp(t) == "20060102150405"
    # Other zones are converted to UTC; naive datetimes are taken as UTC.
    east = t.astimezone(timezone(timedelta(hours=9)))
    assert format_pseudo_timestamp(east) == "20060102150405"
    assert format_pseudo_timestamp(datetime(2006, 1, 2, 15, 4, 5)) == "20060102150405"
    assert format_pseudo_timestamp(datetime(33, 1, 2, 3, 4, 5, tzinfo=UTC)) == "00330102030405"


def test_pseudo_version_in_other_zone():
    t = datetime(2020, 1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert pseudo_version("v0", "", t, "abc") == "v0.0.0-20191231230000-abc"


# Round trips: build from (older, time, rev), then take apart again.
_num = st.integers(min_value=0, max_value=10**20).map(str)
_ident = st.from_regex(r"[a-z][a-z0-9]{0,3}", fullmatch=True)
_older = st.one_of(
    st.just(""),
    st.builds(lambda a, b, c: f"v{a}.{b}.{c}", _num, _num, _num),
    st.builds(lambda a, b, c, p: f"v{a}.{b}.{c}-{p}", _num, _num, _num, _ident),
    st.builds(lambda a, b, c: f"v{a}.{b}.{c}+incompatible", _num, _num, _num),
    st.builds(lambda a, b, c, p: f"v{a}.{b}.{c}-{p}+incompatible", _num, _num, _num, _ident),
)
_times = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
).map(lambda t: t.replace(microsecond=0))
_revs = st.from_regex(r"[0-9a-f]{12}", fullmatch=True)
_majors = st.integers(min_value=0, max_value=99).map(lambda n: f"v{n}")


@given(_majors, _older, _times, _revs)
def test_pseudo_version_round_trip(major, older, t, rev):
    v = pseudo_version(major, older, t, rev)
    assert is_pseudo_version(v)
    assert pseudo_version_time(v) == t
    assert pseudo_version_rev(v) == rev
    assert pseudo_version_base(v) == older
    if older:
        # A pseudo-version sorts above its base and below the next release after it.
        assert semver.compare(v, older) > 0
    else:
        assert semver.major(v) == major
