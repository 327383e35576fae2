"""What ends in the DLQ: a handler that keeps failing, a poison packet, an exhausted shard --
and a resume from the dead letter completes the job. On LocalLambda (moto SQS on 127.0.0.1)."""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from relaystate import DONE, JobState, RelayJob, RelayPacket, Retry
from relaystate.local import LocalLambda


def dead_letters(lam: LocalLambda, dlq_url: str) -> list[str]:
    got = lam.sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [m["Body"] for m in got.get("Messages", [])]


def test_a_handler_that_always_raises_is_redelivered_then_dead_lettered(
    lam: LocalLambda,
) -> None:
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        seen.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        raise RuntimeError("broken worker")

    name = f"broken-{uuid.uuid4().hex[:8]}"
    lam.deploy(name, handler)
    dlq = lam.backend.queues.create(f"{name}-dlq", {}, {})
    redrive = json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 3})
    queue = lam.backend.queues.create(
        name, {"VisibilityTimeout": "30", "RedrivePolicy": redrive}, {}
    )
    lam.backend.mappings.create(name, queue.arn, batch_size=1, max_concurrency=None)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=30)

    assert ["1", "2", "3"] == seen
    assert ["work"] == dead_letters(lam, dlq.url)


class Steps(RelayJob):
    job_type = "test_dead_letters.Steps"
    function_name = "dead-letter-steps"
    retry = Retry(attempts=1, hop_retries=0)
    broken: ClassVar[bool] = True
    done: ClassVar[list[int]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        if cursor == 3 and Steps.broken:
            raise RuntimeError("the API is down")
        Steps.done.append(cursor)
        return DONE if cursor >= 5 else cursor + 1


class TwoShards(Steps):
    job_type = "test_dead_letters.TwoShards"
    function_name = "dead-letter-two-shards"

    def plan(self) -> Any:
        return [0, 4]  # a fan-out: without a ledger its queue stays until tear_down()


def test_a_poison_packet_is_never_run_and_ends_in_the_dlq(lam: LocalLambda) -> None:
    Steps.done, Steps.broken = [], False
    lam.deploy(TwoShards)
    job = TwoShards(backend=lam.backend, max_receive_count=2).start()
    assert job.packet is not None
    lam.backend.queues.send(job.packet.queue_url, '{"not": "a relay packet"}')

    lam.run_until_idle(timeout_s=30)

    assert [0, 1, 2, 3, 4, 4, 5, 5] == sorted(Steps.done)  # the poison stopped no shard
    assert ['{"not": "a relay packet"}'] == dead_letters(lam, job.packet.dlq_url)
    job.tear_down()  # the DLQ stays: it holds the poison
    lam.backend.queues.delete(job.packet.dlq_url)


def test_an_exhausted_shard_is_resumed_from_its_dead_letter_and_completes(
    lam: LocalLambda,
) -> None:
    Steps.done, Steps.broken = [], True
    if lam.mappings.function("dead-letter-steps") is None:
        lam.deploy(Steps)
    job = Steps(backend=lam.backend).start()
    assert job.packet is not None
    lam.run_until_idle(timeout_s=30)
    (body,) = dead_letters(lam, job.packet.dlq_url)
    parked = RelayPacket.from_json(body)
    assert (JobState.FAILED, 3) == (parked.state, parked.cursor)
    assert "the API is down" in parked.error
    assert [0, 1, 2] == Steps.done

    Steps.broken = False  # the API is back
    resumed = Steps.resume(body, backend=lam.backend)
    lam.run_until_idle(timeout_s=30)

    assert JobState.QUEUED == resumed.state
    assert [0, 1, 2, 3, 4, 5] == Steps.done
