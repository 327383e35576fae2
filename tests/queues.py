"""Reading a real SQS queue in tests (the moto endpoint)."""

from __future__ import annotations

from typing import Any

_COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def backlog(sqs: Any, url: str) -> int:
    """Messages in the queue: visible, in flight and delayed."""
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_COUNTS)["Attributes"]
    return sum(int(found[name]) for name in _COUNTS)
