"""Pause and unpause: a job that runs no hop, and bills nothing, until it is unpaused.

::

    pause      the mapping is disabled (waited until Disabled): nothing is delivered; hops that
               run go on to their end and relay into the queue. The queue keeps messages 14 days
               (SQS's most) instead of 4. With a ledger the job is recorded paused and the
               packets in the queue are parked in the ledger, so a pause may last longer than
               any queue keeps a message.
    unpause    what came into the queue while it was paused is parked too; parked packets
               are sent back, but for those of a hop the ledger shows committed or of
               another queue (forgotten); what is sent stays parked until its hop is
               committed (the next pause may begin before its delivery is claimed); and so
               is every shard's next packet that the ledger holds (one that a hop in flight
               relayed after the pause, which a pause longer than 14 days let the queue
               drop, comes back; so does the wake-up of a shard whose signal came while it
               was paused; a copy of one still there is a duplicate the next hop's claim
               refuses); the queue's retention restored; the mapping enabled (waited until
               Enabled, or until the job tore itself down)

A delivery in flight when the pause begins is invisible, so it is not parked; if it comes
back later into the disabled queue, a pause longer than 14 days lets SQS drop it. Two such
messages have nothing else that would send them again, and the ledger keeps them for
``unpause``: a shard's *first* packet whose Lambda died before its claim (the start parks
every first packet, :mod:`relaystate.start`; it is sent while no hop of its shard was
claimed), and the redelivery of a last shard that recorded its end but died before the
teardown (:meth:`~relaystate.ports.LedgerPort.pending` then returns that shard's packet, whose
delivery takes the claim's teardown path -- claimed once, as every teardown).

With a ledger, pauses and unpauses of one job run one at a time: each holds the job's control
in the ledger for its whole run, and one that finds it held waits for it to end
(:mod:`relaystate.control_lease`). So two operators who race end with the ledger's ``paused``
and the mapping in agreement, as the call that took the control last left them.

Without a ledger nothing is parked: packets in the queue of a job paused longer than 14 days are
lost, and ``pause()`` says so in its log line; the queue keeps its 14 days after unpause (at 4,
SQS would drop at once what waited longer). Nor is anything held: two calls that race may
leave the mapping as either left it.

Example:
    >>> job = CopyRows.attach(job_id, ledger="relaystate-ledger")  # doctest: +SKIP
    >>> job.pause()  # doctest: +SKIP
    >>> job.unpause()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import control_lease, mapping_state
from .errors import UnknownJobError
from .packet import RelayPacket

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = ["pause", "unpause"]

log = logging.getLogger("relaystate")

#: How long a parked message stays hidden while it is being parked (then it is deleted).
_PARKING_VISIBILITY_S = 300


def pause(backend: Backend, ledger: LedgerPort | None, packet: RelayPacket) -> int:
    """Pause the job ``packet`` names; how many packets were parked in the ledger.

    Raises:
        UnknownJobError: the job's queue or mapping is not known (nothing would stop it).
        JobBusyError: another pause or unpause of the job ran on longer than this one waited
            for it (with a ledger; see :mod:`relaystate.control_lease`).
    """
    _check_found(packet, "pause")
    with control_lease.held(backend, ledger, packet.job_id, "pause") as keep:
        return _pause(backend, ledger, packet, keep)


def _pause(
    backend: Backend, ledger: LedgerPort | None, packet: RelayPacket, keep: Callable[[], None]
) -> int:
    if packet.mapping_id:
        backend.mappings.set_enabled(packet.mapping_id, False)
        mapping_state.wait_for_mapping(
            backend, packet.mapping_id, enabled=False, disabled=True, heartbeat=keep
        )
    if packet.queue_url:
        from .resources import MAX_RETENTION_S  # resources: not on the hop's path otherwise

        backend.queues.set_attributes(
            packet.queue_url, {"MessageRetentionPeriod": str(MAX_RETENTION_S)}
        )
    if ledger is None:
        log.warning(
            "relaystate: job %s is paused; without a ledger its packets stay in its queue, which "
            "keeps them 14 days (SQS's most): unpause it before then",
            packet.job_id,
        )
        return 0
    keep()
    ledger.set_paused(packet.job_id, True)
    parked = _park(backend, ledger, packet, keep)
    log.info(
        "relaystate: job %s is paused; %d packet(s) parked in the ledger (any length of pause)",
        packet.job_id,
        parked,
    )
    return parked


def unpause(backend: Backend, ledger: LedgerPort | None, packet: RelayPacket) -> int:
    """Unpause the job ``packet`` names; how many parked packets were sent back.

    Raises:
        UnknownJobError: the job's queue or mapping is not known (its packets could not go back).
        JobBusyError: another pause or unpause of the job ran on longer than this one waited
            for it (with a ledger; see :mod:`relaystate.control_lease`).
    """
    _check_found(packet, "unpause")
    with control_lease.held(backend, ledger, packet.job_id, "unpause") as keep:
        return _unpause(backend, ledger, packet, keep)


def _unpause(
    backend: Backend, ledger: LedgerPort | None, packet: RelayPacket, keep: Callable[[], None]
) -> int:
    sent = 0
    if ledger is not None:
        # What came into the queue while it was paused (relays of hops that were in flight,
        # signals' wake-ups, timers) goes back with the rest, sent anew: the retention restored
        # below would drop at once what is older than that.
        _park(backend, ledger, packet, keep)
        bodies = ledger.parked(packet.job_id)
        due, spent = _sorted_parked(ledger, packet, bodies)
        for body in due:
            keep()
            backend.queues.send(packet.queue_url, body, 0)
            sent += 1
        sent += _send_pending(backend, ledger, packet, {_shard_hop(body)[:2] for body in due}, keep)
        # Forgotten once sent, and only what the ledger shows is no longer needed: a packet sent
        # back stays parked until its hop is committed (a later unpause forgets it then) --
        # the first packet of a shard that no hop has claimed is known nowhere else, and its
        # delivery may die before a claim again, ahead of another long pause. A copy sent
        # twice is a duplicate the ledger's claim refuses.
        ledger.forget_parked(packet.job_id, spent)
        keep()
        ledger.set_paused(packet.job_id, False)
        # Everything in the queue was just sent: 4 days of retention drop nothing now.
        from .resources import QUEUE_RETENTION_S

        backend.queues.set_attributes(
            packet.queue_url, {"MessageRetentionPeriod": str(QUEUE_RETENTION_S)}
        )
    if packet.mapping_id:
        mapping_state.enable_job(backend, ledger, packet.job_id, packet.mapping_id, heartbeat=keep)
    log.info("relaystate: job %s is unpaused; %d parked packet(s) sent back", packet.job_id, sent)
    return sent


def _check_found(packet: RelayPacket, verb: str) -> None:
    """A job is paused by its mapping and parked from its queue: both must be known."""
    if packet.queue_url and packet.mapping_id:
        return
    raise UnknownJobError(
        f"cannot {verb} job {packet.job_id}: its "
        f"{'queue' if not packet.queue_url else 'mapping'} was not found. A job started with "
        "queue_prefix= or queue_name= options is found by them: attach it with the same "
        "(RelayJob.attach(job_id, queue_prefix=...)); a job that has ended has nothing to "
        f"{verb}"
    )


def _park(
    backend: Backend, ledger: LedgerPort, packet: RelayPacket, keep: Callable[[], None]
) -> int:
    """Move every visible message of the job's queue into the ledger; how many."""
    parked = 0
    while packet.queue_url:
        keep()
        got = backend.queues.receive(packet.queue_url, 10, _PARKING_VISIBILITY_S)
        if not got:
            break
        ledger.park(packet.job_id, [body for body, _ in got])
        backend.queues.delete_messages(packet.queue_url, [receipt for _, receipt in got])
        parked += len(got)
    return parked


def _sorted_parked(
    ledger: LedgerPort, packet: RelayPacket, bodies: list[str]
) -> tuple[list[str], list[str]]:
    """The parked bodies to send back, and those to forget: a packet of a hop that the ledger
    shows committed (its shard is at a later hop, or ended at it), one that names another
    queue than the job's (parked by an earlier run of a job that was resumed into a new
    queue: every delivery of it would be refused), and a body that is not a packet (sent
    back once, then forgotten, as before).

    The start parks every shard's first packet (:mod:`relaystate.start`), so that one whose
    delivery died before its claim, then expired in the paused queue, is not lost; most of
    them were claimed long ago, and sending them again would cost an invocation each.
    """
    status = ledger.status(packet.job_id)
    at = {s.shard: (s.hop, s.status) for s in status.shard_status} if status else {}
    due: list[str] = []
    spent: list[str] = []
    for body in bodies:
        shard, hop, queue_url = _shard_hop(body)
        found_hop, found_status = at.get(shard, (-1, ""))
        committed = found_hop > hop or (found_hop == hop and found_status in ("done", "failed"))
        if shard < 0:  # not a packet
            due.append(body)
            spent.append(body)
        elif committed or queue_url != packet.queue_url:
            spent.append(body)
        else:
            due.append(body)
    return due, spent


def _send_pending(
    backend: Backend,
    ledger: LedgerPort,
    packet: RelayPacket,
    parked: set[tuple[int, int]],
    keep: Callable[[], None],
) -> int:
    """Send every shard's next packet that the ledger holds and that was not just sent back
    from the parked ones; how many (see :meth:`LedgerPort.pending`).

    A shard that waits for a signal already recorded goes at once: the wake-up its signal sent
    into the paused queue may have expired there (a pause longer than 14 days), and its
    record still says ``waiting`` -- nothing else would wake it (or only its timer, late).
    """
    done = set(parked)
    sent = 0
    woken = [
        waiting
        for name in ledger.signals(packet.job_id)
        for waiting in ledger.waiting_for(packet.job_id, name)
    ]
    for due in [*woken, *ledger.pending(packet.job_id)]:
        if (due.shard, due.hop) not in done:
            done.add((due.shard, due.hop))
            keep()
            backend.queues.send(packet.queue_url, due.outbox, due.delay_seconds)
            sent += 1
    return sent


def _shard_hop(body: str) -> tuple[int, int, str]:
    """The shard, hop and queue URL a parked packet carries ((-1, -1, ""): not a packet's)."""
    try:
        found = json.loads(body)
        return int(found["shard"]), int(found["hop"]), str(found.get("queue_url", ""))
    except (ValueError, TypeError, KeyError, AttributeError):
        return -1, -1, ""
