"""The event and context a LocalLambda invocation receives, against AWS's documented shapes."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import pytest

from relaystate.local import LambdaContext, LocalLambda

pytestmark = pytest.mark.lam(memory_mb=256)

# The SQS event of an event-source mapping, as the Lambda developer guide shows it ("Using
# Lambda with Amazon SQS", example standard-queue message event):
#
#   {"Records": [{"messageId": "059f36b4-...", "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3...",
#                 "body": "test",
#                 "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
#                                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
#                                "ApproximateFirstReceiveTimestamp": "1545082649185"},
#                 "messageAttributes": {"myAttribute": {"stringValue": "myValue",
#                                                       "stringListValues": [],
#                                                       "binaryListValues": [],
#                                                       "dataType": "String"}},
#                 "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
#                 "eventSource": "aws:sqs",
#                 "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
#                 "awsRegion": "us-east-2"}]}
RECORD_TYPES: dict[str, type] = {
    "messageId": str,
    "receiptHandle": str,
    "body": str,
    "attributes": dict,
    "messageAttributes": dict,
    "md5OfBody": str,
    "eventSource": str,
    "eventSourceARN": str,
    "awsRegion": str,
}


ATTRIBUTE_KEYS = {
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
}


@pytest.fixture
def captured(lam: LocalLambda) -> tuple[list[dict[str, Any]], list[Any], Any]:
    """A function ``recorder`` that keeps what it receives, and its queue."""
    events: list[dict[str, Any]] = []
    contexts: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        events.append(event)
        contexts.append(context)
        context.remaining_at_start = context.get_remaining_time_in_millis()

    lam.deploy("recorder", handler)
    queue = lam.backend.queues.create(
        f"test-event-{uuid.uuid4().hex[:12]}", {"VisibilityTimeout": "30"}, {}
    )
    lam.backend.mappings.create("recorder", queue.arn, batch_size=1, max_concurrency=None)
    return events, contexts, queue


def test_sqs_event_has_the_documented_keys_and_types(
    lam: LocalLambda, sqs: Any, captured: Any
) -> None:
    events, _, queue = captured
    sqs.send_message(QueueUrl=queue.url, MessageBody="test")

    lam.run_until_idle(timeout_s=10)

    (event,) = events
    assert ["Records"] == list(event)
    (record,) = event["Records"]
    assert RECORD_TYPES == {key: type(value) for key, value in record.items()}
    assert ATTRIBUTE_KEYS == set(record["attributes"])
    assert all(isinstance(v, str) for v in record["attributes"].values())
    assert "1" == record["attributes"]["ApproximateReceiveCount"]
    assert ("test", {}) == (record["body"], record["messageAttributes"])
    assert hashlib.md5(b"test").hexdigest() == record["md5OfBody"]
    assert ("aws:sqs", queue.arn, "us-east-1") == (
        record["eventSource"],
        record["eventSourceARN"],
        record["awsRegion"],
    )


def test_message_attributes_arrive_in_lambdas_shape(
    lam: LocalLambda, sqs: Any, captured: Any
) -> None:
    events, _, queue = captured
    sqs.send_message(
        QueueUrl=queue.url,
        MessageBody="test",
        MessageAttributes={"myAttribute": {"StringValue": "myValue", "DataType": "String"}},
    )

    lam.run_until_idle(timeout_s=10)

    (record,) = events[0]["Records"]
    expected = {
        "myAttribute": {
            "stringValue": "myValue",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert expected == record["messageAttributes"]
    # SQS returns MD5OfMessageAttributes only for a message that has attributes; so does the
    # event (AWS Powertools' SqsRecordModel: md5OfMessageAttributes is optional).
    assert {*RECORD_TYPES, "md5OfMessageAttributes"} == set(record)


def test_context_has_the_python_runtimes_attributes(
    lam: LocalLambda, sqs: Any, captured: Any
) -> None:
    _, contexts, queue = captured
    sqs.send_message(QueueUrl=queue.url, MessageBody="test")

    lam.run_until_idle(timeout_s=10)

    (context,) = contexts
    assert isinstance(context, LambdaContext)
    assert (
        "recorder",
        "$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:recorder",
        "256",  # a string, as the runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE
        "/aws/lambda/recorder",
    ) == (
        context.function_name,
        context.function_version,
        context.invoked_function_arn,
        context.memory_limit_in_mb,
        context.log_group_name,
    )
    assert lam.invocations[0].request_id == context.aws_request_id
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", context.log_stream_name)
    assert 0 < context.remaining_at_start <= 2000
    assert context.get_remaining_time_in_millis() <= context.remaining_at_start


def test_message_sent_by_a_handler_carries_the_chains_trace_header(
    lam: LocalLambda, captured: Any
) -> None:
    events, _, queue = captured

    def relay_once(event: dict[str, Any], context: Any) -> None:
        events.append(event)
        if event["Records"][0]["body"] == "first":
            lam.backend.queues.send(queue.url, "second")

    lam.deploy("recorder", relay_once)
    lam.backend.queues.send(queue.url, "first")

    lam.run_until_idle(timeout_s=10)

    first, second = (e["Records"][0]["attributes"] for e in events)
    assert "AWSTraceHeader" not in first
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0;Lineage=1:[0-9a-f]{8}:1",
        second["AWSTraceHeader"],
    )
