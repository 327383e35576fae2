"""The progress ledger: exactly-once hops under SQS's at-least-once delivery.

SQS may deliver a packet twice, and a Lambda may die mid-hop. With a ledger, every hop first
*claims* its shard with a conditional write (fencing), records its checkpoint and the next
packet (an *outbox*) before it sends that packet, and the last shard to finish -- counted in
the ledger -- tears the job down, exactly once.

The ledger keeps one record per job (its shard count, how many shards are done or failed and
which ended last, its state, who holds its teardown) and one per shard (its hop, status, lease,
stats, cursor and outbox). A claim of hop ``h`` of a shard succeeds when the shard is unknown,
behind ``h``, or at ``h`` and ``queued``, or ``running`` under an expired lease (its Lambda
died). Otherwise the delivery is a duplicate: of a hop that is done (acknowledged without
running a unit, and its outbox re-sent while the next hop is unclaimed: its Lambda may have died
before the send), or of a hop that is running now (left for redelivery: it is acknowledged once
that hop is done), or of a hop that failed the shard. A failed shard runs again only once it is
*reopened* (``RelayJob.resume`` of its parked packet does it), which also uncounts its failure
-- once, however often it is reopened.

A hop may end *waiting* for a signal (``WaitFor``): its checkpoint records the shard at the
next hop with status ``waiting`` and the signal's name, and keeps the outbox -- which only a
signal sends (:meth:`~relaystate.ports.LedgerPort.waiting_for` finds it), or the wait's timer.
A waiting hop is claimed like a queued one; a redelivered hop before it is a duplicate, never
a resend. A signal is recorded on the job whether or not a shard waits for it yet, so that a
signal sent before its wait begins is not lost; its first payload stands. A job may be paused
(recorded on the job, shown by its state), and keep packets in the ledger (*parked*) while its
queue could drop them. A shard's end records its result, which the join reads shard by shard
(:meth:`~relaystate.ports.LedgerPort.results`); a job ends ``failed`` only when more shards
failed than it tolerates.

A hop costs two writes: its claim and its checkpoint. Nothing records that the next packet was
sent: the claim of hop ``h + 1`` is the proof that it arrived, and drops the outbox in the same
write. So a redelivered hop ``h`` that finds the shard at ``h + 1`` and still queued sends the
outbox again -- maybe a second copy, which is harmless: the claim fences it like any duplicate.
The outbox keeps the relay's delay, so a re-sent packet waits as the first would have, and is
stored compressed: the bytes of a record are what every write of it is paid by.

A shard's end counts in the job's record in the same atomic write (a transaction), and records
itself as the shard that ended last: of shards that end at once, the one whose write came last
sees the job ended, and only that one. Its teardown is claimed under a lease, so that a
redelivery of its hop takes the teardown over if its Lambda died in it. ``tear_down()`` takes
the teardown for good and records the job torn down: a *cancel*, when shards are still at
work. Resuming such a job *reopens* it (:func:`reopens` decides; a job whose every shard
ended is not reopened), so that its last shard's join takes the teardown again; a teardown
is recorded only while its taker still holds it, so that a resume that comes first wins.
Shards that end at once contend for the job's record: a write that meets another is
cancelled, not applied (DynamoDB's ``TransactionConflict``), and is tried again after a short
jittered pause, a few times (:func:`retry_conflicts`).

Every record expires (DynamoDB's TTL, :func:`expires_s`), so that the table does not grow
without bound: while its job runs, each write puts a record's expiry
:data:`FINISHED_TTL_S` + :data:`MAX_JOB_LIFETIME_S` ahead; the teardown puts the job's record
:data:`FINISHED_TTL_S` after the end. Shard records keep the expiry of their last write (a
teardown that wrote every shard would cost a write per shard); ``status`` reads them only
through the job's record.

This module holds the rules every ledger applies alike (what a refused claim means, when a
job is due for teardown, what state a job is in, what a signal may be called, how a record's
packets are stored); what every ledger returns (:class:`Claim`, :class:`ShardStatus`,
:class:`JobStatus`, :class:`ShardResult`, :class:`Parked`) is in
:mod:`relaystate.ledger_records`, and importable from here. The port is
:class:`relaystate.ports.LedgerPort`; :class:`relaystate.aws.DynamoDBLedger` keeps the ledger in
one DynamoDB table, :class:`relaystate.testing.MemoryLedger` in memory, for tests.

Example:
    >>> refused_claim(3, found_hop=3, found_status="running", outbox=None, teardown_due=bool)
    Claim(outcome='busy', outbox='', delay_seconds=0, waiting=False)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from . import clock
from .errors import (
    ConfigurationError,
    JobEndedError,
    LeaseLostError,
    PacketTooLargeError,
    RelayError,
    ResourceNotFoundError,
)
from .ledger_records import Claim, ClaimOutcome, JobStatus, Parked, ShardResult, ShardStatus
from .states import JobState

__all__ = [
    "CONFLICT_TRIES",
    "CURSOR_CHARS",
    "ERROR_CHARS",
    "FINISHED_TTL_S",
    "MAX_JOB_LIFETIME_S",
    "MAX_OUTBOX_BYTES",
    "SEND_GRACE_MS",
    "SIGNAL_NAME",
    "Claim",
    "ClaimOutcome",
    "JobStatus",
    "LeaseLostError",
    "Parked",
    "ShardResult",
    "ShardStatus",
    "WriteConflict",
    "check_signal_name",
    "ended_state",
    "expires_s",
    "job_state",
    "lease_lost",
    "pack_outbox",
    "pack_signal",
    "parked_key",
    "parse_cursor",
    "refused_claim",
    "reopens",
    "retry_conflicts",
    "same_payload",
    "teardown_due",
    "unknown_job",
    "unpack_outbox",
]

#: DynamoDB items hold at most 400 KB; the outbox packet (compressed) must fit with the rest.
MAX_OUTBOX_BYTES = 380_000
#: A finished job's record expires (DynamoDB TTL) this many seconds after its end.
FINISHED_TTL_S = 30 * 86_400
#: The longest a job may run (10,000 hops of 15 minutes, each delayed 15 minutes, is 208 days):
#: while it runs, its records expire this long after their last write, plus FINISHED_TTL_S.
MAX_JOB_LIFETIME_S = 365 * 86_400
#: A shard's cursor is recorded (for status) up to this many characters of its JSON.
CURSOR_CHARS = 4096
#: A failed shard's error is recorded up to this many characters.
ERROR_CHARS = 2000

#: Tries of a write that keeps meeting concurrent ones, before it fails.
CONFLICT_TRIES = 6
#: What a signal may be called: it is part of a record's key (``signal#<name>``).
SIGNAL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


#: How long after recording a *delayed* outbox its hop is taken to be sending it (a send and
#: its confirmation take well under this); a duplicate that comes sooner waits (see
#: :func:`refused_claim`). An outbox without a delay is re-sent at once: the next hop's claim
#: fences a second copy, and a wait would spend the duplicate's receive counts.
SEND_GRACE_MS = 2_000


#: Statuses of a shard whose next packet may still have to be sent.
_SENDABLE = ("queued", "waiting")
#: The states a job's teardown records.
_ENDED = (JobState.TORN_DOWN.value, JobState.FAILED.value)


def refused_claim(
    hop: int,
    *,
    found_hop: int,
    found_status: str,
    outbox: str | None,
    teardown_due: Callable[[], bool],
    delay_seconds: int = 0,
    sent: bool = False,
    recorded_ms: int | None = None,
    now_ms: int = 0,
) -> Claim:
    """What a delivery of hop ``hop`` does when its claim was refused.

    The outbox is re-sent only while the next hop is ``queued`` or ``waiting`` and its packet
    is not known to be sent: a delayed one confirmed sent
    (:meth:`~relaystate.ports.LedgerPort.confirm_sent`) waits out its delay in the queue, where
    a copy sent again would be a second chain; a ``waiting`` one confirmed by its wait (its
    timer sent, or nothing to send) is woken by a signal, never by a duplicate; and in the
    :data:`SEND_GRACE_MS` after a delayed or waiting outbox was recorded, the invocation that
    recorded it is about to send it (and confirm it): the delivery is left for later (``busy``)
    instead of racing it with a copy. An outbox without a delay is re-sent at once (a copy of
    it is fenced by the next hop's claim). A waiting outbox that was never confirmed -- its
    hop died, or its timer's send failed, after the wait was recorded -- is handed back
    (``resend`` with ``waiting``) for its wait's sends to be made again.

    Args:
        hop: the hop the delivery carries.
        found_hop, found_status: the shard as the refused claim found it.
        outbox: the next packet, recorded by the shard's checkpoint, until its hop is claimed.
        teardown_due: whether the job has ended and is not torn down (asked only when the
            shard has ended at this hop).
        delay_seconds: the outbox's delay.
        sent: the outbox was confirmed sent.
        recorded_ms: when the outbox was recorded (ms since the epoch; ``None``: long ago).
        now_ms: the time of the claim (ms since the epoch).

    Example:
        >>> never = lambda: False
        >>> refused_claim(3, found_hop=4, found_status="queued", outbox="{}",
        ...               teardown_due=never).outcome
        'resend'
        >>> refused_claim(3, found_hop=4, found_status="queued", outbox="{}",
        ...               teardown_due=never, sent=True).outcome
        'duplicate'
        >>> refused_claim(3, found_hop=4, found_status="waiting", outbox="{}",
        ...               teardown_due=never).waiting
        True
    """
    if found_hop == hop and found_status == "running":
        return Claim("busy")
    if found_hop == hop + 1 and found_status in _SENDABLE and outbox is not None and not sent:
        waiting = found_status == "waiting"
        recent = recorded_ms is not None and now_ms < recorded_ms + SEND_GRACE_MS
        if recent and (waiting or delay_seconds > 0):
            return Claim("busy")
        return Claim("resend", outbox=outbox, delay_seconds=delay_seconds, waiting=waiting)
    if found_hop == hop and found_status in ("done", "failed") and teardown_due():
        return Claim("teardown")
    return Claim("duplicate")


def expires_s(now_ms: int, *, finished: bool = False) -> int:
    """When a record written at ``now_ms`` may expire, in seconds since the epoch (a TTL).

    Example:
        >>> expires_s(86_400_000, finished=True) // 86_400  # written on day 1: gone on day 31
        31
    """
    ahead = FINISHED_TTL_S if finished else FINISHED_TTL_S + MAX_JOB_LIFETIME_S
    return now_ms // 1000 + ahead


def teardown_due(state: str, *, shards: int, done: int, failed: int) -> bool:
    """Every shard of the job has ended, and its teardown has not been recorded (as the job's
    state ``torn_down``, or ``failed`` when too many shards failed: :func:`ended_state`).

    Example:
        >>> teardown_due("running", shards=2, done=1, failed=1)
        True
    """
    return done + failed >= shards and state not in _ENDED


def reopens(
    job_id: str, state: str, *, teardown_taken: bool, shards: int, done: int, failed: int
) -> bool:
    """Whether a resume reopens the job (:meth:`~relaystate.ports.LedgerPort.reopen_job`): its
    teardown was recorded (``state``) or taken (``teardown_taken``) before every shard ended --
    a cancel.

    Example:
        >>> reopens("j", "torn_down", teardown_taken=True, shards=2, done=1, failed=0)
        True
        >>> reopens("j", "running", teardown_taken=False, shards=2, done=1, failed=0)
        False

    Raises:
        JobEndedError: every shard has ended and the teardown was taken or recorded: the job
            ran to its end (or its join runs now), and nothing is left to resume.
    """
    if state not in _ENDED and not teardown_taken:
        return False
    if done + failed >= shards:
        raise JobEndedError(job_id)
    return True


def ended_state(failed: int, *, tolerated: int = 0) -> JobState:
    """The state of a job torn down with ``failed`` shards failed: ``failed`` only when more
    than ``tolerated`` did.

    Example:
        >>> ended_state(1, tolerated=1), ended_state(2, tolerated=1)
        (<JobState.TORN_DOWN: 'torn_down'>, <JobState.FAILED: 'failed'>)
    """
    return JobState.FAILED if failed > tolerated else JobState.TORN_DOWN


def job_state(
    recorded: str, shard_statuses: Iterable[str], *, paused: bool = False, shards: int = 0
) -> JobState:
    """The job's state from the one recorded on it and its shards' statuses.

    A job is recorded ``queued`` (``running`` once reopened) until it ends. Until then it is
    ``paused`` while paused; ``waiting`` when every shard that has not ended waits for a
    signal (of ``shards``, when given, every one has been claimed: an unclaimed shard is
    queued); ``running`` once a shard has been claimed.

    Example:
        >>> job_state("queued", ["done", "running"])
        <JobState.RUNNING: 'running'>
        >>> job_state("queued", ["done", "waiting"])
        <JobState.WAITING: 'waiting'>
        >>> job_state("queued", ["waiting"], paused=True)
        <JobState.PAUSED: 'paused'>
    """
    try:
        state = JobState(recorded)
    except ValueError:
        state = JobState.QUEUED
    if state in (JobState.TORN_DOWN, JobState.FAILED):
        return state
    if paused:
        return JobState.PAUSED
    statuses = list(shard_statuses)
    at_work = [s for s in statuses if s not in ("done", "failed")]
    if at_work and all(s == "waiting" for s in at_work) and len(statuses) >= shards:
        return JobState.WAITING
    if state is JobState.QUEUED and at_work:
        return JobState.RUNNING
    return state


def lease_lost(job_id: str, shard: int, hop: int) -> LeaseLostError:
    """The error of a write by an owner that no longer holds hop ``hop``."""
    return LeaseLostError(
        f"hop {hop} of job {job_id} shard {shard} was taken over by another invocation "
        "(this one outlived its lease); its work is discarded, the other goes on"
    )


def unknown_job(job_id: str, where: str) -> ResourceNotFoundError:
    """The error of a shard's end in a job that ``where`` (a ledger) does not know."""
    return ResourceNotFoundError(
        f"job {job_id} is not in {where} (never opened, or expired)",
        service="dynamodb",
        operation="TransactWriteItems",
        code="ConditionalCheckFailed",
    )


def check_signal_name(name: str) -> str:
    """``name`` if it may name a signal: 1-128 characters of ``[A-Za-z0-9_.:-]``.

    Example:
        >>> check_signal_name("approved:v2")
        'approved:v2'

    Raises:
        ConfigurationError: any other name.
    """
    if not isinstance(name, str) or not SIGNAL_NAME.fullmatch(name):
        raise ConfigurationError(
            f"a signal name is 1-128 characters of A-Z a-z 0-9 _ . : -; got {name!r}"
        )
    return name


def pack_signal(name: str, payload_json: str) -> bytes:
    """A signal's payload as a ledger stores it, once its name and payload are checked.

    Example:
        >>> unpack_outbox(pack_signal("approved", '{"by": "ann"}'))
        '{"by": "ann"}'

    Raises:
        ConfigurationError: the name is not a signal's (:func:`check_signal_name`), or the
            payload is not JSON text.
        PacketTooLargeError: compressed, the payload is larger than :data:`MAX_OUTBOX_BYTES`.
    """
    check_signal_name(name)
    try:
        json.loads(payload_json)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"the payload of signal {name!r} is not JSON text") from exc
    return pack_outbox(payload_json)


def same_payload(recorded_json: str, payload_json: str) -> bool:
    """Whether a signal's payload is the one recorded (the same JSON value, however spelt).

    Example:
        >>> same_payload('{"a": 1, "b": 2}', '{"b":2,"a":1}')
        True
    """
    return bool(json.loads(recorded_json) == json.loads(payload_json))


def parked_key(body: str) -> str:
    """The key a parked packet is kept under: its body's SHA-256, so that parking the same
    body twice keeps it once.

    Example:
        >>> len(parked_key('{"hop": 3}'))
        64
    """
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def pack_outbox(outbox: str) -> bytes:
    """The outbox packet as a ledger stores it: zlib-compressed UTF-8. Every text a ledger
    keeps besides (a result, a signal's payload, a parked packet) is stored so too.

    Example:
        >>> unpack_outbox(pack_outbox('{"hop": 1}'))
        '{"hop": 1}'

    Raises:
        PacketTooLargeError: compressed, it is larger than :data:`MAX_OUTBOX_BYTES`.
    """
    data = outbox.encode("utf-8")
    # A window just larger than the text compresses it as the largest one does (deflate looks
    # back at most the window less 262 bytes), and costs a third of the time on a packet of a
    # few hundred bytes: zlib clears its whole window for every text. The header records the
    # window, so any zlib inflates it.
    wbits = min(zlib.MAX_WBITS, max(9, (len(data) + 262).bit_length()))
    packed = zlib.compress(data, -1, wbits)
    if len(packed) > MAX_OUTBOX_BYTES:
        raise PacketTooLargeError(len(packed), MAX_OUTBOX_BYTES)
    return packed


def unpack_outbox(packed: bytes) -> str:
    """The outbox packet :func:`pack_outbox` stored."""
    return zlib.decompress(packed).decode("utf-8")


def parse_cursor(text: str) -> Any:
    """A recorded cursor: its JSON value, or the text itself when it was cut short.

    Example:
        >>> parse_cursor('{"id": 7}'), parse_cursor('{"id": 7')
        ({'id': 7}, '{"id": 7')
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


class WriteConflict(Exception):
    """A write met a concurrent one on the same record and was not applied: try it again.

    Raised inside a ledger and caught by :func:`retry_conflicts`, which raises ``error`` when
    the tries have run out; it never reaches a ledger's caller.
    """

    def __init__(self, error: RelayError) -> None:
        super().__init__(str(error))
        self.error = error


_T = TypeVar("_T")


def retry_conflicts(write: Callable[[], _T]) -> _T:
    """Run ``write``; again while it meets a conflict, :data:`CONFLICT_TRIES` times in all.

    The pauses between tries double from 20 ms, jittered, so that two writers that met do
    not meet again.

    Example:
        >>> retry_conflicts(lambda: "applied")
        'applied'

    Raises:
        RelayError: the conflict's error, when the last try met one too.
    """
    attempt = 0
    while True:
        try:
            return write()
        except WriteConflict as conflict:
            attempt += 1
            if attempt >= CONFLICT_TRIES:
                raise conflict.error from conflict
            pause = clock.backoff_s(attempt - 1, base_s=0.02, cap_s=0.5)
            clock.sleep(pause * random.uniform(0.5, 1.0))
