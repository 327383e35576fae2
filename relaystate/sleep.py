"""Durable sleep: ``step()`` returns ``Sleep(seconds, next_cursor)``; the job sleeps in its queue.

The hop ends and relays its packet with ``DelaySeconds`` -- SQS's most is 900 s, so a longer
sleep is a chain of delayed relays: the packet carries when it is due (``wake_ms``), and a hop
that gets it earlier runs no unit, only relays it on with the delay left. Nothing is billed
while it sleeps but one short invocation per 15 minutes, and a sleep may last days (the job's
records live a year past their last write; a queue keeps a message 4 days, and each wake-up
sends a new one).

Example:
    >>> class Nightly(RelayJob):  # doctest: +SKIP
    ...     def step(self, cursor):
    ...         export(day=cursor)
    ...         return Sleep(24 * 3600, cursor + 1)   # the same time tomorrow
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from .errors import ConfigurationError
from .frozen import JsonValue, freeze

__all__ = ["MAX_DELAY_S", "Sleep", "delay_until"]

#: SQS's longest per-message delay: a sleep longer than this is a chain of relays.
MAX_DELAY_S = 900
#: Sleeps longer than this are refused (the job's ledger records live a year past a write).
MAX_SLEEP_S = 365 * 86_400


def _seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 <= value <= MAX_SLEEP_S:
        raise ConfigurationError(
            f"Sleep.seconds must be a number of seconds from 0 to {MAX_SLEEP_S:,} (a year), "
            f"got {value!r}"
        )


def _cursor(value: Any) -> JsonValue:
    return freeze(value, "Sleep.next_cursor")


@attrs.frozen
class Sleep:
    """What ``step()`` returns to sleep: the hop ends, and the unit after it runs ``seconds``
    later from ``next_cursor``.

    Args:
        seconds: how long to sleep (0 to a year; a fraction is rounded up to whole seconds).
        next_cursor: the cursor the next unit starts from (JSON).

    Raises:
        ConfigurationError: ``seconds`` out of range or not a number.
        InvalidPacketError: ``next_cursor`` is not JSON.

    Example:
        >>> Sleep(3600, {"page": 2}).seconds
        3600
    """

    seconds: float = attrs.field(validator=_seconds)
    next_cursor: JsonValue = attrs.field(default=None, converter=_cursor)


def delay_until(wake_ms: int, now_ms: int) -> int:
    """The ``DelaySeconds`` of a relay that should arrive at ``wake_ms``: the time left, rounded
    up, at most SQS's 900 s (a later hop relays again for the rest).

    Example:
        >>> delay_until(wake_ms=10_500, now_ms=0), delay_until(wake_ms=5_000_000, now_ms=0)
        (11, 900)
    """
    return max(0, min(MAX_DELAY_S, math.ceil((wake_ms - now_ms) / 1000)))
