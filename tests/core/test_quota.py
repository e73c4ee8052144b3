"""The disk quota's decisions (``goproxy_core.proxy.quota``): what a plan may and must pick."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import ProxyConfig, compile_config
from goproxy_core.proxy import (
    LOW_WATER,
    StoredVersion,
    VersionUnit,
    over_limits,
    plan_eviction,
    unit_keys,
    unit_of,
)
from goproxy_core.proxy.keys import proof_key, record_key, version_key

MODULES = ["example.com/a", "example.com/b", "corp.test/x", "corp.test/y", "pinned.test/p"]


def _kept(module: str) -> bool:
    return module.startswith(("corp.test/", "pinned.test/"))


versions_st = st.lists(
    st.builds(
        lambda i, m, size, used: StoredVersion(
            f"{m}/@v/v1.0.{i}", m, f"v1.0.{i}", size, float(used)
        ),
        st.integers(0, 10**6),
        st.sampled_from(MODULES),
        st.integers(0, 10_000),
        st.integers(0, 1000),
    ),
    max_size=40,
    unique_by=lambda v: v.unit,
)


@given(
    versions_st,
    st.integers(0, 100_000),
    st.integers(0, 200_000),
    st.one_of(st.none(), st.integers(0, 100_000)),
    st.integers(0, 100_000),
    st.sampled_from([0.5, LOW_WATER, 1.0]),
)
def test_plan_properties(
    versions: list[StoredVersion],
    extra: int,
    limit: int,
    free: int | None,
    min_free: int,
    low_water: float,
) -> None:
    total = sum(v.size for v in versions) + extra
    plan = plan_eviction(versions, total, limit, free, min_free, low_water, _kept)
    # Never a kept version, never one twice.
    assert not any(_kept(v.module) for v in plan)
    assert len({v.unit for v in plan}) == len(plan)
    # Under both limits: nothing to do.
    if not over_limits(total, limit, free, min_free):
        assert plan == []
        return
    # Last-use order: every candidate left out was used no earlier than the last one picked.
    candidates = sorted(
        (v for v in versions if not _kept(v.module)),
        key=lambda v: (v.last_use, v.module, v.version, v.unit),
    )
    assert plan == candidates[: len(plan)]

    def reached(freed: int) -> bool:
        under = not limit or total - freed <= int(limit * low_water)
        room = free is None or not min_free or free + freed >= int(min_free * (2 - low_water))
        return under and room

    freed = sum(v.size for v in plan)
    # Stops as soon as under the marks: without its last pick it was not yet there.
    if plan:
        assert not reached(freed - plan[-1].size)
    # Either the marks are reached, or every candidate is in the plan.
    assert reached(freed) or len(plan) == len(candidates)


def test_plan_order_and_stop() -> None:
    vs = [
        StoredVersion("m/@v/v1", "example.com/m", "v1.0.0", 100, 30.0),
        StoredVersion("m/@v/v2", "example.com/m", "v2.0.0", 100, 10.0),
        StoredVersion("p/@v/v1", "pinned.test/p", "v1.0.0", 100, 1.0),
        StoredVersion("m/@v/v3", "example.com/m", "v3.0.0", 100, 20.0),
    ]
    # 400 stored, limit 300: the low-water mark is 270, so two versions go, oldest first,
    # the pinned one (oldest of all) stays.
    plan = plan_eviction(vs, 400, 300, None, 0, keep=_kept)
    assert [v.version for v in plan] == ["v2.0.0", "v3.0.0"]
    # Free space: 50 free, 100 wanted: back above 110 takes one version.
    assert [v.version for v in plan_eviction(vs, 400, 0, 50, 100, keep=_kept)] == ["v2.0.0"]
    assert plan_eviction(vs, 400, 400, 500, 100) == []
    with pytest.raises(ValueError, match="low_water"):
        plan_eviction(vs, 400, 300, None, 0, low_water=0)


@pytest.mark.parametrize("ext", ["info", "mod", "zip"])
def test_unit_of_version_files(ext: str) -> None:
    key = version_key("example.com/!m", "v1.0.0-!r!c1", ext)
    unit = unit_of(key)
    assert unit == VersionUnit("example.com/!m/@v/v1.0.0-!r!c1", "example.com/M", "v1.0.0-RC1")
    assert key in unit_keys(unit.unit)
    assert unit_of(proof_key("example.com/!m", "v1.0.0-!r!c1")) == unit
    assert unit_of(record_key("example.com/!m", "v1.0.0-!r!c1")) == unit


@pytest.mark.parametrize(
    "key",
    [
        "example.com/m/@v/list",
        "example.com/m/@latest",
        "_goproxy/notfound/example.com/m/@v/v1.0.0.zip",
        "_goproxy/usage.sqlite",
        "sumdb/sum.test/lookup/example.com/m@v1.0.0",
        "example.com/m/@v/v1.0.0.txt",
        "example.com/m/@v/.zip",
        "/@v/v1.0.0.zip",
        "example.com/m/@v/x/v1.0.0.zip",
        "Example.com/m/@v/v1.0.0.zip",  # not an escaped path
        "example.com/m/@v/V1.0.0.zip",  # not an escaped version
        "plain-file",
    ],
)
def test_unit_of_other_keys(key: str) -> None:
    assert unit_of(key) is None


@given(st.text(max_size=60))
def test_unit_of_never_raises(key: str) -> None:
    unit = unit_of(key)
    if unit is not None:
        assert key.startswith(unit.unit + ".")


def test_config_keeps_private_and_pinned() -> None:
    cfg = compile_config(ProxyConfig(private="corp.test", pin="example.com/keep/*"))
    assert cfg.keeps("corp.test/x")
    assert cfg.keeps("example.com/keep/a")
    assert not cfg.keeps("example.com/other")
    assert cfg.quota_on
    assert not compile_config(ProxyConfig(min_free_space=0)).quota_on
    assert compile_config(ProxyConfig(min_free_space=0, max_cache_size=1)).quota_on


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [({"max_cache_size": -1}, "max-cache-size"), ({"gc_interval": 0}, "gc-interval")],
)
def test_config_refuses(kwargs: dict[str, float], text: str) -> None:
    from goproxy_core import ConfigError

    with pytest.raises(ConfigError, match=text):
        compile_config(ProxyConfig(**kwargs))  # type: ignore[arg-type]
