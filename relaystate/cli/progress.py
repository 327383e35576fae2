"""The live progress bar of a local run: units done (of how many, if known), hops, time.

The workers run in threads of this process; a poller thread of the bar reads the counts
ten times a second, so the bar moves while a hop is still working.

Example:
    >>> with progress_bar(Console(), "CopyRows (1 shard)", 100, read):  # doctest: +SKIP
    ...     lam.run_until_idle(timeout_s=60)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(
    console: Console, name: str, total: int | None, read: Callable[[], tuple[int, int]]
) -> Iterator[None]:
    """A bar of units done (of ``total``, if known) and hops so far, refreshed from ``read``.

    ``read`` returns ``(units done, hops so far)``; it is called once more as the block ends,
    so the bar closes on the final counts.

    Example:
        >>> with progress_bar(Console(), "Count (1 shard)", None, lambda: (3, 1)):
        ...     pass  # doctest: +SKIP
    """
    units = "{task.completed:,.0f}/{task.total:,.0f} units" if total else "{task.completed:,} units"
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(units),
        TextColumn("{task.fields[hops]} hops"),
        TimeElapsedColumn(),
    )
    stop = threading.Event()
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(name, total=total, hops=0)

        def update() -> None:
            done, hops = read()
            bar.update(task, completed=done, hops=hops)

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
