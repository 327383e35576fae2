"""The ledger's records: what every ledger returns, alike from DynamoDB and from memory.

A hop's claim comes back as a :class:`Claim` (what the hop may do with its delivery); a job's
status as a :class:`JobStatus` with a :class:`ShardStatus` per shard that has run; the join
reads a :class:`ShardResult` per shard, and a signal or an unpause sends the :class:`Parked`
packets. What they mean, and the rules a ledger makes them by, are :mod:`relaystate.ledger`'s;
they are importable from there too.

Example:
    >>> Claim("resend", outbox='{"hop": 4}', delay_seconds=30).outcome
    'resend'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from . import clock
from .states import JobState

if TYPE_CHECKING:
    from .progress import Progress
    from .timeline import HopEntry

__all__ = ["Claim", "ClaimOutcome", "JobStatus", "Parked", "ShardResult", "ShardStatus"]

ClaimOutcome = Literal["run", "duplicate", "busy", "resend", "teardown"]


@attrs.frozen
class Claim:
    """What a hop may do with its delivery.

    ``run``: work the hop. ``duplicate``: acknowledge, do nothing. ``busy``: the same hop runs
    elsewhere now; leave the message for redelivery. ``resend``: the hop checkpointed but may
    not have sent its next packet: send ``outbox`` again, delayed by ``delay_seconds`` (for a
    ``waiting`` outbox, as its wait decides: :func:`relaystate.signals.wake_delay`).
    ``teardown``: every shard has ended but the teardown did not complete: do it.
    """

    outcome: ClaimOutcome
    outbox: str = ""
    delay_seconds: int = 0
    #: The outbox is a packet parked waiting for a signal (not one in the queue's way).
    waiting: bool = False


@attrs.frozen
class ShardStatus:
    """One shard as the ledger has it."""

    shard: int
    hop: int
    status: str
    stats: Mapping[str, int]
    cursor: Any
    updated_ms: int
    error: str = ""
    #: When the shard's next hop is due, in ms since the epoch (a sleep's end, a wait's
    #: deadline); 0 when it is due now or runs.
    wake_ms: int = 0
    #: The signal the shard waits for (status ``waiting``), or ``""``.
    waiting: str = ""
    #: The shard's latest progress mark (:mod:`relaystate.progress`); ``None`` without a hook.
    progress: Mapping[str, int] | None = None
    #: With ``timeline = True`` on the job class: the shard's last hops, in hop order (see
    #: :mod:`relaystate.timeline`).
    timeline: tuple[HopEntry, ...] = ()


@attrs.frozen
class JobStatus:
    """A job as the ledger has it: its state and every shard that has run."""

    job_id: str
    state: JobState
    shards: int
    done: int
    failed: int
    job_type: str
    function_name: str
    created_ms: int
    updated_ms: int
    shard_status: tuple[ShardStatus, ...] = ()
    #: What the job is (its type, data and options, hashed), as its start recorded it.
    fingerprint: str = ""
    #: The job is paused (``job.pause()``) and has not ended.
    paused: bool = False
    #: Every signal recorded for the job: name -> payload (parsed JSON). A plain mapping, as
    #: ``stats`` is: ``attrs.asdict`` (``relaystate status --json``) serializes it.
    signals: Mapping[str, Any] = attrs.Factory(dict)

    @property
    def units(self) -> int:
        """Units done, summed over the shards."""
        return sum(s.stats.get("units", 0) for s in self.shard_status)

    @property
    def progress(self) -> Progress | None:
        """Percent done, units per second and the time left, as of now, from the shards'
        progress marks (:mod:`relaystate.progress`); ``None`` without a ``progress`` hook.

        Example:
            >>> CopyRows.status_of(job_id, ledger="t").progress.eta_s  # doctest: +SKIP
            412.5
        """
        from .progress import estimate

        return estimate(
            ((s.progress, s.status in ("done", "failed")) for s in self.shard_status),
            shards=self.shards,
            now_ms=clock.now_ms(),
        )


@attrs.frozen
class ShardResult:
    """How a shard ended, as the join reads it (:meth:`~relaystate.ports.LedgerPort.results`).

    Example:
        >>> ShardResult(0, "done", {"sum": 45})
        ShardResult(shard=0, status='done', result={'sum': 45}, error='')
    """

    shard: int
    #: ``"done"``, ``"failed"``, or ``""`` when the shard has not ended.
    status: str
    #: The shard's result (parsed JSON), ``None`` if it set none.
    result: Any = None
    error: str = ""


@attrs.frozen
class Parked:
    """A waiting shard's packet: what to send to wake it.

    Example:
        >>> Parked(shard=0, hop=4, outbox='{"hop": 4}').delay_seconds
        0
    """

    shard: int
    #: The hop the shard waits at (the one ``outbox`` carries).
    hop: int
    #: The packet to send (JSON text, uncompressed).
    outbox: str
    delay_seconds: int = 0
