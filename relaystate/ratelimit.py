"""Rate limits that survive hops: the limiter's state travels in the packet.

A unit of work is one call of the limited API. Before each unit the hop takes a permit; when the
next permit is close, the hop waits for it; when it is far (the day's quota is spent), the hop
ends and relays its packet with ``DelaySeconds`` instead of paying for a sleeping Lambda.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import ConfigurationError

__all__ = ["Limiter", "RateLimit"]


def _number(*, optional: bool, zero_ok: bool = False, below: float = math.inf) -> Any:
    """A validator: a real number > 0 (>= 0 if ``zero_ok``) and < ``below``; bools are not."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not (value >= 0 if zero_ok else value > 0) or not value < below:
            allowed = ">= 0" if zero_ok else "> 0"
            if below != math.inf:
                allowed += f" and < {below:g}"
            raise ConfigurationError(
                f"RateLimit.{attribute.name} must be a number {allowed}"
                f"{' or None' if optional else ''}, got {value!r}"
            )

    return check


def _flag(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"RateLimit.{attribute.name} must be True or False, got {value!r}")


@attrs.frozen(kw_only=True)
class RateLimit:
    """Limits on the job's unit rate, declared on the job class.

    Args:
        per_second: units per second (SES: 14); ``None`` for no per-second limit.
        per_day: units per window of ``window_s`` (SES: 50,000 a day); ``None`` for none.
        window_s: the quota window; 86,400 s windows start at 00:00 UTC.
        burst: units that may go back to back before the per-second pacing applies.
        max_wait_s: the longest wait for a permit inside a hop; a longer one ends the hop and
            relays the packet with a delay (chained in steps of 900 s, SQS's maximum).
        per_shard: in a fan-out, each shard gets ``1 / shards`` of both limits (see README).
        headroom: pace this share below ``per_second`` (default 2 %), so that clock jitter
            between the Lambda and the API never tips a call over the limit.

    Example:
        >>> class Mailer(RelayJob):  # doctest: +SKIP
        ...     rate_limit = RateLimit(per_second=14, per_day=50_000)
    """

    per_second: float | None = attrs.field(default=None, validator=_number(optional=True))
    per_day: int | None = attrs.field(default=None, validator=_number(optional=True))
    window_s: float = attrs.field(default=86_400.0, validator=_number(optional=False))
    burst: int = attrs.field(default=1, validator=_number(optional=False))
    max_wait_s: float = attrs.field(default=2.0, validator=_number(optional=False, zero_ok=True))
    per_shard: bool = attrs.field(default=True, validator=_flag)
    headroom: float = attrs.field(
        default=0.02, validator=_number(optional=False, zero_ok=True, below=1.0)
    )

    def limiter(self, state: Mapping[str, Any] | None, shards: int = 1) -> Limiter:
        """The limiter for one hop of one shard, from the state its packet carried."""
        share = shards if self.per_shard else 1
        rate = self.per_second * (1.0 - self.headroom) / share if self.per_second else None
        quota = max(self.per_day // share, 1) if self.per_day else None
        return Limiter(self, rate, quota, state)


class Limiter:
    """One hop's limiter: a GCRA pacer for the rate and a fixed-window counter for the quota.

    All times are wall-clock seconds (``time.time()``): hops run in different Lambdas.
    """

    def __init__(
        self,
        limit: RateLimit,
        rate: float | None,
        quota: int | None,
        state: Mapping[str, Any] | None,
    ) -> None:
        self.limit = limit
        self.rate = rate
        self.quota = quota
        self._tat = 0.0  # theoretical arrival time of the next permit
        self._window = 0.0
        self._used = 0
        if state:
            try:
                self._tat = float(state.get("tat", 0.0))
                self._window = float(state.get("win", 0.0))
                self._used = int(state.get("used", 0))
            except (TypeError, ValueError):
                self._tat, self._window, self._used = 0.0, 0.0, 0

    def wait_s(self, now: float) -> float:
        """Seconds until a permit is free (0 if one is free now)."""
        wait = 0.0
        if self.quota is not None:
            start = self._window_start(now)
            if start == self._window and self._used >= self.quota:
                wait = start + self.limit.window_s - now
        if self.rate is not None:
            interval = 1.0 / self.rate
            wait = max(wait, self._tat - (self.limit.burst - 1) * interval - now)
        return max(wait, 0.0)

    def take(self, now: float) -> None:
        """Use a permit (call when :meth:`wait_s` is 0)."""
        if self.quota is not None:
            start = self._window_start(now)
            if start != self._window:
                self._window, self._used = start, 0
            self._used += 1
        if self.rate is not None:
            self._tat = max(self._tat, now) + 1.0 / self.rate

    def delay_for(self, wait_s: float) -> int:
        """The ``DelaySeconds`` for a relay that must wait ``wait_s``: at most 900, chained."""
        return min(max(math.ceil(wait_s), 1), 900)

    def state(self) -> dict[str, Any]:
        # Rounded up: a permit may come a little late, never early.
        return {"tat": math.ceil(self._tat * 1e4) / 1e4, "win": self._window, "used": self._used}

    def _window_start(self, now: float) -> float:
        size = self.limit.window_s
        return math.floor(now / size) * size
