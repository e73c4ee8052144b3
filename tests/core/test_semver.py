"""Go semver: the x/mod tables, all-pairs comparison, sort order, and properties."""

from __future__ import annotations

from functools import cmp_to_key

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import compare_versions, semver

from support import load_vector

SEMVER = load_vector("semver.json")
CASES = SEMVER["cases"] + SEMVER["extra_computed"]


@pytest.mark.parametrize("case", CASES, ids=[c["in"] for c in CASES])
def test_parse_fields(case):
    v = case["in"]
    assert semver.is_valid(v) is case["is_valid"]
    assert semver.canonical(v) == case["canonical"]
    assert semver.major(v) == case["major"]
    assert semver.major_minor(v) == case["major_minor"]
    assert semver.prerelease(v) == case["prerelease"]
    assert semver.build(v) == case["build"]


def test_compare_all_pairs():
    for a, b, want in SEMVER["compare_all_pairs"] + SEMVER["compare_extra_computed"]:
        assert semver.compare(a, b) == want, (a, b)


def test_sort_golden():
    golden = SEMVER["sorted_golden"]
    assert semver.sort_versions(list(reversed(golden))) == golden


_ident = st.from_regex(r"[0-9A-Za-z-]{1,4}", fullmatch=True)
_num = st.integers(min_value=0, max_value=10**20).map(str)
_versions = st.one_of(
    st.builds(
        lambda a, b, c, pre, bld: (
            f"v{a}.{b}.{c}"
            + ("-" + ".".join(pre) if pre else "")
            + ("+" + ".".join(bld) if bld else "")
        ),
        _num,
        _num,
        _num,
        st.lists(st.one_of(_ident, _num), max_size=3),
        st.lists(_ident, max_size=2),
    ),
    st.builds(lambda a: f"v{a}", _num),
    st.builds(lambda a, b: f"v{a}.{b}", _num, _num),
    st.text(max_size=8),
)


@given(_versions, _versions, _versions)
def test_compare_is_a_total_order(a, b, c):
    assert semver.compare(a, a) == 0
    assert semver.compare(a, b) == -semver.compare(b, a)
    if semver.compare(a, b) <= 0 and semver.compare(b, c) <= 0:
        assert semver.compare(a, c) <= 0


@given(_versions, _versions)
def test_compare_agrees_with_canonical(a, b):
    if semver.is_valid(a) and semver.is_valid(b):
        same = semver.canonical(a) == semver.canonical(b)
        assert (semver.compare(a, b) == 0) is same
        assert semver.canonical(semver.canonical(a)) == semver.canonical(a)


def test_compare_versions_breaks_ties_as_go_sort():
    # Go's Compare says these are equal; semver.Sort (ByVersion.Less) orders them by string.
    assert semver.compare("v2.0.0", "v2.0.0+incompatible") == 0
    assert compare_versions("v2.0.0", "v2.0.0+incompatible") == -1
    assert compare_versions("v2.0.0+incompatible", "v2.0.0") == 1
    assert compare_versions("v1", "v1.0.0") == -1
    assert compare_versions("bad", "also-bad") == 1
    assert compare_versions("v1.2.3", "v1.2.3") == 0
    got = sorted(["v2.0.0+incompatible", "v2.0.0", "v1.0.0"], key=cmp_to_key(compare_versions))
    assert got == ["v1.0.0", "v2.0.0", "v2.0.0+incompatible"]


@given(st.lists(_versions, max_size=12))
def test_sorting_with_compare_versions_is_sort_versions(vs):
    assert sorted(vs, key=cmp_to_key(compare_versions)) == semver.sort_versions(vs)
    assert sorted(reversed(vs), key=cmp_to_key(compare_versions)) == semver.sort_versions(vs)


@given(_versions, _versions)
def test_compare_versions_refines_compare(a, b):
    c = compare_versions(a, b)
    assert c == -compare_versions(b, a)
    assert (c == 0) is (a == b)
    if semver.compare(a, b):
        assert c == semver.compare(a, b)
