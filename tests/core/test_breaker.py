"""The per-upstream circuit breaker's policy (goproxy_core.proxy.breaker)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import Breaker, Transition


def test_opens_after_k_failures_and_skips_until_cooldown() -> None:
    b = Breaker(3, 10.0)
    assert b.failure(0.0) is None
    assert b.failure(1.0) is None
    assert b.allow(1.5) is None
    t = b.failure(2.0)
    assert t == Transition(opened=True, failures=3, until=12.0)
    skipped = b.allow(5.0)
    assert skipped is not None and skipped.until == 12.0 and skipped.failures == 3


def test_half_open_lets_one_probe_and_success_closes() -> None:
    b = Breaker(1, 5.0)
    assert b.failure(0.0) is not None
    assert b.allow(5.0) is None  # the probe
    assert b.allow(5.1) is not None  # others wait for it
    assert b.success() == Transition(opened=False)
    assert b.allow(5.2) is None
    assert b.success() is None  # closing a closed breaker logs nothing


def test_failed_probe_reopens() -> None:
    b = Breaker(2, 5.0)
    b.failure(0.0)
    b.failure(0.0)
    assert b.allow(6.0) is None
    t = b.failure(7.0)
    assert t is not None and t.opened and t.until == 12.0


def test_success_resets_the_count() -> None:
    b = Breaker(2, 5.0)
    b.failure(0.0)
    b.success()
    assert b.failure(1.0) is None
    assert not b.is_open


def test_zero_failures_is_off() -> None:
    b = Breaker(0, 5.0)
    for i in range(100):
        assert b.failure(float(i)) is None
    assert b.allow(0.0) is None


def test_rejects_negative_settings() -> None:
    with pytest.raises(ValueError, match="failures"):
        Breaker(-1, 1.0)
    with pytest.raises(ValueError, match="cooldown"):
        Breaker(1, -1.0)


events = st.lists(st.tuples(st.sampled_from(["allow", "ok", "fail"]), st.floats(0, 5)), max_size=60)


@given(st.integers(0, 4), st.floats(0, 10), events)
def test_state_sequences(k: int, cooldown: float, seq: list[tuple[str, float]]) -> None:
    """Transitions alternate open/close, an open one always has >= k failures, and a closed
    breaker never skips."""
    b = Breaker(k, cooldown)
    now = 0.0
    last: bool | None = None
    for op, dt in seq:
        now += dt
        if op == "allow":
            s = b.allow(now)
            if not b.is_open:
                assert s is None
            elif s is not None:
                assert s.until >= now or b.is_open
            continue
        t = b.success() if op == "ok" else b.failure(now)
        if t is None:
            continue
        assert k > 0
        if t.opened:
            assert t.failures >= k and t.until == now + cooldown
        else:
            assert last is True
        last = t.opened
