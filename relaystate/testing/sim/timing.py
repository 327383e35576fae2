"""How long things take in a simulation: :class:`SimTiming`, drawn from the run's seed.

Durations are log-normal around a median (a long tail, as AWS latencies have), except where
AWS documents a bound, which is drawn uniformly up to it: a deleted queue answers for up to
60 s, approximate counts lag by up to a minute.

Example:
    >>> import random
    >>> timing = SimTiming(unit_ms=50.0)
    >>> 0.0 < timing.unit_s(random.Random(1)) < 1.0
    True
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from ...errors import ConfigurationError

__all__ = ["SimTiming"]


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"SimTiming.{attribute.name} must be >= 0, got {value!r}")


def _field(default: float) -> Any:
    return attrs.field(default=default, validator=_positive)


@attrs.frozen(kw_only=True)
class SimTiming:
    """Medians, spreads and bounds of the simulated durations (milliseconds or seconds).

    Args:
        function_timeout_s: the worker's timeout, unless the job sets ``function_timeout_s``.
        concurrency: invocations of the function that may run at once.
        unit_ms: the median time of one unit (one ``step``); ``unit_spread`` its log spread.
        sqs_ms, dynamodb_ms, lambda_ms: median latency of an AWS call to each service.
        call_spread: the log spread of every call's latency.
        poll_ms: from a message becoming visible to its receipt by the mapping's poller.
        invoke_ms: from the receipt to the handler's start; ``cold_start_rate`` of them add
            ``cold_start_ms``.
        mapping_create_s, mapping_update_s, mapping_delete_s: median time a mapping spends
            ``Creating`` / ``Enabling`` or ``Disabling`` / ``Deleting``.
        queue_delete_s: the longest a deleted queue still answers (uniform up to it).
        name_block_s: how long a deleted queue's name is refused (QueueDeletedRecently).
        count_lag_s: the longest the approximate counts of a queue lag behind.
        late_duplicate_s: the longest a late duplicate takes to resurface.
    """

    function_timeout_s: float = _field(10.0)
    concurrency: int = 100
    unit_ms: float = _field(100.0)
    unit_spread: float = _field(0.5)
    sqs_ms: float = _field(12.0)
    dynamodb_ms: float = _field(6.0)
    lambda_ms: float = _field(40.0)
    call_spread: float = _field(0.6)
    poll_ms: float = _field(20.0)
    invoke_ms: float = _field(15.0)
    cold_start_rate: float = _field(0.1)
    cold_start_ms: float = _field(400.0)
    mapping_create_s: float = _field(3.0)
    mapping_update_s: float = _field(3.0)
    mapping_delete_s: float = _field(6.0)
    queue_delete_s: float = _field(60.0)
    name_block_s: float = _field(60.0)
    count_lag_s: float = _field(60.0)
    late_duplicate_s: float = _field(600.0)

    def unit_s(self, rng: random.Random) -> float:
        """One unit's duration."""
        return _lognormal(rng, self.unit_ms, self.unit_spread) / 1000.0

    def call_s(self, service: str, rng: random.Random) -> float:
        """One AWS call's latency (``sqs``, ``dynamodb``, ``lambda``)."""
        median = {"sqs": self.sqs_ms, "dynamodb": self.dynamodb_ms}.get(service, self.lambda_ms)
        return _lognormal(rng, median, self.call_spread) / 1000.0

    def start_s(self, rng: random.Random) -> float:
        """From a message's receipt to its invocation's start (a cold start, sometimes)."""
        cold = self.cold_start_ms if rng.random() < self.cold_start_rate else 0.0
        return (_lognormal(rng, self.invoke_ms, self.call_spread) + cold) / 1000.0

    def poll_s(self, rng: random.Random) -> float:
        """From a message becoming visible to its receipt."""
        return _lognormal(rng, self.poll_ms, self.call_spread) / 1000.0

    def state_s(self, median_s: float, rng: random.Random) -> float:
        """How long a mapping stays in a transitional state."""
        return _lognormal(rng, median_s * 1000.0, 0.5) / 1000.0


def _lognormal(rng: random.Random, median: float, spread: float) -> float:
    if median <= 0:
        return 0.0
    return median * math.exp(spread * rng.gauss(0.0, 1.0))
