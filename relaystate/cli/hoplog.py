"""The hop tally: what the workers of a local run log, counted as they log it.

Every hop logs one structured record on the ``relaystate`` logger (``record.relaystate_hop``:
job id, shard, outcome ``relayed``/``finishing``/``retrying``/``finished``/``failed``,
units, delay...; a hop that ended in a unit error carries its traceback as ``exc_info``; on
AWS, a JSON line in CloudWatch); a hop that raised logs one with outcome ``error``. The local
runtime runs the workers in this process, so ``relaystate run`` and ``demo`` read those
records here instead of printing them: :class:`HopLog` keeps the counts for the progress bar
and the summary, says in one line when a shard waits (a retry, a delayed relay, a
redelivery) and for how long, and shows warnings and errors as one line each. The last
error's traceback is kept for the end of the run.

Example:
    >>> log = HopLog(Console())  # doctest: +SKIP
    >>> with listening(log):  # doctest: +SKIP
    ...     lam.run_until_idle(timeout_s=60)
    >>> log.hops, log.units, sorted(log.done_shards)  # doctest: +SKIP
    (12, 100, [0])
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TypeVar

from rich.console import Console

from .output import one_line

__all__ = ["ExcInfo", "HopLog", "listening"]

#: A logging record's ``exc_info``: the exception's type, value and traceback.
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class HopLog(logging.Handler):
    """Tallies the hop records workers log, and shows their warnings and errors as one line each.

    Records of other jobs are not counted once :attr:`job_id` is set.

    Example:
        >>> log = HopLog(Console())
        >>> log.hops, log.units, log.relays, log.retried
        (0, 0, 0, 0)
    """

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.job_id = ""
        self.hops = 0
        self.units = 0
        #: Hops that sent the next packet (``retried`` among them).
        self.relays = 0
        #: Hops that ended in a unit error and relayed, for the Retry policy to try it again.
        self.retried = 0
        self.done_shards: set[int] = set()
        #: Why shards failed: ``shard N failed: <error>``.
        self.failed: list[str] = []
        #: The error of the last hop that failed (and will be delivered again).
        self.last_error = ""
        #: The last error's traceback, and where it happened (``shard 0 hop 4``).
        self.last_exc_info: ExcInfo | None = None
        self.last_error_where = ""
        #: Stop showing warnings and errors (while the command tears a busy job down).
        self.quiet = False
        #: The job's ``Retry.hop_retries`` ("retry 1 of 3"), and what shortens its waits.
        self.hop_retries = 0
        self.retry_hint = ""
        #: When SQS delivers a failed invocation's packet again, and why then.
        self.redelivery_s = 0.0
        self.redelivery_why = ""
        #: Every hop record of the job, as logged (what ``run --timeline`` draws).
        self.records: list[dict[str, object]] = []
        self._clock = clock
        self._lock = threading.Lock()
        self._waits: dict[Hashable, tuple[float, str]] = {}
        self._retrying: dict[int, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        hop = getattr(record, "relaystate_hop", None)
        if isinstance(hop, dict):
            if hop.get("outcome") == "error":  # the hop raised outside its units
                self._remember(record, str(hop.get("error", "")), "")
            else:
                self._count(hop, record)
                return
        if record.levelno < logging.WARNING:
            return
        if record.exc_info and record.exc_info[1] is not None and not self.last_error:
            self.last_error = one_line(record.exc_info[1])
        message = record.getMessage()
        line = message.splitlines()[0].removeprefix("relaystate: ") if message else record.name
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({one_line(record.exc_info[1])})"
        self._say(record.levelno, line)

    # -- waits ----------------------------------------------------------------------------------

    def wait(self, key: Hashable, seconds: float, why: str) -> None:
        """Note that something (``key``) waits ``seconds`` before it goes on, and why."""
        with self._lock:
            if seconds > 0:
                self._waits[key] = (self._clock() + seconds, why)
            else:
                self._waits.pop(key, None)

    def waiting(self) -> str:
        """The wait that ends first, as ``waiting 7 s: <why>`` (empty when nothing waits).

        Example:
            >>> log = HopLog(Console())
            >>> log.wait("shard 0", 10, "Retry policy, shard 0")
            >>> log.waiting()
            'waiting 10 s: Retry policy, shard 0'
        """
        now = self._clock()
        with self._lock:
            for key in [k for k, (until, _) in self._waits.items() if until <= now]:
                del self._waits[key]
            if not self._waits:
                return ""
            until, why = min(self._waits.values())
        return f"waiting {math.ceil(until - now)} s: {why}"

    def invocation_failed(self, function: str, outcome: str, error: str) -> None:
        """Say that an invocation failed and when SQS delivers its packet again.

        Example:
            >>> HopLog(Console()).invocation_failed("count-worker", "timeout", "")  # doctest: +SKIP
            warning: an invocation of count-worker timed out; SQS delivers its packet again...
        """
        if not self.quiet:
            self.last_error = error or outcome
        what = "timed out" if outcome == "timeout" else "failed"
        if error:
            what += f" ({error})"
        self.wait(("redelivery", function), self.redelivery_s, "SQS delivers a packet again")
        self._say(
            logging.WARNING,
            f"an invocation of {function} {what}; SQS delivers its packet again in "
            f"{self.redelivery_s:g} s{_aside(self.redelivery_why, self.retry_hint)}",
        )

    # -- the tally ------------------------------------------------------------------------------

    def _count(self, hop: dict[str, object], record: logging.LogRecord) -> None:
        if self.job_id and hop.get("job_id") != self.job_id:
            return
        shard = int(str(hop.get("shard", 0)))
        number = hop.get("hop", "?")
        outcome = hop.get("outcome")
        error = str(hop.get("error", ""))
        delay = int(str(hop.get("delay_s", 0) or 0))
        tries = 0
        with self._lock:
            self.records.append(dict(hop))
            self.hops += 1
            self.units += int(str(hop.get("units", 0)))
            self._waits.pop(("shard", shard), None)  # the shard's wait, if any, is over
            # A sleep relays with a delay; a wait with a timeout relays its wake-up (a wait
            # without one parks the packet in the ledger: nothing is sent).
            if outcome in ("relayed", "finishing", "retrying", "sleeping") or (
                outcome == "waiting" and delay > 0
            ):
                self.relays += 1
            if outcome == "retrying":
                self.retried += 1
                tries = self._retrying[shard] = self._retrying.get(shard, 0) + 1
            else:
                self._retrying.pop(shard, None)
        if outcome == "finished":
            self.done_shards.add(shard)
        elif outcome == "failed":
            self.failed.append(f"shard {shard} failed: {error}")
            self._remember(record, error, f"shard {shard} hop {number}")
            self._say(logging.ERROR, f"shard {shard} failed at hop {number}: {error}")
        elif outcome == "retrying":
            self._remember(record, error, f"shard {shard} hop {number}")
            self.wait(("shard", shard), delay, f"the Retry policy of shard {shard}")
            of = f" of {self.hop_retries}" if self.hop_retries else ""
            self._say(
                logging.WARNING,
                f"shard {shard} hop {number}: {error}; the job's Retry policy runs the unit again "
                f"in {delay} s{_aside(f'hop retry {tries}{of}', self.retry_hint)}",
            )
        elif delay > 0:
            self.wait(("shard", shard), delay, f"shard {shard} relayed with a delay")

    def _remember(self, record: logging.LogRecord, error: str, where: str) -> None:
        if self.quiet:
            return  # the errors of hops cut short by the command's own teardown
        self.last_error = error or self.last_error
        info = record.exc_info
        if info and info[0] is not None and info[1] is not None:
            self.last_exc_info = (info[0], info[1], info[2])
            self.last_error_where = where

    def _say(self, level: int, line: str) -> None:
        if self.quiet:
            return
        style = "red" if level >= logging.ERROR else "yellow"
        name = logging.getLevelName(level).lower()
        self.console.print(f"[{style}]{name}:[/] {line}", markup=True, highlight=False)


def _aside(*parts: str) -> str:
    """`` (a; b)`` of the parts that are not empty; nothing when all are."""
    shown = "; ".join(p for p in parts if p)
    return f" ({shown})" if shown else ""


_H = TypeVar("_H", bound=logging.Handler)


@contextmanager
def listening(handler: _H) -> Iterator[_H]:
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
