"""The queue port over boto3's SQS client, and how to read a queue's attributes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..clock import backoff_s
from ..errors import ConfigurationError, ResourceNotFoundError, SendError
from ..names import queue_arn_of
from ..ports import QueueRef
from .errors import map_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsQueues"]

_MAX_BATCH = 10


class SqsQueues:
    """:class:`~relaystate.ports.QueuePort` on a boto3 SQS client.

    Args:
        client: a boto3 ``sqs`` client (its region and endpoint are used as they are).
        batch_retries: how often the failed entries of a ``SendMessageBatch`` are sent again
            (AWS-side failures only; an entry AWS calls the sender's fault is not retried).

    Example:
        >>> import boto3
        >>> queues = SqsQueues(boto3.client("sqs", region_name="eu-west-1"))  # doctest: +SKIP
    """

    def __init__(self, client: SQSClient, *, batch_retries: int = 3) -> None:
        self.client = client
        self.batch_retries = batch_retries

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        with map_aws_errors("sqs", "CreateQueue"):
            url = self.client.create_queue(
                QueueName=name, Attributes=cast(Any, dict(attributes)), tags=dict(tags)
            )["QueueUrl"]
        # The ARN from the URL: AWS asks for a second's wait before a new queue is read.
        return QueueRef(url=url, arn=queue_arn_of(url, self.client.meta.region_name))

    def find(self, name: str) -> QueueRef | None:
        try:
            with map_aws_errors("sqs", "GetQueueUrl"):
                url = self.client.get_queue_url(QueueName=name)["QueueUrl"]
        except ResourceNotFoundError:
            return None
        return QueueRef(url=url, arn=queue_arn_of(url, self.client.meta.region_name))

    def list_named(self, prefix: str) -> list[QueueRef]:
        region = self.client.meta.region_name
        with map_aws_errors("sqs", "ListQueues"):
            pages = self.client.get_paginator("list_queues").paginate(
                QueueNamePrefix=prefix, PaginationConfig={"PageSize": 1000}
            )
            urls = [url for page in pages for url in page.get("QueueUrls", [])]
        return [QueueRef(url=url, arn=queue_arn_of(url, region)) for url in urls]

    def receive(self, url: str, max_messages: int, visibility_s: int) -> list[tuple[str, str]]:
        try:
            with map_aws_errors("sqs", "ReceiveMessage"):
                response = self.client.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=max(1, min(max_messages, _MAX_BATCH)),
                    VisibilityTimeout=visibility_s,
                    WaitTimeSeconds=0,
                )
        except ResourceNotFoundError:
            return []
        return [(m["Body"], m["ReceiptHandle"]) for m in response.get("Messages", [])]

    def delete_messages(self, url: str, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), _MAX_BATCH):
            entries: list[Any] = [
                {"Id": str(i), "ReceiptHandle": r}
                for i, r in enumerate(receipts[start : start + _MAX_BATCH])
            ]
            try:
                with map_aws_errors("sqs", "DeleteMessageBatch"):
                    self.client.delete_message_batch(QueueUrl=url, Entries=entries)
            except ResourceNotFoundError:
                return

    def tags(self, url: str) -> Mapping[str, str]:
        try:
            with map_aws_errors("sqs", "ListQueueTags"):
                return dict(self.client.list_queue_tags(QueueUrl=url).get("Tags", {}))
        except ResourceNotFoundError:
            return {}

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        with map_aws_errors("sqs", "SetQueueAttributes"):
            self.client.set_queue_attributes(QueueUrl=url, Attributes=cast(Any, dict(attributes)))

    def delete(self, url: str) -> None:
        try:
            with map_aws_errors("sqs", "DeleteQueue"):
                self.client.delete_queue(QueueUrl=url)
        except ResourceNotFoundError:
            pass

    def describe(self, url: str) -> Mapping[str, str] | None:
        try:
            with map_aws_errors("sqs", "GetQueueAttributes"):
                response = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        except ResourceNotFoundError:
            return None
        found: dict[str, str] = dict(cast(Any, response.get("Attributes", {})))
        return found

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        with map_aws_errors("sqs", "SendMessage"):
            response = self.client.send_message(
                QueueUrl=url, MessageBody=body, DelaySeconds=delay_seconds
            )
        return response["MessageId"]

    def send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int = 0) -> list[str]:
        if len(bodies) > _MAX_BATCH:
            raise ConfigurationError(
                f"send_batch takes at most {_MAX_BATCH} bodies (SQS's limit per call), "
                f"got {len(bodies)}"
            )
        if not bodies:
            return []  # SQS refuses an empty batch (EmptyBatchRequest)
        pending: dict[str, str] = {str(i): body for i, body in enumerate(bodies)}
        sent: dict[str, str] = {}
        # Entries AWS blames on the sender fail the same way again: never retried.
        refused: dict[str, tuple[str, str, str]] = {}
        last: dict[str, tuple[str, str, str]] = {}
        for attempt in range(self.batch_retries + 1):
            if attempt:
                time.sleep(backoff_s(attempt))
            entries: list[Any] = [
                {"Id": i, "MessageBody": body, "DelaySeconds": delay_seconds}
                for i, body in pending.items()
            ]
            with map_aws_errors("sqs", "SendMessageBatch"):
                response = self.client.send_message_batch(QueueUrl=url, Entries=entries)
            for ok in response.get("Successful", []):
                sent[ok["Id"]] = ok["MessageId"]
                pending.pop(ok["Id"], None)
            last = {}
            for bad in response.get("Failed", []):
                entry = (bad["Id"], bad.get("Code", ""), bad.get("Message", ""))
                if bad.get("SenderFault"):
                    refused[bad["Id"]] = entry
                    pending.pop(bad["Id"], None)
                else:
                    last[bad["Id"]] = entry
            if not pending:
                break
        failed = sorted(
            [*refused.values(), *(last.get(i, (i, "", "no result")) for i in pending)],
            key=lambda entry: int(entry[0]),
        )
        if failed:
            detail = "; ".join(f"entry {i}: {code} {msg}" for i, code, msg in failed)
            raise SendError(
                f"{len(failed)} of {len(bodies)} packets were not sent to {url} ({detail}); "
                "the job's start was rolled back or the hop will be retried",
                failed=tuple(failed),
            )
        return [sent[str(i)] for i in range(len(bodies))]
