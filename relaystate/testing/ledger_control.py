"""What job control keeps in the in-memory ledger: signals, parked packets, the pause flag and
the control lease.

:class:`MemoryJobControl` holds the ledger operations of ``WaitFor``, signals and pausing
(:mod:`relaystate.signals`, :mod:`relaystate.pause`), as
:class:`~relaystate.aws.dynamodb_control.JobControlTable` holds them for DynamoDB;
:class:`~relaystate.testing.MemoryLedger` adds a job's and its shards' lifecycle on top. Each
is one :meth:`~relaystate.testing.ledger_table.MemoryTable._call` on the table's records:

    put_signal            a signal's record on the job, put once in a transaction that checks
                          the job exists
    signals, waiting_for  the job's signals; its shards that wait for one
    pending               its shards whose next packet the ledger holds and no signal sends
    set_paused            the job record's ``paused``, unless the job has ended
    claim_control,        the job record's control lease: who pauses or unpauses it now
    release_control
    park, parked,         parked packets, keyed by their body's SHA-256 (a body parked twice
    forget_parked         is kept once)

Example:
    >>> control = MemoryJobControl()
    >>> control.park("j", ['{"hop": 3}', '{"hop": 3}'])
    >>> control.parked("j")
    ['{"hop": 3}']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError, SignalConflictError
from ..ledger import (
    Parked,
    expires_s,
    pack_outbox,
    pack_signal,
    parked_key,
    retry_conflicts,
    same_payload,
    unpack_outbox,
)
from ..sleep import delay_until
from ..states import JobState
from .ledger_table import MemoryRecord, MemoryTable

__all__ = ["MemoryJobControl"]


class MemoryJobControl(MemoryTable):
    """The in-memory ledger's signals, parked packets and pause flag (the base of
    :class:`~relaystate.testing.MemoryLedger`; its arguments are :class:`MemoryTable`'s).

    Example:
        >>> MemoryJobControl().signals("j")
        {}
    """

    def put_signal(self, job_id: str, name: str, payload_json: str) -> bool:
        """Record a signal for the job; False if the same payload was recorded before."""
        packed = pack_signal(name, payload_json)

        def write() -> bool:  # a transaction: the job is checked as the signal is written
            with self._call("put_signal", job_id, transaction=True) as now:
                job = self.jobs.get(job_id)
                if job is None:
                    raise ConfigurationError(
                        f"job {job_id} is not in the ledger {self.table_name} (never started "
                        "with it, or expired): it has no signals"
                    )
                found = job.signals.get(name)
                if found is None:
                    job.signals[name] = MemoryRecord(packed, expires_s(now))
                    return True
                if same_payload(unpack_outbox(found.packed), payload_json):
                    return False
                raise SignalConflictError(name, job_id)

        return retry_conflicts(write)

    def signals(self, job_id: str) -> dict[str, Any]:
        """Every signal recorded for the job: name -> payload."""
        with self._call("signals", job_id):
            job = self.jobs.get(job_id)
            recorded = {} if job is None else dict(sorted(job.signals.items()))
        return {name: json.loads(unpack_outbox(r.packed)) for name, r in recorded.items()}

    def waiting_for(self, job_id: str, name: str) -> list[Parked]:
        """The shards that wait for signal ``name`` now, with the packet that wakes each."""
        with self._call("waiting_for", job_id):
            return [
                Parked(shard, found.hop, unpack_outbox(found.outbox), found.outbox_delay)
                for (of_job, shard), found in sorted(self.shards.items())
                if of_job == job_id
                and found.status == "waiting"
                and found.waiting_for == name
                and found.outbox is not None
            ]

    def pending(self, job_id: str) -> list[Parked]:
        """The shards whose next packet the ledger holds and no signal sends, or the packet
        whose delivery tears the job down (see :meth:`~relaystate.ports.LedgerPort.pending`)."""
        with self._call("pending", job_id) as now:
            job = self.jobs.get(job_id)
            if job is not None and job.teardown_due():
                # Every shard has ended, none is pending: only the teardown may be missing.
                last = self.shards.get((job_id, job.last_shard))
                if last is None or last.outbox is None:
                    return []
                return [Parked(job.last_shard, last.hop, unpack_outbox(last.outbox), 0)]
            return [
                Parked(
                    shard,
                    found.hop,
                    unpack_outbox(found.outbox),
                    delay_until(
                        found.wake_ms
                        if found.status == "waiting"
                        else found.updated_ms + 1000 * found.outbox_delay,
                        now,
                    ),
                )
                for (of_job, shard), found in sorted(self.shards.items())
                if of_job == job_id
                and found.outbox is not None
                and (
                    found.status == "queued"
                    or (found.status == "waiting" and found.wake_ms > 0)
                    or (found.status == "running" and found.lease_until < now)
                )
            ]

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Record the job paused, or not; one that has ended (or is unknown) is left as it is."""
        with self._call("set_paused", job_id) as now:
            job = self.jobs.get(job_id)
            ended = (JobState.TORN_DOWN.value, JobState.FAILED.value)
            if job is not None and job.state not in ended:
                job.paused, job.updated_ms, job.ttl = paused, now, expires_s(now)

    def claim_control(self, job_id: str, owner: str, lease_ms: int) -> bool:
        """Take the job's control for ``owner`` until ``lease_ms`` from now; True if it is
        ``owner``'s (an unknown job's: True, nothing written)."""
        with self._call("claim_control", job_id) as now:
            job = self.jobs.get(job_id)
            if job is None:
                return True
            if job.control_owner not in (None, owner) and job.control_until >= now:
                return False
            job.control_owner, job.control_until = owner, now + lease_ms
            return True

    def release_control(self, job_id: str, owner: str) -> None:
        """Give the job's control up, if ``owner`` holds it."""
        with self._call("release_control", job_id):
            job = self.jobs.get(job_id)
            if job is not None and job.control_owner == owner:
                job.control_owner, job.control_until = None, 0

    def park(self, job_id: str, bodies: Sequence[str]) -> None:
        """Keep packets in the ledger; a body parked twice is kept once."""
        packed = {parked_key(body): pack_outbox(body) for body in bodies}
        with self._call("park", job_id) as now:
            for key, data in packed.items():
                self.parking[(job_id, key)] = MemoryRecord(data, expires_s(now))

    def parked(self, job_id: str) -> list[str]:
        """Every body parked for the job; they stay parked until :meth:`forget_parked`."""
        with self._call("parked", job_id):
            found = [
                r.packed for (of_job, _), r in sorted(self.parking.items()) if of_job == job_id
            ]
        return [unpack_outbox(packed) for packed in found]

    def forget_parked(self, job_id: str, bodies: Sequence[str]) -> None:
        """Forget parked bodies; one not parked is not an error."""
        with self._call("forget_parked", job_id):
            for body in bodies:
                self.parking.pop((job_id, parked_key(body)), None)
