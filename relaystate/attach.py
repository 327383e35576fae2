"""A handle on a job that runs elsewhere: found by its id, in the ledger or by its queue.

``RelayJob.attach(job_id)`` returns the job in its current state -- read from the ledger when
the job has one (its state, shards, type), else from its queue (its tags, and whether a mapping
feeds it) -- with a packet that names its queue, DLQ and mapping, so that ``status()``,
``pause()``, ``unpause()``, ``signal()`` and ``tear_down()`` act on that job. Nothing is sent.

Example:
    >>> job = CopyRows.attach("import-2026-12-01", ledger="relaystate-ledger")  # doctest: +SKIP
    >>> job.state  # doctest: +SKIP
    <JobState.RUNNING: 'running'>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import resources
from .errors import UnknownJobError
from .ledger import JobStatus
from .names import TAG_PREFIX, queue_name_for
from .packet import RelayPacket
from .states import JobState

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = ["locate"]


def locate(
    job_id: str,
    *,
    job_type: str,
    job_version: str,
    queue_prefix: str,
    queue_name: str | None,
    backend: Backend,
    ledger: LedgerPort | None,
) -> RelayPacket:
    """A packet that describes the job ``job_id`` as it stands now (state, shards, resources).

    Raises:
        UnknownJobError: neither the ledger nor a queue knows the job.
    """
    status = ledger.status(job_id) if ledger is not None else None
    name = queue_name_for(queue_prefix, job_id, queue_name)
    spec = resources.QueueSpec(
        job_id=job_id,
        job_type=job_type,
        function_name="-",
        queue_name=name,
        visibility_timeout_s=30,
    )
    found = resources.taken(backend, spec)
    if status is None and found is None:
        where = "in the ledger or " if ledger is not None else ""
        raise UnknownJobError(
            f"no job {job_id} {where}by its queue {name!r}: check the id (and queue_prefix or "
            "queue_name), the region, and -- for a job that ended -- that its records had not "
            "expired"
        )
    tags = found.tags if found is not None else {}
    state = _state(status, found)
    return RelayPacket(
        job_id=job_id,
        job_type=(status.job_type if status else "") or tags.get(f"{TAG_PREFIX}job-type", job_type),
        function_name=(status.function_name if status else "")
        or tags.get(f"{TAG_PREFIX}function", "")
        or "unknown",
        queue_url=found.queue.url if found is not None and found.queue is not None else "",
        dlq_url=found.dlq.url if found is not None and found.dlq is not None else "",
        mapping_id=found.live[0].id if found is not None and found.live else "",
        shards=max(status.shards if status else 1, 1),
        state=state,
        job_version=job_version,
    )


def _state(status: JobStatus | None, found: resources.Taken | None) -> JobState:
    if status is not None:
        return status.state
    assert found is not None
    if found.queue is None:
        return JobState.FAILED  # only a DLQ is left: failed packets in it
    if not found.live:
        return JobState.TORN_DOWN  # on its way out, or left over
    if all(m.state in ("Disabled", "Disabling") for m in found.live):
        return JobState.PAUSED
    return JobState.QUEUED
