"""Trying again: a unit that raises (:class:`Retry`), and an AWS call that AWS throttled or did
not answer (:func:`retry_transient`)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from . import clock
from .errors import ConfigurationError, ServiceUnavailableError, ThrottledError

__all__ = ["TRANSIENT_TRIES", "Retry", "retry_transient"]

log = logging.getLogger("relaystate")

#: Tries of a call that AWS throttled or did not answer (after botocore's own retries).
TRANSIENT_TRIES = 5
T = TypeVar("T")


def retry_transient(call: Callable[[], T], *, until: float | None = None) -> T:
    """``call()``, again after a pause when AWS throttled it or did not answer (a few times).

    For the calls a hop cannot leave to SQS's redelivery: a teardown step after the mapping is
    gone (nothing delivers the hop again), and the ledger's writes (a hop that fails on a
    throttle runs its units again, and counts a delivery toward the DLQ). ``until`` (a
    ``clock.monotonic()`` value): no pause goes past it.

    Example:
        >>> retry_transient(lambda: 42)
        42
    """
    for attempt in range(TRANSIENT_TRIES):
        try:
            return call()
        except (ThrottledError, ServiceUnavailableError) as exc:
            pause = clock.backoff_s(attempt)
            if until is not None:
                pause = min(pause, until - clock.monotonic())
            if attempt + 1 >= TRANSIENT_TRIES or pause < 0:
                raise
            log.warning("relaystate: %s; trying again", exc)
            clock.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def _at_least(low: float) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool) or value < low:
            raise ConfigurationError(f"Retry.{attribute.name} must be >= {low}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class Retry:
    """The retry policy for units that raise, declared on the job class.

    1. A unit that raises is tried again in the same hop, up to ``attempts`` tries in all,
       after pauses of ``backoff_s`` doubling up to ``max_backoff_s``, with full jitter --
       while the hop has time for the pause.
    2. Then the hop saves the progress made before that unit and relays with a delay of
       ``hop_delay_s`` doubling up to 900 s (SQS's maximum), at most ``hop_retries`` times in
       a row: the failing unit runs again in a later hop.
    3. Then the shard is FAILED: ``on_failed(error)`` runs and its packet, with the error,
       is parked in the job's DLQ, from where ``RelayJob.resume`` can take it up.

    ``Retry(attempts=1, hop_retries=0)`` fails the shard at the first error.

    Example:
        >>> class CopyRows(RelayJob):  # doctest: +SKIP
        ...     retry = Retry(attempts=5, hop_retries=10, hop_delay_s=60)
    """

    attempts: int = attrs.field(default=3, validator=_at_least(1))
    backoff_s: float = attrs.field(default=0.2, validator=_at_least(0))
    max_backoff_s: float = attrs.field(default=5.0, validator=_at_least(0))
    hop_retries: int = attrs.field(default=3, validator=_at_least(0))
    hop_delay_s: int = attrs.field(default=10, validator=_at_least(0))

    def pause_s(self, tries: int, rng: random.Random | None = None) -> float:
        """The jittered pause before try ``tries + 1`` (``tries`` >= 1 tries failed so far)."""
        ceiling = min(self.backoff_s * 2 ** (tries - 1), self.max_backoff_s)
        return (rng or random).uniform(0.0, ceiling)

    def hop_delay(self, failed_hops: int) -> int:
        """``DelaySeconds`` for the relay after ``failed_hops`` hops ended in an error."""
        return int(min(self.hop_delay_s * 2**failed_hops, 900))
