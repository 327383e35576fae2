"""A hop's claim: the ledger's side of a delivery, before any unit runs.

With a ledger, each delivery of a packet first claims its hop under a lease (at least once
delivery must not fork the chain). The ledger answers with an outcome, and each is dealt with
here::

    run        the hop is this invocation's: its units run (:mod:`relaystate.hop`)
    busy       another invocation holds the hop's lease: left for redelivery -- or, when this
               delivery is the last SQS makes before the DLQ, sent again as a new message
               (:func:`requeue_last`)
    resend     the hop checkpointed, then died before (or while) sending its next packet: the
               outbox is sent again
    teardown   the job's last shard ended and its teardown was begun: it is finished here
               (a throttle at the last delivery: sent again too, :func:`requeue_last`)
    duplicate  the hop is done: the delivery is acknowledged

Without a ledger every delivery runs.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import TYPE_CHECKING, Any, cast

from . import clock, lifecycle, signals
from .errors import HopBusyError
from .hop_record import where
from .packet import RelayPacket
from .retry import retry_transient
from .sending import MAX_DELAY_S

if TYPE_CHECKING:
    from .hop_state import HopState
    from .job_protocols import HopJob, Job
    from .ledger_records import Claim
    from .ports import Backend, LedgerPort
    from .tracing import HopSpan

__all__ = ["claim_hop", "requeue_last"]

log = logging.getLogger("relaystate")


def claim_hop(
    job: HopJob,
    backend: Backend,
    ledger: LedgerPort | None,
    state: HopState,
    *,
    context: Any,
    body: str,
    span: HopSpan,
) -> bool:
    """With a ledger, claim this hop; False when the delivery is dealt with without a hop.

    Args:
        job: the job rebuilt from the delivered packet.
        backend: the job's backend (a resend goes through its queues).
        ledger: the job's progress ledger, or ``None`` (then the hop runs).
        state: the hop's state: its owner and lease are set here.
        context: the Lambda context (its request id owns the lease).
        body: the message body the packet came in (the ledger keeps it while the hop runs).
        span: the hop's span, told the outcome of a claim that runs no hop.

    Raises:
        HopBusyError: the hop, or the job's teardown, runs in another invocation.

    Example:
        >>> claim_hop(job, backend, ledger, state,
        ...           context=context, body=body, span=span)  # doctest: +SKIP
        True
    """
    packet = job.packet
    if ledger is None:
        return True
    assert packet is not None
    state.owner = str(getattr(context, "aws_request_id", "") or uuid.uuid4().hex)
    # The lease outlives the Lambda's own timeout: a holder past it is surely dead.
    margin_ms = int(job.lease_margin_s * 1000)
    state.lease_ms = int(max(state.remaining(), 0)) + margin_ms
    lease_ms = state.lease_ms
    claim = retry_transient(
        lambda: ledger.claim(packet.job_id, packet.shard, packet.hop, state.owner, lease_ms, body),
        until=state.deadline(),
    )
    if claim.outcome == "run":
        return True
    span.outcome(claim.outcome)
    if claim.outcome == "busy":
        raise HopBusyError(
            f"hop {packet.hop} of job {packet.job_id} shard {packet.shard} is running in "
            "another invocation (a duplicate delivery); left for redelivery"
        )
    if claim.outcome == "resend":
        # The hop checkpointed, then died before (or while) sending its next packet.
        if claim.outbox:
            _resend(backend, ledger, packet, claim, state)
        log.info("relaystate: re-sent the next packet of %s", where(packet))
    elif claim.outcome == "teardown":
        # The job goes with it: the holder that died may have died before on_join ran, and
        # the job's tolerated_failures decides how it ends. (Its hop's job is a RelayJob,
        # which is a lifecycle Job too.)
        # Another invocation may hold the teardown: HopBusyError, and this delivery comes back.
        state.ended = True  # the shard's end is recorded: what is left is the teardown's
        lifecycle.join_teardown(backend, ledger, packet, state, job=cast("Job", job))
    else:
        log.info("relaystate: duplicate delivery of %s acknowledged", where(packet))
    return False


def _resend(
    backend: Backend, ledger: LedgerPort, packet: RelayPacket, claim: Claim, state: HopState
) -> None:
    """Send the outbox of a hop that died before (or while) sending it, as the hop would have:
    a queued packet with its delay; a waiting one as its wait decides (at once if its signal
    came, its timer if it has one, else nothing). Confirm a delayed or waiting send."""
    delay: int | None = claim.delay_seconds
    if claim.waiting:
        parked = RelayPacket.from_json(claim.outbox)
        delay = retry_transient(
            lambda: signals.wake_delay(ledger, parked, clock.now_ms()), until=state.deadline()
        )
    if delay is not None:
        backend.queues.send(packet.queue_url, claim.outbox, delay)
    if claim.waiting or claim.delay_seconds > 0:
        lifecycle.confirm_sent(ledger, packet.evolve(hop=packet.hop + 1), state)


def requeue_last(
    backend: Backend, packet: RelayPacket, body: str, state: HopState, why: Exception
) -> None:
    """Send the message of SQS's last delivery again, delayed by a lease (``state.lease_ms``,
    the one this delivery asked for), instead of failing it a last time on ``why``.

    Called for the delivery SQS makes last (its receive count has reached the queue's
    ``maxReceiveCount``) when failing it would move a sound packet to the DLQ:

    * the delivery was busy (:class:`~relaystate.errors.HopBusyError`): another invocation
      holds its hop or the job's teardown, and that lease may outlast every receive SQS has
      left (a Lambda that died holding it: the lease runs on for the function's timeout and
      the lease margin, while each delivery that finds it busy spends a receive);
    * the shard had ended (``state.ended``) and AWS throttled, or did not answer, a call of
      the teardown after it: no unit runs again, and a later delivery finishes the teardown
      (its claim takes the teardown over once this delivery's lease has run out). A shard
      that had not ended is not sent again: its hop fails, as a hop that keeps failing must,
      and its packet goes to the DLQ.

    The copy comes back when the lease has run out; if the holder ended meanwhile, the copy is
    a duplicate its claim acknowledges. A Lambda that dies between this send and the
    acknowledgement leaves two copies: the claim fences them too.
    """
    delay = min(max(math.ceil((state.lease_ms or 0) / 1000), 1), MAX_DELAY_S)
    retry_transient(
        lambda: backend.queues.send(packet.queue_url, body, delay), until=state.deadline()
    )
    log.info(
        "relaystate: %s; this was SQS's last delivery of the message before its DLQ: sent "
        "again, delayed %d s",
        why,
        delay,
    )
