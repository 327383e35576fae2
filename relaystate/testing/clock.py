"""A fake clock, and a Lambda context whose time runs on it.

Example:
    >>> clock = FakeClock()
    >>> context = FakeContext(clock, timeout_ms=3_000)
    >>> clock.advance(1_000)
    >>> context.get_remaining_time_in_millis()
    2000
"""

from __future__ import annotations

import attrs

__all__ = ["FakeClock", "FakeContext"]


@attrs.define
class FakeClock:
    """A clock in milliseconds that moves only when told to."""

    now: float = 0.0

    def __call__(self) -> int:
        """The time in whole milliseconds, so that the clock serves where one is called
        (``MemoryLedger(clock=FakeClock())``)."""
        return int(self.now)

    def advance(self, ms: float) -> None:
        """Move the clock ``ms`` milliseconds on."""
        self.now += ms


class FakeContext:
    """A Lambda context whose remaining time runs on a :class:`FakeClock` (milliseconds)."""

    def __init__(self, clock: FakeClock, timeout_ms: float) -> None:
        self.clock = clock
        self.deadline = clock.now + timeout_ms
        self.function_name = "worker"
        self.aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.deadline - self.clock.now)
