"""Lambda's recursive-loop stop, emulated: 16 invocations per chain unless recursion is allowed.

On AWS, a chain Lambda -> SQS -> Lambda started by one event is stopped before the function's
17th invocation (tracked in the X-Ray header SQS keeps as ``AWSTraceHeader``), unless the
function's recursive-loop setting is ``Allow``; the stopped message goes to the queue's DLQ if
it has one.
"""

from __future__ import annotations

import uuid
from typing import Any

from relaystate import DONE, JobState, RelayJob, RelayPacket
from relaystate.budget import AdaptiveBudget
from relaystate.local import LocalLambda
from relaystate.local.trace import MAX_CHAIN_INVOCATIONS
from relaystate.ports import QueueRef


class OneUnitPerHop(AdaptiveBudget):
    """Ends every hop after one unit, so that N units make N hops."""

    def should_continue(self, remaining_ms: float) -> bool:
        return False


class Twenty(RelayJob):
    job_type = "test_local_recursion.Twenty"
    function_name = "twenty-worker"
    budget = OneUnitPerHop

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        return DONE if cursor + 1 >= 20 else cursor + 1


def relay_loop(lam: LocalLambda, name: str, stop_at: int) -> QueueRef:
    """A function that sends ``n + 1`` back to its own queue until ``stop_at``."""
    queue = lam.backend.queues.create(
        f"test-loop-{uuid.uuid4().hex[:12]}", {"VisibilityTimeout": "30"}, {}
    )

    def handler(event: dict[str, Any], context: Any) -> None:
        n = int(event["Records"][0]["body"])
        if n + 1 < stop_at:
            lam.backend.queues.send(queue.url, str(n + 1))

    lam.deploy(name, handler)
    lam.backend.mappings.create(name, queue.arn, batch_size=1, max_concurrency=None)
    return queue


def test_relay_loop_is_stopped_after_16_invocations_without_allow(
    lam: LocalLambda, sqs: Any
) -> None:
    queue = relay_loop(lam, "looper", stop_at=100)
    lam.backend.queues.send(queue.url, "0")

    lam.run_until_idle(timeout_s=30)

    outcomes = [i.outcome for i in lam.invocations]
    assert ["ok"] * MAX_CHAIN_INVOCATIONS + ["dropped"] == outcomes
    assert list(range(1, 18)) == [i.chain_depth for i in lam.invocations]
    assert "recursive loop stopped" in lam.invocations[-1].error
    held = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert ("0", "0") == (
        held["ApproximateNumberOfMessages"],
        held["ApproximateNumberOfMessagesNotVisible"],
    )
    assert 17 == lam.aws_calls["SendMessage"]


def test_relay_loop_runs_past_16_when_recursion_is_allowed(lam: LocalLambda) -> None:
    queue = relay_loop(lam, "allowed-looper", stop_at=20)
    lam.backend.mappings.allow_recursion("allowed-looper")
    lam.backend.queues.send(queue.url, "0")

    lam.run_until_idle(timeout_s=30)

    assert ["ok"] * 20 == [i.outcome for i in lam.invocations]
    assert 20 == lam.invocations[-1].chain_depth


def test_relay_job_allows_recursion_at_setup_and_runs_20_hops(lam: LocalLambda) -> None:
    lam.deploy(Twenty)
    Twenty(backend=lam.backend).start()

    lam.run_until_idle(timeout_s=30)

    assert ["ok"] * 20 == [i.outcome for i in lam.invocations]
    assert 1 == lam.aws_calls["PutFunctionRecursionConfig"]
    assert "Allow" == lam.mappings.function("twenty-worker").recursive_loop  # type: ignore[union-attr]
    assert [] == lam.left_over()


def test_relay_job_without_allow_recursion_is_parked_in_its_dlq_and_resumes(
    lam: LocalLambda, sqs: Any
) -> None:
    lam.deploy(Twenty)
    job = Twenty(backend=lam.backend, allow_recursion=False).start()
    assert job.packet is not None

    lam.run_until_idle(timeout_s=30)

    assert ["ok"] * 16 + ["dropped"] == [i.outcome for i in lam.invocations]
    dead = sqs.receive_message(QueueUrl=job.packet.dlq_url)["Messages"]
    sqs.delete_message(QueueUrl=job.packet.dlq_url, ReceiptHandle=dead[0]["ReceiptHandle"])
    parked = RelayPacket.from_json(dead[0]["Body"])
    assert (16, JobState.RELAYING) == (parked.hop, parked.state)

    # Resumed from outside a handler, the packet starts a new chain: the last 4 hops run.
    Twenty.resume(parked, backend=lam.backend)
    lam.run_until_idle(timeout_s=30)

    assert ["ok"] * 4 == [i.outcome for i in lam.invocations[17:]]
    assert [1, 2, 3, 4] == [i.chain_depth for i in lam.invocations[17:]]
    assert [] == lam.left_over()


def test_message_sent_outside_a_handler_starts_a_new_chain(lam: LocalLambda) -> None:
    queue = relay_loop(lam, "starter", stop_at=3)
    lam.backend.queues.send(queue.url, "0")
    lam.run_until_idle(timeout_s=30)
    lam.backend.queues.send(queue.url, "0")
    lam.run_until_idle(timeout_s=30)

    assert [1, 2, 3, 1, 2, 3] == [i.chain_depth for i in lam.invocations]
