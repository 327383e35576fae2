"""When a hop must stop: unit-time estimates against the time the Lambda has left.

A hop asks its budget before every unit whether that unit and the relay send still fit in
``context.get_remaining_time_in_millis()``. The budget's learning (a compact histogram of unit
times, the send latency) travels in the packet's ``timing`` field, so every hop knows what the
hops before it saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "SEND_LATENCIES",
    "AdaptiveBudget",
    "Budget",
    "GraceBudget",
    "LastUnitBudget",
    "SendLatencies",
]


class Budget(Protocol):
    """Decides, unit by unit, whether a hop may go on. One instance per hop.

    A budget class is called as ``Budget(state)`` with the ``timing`` state the previous hop
    left in the packet (``None`` on the first hop), and :meth:`state` returns what to carry on.
    """

    def start(self, remaining_ms: float) -> None:
        """The hop begins with ``remaining_ms`` of Lambda time left."""

    def should_continue(self, remaining_ms: float) -> bool:
        """May another unit start, with ``remaining_ms`` left?"""

    def record_unit(self, elapsed_ms: float) -> None:
        """A unit took ``elapsed_ms``."""

    def record_send(self, elapsed_ms: float) -> None:
        """A relay send took ``elapsed_ms``."""

    def state(self) -> dict[str, Any]:
        """What the next hop should know: JSON values, small (it rides in every packet)."""


class SendLatencies:
    """The relay-send latencies this process has seen, newest last (at most ``keep``).

    Lambda reuses a warm process for the next hop: that hop's budget reserves time for its own
    send from what the hops before it in this process measured.

    Example:
        >>> seen = SendLatencies(keep=2)
        >>> for ms in (30.0, 80.0, 50.0):
        ...     seen.record(ms)
        >>> seen.worst()
        80.0
    """

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self._seen: list[float] = []
        #: ``max(self._seen)``, kept as sends come and go (every hop asks for it).
        self._worst: float | None = None

    def record(self, elapsed_ms: float) -> None:
        """A relay send took ``elapsed_ms``."""
        seen = self._seen
        seen.append(elapsed_ms)
        worst, keep = self._worst, self.keep
        if len(seen) > keep:
            gone = seen[0] if keep > 0 and len(seen) == keep + 1 else None
            del seen[:-keep]
            if gone is None or worst is None or gone >= worst:  # the slowest may have gone
                self._worst = max(seen) if seen else None
                return
        if worst is None or elapsed_ms > worst:
            self._worst = elapsed_ms

    def worst(self) -> float | None:
        """The slowest send remembered, or ``None`` before any."""
        return self._worst

    def clear(self) -> None:
        """Forget every send (tests start each case from a cold process)."""
        self._seen.clear()
        self._worst = None


#: This process's relay sends (see :class:`SendLatencies`).
SEND_LATENCIES = SendLatencies()

# Histogram buckets per doubling of unit time: 8 gives buckets 9 % wide.
_PER_OCTAVE = 8
# Past this many units the histogram is halved, so the budget follows a drifting workload.
_HALVE_AT = 100_000
# From this many units on, the 99th percentile seen is compared with the fitted one (whose
# normal quantile is _Z_99): a tail clearly lighter than the fit's bounds the fit by the
# slowest unit seen (see AdaptiveBudget).
_TAIL_CHECK_AT = 200
_Z_99 = 2.3263478740408408


class AdaptiveBudget:
    """The default budget: learns the distribution of unit times and of the send latency.

    A unit may start while ``remaining - send reserve >= q``, where ``q`` is the unit time the
    budget expects to be exceeded with a probability of about 1 in 100,000:

    - from a log-normal fit of all units seen (mean and spread of ``log(unit time)``), the
      ``exp(mean + risk_z x spread)`` quantile -- this covers heavy tails not seen yet;
    - capped at ``cap`` x the slowest unit seen where the units' tail is clearly lighter than
      the fit's (their 99th percentile under 2/3 of the fitted one, from 200 units on): a fit
      overshoots light, bounded tails. In a tail as heavy as the fit's the slowest unit seen
      only grows, and a cap on it would loosen as a job ages: a young job would take many
      times the risk an old one takes;
    - but never below ``1.05 x`` the empirical ``high_quantile`` of units seen (a histogram
      with 8 buckets per doubling), which covers a slow mode such as 5 % of units at 2 s.

    The estimate depends on the distribution, not on how many units were seen, so a long job
    keeps its units per hop (``python -m bench budget``: 10,000 hops of a 2-s function).

    The send reserve is ``1.5 x`` the slowest relay send seen, plus ``margin_ms``
    (``default_send_ms`` before any send was seen). Measured on a simulated 60 s function
    (``python -m bench budget``): no hop killed, 94-99.7 % of paid time kept as work.

    Args:
        state: the ``timing`` state of the previous hop's packet, or ``None``.
        risk_z: the normal quantile of the log-normal fit (4.26 = 1 in 100,000).
        high_quantile: the empirical quantile kept as a floor.
        cap: the factor on the slowest unit seen that bounds the fit.
        margin_ms: added to the send reserve.
        default_send_ms: the send reserve before any send was measured.

    Example:
        >>> b = AdaptiveBudget()
        >>> b.start(60_000)
        >>> for _ in range(100):
        ...     b.record_unit(50.0)
        >>> b.should_continue(400), b.should_continue(200)
        (True, False)
    """

    def __init__(
        self,
        state: Mapping[str, Any] | None = None,
        *,
        risk_z: float = 4.26,
        high_quantile: float = 0.995,
        cap: float = 1.5,
        margin_ms: float = 20.0,
        default_send_ms: float = 250.0,
    ) -> None:
        self.risk_z = risk_z
        self.high_quantile = high_quantile
        self.cap = cap
        self.margin_ms = margin_ms
        self.default_send_ms = default_send_ms
        self._counts: dict[int, int] = {}
        self._bucket_max: dict[int, float] = {}
        self._n = 0
        self._sum = 0.0  # of log(ms)
        self._sum_sq = 0.0
        self._send_max = 0.0
        self._q = 0.0
        if state:
            self._load(state)

    # -- the Budget protocol ---------------------------------------------------------------

    def start(self, remaining_ms: float) -> None:
        self._q = self.threshold_ms()

    def should_continue(self, remaining_ms: float) -> bool:
        return remaining_ms - self.send_reserve_ms() >= self._q

    def record_unit(self, elapsed_ms: float) -> None:
        ms = max(float(elapsed_ms), 0.001)
        key = math.floor(math.log2(ms) * _PER_OCTAVE)
        self._counts[key] = self._counts.get(key, 0) + 1
        self._bucket_max[key] = max(self._bucket_max.get(key, 0.0), ms)
        y = math.log(ms)
        self._n += 1
        self._sum += y
        self._sum_sq += y * y
        if self._n >= _HALVE_AT:
            self._halve()
        # Refit often while little is known; then every 64 units (a fit walks ~100 buckets).
        if self._n < 256 or self._n % 64 == 0:
            self._q = self.threshold_ms()

    def record_send(self, elapsed_ms: float) -> None:
        self._send_max = max(self._send_max, float(elapsed_ms))

    def state(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "s": round(self._sum, 4),
            "ss": round(self._sum_sq, 4),
            "send": round(self._send_max, 1),
            "h": {str(k): [c, round(self._bucket_max[k], 1)] for k, c in self._counts.items()},
        }

    # -- the estimate ------------------------------------------------------------------------

    def send_reserve_ms(self) -> float:
        """The time kept for the relay send."""
        if self._send_max <= 0:
            return self.default_send_ms
        return 1.5 * self._send_max + self.margin_ms

    def threshold_ms(self) -> float:
        """The unit time the next unit is expected to stay under (see the class docstring)."""
        if not self._counts:
            return 0.0
        slowest = max(self._bucket_max.values())
        if self._n < 20:
            return 2.0 * slowest
        mean = self._sum / self._n
        spread = math.sqrt(max(self._sum_sq / self._n - mean * mean, 0.0))
        fitted = math.exp(mean + self.risk_z * spread)
        if self._caps_fit(mean, spread):
            fitted = min(fitted, self.cap * slowest)
        return max(1.05 * self._empirical(self.high_quantile), fitted)

    def _caps_fit(self, mean: float, spread: float) -> bool:
        """Whether the slowest unit seen bounds the fit: where the units' tail is clearly
        lighter than the fitted one (see the class docstring)."""
        if self._n < _TAIL_CHECK_AT:
            return False
        return 1.5 * self._empirical(0.99) < math.exp(mean + _Z_99 * spread)

    def _empirical(self, quantile: float) -> float:
        above = (1.0 - quantile) * self._n
        seen = 0
        for key in sorted(self._counts, reverse=True):
            seen += self._counts[key]
            if seen > above:
                return self._bucket_max[key]
        return 0.0  # pragma: no cover - the loop always ends in a bucket

    def _halve(self) -> None:
        old = self._n
        self._counts = {k: c // 2 for k, c in self._counts.items() if c // 2}
        self._bucket_max = {k: self._bucket_max[k] for k in self._counts}
        self._n = sum(self._counts.values())
        ratio = self._n / old
        self._sum *= ratio
        self._sum_sq *= ratio

    def _load(self, state: Mapping[str, Any]) -> None:
        try:
            histogram = state.get("h", {})
            counts = {int(k): int(v[0]) for k, v in histogram.items()}
            maxima = {int(k): float(v[1]) for k, v in histogram.items()}
            n, total, total_sq = int(state["n"]), float(state["s"]), float(state["ss"])
            send = float(state.get("send", 0.0))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return  # a state from another budget or version: start learning afresh
        if n != sum(counts.values()) or any(c <= 0 for c in counts.values()):
            return
        self._counts, self._bucket_max = counts, maxima
        self._n, self._sum, self._sum_sq, self._send_max = n, total, total_sq, send


class LastUnitBudget:
    """The npm helper's rule: go on while ``1.5 x the last unit < remaining``. No send reserve.

    Kept for comparison (``bench/``): it can let a hop be killed during the send, or during a
    slow unit that follows a fast one.
    """

    def __init__(self, state: Mapping[str, Any] | None = None, *, factor: float = 1.5) -> None:
        self.factor = factor
        self._last = 0.0

    def start(self, remaining_ms: float) -> None:
        self._last = 0.0

    def should_continue(self, remaining_ms: float) -> bool:
        return self.factor * self._last < remaining_ms

    def record_unit(self, elapsed_ms: float) -> None:
        self._last = elapsed_ms

    def record_send(self, elapsed_ms: float) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {}


class GraceBudget:
    """A fixed grace period: stop when less than ``fraction`` of the hop's time is left.

    Kept for comparison (``bench/``): safe while units stay below the grace period, wasteful
    always.
    """

    def __init__(self, state: Mapping[str, Any] | None = None, *, fraction: float = 0.1) -> None:
        self.fraction = fraction
        self._grace = 0.0

    def start(self, remaining_ms: float) -> None:
        self._grace = self.fraction * remaining_ms

    def should_continue(self, remaining_ms: float) -> bool:
        return remaining_ms >= self._grace

    def record_unit(self, elapsed_ms: float) -> None:
        pass

    def record_send(self, elapsed_ms: float) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {}
