"""A job class as a local run runs it: its units counted as they end, its retry delay shortened.

The workers of ``relaystate run`` execute in this process, on the class the command imported.
For the length of the run, :func:`instrumented` sets two attributes on that class and puts
back what was there after it:

- ``step`` counts the units that returned, so the progress bar moves while a hop works (a hop
  record counts its units only when the hop ends, which may be minutes later) -- and, for a
  class with a ``progress`` hook, asks it where each shard is after each unit: the bar then
  shows the job's own units of its total;
- ``retry`` (only when asked, ``--retry-delay``) relays a unit error after the given delay
  instead of the policy's ``hop_delay_s`` (10 s doubling, by default): the run then waits as
  long as the user chose, not 70 s before a failing job is declared failed.

Example:
    >>> with instrumented(CountPrimes, hop_delay_s=0) as units:  # doctest: +SKIP
    ...     lam.run_until_idle(timeout_s=60)
    >>> units.value  # doctest: +SKIP
    20
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from ..job import RelayJob
from ..progress import measure
from ..retry import Retry
from ..states import DONE

__all__ = ["UnitCounter", "has_progress", "instrumented"]


class UnitCounter:
    """Units that returned so far, counted from any thread; and, for a job with a
    ``progress`` hook, how much each shard has done (its latest answer).

    Example:
        >>> units = UnitCounter()
        >>> units.add()
        >>> units.mark(0, 40)
        >>> units.value, units.done
        (1, 40)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0
        self._done: dict[int, int] = {}

    def add(self) -> None:
        with self._lock:
            self.value += 1

    def mark(self, shard: int, done: int) -> None:
        """Shard ``shard`` has done ``done`` (the progress hook's answer)."""
        with self._lock:
            self._done[shard] = done

    @property
    def done(self) -> int:
        """What the shards have done, summed (their latest progress answers)."""
        with self._lock:
            return sum(self._done.values())


def has_progress(job_class: type[RelayJob]) -> bool:
    """Whether the job class defines the ``progress`` hook (the default says nothing).

    Example:
        >>> has_progress(RelayJob)
        False
    """
    return inspect.getattr_static(job_class, "progress") is not RelayJob.__dict__["progress"]


_MISSING = object()


@contextmanager
def instrumented(job_class: type[RelayJob], *, hop_delay_s: int | None) -> Iterator[UnitCounter]:
    """Count ``job_class``'s units, and (``hop_delay_s`` not ``None``) shorten its retry delay.

    Args:
        job_class: the class the run's workers run.
        hop_delay_s: the ``Retry.hop_delay_s`` to run with, or ``None`` to keep the class's.
    """
    counter = UnitCounter()
    # The descriptor as it is (a function, a staticmethod...): bound per call below.
    raw_step = inspect.getattr_static(job_class, "step")
    tracked = has_progress(job_class)

    @functools.wraps(getattr(raw_step, "__func__", raw_step))
    def step(self: RelayJob, cursor: Any) -> Any:
        result = raw_step.__get__(self, type(self))(cursor)
        counter.add()
        if tracked and self.packet is not None:
            _mark(counter, self, cursor, result)
        return result

    changes: dict[str, Any] = {"step": step}
    policy = inspect.getattr_static(job_class, "retry", None)
    if hop_delay_s is not None and isinstance(policy, Retry):
        changes["retry"] = attrs.evolve(policy, hop_delay_s=hop_delay_s)
    saved = {name: job_class.__dict__.get(name, _MISSING) for name in changes}
    for name, value in changes.items():
        setattr(job_class, name, value)
    try:
        yield counter
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                delattr(job_class, name)
            else:
                setattr(job_class, name, value)


def _mark(counter: UnitCounter, job: RelayJob, cursor: Any, result: Any) -> None:
    """Where the unit left the shard, by the job's own hook (all of it, after DONE)."""
    assert job.packet is not None
    after = getattr(result, "next_cursor", result)  # a Sleep or WaitFor goes on from there
    measured = measure(job.progress, cursor if result is DONE else after, job=job.job_id)
    if measured is not None:
        counter.mark(job.packet.shard, measured[1] if result is DONE else measured[0])
