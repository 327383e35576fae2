"""When a hop must stop: unit-time estimates against the time the Lambda has left.

A hop asks its budget before every unit. The budget keeps a reserve for the relay send itself
and refuses a unit that the units seen so far say will not fit.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["AdaptiveBudget", "Budget", "LastUnitBudget"]


class Budget(Protocol):
    """Decides, unit by unit, whether a hop may go on. One instance per hop."""

    def start(self, remaining_ms: float) -> None:
        """The hop begins with ``remaining_ms`` of Lambda time left."""

    def should_continue(self, remaining_ms: float) -> bool:
        """May another unit start, with ``remaining_ms`` left?"""

    def record_unit(self, elapsed_ms: float) -> None:
        """A unit took ``elapsed_ms``."""


class AdaptiveBudget:
    """The default budget: the slowest unit seen, with headroom, plus a reserve for the send.

    A unit may start while ``remaining - reserve >= headroom x slowest unit seen``. The reserve
    is ``reserve_ms`` plus ``reserve_fraction`` of the hop's time (so a 900 s function keeps
    more in hand than a 3 s one). "Slowest seen" rather than "last" means one fast unit after a
    slow one does not tempt the hop into a unit it cannot finish.

    Args:
        reserve_ms: fixed time kept for the relay send and the return.
        reserve_fraction: extra reserve as a share of the time the hop started with.
        headroom: factor on the slowest unit seen.

    Example:
        >>> b = AdaptiveBudget(reserve_ms=100, reserve_fraction=0.0)
        >>> b.start(1_000)
        >>> b.record_unit(300)
        >>> b.should_continue(600), b.should_continue(500)
        (True, False)
    """

    def __init__(
        self, reserve_ms: float = 250.0, reserve_fraction: float = 0.02, headroom: float = 1.5
    ) -> None:
        self.reserve_ms = reserve_ms
        self.reserve_fraction = reserve_fraction
        self.headroom = headroom
        self._reserve = reserve_ms
        self._slowest = 0.0

    def start(self, remaining_ms: float) -> None:
        self._reserve = self.reserve_ms + self.reserve_fraction * max(remaining_ms, 0.0)
        self._slowest = 0.0

    def should_continue(self, remaining_ms: float) -> bool:
        return remaining_ms - self._reserve >= self.headroom * self._slowest

    def record_unit(self, elapsed_ms: float) -> None:
        self._slowest = max(self._slowest, elapsed_ms)


class LastUnitBudget:
    """The npm library's rule: go on while ``1.5 x the last unit < remaining``. No reserve.

    Kept for comparison (``bench/``); it can let a hop be killed during the send.
    """

    def __init__(self, factor: float = 1.5) -> None:
        self.factor = factor
        self._last = 0.0

    def start(self, remaining_ms: float) -> None:
        self._last = 0.0

    def should_continue(self, remaining_ms: float) -> bool:
        return self.factor * self._last < remaining_ms

    def record_unit(self, elapsed_ms: float) -> None:
        self._last = elapsed_ms
