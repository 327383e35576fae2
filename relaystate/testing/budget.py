"""A hop budget counted in units instead of time: as many short hops as a test wants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["UnitsPerHop"]


class UnitsPerHop:
    """A budget that ends every hop after ``units`` units, however fast they are.

    For tests that want many short hops whatever the machine's speed: set
    ``budget = UnitsPerHop.of(10)`` on a job class.

    Example:
        >>> budget = UnitsPerHop.of(2)(None)
        >>> budget.start(1_000)
        >>> [budget.should_continue(1_000), budget.record_unit(1.0), budget.record_unit(1.0)]
        [True, None, None]
        >>> budget.should_continue(1_000)
        False
    """

    units = 1

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        self._done = 0

    @classmethod
    def of(cls, units: int) -> type[UnitsPerHop]:
        """A budget class that allows ``units`` units a hop."""
        return type(f"UnitsPerHop{units}", (cls,), {"units": units})

    def start(self, remaining_ms: float) -> None:
        self._done = 0

    def should_continue(self, remaining_ms: float) -> bool:
        return self._done < self.units

    def record_unit(self, elapsed_ms: float) -> None:
        self._done += 1

    def record_send(self, elapsed_ms: float) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {}
