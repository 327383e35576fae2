"""SQS in a simulation: :class:`SimQueues`, the queue port, with what AWS documents.

On top of :class:`~relaystate.testing.MemoryQueues`' port, its queues keep what a relay meets
on AWS, on the run's virtual clock -- receipts, duplicates, redrive and retention as
:mod:`~relaystate.testing.sim.delivery` describes, and::

    delay        DelaySeconds (the queue's, or the message's) holds a new message back
    counts       the Approximate* counts are those of a moment up to a minute ago
    deletion     DeleteQueue drops the messages at once, but the queue answers for up to
                 60 s: sends "succeed" and vanish; the name is refused for 60 s after the
                 call (QueueDeletedRecently); a queue's URL and ARN are its name's, so a
                 queue made again under a name has the old one's URL
    limits       a message over the queue's MaximumMessageSize (1 MiB by default) or with a
                 character SQS refuses is refused; a batch holds 10 messages and 1 MiB;
                 a CreateQueue of an existing name with other attributes is refused

The Lambda service (:mod:`~relaystate.testing.sim.poller`) receives and deletes through
:meth:`~SimQueues.take` and :meth:`~SimQueues.delete_message`, which are not AWS calls of the
job and never faulted.

Example:
    >>> from relaystate.testing.sim.world import World
    >>> from relaystate.testing.sim import SimFaults, SimTiming
    >>> queues = SimQueues(World(1, SimFaults(), SimTiming()))
    >>> ref = queues.create("relay-1", {"VisibilityTimeout": "30"}, {})
    >>> queues.send(ref.url, "hello")
    'm-1'
    >>> [m.body for m in queues.take(queues.live(ref.arn), 10)]
    ['hello']
    >>> queues.take(queues.live(ref.arn), 10)  # invisible for 30 s now
    []
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

from ...errors import (
    InvalidRequestError,
    QueueDeletedRecentlyError,
    ResourceConflictError,
    ResourceNotFoundError,
    SendError,
)
from ...ports import QueueRef
from .delivery import Deliveries
from .queue import SimMessage, SimQueue
from .record import QueueDeleted, Sent, packet_ref
from .world import World

__all__ = ["SimQueues"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
#: What SQS refuses in a message: anything but #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and
#: #x10000-#x10FFFF.
_REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BATCH_ENTRIES = 10
_BATCH_BYTES = 1_048_576
_MAX_DELAY_S = 900


class SimQueues(Deliveries):
    """:class:`~relaystate.ports.QueuePort` of a simulation (see the module's documentation).

    Args:
        world: the run's world (clock, draws, record, the gate of AWS calls).
    """

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._deleted: dict[str, float] = {}
        self._message_ids = itertools.count(1)

    # -- the port: the job's AWS calls --------------------------------------------------------

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        return self.world.call("sqs", "CreateQueue", lambda: self._create(name, attributes, tags))

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        def apply() -> None:
            queue = self._existing(url)
            if "MessageRetentionPeriod" in attributes:
                self.expire(queue)  # under the period that held until now
                queue.retention_set_at = self.world.now
            queue.attributes.update(attributes)

        self.world.call("sqs", "SetQueueAttributes", apply)

    def delete(self, url: str) -> None:
        self.world.call("sqs", "DeleteQueue", lambda: self._delete(url))

    def describe(self, url: str) -> Mapping[str, str] | None:
        return self.world.call("sqs", "GetQueueAttributes", lambda: self._describe(url))

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        def apply() -> str:
            queue = self._existing(url)
            code, why = self._refusal(queue, body, delay_seconds)
            if code:
                raise InvalidRequestError(why, service="sqs", operation="SendMessage", code=code)
            return self._accept(queue, body, delay_seconds)

        return self.world.call("sqs", "SendMessage", apply)

    def send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int = 0) -> list[str]:
        return self.world.call(
            "sqs", "SendMessageBatch", lambda: self._send_batch(url, bodies, delay_seconds)
        )

    def find(self, name: str) -> QueueRef | None:
        """The queue named ``name`` (GetQueueUrl), or ``None``."""

        def apply() -> QueueRef | None:
            queue = self._get(self.url(name))
            return QueueRef(queue.url, queue.arn) if queue is not None else None

        return self.world.call("sqs", "GetQueueUrl", apply)

    def tags(self, url: str) -> Mapping[str, str]:
        """The queue's tags (ListQueueTags); empty for a queue that does not exist."""

        def apply() -> Mapping[str, str]:
            queue = self._get(url)
            return dict(queue.tags) if queue is not None else {}

        return self.world.call("sqs", "ListQueueTags", apply)

    def list_named(self, prefix: str) -> list[QueueRef]:
        """The queues whose name begins with ``prefix`` (ListQueues); one being deleted too."""

        def apply() -> list[QueueRef]:
            found = (self._get(url) for url in list(self.queues))
            return [
                QueueRef(q.url, q.arn) for q in found if q is not None and q.name.startswith(prefix)
            ]

        return self.world.call("sqs", "ListQueues", apply)

    def pop(self, url: str) -> str:
        """Take the oldest visible message's body off the queue (a test's consumer)."""
        queue = self._existing(url)
        self.expire(queue)
        now = self.world.now
        visible = [m for m in queue.held.values() if m.visible_at <= now]
        if not visible:
            raise IndexError(f"no visible message in {url}")
        oldest = min(visible, key=lambda m: (m.sent_at, m.key))
        del queue.held[oldest.key]
        self._note(queue)
        return oldest.body

    # -- helpers -----------------------------------------------------------------------------

    def _existing(self, url: str) -> SimQueue:
        queue = self._get(url)
        if queue is None:
            raise ResourceNotFoundError(
                f"no queue {url}",
                service="sqs",
                code="AWS.SimpleQueueService.NonExistentQueue",
            )
        return queue

    def _create(
        self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]
    ) -> QueueRef:
        now = self.world.now
        if not _NAME.fullmatch(name):
            raise InvalidRequestError(
                f"queue name {name!r} is not valid", service="sqs", code="InvalidParameterValue"
            )
        deleted = self._deleted.get(name)
        if deleted is not None and now < deleted + self.world.timing.name_block_s:
            raise QueueDeletedRecentlyError(
                f"you must wait 60 seconds after deleting a queue before you can create "
                f"another with the same name ({name})",
                service="sqs",
                operation="CreateQueue",
                code="AWS.SimpleQueueService.QueueDeletedRecently",
            )
        url = self.url(name)
        found = self._get(url)
        if found is not None:
            differ = sorted(k for k, v in attributes.items() if found.attributes.get(k) != v)
            if differ:
                raise ResourceConflictError(
                    f"queue {name} already exists with other values of {differ}",
                    service="sqs",
                    operation="CreateQueue",
                    code="QueueAlreadyExists",
                )
            return QueueRef(url, found.arn)
        queue = SimQueue(name, dict(attributes), dict(tags), url=url, arn=self.arn(name))
        queue.created_at = now
        self.queues[url] = queue
        self._note(queue)
        self.world.record.say(now, self.world.by(), f"created queue {name}")
        return QueueRef(url, queue.arn)

    def _delete(self, url: str) -> None:
        queue = self._get(url)
        if queue is None:
            return
        world = self.world
        now = world.now
        if queue.deleted_at is not None:
            world.record.deletes.append(QueueDeleted(url, queue.role, (), now, world.by(), False))
            return
        self.expire(queue)
        packets = tuple(
            ref for ref in (packet_ref(m.body) for m in queue.held.values()) if ref is not None
        )
        world.record.deletes.append(QueueDeleted(url, queue.role, packets, now, world.by()))
        world.record.say(now, world.by(), f"deleted queue {queue.name} ({len(queue.held)} held)")
        queue.deleted_at = now
        queue.held.clear()
        self._note(queue)
        self._deleted[queue.name] = now
        gone = now + world.rng.uniform(0.0, world.timing.queue_delete_s)

        def vanish() -> None:
            if self.queues.get(url) is queue:
                del self.queues[url]

        world.sched.at(gone, vanish)

    def _describe(self, url: str) -> Mapping[str, str] | None:
        queue = self._get(url)
        if queue is None:
            return None
        self.expire(queue)
        world = self.world
        lag = world.rng.uniform(0.0, world.timing.count_lag_s)
        visible, in_flight, delayed = queue.counts_at(world.now - lag)
        return {
            **queue.attributes,
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
        }

    def _refusal(self, queue: SimQueue, body: str, delay_seconds: int) -> tuple[str, str]:
        """``(code, message)`` of why SQS refuses the message, or empty strings."""
        limit = queue.number("MaximumMessageSize", 1_048_576)
        size = len(body.encode("utf-8", "surrogatepass"))
        if size > limit:
            return "InvalidParameterValue", f"message of {size} bytes is over {limit} bytes"
        if _REFUSED.search(body):
            return "InvalidMessageContents", "the message contains characters outside SQS's set"
        if not 0 <= delay_seconds <= _MAX_DELAY_S:
            return "InvalidParameterValue", f"DelaySeconds {delay_seconds} is not 0..900"
        return "", ""

    def _send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int) -> list[str]:
        queue = self._existing(url)
        if len(bodies) > _BATCH_ENTRIES:
            raise InvalidRequestError(
                f"{len(bodies)} entries in one batch (at most 10)",
                service="sqs",
                operation="SendMessageBatch",
                code="AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            )
        if sum(len(b.encode("utf-8", "surrogatepass")) for b in bodies) > _BATCH_BYTES:
            raise InvalidRequestError(
                "the batch is over 1 MiB",
                service="sqs",
                operation="SendMessageBatch",
                code="AWS.SimpleQueueService.BatchRequestTooLong",
            )
        ids: list[str] = []
        refused: list[tuple[str, str, str]] = []
        for i, body in enumerate(bodies):
            code, why = self._refusal(queue, body, delay_seconds)
            if code:
                refused.append((str(i), code, why))
            else:
                ids.append(self._accept(queue, body, delay_seconds))
        if refused:
            raise SendError(
                f"{len(refused)} of {len(bodies)} messages were refused by {url}",
                failed=tuple(refused),
            )
        return ids

    def _accept(self, queue: SimQueue, body: str, delay_seconds: int) -> str:
        world = self.world
        now = world.now
        message_id = f"m-{next(self._message_ids)}"
        lost = "" if queue.deleted_at is None else "sent to a queue being deleted"
        ref = packet_ref(body)
        if ref is not None and ref.job_id == world.record.job_id:
            sent = Sent(queue.url, queue.role, ref, now, world.by(), lost)
            world.record.sends.append(sent)
        if lost:
            world.record.say(now, world.by(), f"sent to {queue.name}, being deleted: lost")
            return message_id  # SQS answers, and the message vanishes with the queue
        inv = world.invocation()
        delay = max(delay_seconds, queue.number("DelaySeconds", 0))
        message = SimMessage(
            next(self._keys),
            message_id,
            body,
            sent_at=now,
            visible_at=now + delay,
            depth=inv.depth if inv is not None else 0,
        )
        queue.held[message.key] = message
        self._note(queue)
        self.on_visible(queue, message.visible_at)
        return message_id
