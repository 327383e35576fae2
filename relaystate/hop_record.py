"""How a hop is told: its record, its timeline entry, its name in a log line.

Each hop ends in one record, made here from what the hop counted (:mod:`relaystate.hop`)::

    log line   ``relaystate hop {...}`` on the job's logger (default: ``relaystate``), the same
               dict as ``record.relaystate_hop``; a WARNING while a unit's error is retried, an
               ERROR when the shard failed (with the error's traceback), else INFO
    span       the record's fields as the hop span's attributes (:mod:`relaystate.tracing`)
    EMF        with ``metrics`` on the job class, one CloudWatch embedded-metric line on stdout
    timeline   with ``timeline`` on the job class, the hop's entry, which the ledger write that
               ends the hop keeps (:mod:`relaystate.timeline`)

Example:
    >>> from relaystate import RelayPacket
    >>> where(RelayPacket(job_id="j1", job_type="T", function_name="f", hop=3))
    'hop 3 of job j1 shard 0'
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from . import clock
from .tracing import UNTRACED

if TYPE_CHECKING:
    from .hop_state import HopState
    from .job_protocols import HopJob
    from .packet import RelayPacket
    from .timeline import HopEntry
    from .tracing import HopSpan

__all__ = ["record_hop", "timeline_entry", "wanted", "where"]

log = logging.getLogger("relaystate")

#: The level of a hop record by outcome (INFO for the rest).
_LEVELS = {"failed": logging.ERROR, "retrying": logging.WARNING}


def record_hop(
    job: HopJob,
    state: HopState,
    span: HopSpan,
    *,
    exc: BaseException | None = None,
    **fields: Any,
) -> None:
    """One structured line per hop: JSON text, and the same dict as ``record.relaystate_hop``.

    Example of a line: ``relaystate hop {"job_id": "9f...", "shard": 0, "hop": 3,
    "outcome": "relayed", "units": 120, ...}``. A hop that ended in an error (``exc``: the
    unit's exception, retried or failing the shard) logs it as the record's ``exc_info``,
    so that its traceback follows the line: a WARNING while the Retry policy tries again,
    an ERROR when the shard failed.
    """
    assert job.packet is not None
    logger, level = _logger(job, str(fields.get("outcome")))
    logged = logger.isEnabledFor(level)
    if not (logged or job.metrics or span is not UNTRACED):
        return  # nobody reads the record: see wanted()
    record = {
        "job_id": job.job_id,
        "job_type": job.type_name(),
        "shard": job.packet.shard,
        "state": job.state.value,
        **fields,
    }
    marked = state.progress
    if marked is not None:
        record["done"], record["total"] = marked["done"], marked["total"]
    span.record(record, exc)
    if logged:
        text = json.dumps(record)
        # Only when there is one: a logger object on the class may not take exc_info.
        traceback: dict[str, Any] = {"exc_info": exc} if exc is not None else {}
        logger.log(level, "relaystate hop %s", text, extra={"relaystate_hop": record}, **traceback)
    if job.metrics:
        from .metrics import emf_line

        retries = job.stats.retries - state.retries_at_start
        print(emf_line(record, retries=max(retries, 0)), flush=True)


def wanted(job: HopJob, span: HopSpan, outcome: str) -> bool:
    """Whether anything reads the record of a hop that ended in ``outcome``: its log line's
    level is enabled, the job writes metrics, or its span is traced. Every hop asks, so that
    one nobody reads is not made (nor the figures that go into it).

    Example:
        >>> wanted(job, UNTRACED, "relayed")  # doctest: +SKIP
        False
    """
    logger = job.logger if job.logger is not None else log  # _logger's, without the call
    level = _LEVELS.get(outcome, logging.INFO)
    return bool(logger.isEnabledFor(level) or job.metrics or span is not UNTRACED)


def _logger(job: HopJob, outcome: str) -> tuple[Any, int]:
    """The logger a hop's record goes to, and the level of a record of ``outcome``."""
    return job.logger if job.logger is not None else log, _LEVELS.get(outcome, logging.INFO)


def timeline_entry(
    job: HopJob,
    state: HopState,
    context: Any,
    worked: tuple[int, int],
    *,
    outcome: str,
    delay: int,
    error: Exception | None,
) -> HopEntry:
    """The hop's timeline entry, as of now (its end is the ledger write that follows).

    ``worked``: the units the hop ran and the ms spent in them; ``outcome``, ``delay`` and
    ``error``: how the hop ends.
    """
    from .timeline import HopEntry  # only jobs that keep a timeline pay for its import

    packet = job.packet
    assert packet is not None
    units, work_ms = worked
    had_ms = max(state.started_ms, 1.0)
    return HopEntry(
        hop=packet.hop,
        started_ms=state.began_ms,
        ended_ms=clock.now_ms(),
        units=units,
        work_ms=work_ms,
        utilization=round(min(work_ms / had_ms, 1.0), 4),
        outcome=outcome,
        delay_s=delay,
        memory_mb=_memory_mb(context),
        error=repr(error) if error else "",
    )


def where(packet: RelayPacket) -> str:
    """The hop a packet is for, as log lines name it."""
    return f"hop {packet.hop} of job {packet.job_id} shard {packet.shard}"


def _memory_mb(context: Any) -> int:
    """The Lambda's memory size from its context (0 when it does not say)."""
    try:
        return int(getattr(context, "memory_limit_in_mb", 0) or 0)
    except (TypeError, ValueError):
        return 0
