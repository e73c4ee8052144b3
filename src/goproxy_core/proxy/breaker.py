"""A per-upstream circuit breaker: the policy only, with times passed in (no clock inside).

After ``failures`` consecutive timeouts or connect failures on one upstream, the upstream is
skipped for ``cooldown`` seconds (open); after that one probe is let through (half-open); its
success closes the breaker, its failure opens it again for another cool-down. 404s and bad
data are answers, not failures: the caller reports them as successes (the upstream is up).

The go command has no breaker of its own: cmd/go modfetch/proxy.go ``proxyList`` walks the
GOPROXY list and falls through on errors after ``|``; a skipped upstream is reported as such an
error, so the walk does exactly what GOPROXY says.
"""

from __future__ import annotations

import msgspec

__all__ = ["Breaker", "BreakerState", "Transition"]


class Transition(msgspec.Struct, frozen=True):
    """A change of state worth logging once: ``opened`` (with the count and until when) or not.

    Attributes:
        opened: True when the breaker opened, False when it closed.
        failures: the consecutive failures that opened it (0 on close).
        until: monotonic seconds when the cool-down ends (0.0 on close).
    """

    opened: bool
    failures: int = 0
    until: float = 0.0


class BreakerState(msgspec.Struct, frozen=True):
    """Why a fetch is skipped: ``until`` (monotonic seconds) and the ``failures`` that opened it."""

    failures: int
    until: float


class Breaker:
    """The breaker of one upstream.

    Args:
        failures: consecutive failures that open it; 0 turns it off.
        cooldown: seconds it stays open before one probe is let through.
    """

    def __init__(self, failures: int, cooldown: float) -> None:
        if failures < 0:
            raise ValueError("breaker failures must be >= 0")
        if cooldown < 0:
            raise ValueError("breaker cooldown must be >= 0")
        self.failures = failures
        self.cooldown = cooldown
        self._count = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Whether the breaker is open or half-open (not yet closed by a success)."""
        return self._open_until is not None

    def status(self, now: float) -> tuple[str, int, float]:
        """How it stands, changing nothing (for a status page): ``closed``, ``open`` or
        ``half-open`` (a probe is out), the consecutive failures counted, and the seconds
        until an open breaker lets a probe through."""
        if self._open_until is None:
            return "closed", self._count, 0.0
        if self._probing:
            return "half-open", self._count, 0.0
        return "open", self._count, max(0.0, self._open_until - now)

    def allow(self, now: float) -> BreakerState | None:
        """None if a fetch may go now; else why it is skipped.

        Past the cool-down, the first caller gets the probe; others are skipped until the probe
        reports.
        """
        if self._open_until is None:
            return None
        if now >= self._open_until and not self._probing:
            self._probing = True
            return None
        return BreakerState(self._count, self._open_until)

    def success(self) -> Transition | None:
        """The upstream answered: close the breaker; a Transition if it was open."""
        was_open = self._open_until is not None
        self._count = 0
        self._open_until = None
        self._probing = False
        return Transition(opened=False) if was_open else None

    def failure(self, now: float) -> Transition | None:
        """A timeout or connect failure: a Transition if this opens (or reopens) the breaker."""
        if self.failures == 0:
            return None
        self._count += 1
        if self._open_until is not None and not self._probing:
            return None  # a fetch that started before it opened: already counted as open
        if self._open_until is not None or self._count >= self.failures:
            self._probing = False
            self._open_until = now + self.cooldown
            return Transition(opened=True, failures=self._count, until=self._open_until)
        return None
