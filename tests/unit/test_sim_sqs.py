"""The simulator's SQS: visibility, delays, redrive, lagging counts, late deletion, limits."""

from __future__ import annotations

import json

import pytest

from relaystate.errors import (
    InvalidRequestError,
    QueueDeletedRecentlyError,
    ResourceConflictError,
    ResourceNotFoundError,
    SendError,
)
from relaystate.testing.sim import SimFaults, SimTiming
from relaystate.testing.sim.queue import SimQueue
from relaystate.testing.sim.sqs import SimQueues
from relaystate.testing.sim.world import World


def make(seed: int = 1, **faults: float) -> tuple[World, SimQueues]:
    world = World(seed, SimFaults(**faults), SimTiming())
    return world, SimQueues(world)


def queue_of(queues: SimQueues, name: str, **attributes: str) -> SimQueue:
    ref = queues.create(name, {"VisibilityTimeout": "30", **attributes}, {})
    found = queues.live(ref.arn)
    assert found is not None
    return found


def bodies(queues: SimQueues, queue: SimQueue, limit: int = 10) -> list[str]:
    return [message.body for message in queues.take(queue, limit)]


def test_a_received_message_comes_back_after_its_visibility_timeout() -> None:
    world, queues = make()
    queue = queue_of(queues, "q")
    queues.send(queue.url, "hello")

    first = [(m.id, m.receive_count) for m in queues.take(queue, 10)]
    world.sched.now = 29.9
    hidden = bodies(queues, queue)
    world.sched.now = 30.0
    again = [(m.id, m.receive_count) for m in queues.take(queue, 10)]

    assert [] == hidden
    assert [("m-1", 1)] == first
    assert [("m-1", 2)] == again


def test_a_delete_with_an_old_receipt_is_ignored() -> None:
    world, queues = make()
    queue = queue_of(queues, "q")
    queues.send(queue.url, "hello")
    (message,) = queues.take(queue, 1)
    old = message.receipt
    world.sched.now = 30.0
    queues.take(queue, 1)

    queues.delete_message(queue, message, old)
    kept = len(queue.held)
    queues.delete_message(queue, message, message.receipt)

    assert (1, 0) == (kept, len(queue.held))


def test_a_delayed_message_is_held_back() -> None:
    world, queues = make()
    queue = queue_of(queues, "q")
    queues.send(queue.url, "later", delay_seconds=10)

    early = bodies(queues, queue)
    world.sched.now = 10.0

    assert ([], ["later"]) == (early, bodies(queues, queue))


def test_a_message_received_max_receive_count_times_moves_to_the_dlq() -> None:
    world, queues = make()
    dlq = queue_of(queues, "q-dlq")
    policy = json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 2})
    queue = queue_of(queues, "q", RedrivePolicy=policy)
    queues.send(queue.url, "poison")

    received = []
    for second in (0.0, 30.0, 60.0):
        world.sched.now = second
        received.append(bodies(queues, queue))

    assert [["poison"], ["poison"], []] == received
    assert ["poison"] == [m.body for m in dlq.held.values()]
    assert 1 == world.record.faults["redrive"]


def test_approximate_counts_lag_by_up_to_a_minute() -> None:
    world, queues = make()
    queue = queue_of(queues, "q")
    world.sched.now = 100.0
    queues.send(queue.url, "a")

    world.sched.now = 130.0
    soon = {queues.describe(queue.url)["ApproximateNumberOfMessages"] for _ in range(50)}  # type: ignore[index]
    world.sched.now = 160.1
    later = {queues.describe(queue.url)["ApproximateNumberOfMessages"] for _ in range(50)}  # type: ignore[index]

    assert {"0", "1"} == soon
    assert {"1"} == later


def test_a_deleted_queue_answers_for_a_while_and_swallows_what_is_sent() -> None:
    world, queues = make()
    queue = queue_of(queues, "q")
    queues.send(queue.url, "held")

    queues.delete(queue.url)
    answers = queues.describe(queue.url)
    sent = queues.send(queue.url, "lost")
    world.sched.run_until_idle(real_timeout_s=30)  # the deletion completes (within 60 s)

    assert answers is not None
    assert sent.startswith("m-")
    assert {} == queue.held
    assert world.sched.now <= 60.0
    assert queues.describe(queue.url) is None
    with pytest.raises(ResourceNotFoundError):
        queues.send(queue.url, "too late")


def test_a_deleted_name_is_refused_for_60_s_then_takes_the_same_url() -> None:
    world, queues = make()
    queue = queue_of(queues, "q")
    queues.delete(queue.url)

    world.sched.now = 59.0
    with pytest.raises(QueueDeletedRecentlyError):
        queues.create("q", {"VisibilityTimeout": "30"}, {})
    world.sched.now = 60.0
    again = queues.create("q", {"VisibilityTimeout": "30"}, {})

    assert queue.url == again.url


def test_creating_an_existing_queue_needs_the_same_attributes() -> None:
    _, queues = make()
    first = queues.create("q", {"VisibilityTimeout": "30"}, {})

    same = queues.create("q", {"VisibilityTimeout": "30"}, {"other": "tags"})
    with pytest.raises(ResourceConflictError):
        queues.create("q", {"VisibilityTimeout": "60"}, {})

    assert first == same


@pytest.mark.parametrize(
    ("body", "code"),
    [("x" * 1_025, "InvalidParameterValue"), ("bad \ufffe char", "InvalidMessageContents")],
)
def test_a_message_sqs_refuses_is_refused(body: str, code: str) -> None:
    _, queues = make()
    queue = queue_of(queues, "q", MaximumMessageSize="1024")

    with pytest.raises(InvalidRequestError) as refused:
        queues.send(queue.url, body)

    assert code == refused.value.code
    assert {} == queue.held


def test_a_batch_sends_what_sqs_accepts_and_names_what_it_refused() -> None:
    _, queues = make()
    queue = queue_of(queues, "q")

    with pytest.raises(SendError) as refused:
        queues.send_batch(queue.url, ["ok", "bad \uffff", "ok too"])
    with pytest.raises(InvalidRequestError):
        queues.send_batch(queue.url, ["x"] * 11)

    assert [("1", "InvalidMessageContents")] == [(i, code) for i, code, _ in refused.value.failed]
    assert ["ok", "ok too"] == sorted(m.body for m in queue.held.values())


def test_a_duplicate_is_another_copy_of_the_same_message() -> None:
    world, queues = make(duplicate_rate=1.0, late_duplicates=0.0)
    queue = queue_of(queues, "q")
    queues.send(queue.url, "twice")

    (first,) = queues.take(queue, 1)
    world.sched.now = 0.2
    (second,) = queues.take(queue, 1)

    assert first.id == second.id
    assert first.key != second.key
    assert 2 == world.record.faults["duplicate"]  # the copy was duplicated too


def test_visible_messages_are_received_in_an_order_the_seed_decides() -> None:
    def order(seed: int) -> list[str]:
        _, queues = make(seed)
        queue = queue_of(queues, "q")
        for i in range(6):
            queues.send(queue.url, str(i))
        return bodies(queues, queue)

    assert order(4) == order(4)
    assert len({tuple(order(seed)) for seed in range(8)}) > 1


def test_find_and_tags_read_an_existing_queue() -> None:
    _, queues = make()
    ref = queues.create("q", {}, {"relaystate:role": "queue"})

    assert ref == queues.find("q")
    assert queues.find("other") is None
    assert {"relaystate:role": "queue"} == queues.tags(ref.url)
    assert {} == queues.tags(queues.url("other"))


def _duplicated(shared_deletes: float) -> tuple[World, SimQueues, SimQueue, list[object]]:
    """A message received twice at once (a duplicate in flight with two invocations)."""
    world, queues = make(duplicate_rate=1.0, late_duplicates=0.0, shared_deletes=shared_deletes)
    queue = queue_of(queues, "q")
    queues.send(queue.url, "hello")
    (first,) = queues.take(queue, 1)
    world.sched.now = 5.0  # the copy is visible by then (duplicates "at once": within 1 s)
    world.faults = SimFaults(shared_deletes=shared_deletes)  # no more duplicates
    (copy,) = queues.take(queue, 1)
    return world, queues, queue, [first, copy]


def test_a_delete_that_reaches_the_copy_deletes_the_one_in_flight_too() -> None:
    world, queues, queue, (first, copy) = _duplicated(shared_deletes=1.0)
    assert first.id == copy.id  # type: ignore[attr-defined]
    assert first is not copy

    queues.delete_message(queue, first, first.receipt)  # type: ignore[arg-type, attr-defined]
    world.sched.now = 60.0  # the copy's invocation failed: its visibility ran out

    assert [] == bodies(queues, queue)


def test_a_delete_that_misses_the_copy_leaves_it_to_come_back() -> None:
    world, queues, queue, (first, _) = _duplicated(shared_deletes=0.0)

    queues.delete_message(queue, first, first.receipt)  # type: ignore[arg-type, attr-defined]
    world.sched.now = 60.0

    assert ["hello"] == bodies(queues, queue)
