"""The simulator's Lambda: mapping states, the poller, timeouts, partial batches, recursion."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from relaystate.errors import InvalidRequestError, ResourceConflictError
from relaystate.testing.sim import SimFaults, SimTiming
from relaystate.testing.sim.mappings import SimMappings
from relaystate.testing.sim.poller import Poller
from relaystate.testing.sim.queue import SimQueue
from relaystate.testing.sim.sqs import SimQueues
from relaystate.testing.sim.world import World

Handler = Callable[[Mapping[str, Any], Any], Any]


class Service:
    """A world with one queue (and its DLQ) and a function ``fn`` mapped to it."""

    def __init__(
        self, handler: Handler, *, timeout_s: float = 10, max_receive: int = 3, **mapping: Any
    ) -> None:
        self.world = World(1, SimFaults(), SimTiming(cold_start_rate=0.0), max_time_s=3_600)
        self.queues = SimQueues(self.world)
        self.mappings = SimMappings(self.world, self.queues)
        self.poller = Poller(self.world, self.queues, self.mappings)
        self.mappings.deploy("fn", handler, timeout_s=timeout_s)
        dlq = self.queues.create("q-dlq", {}, {})
        policy = {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive}
        ref = self.queues.create(
            "q", {"VisibilityTimeout": "60", "RedrivePolicy": json.dumps(policy)}, {}
        )
        self.queue = self.live(ref.arn)
        self.dlq = self.live(dlq.arn)
        self.mapping_id = self.mappings.create(
            "fn",
            ref.arn,
            batch_size=mapping.get("batch_size", 1),
            max_concurrency=mapping.get("max_concurrency"),
        ).id

    def live(self, arn: str) -> SimQueue:
        found = self.queues.live(arn)
        assert found is not None
        return found

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.queues.send(self.queue.url, body)

    def run(self) -> None:
        self.world.sched.run_until_idle(real_timeout_s=60)

    def outcomes(self) -> list[tuple[tuple[str, ...], str]]:
        return [(i.message_ids, i.outcome) for i in self.world.record.invocations]


def test_a_mapping_is_creating_then_enabled_and_deleting_then_gone() -> None:
    service = Service(lambda event, context: None)
    mappings, mapping_id = service.mappings, service.mapping_id
    states = [mappings.get(mapping_id).state]  # type: ignore[union-attr]
    with pytest.raises(ResourceConflictError):
        mappings.delete(mapping_id)  # ResourceInUseException while Creating
    service.run()
    states.append(mappings.get(mapping_id).state)  # type: ignore[union-attr]
    mappings.delete(mapping_id)
    states.append(mappings.get(mapping_id).state)  # type: ignore[union-attr]
    service.run()

    assert ["Creating", "Enabled", "Deleting"] == states
    assert mappings.get(mapping_id) is None
    assert 0.0 < service.world.now < 120.0


def test_a_mapping_can_be_disabled_and_enabled_again() -> None:
    service = Service(lambda event, context: None)
    service.run()
    mappings = service.mappings

    disabling = mappings.set_enabled(service.mapping_id, False).state
    service.run()
    disabled = mappings.get(service.mapping_id).state  # type: ignore[union-attr]
    mappings.set_enabled(service.mapping_id, True)
    service.run()

    assert ("Disabling", "Disabled") == (disabling, disabled)
    assert "Enabled" == mappings.get(service.mapping_id).state  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("visibility", "error"),
    [("5", InvalidRequestError), ("60", ResourceConflictError)],
    ids=["visibility below the function timeout", "a second mapping of queue and function"],
)
def test_a_mapping_is_refused_as_aws_refuses_it(visibility: str, error: type[Exception]) -> None:
    service = Service(lambda event, context: None)
    ref = service.queues.create("other", {"VisibilityTimeout": visibility}, {})
    arn = ref.arn if error is InvalidRequestError else service.queue.arn

    with pytest.raises(error):
        service.mappings.create("fn", arn, batch_size=1, max_concurrency=None)


def test_the_poller_invokes_with_batches_and_deletes_what_was_handled() -> None:
    seen: list[list[str]] = []

    def handler(event: Mapping[str, Any], context: Any) -> Any:
        seen.append([record["body"] for record in event["Records"]])
        return {"batchItemFailures": []}

    service = Service(handler, batch_size=2)
    service.send("a", "b", "c")
    service.run()

    assert ["a", "b", "c"] == sorted(body for batch in seen for body in batch)
    assert all(len(batch) <= 2 for batch in seen)
    assert {} == service.queue.held


def test_maximum_concurrency_caps_the_invocations_running_at_once() -> None:
    running: list[int] = []
    now: list[int] = [0]

    def handler(event: Mapping[str, Any], context: Any) -> Any:
        now[0] += 1
        running.append(now[0])
        service.world.sched.sleep(5.0)
        now[0] -= 1
        return None

    service = Service(handler, max_concurrency=2)
    service.send(*"abcdef")
    service.run()

    assert 2 == max(running)
    assert 6 == len(running)


def test_failed_records_come_back_after_the_visibility_timeout() -> None:
    def handler(event: Mapping[str, Any], context: Any) -> Any:
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "bad"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    service = Service(handler, batch_size=2, max_receive=2)
    service.send("good", "bad")
    service.run()

    assert ["bad"] == [m.body for m in service.dlq.held.values()]
    assert 1 == service.world.record.faults["redrive"]
    assert 60.0 <= service.world.record.invocations[-1].started


def test_a_handler_that_overruns_its_timeout_is_killed() -> None:
    reached: list[float] = []

    def handler(event: Mapping[str, Any], context: Any) -> Any:
        service.world.sched.sleep(2.0)
        reached.append(context.get_remaining_time_in_millis())
        service.world.sched.sleep(2.0)
        reached.append(-1)
        return None

    service = Service(handler, timeout_s=3, max_receive=1)
    service.send("slow")
    service.run()

    assert [1000] == reached
    assert [(("m-1",), "timeout")] == service.outcomes()
    assert ["slow"] == [m.body for m in service.dlq.held.values()]


def test_a_handler_that_raises_fails_its_whole_batch() -> None:
    def handler(event: Mapping[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    service = Service(handler, batch_size=2, max_receive=1)
    service.send("a", "b")
    service.run()

    assert {"error"} == {outcome for _, outcome in service.outcomes()}
    assert ["a", "b"] == sorted(m.body for m in service.dlq.held.values())


@pytest.mark.parametrize(("allowed", "invocations"), [(False, 16), (True, 20)])
def test_a_loop_is_stopped_after_16_invocations_unless_recursion_is_allowed(
    allowed: bool, invocations: int
) -> None:
    def relay(event: Mapping[str, Any], context: Any) -> Any:
        if len(service.world.record.invocations) < 20:
            service.queues.send(service.queue.url, "again")
        return None

    service = Service(relay)
    if allowed:
        service.mappings.allow_recursion("fn")
    service.send("first")
    service.run()

    assert invocations == len(service.world.record.invocations)
    assert int(not allowed) == service.world.record.faults["recursion stop"]
    assert (["again"] if not allowed else []) == [m.body for m in service.dlq.held.values()]
