"""What SQS does with the messages a simulated queue holds: :class:`Deliveries`.

The side of :class:`~relaystate.testing.sim.sqs.SimQueues` that receives and deletes, and the
rules it applies on the way, on the run's virtual clock::

    receipt      a received message is invisible for the queue's VisibilityTimeout (or the
                 receive's own), then visible again unless deleted with its latest receipt;
                 visible messages are received in no particular order
    duplicate    a received message may be delivered once more, at once or after it was
                 handled and deleted (SimFaults.duplicate_rate) -- to the Lambda service's
                 poller and to a ReceiveMessage of the job's code alike; deleting one copy
                 may delete the others, one in flight included (SimFaults.shared_deletes):
                 a copy whose invocation fails then does not come back
    redrive      a message received maxReceiveCount times moves to the RedrivePolicy's
                 dead-letter queue on its next receipt (it is lost if that queue is gone),
                 keeping the time it was first sent
    retention    a message older than the queue's MessageRetentionPeriod (4 days unless set)
                 is dropped, counted from when it was first sent; a change of the period
                 applies at once to what the queue holds (AWS says it may take 15 minutes)

The Lambda service (:mod:`~relaystate.testing.sim.poller`) receives with :meth:`~Deliveries.take`
and deletes with :meth:`~Deliveries.delete_message`, which are not AWS calls of the job and never
faulted; the job's own ReceiveMessage and DeleteMessageBatch (what ``pause()`` parks with) are
AWS calls through the world's gate.

Example:
    >>> from relaystate.testing.sim.sqs import SimQueues
    >>> from relaystate.testing.sim.world import World
    >>> from relaystate.testing.sim import SimFaults, SimTiming
    >>> world = World(1, SimFaults(), SimTiming())
    >>> queues = SimQueues(world)
    >>> ref = queues.create("relay-1", {"MessageRetentionPeriod": "60"}, {})
    >>> queues.send(ref.url, "hello")
    'm-1'
    >>> world.sched.now = 61.0
    >>> queues.take(queues.live(ref.arn), 10)  # dropped: older than the queue keeps messages
    []
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from ...names import queue_name_of
from ..memory import ACCOUNT, MemoryQueues
from .queue import SimMessage, SimQueue
from .record import Expired, packet_ref
from .world import World

__all__ = ["Deliveries"]

#: A duplicate delivered "at once" resurfaces within this many seconds.
_PROMPT_DUPLICATE_S = 0.2


class Deliveries(MemoryQueues):
    """Receipts, duplicates, redrive and retention of a simulation's queues (see the module's
    documentation); :class:`~relaystate.testing.sim.sqs.SimQueues` adds the port's calls.

    Args:
        world: the run's world (clock, draws, record, the gate of AWS calls).
    """

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        #: Called with a queue and the time at which a message of it becomes visible (the
        #: Lambda service wakes its poller then).
        self.on_visible: Callable[[SimQueue, float], None] = lambda queue, when: None
        self._keys = itertools.count(1)
        #: message id -> the keys of a duplicated message's copies (the original first).
        self._copies: dict[str, list[int]] = {}

    def arn(self, name: str) -> str:
        """The ARN of the queue named ``name``."""
        return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"

    def live(self, arn: str) -> SimQueue | None:
        """The queue of ``arn`` if it exists and is not being deleted."""
        queue = self._get(self.url(queue_name_of(arn)))
        return queue if queue is not None and queue.deleted_at is None else None

    def everything(self) -> list[SimQueue]:
        """Every queue that still answers (being deleted or not)."""
        return [q for q in self.queues.values() if isinstance(q, SimQueue)]

    # -- the Lambda service's side ------------------------------------------------------------

    def take(self, queue: SimQueue, limit: int) -> list[SimMessage]:
        """Receive up to ``limit`` visible messages, in no particular order.

        Each becomes invisible for the queue's visibility timeout; one received
        maxReceiveCount times already moves to the dead-letter queue instead; one may be
        duplicated (the world's draw).
        """
        return self._receive(queue, limit, queue.number("VisibilityTimeout", 30))

    def delete_message(self, queue: SimQueue, message: SimMessage, receipt: int) -> None:
        """Delete a received message, if ``receipt`` is still its latest (SQS ignores a
        delete with an older one)."""
        if queue.held.get(message.key) is message and message.receipt == receipt:
            del queue.held[message.key]
            if message.id in self._copies and self.world.faults.shared_deletes:
                self._reach_copies(queue, message)
            self._note(queue)

    def _reach_copies(self, queue: SimQueue, message: SimMessage) -> None:
        """The delete of ``message`` reaches each of its other copies' servers with the chance
        ``SimFaults.shared_deletes``: those copies are deleted with it, one in flight included
        (the failure of the invocation that holds it then brings nothing back)."""
        world = self.world
        keys = self._copies.pop(message.id)
        for key in keys:
            other = queue.held.get(key)
            if other is not None and world.delete_rng.random() < world.faults.shared_deletes:
                del queue.held[key]
                world.record.faults["shared delete"] += 1
                world.record.say(
                    world.now, world.by(), f"message {message.id}: its delete took a copy too"
                )
        left = [key for key in keys if key in queue.held]
        if len(left) > 1:
            self._copies[message.id] = left

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
                next(self._keys), message.id, message.body, message.sent_at, world.now
            )
            moved.depth, moved.moved = message.depth, why
            target.held[moved.key] = moved
            self._note(target)

    def expire(self, queue: SimQueue) -> None:
        """Drop what outlived the queue's retention, as of now; the job's packets are recorded."""
        gone = queue.expired(self.world.now)
        if not gone:
            return
        world = self.world
        keep_s = queue.number("MessageRetentionPeriod", 0)
        dropped = 0.0
        for message in gone:
            del queue.held[message.key]
            at = max(message.sent_at + keep_s, queue.retention_set_at)
            dropped = max(dropped, at)
            ref = packet_ref(message.body)
            if ref is None or ref.job_id != world.record.job_id:
                continue
            lost = Expired(queue.url, queue.role, ref, message.sent_at, at, message.id)
            world.record.expired.append(lost)
            world.record.faults["expired"] += 1
            world.record.say(
                at, -1, f"message {message.id} (hop {ref.hop}) expired in {queue.name}"
            )
        # Noted when SQS dropped them (or at the queue's last note, if later), not now: this
        # look only found out, and a count that lags must not show a message that expired a
        # day before it (a teardown kept an empty DLQ for one).
        since = queue.history_at[-1] if queue.history_at else dropped
        self._note(queue, min(max(dropped, since), world.now))

    def expire_all(self) -> None:
        """:meth:`expire` every queue (the run is over: what it holds is read as of now)."""
        for queue in self.everything():
            self.expire(queue)

    # -- the job's ReceiveMessage and DeleteMessageBatch ----------------------------------------

    def receive(self, url: str, max_messages: int, visibility_s: int) -> list[tuple[str, str]]:
        """QueuePort's receive (what ``pause()`` parks with): bodies and receipts, hidden for
        ``visibility_s``."""

        def apply() -> list[tuple[str, str]]:
            queue = self._get(url)
            if queue is None:
                return []
            got = self._receive(queue, min(max_messages, 10), visibility_s)
            return [(m.body, f"{m.key}:{m.receipt}") for m in got]

        return self.world.call("sqs", "ReceiveMessage", apply)

    def delete_messages(self, url: str, receipts: Sequence[str]) -> None:
        """QueuePort's delete by receipt handle (``key:receipt``); stale ones are ignored."""

        def apply() -> None:
            queue = self._get(url)
            if queue is None:
                return
            for handle in receipts:
                key, _, receipt = handle.partition(":")
                message = queue.held.get(int(key))
                if message is not None and str(message.receipt) == receipt:
                    self.delete_message(queue, message, message.receipt)

        self.world.call("sqs", "DeleteMessageBatch", apply)

    # -- helpers -----------------------------------------------------------------------------

    def _get(self, url: str) -> SimQueue | None:
        queue = self.queues.get(url)
        return queue if isinstance(queue, SimQueue) else None

    def _receive(self, queue: SimQueue, limit: int, hold: int) -> list[SimMessage]:
        world = self.world
        self.expire(queue)
        now = world.now
        held = queue.held
        redrive = queue.redrive()
        batch: list[SimMessage] = []
        # The i-th of the messages visible as the receive began, in the order they came, i
        # drawn from the seed: the same draws, and the same choices, as a list of them made
        # on each receive gave (a seed replays what it did), in log n instead of n.
        with held.receiving(now):
            while len(batch) < limit and (choices := held.visible()):
                message = held.pick(world.order.randrange(choices))
                if redrive is not None and message.receive_count >= redrive[1]:
                    world.record.faults["redrive"] += 1
                    self.dead_letter(queue, message, f"received {message.receive_count} times")
                    continue
                message.receive_count += 1
                message.receipt += 1
                held.hide(message, now + hold)
                if message.first_received_at is None:
                    message.first_received_at = now
                self.on_visible(queue, message.visible_at)
                batch.append(message)
                if world.duplicate():
                    self._duplicate(queue, message)
        if batch:
            self._note(queue)
        return batch

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
        self._copies.setdefault(message.id, [message.key]).append(copy.key)
        world.record.faults["duplicate"] += 1
        world.record.say(
            world.now,
            world.by(),
            f"message {message.id} will be delivered again at {copy.visible_at:.3f} s",
        )
        self.on_visible(queue, copy.visible_at)

    def _note(self, queue: SimQueue, at: float | None = None) -> None:
        now = self.world.now if at is None else at
        queue.history_at.append(now)
        queue.history.append(queue.counts(now))
