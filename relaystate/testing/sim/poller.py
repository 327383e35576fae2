"""The Lambda service in a simulation: each mapping's poller and the invocations it makes.

What the event-source mapping does with a queue, on the virtual clock::

    poll        an Enabled (or still Disabling) mapping receives up to its BatchSize of
                visible messages, soon after they become visible, while its MaximumConcurrency
                and the function's concurrency allow another invocation
    recursion   a batch whose chain would invoke a function that does not allow recursion a
                17th time is not delivered: it moves to the queue's dead-letter queue
    invoke      the handler runs in a process of its own, with an SQS event and a Lambda
                context whose remaining time counts down on the virtual clock; past the
                function's timeout it is killed (wherever it stands)
    settle      the records it handled are deleted (all of them, unless ReportBatchItemFailures
                names some); a batch whose handler raised or was killed is left to come back
                after the visibility timeout

Example:
    >>> poller = Poller(world, queues, mappings)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .mappings import SimFunction, SimMapping, SimMappings
from .queue import SimMessage, SimQueue
from .record import Invocation
from .scheduler import Killed, Proc
from .sqs import SimQueues
from .world import EPOCH_S, World

__all__ = ["MAX_CHAIN", "Poller", "SimContext"]

#: Lambda stops a Lambda-SQS-Lambda loop when a chain would invoke a function more often.
MAX_CHAIN = 16


class SimContext:
    """The ``context`` of a simulated invocation: Lambda's attributes, and its remaining time
    on the virtual clock."""

    memory_limit_in_mb = "128"
    function_version = "$LATEST"
    client_context = None
    identity = None

    def __init__(self, world: World, function: SimFunction, inv: Invocation, deadline: float):
        self.function_name = function.name
        self.invoked_function_arn = function.arn
        self.aws_request_id = inv.request_id
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"sim/[$LATEST]{inv.request_id}"
        self._sched = world.sched
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation is killed (never below 0)."""
        return max(int((self._deadline - self._sched.now) * 1000), 0)


class Poller:
    """Polls every Enabled mapping's queue and invokes its function (see the module's
    documentation).

    Args:
        world: the run's world.
        queues: its queues.
        mappings: its functions and mappings.
        max_invocations: past this many invocations the run is cut short (a job that forks
            without end).
    """

    def __init__(
        self,
        world: World,
        queues: SimQueues,
        mappings: SimMappings,
        *,
        max_invocations: int = 100_000,
    ) -> None:
        self.world = world
        self.queues = queues
        self.mappings = mappings
        self.max_invocations = max_invocations
        queues.on_visible = self._visible
        mappings.on_enabled = self._poll_soon

    # -- polling -------------------------------------------------------------------------------

    def _visible(self, queue: SimQueue, when: float) -> None:
        arn = queue.arn
        if when <= self.world.now:
            self._wake(arn)
        else:
            self.world.sched.at(when, lambda: self._wake(arn))

    def _wake(self, queue_arn: str) -> None:
        for mapping in self.mappings.live.values():
            if mapping.queue_arn == queue_arn and mapping.delivers():
                self._poll_soon(mapping)

    def _poll_soon(self, mapping: SimMapping) -> None:
        if mapping.poll_due:
            return
        mapping.poll_due = True
        world = self.world
        world.sched.at(world.now + world.timing.poll_s(world.rng), lambda: self._poll(mapping))

    def _poll(self, mapping: SimMapping) -> None:
        mapping.poll_due = False
        if self.mappings.live.get(mapping.id) is not mapping or not mapping.delivers():
            return
        queue = self.queues.live(mapping.queue_arn)
        while queue is not None and mapping.room():
            batch = self.queues.take(queue, mapping.batch_size)
            if not batch:
                return
            self._invoke(mapping, queue, batch)

    # -- invoking ------------------------------------------------------------------------------

    def _invoke(self, mapping: SimMapping, queue: SimQueue, batch: list[SimMessage]) -> None:
        world, function = self.world, mapping.function
        record = world.record
        depth = max(message.depth for message in batch) + 1
        if function.recursion != "Allow" and depth > MAX_CHAIN:
            record.faults["recursion stop"] += 1
            for message in batch:
                self.queues.dead_letter(queue, message, f"would be invocation {depth} of a loop")
            return
        if len(record.invocations) >= self.max_invocations:
            world.sched.abort(f"more than {self.max_invocations:,} invocations")
            return
        number = len(record.invocations) + 1
        inv = Invocation(
            number,
            function.name,
            mapping.id,
            f"req-{world.seed}-{number}",
            tuple(message.id for message in batch),
            depth,
            crash=world.crash_plan(function.name),
            received=world.now,
            bodies=tuple(message.body for message in batch),
        )
        record.invocations.append(inv)
        mapping.running += 1
        function.running += 1
        receipts = [(message, message.receipt) for message in batch]

        def run() -> None:
            self._run(inv, mapping, queue, receipts)

        world.sched.start(world.now + world.timing.start_s(world.rng), Proc(f"#{number}", run, inv))

    def _run(
        self,
        inv: Invocation,
        mapping: SimMapping,
        queue: SimQueue,
        receipts: list[tuple[SimMessage, int]],
    ) -> None:
        world, function = self.world, mapping.function
        sched = world.sched
        proc = sched.current
        assert proc is not None
        inv.started = sched.now
        proc.deadline = inv.started + function.timeout_s
        ids = [message.id for message, _ in receipts]
        world.record.say(sched.now, inv.id, f"invoked with {', '.join(ids)} (depth {inv.depth})")
        failed = set(ids)
        try:
            response = function.handler(
                _event(queue, receipts), SimContext(world, function, inv, proc.deadline)
            )
            failed = _failures(response, ids)
            inv.outcome = "partial" if failed else "ok"
        except Killed:
            inv.outcome = "timeout" if proc.dead == "timed out" else "crash"
            inv.error = proc.dead
            if inv.outcome == "timeout":
                world.record.faults["timeout"] += 1
        except Exception as exc:
            inv.outcome, inv.error = "error", f"{type(exc).__name__}: {exc}"
        inv.ended = sched.now
        if not inv.killed:
            world.learn(inv)
        world.record.say(sched.now, inv.id, f"{inv.outcome}{': ' + inv.error if inv.error else ''}")
        mapping.running -= 1
        mapping.function.running -= 1
        handled = [] if inv.outcome in ("error", "timeout", "crash") else receipts
        settle_at = sched.now + world.timing.call_s("sqs", world.rng)

        def settle() -> None:
            for message, receipt in handled:
                if message.id not in failed:
                    self.queues.delete_message(queue, message, receipt)
            if self.mappings.live.get(mapping.id) is mapping and mapping.delivers():
                self._poll_soon(mapping)

        sched.at(settle_at, settle)


def _event(queue: SimQueue, receipts: list[tuple[SimMessage, int]]) -> dict[str, Any]:
    """The SQS event Lambda hands the handler for a received batch."""
    records = []
    for message, receipt in receipts:
        first = message.first_received_at if message.first_received_at is not None else 0.0
        records.append(
            {
                "messageId": message.id,
                "receiptHandle": f"{message.key}:{receipt}",
                "body": message.body,
                "attributes": {
                    "ApproximateReceiveCount": str(message.receive_count),
                    "SentTimestamp": str(int((EPOCH_S + message.sent_at) * 1000)),
                    "SenderId": "AIDASIMULATION",
                    "ApproximateFirstReceiveTimestamp": str(int((EPOCH_S + first) * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message.body.encode("utf-8", "surrogatepass")).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue.arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def _failures(response: Any, ids: list[str]) -> set[str]:
    """The message ids a handler's response reports as failed (ReportBatchItemFailures).

    A response that is not a partial-batch response fails none; an item that names no message
    of the batch fails them all, as Lambda does.
    """
    if not isinstance(response, Mapping) or "batchItemFailures" not in response:
        return set()
    items = response["batchItemFailures"]
    if not isinstance(items, list):
        return set(ids)
    named = {item.get("itemIdentifier") for item in items if isinstance(item, Mapping)}
    if len(named) != len(items) or not named <= set(ids):
        return set(ids)
    return {str(i) for i in named}
