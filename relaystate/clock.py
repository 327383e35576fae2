"""The clocks and pauses the job, its hops and the adapters share, in one place.

Tests replace :data:`wall`, :data:`sleep` or :data:`monotonic` here (``monkeypatch.setattr``)
to run hops on a fake clock; every module reads them through this module at call time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["backoff_s", "monotonic", "now_ms", "sleep", "wall"]

#: Wall-clock seconds since the epoch (rate limits: hops run in different Lambdas).
wall: Callable[[], float] = time.time
#: Seconds on a clock that never goes back (deadlines within one process).
monotonic: Callable[[], float] = time.monotonic
#: Pauses: retries, backoff, rate-limit waits.
sleep: Callable[[float], None] = time.sleep


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch, as packets and the ledger record times."""
    return int(wall() * 1000)


def backoff_s(attempt: int, *, base_s: float = 0.1, cap_s: float = 2.0) -> float:
    """The pause before try ``attempt + 1``: ``base_s`` doubling per attempt, at most ``cap_s``.

    Example:
        >>> [backoff_s(a) for a in range(6)]
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    """
    return float(min(base_s * 2**attempt, cap_s))
