"""The npm ``awsLambdaRelay`` helper's four verbs, for porting a relay written with it.

===================================  ================================================
npm                                   relaystate
===================================  ================================================
``await setup(ctx, fn, name)``        ``packet = setup(ctx, fn, name)``
``getRelayPkt(event)``                ``packet = get_relay_packet(event)``
``await relayPass(pkt, delay)``       ``packet = relay_pass(packet, delay)`` (new packet)
``await tearDown(pkt)``               ``tear_down(packet)``
===================================  ================================================

They run on the same machinery as :class:`~relaystate.RelayJob` (DLQ, SSE, recursion allowed,
mapping waited until Enabled, rollback on a failed setup), but leave the hop loop to you.
New code should subclass ``RelayJob``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import resources, sending, teardown
from .frozen import thaw
from .names import queue_name_for
from .packet import RelayPacket
from .states import JobState

if TYPE_CHECKING:
    from .ports import Backend

__all__ = ["COMPAT_JOB_TYPE", "get_relay_packet", "relay_pass", "setup", "tear_down"]

#: The job type of packets made by :func:`setup`.
COMPAT_JOB_TYPE = "relaystate.compat"


def _backend(backend: Backend | None) -> Backend:
    if backend is not None:
        return backend
    from .aws import default_backend

    return default_backend()


def setup(
    context: Any,
    function_name: str,
    queue_name: str | None = None,
    *,
    data: Mapping[str, Any] | None = None,
    function_timeout_s: int | None = None,
    backend: Backend | None = None,
) -> RelayPacket:
    """Create the relay's queue, DLQ and mapping to ``function_name``; return the first packet.

    Nothing is sent yet: call :func:`relay_pass` with the packet to start the relay. ``context``
    is accepted for the npm signature and not needed (the region comes from the session).

    Example:
        >>> packet = setup(context, "my-worker")  # doctest: +SKIP
        >>> packet = relay_pass(packet.evolve(cursor=0))  # doctest: +SKIP
    """
    del context
    be = _backend(backend)
    job_id = uuid.uuid4().hex
    name = queue_name_for("relay-", job_id, queue_name)
    timeout = function_timeout_s or be.mappings.function_timeout_s(function_name)
    spec = resources.QueueSpec(
        job_id=job_id,
        job_type=COMPAT_JOB_TYPE,
        function_name=function_name,
        queue_name=name,
        visibility_timeout_s=resources.visibility_for(timeout),
    )
    packet = RelayPacket(
        job_id=job_id,
        job_type=COMPAT_JOB_TYPE,
        function_name=function_name,
        data=data,
        state=JobState.QUEUED,
    )
    packet.check_size()
    with resources.provision(be, spec) as res:
        return packet.evolve(
            queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id
        )


def get_relay_packet(event: Mapping[str, Any]) -> RelayPacket | None:
    """The packet of an SQS event's first record; ``None`` if the event is not an SQS event.

    Raises:
        InvalidPacketError: the event is an SQS event but its body is not a relay packet.
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records or not isinstance(records[0], Mapping):
        return None
    first = records[0]
    if first.get("eventSource") not in (None, "aws:sqs"):
        return None
    body = first.get("body")
    if isinstance(body, Mapping):  # the npm helper's local-invocation case: an object body
        return RelayPacket.from_dict(thaw(body))
    return RelayPacket.from_json(body if isinstance(body, str) else "")


def relay_pass(
    packet: RelayPacket, delay_seconds: int = 0, *, backend: Backend | None = None
) -> RelayPacket:
    """Send the next hop's packet (hop + 1, relays + 1) and return it; ``packet`` is unchanged.

    Raises:
        InvalidDelayError: ``delay_seconds`` is outside 0..900 (npm clamped it silently).
        PacketTooLargeError: the packet exceeds 1 MiB.
    """
    sending.check_delay(delay_seconds)
    nxt = packet.evolve(
        hop=packet.hop + 1,
        state=JobState.RELAYING,
        stats=packet.stats.evolve(relays=packet.stats.relays + 1),
    )
    sending.send_packets(_backend(backend), nxt.queue_url, [nxt], delay_seconds=delay_seconds)
    return nxt


def tear_down(packet: RelayPacket, *, backend: Backend | None = None) -> None:
    """Delete the relay's mapping (waited until gone), queue and empty DLQ. Idempotent."""
    teardown.release(
        _backend(backend),
        queue_url=packet.queue_url,
        dlq_url=packet.dlq_url,
        mapping_id=packet.mapping_id,
    )
