"""SQS in a simulation: :class:`SimQueues`, the queue port, with what AWS documents.

On top of :class:`~relaystate.testing.MemoryQueues`' port, its queues keep what a relay meets
on AWS, on the run's virtual clock::

    delivery     at least once: a received message may be delivered once more, at once or
                 after it was handled and deleted (SimFaults.duplicate_rate); visible
                 messages are received in no particular order
    visibility   a received message is invisible for the queue's VisibilityTimeout, then
                 delivered again unless deleted with its latest receipt; DelaySeconds (the
                 queue's, or the message's) holds a new one back
    redrive      a message received maxReceiveCount times moves to the RedrivePolicy's
                 dead-letter queue on its next receipt (it is lost if that queue is gone)
    counts       the Approximate* counts are those of a moment up to a minute ago
    deletion     DeleteQueue drops the messages at once, but the queue answers for up to
                 60 s: sends "succeed" and vanish; the name is refused for 60 s after the
                 call (QueueDeletedRecently); a queue's URL and ARN are its name's, so a
                 queue made again under a name has the old one's URL
    limits       a message over the queue's MaximumMessageSize (1 MiB by default) or with a
                 character SQS refuses is refused; a batch holds 10 messages and 1 MiB;
                 a CreateQueue of an existing name with other attributes is refused

The Lambda service (:mod:`~relaystate.testing.sim.poller`) receives and deletes through
:meth:`SimQueues.receive` and :meth:`SimQueues.delete_message`, which are not AWS calls of
the job and never faulted.

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
from collections.abc import Callable, Mapping, Sequence

from ...errors import (
    InvalidRequestError,
    QueueDeletedRecentlyError,
    ResourceConflictError,
    ResourceNotFoundError,
    SendError,
)
from ...names import queue_name_of
from ...ports import QueueRef
from ..memory import ACCOUNT, MemoryQueues
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
#: A duplicate delivered "at once" resurfaces within this many seconds.
_PROMPT_DUPLICATE_S = 0.2


class SimQueues(MemoryQueues):
    """:class:`~relaystate.ports.QueuePort` of a simulation (see the module's documentation).

    Args:
        world: the run's world (clock, draws, record, the gate of AWS calls).
    """

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        #: Called with a queue and the time at which a message of it becomes visible (the
        #: Lambda service wakes its poller then).
        self.on_visible: Callable[[SimQueue, float], None] = lambda queue, when: None
        self._deleted: dict[str, float] = {}
        self._keys = itertools.count(1)
        self._message_ids = itertools.count(1)

    def arn(self, name: str) -> str:
        """The ARN of the queue named ``name``."""
        return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"

    # -- the port: the job's AWS calls --------------------------------------------------------

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        return self.world.call("sqs", "CreateQueue", lambda: self._create(name, attributes, tags))

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        def apply() -> None:
            self._existing(url).attributes.update(attributes)

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

    def pop(self, url: str) -> str:
        """Take the oldest visible message's body off the queue (a test's consumer)."""
        queue = self._existing(url)
        now = self.world.now
        visible = [m for m in queue.held.values() if m.visible_at <= now]
        if not visible:
            raise IndexError(f"no visible message in {url}")
        oldest = min(visible, key=lambda m: (m.sent_at, m.key))
        del queue.held[oldest.key]
        self._note(queue)
        return oldest.body

    # -- the Lambda service's side ------------------------------------------------------------

    def live(self, arn: str) -> SimQueue | None:
        """The queue of ``arn`` if it exists and is not being deleted."""
        queue = self._get(self.url(queue_name_of(arn)))
        return queue if queue is not None and queue.deleted_at is None else None

    def everything(self) -> list[SimQueue]:
        """Every queue that still answers (being deleted or not)."""
        return [q for q in self.queues.values() if isinstance(q, SimQueue)]

    def take(self, queue: SimQueue, limit: int) -> list[SimMessage]:
        """Receive up to ``limit`` visible messages, in no particular order.

        Each becomes invisible for the queue's visibility timeout; one received
        maxReceiveCount times already moves to the dead-letter queue instead; one may be
        duplicated (the world's draw).
        """
        world = self.world
        now = world.now
        visible = [m for m in queue.held.values() if m.visible_at <= now]
        redrive = queue.redrive()
        hold = queue.number("VisibilityTimeout", 30)
        batch: list[SimMessage] = []
        while visible and len(batch) < limit:
            message = visible.pop(world.order.randrange(len(visible)))
            if redrive is not None and message.receive_count >= redrive[1]:
                world.record.faults["redrive"] += 1
                self.dead_letter(queue, message, f"received {message.receive_count} times")
                continue
            message.receive_count += 1
            message.receipt += 1
            message.visible_at = now + hold
            if message.first_received_at is None:
                message.first_received_at = now
            self.on_visible(queue, message.visible_at)
            batch.append(message)
            if world.duplicate():
                self._duplicate(queue, message)
        if batch:
            self._note(queue)
        return batch

    def receive(self, url: str, max_messages: int, visibility_s: int) -> list[tuple[str, str]]:
        """QueuePort's receive (what ``pause()`` parks with): bodies and receipts, hidden for
        ``visibility_s``."""
        queue = self._get(url)
        if not isinstance(queue, SimQueue):
            return []
        now = self.world.now
        taken: list[tuple[str, str]] = []
        for message in sorted(queue.held.values(), key=lambda m: (m.sent_at, m.key)):
            if len(taken) >= min(max_messages, 10):
                break
            if message.visible_at <= now:
                message.receive_count += 1
                message.receipt += 1
                message.visible_at = now + visibility_s
                taken.append((message.body, f"{message.key}:{message.receipt}"))
        self._note(queue)
        return taken

    def delete_messages(self, url: str, receipts: Sequence[str]) -> None:
        """QueuePort's delete by receipt handle (``key:receipt``); stale ones are ignored."""
        queue = self._get(url)
        if not isinstance(queue, SimQueue):
            return
        for handle in receipts:
            key, _, receipt = handle.partition(":")
            message = queue.held.get(int(key))
            if message is not None and str(message.receipt) == receipt:
                self.delete_message(queue, message, message.receipt)

    def delete_message(self, queue: SimQueue, message: SimMessage, receipt: int) -> None:
        """Delete a received message, if ``receipt`` is still its latest (SQS ignores a
        delete with an older one)."""
        if queue.held.get(message.key) is message and message.receipt == receipt:
            del queue.held[message.key]
            self._note(queue)

    def dead_letter(self, queue: SimQueue, message: SimMessage, why: str) -> None:
        """Move ``message`` to the queue's dead-letter queue (lost if it has none)."""
        world = self.world
        queue.held.pop(message.key, None)
        self._note(queue)
        redrive = queue.redrive()
        target = self.live(redrive[0]) if redrive is not None else None
        where = f"moved to {target.name}" if target is not None else "lost (no DLQ)"
        world.record.say(world.now, world.by(), f"message {message.id} {why}: {where}")
        if target is not None:
            moved = SimMessage(
                next(self._keys), message.id, message.body, world.now, world.now, message.depth
            )
            moved.moved = why
            target.held[moved.key] = moved
            self._note(target)

    # -- helpers -----------------------------------------------------------------------------

    def _get(self, url: str) -> SimQueue | None:
        queue = self.queues.get(url)
        return queue if isinstance(queue, SimQueue) else None

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

    def _duplicate(self, queue: SimQueue, message: SimMessage) -> None:
        world = self.world
        late = world.chance.random() < world.faults.late_duplicates
        wait = world.timing.late_duplicate_s if late else _PROMPT_DUPLICATE_S
        copy = SimMessage(
            next(self._keys),
            message.id,
            message.body,
            sent_at=message.sent_at,
            visible_at=world.now + world.rng.uniform(0.0, wait),
            depth=message.depth,
            receive_count=message.receive_count,
        )
        queue.held[copy.key] = copy
        world.record.faults["duplicate"] += 1
        world.record.say(
            world.now,
            world.by(),
            f"message {message.id} will be delivered again at {copy.visible_at:.3f} s",
        )
        self.on_visible(queue, copy.visible_at)

    def _note(self, queue: SimQueue) -> None:
        now = self.world.now
        queue.history_at.append(now)
        queue.history.append(queue.counts(now))
