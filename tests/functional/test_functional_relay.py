"""Functional: a relay of many hops over a real SQS endpoint (moto server on 127.0.0.1).

Queues are real SQS calls through boto3; the mapping is an in-memory registry, and a small
poll-and-invoke loop plays the Lambda service (the full local runtime is relaystate.local).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob, RelayPacket
from relaystate.aws import SqsQueues
from relaystate.compat import get_relay_packet, relay_pass
from relaystate.compat import setup as relay_setup
from relaystate.compat import tear_down as relay_tear_down
from relaystate.ports import Backend
from tests.fakes import FakeClock, FakeContext, MemoryMappings


class Pages(RelayJob):
    """Walks 0..data["to"]-1 in units of 5, each unit costing 100 ms on a fake clock."""

    function_name = "pages-worker"
    function_timeout_s = 1
    clock: ClassVar[FakeClock] = FakeClock()
    done: ClassVar[list[int]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Pages.clock.advance(100)
        Pages.done.extend(range(cursor, min(cursor + 5, self.data["to"])))
        nxt = cursor + 5
        return DONE if nxt >= self.data["to"] else nxt


@pytest.fixture
def backend(sqs: Any) -> Backend:
    return Backend(queues=SqsQueues(sqs), mappings=MemoryMappings(timeout_s=1), mapping_poll_s=0.0)


def deliver(sqs: Any, backend: Backend, job_cls: type[RelayJob], max_invocations: int) -> int:
    """Poll every mapped queue and invoke the handler per message until no mapping is left."""
    mappings = backend.mappings
    assert isinstance(mappings, MemoryMappings)
    invocations = 0
    while mappings.mappings and invocations < max_invocations:
        for info in list(mappings.mappings.values()):
            url = sqs.get_queue_url(QueueName=info.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0, AttributeNames=["All"]
            )
            for message in got.get("Messages", []):
                event = {
                    "Records": [
                        {
                            "messageId": message["MessageId"],
                            "receiptHandle": message["ReceiptHandle"],
                            "body": message["Body"],
                            "attributes": message["Attributes"],
                            "messageAttributes": {},
                            "md5OfBody": message["MD5OfBody"],
                            "eventSource": "aws:sqs",
                            "eventSourceARN": info.queue_arn,
                            "awsRegion": "us-east-1",
                        }
                    ]
                }
                result = job_cls.handle(event, FakeContext(Pages.clock, 1_000), backend=backend)
                invocations += 1
                if not result["batchItemFailures"] and info.id in mappings.mappings:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return invocations


def relay_queue_urls(sqs: Any, prefix: str) -> list[str]:
    urls: list[str] = sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    return urls


def test_relay_of_twenty_hops_runs_every_unit_once_and_leaves_nothing(
    sqs: Any, backend: Backend
) -> None:
    Pages.done = []
    job = Pages(data={"to": 1500}, backend=backend, queue_prefix="func-relay-").start()
    assert JobState.QUEUED == job.state
    assert 2 == len(relay_queue_urls(sqs, "func-relay-"))

    hops = deliver(sqs, backend, Pages, max_invocations=200)

    assert list(range(1500)) == Pages.done  # every unit exactly once, in order
    assert hops >= 20
    assert [] == relay_queue_urls(sqs, "func-relay-")
    assert isinstance(backend.mappings, MemoryMappings)
    assert {} == backend.mappings.mappings


def test_npm_verbs_run_a_relay_and_clean_up(sqs: Any, backend: Backend) -> None:
    first = relay_setup(None, "npm-worker", "npm-port-relay", backend=backend, data={"n": 0})
    assert first.queue_url.endswith("/npm-port-relay")
    sent = relay_pass(first, backend=backend)
    assert (0, 1) == (first.hop, sent.hop)  # the caller's packet is not changed

    got = sqs.receive_message(QueueUrl=first.queue_url, AttributeNames=["All"])["Messages"][0]
    event = {"Records": [{"body": got["Body"], "eventSource": "aws:sqs"}]}
    received = get_relay_packet(event)
    assert isinstance(received, RelayPacket)
    assert 1 == received.stats.relays

    relay_tear_down(received, backend=backend)
    relay_tear_down(received, backend=backend)  # idempotent
    assert [] == relay_queue_urls(sqs, "npm-port-relay")


def test_get_relay_packet_returns_none_for_a_non_sqs_event() -> None:
    assert get_relay_packet({"httpMethod": "GET"}) is None
