"""Trying again: a unit that raises (:class:`Retry`), an AWS call that AWS throttled or did not
answer (:func:`retry_transient`), and a paged read that a hook iterates (:class:`RetriedReads`)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from . import clock
from .errors import ConfigurationError, ServiceUnavailableError, ThrottledError

__all__ = ["TRANSIENT", "TRANSIENT_TRIES", "RetriedReads", "Retry", "retry_transient"]

log = logging.getLogger("relaystate")

#: Tries of a call that AWS throttled or did not answer (after botocore's own retries).
TRANSIENT_TRIES = 5
T = TypeVar("T")
#: What AWS answers that a later try may not meet: a throttle, no answer.
TRANSIENT = (ThrottledError, ServiceUnavailableError)


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
        except TRANSIENT as exc:
            _pause_or_raise(attempt, until, exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _pause_or_raise(attempt: int, until: float | None, exc: Exception) -> None:
    """After try ``attempt + 1`` failed on ``exc``: pause before the next, or raise ``exc``
    when the tries have run out or the pause would go past ``until``."""
    pause = clock.backoff_s(attempt)
    if until is not None:
        pause = min(pause, until - clock.monotonic())
    if attempt + 1 >= TRANSIENT_TRIES or pause < 0:
        raise exc
    log.warning("relaystate: %s; trying again", exc)
    clock.sleep(pause)


class RetriedReads(Iterator[T]):
    """The items of ``read()``, read as they are iterated, a read that AWS throttled or did not
    answer tried again as :func:`retry_transient` tries a call (no pause past ``until``), the
    tries counted from the last item given.

    For a paged read handed to a hook (``on_join``'s results): the hook may stop early, or
    never iterate, and nothing more is read. A page that fails mid-way is read again from the
    start, the items already given skipped (the read must give the same items in the same
    order). A read that still fails is raised to the hook -- which may swallow it, as
    ``run_hook`` does -- and again by :meth:`raise_failure` after the hook, so that the hook's
    caller does not go on as though the hook had seen every item.

    Example:
        >>> reads = RetriedReads(lambda: iter([1, 2, 3]))
        >>> list(reads), reads.raise_failure()
        ([1, 2, 3], None)
    """

    def __init__(self, read: Callable[[], Iterator[T]], *, until: float | None = None) -> None:
        self._read = read
        self._until = until
        self._items: Iterator[T] | None = None
        self._given = 0
        self._attempt = 0
        self._failure: Exception | None = None  # the read's error, once it failed for good

    def __next__(self) -> T:
        if self._failure is not None:
            raise self._failure
        while True:
            try:
                if self._items is None:
                    self._items = self._read()
                    for _ in range(self._given):  # given before a failed page: skip them
                        next(self._items)
                item = next(self._items)
            except TRANSIENT as exc:
                self._items = None
                try:
                    _pause_or_raise(self._attempt, self._until, exc)
                except TRANSIENT:
                    self._failure = exc
                    raise
                self._attempt += 1
                continue
            self._given += 1
            self._attempt = 0  # a new item: the next failure has its own tries
            return item

    def raise_failure(self) -> None:
        """Raise the read's error if it failed for good (the hook saw only part of it)."""
        if self._failure is not None:
            raise self._failure


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
