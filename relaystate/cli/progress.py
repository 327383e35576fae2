"""The live progress bar of a local run: units done (of how many, if known), hops, waits, time.

The workers run in threads of this process; a poller thread of the bar reads the counts
ten times a second, so the bar moves while a hop is still working, and says when the run
waits (a retry delay, a redelivery) and for how long.

Example:
    >>> with progress_bar(Console(), "CopyRows (1 shard)", 100, read):  # doctest: +SKIP
    ...     lam.run_until_idle(timeout_s=60)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Reading", "progress_bar"]


@attrs.frozen
class Reading:
    """What the bar shows: units done, hops so far, and what the run waits for (or ``""``).

    Example:
        >>> Reading(units=40, hops=2, waiting="waiting 7 s: the Retry policy of shard 0")
        Reading(units=40, hops=2, waiting='waiting 7 s: the Retry policy of shard 0')
    """

    units: int
    hops: int
    waiting: str = ""


@contextmanager
def progress_bar(
    console: Console, name: str, total: int | None, read: Callable[[], Reading]
) -> Iterator[None]:
    """A bar of units done (of ``total``, if known), hops so far and waits, refreshed from ``read``.

    ``read`` is called once more as the block ends, so the bar closes on the final counts.

    Example:
        >>> with progress_bar(Console(), "Count (1 shard)", None, lambda: Reading(3, 1)):
        ...     pass  # doctest: +SKIP
    """
    units = "{task.completed:,.0f}/{task.total:,.0f} units" if total else "{task.completed:,} units"
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(units),
        TextColumn("{task.fields[hops]} hops"),
        TimeElapsedColumn(),
        TextColumn("[yellow]{task.fields[waiting]}"),
    )
    stop = threading.Event()
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(name, total=total, hops=0, waiting="")

        def update() -> None:
            now = read()
            bar.update(task, completed=now.units, hops=now.hops, waiting=now.waiting)

        def poll() -> None:
            while not stop.wait(0.1):
                update()

        poller = threading.Thread(target=poll, name="relaystate-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
            update()
