"""The local SQS endpoint's moto speed-ups: calls stop walking whole queues; results stay moto's."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from relaystate.local import moto_patch
from relaystate.local.server import sqs_client


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


# -- receive and delete: the same results as an unpatched moto, without walking the queue ------


@pytest.fixture
def plain_sqs(plain_moto_endpoint: str, boto_session: Any) -> Any:
    """A client of moto's own server, unpatched, in a process of its own."""
    return sqs_client(plain_moto_endpoint, session=boto_session)


class Trace:
    """What an SQS client saw, with message ids and receipt handles left out."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.seen: list[Any] = []

    def receive(self, url: str, count: int = 10, **options: Any) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=count, MessageSystemAttributeNames=["All"], **options
        ).get("Messages", [])
        self.seen.append([(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got])
        return list(got)

    def delete(self, url: str, *receipts: str) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        found = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        self.seen.append(
            (
                sorted(e["Id"] for e in found.get("Successful", [])),
                sorted((e["Id"], e["Code"]) for e in found.get("Failed", [])),
            )
        )

    def delete_one(self, url: str, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
            self.seen.append("deleted")
        except ClientError as exc:
            self.seen.append(exc.response["Error"]["Code"])

    def attributes(self, url: str, *names: str) -> None:
        found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))
        shown = dict(found.get("Attributes", {}))
        for moment in ("CreatedTimestamp", "LastModifiedTimestamp"):
            shown.pop(moment, None)
        self.seen.append(shown)


def _standard_queue_scenario(sqs: Any, name: str) -> list[Any]:
    seen = Trace(sqs)
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 2}
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": "30", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    other = sqs.create_queue(QueueName=f"{name}-other")["QueueUrl"]
    for start in range(0, 30, 10):
        entries: list[Any] = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=60)

    first = seen.receive(url, 4)
    seen.attributes(url, "All")
    seen.delete(url, first[0]["ReceiptHandle"], first[1]["ReceiptHandle"])
    seen.delete_one(url, first[0]["ReceiptHandle"])  # again: moto lets it be
    seen.delete(url, "not-a-receipt-handle", first[2]["ReceiptHandle"])
    seen.delete_one(other, first[3]["ReceiptHandle"])  # a handle of another queue
    again = seen.receive(url, 3, VisibilityTimeout=0)  # visible again at once
    retaken = seen.receive(url, 1)
    seen.delete_one(url, again[0]["ReceiptHandle"])  # a handle it had before its last receive
    seen.receive(url, 10)
    seen.attributes(url, "ApproximateNumberOfMessages", "VisibilityTimeout")
    seen.attributes(url, "MessageRetentionPeriod", "QueueArn", "RedrivePolicy")
    seen.attributes(url, "ApproximateNumberOfMessagesNotVisible")
    seen.delete_one(url, retaken[0]["ReceiptHandle"])
    # Past maxReceiveCount, a receive moves a message to the dead-letter queue.
    doomed = sqs.create_queue(
        QueueName=f"{name}-doomed", Attributes={"RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=doomed, MessageBody="doomed")
    for _ in range(3):
        seen.receive(doomed, 10, VisibilityTimeout=0)
    moved = seen.receive(dlq, 10)
    seen.delete_one(dlq, moved[0]["ReceiptHandle"])
    seen.attributes(dlq, "All")
    seen.attributes(doomed, "All")
    sqs.purge_queue(QueueUrl=url)
    seen.delete_one(url, retaken[0]["ReceiptHandle"])
    seen.attributes(url, "All")
    return seen.seen


def _fifo_queue_scenario(sqs: Any, name: str) -> list[Any]:
    seen = Trace(sqs)
    url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body, group in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("a1", "a"), ("b2", "b")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    first = seen.receive(url, 1)  # a1: group a is now held
    seen.receive(url, 10)  # b1 and b2 only
    seen.delete(url, first[0]["ReceiptHandle"])
    seen.receive(url, 10)  # a2
    seen.attributes(url, "All")
    return seen.seen


@pytest.mark.parametrize("scenario", [_standard_queue_scenario, _fifo_queue_scenario])
def test_receives_and_deletes_give_what_an_unpatched_moto_gives(
    sqs: Any, plain_sqs: Any, scenario: Any
) -> None:
    name = f"same-{uuid.uuid4().hex[:8]}"

    assert scenario(plain_sqs, name) == scenario(sqs, name)


def _visibility_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each time moto looks at whether a message is visible, or at its handles."""
    from moto.sqs.models import Message

    seen: list[str] = []
    visible = Message.visible

    def counting(self: Any) -> bool:
        seen.append("visible")
        return bool(visible.fget(self))  # type: ignore[attr-defined]

    had = Message.had_receipt_handle

    def had_receipt_handle(self: Any, receipt_handle: str) -> bool:
        seen.append("had_receipt_handle")
        return bool(had(self, receipt_handle))

    monkeypatch.setattr(Message, "visible", property(counting))
    monkeypatch.setattr(Message, "had_receipt_handle", had_receipt_handle)
    return seen


def _queue_of(sqs: Any, messages: int) -> str:
    """A new queue holding ``messages`` messages, ``m0``, ``m1``..."""
    url: str = sqs.create_queue(QueueName=f"patch-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for start in range(0, messages, 10):
        entries: list[Any] = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return url


def test_a_receive_stops_at_the_messages_it_takes_and_does_not_count_the_queue(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _queue_of(sqs, 200)
    looked = _visibility_checks(monkeypatch)

    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]

    assert ["m0", "m1"] == [m["Body"] for m in got]
    # Two messages, each looked at twice by moto; a count of the queue would look at 200.
    assert len(looked) <= 4


def test_a_delete_finds_its_message_without_scanning_the_queue(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _queue_of(sqs, 200)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    looked = _visibility_checks(monkeypatch)

    sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
    )

    assert [] == looked
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert "190" == counts["Attributes"]["ApproximateNumberOfMessages"]


@pytest.mark.parametrize("how", ["visibility", "delay"])
def test_a_message_is_counted_when_its_timeout_runs_out_during_the_counts(
    sqs: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # moto counted visible, then delayed, then in-flight messages, each against the clock of
    # its moment: a message whose visibility timeout (or delay) ran out in between was in no
    # count, and LocalLambda, reading 0, 0, 0, called itself idle with a packet in the queue
    # (the fidelity chaos run of seed 64: a crashed hop's message, made visible again 1 s
    # later, its shard never run).
    from moto.sqs import models

    url = sqs.create_queue(QueueName=f"instant-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    if how == "visibility":
        sqs.send_message(QueueUrl=url, MessageBody="in flight")
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)
    else:
        sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=30)
    (message,) = (
        models.sqs_backends["123456789012"]["us-east-1"].queues[url.rsplit("/", 1)[1]]._messages
    )
    ends = message.visible_at if how == "visibility" else message.delayed_until
    # The clock moves past the end between one count and the next (moto reads it once per
    # message for the visible count, twice for a message that is visible but maybe delayed).
    ticks = iter([ends - 1, ends + 1] if how == "visibility" else [ends - 1, ends - 1, ends + 1])
    monkeypatch.setattr(models, "unix_time_millis", lambda: next(ticks, ends + 1))

    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    counts = [
        int(found[name])
        for name in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        )
    ]
    assert 1 == sum(counts), found
