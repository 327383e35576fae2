"""The local SQS endpoint's moto speed-up: sends stop counting the queue; nothing else changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from relaystate.local import moto_patch


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each time moto computes one of a queue's approximate counts."""
    from moto.sqs.models import Queue

    seen: list[str] = []
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages_delayed",
    ):
        original = getattr(Queue, name)

        def counting(self: Any, _original: Any = original, _name: str = name) -> Any:
            seen.append(_name)
            return _original.fget(self)

        monkeypatch.setattr(Queue, name, property(counting))
    return seen


def test_apply_is_in_effect_for_the_embedded_endpoint_and_idempotent(sqs: Any) -> None:
    assert moto_patch.apply() is True
    assert moto_patch.apply() is True


def test_sends_do_not_count_the_queue_but_get_queue_attributes_still_does(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqs.create_queue(QueueName=f"patch-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    seen = _counted(monkeypatch)

    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"b{i}"} for i in range(10)]
    )
    assert [] == seen

    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "15" == found["ApproximateNumberOfMessages"]
    assert "0" == found["ApproximateNumberOfMessagesNotVisible"]
    assert seen


def test_fifo_content_based_deduplication_still_drops_a_repeated_body(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName=f"patch-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]

    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="g")

    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "2" == found["ApproximateNumberOfMessages"]
    assert "true" == found["ContentBasedDeduplication"]


def test_fifo_without_content_based_deduplication_still_demands_ids(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName=f"patch-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]

    with pytest.raises(ClientError) as no_group:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    with pytest.raises(ClientError) as no_dedup:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d")

    assert "MissingParameter" == no_group.value.response["Error"]["Code"]
    assert "MessageDeduplicationId" in str(no_dedup.value)
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert "1" == found["Attributes"]["ApproximateNumberOfMessages"]


def test_get_queue_attributes_builds_the_attributes_once_a_call(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqs.create_queue(QueueName=f"patch-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    seen = _counted(monkeypatch)

    found = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]

    assert {
        "ApproximateNumberOfMessages": "1",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "1",
    } == found
    assert [  # each count computed once
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ] == sorted(seen)


def test_a_send_to_a_queue_with_motos_own_lambda_mapping_still_works(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto's add_message receives for its own Lambda mappings, and that reads every attribute.
    import types

    import moto.awslambda.utils
    from moto.sqs.models import sqs_backends

    invoked: list[int] = []

    class Lambda:
        def send_sqs_batch(self, arn: str, messages: list[Any], queue_arn: str) -> bool:
            invoked.append(len(messages))
            return True

    monkeypatch.setattr(moto.awslambda.utils, "get_backend", lambda *args: Lambda())
    name = f"patch-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue = sqs_backends["123456789012"]["us-east-1"].queues[name]
    monkeypatch.setitem(
        queue.lambda_event_source_mappings,
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        types.SimpleNamespace(enabled=True, batch_size=1),
    )

    sqs.send_message(QueueUrl=url, MessageBody="x")

    assert [1] == invoked
