"""The hop tally: what the workers of a local run log, counted as they log it.

Every hop logs one structured record on the ``relaystate`` logger (``record.relaystate_hop``:
job id, shard, outcome ``relayed``/``finished``/``failed``, units...; on AWS, a JSON line in
CloudWatch); a hop that raised logs one with outcome ``error``. The local runtime runs the
workers in this process, so ``relaystate run`` and ``demo`` read those records here instead
of printing them: :class:`HopLog` keeps the counts for the progress bar and the summary, and
shows warnings and errors as one line each.

Example:
    >>> log = HopLog(Console())  # doctest: +SKIP
    >>> with listening(log):  # doctest: +SKIP
    ...     lam.run_until_idle(timeout_s=60)
    >>> log.hops, log.units, sorted(log.done_shards)  # doctest: +SKIP
    (12, 100, [0])
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from .output import one_line

__all__ = ["HopLog", "listening"]


class HopLog(logging.Handler):
    """Tallies the hop records workers log, and shows their warnings and errors as one line each.

    Records of other jobs are not counted once :attr:`job_id` is set.

    Example:
        >>> log = HopLog(Console())
        >>> log.hops, log.units, log.relays
        (0, 0, 0)
    """

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.job_id = ""
        self.hops = 0
        self.units = 0
        self.relays = 0
        self.done_shards: set[int] = set()
        #: Why shards failed: ``shard N failed: <error>``.
        self.failed: list[str] = []
        #: The error of the last hop that failed (and will be delivered again).
        self.last_error = ""
        #: Stop showing warnings and errors (while the command tears a busy job down).
        self.quiet = False

    def emit(self, record: logging.LogRecord) -> None:
        hop = getattr(record, "relaystate_hop", None)
        if isinstance(hop, dict):
            if hop.get("outcome") == "error":
                self.last_error = str(hop.get("error", ""))
            else:
                self._count(hop)
                return
        if record.levelno < logging.WARNING:
            return
        if record.exc_info and record.exc_info[1] is not None and not self.last_error:
            self.last_error = one_line(record.exc_info[1])
        if self.quiet:
            return
        message = record.getMessage()
        line = message.splitlines()[0].removeprefix("relaystate: ") if message else record.name
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({one_line(record.exc_info[1])})"
        style = "red" if record.levelno >= logging.ERROR else "yellow"
        self.console.print(f"[{style}]{record.levelname.lower()}:[/] {line}", markup=True)

    def _count(self, hop: dict[str, object]) -> None:
        if self.job_id and hop.get("job_id") != self.job_id:
            return
        shard = int(str(hop.get("shard", 0)))
        self.hops += 1
        self.units += int(str(hop.get("units", 0)))
        outcome = hop.get("outcome")
        if outcome == "finished":
            self.done_shards.add(shard)
        elif outcome in ("relayed", "finishing"):
            self.relays += 1
        elif outcome == "failed":
            self.failed.append(f"shard {shard} failed: {hop.get('error', '')}")


@contextmanager
def listening(handler: HopLog) -> Iterator[HopLog]:
    """Route the ``relaystate`` logger's records to ``handler`` alone while the block runs.

    Example:
        >>> with listening(HopLog(Console())) as log:  # doctest: +SKIP
        ...     lam.run_until_idle(timeout_s=60)
    """
    logger = logging.getLogger("relaystate")
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
