"""A LocalLambda record's attributes and how a handler's batch response is read, as AWS does."""

from __future__ import annotations

from typing import Any

import pytest

from relaystate.local.event import sqs_record
from relaystate.local.handler import read_response


def test_binary_message_attributes_are_base64_text() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": "x",
        "MD5OfBody": "9dd4e461268c8034f5c8564e155c67a6",
        "MD5OfMessageAttributes": "0123456789abcdef0123456789abcdef",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
            "list": {
                "StringListValues": ["a"],
                "BinaryListValues": [b"\xff"],
                "DataType": "String",
            },
        },
    }

    record = sqs_record(message, "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1")

    assert {
        "blob": {
            "binaryValue": "AAE=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
        "list": {"stringListValues": ["a"], "binaryListValues": ["/w=="], "dataType": "String"},
    } == record["messageAttributes"]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, ("ok", (), "")),
        ({"statusCode": 200}, ("ok", (), "")),
        ({"batchItemFailures": []}, ("ok", (), "")),
        ({"batchItemFailures": None}, ("ok", (), "")),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, ("partial", ("b",), "")),
        (
            {"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "a"}]},
            ("partial", ("a", "b"), ""),
        ),
    ],
)
def test_response_is_read_as_lambda_reads_a_batch_response(
    response: Any, expected: tuple[str, tuple[str, ...], str]
) -> None:
    assert expected == read_response(response, ["a", "b"])


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "zzz"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"messageId": "a"}]},
        {"batchItemFailures": "a"},
        {"not json": object()},
    ],
)
def test_response_lambda_cannot_use_fails_the_whole_batch(response: Any) -> None:
    outcome, failed, error = read_response(response, ["a", "b"])

    assert ("error", ("a", "b")) == (outcome, failed)
    assert error
