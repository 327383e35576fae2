"""Start and resume: a job's resources made (or found), its first packets sent.

::

    start    plan -> the size guard for every shard -> the id checked (the ledger, the queue
             name: a running job with the same id and fingerprint is returned, another one is
             a conflict) -> queue, DLQ, mapping (rolled back on error; a fan-out's mapping is
             enabled only once all its packets are in) -> the first packet(s), by tens, each
             batch parked in the ledger before it is sent (a pause cannot lose them)
    resume   the packet's queue and mapping made to exist again, the packet re-sent

The job is handed in as :class:`relaystate.job_protocols.Job`; this module never imports the job
class.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import clock, mapping_state, resources, sending
from .errors import (
    ConfigurationError,
    JobConflictError,
    PacketTooLargeError,
    RelayError,
)
from .frozen import freeze, thaw
from .job_protocols import Job
from .ledger import MAX_OUTBOX_BYTES, JobStatus, pack_outbox
from .names import fresh_queue_name, queue_name_for
from .packet import RelayPacket, ShardPackets
from .retry import retry_transient
from .states import JobState

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = ["Opened", "deadline_for", "fingerprint", "open_job", "requeue"]

log = logging.getLogger("relaystate")

#: Room kept in the size guard for the queue URLs and mapping id, unknown before setup.
RESOURCE_ALLOWANCE = 3 * 256


@attrs.frozen
class Opened:
    """What :func:`open_job` came to.

    Attributes:
        packets: every shard's first packet, as sent -- or, for a job that was running
            already, one packet that names its queue, DLQ and mapping (nothing was sent).
        running: the job was running already (a retried start): nothing was created or sent.
    """

    packets: Sequence[RelayPacket]
    running: bool = False


def fingerprint(job_type: str, data: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """What a job is, hashed: its type, data and options (not its id, nor its cursors).

    A start with a job id that is taken compares fingerprints: the same one is a retry of the
    same start, another one is another job.

    Example:
        >>> fingerprint("CopyRows", {"table": "users"}, {}) == fingerprint(
        ...     "CopyRows", {"table": "users"}, {})
        True
    """
    text = json.dumps(
        {"type": job_type, "data": thaw(data), "options": thaw(options)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def open_job(
    job: Job,
    backend: Backend,
    ledger: LedgerPort | None,
    *,
    until: float | None = None,
    traceparent: str = "",
) -> Opened:
    """Create the job's queue, DLQ and mapping, record it in the ledger, send its first packets.

    Every shard's packet is size-checked before the first AWS call; a setup that fails
    half-way deletes what it created -- and only that -- and re-raises. A fan-out that takes
    more than one send is staged: its mapping is created disabled and enabled once every
    packet is in the queue, so a failed start never leaves shards running. ``until`` (a
    ``clock.monotonic()`` value) bounds the wait for the mapping (see :func:`deadline_for`);
    ``traceparent``, the start's span (:mod:`relaystate.tracing`), goes into every packet.

    The job id is an idempotency key, as Step Functions' execution names are: a start whose
    job (same id, type, data and options) is running already returns it and touches nothing.

    Raises:
        ConfigurationError: no ``function_name``, or ``plan()`` returned no cursors.
        PacketTooLargeError: a shard's packet would exceed the queue's maximum message size.
        JobConflictError: the id or queue name is taken by another job, by a job that has
            ended (its ledger records keep the id for 30 days), or by resources left over.
    """
    if not job.function_name:
        raise ConfigurationError(
            f"{type(job).__name__} has no function_name: set it on the class or pass "
            "function_name= (the worker Lambda that runs the hops)"
        )
    cursors = _shards(job.plan())
    if not cursors:
        raise ConfigurationError(
            f"{type(job).__name__}.plan() returned no cursors: nothing to start"
        )
    options = {k: v for k, v in job.options.items() if k != "function_name"}
    template = RelayPacket(
        job_id=job.job_id,
        job_type=job.type_name(),
        function_name=job.function_name,
        shards=len(cursors),
        data=job.data,
        options=options,
        job_version=job.version or "",
        traceparent=traceparent,
    )
    offloader = None
    if job.offload is not None:
        from .offload import Offloader  # only a job that offloads needs it: cold start

        offloader = Offloader(job.offload, backend, job.job_id)
    _check_sizes(
        template if offloader is None else offloader.store(template, write=False),
        cursors,
        job.max_message_bytes - RESOURCE_ALLOWANCE,
        ledger,
        offload_above=offloader.offload.threshold_bytes if offloader is not None else None,
    )
    name = queue_name_for(job.queue_prefix, job.job_id, job.queue_name)
    print_ = fingerprint(job.type_name(), job.data, options)
    spec = attrs.evolve(_spec(job, backend, name), fingerprint=print_)
    resumed = False  # the ledger has this very job, but its start never got this far
    if ledger is not None:
        known = ledger.open_job(
            job.job_id,
            shards=len(cursors),
            job_type=job.type_name(),
            function_name=job.function_name,
            fingerprint=print_,
        )
        if known is not None:
            if known.fingerprint != print_ or known.state in (JobState.TORN_DOWN, JobState.FAILED):
                raise JobConflictError(_known_conflict(job.job_id, known, print_))
            resumed = True
    found = resources.taken(backend, spec)
    if found is not None:
        if found.held_by(job.job_id, print_):
            log.info("relaystate: job %s runs already; start() returns it", job.job_id)
            return Opened((_running_packet(template, found),), running=True)
        if ledger is not None and not resumed:
            ledger.abandon_job(job.job_id)
        raise JobConflictError(
            f"cannot start job {job.job_id}: {found.describe()}. Nothing of it was touched: "
            "use another job id (or queue_name), or wait until it is torn down (a deleted "
            "queue's name is blocked for 60 s); `relaystate reap` removes what is left over"
        )
    staged = len(cursors) > 10
    try:
        with resources.provision(backend, spec, until=until, enabled=not staged) as res:
            template = template.evolve(
                queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id
            )
            packets = ShardPackets(template, cursors)
            sent: Iterable[RelayPacket] = packets
            if offloader is not None:
                # The data written once for every shard; each cursor as its packet is sent.
                sent = map(offloader.store, ShardPackets(offloader.store(template), cursors))
            sending.send_packets(
                backend,
                res.queue_url,
                sent,
                max_message_bytes=job.max_message_bytes,
                signer=job.signer,
                before_send=_first_parked(ledger, job.job_id, until),
            )
            if staged:
                mapping_state.enable_job(backend, ledger, job.job_id, res.mapping_id, until)
    except BaseException:
        if offloader is not None and offloader.known:
            _undo_quietly(offloader.delete)
        if ledger is not None and not resumed:
            _undo_quietly(lambda: ledger.forget_parked(job.job_id, ledger.parked(job.job_id)))
            _undo_quietly(lambda: ledger.abandon_job(job.job_id))
        raise
    return Opened(packets)


def _first_parked(
    ledger: LedgerPort | None, job_id: str, until: float | None
) -> Callable[[list[str]], None] | None:
    """With a ledger, what keeps the first packets in it (parked) before they are sent.

    A shard's first packet is the one packet the ledger would otherwise not know before its
    hop is claimed: a delivery whose Lambda dies before the claim leaves it invisible in the
    queue, and a pause that begins then (it parks only what it can see) longer than SQS keeps a
    message would lose it. Parked, ``unpause()`` sends it again if no hop of its shard was
    claimed (:mod:`relaystate.pause`). One write per shard at the start, none per hop -- all
    on the job's partition key, one batch per ``SendMessageBatch``: a throttled write is tried
    again after a pause (until ``until``) rather than fail the start.
    """
    if ledger is None:
        return None
    return lambda bodies: retry_transient(lambda: ledger.park(job_id, bodies), until=until)


def _known_conflict(job_id: str, known: JobStatus, print_: str) -> str:
    if known.fingerprint != print_:
        what = f"a {known.job_type} job with other data or options ({known.state.value})"
    else:
        what = f"this job, which has ended ({known.state.value})"
    return (
        f"cannot start job {job_id}: the ledger has {what} under that id. Nothing of it was "
        "touched: use another job id; an ended job's id is free again when its ledger records "
        "expire (30 days after its end)"
    )


def _running_packet(template: RelayPacket, found: resources.Taken) -> RelayPacket:
    """A packet naming the resources of a job that runs already (for inspection, teardown)."""
    assert found.queue is not None
    return template.evolve(
        queue_url=found.queue.url,
        dlq_url=found.dlq.url if found.dlq is not None else "",
        mapping_id=found.live[0].id,
    )


def _undo_quietly(step: Callable[[], object]) -> None:
    try:
        step()
    except Exception:
        log.exception(
            "relaystate: rollback step failed; the ledger may keep the job's record, the "
            "bucket its objects (`relaystate reap` deletes them)"
        )


def requeue(
    job: Job,
    backend: Backend,
    ledger: LedgerPort | None,
    packet: RelayPacket,
    *,
    until: float | None = None,
) -> RelayPacket:
    """Go on from ``packet``: make its queue and mapping exist again, re-send it; the new packet.

    The packet's queue is kept while a mapping feeds it; otherwise the job's live queue is
    joined, if one is listed (:mod:`relaystate.job_queues`: the resumes of one job share a
    queue and mapping, the first one's), and only when there is none is a queue made, under a
    fresh name (SQS blocks a deleted name for 60 s).
    With a ledger the job is reopened there first, before anything is made: a FAILED shard
    (:meth:`~relaystate.ports.LedgerPort.reopen`), and a job cancelled by ``tear_down()``
    while shards were at work (:meth:`~relaystate.ports.LedgerPort.reopen_job`), so that its
    last shard's join can tear it down again. A packet older than the one the ledger holds
    for its shard (saved before the shard went on) is resumed as that newer one: the ledger
    counts the older one's hops done, and would not run it.

    Raises:
        ConfigurationError: with a ledger, the job is torn down and ``packet`` is a copy of a
            hop that already ran (:func:`_refuse_ran_copy`); nothing was made or sent.
        JobEndedError: the ledger records every shard of the job ended and its teardown
            taken: nothing is left to resume, and nothing was made or sent.
    """
    delay_s = 0
    if ledger is not None:
        if packet.state is not JobState.FAILED:  # a failed shard's packet is its latest
            packet, delay_s = _latest(ledger, packet)
        _refuse_ran_copy(ledger, packet)
        ledger.open_job(
            packet.job_id,
            shards=packet.shards,
            job_type=packet.job_type,
            function_name=packet.function_name,
        )
        if packet.state is JobState.FAILED:
            ledger.reopen(packet.job_id, packet.shard)
        ledger.reopen_job(packet.job_id)
    name = fresh_queue_name(job.queue_prefix, job.job_id)
    target = packet if _fed(backend, packet) else _joined(job, backend, packet)
    res = resources.ensure(backend, target, _spec(job, backend, name), until=until)
    fresh = packet.evolve(
        queue_url=res.queue_url,
        dlq_url=res.dlq_url,
        mapping_id=res.mapping_id,
        state=JobState.QUEUED,
        error="",
    )
    sent = fresh
    if job.offload is not None:  # a packet saved from a job: its large values go to S3 again
        from .offload import Offloader

        sent = Offloader(job.offload, backend, job.job_id).store(fresh)
    sending.send_packets(
        backend,
        fresh.queue_url,
        [sent],
        delay_seconds=delay_s,
        max_message_bytes=job.max_message_bytes,
        signer=job.signer,
    )
    return fresh


def _latest(ledger: LedgerPort, packet: RelayPacket) -> tuple[RelayPacket, int]:
    """The shard's latest packet and its delay: the one the ledger holds for it when that is
    a later hop's (:meth:`~relaystate.ports.LedgerPort.pending`, with the delay left of a
    sleep's or a wait's timer, as ``unpause`` sends it), else ``packet`` at once.

    A cancel keeps each shard's next packet in the ledger (its outbox). An older packet
    resumed as it is would find its hop done: one hop behind, the ledger re-sends the outbox,
    which names the cancelled queue; further behind, it is a duplicate -- either way the shard
    stopped. The outbox was written by the job's own hop: it is taken as it is (no signature
    to check).
    """
    held = [p for p in ledger.pending(packet.job_id) if p.shard == packet.shard]
    if not held or held[0].hop <= packet.hop:
        return packet, 0
    log.info(
        "relaystate: job %s shard %d: resuming hop %d, the latest the ledger holds, not hop %d",
        packet.job_id,
        packet.shard,
        held[0].hop,
        packet.hop,
    )
    return RelayPacket.from_dict(RelayPacket.load_json(held[0].outbox)), held[0].delay_seconds


def _fed(backend: Backend, packet: RelayPacket) -> bool:
    """Whether a mapping that is not being deleted feeds the packet's queue, which exists."""
    info = backend.mappings.get(packet.mapping_id) if packet.mapping_id else None
    if info is None or info.state == "Deleting":
        return False
    return bool(packet.queue_url) and backend.queues.describe(packet.queue_url) is not None


def _joined(job: Job, backend: Backend, packet: RelayPacket) -> RelayPacket:
    """The packet naming the job's live queue, mapping and DLQ, if one is listed; else as it
    is (a fresh queue is made for it)."""
    from .job_queues import JobNames, live_queue  # a resume whose queue is gone only

    try:
        live = live_queue(backend, JobNames(job.queue_prefix, job.job_id, job.queue_name))
    except RelayError as exc:  # a starter whose role may not list queues: make one
        log.warning("relaystate: could not look for job %s's live queue: %s", job.job_id, exc)
        return packet
    if live is None:
        return packet
    return packet.evolve(
        queue_url=live.queue_url,
        dlq_url=live.dlq_url or packet.dlq_url,
        mapping_id=live.mapping_id,
    )


def _refuse_ran_copy(ledger: LedgerPort, packet: RelayPacket) -> None:
    """Refuse to go on from ``packet`` when the ledger shows its job torn down and the packet
    is a copy of a hop that already ran: its shard has ended (but for the FAILED packet of a
    shard the ledger shows failed, which resuming reopens), or has gone past its hop and the
    ledger holds no packet of the shard to go on from instead (:func:`_latest`: it waits for
    a signal).

    Such a copy reaches a DLQ when SQS delivered it more often than ``maxReceiveCount`` after
    its hop had run (a duplicate, or a delivery killed after the hop's end was recorded). Sent
    again, its claim acknowledges it as a duplicate and nothing runs -- but the queue and the
    mapping made for it would stay, with nothing left to tear them down. The packet of a
    shard's next hop in a job cancelled by ``tear_down()`` is not such a copy: its resume
    reopens the job.

    Raises:
        ConfigurationError: the packet is such a copy.
    """
    status = ledger.status(packet.job_id)
    if status is None or status.state not in (JobState.TORN_DOWN, JobState.FAILED):
        return
    if status.done + status.failed >= status.shards and packet.state is not JobState.FAILED:
        return  # the job ran to its end: reopen_job refuses it (JobEndedError)
    shard = next((s for s in status.shard_status if s.shard == packet.shard), None)
    if shard is None:
        return
    ended = shard.status in ("done", "failed")
    if packet.state is JobState.FAILED and shard.status == "failed":
        return
    if not ended and shard.hop <= packet.hop:
        return  # the shard's next hop in a cancelled job: reopened by reopen_job
    if ended:  # a job cancelled with other shards at work: this one is over
        advice = "delete it; to go on with the job, resume its unfinished shards' latest packets"
    else:
        advice = f"resume the shard's latest packet (hop {shard.hop}) instead, and delete this one"
    raise ConfigurationError(
        f"job {packet.job_id} is torn down (its ledger says {status.state.value}, shard "
        f"{packet.shard} {shard.status} at hop {shard.hop}): this packet (hop {packet.hop}, "
        f"{packet.state.value}) is a copy of a hop that already ran, and resuming it would "
        f"make a queue and a mapping that nothing removes; {advice}"
    )


def _spec(job: Job, backend: Backend, queue_name: str) -> resources.QueueSpec:
    assert job.function_name
    if not job.allow_recursion and job.max_hops > 16:  # Lambda's count, 16 invocations
        log.warning(
            "relaystate: %s has allow_recursion=False: Lambda will stop the relay after 16 "
            "invocations and move its packet to the DLQ (resume it from there)",
            type(job).__name__,
        )
    timeout = job.function_timeout_s
    if timeout is None:
        invoked = job.function_name
        if job.function_qualifier:
            invoked = f"{job.function_name}:{job.function_qualifier}"
        timeout = backend.mappings.function_timeout_s(invoked)
    return resources.QueueSpec(
        job_id=job.job_id,
        job_type=job.type_name(),
        function_name=job.function_name,
        queue_name=queue_name,
        visibility_timeout_s=resources.visibility_for(timeout),
        max_receive_count=job.max_receive_count,
        max_concurrency=job.max_concurrency,
        allow_recursion=job.allow_recursion,
        max_message_bytes=job.max_message_bytes,
        qualifier=job.function_qualifier,
    )


def deadline_for(context: Any) -> float | None:
    """When a setup run by a Lambda (``context``) must stop waiting, to roll back in time.

    ``None`` without a context. A quarter of the time left, at most 5 s, is kept for the
    rollback.
    """
    get = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(get):
        return None
    left_s = max(float(get()), 0.0) / 1000.0
    return clock.monotonic() + left_s - min(5.0, left_s / 4)


def _check_sizes(
    template: RelayPacket,
    cursors: Sequence[Any],
    limit: int,
    ledger: LedgerPort | None,
    *,
    offload_above: int | None = None,
) -> None:
    """Refuse any shard whose packet would exceed ``limit`` -- or, with a ledger, whose outbox
    would exceed the ledger's -- without building every packet. A cursor larger than
    ``offload_above`` (the job's offload threshold) travels as a claim check instead."""
    base = template.size_bytes() - len(b"null")
    for i, cursor in enumerate(cursors):
        text = json.dumps(thaw(freeze(cursor, f"plan()[{i}]")), separators=(",", ":"))
        cursor_bytes = len(text.encode("utf-8"))
        if offload_above is not None and cursor_bytes > offload_above:
            from .offload import REF_BYTES  # it travels as "null" and a claim check

            size = base + REF_BYTES + len(str(i))
            if size > limit:
                raise PacketTooLargeError(size, limit)
            continue
        size = base + cursor_bytes + len(str(i))
        if size > limit:
            template.evolve(shard=i, cursor=cursor).check_size(limit)
        if ledger is not None and size > MAX_OUTBOX_BYTES:
            pack_outbox(template.evolve(shard=i, cursor=cursor).to_json())


def _shards(planned: Any) -> list[Any]:
    if isinstance(planned, list | tuple | Iterator):
        return list(planned)
    if isinstance(planned, Iterable) and not isinstance(planned, str | bytes | Mapping):
        return list(planned)
    return [planned]
