"""An SQS event turned into packets, each run as one hop, and the batch response Lambda reads.

In the style of a batch processor (Powertools' ``BatchProcessor``): every record is processed on
its own; one that fails -- a hop that raised, a body that is not a packet of this job type, a
duplicate whose hop runs elsewhere -- is reported in ``batchItemFailures`` so that SQS delivers it
again (and parks it in the DLQ in the end); the others are deleted.

A record becomes a packet only if:

- its body is JSON and a relay packet (:meth:`RelayPacket.from_dict`);
- its job type is a class this worker knows (the registry of job classes, filled by
  ``RelayJob.__init_subclass__``) that is the handling class or a subclass of it;
- it carries a valid signature when that class signs (:attr:`RelayJob.signer`);
- it names a queue, and arrived from it (same account, name and, where the URL says, region):
  a packet that names another queue (forged, or copied by hand) would make this worker send
  to, or tear down, that queue.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import tracing
from .errors import (
    HopBusyError,
    InvalidEventError,
    InvalidPacketError,
    LeaseLostError,
    VersionMismatchError,
)
from .hop import Hop
from .hop_claim import requeue_last
from .job_protocols import HopJob
from .names import same_queue
from .packet import RelayPacket
from .retry import TRANSIENT

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = [
    "BatchResponse",
    "Intake",
    "JobClass",
    "class_for",
    "knows",
    "read",
    "receive_count",
    "records",
    "register",
    "verified",
]

log = logging.getLogger("relaystate")

#: What a worker returns to Lambda: the records to deliver again.
BatchResponse = dict[str, list[dict[str, str]]]


class Worker(HopJob, Protocol):
    """A job as a worker runs it: a hop's job, with its ports."""

    backend: Backend | None
    ledger: str | LedgerPort | None
    #: The queue's ``maxReceiveCount``: the delivery that reaches it is SQS's last.
    max_receive_count: int

    def _ports(self) -> tuple[Backend, LedgerPort | None]:
        """The job's backend and ledger (made on first use)."""

    def _release(self) -> None:
        """The worker is done with the job (its triggers hold it: let them go)."""


class JobClass(Protocol):
    """What intake needs of a job class."""

    def type_name(self) -> str:
        """The job type its packets carry."""

    def from_packet(
        self,
        packet: RelayPacket | Mapping[str, Any] | str | bytes,
        *,
        backend: Backend | None = None,
    ) -> Worker:
        """The job as the packet left it."""


C = TypeVar("C", bound=type)

#: job type -> the class that runs its packets.
_registry: dict[str, type] = {}


def register(job_class: C, type_name: str) -> C:
    """Make ``job_class`` the one that runs packets of ``type_name`` in this process."""
    _registry[type_name] = job_class
    return job_class


def knows(type_name: str) -> bool:
    """Whether a class for packets of ``type_name`` is registered (its module imported)."""
    return type_name in _registry


def class_for(base: Any, packet: RelayPacket) -> Any:
    """The class that runs the packet: the one registered for its job type if that is ``base``
    or a subclass of it, else ``base`` itself if the type is ``base``'s own.

    Raises:
        InvalidPacketError: the job type is unknown here, or belongs to an unrelated class.
    """
    target = _registry.get(packet.job_type)
    if target is not None and issubclass(target, base):
        return target
    if base.type_name() == packet.job_type:
        return base  # another class took the name later; the handling class is the one asked
    if target is None:
        why = "no job class of that type is imported in this worker"
    else:
        why = (
            f"that type belongs here to {target.__module__}.{target.__qualname__}, which is not "
            f"{base.__qualname__} or a subclass of it"
        )
    raise InvalidPacketError(
        f"packet of job {packet.job_id} is for job type {packet.job_type!r}, which this worker "
        f"does not handle ({why}; it handles {base.type_name()!r}); set the same job_type on "
        "the class in the starter and the worker, and a job_type of its own on each job class",
        field="job_type",
    )


def verified(base: Any, packet: RelayPacket | Mapping[str, Any] | str | bytes) -> RelayPacket:
    """The packet, parsed; its signature verified if it came as text or a mapping.

    A :class:`RelayPacket` object was made by this process and is taken as it is; anything
    read from outside (a queue, a file) must be signed when the job's class signs.

    Raises:
        InvalidPacketError: not JSON, not a packet, or of a job type ``base`` does not run.
        InvalidSignatureError: the class signs and the signature is missing or bad.
    """
    if isinstance(packet, RelayPacket):
        return packet
    return read(base, packet)[1]


def read(
    base: Any, packet: RelayPacket | Mapping[str, Any] | str | bytes
) -> tuple[Any, RelayPacket]:
    """The class that runs the packet (:func:`class_for`) and the packet, :func:`verified`:
    both at once, so that a worker finds the class once a hop.

    Raises:
        InvalidPacketError: not JSON, not a packet, or of a job type ``base`` does not run.
        InvalidSignatureError: the class signs and the signature is missing or bad.
    """
    if isinstance(packet, RelayPacket):
        return class_for(base, packet), packet
    raw: Any = packet
    # (str first: a worker's body; ``str | bytes`` would make a union object every call.)
    if type(packet) is str or isinstance(packet, (str, bytes)):
        raw = RelayPacket.load_json(packet)
    parsed = RelayPacket.from_dict(raw)
    target = class_for(base, parsed)
    if target.signer is not None:
        target.signer.verify(raw)
    moved = migrated(target, parsed)
    if moved is not parsed:  # migrate may have made a packet of another type
        target = class_for(base, moved)
    return target, moved


def version_mismatch(target: Any, packet: RelayPacket) -> VersionMismatchError:
    """The error of a packet made by another version of its class than ``target``'s."""
    return VersionMismatchError(
        f"packet of job {packet.job_id} was made by version {packet.job_version or 'none'!r} "
        f"of {target.type_name()}, this worker runs version {target.version or 'none'!r}; it "
        "is not run (SQS parks it in the DLQ): deploy the version it needs, or define "
        f"{target.__name__}.migrate(packet), then resume it",
        field="job_version",
    )


def migrated(target: Any, packet: RelayPacket) -> RelayPacket:
    """The packet as ``target``'s version runs it: as it is, or through ``target.migrate``.

    Raises:
        VersionMismatchError: the versions differ and ``migrate`` refused (its default).
    """
    version = target.version or ""
    if packet.job_version == version:
        return packet
    moved: RelayPacket = target.migrate(packet)
    return moved.evolve(job_version=version)


class Intake:
    """Runs the packets of one SQS event through a job class, one hop each.

    Args:
        job_class: the class whose ``handle`` received the event; packets of its subclasses
            run as those.
        backend: the backend to give the rebuilt jobs (``None``: the class's, or real AWS).

    Example:
        >>> Intake(CopyRows, None).process(event, context)  # doctest: +SKIP
        {'batchItemFailures': []}
    """

    def __init__(self, job_class: JobClass, backend: Backend | None) -> None:
        self.job_class = job_class
        self.backend = backend
        #: The environment's tracing setting, read once an event for its hops (``None``:
        #: outside :meth:`process`, each hop reads it).
        self.tracing_env: str | None = None

    def process(self, event: Mapping[str, Any], context: Any = None) -> BatchResponse:
        """Run a hop for every record; the records to deliver again.

        Raises:
            InvalidEventError: the event is not an SQS event (no ``Records`` list).
        """
        failures: list[dict[str, str]] = []
        self.tracing_env = tracing.setting()
        for record in records(event):
            message_id = record.get("messageId")
            try:
                if not isinstance(message_id, str):
                    raise InvalidEventError("an SQS record without a messageId")
                self.run(record, context)
            except (HopBusyError, LeaseLostError) as exc:
                log.info("relaystate: message %s: %s", message_id, exc)
                if isinstance(message_id, str):
                    failures.append({"itemIdentifier": message_id})
            except Exception as exc:
                log.exception(
                    "relaystate: hop for message %s failed; it will be delivered again",
                    message_id,
                    extra={
                        "relaystate_hop": {
                            "message_id": message_id,
                            "outcome": "error",
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    },
                )
                if isinstance(message_id, str):
                    failures.append({"itemIdentifier": message_id})
        tracing.flush(self.job_class, self.tracing_env)
        return {"batchItemFailures": failures}

    def run(self, record: Mapping[str, Any], context: Any) -> None:
        """One record: its packet checked, its job rebuilt, its hop run."""
        target, packet = self._read(record)
        job: Worker = target._rebuilt(packet, self.backend)  # verified already: as it is
        try:
            backend, ledger = job._ports()
            traced = tracing.enabled(job, self.tracing_env)
            if traced:  # a span around each AWS call the hop makes
                backend, ledger = job.backend, job.ledger = tracing.traced_ports(backend, ledger)
            body, count = str(record.get("body")), receive_count(record)
            hop = Hop(job, backend, ledger, context, count, body=body)
            try:
                hop.run(traced=traced)
            except HopBusyError as busy:
                if count < job.max_receive_count:
                    raise  # the delivery comes back
                requeue_last(backend, packet, body, hop.state, busy)
            except TRANSIENT as exc:
                if count < job.max_receive_count or not hop.state.ended:
                    raise  # the delivery comes back (or, a shard not ended, goes to the DLQ)
                requeue_last(backend, packet, body, hop.state, exc)
        finally:
            job._release()

    def packet_of(self, record: Mapping[str, Any]) -> RelayPacket:
        """The record's packet, verified, and checked to have come from the queue it names."""
        return self._read(record)[1]

    def _read(self, record: Mapping[str, Any]) -> tuple[Any, RelayPacket]:
        """:meth:`packet_of`, and the class that runs the packet."""
        body = record.get("body")
        if not isinstance(body, str):
            raise InvalidPacketError("the SQS record has no body text", field="body")
        target, packet = read(self.job_class, body)
        if not packet.queue_url:
            raise InvalidPacketError(
                "the packet names no queue; a packet delivered from a queue must name the queue "
                "it runs from (it is not run)",
                field="queue_url",
            )
        arn = record.get("eventSourceARN")
        if isinstance(arn, str) and arn and not _same_queue(packet.queue_url, arn):
            raise InvalidPacketError(
                f"the packet names queue {packet.queue_url!r} but arrived from {arn!r}; "
                "it is not run (a packet runs only from its own job's queue)",
                field="queue_url",
            )
        return target, packet


#: :func:`~relaystate.names.same_queue`, remembered: a worker sees the same queue hop after hop.
_same_queue = functools.lru_cache(maxsize=256)(same_queue)


def records(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The event's records.

    Raises:
        InvalidEventError: the event is not a mapping with a ``Records`` list of mappings.
    """
    # A dict first: what Lambda hands over, known without isinstance() of an ABC.
    found = event.get("Records") if type(event) is dict or isinstance(event, Mapping) else None
    if type(found) is not list and not isinstance(found, list):
        raise _not_an_event(event)
    for record in found:
        if type(record) is not dict and not isinstance(record, Mapping):
            raise _not_an_event(event)
    return found


def _not_an_event(event: Any) -> InvalidEventError:
    return InvalidEventError(
        "handle() takes the SQS event that the job's event-source mapping delivers "
        f"(a dict with a 'Records' list); got {type(event).__name__} {_preview(event)}"
    )


def receive_count(record: Mapping[str, Any]) -> int:
    """SQS's ``ApproximateReceiveCount`` of the record (1 when missing or unreadable)."""
    attributes = record.get("attributes")
    if type(attributes) is dict or isinstance(attributes, Mapping):
        try:
            count = int(attributes.get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            return 1
        return count if count > 1 else 1
    return 1


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
