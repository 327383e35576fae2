"""The progress ledger in memory: :class:`~relaystate.ports.LedgerPort` for unit tests.

It keeps the records :class:`relaystate.aws.DynamoDBLedger` keeps and applies the same rules
(:mod:`relaystate.ledger`): every operation checks its condition and writes under one lock, as
DynamoDB decides each conditional write, and a shard's end counts in the job in the same step,
as a transaction. Leases run on an injectable clock, so a test says when one runs out, and
:attr:`MemoryLedger.conflicts` makes transactions meet concurrent ones, as they do on DynamoDB.
The twin is three modules, each on what it holds, as :mod:`relaystate.aws.dynamodb` is::

    ledger.py          MemoryLedger: a job's and its shards' lifecycle -- open, claim,
                       checkpoint, finish, teardown, reopen (a shard's, a job's) -- and its
                       status and results
    ledger_control.py  what job control keeps: signals, parked packets, the pause flag
    ledger_table.py    the records (a job's, a shard's, a packed text's) and the lock every
                       operation takes

Example:
    >>> from relaystate.testing import FakeClock, MemoryLedger
    >>> clock = FakeClock(1_000.0)
    >>> ledger = MemoryLedger(clock=clock)
    >>> ledger.open_job("j", shards=1, job_type="CopyRows", function_name="copy-worker")
    >>> ledger.claim("j", 0, 0, "request-a", lease_ms=5_000).outcome
    'run'
    >>> ledger.claim("j", 0, 0, "request-b", lease_ms=5_000).outcome  # a duplicate delivery
    'busy'
    >>> clock.advance(6_000)  # request-a's Lambda died: its lease runs out
    >>> ledger.claim("j", 0, 0, "request-b", lease_ms=5_000).outcome
    'run'
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from ..ledger import (
    CURSOR_CHARS,
    ERROR_CHARS,
    Claim,
    JobStatus,
    ShardResult,
    ShardStatus,
    check_signal_name,
    ended_state,
    expires_s,
    job_state,
    lease_lost,
    pack_outbox,
    parse_cursor,
    refused_claim,
    reopens,
    retry_conflicts,
    unknown_job,
    unpack_outbox,
)
from ..states import JobState
from ..timeline import HopEntry, entries, slot
from .ledger_control import MemoryJobControl
from .ledger_table import MemoryJob, MemoryRecord, MemoryShard

__all__ = ["MemoryJob", "MemoryLedger", "MemoryRecord", "MemoryShard"]


class MemoryLedger(MemoryJobControl):
    """:class:`~relaystate.ports.LedgerPort` in memory; every call is recorded in ``calls``.

    Args:
        table_name: its name, as a job's packets carry it (``Backend.ledgers(table_name)``).
        clock: the time in milliseconds (default: the wall clock); a :class:`FakeClock` works.

    Its records are in :attr:`jobs` and :attr:`shards`, for tests to read.
    """

    def open_job(
        self,
        job_id: str,
        *,
        shards: int,
        job_type: str,
        function_name: str,
        fingerprint: str = "",
    ) -> JobStatus | None:
        """Record a new job; ``None``, or the status of the job that already has the id."""
        with self._call("open_job", job_id) as now:
            if job_id not in self.jobs:
                self.jobs[job_id] = MemoryJob(
                    shards,
                    job_type,
                    function_name,
                    now,
                    now,
                    fingerprint=fingerprint,
                    ttl=expires_s(now),
                )
                return None
        return self.status(job_id)

    def abandon_job(self, job_id: str) -> None:
        """Forget a job whose start was rolled back, if no shard has ended."""
        with self._call("abandon_job", job_id):
            job = self.jobs.get(job_id)
            if job is not None and job.done == 0 and job.failed == 0:
                del self.jobs[job_id]

    def claim(
        self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int, packet: str = ""
    ) -> Claim:
        """Claim hop ``hop`` of a shard for ``owner`` until ``lease_ms`` from now."""
        with self._call("claim", job_id) as now:
            found = self.shards.get((job_id, shard))
            if found is None:
                found = self.shards[(job_id, shard)] = MemoryShard(hop, "running", now)
            elif not _claimable(found, hop, owner, now):
                job = self.jobs.get(job_id)
                return refused_claim(
                    hop,
                    found_hop=found.hop,
                    found_status=found.status,
                    outbox=None if found.outbox is None else unpack_outbox(found.outbox),
                    delay_seconds=found.outbox_delay,
                    sent=found.outbox_sent,
                    recorded_ms=found.updated_ms,
                    now_ms=now,
                    teardown_due=lambda: job is not None and job.teardown_due(),
                )
            found.hop, found.status, found.updated_ms = hop, "running", now
            found.owner, found.lease_until, found.ttl = owner, now + lease_ms, expires_s(now)
            # The outbox (this hop's own packet) stays until the hop's end replaces it: a hop
            # whose Lambda died while the job was paused is sent again by unpause (pending).
            found.outbox_delay, found.outbox_sent = 0, False
            if found.outbox is None and packet:
                found.outbox = pack_outbox(packet)
            found.waiting_for, found.wake_ms = "", 0
            return Claim("run")

    def checkpoint(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        outbox: str,
        stats: Mapping[str, int],
        cursor_json: str,
        delay_seconds: int = 0,
        waiting: str = "",
        wake_ms: int = 0,
        progress: Mapping[str, int] | None = None,
        timeline: HopEntry | None = None,
    ) -> None:
        """Record the hop's checkpoint and the next packet (to be sent, or kept for a signal
        when the shard waits), fenced by the lease."""
        if waiting:
            check_signal_name(waiting)
        packed = pack_outbox(outbox)
        with self._call("checkpoint", job_id) as now:
            found = self._held(job_id, shard, hop, owner)
            _keep(found, timeline)
            found.hop, found.updated_ms = hop + 1, now
            found.status = "waiting" if waiting else "queued"
            found.waiting_for, found.wake_ms = waiting, wake_ms
            found.owner, found.lease_until, found.ttl = None, 0, expires_s(now)
            found.outbox, found.outbox_delay = packed, delay_seconds
            found.outbox_sent = False
            found.stats = dict(stats)
            found.cursor_json = cursor_json[:CURSOR_CHARS]
            if progress is not None:
                found.progress = dict(progress)

    def confirm_sent(self, job_id: str, shard: int, hop: int) -> None:
        """The outbox of hop ``hop`` was sent (see :meth:`LedgerPort.confirm_sent`)."""
        with self._call("confirm_sent", job_id):
            found = self.shards.get((job_id, shard))
            if (
                found is not None
                and found.hop == hop
                and found.status in ("queued", "waiting")
                and found.outbox is not None
            ):
                found.outbox_sent = True

    def finish(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        stats: Mapping[str, int],
        cursor_json: str,
        failed: bool = False,
        error: str = "",
        result_json: str = "",
        progress: Mapping[str, int] | None = None,
        timeline: HopEntry | None = None,
        keep_packet: bool = True,
    ) -> bool:
        """The shard is done (or failed), with its result; count it. True when every shard
        has ended and this one ended last."""
        result = pack_outbox(result_json) if result_json else None

        def write() -> bool:
            with self._call("finish", job_id, transaction=True) as now:
                found = self._held(job_id, shard, hop, owner)
                job = self.jobs.get(job_id)
                if job is None:
                    raise unknown_job(job_id, "this MemoryLedger")
                _keep(found, timeline)
                found.status, found.updated_ms = ("failed" if failed else "done"), now
                found.owner, found.lease_until, found.ttl = None, 0, expires_s(now)
                # The outbox (the hop's own packet) stays: a job whose last shard ended but
                # was never torn down is torn down by a delivery of it (pending, unpause).
                found.outbox_delay = 0
                if not keep_packet:
                    found.outbox = None
                found.stats, found.cursor_json = dict(stats), cursor_json[:CURSOR_CHARS]
                found.error, found.result = error[:ERROR_CHARS], result
                if progress is not None:
                    found.progress = dict(progress)
                if failed:
                    job.failed += 1
                else:
                    job.done += 1
                job.updated_ms, job.ttl, job.last_shard = now, expires_s(now), shard
                return job.done + job.failed >= job.shards

        return retry_conflicts(write)

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        """Take the job's teardown for ``owner``; one owner at a time ever wins."""
        with self._call("claim_teardown", job_id) as now:
            job = self.jobs.get(job_id)
            if job is None:
                return False
            held = job.teardown_owner not in (None, owner)
            if held and (job.teardown_until is None or job.teardown_until >= now):
                return False
            job.teardown_owner, job.updated_ms = owner, now
            job.teardown_until = None if lease_ms is None else now + lease_ms
            return True

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0, owner: str | None = None) -> None:
        """The job's resources are gone; its record expires in 30 days. With ``owner``: only
        while ``owner`` holds the teardown (a resume may have let it go)."""
        with self._call("mark_torn_down", job_id) as now:
            job = self.jobs.get(job_id)
            if job is not None and (owner is None or job.teardown_owner == owner):
                job.state = ended_state(job.failed, tolerated=tolerated).value
                job.paused = False
                job.updated_ms, job.ttl = now, expires_s(now, finished=True)

    def reopen(self, job_id: str, shard: int) -> None:
        """A failed shard is resumed: queue it again, uncount its failure (once), and let the
        job be torn down again."""

        def write() -> None:
            with self._call("reopen", job_id, transaction=True) as now:
                job = self.jobs.get(job_id)
                found = self.shards.get((job_id, shard))
                if job is not None and found is not None and found.status == "failed":
                    found.status, found.updated_ms, found.error = "queued", now, ""
                    found.outbox = None  # the resumed packet is sent by resume()
                    found.ttl = job.ttl = expires_s(now)
                    job.failed -= 1
                    job.state, job.updated_ms = JobState.RUNNING.value, now
                    job.teardown_owner = job.teardown_until = None

        retry_conflicts(write)

    def reopen_job(self, job_id: str) -> bool:
        """A job cancelled while shards were at work runs again; True when this call
        reopened it (:meth:`LedgerPort.reopen_job`)."""
        with self._call("reopen_job", job_id) as now:
            job = self.jobs.get(job_id)
            if job is None or not reopens(
                job_id,
                job.state,
                teardown_taken=job.teardown_owner is not None,
                shards=job.shards,
                done=job.done,
                failed=job.failed,
            ):
                return False
            job.state, job.updated_ms, job.ttl = JobState.RUNNING.value, now, expires_s(now)
            job.teardown_owner = job.teardown_until = None
            return True

    def results(self, job_id: str) -> Iterator[ShardResult]:
        """How each shard ended, in shard order; ``""`` for a shard that has not."""
        with self._call("results", job_id):
            job = self.jobs.get(job_id)
            ended = {
                shard: ShardResult(
                    shard,
                    found.status,
                    None if found.result is None else json.loads(unpack_outbox(found.result)),
                    found.error,
                )
                for (of_job, shard), found in self.shards.items()
                if of_job == job_id and found.status in ("done", "failed")
            }
        for shard in range(0 if job is None else job.shards):
            yield ended.get(shard, ShardResult(shard, ""))

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state and each shard's hop, status, stats and cursor; None if unknown."""
        with self._call("status", job_id):
            job = self.jobs.get(job_id)
            if job is None:
                return None
            shards = tuple(
                ShardStatus(
                    shard=shard,
                    hop=found.hop,
                    status=found.status,
                    stats=dict(found.stats),
                    cursor=parse_cursor(found.cursor_json),
                    updated_ms=found.updated_ms,
                    error=found.error,
                    wake_ms=found.wake_ms,
                    waiting=found.waiting_for,
                    progress=dict(found.progress) if found.progress is not None else None,
                    timeline=entries(found.timeline),
                )
                for (of_job, shard), found in sorted(self.shards.items())
                if of_job == job_id
            )
            signals = {
                n: json.loads(unpack_outbox(r.packed)) for n, r in sorted(job.signals.items())
            }
            return JobStatus(
                job_id=job_id,
                state=job_state(
                    job.state, (s.status for s in shards), paused=job.paused, shards=job.shards
                ),
                shards=job.shards,
                done=job.done,
                failed=job.failed,
                job_type=job.job_type,
                function_name=job.function_name,
                created_ms=job.created_ms,
                updated_ms=job.updated_ms,
                shard_status=shards,
                fingerprint=job.fingerprint,
                paused=job.paused,
                signals=signals,
            )

    # -- helpers -------------------------------------------------------------------------------

    def _held(self, job_id: str, shard: int, hop: int, owner: str) -> MemoryShard:
        found = self.shards.get((job_id, shard))
        if found is None or not found.held_by(owner, hop):
            raise lease_lost(job_id, shard, hop)
        return found


def _keep(found: MemoryShard, entry: HopEntry | None) -> None:
    """Keep a hop's timeline entry in its slot, as DynamoDB's write of the record does."""
    if entry is not None:
        found.timeline[slot(entry.hop)] = entry.encode()


def _claimable(found: MemoryShard, hop: int, owner: str, now: int) -> bool:
    """The claim's condition, as :class:`~relaystate.aws.DynamoDBLedger` writes it."""
    if found.hop != hop:
        return found.hop < hop
    if found.status in ("queued", "waiting"):
        return True
    return found.status == "running" and (found.lease_until < now or found.owner == owner)
