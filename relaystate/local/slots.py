"""Concurrency slots for LocalLambda: how many invocations run, and which batches are open.

The Lambda service limits how many invocations run at once: over all functions (the
account's concurrency, ``LocalLambda(concurrency=...)``) and per mapping (its
``ScalingConfig.MaximumConcurrency``). Here every received batch takes a :class:`Slot`, and
the slot has two ends::

    release   the handler is done: the slot no longer counts against either limit. This
              comes before the batch's messages are deleted -- on AWS a function's
              concurrency counts running invocations, and the service's delete does not
              hold up a relay's next hop
    close     the batch is settled (its deletes handed on, its record kept): only then may
              ``run_until_idle`` call the runtime idle

Both ends are idempotent, so a worker can end its slot in a ``finally`` whatever happened
before, and both wake the poll loop (``on_change``): a freed slot is room for the next receive.

Example:
    >>> slots = Slots(concurrency=1, on_change=lambda: None)
    >>> slot = slots.take("mapping-1")
    >>> slots.has_room("mapping-1", None), slots.running, slots.open
    (False, 1, 1)
    >>> slot.release()
    >>> slots.has_room("mapping-1", None), slots.running, slots.open
    (True, 0, 1)
    >>> slot.close()
    >>> slots.open
    0
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

__all__ = ["Slot", "Slots"]


class Slot:
    """One received batch's claim on a slot: :meth:`release` it, then :meth:`close` it.

    Example:
        >>> slot = Slots(concurrency=2, on_change=lambda: None).take("m")
        >>> slot.batch
        1
    """

    def __init__(self, slots: Slots, mapping_id: str, batch: int) -> None:
        self._slots = slots
        self.mapping_id = mapping_id
        #: The batch's number, in the order batches were received (from 1).
        self.batch = batch
        self._released = False
        self._closed = False

    def release(self) -> None:
        """The handler is done: free the slot for the next invocation (once)."""
        self._slots._end(self, close=False)

    def close(self) -> None:
        """The batch is settled: release the slot if that has not happened, and close it."""
        self._slots._end(self, close=True)


class Slots:
    """The concurrency slots of one LocalLambda.

    Args:
        concurrency: invocations at once over all mappings.
        on_change: called whenever a slot is released or closed (wakes the poll loop).

    Example:
        >>> slots = Slots(concurrency=4, on_change=lambda: None)
        >>> slots.has_room("mapping-1", max_concurrency=2)
        True
    """

    def __init__(self, concurrency: int, *, on_change: Callable[[], None]) -> None:
        self._concurrency = concurrency
        self._on_change = on_change
        self._lock = threading.Lock()
        self._running: collections.Counter[str] = collections.Counter()
        self._open = 0
        self._batches = 0

    @property
    def running(self) -> int:
        """Invocations running now (slots taken and not released)."""
        with self._lock:
            return sum(self._running.values())

    @property
    def open(self) -> int:
        """Batches received and not yet settled (slots taken and not closed)."""
        with self._lock:
            return self._open

    def has_room(self, mapping_id: str, max_concurrency: int | None) -> bool:
        """Whether one more invocation of the mapping may start now."""
        with self._lock:
            if sum(self._running.values()) >= self._concurrency:
                return False
            return max_concurrency is None or self._running[mapping_id] < max_concurrency

    def take(self, mapping_id: str) -> Slot:
        """A slot for a batch the mapping received (taken whether or not there is room)."""
        with self._lock:
            self._running[mapping_id] += 1
            self._open += 1
            self._batches += 1
            return Slot(self, mapping_id, self._batches)

    def _end(self, slot: Slot, *, close: bool) -> None:
        with self._lock:
            if not slot._released:
                slot._released = True
                self._running[slot.mapping_id] -= 1
                if self._running[slot.mapping_id] <= 0:
                    del self._running[slot.mapping_id]
            if close and not slot._closed:
                slot._closed = True
                self._open -= 1
        self._on_change()
