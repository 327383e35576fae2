"""A job's AWS resources -- queue, DLQ, mapping -- created, checked, fed and deleted.

Order matters and is AWS's: the DLQ before the queue that redrives to it; the mapping after the
queue; on teardown the mapping first, waited until gone, then the queues (a mapping left on a
deleted queue's ARN blocks a new one). A setup that fails half-way undoes what it made, newest
first, and re-raises the error that stopped it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from . import clock
from .errors import (
    ConfigurationError,
    InvalidDelayError,
    MappingTimeoutError,
    RelayError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from .names import TAG_PREFIX, dlq_name
from .packet import RelayPacket
from .ports import Backend, MappingInfo, QueueRef

if TYPE_CHECKING:
    from .signing import PacketSigner

__all__ = [
    "MAX_DELAY_S",
    "QueueSpec",
    "Resources",
    "check_delay",
    "ensure",
    "provision",
    "release",
    "send_packets",
    "visibility_for",
    "wait_for_mapping",
]

log = logging.getLogger("relaystate")

MAX_DELAY_S = 900
MAX_VISIBILITY_S = 43_200
MAX_RETENTION_S = 1_209_600  # 14 days (SQS's maximum): for the DLQ
QUEUE_RETENTION_S = 345_600  # 4 days (SQS's default): a live packet waits at most 900 s


def check_delay(delay_seconds: int) -> int:
    """Return ``delay_seconds`` if SQS accepts it per message (0..900), else raise."""
    if (
        not isinstance(delay_seconds, int)
        or isinstance(delay_seconds, bool)
        or not 0 <= delay_seconds <= MAX_DELAY_S
    ):
        raise InvalidDelayError(
            f"DelaySeconds must be a whole number from 0 to {MAX_DELAY_S}, got "
            f"{delay_seconds!r}; for a longer pause, relay again with a delay when it ends"
        )
    return delay_seconds


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

    def tags(self, role: str) -> dict[str, str]:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            f"{TAG_PREFIX}job-id": self.job_id,
            f"{TAG_PREFIX}job-type": self.job_type[:256],
            f"{TAG_PREFIX}function": self.function_name[:256],
            f"{TAG_PREFIX}created-at": created,
            f"{TAG_PREFIX}role": role,
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


def _backoff(backend: Backend, until: float | None = None) -> Iterator[float]:
    """Pauses between polls, doubling, until the backend's wait limit is spent (or ``until``)."""
    deadline = clock.monotonic() + backend.mapping_wait_s
    if until is not None:
        deadline = min(deadline, until)
    pause = backend.mapping_poll_s
    while True:
        left = deadline - clock.monotonic()
        if left <= 0:
            return
        yield min(pause, left)
        pause = min(pause * 2, backend.mapping_poll_max_s)


def wait_for_mapping(
    backend: Backend, mapping_id: str, *, enabled: bool, until: float | None = None
) -> MappingInfo | None:
    """Poll until the mapping is ``Enabled`` (``enabled=True``) or gone; bounded, with backoff.

    ``until`` (a ``clock.monotonic()`` value) ends the wait sooner, as a timeout would.
    """
    began = clock.monotonic()
    info = backend.mappings.get(mapping_id)
    waits = _backoff(backend, until)
    while True:
        if enabled and info is not None and info.state == "Enabled":
            return info
        if not enabled and info is None:
            return None
        if enabled and info is None:
            raise ResourceNotFoundError(
                f"mapping {mapping_id} vanished while it was being enabled; start the job again"
            )
        pause = next(waits, None)
        if pause is None:
            want = "Enabled" if enabled else "deleted"
            state = info.state if info else "gone"
            waited = clock.monotonic() - began
            cut = " (all the time the caller had left)" if until is not None else ""
            raise MappingTimeoutError(
                f"mapping {mapping_id} is still {state!r} after {waited:.1f} s{cut}, waiting for "
                f"it to be {want}; check it in the Lambda console, then retry (a job's setup is "
                "rolled back, its teardown is idempotent)"
            )
        clock.sleep(pause)
        info = backend.mappings.get(mapping_id)


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
) -> str:
    if spec.allow_recursion:
        backend.mappings.allow_recursion(spec.function_name)
    mapping = backend.mappings.create(
        spec.function_name, queue_arn, batch_size=1, max_concurrency=spec.max_concurrency
    )
    undo.callback(_undo, "delete mapping", _detach, backend, mapping.id)
    wait_for_mapping(backend, mapping.id, enabled=True, until=until)
    return mapping.id


def _undo(what: str, func: Callable[..., object], *args: object) -> None:
    """One rollback step: log a failure and go on, so the other steps still run."""
    try:
        func(*args)
    except Exception:
        log.exception("relaystate: rollback step %r failed; the resource may be left over", what)


@contextlib.contextmanager
def provision(
    backend: Backend, spec: QueueSpec, *, until: float | None = None
) -> Iterator[Resources]:
    """Create DLQ, queue and mapping; undo them all if this block (or setup itself) fails.

    ``until`` (a ``clock.monotonic()`` value) ends the wait for the mapping sooner: a starter
    in a Lambda must roll back before its own timeout rather than be killed half-way.

    Example:
        >>> with provision(backend, spec) as res:  # doctest: +SKIP
        ...     send_packets(backend, res.queue_url, packets)
    """
    with contextlib.ExitStack() as undo:
        try:
            res = _create_queues(backend, spec, undo)
            mapping_id = _attach(backend, spec, res.queue_arn, undo, until)
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
            _detach(backend, info.id, until)  # it feeds a queue that is no longer the job's
            info = None
        if info is None:
            mapping_id = _attach(backend, spec, res.queue_arn, undo, until)
        else:
            mapping_id = info.id
            if info.state != "Enabled":
                wait_for_mapping(backend, mapping_id, enabled=True, until=until)
        undo.pop_all()
    return attrs.evolve(res, mapping_id=mapping_id)


def send_packets(
    backend: Backend,
    queue_url: str,
    packets: Iterable[RelayPacket],
    *,
    delay_seconds: int = 0,
    max_message_bytes: int = 1_048_576,
    signer: PacketSigner | None = None,
) -> int:
    """Send packets: one ``SendMessage`` for one, ``SendMessageBatch`` by tens (≤ 1 MiB a call).

    Packets are serialized as they are sent, so a fan-out of 100,000 shards never holds more
    than one batch of message bodies. Each body is size-checked before it is sent (the job
    checks all of a fan-out before its first call). Returns how many were sent.
    """
    check_delay(delay_seconds)
    bodies = (packet.check_size(max_message_bytes, signer) for packet in packets)
    first = next(bodies, None)
    if first is None:
        return 0
    second = next(bodies, None)
    if second is None:
        backend.queues.send(queue_url, first, delay_seconds)
        return 1
    sent = 0
    for chunk in _chunks(itertools.chain((first, second), bodies), count=10, size=1_048_576):
        backend.queues.send_batch(queue_url, chunk, delay_seconds)
        sent += len(chunk)
    return sent


def _chunks(bodies: Iterable[str], *, count: int, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    used = 0
    for body in bodies:
        n = len(body.encode("utf-8"))
        if chunk and (len(chunk) == count or used + n > size):
            yield chunk
            chunk, used = [], 0
        chunk.append(body)
        used += n
    if chunk:
        yield chunk


def _detach(backend: Backend, mapping_id: str, until: float | None = None) -> None:
    """Delete the mapping and wait until it is gone -- or, given ``until``, until then.

    A mapping in a transition (Creating, Updating...) refuses deletion with
    ResourceInUseException; the delete is retried within the mapping wait budget, so that a
    queue is never deleted under a live mapping. Once the delete is accepted the mapping is
    on its way out (``Deleting``): past ``until`` the queues are deleted without waiting for
    it to be gone, rather than be left behind by a Lambda killed while it waits.
    """
    waits = _backoff(backend, until)
    while True:
        try:
            backend.mappings.delete(mapping_id)
            break
        except ResourceConflictError:
            pause = next(waits, None)
            if pause is None:
                raise
            clock.sleep(pause)
    try:
        wait_for_mapping(backend, mapping_id, enabled=False, until=until)
    except MappingTimeoutError:
        if until is None or clock.monotonic() < until:
            raise
        log.info(
            "relaystate: mapping %s is still being deleted; deleting its queues now, in the "
            "time the Lambda has left",
            mapping_id,
        )


def release(
    backend: Backend,
    *,
    queue_url: str,
    dlq_url: str,
    mapping_id: str,
    keep_nonempty_dlq: bool = True,
    until: float | None = None,
    dlq_has_packets: bool = False,
) -> None:
    """Delete mapping (waited until gone), queue, and DLQ; what is already gone is skipped.

    A DLQ that still holds dead packets is kept (and logged), unless ``keep_nonempty_dlq`` is
    false: those packets are the only record of work that failed. ``until`` (a
    ``clock.monotonic()`` value) bounds the wait for a deleted mapping to be gone: a teardown in
    a Lambda must delete the queues before the function's timeout. ``dlq_has_packets``: the
    caller just parked a packet there, which SQS's approximate counts may not show yet.
    """
    if mapping_id:
        _detach(backend, mapping_id, until)
    if queue_url:
        backend.queues.delete(queue_url)
    if dlq_url:
        attrs_ = backend.queues.describe(dlq_url)
        if attrs_ is None:
            return
        held = max(_count(attrs_), int(dlq_has_packets))
        if held and keep_nonempty_dlq:
            log.warning(
                "relaystate: kept dead-letter queue %s: it holds %d packet(s); resume them "
                "with RelayJob.resume(packet) or delete the queue",
                dlq_url,
                held,
            )
            return
        backend.queues.delete(dlq_url)


def _count(queue_attributes: Mapping[str, str]) -> int:
    keys = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    return sum(int(queue_attributes.get(key, "0") or 0) for key in keys)
