"""LocalLambda end to end: relay jobs, retries, DLQ, timeouts, concurrency, accounting, close.

Functional tier: a real SQS endpoint (moto's server on 127.0.0.1) behind every test.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from relaystate import DONE, ConfigurationError, RelayError, RelayJob, RelayPacket, Retry
from relaystate.budget import AdaptiveBudget
from relaystate.local import (
    FunctionKilled,
    IdleTimeoutError,
    LocalLambda,
    LocalLambdaClosedError,
)
from relaystate.ports import QueueRef
from tests.queues import backlog


class OneUnitPerHop(AdaptiveBudget):
    """Ends every hop after one unit, so that a few units make as many hops."""

    def should_continue(self, remaining_ms: float) -> bool:
        return False


class Chain(RelayJob):
    job_type = "test_local_runtime.Chain"
    function_name = "chain-worker"
    budget = OneUnitPerHop
    seen: ClassVar[list[int]] = []

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        Chain.seen.append(cursor)
        return DONE if cursor + 1 >= self.data["units"] else cursor + 1


class Shards(RelayJob):
    job_type = "test_local_runtime.Shards"
    function_name = "shards-worker"
    budget = OneUnitPerHop
    seen: ClassVar[list[int]] = []

    def plan(self) -> list[int]:
        return [0, 100, 200]

    def step(self, cursor: int) -> Any:
        Shards.seen.append(cursor)
        return DONE if cursor % 100 == 2 else cursor + 1


class Failing(RelayJob):
    job_type = "test_local_runtime.Failing"
    function_name = "failing-worker"
    retry = Retry(attempts=1, hop_retries=0)  # fail the shard at the first error

    def step(self, cursor: Any) -> Any:
        raise RuntimeError("the unit fails every time")


@pytest.fixture(autouse=True)
def _forget_units() -> None:
    Chain.seen.clear()
    Shards.seen.clear()


def queue_names(sqs: Any, prefix: str) -> list[str]:
    urls = sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    return [url.rsplit("/", 1)[-1] for url in urls]


def make_queue(lam: LocalLambda, **attributes: str) -> QueueRef:
    attributes.setdefault("VisibilityTimeout", "30")
    return lam.backend.queues.create(f"test-local-{uuid.uuid4().hex[:12]}", attributes, {})


def serve(lam: LocalLambda, name: str, handler: Any, **options: Any) -> QueueRef:
    """Deploy ``handler`` as ``name`` and map a new queue to it; return the queue."""
    batch_size = options.pop("batch_size", 1)
    max_concurrency = options.pop("max_concurrency", None)
    lam.deploy(name, handler, **options)
    queue = make_queue(lam)
    lam.backend.mappings.create(
        name, queue.arn, batch_size=batch_size, max_concurrency=max_concurrency
    )
    return queue


# -- relay jobs ---------------------------------------------------------------------------------


def test_multi_hop_chain_runs_every_unit_once_and_leaves_nothing(
    lam: LocalLambda, sqs: Any
) -> None:
    lam.deploy(Chain)
    job = Chain(data={"units": 7}, backend=lam.backend).start()

    lam.run_until_idle(timeout_s=30)

    assert list(range(7)) == Chain.seen
    assert ["ok"] * 7 == [i.outcome for i in lam.invocations]
    assert [] == queue_names(sqs, f"relay-{job.job_id}")
    assert [] == lam.mappings.all()
    assert [] == lam.left_over()


def test_fan_out_of_three_shards_runs_each_shard_and_tears_down(lam: LocalLambda, sqs: Any) -> None:
    lam.deploy(Shards)
    job = Shards(backend=lam.backend).start()

    lam.run_until_idle(timeout_s=30)
    # A finished shard cannot know it is the last: queue and mapping wait for the starter.
    assert 1 == len(lam.mappings.all())
    job.tear_down()

    assert [0, 1, 2, 100, 101, 102, 200, 201, 202] == sorted(Shards.seen)
    assert 9 == len(lam.invocations)
    assert [] == queue_names(sqs, f"relay-{job.job_id}")
    assert [] == lam.mappings.all()
    assert [] == lam.left_over()


def test_failing_step_fails_the_shard_into_the_dlq(lam: LocalLambda, sqs: Any) -> None:
    lam.deploy(Failing)
    job = Failing(backend=lam.backend, max_receive_count=2).start()
    assert job.packet is not None

    lam.run_until_idle(timeout_s=30)

    # The retry policy is spent at once: the hop fails the shard and parks its packet.
    assert ["ok"] == [i.outcome for i in lam.invocations]
    dead = sqs.receive_message(QueueUrl=job.packet.dlq_url, MaxNumberOfMessages=10)["Messages"]
    parked = [RelayPacket.from_json(m["Body"]) for m in dead]
    assert [(job.job_id, "failed")] == [(p.job_id, p.state.value) for p in parked]
    assert "the unit fails every time" in parked[0].error

    sqs.delete_message(QueueUrl=job.packet.dlq_url, ReceiptHandle=dead[0]["ReceiptHandle"])
    job.tear_down()
    assert [] == lam.left_over()


# -- raw handlers: errors, partial batches, timeouts --------------------------------------------


def test_raising_handler_is_an_error_and_its_message_is_redelivered(lam: LocalLambda) -> None:
    receive_counts: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        receive_counts.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        if len(receive_counts) == 1:
            raise ValueError("first try fails")

    queue = serve(lam, "flaky", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert ["error", "ok"] == [i.outcome for i in lam.invocations]
    assert "ValueError: first try fails" == lam.invocations[0].error
    assert ["1", "2"] == receive_counts


def test_partial_batch_response_deletes_only_the_messages_that_succeeded(
    lam: LocalLambda, sqs: Any
) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]}
                for r in event["Records"]
                if r["body"] == "bad" and r["attributes"]["ApproximateReceiveCount"] == "1"
            ]
        }

    queue = serve(lam, "batcher", handler, batch_size=10)
    ids = lam.backend.queues.send_batch(queue.url, ["a", "bad", "c"])

    lam.run_until_idle(timeout_s=10)

    first, second = lam.invocations
    assert ("partial", tuple(ids), (ids[1],)) == (
        first.outcome,
        first.message_ids,
        first.failed_message_ids,
    )
    assert ("ok", (ids[1],)) == (second.outcome, second.message_ids)
    assert 0 == backlog(sqs, queue.url)


def test_batch_item_failure_naming_no_record_fails_the_whole_batch(lam: LocalLambda) -> None:
    calls: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        calls.append(1)
        return (
            {"batchItemFailures": [{"itemIdentifier": "not-a-message"}]}
            if len(calls) == 1
            else None
        )

    queue = serve(lam, "confused", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert ["error", "ok"] == [i.outcome for i in lam.invocations]
    assert "does not name a message of this batch" in lam.invocations[0].error


def test_handler_overrunning_its_timeout_times_out_and_is_redelivered(
    lam: LocalLambda, sqs: Any
) -> None:
    release = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> None:
        if event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1":
            release.wait(10)

    queue = serve(lam, "slow", handler, timeout_s=0.3)
    lam.backend.queues.send(queue.url, "work")
    try:
        lam.run_until_idle(timeout_s=10)
    finally:
        release.set()

    assert ["timeout", "ok"] == [i.outcome for i in lam.invocations]
    assert "Task timed out after 0.30 seconds" == lam.invocations[0].error
    assert 0 == backlog(sqs, queue.url)


def test_timed_out_handler_can_make_no_more_aws_calls(lam: LocalLambda, sqs: Any) -> None:
    release = threading.Event()
    tried = threading.Event()
    raised: list[BaseException] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        if event["Records"][0]["attributes"]["ApproximateReceiveCount"] != "1":
            return
        release.wait(10)
        try:
            lam.backend.queues.send(queue.url, "sent after the timeout")
        except BaseException as exc:
            raised.append(exc)
            raise
        finally:
            tried.set()

    queue = serve(lam, "zombie", handler, timeout_s=0.3)
    lam.backend.queues.send(queue.url, "work")
    lam.run_until_idle(timeout_s=10)
    release.set()
    assert tried.wait(10)

    assert [FunctionKilled] == [type(exc) for exc in raised]
    assert 1 == lam.aws_calls["SendMessage"]
    assert 0 == backlog(sqs, queue.url)


def test_handler_that_deletes_its_own_mapping_and_queue_is_tolerated(lam: LocalLambda) -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        (mapping,) = lam.mappings.all()
        lam.backend.mappings.delete(mapping.id)
        lam.backend.queues.delete(mapping.queue_url)

    queue = serve(lam, "self-destruct", handler)
    lam.backend.queues.send(queue.url, "last hop")

    lam.run_until_idle(timeout_s=10)

    assert ["ok"] == [i.outcome for i in lam.invocations]
    assert [] == lam.left_over()


def test_delayed_message_keeps_the_poller_busy_until_it_is_invoked(
    lam: LocalLambda, sqs: Any
) -> None:
    queue = serve(lam, "patient", lambda event, context: None)
    sqs.send_message(QueueUrl=queue.url, MessageBody="later", DelaySeconds=1)

    lam.run_until_idle(timeout_s=10)

    assert ["ok"] == [i.outcome for i in lam.invocations]


def test_run_until_idle_out_of_time_raises_idle_timeout_error(lam: LocalLambda) -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("never works")

    queue = serve(lam, "hopeless", handler)
    lam.backend.queues.send(queue.url, "work")

    with pytest.raises(IdleTimeoutError, match=r"not idle after 0\.5 s") as caught:
        lam.run_until_idle(timeout_s=0.5)

    assert isinstance(caught.value, RelayError)
    assert isinstance(caught.value, TimeoutError)
    assert "retry_delay_s" in str(caught.value)


# -- concurrency --------------------------------------------------------------------------------


def _peak_tracker() -> tuple[Any, list[int]]:
    lock = threading.Lock()
    state = {"now": 0}
    peak = [0]

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            state["now"] += 1
            peak[0] = max(peak[0], state["now"])
        threading.Event().wait(0.2)
        with lock:
            state["now"] -= 1

    return handler, peak


def test_concurrency_caps_invocations_running_at_once(sqs_endpoint: str) -> None:
    handler, peak = _peak_tracker()
    with LocalLambda(concurrency=2, endpoint_url=sqs_endpoint) as lam:
        queue = serve(lam, "busy", handler)
        for i in range(6):
            lam.backend.queues.send(queue.url, str(i))

        lam.run_until_idle(timeout_s=20)

        assert ["ok"] * 6 == [i.outcome for i in lam.invocations]
    assert [2] == peak


def test_mapping_maximum_concurrency_caps_its_invocations(sqs_endpoint: str) -> None:
    handler, peak = _peak_tracker()
    with LocalLambda(concurrency=4, endpoint_url=sqs_endpoint) as lam:
        queue = serve(lam, "capped", handler, max_concurrency=2)
        for i in range(6):
            lam.backend.queues.send(queue.url, str(i))

        lam.run_until_idle(timeout_s=20)

        assert 6 == len(lam.invocations)
    assert [2] == peak


# -- what LocalLambda records -------------------------------------------------------------------


def test_invocations_record_each_hop_of_a_job(lam: LocalLambda) -> None:
    lam.deploy(Chain)
    Chain(data={"units": 3}, backend=lam.backend).start()

    lam.run_until_idle(timeout_s=30)

    invocations = lam.invocations
    expected = [("chain-worker", 1, "ok", "", depth) for depth in (1, 2, 3)]
    assert expected == [
        (i.function_name, len(i.message_ids), i.outcome, i.error, i.chain_depth)
        for i in invocations
    ]
    assert 3 == len({i.request_id for i in invocations})
    assert all(i.duration_ms >= 0 for i in invocations)
    assert 1 == len({i.mapping_id for i in invocations})


def test_aws_calls_count_the_jobs_operations_and_not_the_pollers(lam: LocalLambda) -> None:
    lam.deploy(Chain)
    Chain(data={"units": 3}, backend=lam.backend).start()

    lam.run_until_idle(timeout_s=30)

    calls = lam.aws_calls
    expected = {
        "CreateQueue": 2,  # queue and DLQ
        "GetFunctionConfiguration": 1,  # the worker's timeout, for the visibility timeout
        "PutFunctionRecursionConfig": 1,
        "CreateEventSourceMapping": 1,
        "SendMessage": 3,  # the first packet and two relays
        "DeleteEventSourceMapping": 1,
        "DeleteQueue": 2,
        "ReceiveMessage": 0,
        "DeleteMessageBatch": 0,
    }
    assert expected == {name: calls[name] for name in expected}
    # The three handled messages are deleted by the poll loop, up to ten a call.
    assert 1 <= lam.poller_calls["DeleteMessageBatch"] <= 3
    assert lam.poller_calls["ReceiveMessage"] >= 3


# -- deploy and lifetime -------------------------------------------------------------------------


def test_deploy_of_job_class_without_function_name_is_refused(lam: LocalLambda) -> None:
    class Nameless(RelayJob):
        job_type = "test_local_runtime.Nameless"

    with pytest.raises(ConfigurationError, match="function_name"):
        lam.deploy(Nameless)


def test_deploy_of_name_without_handler_is_refused(lam: LocalLambda) -> None:
    with pytest.raises(ConfigurationError, match="needs a handler"):
        lam.deploy("fn-name")


def test_close_is_idempotent_and_stops_the_embedded_server() -> None:
    lam = LocalLambda()
    address = urlsplit(lam.endpoint_url)

    lam.close()
    lam.close()

    assert lam.closed
    with pytest.raises(LocalLambdaClosedError):
        lam.run_until_idle(timeout_s=1)
    with pytest.raises(OSError):  # noqa: PT011 - refused, reset or timed out: all OSError
        socket.create_connection((address.hostname, address.port), timeout=1).close()


def test_close_leaves_an_endpoint_it_did_not_start_running(sqs_endpoint: str, sqs: Any) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        assert sqs_endpoint == lam.endpoint_url

    assert "ResponseMetadata" in sqs.list_queues()


# -- the poller's deletes ------------------------------------------------------------------------


def _mapped_queue(lam: LocalLambda, function: str, visibility_s: int) -> str:
    name = f"del-{uuid.uuid4().hex[:8]}"
    url = lam.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility_s)})[
        "QueueUrl"
    ]
    arn = lam.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    lam.backend.mappings.create(
        function, arn["Attributes"]["QueueArn"], batch_size=1, max_concurrency=None
    )
    return url


def test_a_handled_message_is_deleted_inside_its_visibility_timeout_while_others_run(
    sqs_endpoint: str,
) -> None:
    # The handler ends 0.85 s into a 1-s visibility timeout while another function still
    # runs: a delete that waited for a batch of ten would come too late, and SQS would
    # deliver the message again.
    calls: list[str] = []
    with LocalLambda(timeout_s=1.0, concurrency=4, endpoint_url=sqs_endpoint) as lam:
        lam.deploy("slow", lambda event, context: calls.append("slow") or time.sleep(0.85))
        lam.deploy(
            "busy", lambda event, context: calls.append("busy") or time.sleep(1.6), timeout_s=2.0
        )
        slow_url = _mapped_queue(lam, "slow", visibility_s=1)
        busy_url = _mapped_queue(lam, "busy", visibility_s=2)
        lam.sqs.send_message(QueueUrl=busy_url, MessageBody="b")
        lam.sqs.send_message(QueueUrl=slow_url, MessageBody="a")

        lam.run_until_idle(timeout_s=20)

        assert ["busy", "slow"] == sorted(calls)
        assert ["ok", "ok"] == [i.outcome for i in lam.invocations]


def test_close_after_an_idle_timeout_deletes_what_the_running_invocation_handled(
    sqs_endpoint: str, sqs: Any
) -> None:
    lam = LocalLambda(timeout_s=2.0, endpoint_url=sqs_endpoint)
    lam.deploy("f", lambda event, context: time.sleep(0.5))
    url = _mapped_queue(lam, "f", visibility_s=5)
    lam.sqs.send_message(QueueUrl=url, MessageBody="x")
    with pytest.raises(IdleTimeoutError):
        lam.run_until_idle(timeout_s=0.2)

    lam.close()  # waits for the invocation, which succeeds

    assert ["ok"] == [i.outcome for i in lam.invocations]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert ("0", "0") == (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
    )


def test_the_last_hop_deletes_the_queues_in_time_while_its_mapping_is_still_deleting(
    sqs_endpoint: str,
) -> None:
    # A deleted mapping stays Deleting for 2.5 s, longer than the 2-s function has: waiting
    # for it to be gone would get the last hop killed with the queues still there, and
    # nothing would ever deliver their message again.
    with LocalLambda(timeout_s=2.0, endpoint_url=sqs_endpoint, mapping_transition_s=2.5) as lam:
        lam.deploy(Chain)
        Chain(data={"units": 2}, backend=lam.backend).start()

        lam.run_until_idle(timeout_s=30)

        assert ["ok", "ok"] == [i.outcome for i in lam.invocations]
        assert [] == [left for left in lam.left_over() if left.startswith("queue ")]
        deadline = time.monotonic() + 10
        while lam.left_over() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [] == lam.left_over()
