"""The progress ledger in memory: :class:`~relaystate.ports.LedgerPort` for unit tests.

It keeps the records :class:`relaystate.aws.DynamoDBLedger` keeps and applies the same rules
(:mod:`relaystate.ledger`): every operation checks its condition and writes under one lock, as
DynamoDB decides each conditional write, and a shard's end counts in the job in the same step,
as a transaction. Leases run on an injectable clock, so a test says when one runs out, and
:attr:`MemoryLedger.conflicts` makes transactions meet concurrent ones, as they do on DynamoDB.

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

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ..clock import now_ms
from ..errors import ConfigurationError, ResourceConflictError, SignalConflictError
from ..ledger import (
    CURSOR_CHARS,
    ERROR_CHARS,
    Claim,
    JobStatus,
    Parked,
    ShardResult,
    ShardStatus,
    WriteConflict,
    check_signal_name,
    due_in_s,
    ended_state,
    expires_s,
    job_state,
    lease_lost,
    pack_outbox,
    pack_signal,
    parked_key,
    parse_cursor,
    refused_claim,
    retry_conflicts,
    same_payload,
    teardown_due,
    unknown_job,
    unpack_outbox,
)
from ..states import JobState
from ..timeline import HopEntry, entries, slot

__all__ = ["MemoryJob", "MemoryLedger", "MemoryRecord", "MemoryShard"]


@attrs.define
class MemoryRecord:
    """A packed text a :class:`MemoryLedger` keeps on its own record: a signal's payload, a
    parked packet (:func:`~relaystate.ledger.pack_outbox`)."""

    packed: bytes
    #: When the record may expire, in seconds since the epoch (DynamoDB's TTL).
    ttl: int


@attrs.define
class MemoryJob:
    """A job's record in a :class:`MemoryLedger`."""

    shards: int
    job_type: str
    function_name: str
    created_ms: int
    updated_ms: int
    done: int = 0
    failed: int = 0
    state: str = JobState.QUEUED.value
    teardown_owner: str | None = None
    teardown_until: int | None = None
    fingerprint: str = ""
    #: When the record may expire, in seconds since the epoch (DynamoDB's TTL).
    ttl: int | None = None
    paused: bool = False
    #: Each signal recorded for the job, by name.
    signals: dict[str, MemoryRecord] = attrs.Factory(dict)

    def teardown_due(self) -> bool:
        """Every shard has ended and the teardown is not recorded."""
        return teardown_due(self.state, shards=self.shards, done=self.done, failed=self.failed)


@attrs.define
class MemoryShard:
    """A shard's record in a :class:`MemoryLedger`."""

    hop: int
    status: str
    updated_ms: int
    owner: str | None = None
    lease_until: int = 0
    stats: Mapping[str, int] = attrs.Factory(dict)
    cursor_json: str = "null"
    #: The next packet (:func:`~relaystate.ledger.pack_outbox`), from the checkpoint of a hop
    #: until the claim of the next.
    outbox: bytes | None = None
    #: The outbox was confirmed sent (:meth:`MemoryLedger.confirm_sent`).
    outbox_sent: bool = False
    outbox_delay: int = 0
    error: str = ""
    #: When the record may expire, in seconds since the epoch (DynamoDB's TTL).
    ttl: int | None = None
    #: The signal a ``waiting`` shard waits for.
    waiting_for: str = ""
    wake_ms: int = 0
    #: The shard's result (:func:`~relaystate.ledger.pack_outbox`), recorded by its end.
    result: bytes | None = None
    #: The shard's latest progress mark (see :mod:`relaystate.progress`).
    progress: Mapping[str, int] | None = None
    #: Its hop timeline: slot -> encoded entry (:mod:`relaystate.timeline`), as DynamoDB keeps
    #: them in the record's attributes.
    timeline: dict[str, str] = attrs.Factory(dict)

    def held_by(self, owner: str, hop: int) -> bool:
        """``owner`` holds hop ``hop`` (the fence of a checkpoint and a finish)."""
        return self.owner == owner and self.hop == hop and self.status == "running"


class MemoryLedger:
    """:class:`~relaystate.ports.LedgerPort` in memory; every call is recorded in ``calls``.

    Args:
        table_name: its name, as a job's packets carry it (``Backend.ledgers(table_name)``).
        clock: the time in milliseconds (default: the wall clock); a :class:`FakeClock` works.

    Its records are in :attr:`jobs` and :attr:`shards`, for tests to read.
    """

    def __init__(
        self, table_name: str = "relaystate-ledger", *, clock: Callable[[], int] = now_ms
    ) -> None:
        self.table_name = table_name
        #: Each job's record, by job id.
        self.jobs: dict[str, MemoryJob] = {}
        #: Each shard's record, by (job id, shard).
        self.shards: dict[tuple[str, int], MemoryShard] = {}
        #: Each parked packet, by (job id, :func:`~relaystate.ledger.parked_key` of its body).
        self.parking: dict[tuple[str, str], MemoryRecord] = {}
        #: ``(operation, job id)`` of every call, in order (a retried write once a try).
        self.calls: list[tuple[str, str]] = []
        #: The next this many transactions (a shard's end, a reopen, a signal) meet a
        #: concurrent one and are not applied, as DynamoDB cancels them
        #: (``TransactionConflict``); the ledger tries them again
        #: (:func:`~relaystate.ledger.retry_conflicts`).
        self.conflicts = 0
        self._clock = clock
        self._lock = threading.Lock()

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
                and found.status == "queued"
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
                found.outbox, found.outbox_delay = None, 0
                found.stats, found.cursor_json = dict(stats), cursor_json[:CURSOR_CHARS]
                found.error, found.result = error[:ERROR_CHARS], result
                if progress is not None:
                    found.progress = dict(progress)
                if failed:
                    job.failed += 1
                else:
                    job.done += 1
                job.updated_ms, job.ttl = now, expires_s(now)
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

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0) -> None:
        """The job's resources are gone; its record expires in 30 days."""
        with self._call("mark_torn_down", job_id) as now:
            job = self.jobs.get(job_id)
            if job is not None:
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
                    found.ttl = job.ttl = expires_s(now)
                    job.failed -= 1
                    job.state, job.updated_ms = JobState.RUNNING.value, now
                    job.teardown_owner = job.teardown_until = None

        retry_conflicts(write)

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
        """The shards whose next packet the ledger holds and no signal sends (see
        :meth:`~relaystate.ports.LedgerPort.pending`)."""
        with self._call("pending", job_id) as now:
            return [
                Parked(
                    shard,
                    found.hop,
                    unpack_outbox(found.outbox),
                    due_in_s(
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

    @contextlib.contextmanager
    def _call(self, operation: str, job_id: str, *, transaction: bool = False) -> Iterator[int]:
        """One operation, atomic under the ledger's lock; gives its time.

        A ``transaction`` meets a concurrent one while :attr:`conflicts` says so.
        """
        with self._lock:
            self.calls.append((operation, job_id))
            if transaction and self.conflicts > 0:
                self.conflicts -= 1
                raise WriteConflict(
                    ResourceConflictError(
                        f"{operation} of job {job_id} met a concurrent transaction",
                        service="dynamodb",
                        operation="TransactWriteItems",
                        code="TransactionCanceledException",
                    )
                )
            yield int(self._clock())

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
