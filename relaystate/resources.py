"""A job's AWS resources -- queue, DLQ, mapping -- created, and found again to resume.

Order matters and is AWS's: the DLQ before the queue that redrives to it; the mapping after the
queue; on teardown the mapping first, waited until gone, then the queues (a mapping left on a
deleted queue's ARN blocks a new one). A setup that fails half-way undoes what it made, newest
first, and re-raises the error that stopped it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from .errors import (
    ConfigurationError,
    JobConflictError,
    RelayError,
    ResourceConflictError,
)
from .mapping_state import detach, wait_for_mapping
from .names import TAG_PREFIX, dlq_name, queue_name_of
from .packet import RelayPacket
from .ports import QueueRef

if TYPE_CHECKING:
    from .ports import Backend, MappingInfo

    pass

__all__ = [
    "QueueSpec",
    "Resources",
    "Taken",
    "ensure",
    "provision",
    "taken",
    "tls_only_policy",
    "visibility_for",
]

log = logging.getLogger("relaystate")

MAX_VISIBILITY_S = 43_200
MAX_RETENTION_S = 1_209_600  # 14 days (SQS's maximum): for the DLQ
QUEUE_RETENTION_S = 345_600  # 4 days (SQS's default): a live packet waits at most 900 s


@attrs.frozen(kw_only=True)
class QueueSpec:
    """What to create for a job."""

    job_id: str
    job_type: str
    function_name: str
    queue_name: str
    visibility_timeout_s: int
    max_receive_count: int = 5
    max_concurrency: int | None = None
    allow_recursion: bool = True
    max_message_bytes: int = 1_048_576
    #: The alias or version the mapping invokes (``None``: the function as it is, $LATEST).
    qualifier: str | None = None
    #: What the job is (type, data, options), hashed: tells a retried start of the same job
    #: from another job that wants the same id (see :func:`relaystate.lifecycle.fingerprint`).
    fingerprint: str = ""

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.max_receive_count <= 1000:
            raise ConfigurationError(
                f"max_receive_count must be 1..1000, got {self.max_receive_count!r} "
                "(AWS advises at least 5)"
            )
        if self.max_concurrency is not None and not 2 <= self.max_concurrency <= 1000:
            raise ConfigurationError(
                f"max_concurrency must be None or 2..1000 (the mapping's "
                f"ScalingConfig.MaximumConcurrency), got {self.max_concurrency!r}"
            )
        if not 1_024 <= self.max_message_bytes <= 1_048_576:
            raise ConfigurationError(
                "max_message_bytes must be 1,024..1,048,576 (SQS's MaximumMessageSize), got "
                f"{self.max_message_bytes!r}"
            )

    @property
    def invoked(self) -> str:
        """What the mapping invokes: the function, or ``function:qualifier``."""
        if self.qualifier:
            return f"{self.function_name}:{self.qualifier}"
        return self.function_name

    def tags(self, role: str) -> dict[str, str]:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            f"{TAG_PREFIX}job-id": self.job_id,
            f"{TAG_PREFIX}job-type": self.job_type[:256],
            f"{TAG_PREFIX}function": self.function_name[:256],
            f"{TAG_PREFIX}created-at": created,
            f"{TAG_PREFIX}role": role,
            **({f"{TAG_PREFIX}fingerprint": self.fingerprint} if self.fingerprint else {}),
        }


def tls_only_policy(queue_arn: str) -> str:
    """A queue policy that refuses every request not made over TLS (``aws:SecureTransport``)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        separators=(",", ":"),
    )


def visibility_for(function_timeout_s: int) -> int:
    """AWS: a mapped queue's visibility timeout should be at least 6 x the function timeout."""
    return min(max(6 * function_timeout_s, 30), MAX_VISIBILITY_S)


@attrs.frozen
class Resources:
    """The AWS resources of one job."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    mapping_id: str


def _create_dlq(backend: Backend, spec: QueueSpec, undo: contextlib.ExitStack) -> QueueRef:
    dlq = backend.queues.create(
        dlq_name(spec.queue_name),
        {
            # AWS: a DLQ should keep messages longer than its source queue does, since a dead
            # message keeps its original enqueue time.
            "MessageRetentionPeriod": str(MAX_RETENTION_S),
            "SqsManagedSseEnabled": "true",
        },
        spec.tags("dlq"),
    )
    undo.callback(_undo, "delete DLQ", backend.queues.delete, dlq.url)
    backend.queues.set_attributes(dlq.url, {"Policy": tls_only_policy(dlq.arn)})
    return dlq


def _create_queue(
    backend: Backend, spec: QueueSpec, dlq_arn: str, undo: contextlib.ExitStack
) -> QueueRef:
    queue = backend.queues.create(
        spec.queue_name,
        {
            "VisibilityTimeout": str(spec.visibility_timeout_s),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_S),
            "MaximumMessageSize": str(spec.max_message_bytes),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
            ),
        },
        spec.tags("queue"),
    )
    undo.callback(_undo, "delete queue", backend.queues.delete, queue.url)
    backend.queues.set_attributes(queue.url, {"Policy": tls_only_policy(queue.arn)})
    return queue


@attrs.frozen
class Taken:
    """A job's queue name that is in use: what holds it.

    Attributes:
        queue: the queue of that name, if it exists (``None``: only its DLQ is left).
        dlq: the dead-letter queue of that name, if it exists.
        tags: the tags of the queue (or of the DLQ): whose it is.
        live: the mappings that feed the queue and are not being deleted.
    """

    queue: QueueRef | None
    dlq: QueueRef | None
    tags: Mapping[str, str]
    live: tuple[MappingInfo, ...] = ()

    def held_by(self, job_id: str, fingerprint: str) -> bool:
        """Whether the name is held by this very job (same id and fingerprint), running."""
        return (
            self.queue is not None
            and bool(self.live)
            and self.tags.get(f"{TAG_PREFIX}job-id") == job_id
            and self.tags.get(f"{TAG_PREFIX}fingerprint", fingerprint) == fingerprint
        )

    def describe(self) -> str:
        """One line: whose queue it is and in what state."""
        held = self.queue or self.dlq
        assert held is not None
        owner = self.tags.get(f"{TAG_PREFIX}job-id")
        whose = (
            f"job {owner} ({self.tags.get(f'{TAG_PREFIX}job-type', '?')})"
            if owner
            else ("no relaystate job (it has no relaystate tags)")
        )
        if self.queue is None:
            state = "only its dead-letter queue is left (it holds failed packets, or is being "
            state += "deleted)"
        elif self.live:
            state = f"a mapping feeds it ({self.live[0].state})"
        else:
            state = "no mapping feeds it (it is being torn down, or was left over)"
        return f"queue {queue_name_of(held.url)} belongs to {whose}; {state}"


def taken(backend: Backend, spec: QueueSpec) -> Taken | None:
    """What holds the job's queue name (or its DLQ's), or ``None`` when both are free.

    A start must not create over a queue that exists: CreateQueue would hand back the existing
    queue, and a rollback would then delete another job's queue with its packets.
    """
    queue = backend.queues.find(spec.queue_name)
    dlq = backend.queues.find(dlq_name(spec.queue_name))
    if queue is None and dlq is None:
        return None
    held = queue or dlq
    assert held is not None
    live: tuple[MappingInfo, ...] = ()
    if queue is not None:
        live = tuple(m for m in backend.mappings.list_for_queue(queue.arn) if m.state != "Deleting")
    return Taken(queue=queue, dlq=dlq, tags=backend.queues.tags(held.url), live=live)


def _create_queues(backend: Backend, spec: QueueSpec, undo: contextlib.ExitStack) -> Resources:
    dlq = _create_dlq(backend, spec, undo)
    queue = _create_queue(backend, spec, dlq.arn, undo)
    return Resources(queue_url=queue.url, queue_arn=queue.arn, dlq_url=dlq.url, mapping_id="")


def _attach(
    backend: Backend,
    spec: QueueSpec,
    queue_arn: str,
    undo: contextlib.ExitStack,
    until: float | None = None,
    enabled: bool = True,
) -> str:
    if spec.allow_recursion:
        backend.mappings.allow_recursion(spec.function_name)
    try:
        mapping = backend.mappings.create(
            spec.invoked,
            queue_arn,
            batch_size=1,
            max_concurrency=spec.max_concurrency,
            enabled=enabled,
        )
    except ResourceConflictError as exc:
        # Another mapping feeds this queue: another starter made it (and the queue) at the
        # same moment. Its resources are not ours to roll back.
        undo.pop_all()
        raise JobConflictError(
            f"queue {spec.queue_name} of job {spec.job_id} was set up by another start at the "
            "same time (a mapping already feeds it); this start is refused and touched "
            "nothing of it"
        ) from exc
    undo.callback(_undo, "delete mapping", detach, backend, mapping.id)
    wait_for_mapping(backend, mapping.id, enabled=enabled, disabled=not enabled, until=until)
    return mapping.id


def _undo(what: str, func: Callable[..., object], *args: object) -> None:
    """One rollback step: log a failure and go on, so the other steps still run."""
    try:
        func(*args)
    except Exception:
        log.exception("relaystate: rollback step %r failed; the resource may be left over", what)


@contextlib.contextmanager
def provision(
    backend: Backend, spec: QueueSpec, *, until: float | None = None, enabled: bool = True
) -> Iterator[Resources]:
    """Create DLQ, queue and mapping; undo them all if this block (or setup itself) fails.

    ``until`` (a ``clock.monotonic()`` value) ends the wait for the mapping sooner: a starter
    in a Lambda must roll back before its own timeout rather than be killed half-way.
    ``enabled=False`` makes the mapping disabled (nothing is delivered until :func:`enable`):
    a fan-out whose packets take several calls is enabled only once all are sent, so a start
    that fails half-way rolls back before any shard ran. Call :func:`taken` first: this creates
    over nothing.

    Example:
        >>> with provision(backend, spec) as res:  # doctest: +SKIP
        ...     send_packets(backend, res.queue_url, packets)
    """
    with contextlib.ExitStack() as undo:
        try:
            res = _create_queues(backend, spec, undo)
            mapping_id = _attach(backend, spec, res.queue_arn, undo, until, enabled)
            res = attrs.evolve(res, mapping_id=mapping_id)
            yield res
        except BaseException as exc:
            if isinstance(exc, RelayError):
                exc.add_note("relaystate rolled back what this setup had created")
            raise
        undo.pop_all()


def ensure(
    backend: Backend, packet: RelayPacket, spec: QueueSpec, *, until: float | None = None
) -> Resources:
    """Make sure the packet's queue and mapping exist; re-create whichever is gone.

    Used by ``resume``: a packet read from a DLQ may outlive its job's queue and mapping. A
    queue whose mapping is alive is kept as it is (other shards' packets may be in it); a queue
    whose mapping is gone or ``Deleting`` is not reused -- a teardown deletes the mapping first,
    and for up to 60 s after DeleteQueue a queue still answers while what is sent to it is lost
    -- so a fresh queue and mapping are made. A DLQ that still exists is reused by a re-created
    queue. ``spec.queue_name`` must be a fresh name (SQS blocks a deleted queue's name for
    60 s). A failure undoes only what this call made.
    """
    with contextlib.ExitStack() as undo:
        info = backend.mappings.get(packet.mapping_id) if packet.mapping_id else None
        if info is not None and info.state == "Deleting":
            info = None  # on its way out: waiting for it would take minutes, for nothing
        queue = backend.queues.describe(packet.queue_url) if packet.queue_url else None
        if queue is not None and info is None and packet.mapping_id:
            log.warning(
                "relaystate: queue %s of job %s has no live mapping (torn down, or being torn "
                "down): resuming into a new queue; delete the old one if it remains "
                "(relaystate reap)",
                packet.queue_url,
                packet.job_id,
            )
            queue = None
        if queue is not None:
            res = Resources(packet.queue_url, queue["QueueArn"], packet.dlq_url, "")
            if packet.dlq_url and backend.queues.describe(packet.dlq_url) is None:
                log.warning(
                    "relaystate: the DLQ %s of queue %s is gone; packets that fail for good "
                    "will stay in the queue until their retention ends",
                    packet.dlq_url,
                    packet.queue_url,
                )
        else:
            dlq_attributes = backend.queues.describe(packet.dlq_url) if packet.dlq_url else None
            if dlq_attributes is not None:
                dlq = QueueRef(packet.dlq_url, dlq_attributes["QueueArn"])
            else:
                dlq = _create_dlq(backend, spec, undo)
            made = _create_queue(backend, spec, dlq.arn, undo)
            res = Resources(made.url, made.arn, dlq.url, "")
        if info is not None and info.queue_arn not in ("", res.queue_arn):
            detach(backend, info.id, until)  # it feeds a queue that is no longer the job's
            info = None
        if info is None:
            mapping_id = _attach(backend, spec, res.queue_arn, undo, until)
        else:
            mapping_id = info.id
            if info.state != "Enabled":
                wait_for_mapping(backend, mapping_id, enabled=True, until=until)
        undo.pop_all()
    return attrs.evolve(res, mapping_id=mapping_id)
