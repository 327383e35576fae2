"""Waiting for an event: ``step()`` returns ``WaitFor(name, next_cursor)``; ``job.signal(name)``
wakes it.

::

    the hop      its packet is parked in the ledger (the shard "waiting" for ``name``) and the
                 hop ends; with a timeout, a delayed timer packet is chained as for a Sleep
    signal()     records the signal in the ledger -- a signal sent before the wait begins is
                 kept -- then sends the parked packet of every shard that waits for it
    the next hop reads ``self.signals[name]``; on a timeout it runs without it

A second signal of the same name with the same payload is accepted and changes nothing; with
another payload it is refused (``SignalConflictError``): the first one stands. Both the waiting
hop and ``signal()`` look again after their own write, so a signal that races the wait is never
missed (at worst the shard is woken twice, and the ledger's claim runs it once). Waiting needs a
ledger: without one a ``WaitFor`` fails the shard with a ``ConfigurationError``.

Example:
    >>> class Approval(RelayJob):  # doctest: +SKIP
    ...     ledger = "relaystate-ledger"
    ...     def step(self, cursor):
    ...         if cursor == "asked":
    ...             return WaitFor("approved", "go", timeout_s=86_400)
    ...         if cursor == "go" and self.signals.get("approved"):
    ...             ...
    >>> Approval.attach(job_id).signal("approved", {"by": "ann"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import TYPE_CHECKING, Any

import attrs

from . import clock, lifecycle, sending
from .errors import ConfigurationError
from .frozen import JsonValue, freeze, thaw
from .hop_state import HopState
from .job_protocols import Job
from .packet import RelayPacket
from .retry import retry_transient
from .sleep import MAX_SLEEP_S, delay_until
from .states import JobState

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = ["WaitFor", "check_signal_name", "park", "send_signal"]

log = logging.getLogger("relaystate")

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def check_signal_name(name: Any) -> str:
    """``name`` if it can name a signal: 1-128 characters of ``[A-Za-z0-9_.:-]``.

    Raises:
        ConfigurationError: another name.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"a signal name is 1-128 characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'; got "
            f"{name!r}"
        )
    return name


def _name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_signal_name(value)


def _timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 < value <= MAX_SLEEP_S:
        raise ConfigurationError(
            f"WaitFor.timeout_s must be None (wait for good) or seconds from 0 to "
            f"{MAX_SLEEP_S:,}, got {value!r}"
        )


def _cursor(value: Any) -> JsonValue:
    return freeze(value, "WaitFor.next_cursor")


@attrs.frozen
class WaitFor:
    """What ``step()`` returns to wait for the signal ``name``; the next unit starts from
    ``next_cursor`` once it came (``self.signals[name]`` holds its payload) or, after
    ``timeout_s``, without it.

    Args:
        name: the signal (1-128 characters of ``[A-Za-z0-9_.:-]``).
        next_cursor: the cursor the next unit starts from (JSON).
        timeout_s: how long to wait; ``None`` waits for good (nothing runs, nothing is billed).

    Example:
        >>> WaitFor("approved", "go", timeout_s=3600).name
        'approved'
    """

    name: str = attrs.field(validator=_name)
    next_cursor: JsonValue = attrs.field(default=None, converter=_cursor)
    timeout_s: float | None = attrs.field(default=None, validator=_timeout)


def send_signal(
    backend: Backend, ledger: LedgerPort, job_id: str, name: str, payload: Any = None
) -> int:
    """Record signal ``name`` for the job and wake every shard that waits for it; how many.

    Raises:
        ConfigurationError: a bad name, or a job the ledger does not know.
        SignalConflictError: a signal of that name with another payload came first.
        InvalidPacketError: the payload is not JSON.
    """
    check_signal_name(name)
    text = json.dumps(thaw(freeze(payload, "payload")), separators=(",", ":"))
    ledger.put_signal(job_id, name, text)
    woken = 0
    for parked in ledger.waiting_for(job_id, name):
        queue_url = json.loads(parked.outbox).get("queue_url", "")
        backend.queues.send(queue_url, parked.outbox, parked.delay_seconds)
        woken += 1
    log.info("relaystate: signal %r of job %s woke %d shard(s)", name, job_id, woken)
    return woken


def wake_delay(ledger: LedgerPort, packet: RelayPacket, now_ms: int) -> int | None:
    """What a wait sends of its parked ``packet``: ``0`` (at once) when its signal has come,
    the delay of its timer when it has a deadline, ``None`` when nothing (a signal wakes it).

    Decided alike when the wait begins (:func:`park`) and when a duplicate finds that its
    sends were never confirmed (:func:`relaystate.hop_claim.claim_hop`).

    Example:
        >>> from relaystate.testing import MemoryLedger
        >>> ledger = MemoryLedger()
        >>> ledger.open_job("j", shards=1, job_type="T", function_name="f")
        >>> packet = RelayPacket(job_id="j", job_type="T", function_name="f",
        ...                      queue_url="https://q", waiting="go", wake_ms=90_000)
        >>> wake_delay(ledger, packet, now_ms=0)
        90
        >>> ledger.put_signal("j", "go", "{}")
        True
        >>> wake_delay(ledger, packet, now_ms=0)
        0
    """
    if packet.waiting in ledger.signals(packet.job_id):
        return 0
    if packet.wake_ms:
        return delay_until(packet.wake_ms, now_ms)
    return None


def park(
    job: Job,
    backend: Backend,
    ledger: LedgerPort | None,
    hop: HopState | None,
    *,
    name: str,
    deadline_ms: int = 0,
) -> RelayPacket:
    """Park the next packet in the ledger, waiting for signal ``name``; return that packet.

    The shard is recorded ``waiting`` with the packet as its outbox; ``send_signal`` sends it.
    A signal that came while the hop parked it is seen by the look after the write: the packet
    goes at once. With ``deadline_ms`` a timer is chained (a delayed copy of the packet, 900 s
    at a time) that wakes the shard without the signal when the deadline has passed.

    Raises:
        ConfigurationError: the job has no ledger.
    """
    assert job.packet is not None
    if ledger is None:
        raise ConfigurationError(
            f"job {job.job_id} cannot wait for signal {name!r} without a ledger (the packet "
            "waits in it): give the job a ledger"
        )
    nxt = lifecycle.snapshot(
        job,
        hop,
        JobState.WAITING,
        hop=job.packet.hop + 1,
        attempt=0,
        waiting=name,
        wake_ms=deadline_ms,
        signals=job.signals,
    )
    sent = lifecycle.wire(job, backend, hop, nxt)
    lifecycle.record_next(job, ledger, hop, nxt, sent=sent, waiting=name, wake_ms=deadline_ms)
    until = hop.deadline() if hop is not None else None
    delay = retry_transient(lambda: wake_delay(ledger, nxt, clock.now_ms()), until=until)
    if delay is not None:  # its signal came while this hop parked it, or a timer is due
        sending.send_packets(
            backend,
            nxt.queue_url,
            [sent],
            delay_seconds=delay,
            max_message_bytes=job.max_message_bytes,
            signer=job.signer,
        )
    # The wait's sends are made: a duplicate of this hop must not make them again. Until this
    # is written, one does (a hop that died here, a timer whose send failed: see refused_claim).
    lifecycle.confirm_sent(ledger, nxt, hop)
    return nxt
