"""Progress and ETA: how far a job is, how fast it goes, and when it will be done.

A job class may define ``progress(cursor) -> (done, total)``, in units of its own choosing
(rows, files, bytes). At the end of every hop the shard's *mark* is taken::

    done, total     the hook's answer for the cursor the hop ended at (total, total once the
                    shard's step returned DONE)
    at_ms           when (ms since the epoch)
    since_ms        when the shard's first hop began -- the anchor its rate is measured from
    since_done      how far it was then (the hook's answer for the shard's first cursor)

The packet carries the mark to the next hop (``RelayPacket.progress``) and, with a ledger, the
hop's checkpoint records it in the shard's record -- in the same write, so a hop still costs
two. :func:`estimate` turns the shards' marks into the job's :class:`Progress`: percent done,
units per second and the time left.

The rate is measured over elapsed time, not over the time spent in ``step`` (the budget's
timing histogram): between its units a job also pays for the relays, the poller's pickup,
delays and retries, and a rate over elapsed time counts them as they come, without a model
of each. On a steady job the ETA therefore tracks the actual remaining time closely (the
functional tests hold it within 20 %); between marks it counts down from the last one.

Example:
    >>> first = mark((0, 100), previous=None, began_ms=0, start=(0, 100), now_ms=0)
    >>> later = mark((40, 100), previous=first, began_ms=8_000, start=None, now_ms=10_000)
    >>> p = estimate([(later, False)], shards=1, now_ms=10_000)
    >>> p.percent, p.units_per_s, p.eta_s
    (40.0, 4.0, 15.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from . import clock

__all__ = ["Progress", "estimate", "mark", "measure", "take"]

log = logging.getLogger("relaystate")

#: The keys of a mark, all whole numbers.
MARK_KEYS = ("done", "total", "at_ms", "since_ms", "since_done")


@attrs.frozen
class Progress:
    """How far a job is: units done of the total, the rate, and the time left.

    Attributes:
        done: units done, summed over the shards that have reported.
        total: units in all, summed the same way.
        units_per_s: units a second, summed over the shards that run (of all shards, once
            every one has ended); ``None`` before a shard has made progress.
        eta_s: seconds until the last shard is done, counted down from the shards' latest
            marks; ``None`` while a running shard has no rate yet (or has not reported).
        reporting: how many shards have reported a mark (of :attr:`shards`).
        shards: how many shards the job has.

    Example:
        >>> Progress(done=25, total=100, units_per_s=5.0, eta_s=15.0).percent
        25.0
    """

    done: int
    total: int
    units_per_s: float | None = None
    eta_s: float | None = None
    reporting: int = 1
    shards: int = 1

    @property
    def percent(self) -> float:
        """``done`` of ``total`` in percent (100 when the total is 0)."""
        if self.total <= 0:
            return 100.0
        return round(100.0 * min(self.done, self.total) / self.total, 2)

    def text(self) -> str:
        """One line for people, e.g. ``"40.0 % (400 of 1,000), 12.5/s, 48 s left"``.

        Example:
            >>> Progress(done=400, total=1000, units_per_s=12.5, eta_s=48.0).text()
            '40.0 % (400 of 1,000), 12.5/s, 48 s left'
        """
        parts = [f"{self.percent:.1f} % ({self.done:,} of {self.total:,})"]
        if self.reporting < self.shards:
            parts[0] += f" [{self.reporting} of {self.shards} shards reported]"
        if self.units_per_s is not None:
            parts.append(f"{self.units_per_s:,.3g}/s")
        if self.eta_s is not None:
            parts.append(f"{_duration(self.eta_s)} left")
        return ", ".join(parts)


def measure(hook: Callable[[Any], Any], cursor: Any, *, job: str = "") -> tuple[int, int] | None:
    """``hook(cursor)`` as ``(done, total)``, or ``None``: the hook says nothing (the
    default), raised, or answered something else -- logged, never raised: progress is for
    people, and must not fail a hop.

    Example:
        >>> measure(lambda cursor: (cursor, 10), 3), measure(lambda cursor: None, 3)
        ((3, 10), None)
    """
    try:
        found = hook(cursor)
    except Exception:
        log.warning(
            "relaystate: the progress hook of %s raised; no progress recorded", job, exc_info=True
        )
        return None
    if found is None:
        return None
    if (
        isinstance(found, tuple | list)
        and len(found) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in found)
    ):
        return int(found[0]), int(found[1])
    log.warning(
        "relaystate: the progress hook of %s returned %r, not (done, total) as whole "
        "numbers >= 0; no progress recorded",
        job,
        found,
    )
    return None


def mark(
    measured: tuple[int, int],
    *,
    previous: Mapping[str, Any] | None,
    began_ms: int,
    start: tuple[int, int] | None,
    now_ms: int,
) -> dict[str, int]:
    """The shard's mark at the end of a hop (see the module's documentation).

    Args:
        measured: ``(done, total)`` where the hop ended.
        previous: the mark the hop's packet carried, whose anchor is kept (``None``: the
            shard's first mark).
        began_ms: when this hop began: the anchor of a first mark.
        start: ``(done, total)`` at the hop's first cursor: the anchor's ``done`` of a first
            mark (``None``: 0).
        now_ms: when the mark is taken.
    """
    done, total = measured
    anchored = previous is not None and all(
        isinstance(previous.get(k), int) for k in ("since_ms", "since_done")
    )
    if previous is not None and anchored:
        since_ms, since_done = int(previous["since_ms"]), int(previous["since_done"])
    else:
        since_ms, since_done = began_ms, start[0] if start is not None else 0
    return {
        "done": done,
        "total": total,
        "at_ms": now_ms,
        "since_ms": since_ms,
        "since_done": since_done,
    }


def take(
    hook: Callable[[Any], Any],
    cursor: Any,
    previous: Mapping[str, Any] | None,
    anchor: tuple[int, tuple[int, int] | None],
    *,
    finished: bool,
    job: str = "",
) -> dict[str, int] | None:
    """The shard's mark as a hop ends at ``cursor`` (all of it done once ``finished``: its
    step returned DONE), or ``None`` when the hook says nothing. ``previous``: the packet's
    mark; ``anchor``: when the hop began and the hook's answer then (see :func:`mark`).

    Example:
        >>> take(lambda c: (c, 10), 4, None, (0, None), finished=True)["done"]
        10
    """
    measured = measure(hook, cursor, job=job)
    if measured is None:
        return None
    if finished:
        measured = (measured[1], measured[1])
    began_ms, start = anchor
    return mark(
        measured, previous=previous or None, began_ms=began_ms, start=start, now_ms=clock.now_ms()
    )


def estimate(
    marks: Iterable[tuple[Mapping[str, Any] | None, bool]], *, shards: int, now_ms: int
) -> Progress | None:
    """The job's progress from its shards' marks, as of ``now_ms``; ``None`` without any.

    Args:
        marks: per shard that has a record, its mark (``None``: none) and whether it ended.
        shards: how many shards the job has (some may have no record yet).
        now_ms: the time to count the ETA down to.

    Example:
        >>> m = {"done": 5, "total": 10, "at_ms": 5_000, "since_ms": 0, "since_done": 0}
        >>> estimate([(m, False), (None, False)], shards=2, now_ms=5_000).eta_s is None
        True
    """
    done = total = reporting = 0
    rates: list[tuple[float, bool]] = []  # units a ms, and whether the shard ended
    left_ms: list[float | None] = []
    unmarked_running = False
    for found, ended in marks:
        values = _values(found)
        if values is None:
            unmarked_running = unmarked_running or not ended
            continue
        d, t, at_ms, since_ms, since_done = values
        reporting += 1
        done, total = done + d, total + t
        span_ms = at_ms - since_ms
        rate = (d - since_done) / span_ms if span_ms > 0 and d > since_done else None
        if rate is not None:
            rates.append((rate, ended))
        if not ended:
            left_ms.append(None if rate is None else max(t - d, 0) / rate - (now_ms - at_ms))
    if not reporting:
        return None
    running = [rate for rate, ended in rates if not ended]
    pool = running or [rate for rate, _ in rates]
    eta: float | None = None
    if not unmarked_running and reporting >= shards and all(x is not None for x in left_ms):
        eta = max([max(x, 0.0) / 1000 for x in left_ms if x is not None], default=0.0)
    return Progress(
        done=done,
        total=total,
        units_per_s=round(sum(pool) * 1000, 3) if pool else None,
        eta_s=None if eta is None else round(eta, 1),
        reporting=reporting,
        shards=max(shards, reporting),
    )


def _values(found: Mapping[str, Any] | None) -> tuple[int, int, int, int, int] | None:
    """A mark's numbers, or ``None`` for no mark (or a malformed one: a ledger's record or a
    packet made by another version)."""
    if not isinstance(found, Mapping):
        return None
    values = [found.get(k) for k in MARK_KEYS]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    d, t, at_ms, since_ms, since_done = (int(v) for v in values)  # type: ignore[arg-type]
    return d, t, at_ms, since_ms, since_done


def _duration(seconds: float) -> str:
    """``48 s``, ``12 min``, ``3 h 20 min``, ``2 d 4 h``."""
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 2 * 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"
