"""What a simulation injects, and how often: :class:`SimFaults`.

Each rate is a probability, drawn from the run's seed::

    duplicate_rate   a received message is delivered once more, as SQS's at-least-once
                     delivery does: at once (to a second, concurrent invocation) or late (a
                     copy that resurfaces after the first was handled and deleted)
    crash_rate       an invocation is killed at one of its AWS calls (before the call, or
                     after it took effect and before its answer) or before one of its units;
                     it makes no more calls and its messages come back after their
                     visibility timeout
    throttle_rate    an AWS call of an invocation fails with ThrottledError, as after
                     botocore's retries (SQS, Lambda and DynamoDB calls alike)
    conflict_rate    a ledger transaction (a shard's end, a reopen) meets a concurrent one
                     and is cancelled (DynamoDB's TransactionConflict), one or more times

Two windows are spared by default, as :class:`relaystate.local.Faults` spares them: the
starter (``job.start()``) is neither throttled nor killed, and an invocation is not killed
once it has deleted the job's mapping (nothing would deliver its message again: the queues are
left for ``relaystate reap``, on AWS as here). ``crash_after_unmap=True`` and
``throttle_starter=True`` put them back.

Example:
    >>> SimFaults(duplicate_rate=0.3, crash_rate=0.1).enabled
    True
    >>> SimFaults(crash_rate=2)
    Traceback (most recent call last):
    ...
    relaystate.errors.ConfigurationError: SimFaults.crash_rate is a probability from 0 to 1, got 2
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ...errors import ConfigurationError

__all__ = ["SimFaults"]


def _rate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(
            f"SimFaults.{attribute.name} is a probability from 0 to 1, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class SimFaults:
    """The faults of a simulation (see the module's documentation).

    Args:
        duplicate_rate: the chance that a received message is delivered once more.
        crash_rate: the chance that an invocation is killed at one of its AWS calls or units.
        throttle_rate: the chance that an AWS call of an invocation is throttled.
        conflict_rate: the chance that a ledger transaction meets a concurrent one.
        late_duplicates: the share of duplicates that arrive late (after the first copy was
            handled) rather than at once.
        shared_deletes: the chance that deleting a duplicated message deletes each of its
            other copies too (SQS's delete reached the copy's server), one in flight included:
            a failure of the invocation that holds it then brings nothing back.
        crash_after_unmap: kill invocations after they deleted the job's mapping too.
        throttle_starter: throttle the starter's calls too (its start then fails, rolled
            back, and the run has nothing to check).
    """

    duplicate_rate: float = attrs.field(default=0.0, validator=_rate)
    crash_rate: float = attrs.field(default=0.0, validator=_rate)
    throttle_rate: float = attrs.field(default=0.0, validator=_rate)
    conflict_rate: float = attrs.field(default=0.0, validator=_rate)
    late_duplicates: float = attrs.field(default=0.5, validator=_rate)
    shared_deletes: float = attrs.field(default=0.0, validator=_rate)
    crash_after_unmap: bool = False
    throttle_starter: bool = False

    @property
    def enabled(self) -> bool:
        """Whether any fault can be injected."""
        rates = (self.duplicate_rate, self.crash_rate, self.throttle_rate, self.conflict_rate)
        return any(rates)
