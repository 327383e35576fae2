"""SqsQueues against the real SQS protocol (moto's server on 127.0.0.1).

Partial batch failures cannot be provoked from a server, so those cases use
``botocore.stub.Stubber`` (which validates requests and responses against SQS's model).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from relaystate.aws import SqsQueues
from relaystate.errors import (
    ConfigurationError,
    ResourceConflictError,
    ResourceNotFoundError,
    SendError,
)
from relaystate.ports import QueueRef

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/relay-stubbed"
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
def name(sqs: Any) -> Iterator[str]:
    """A queue name no other test uses; its queues are deleted after the test.

    The moto server lives for the whole session, shared with other test files.
    """
    prefix = f"t-sqs-{uuid.uuid4().hex[:12]}"
    yield prefix
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def queues(sqs: Any) -> SqsQueues:
    return SqsQueues(sqs)


def receive_all(sqs: Any, url: str) -> dict[str, str]:
    """Every visible message of the queue: message id → body."""
    got: dict[str, str] = {}
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return got
        got.update({m["MessageId"]: m["Body"] for m in messages})


def count_calls(sqs: Any, operation: str) -> list[str]:
    """A list that gets one entry per ``operation`` call the client makes from now on."""
    calls: list[str] = []

    def record(**_: Any) -> None:
        calls.append(operation)

    sqs.meta.events.register(f"before-call.sqs.{operation}", record)
    return calls


# -- create ------------------------------------------------------------------------------------


def test_create_sets_the_given_attributes(queues: SqsQueues, sqs: Any, name: str) -> None:
    dlq = queues.create(name + "-dlq", {}, {})
    redrive = {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 5}
    wanted = {
        "VisibilityTimeout": "720",
        "MessageRetentionPeriod": "1209600",
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps(redrive),
    }

    ref = queues.create(name, wanted, {})

    got = sqs.get_queue_attributes(QueueUrl=ref.url, AttributeNames=["All"])["Attributes"]
    expected = {**wanted, "RedrivePolicy": redrive}
    actual = {key: got.get(key) for key in wanted}
    actual["RedrivePolicy"] = json.loads(got["RedrivePolicy"])
    assert expected == actual


def test_create_tags_the_queue(queues: SqsQueues, sqs: Any, name: str) -> None:
    tags = {"relaystate:job-id": "job-1", "relaystate:role": "queue"}

    ref = queues.create(name, {}, tags)

    assert tags == sqs.list_queue_tags(QueueUrl=ref.url).get("Tags", {})


def test_create_returns_the_queue_url_and_arn(queues: SqsQueues, sqs: Any, name: str) -> None:
    ref = queues.create(name, {}, {})

    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    assert QueueRef(url=url, arn=arn["QueueArn"]) == ref


def test_create_again_with_the_same_attributes_returns_the_same_queue(
    queues: SqsQueues, name: str
) -> None:
    first = queues.create(name, {"VisibilityTimeout": "60"}, {})

    again = queues.create(name, {"VisibilityTimeout": "60"}, {})

    assert first == again


def test_create_with_other_attributes_raises_resource_conflict(
    queues: SqsQueues, name: str
) -> None:
    queues.create(name, {"VisibilityTimeout": "60"}, {})

    with pytest.raises(ResourceConflictError):
        queues.create(name, {"VisibilityTimeout": "61"}, {})


# -- delete, describe --------------------------------------------------------------------------


def test_delete_removes_the_queue(queues: SqsQueues, sqs: Any, name: str) -> None:
    ref = queues.create(name, {}, {})

    queues.delete(ref.url)

    expected: list[str] = []
    assert expected == sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])


def test_delete_of_a_deleted_queue_is_a_no_op(queues: SqsQueues, sqs: Any, name: str) -> None:
    ref = queues.create(name, {}, {})
    queues.delete(ref.url)

    queues.delete(ref.url)

    expected: list[str] = []
    assert expected == sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])


def test_describe_returns_the_queue_attributes(queues: SqsQueues, name: str) -> None:
    ref = queues.create(name, {"VisibilityTimeout": "60"}, {})

    described = queues.describe(ref.url)

    assert described is not None
    expected = (ref.arn, "60", "0")
    assert expected == (
        described["QueueArn"],
        described["VisibilityTimeout"],
        described["ApproximateNumberOfMessages"],
    )


def test_describe_of_a_missing_queue_returns_none(queues: SqsQueues, name: str) -> None:
    ref = queues.create(name, {}, {})
    queues.delete(ref.url)

    assert queues.describe(ref.url) is None


# -- send --------------------------------------------------------------------------------------


def test_send_delivers_the_body_under_the_returned_id(
    queues: SqsQueues, sqs: Any, name: str
) -> None:
    ref = queues.create(name, {}, {})

    message_id = queues.send(ref.url, '{"hop": 1}')

    assert {message_id: '{"hop": 1}'} == receive_all(sqs, ref.url)


def test_send_with_a_delay_holds_the_message_back(queues: SqsQueues, name: str) -> None:
    ref = queues.create(name, {}, {})

    queues.send(ref.url, "later", delay_seconds=900)

    described = queues.describe(ref.url)
    assert described is not None
    expected = ("1", "0")
    assert expected == (
        described["ApproximateNumberOfMessagesDelayed"],
        described["ApproximateNumberOfMessages"],
    )


def test_send_to_a_missing_queue_raises_resource_not_found(queues: SqsQueues, name: str) -> None:
    ref = queues.create(name, {}, {})
    queues.delete(ref.url)

    with pytest.raises(ResourceNotFoundError):
        queues.send(ref.url, "lost")


def test_send_batch_of_ten_makes_one_call(queues: SqsQueues, sqs: Any, name: str) -> None:
    ref = queues.create(name, {}, {})
    calls = count_calls(sqs, "SendMessageBatch")

    queues.send_batch(ref.url, [f"packet-{i}" for i in range(10)])

    expected = ["SendMessageBatch"]
    assert expected == calls


def test_send_batch_delivers_every_body_under_its_returned_id(
    queues: SqsQueues, sqs: Any, name: str
) -> None:
    ref = queues.create(name, {}, {})
    bodies = [f"packet-{i}" for i in range(10)]

    ids = queues.send_batch(ref.url, bodies)

    assert dict(zip(ids, bodies, strict=True)) == receive_all(sqs, ref.url)


def test_send_batch_of_more_than_ten_is_refused_before_any_call(
    queues: SqsQueues, sqs: Any, name: str
) -> None:
    ref = queues.create(name, {}, {})
    calls = count_calls(sqs, "SendMessageBatch")

    with pytest.raises(ConfigurationError, match="at most 10"):
        queues.send_batch(ref.url, [f"packet-{i}" for i in range(11)])

    expected: list[str] = []
    assert expected == calls


def test_send_batch_of_nothing_makes_no_call(queues: SqsQueues, sqs: Any, name: str) -> None:
    ref = queues.create(name, {}, {})
    calls = count_calls(sqs, "SendMessageBatch")

    ids = queues.send_batch(ref.url, [])

    expected: tuple[list[str], list[str]] = ([], [])
    assert expected == (ids, calls)


# -- partial batch failures (Stubber) ----------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[SqsQueues, Stubber]]:
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=NOWHERE)
    with Stubber(client) as stubber:
        yield SqsQueues(client, batch_retries=2), stubber
        stubber.assert_no_pending_responses()


def entries(*bodies: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"Id": i, "MessageBody": body, "DelaySeconds": 0} for i, body in bodies]


def ok(entry_id: str) -> dict[str, str]:
    return {"Id": entry_id, "MessageId": f"m-{entry_id}", "MD5OfMessageBody": "0" * 32}


def failed(entry_id: str, *, sender_fault: bool) -> dict[str, Any]:
    code = "InvalidMessageContents" if sender_fault else "InternalError"
    return {"Id": entry_id, "SenderFault": sender_fault, "Code": code, "Message": f"{code}!"}


def test_send_batch_sends_an_aws_side_failure_again(
    stubbed: tuple[SqsQueues, Stubber],
) -> None:
    queues, stubber = stubbed
    stubber.add_response(
        "send_message_batch",
        {"Successful": [ok("0"), ok("2")], "Failed": [failed("1", sender_fault=False)]},
        expected_params={
            "QueueUrl": QUEUE_URL,
            "Entries": entries(("0", "a"), ("1", "b"), ("2", "c")),
        },
    )
    stubber.add_response(
        "send_message_batch",
        {"Successful": [ok("1")], "Failed": []},
        expected_params={"QueueUrl": QUEUE_URL, "Entries": entries(("1", "b"))},
    )

    ids = queues.send_batch(QUEUE_URL, ["a", "b", "c"])

    expected = ["m-0", "m-1", "m-2"]
    assert expected == ids


def test_send_batch_sender_fault_raises_send_error_naming_the_entry(
    stubbed: tuple[SqsQueues, Stubber],
) -> None:
    queues, stubber = stubbed
    stubber.add_response(
        "send_message_batch",
        {"Successful": [ok("0"), ok("2")], "Failed": [failed("1", sender_fault=True)]},
    )

    with pytest.raises(SendError, match="entry 1: InvalidMessageContents") as caught:
        queues.send_batch(QUEUE_URL, ["a", "b", "c"])

    expected = (("1", "InvalidMessageContents", "InvalidMessageContents!"),)
    assert expected == caught.value.failed


def test_send_batch_retries_the_others_when_one_entry_is_the_senders_fault(
    stubbed: tuple[SqsQueues, Stubber],
) -> None:
    queues, stubber = stubbed
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [ok("0")],
            "Failed": [failed("1", sender_fault=True), failed("2", sender_fault=False)],
        },
    )
    stubber.add_response(
        "send_message_batch",
        {"Successful": [ok("2")], "Failed": []},
        expected_params={"QueueUrl": QUEUE_URL, "Entries": entries(("2", "c"))},
    )

    with pytest.raises(SendError) as caught:
        queues.send_batch(QUEUE_URL, ["a", "b", "c"])

    expected = ("1",)
    assert expected == tuple(entry_id for entry_id, _, _ in caught.value.failed)


def test_send_batch_gives_up_after_its_retries(stubbed: tuple[SqsQueues, Stubber]) -> None:
    queues, stubber = stubbed
    for attempt in range(queues.batch_retries + 1):
        sent = [ok("0")] if attempt == 0 else []
        stubber.add_response(
            "send_message_batch",
            {"Successful": sent, "Failed": [failed("1", sender_fault=False)]},
        )

    with pytest.raises(SendError, match="1 of 2 packets were not sent") as caught:
        queues.send_batch(QUEUE_URL, ["a", "b"])

    expected = (("1", "InternalError", "InternalError!"),)
    assert expected == caught.value.failed
