"""A job's life over its resources: relay, finish, fail, tear down (start: :mod:`.start`).

What each of :class:`~relaystate.RelayJob`'s transitions does to the world, once, over the ports
(:mod:`relaystate.resources` holds the resource primitives, :class:`~relaystate.ports.LedgerPort`
the progress ledger)::

    start      (in :mod:`relaystate.start`) the job's resources made, its first packets sent
    relay      the next packet recorded in the ledger's outbox, then sent (a crash between the
               two is repaired by the redelivered hop)
    finish     the shard counted as ended; the last shard (the ledger's join) or a single one
               releases the job's resources, inside the Lambda's remaining time
    fail       the packet parked in the DLQ with its error; counted and released the same way
    tear down  mapping, queue and (empty) DLQ released; the ledger told, once

The job is handed in as the small protocol :class:`~relaystate.job_protocols.Job`, and a running
hop's state as a :class:`~relaystate.hop_state.HopState`, so this module never imports the job
class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import clock, sending, teardown
from .budget import SEND_LATENCIES
from .errors import (
    HopBusyError,
    InvalidPacketError,
    PacketTooLargeError,
    ServiceUnavailableError,
    ThrottledError,
)
from .frozen import EMPTY, thaw
from .hop_state import HopState
from .packet import RelayPacket
from .retry import RetriedReads, retry_transient
from .sending import MAX_DELAY_S
from .states import JobState

if TYPE_CHECKING:
    from .job_protocols import Job
    from .job_queues import JobNames
    from .offload import Offloader, S3Offload
    from .ports import Backend, LedgerPort
    from .timeline import HopEntry

__all__ = [
    "entry_of",
    "fail",
    "finish",
    "join_teardown",
    "names_of",
    "offloader",
    "record_cancel",
    "relay",
    "release",
    "run_hook",
    "snapshot",
    "tear_down",
    "wire",
]

log = logging.getLogger("relaystate")

#: Who holds a teardown taken by ``tear_down()`` (a cancel) in the ledger.
TEAR_DOWN_OWNER = "tear_down()"
#: The longest error text a FAILED packet carries.
MAX_ERROR_CHARS = 2_000
#: A shard's end has the ledger keep its hop's packet beside its result (for a teardown that
#: ``unpause()`` may have to start: :meth:`~relaystate.ports.LedgerPort.pending`) only while
#: both, as text, fit in this many bytes: a DynamoDB item holds 400 KB, shared with the cursor,
#: the error and the timeline.
KEEP_PACKET_BYTES = 300_000


# -- the ends of a hop ---------------------------------------------------------------------------


def snapshot(job: Job, running: HopState | None, state: JobState, **changes: Any) -> RelayPacket:
    """The job's packet as of now: ``state``, its cursor, data, stats, and what the hop
    (``running``, if one runs) learned; ``changes`` over them."""
    return snapshot_with(job, running, state, changes)


def snapshot_with(
    job: Job, running: HopState | None, state: JobState, changes: dict[str, Any]
) -> RelayPacket:
    """:func:`snapshot` with its ``changes`` given as a dict, which it adds to (a relay's:
    one dict a hop, not one made for each call's keywords).

    Only what may differ from the packet is handed to its evolve (which converts and checks
    each field it is given): an empty object or a ``None`` that stays so is left out.
    """
    packet = job.packet
    assert packet is not None
    changes.setdefault("stats", job.stats)
    # The packet's empty objects are mostly the shared EMPTY: known by identity, no call.
    if job.signals or (packet.signals is not EMPTY and packet.signals):
        changes.setdefault("signals", job.signals)
    if job.result is not None or packet.result is not None:
        changes.setdefault("result", job.result)
    if running is not None:
        if running.budget is not None:
            timing = running.budget.state()
            if timing or (packet.timing is not EMPTY and packet.timing):
                changes.setdefault("timing", timing)
        if running.limiter is not None:
            changes.setdefault("rate", running.limiter.state())
        if running.progress is not None:
            changes.setdefault("progress", running.progress)
        if running.traceparent:
            changes.setdefault("traceparent", running.traceparent)
    if state is not packet.state:
        changes["state"] = state
    changes["cursor"] = job.cursor
    changes["data"] = job.data
    return packet._evolved(changes)


def offloader(job: Job, backend: Backend, hop: HopState | None) -> Offloader | None:
    """The job's offload at work (the hop's, which knows the objects it read), or ``None``."""
    if job.offload is None:
        return None
    if hop is not None and hop.offloader is not None:
        return hop.offloader
    from .offload import Offloader  # only a job that offloads needs it: cold start

    made = Offloader(job.offload, backend, job.job_id)
    if hop is not None:
        hop.offloader = made
    return made


def wire(job: Job, backend: Backend, hop: HopState | None, packet: RelayPacket) -> RelayPacket:
    """The packet as it is sent: with the job's offload, its large data and cursor in S3."""
    found = offloader(job, backend, hop)
    return packet if found is None else found.store(packet)


def relay(
    job: Job,
    backend: Backend,
    ledger: LedgerPort | None,
    hop: HopState | None,
    *,
    delay_seconds: int = 0,
    attempt: int = 0,
    finishing: bool = False,
    error: str = "",
    wake_ms: int = 0,
) -> RelayPacket:
    """Checkpoint and send the next packet (hop + 1, relays + 1); return it.

    With a ledger the next packet is first recorded (the outbox), fenced by the hop's lease, so
    a crash between the record and the send is repaired by the redelivered hop instead of losing
    the chain; the next hop's claim confirms the send (two ledger writes a hop). ``finishing``:
    the next hop only finishes (see :meth:`~relaystate.hop_state.HopState.teardown_fits`).
    """
    packet = job.packet
    assert packet is not None
    # check_delay's answer for a delay SQS takes, without the call (every hop's: 0).
    if type(delay_seconds) is int and 0 <= delay_seconds <= MAX_DELAY_S:
        delay = delay_seconds
    else:
        delay = sending.check_delay(delay_seconds)  # it raises
    stats = job.stats._relayed()
    # What the next packet changes beyond the snapshot, given only where it differs.
    changes: dict[str, Any] = {"hop": packet.hop + 1, "stats": stats}
    error = error[:MAX_ERROR_CHARS]
    if attempt != packet.attempt:
        changes["attempt"] = attempt
    if finishing != packet.finishing:
        changes["finishing"] = finishing
    if error != packet.error:
        changes["error"] = error
    if wake_ms != packet.wake_ms:
        changes["wake_ms"] = wake_ms
    if packet.waiting:
        changes["waiting"] = ""
    nxt = snapshot_with(job, hop, JobState.RELAYING, changes)
    sent = nxt if job.offload is None else wire(job, backend, hop, nxt)  # mostly none
    if ledger is not None:  # the outbox is the body sent: written (and size-checked) once
        body = record_next(job, ledger, hop, nxt, sent=sent, delay_seconds=delay)
    else:
        body = sent.check_size(job.max_message_bytes, job.signer)
    sent_at = clock.monotonic()
    backend.queues.send(nxt.queue_url, body, delay)
    # The next hop in this process (Lambda reuses warm ones) reserves time for its send.
    SEND_LATENCIES.record((clock.monotonic() - sent_at) * 1000.0)
    if ledger is not None and delay > 0:
        confirm_sent(ledger, nxt, hop)
    job.stats = stats
    return nxt


def record_next(
    job: Job,
    ledger: LedgerPort,
    hop: HopState | None,
    nxt: RelayPacket,
    *,
    sent: RelayPacket,
    delay_seconds: int = 0,
    waiting: str = "",
    wake_ms: int = 0,
) -> str:
    """Record the end of the job's hop in the ledger: the stats, cursor and progress of the
    next packet ``nxt``, and ``sent`` (``nxt`` as it is sent: :func:`wire`) as the outbox,
    fenced by the hop's lease; the outbox's text.

    The first of a hop's two writes: a crash after it is repaired by the redelivered hop,
    which finds the outbox (:func:`relaystate.ledger.refused_claim`).
    """
    assert job.packet is not None
    outbox = sent.check_size(job.max_message_bytes, job.signer)
    done_hop = job.packet.hop
    retry_transient(
        lambda: ledger.checkpoint(
            nxt.job_id,
            nxt.shard,
            done_hop,
            hop.owner if hop is not None else "",
            outbox=outbox,
            stats=nxt.stats.to_dict(),
            cursor_json=json.dumps(thaw(nxt.cursor)),
            delay_seconds=delay_seconds,
            waiting=waiting,
            wake_ms=wake_ms,
            progress=thaw(nxt.progress) or None,
            timeline=entry_of(hop),
        ),
        until=_hard(hop),
    )
    return outbox


def confirm_sent(ledger: LedgerPort, sent: RelayPacket, hop: HopState | None) -> None:
    """Tell the ledger that the delayed packet ``sent`` is in the queue, so that a duplicate
    of the hop before does not send it again (:meth:`LedgerPort.confirm_sent`).

    Best effort: the send is done, and a confirmation lost to a throttle only leaves a later
    duplicate to send one more copy (which the next hop's claim then refuses).
    """
    try:
        retry_transient(
            lambda: ledger.confirm_sent(sent.job_id, sent.shard, sent.hop), until=_hard(hop)
        )
    except (ThrottledError, ServiceUnavailableError) as exc:
        log.warning("relaystate: could not record that hop %d was sent: %s", sent.hop, exc)


def finish(
    job: Job, backend: Backend, ledger: LedgerPort | None, hop: HopState | None
) -> RelayPacket:
    """The shard's ``step`` returned DONE: ``on_done``, then count it; the last shard releases;
    the final packet.

    ``on_done`` runs before the shard's end is recorded: a hop that dies after that record is
    acknowledged as a duplicate when it comes back, so ``on_done`` would never run; one that
    dies before it runs again, ``on_done`` with it (at least once, and once unless the hop dies
    between the two). Without a ledger a shard of a fan-out cannot know whether it is the last:
    it leaves the queue to ``job.tear_down()``. The shard's result is read after ``on_done``,
    so that ``on_done`` may set ``self.result`` too.
    """
    run_hook(job.on_done, job)
    try:
        final = snapshot(job, hop, JobState.TORN_DOWN)
    except InvalidPacketError:  # data the last unit left unfit for a packet: not needed now
        assert job.packet is not None
        final = job.packet.evolve(state=JobState.TORN_DOWN, stats=job.stats)
    if ledger is not None:
        if _end_shard(job, ledger, hop, final):
            join_teardown(backend, ledger, final, hop, job=job)
    elif final.shards == 1:
        release(backend, final, hop, offload=job.offload, names=names_of(job))
    else:
        log.info(
            "relaystate: shard %d of %d of job %s finished; the queue stays until "
            "job.tear_down() (without a ledger a shard cannot know whether it is the last)",
            final.shard,
            final.shards,
            final.job_id,
        )
    return final


def fail(
    job: Job,
    backend: Backend,
    ledger: LedgerPort | None,
    hop: HopState | None,
    error: BaseException | None,
) -> RelayPacket:
    """Park the packet, with its error, in the DLQ (where ``RelayJob.resume`` finds it); count
    the shard as failed; the last shard (or a single one) releases, keeping that DLQ."""
    assert job.packet is not None
    why = (repr(error) if error else "")[:MAX_ERROR_CHARS]
    try:
        failed = snapshot(job, hop, JobState.FAILED, error=why, finishing=False)
        parked_packet = wire(job, backend, hop, failed)
        parked_packet.check_size(job.max_message_bytes, job.signer)
    except (InvalidPacketError, PacketTooLargeError):
        # What the hop made cannot be a packet: park the one it began with, whose units then
        # run again when the shard is resumed. Nothing is lost.
        failed = job.packet.evolve(state=JobState.FAILED, error=why, finishing=False)
        parked_packet = wire(job, backend, hop, failed)
    if failed.dlq_url:
        sending.send_packets(
            backend,
            failed.dlq_url,
            [parked_packet],
            max_message_bytes=job.max_message_bytes,
            signer=job.signer,
        )
    parked = bool(failed.dlq_url)
    if ledger is not None and hop is not None and hop.owner:
        run_hook(job.on_failed, job, error)  # before the record, as on_done (see finish)
        if _end_shard(job, ledger, hop, failed, failed.error or "failed"):
            join_teardown(backend, ledger, failed, hop, parked=parked, job=job)
    else:
        run_hook(job.on_failed, job, error)
        if failed.shards == 1:
            release(backend, failed, hop, parked=parked, offload=job.offload, names=names_of(job))
    return failed


def tear_down(
    backend: Backend,
    ledger: LedgerPort | None,
    packet: RelayPacket,
    *,
    offload: S3Offload | None = None,
    names: JobNames | None = None,
) -> RelayPacket:
    """Release the job's mapping, queue, (empty) DLQ and objects; tell the ledger; idempotent.
    ``names``: the job's, to release every queue of a resumed job (see :func:`release`).

    With a ledger the teardown is taken for good (no lease: no hop may take it over) and the
    job recorded torn down -- a cancel, when shards were still at work. A resume reopens it
    (:meth:`~relaystate.ports.LedgerPort.reopen_job`); one that comes between the two writes
    lets the teardown go, and the record is then not written: the resumed job runs on.
    """
    release(backend, packet, None, offload=offload, names=names)
    if ledger is not None:
        record_cancel(ledger, packet.job_id)
    return packet.evolve(state=JobState.TORN_DOWN)


def record_cancel(ledger: LedgerPort, job_id: str) -> bool:
    """Record in the ledger that the job was cancelled (its resources released): its teardown
    taken for good, the job ``torn_down`` (or ``failed``). False when the ledger does not know
    the job or another holds its teardown (its last shard's join tears it down); a resume that
    reopens the job between the two writes lets the record go, and the job runs on.
    """
    if not ledger.claim_teardown(job_id, TEAR_DOWN_OWNER):
        return False
    ledger.mark_torn_down(job_id, owner=TEAR_DOWN_OWNER)
    return True


def _end_shard(
    job: Job, ledger: LedgerPort, hop: HopState | None, final: RelayPacket, error: str = ""
) -> bool:
    """Count the shard as ended in the ledger; True if it was the last of the job."""
    assert job.packet is not None
    hop_number = job.packet.hop
    result_json = "" if final.result is None else json.dumps(thaw(final.result))
    body_bytes = hop.body_bytes if hop is not None else 0
    last: bool = retry_transient(
        lambda: ledger.finish(
            final.job_id,
            final.shard,
            hop_number,
            hop.owner if hop is not None else "",
            stats=final.stats.to_dict(),
            cursor_json=json.dumps(thaw(final.cursor)),
            failed=bool(error),
            error=error,
            result_json=result_json,
            progress=thaw(final.progress) or None,
            timeline=entry_of(hop),
            # Text is an upper bound of what the ledger stores compressed.
            keep_packet=body_bytes + len(result_json) <= KEEP_PACKET_BYTES,
        ),
        until=_hard(hop),
    )
    if hop is not None:
        hop.ended = True
    return last


def join_teardown(
    backend: Backend,
    ledger: LedgerPort,
    packet: RelayPacket,
    hop: HopState | None,
    *,
    parked: bool = False,
    job: Job | None = None,
    offload: S3Offload | None = None,
) -> None:
    """The join: the shard that ends last runs ``on_join`` and releases the job's resources.

    The teardown is claimed for this invocation under its lease, so that a duplicate
    delivery cannot run a second one beside it and a redelivery takes over when it died.
    ``job.on_join(results)`` gets every shard's result or error, in shard order, read from the
    ledger page by page as it iterates them (a throttled page is read again, within the hop's
    time); it runs once -- again only if the Lambda running it dies before the teardown is
    recorded, or if a read of the results failed for good (then raised after it). The job
    ends ``failed`` when more shards failed than ``job.tolerated_failures`` allows.
    ``offload``: the job's, whose objects go too (``job.offload`` when a job is given).

    Raises:
        HopBusyError: another invocation holds the teardown; this delivery must come back.
    """
    if job is not None:
        offload = job.offload
    owner = hop.owner if hop is not None else ""
    lease = hop.lease_ms if hop is not None else None
    until = _hard(hop)
    if not retry_transient(lambda: ledger.claim_teardown(packet.job_id, owner, lease), until=until):
        # Another invocation holds the teardown. If it dies, only a redelivery takes it over,
        # and SQS may never bring the holder's message back (the delete of another copy took
        # it): this delivery must come back, not be acknowledged. It then finds the job torn
        # down, or takes the teardown over once the holder's lease ran out.
        raise HopBusyError(
            f"the teardown of job {packet.job_id} runs in another invocation; this delivery "
            "is left for redelivery, to take it over if that invocation dies"
        )
    status = retry_transient(lambda: ledger.status(packet.job_id), until=until)
    # SQS's counts lag (about a minute, AWS says): the ledger knows a shard failed, and so
    # that its packet is in the DLQ, which must not be deleted.
    parked = parked or (status is not None and status.failed > 0)
    tolerated = 0
    if job is not None:
        tolerated = tolerated_count(job.tolerated_failures, packet.shards)
        reads = RetriedReads(lambda: ledger.results(packet.job_id), until=until)
        run_hook(job.on_join, job, reads)
        # A read that failed for good: on_join saw part of the results. The delivery comes
        # back (this invocation's teardown lease runs out) and on_join runs again, whole.
        reads.raise_failure()
    release(
        backend,
        packet,
        hop,
        parked=parked,
        offload=offload,
        names=names_of(job) if job is not None else None,
    )
    # Only while this invocation holds the teardown: a resume of a failed shard may have
    # reopened the job meanwhile, and its shard's join ends it then.
    retry_transient(lambda: ledger.mark_torn_down(packet.job_id, tolerated=tolerated, owner=owner))
    log.info(
        "relaystate: job %s torn down by shard %d hop %d", packet.job_id, packet.shard, packet.hop
    )


def release(
    backend: Backend,
    packet: RelayPacket,
    hop: HopState | None,
    *,
    parked: bool = False,
    offload: S3Offload | None = None,
    names: JobNames | None = None,
) -> None:
    """Delete the job's mapping and queues; ``parked``: a packet was just sent to the DLQ.

    The packet's queue, mapping and DLQ go; and when that queue is one a resume made (not the
    job's first: ``names``, the job's), every other queue of the job too, with its mappings
    (:func:`relaystate.job_queues.release_others`): resumes at once may each have made one. A
    job never resumed makes no more calls than before.

    In a hop the queues must be deleted before the Lambda's timeout: a kill after the mapping
    is gone would leave them with nothing to deliver their message again. So the wait for a
    Deleting mapping to be gone ends in time for the queue deletes. The job's offloaded
    objects go last (a Lambda killed before leaves them to ``relaystate reap``), and only
    when no DLQ was kept: the packets it holds name them.
    """
    complete = teardown.release(
        backend,
        queue_url=packet.queue_url,
        dlq_url=packet.dlq_url,
        mapping_id=packet.mapping_id,
        until=_hard(hop),
        dlq_has_packets=parked,
        job_id=packet.job_id,
        wait_for_mapping=hop is None,
    )
    if names is not None and names.resumed(packet.queue_url):
        from .job_queues import release_others  # a resumed job's end only: not a cold start's

        others = release_others(
            backend,
            names,
            (packet.queue_url, packet.dlq_url),
            keep_dlqs=parked,
            until=_hard(hop),
            wait_for_mapping=hop is None,
        )
        complete = complete and others
    if offload is not None and complete:
        from .offload import Offloader

        gone = Offloader(offload, backend, packet.job_id).delete()
        if gone:
            log.info("relaystate: deleted %d offloaded object(s) of job %s", gone, packet.job_id)


def names_of(job: Job) -> JobNames:
    """How the job's queues are named (what a teardown finds them by)."""
    from .job_queues import JobNames  # at a job's end: a hop's cold start does not load it

    return JobNames(job.queue_prefix, job.job_id, job.queue_name)


def entry_of(hop: HopState | None) -> HopEntry | None:
    """The hop's timeline entry for the ledger write that ends it (``None``: none kept)."""
    return hop.entry if hop is not None else None


def _hard(hop: HopState | None) -> float | None:
    """When a hop's own retries must have ended (its remaining time, less the teardown's
    reserve); ``None`` outside a hop."""
    return hop.deadline() if hop is not None else None


def tolerated_count(tolerated: int | float, shards: int) -> int:
    """How many shards may fail with the job still done: a count, or a fraction of ``shards``.

    Example:
        >>> tolerated_count(1, 10), tolerated_count(0.25, 10)
        (1, 2)
    """
    if isinstance(tolerated, float):
        return int(tolerated * shards)
    return tolerated


def run_hook(hook: Callable[..., None], job: Job, *args: Any) -> None:
    """Run ``on_done``/``on_failed``/``on_join``; an error in it is logged with its traceback,
    not raised.

    Raising would only have SQS deliver the hop again (re-running its hook, or its units) and
    hide the error in a retry, or -- once the mapping is gone -- in nothing at all.
    """
    try:
        hook(*args)
    except Exception:
        log.exception(
            "relaystate: %s.%s of job %s raised; the job's state is not changed by it",
            type(job).__name__,
            getattr(hook, "__name__", "hook"),
            job.job_id,
        )
