"""The SQS calls the Lambda service itself makes for a mapping: receive, delete, retry, count.

They go through their own client, apart from the job's (so they are not counted as the job's
calls), and they shrug off a queue that is gone: a relay's last hop deletes its own queue while
the service still holds the hop's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..aws.errors import map_aws_errors
from ..errors import ResourceNotFoundError
from ..queue_attributes import COUNT_ATTRIBUTES, dead_letter_target, queue_counts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["Backlog", "QueuePoller"]

log = logging.getLogger("relaystate.local")

#: ``(visible, in flight, delayed)`` messages of a queue.
Backlog = tuple[int, int, int]


class QueuePoller:
    """The Lambda service's side of SQS for event-source mappings.

    Args:
        client: a boto3 SQS client used for these calls only.
        on_call: called with each SQS operation's name before it is made.

    Example:
        >>> poller = QueuePoller(sqs_client("http://127.0.0.1:5000"))  # doctest: +SKIP
        >>> poller.receive(queue_url, 1)  # doctest: +SKIP
    """

    def __init__(self, client: SQSClient, *, on_call: Callable[[str], None]) -> None:
        self.client = client

        def before_call(model: Any, **_: Any) -> None:
            on_call(str(model.name))

        client.meta.events.register("before-call.sqs", before_call)

    def lookup(self, queue_arn: str) -> tuple[str, Mapping[str, str]] | None:
        """The queue's URL and attributes, by ARN; ``None`` if it does not exist."""
        parts = queue_arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            return None
        account, name = parts[4], parts[5]
        try:
            with map_aws_errors("sqs", "GetQueueUrl"):
                url = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
                    "QueueUrl"
                ]
            attributes = self.attributes(url)
        except ResourceNotFoundError:
            return None
        return (url, attributes) if attributes is not None else None

    def attributes(self, queue_url: str) -> Mapping[str, str] | None:
        """All of the queue's attributes, or ``None`` if it is gone."""
        try:
            with map_aws_errors("sqs", "GetQueueAttributes"):
                response = self.client.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["All"]
                )
        except ResourceNotFoundError:
            return None
        return dict(cast(Any, response.get("Attributes", {})))

    def backlog(self, queue_url: str) -> Backlog | None:
        """Messages visible, in flight and delayed; ``None`` if the queue is gone."""
        try:
            with map_aws_errors("sqs", "GetQueueAttributes"):
                response = self.client.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=cast(Any, list(COUNT_ATTRIBUTES))
                )
        except ResourceNotFoundError:
            return None
        return queue_counts(cast(Any, response.get("Attributes", {})))

    def receive(self, queue_url: str, max_messages: int) -> list[dict[str, Any]]:
        """Up to ``max_messages`` (≤ 10) messages with all their attributes; none if gone."""
        try:
            with map_aws_errors("sqs", "ReceiveMessage"):
                response = self.client.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=max(1, min(max_messages, 10)),
                    WaitTimeSeconds=0,
                    # Both spellings: AttributeNames for older SQS-compatible servers.
                    AttributeNames=["All"],
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
        except ResourceNotFoundError:
            return []
        return [dict(cast(Any, m)) for m in response.get("Messages", [])]

    def delete(self, queue_url: str, receipts: Sequence[str]) -> None:
        """Delete the messages; a gone queue or a stale receipt is not an error."""
        for chunk in _tens(receipts):
            entries: list[Any] = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)]
            try:
                with map_aws_errors("sqs", "DeleteMessageBatch"):
                    response = self.client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            except ResourceNotFoundError:
                return
            for failed in response.get("Failed", []):
                log.debug(
                    "relaystate.local: could not delete a message of %s: %s", queue_url, failed
                )

    def retry_later(self, queue_url: str, receipts: Sequence[str], delay_s: int) -> None:
        """Make the messages visible again in ``delay_s`` seconds (``ChangeMessageVisibility``)."""
        for chunk in _tens(receipts):
            entries: list[Any] = [
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": delay_s}
                for i, r in enumerate(chunk)
            ]
            try:
                with map_aws_errors("sqs", "ChangeMessageVisibilityBatch"):
                    self.client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
            except ResourceNotFoundError:
                return

    def dead_letter(self, queue_url: str, messages: Sequence[Mapping[str, Any]]) -> str | None:
        """Move the messages to the queue's dead-letter queue, or delete them if it has none.

        Returns the DLQ's URL, or ``None`` when the messages were only deleted.
        """
        target = dead_letter_target(self.attributes(queue_url) or {})
        dlq_url: str | None = None
        found = self.lookup(target) if target else None
        if found is not None:
            dlq_url = found[0]
            for message in messages:
                extra: dict[str, Any] = {}
                if message.get("MessageAttributes"):
                    extra["MessageAttributes"] = message["MessageAttributes"]
                try:
                    with map_aws_errors("sqs", "SendMessage"):
                        self.client.send_message(
                            QueueUrl=dlq_url, MessageBody=message.get("Body", ""), **extra
                        )
                except ResourceNotFoundError:
                    dlq_url = None
                    break
        self.delete(queue_url, [m["ReceiptHandle"] for m in messages])
        return dlq_url


def _tens(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + 10] for i in range(0, len(items), 10)]
