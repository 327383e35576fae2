"""Reading a queue's attributes as ``GetQueueAttributes`` returns them: counts, redrive target."""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["COUNT_ATTRIBUTES", "dead_letter_target", "queue_counts"]


#: The attributes that count a queue's messages: visible, in flight, delayed.
COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_counts(attributes: Mapping[str, str]) -> tuple[int, int, int]:
    """``(visible, in flight, delayed)`` messages, from ``GetQueueAttributes``' answer.

    A count that is missing, empty or not a number reads as 0.

    Example:
        >>> queue_counts({"ApproximateNumberOfMessages": "2",
        ...               "ApproximateNumberOfMessagesDelayed": "1"})
        (2, 0, 1)
    """
    visible, in_flight, delayed = (_number(attributes.get(key)) for key in COUNT_ATTRIBUTES)
    return visible, in_flight, delayed


def dead_letter_target(attributes: Mapping[str, str]) -> str:
    """The ARN of the queue's dead-letter queue (its ``RedrivePolicy``), or ``""`` if none.

    A policy that is not JSON, or has no string ``deadLetterTargetArn``, reads as none.

    Example:
        >>> dead_letter_target({"RedrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:r:1:q"}'})
        'arn:aws:sqs:r:1:q'
    """
    try:
        policy = json.loads(attributes.get("RedrivePolicy", "") or "{}")
    except ValueError:
        return ""
    arn = policy.get("deadLetterTargetArn", "") if isinstance(policy, dict) else ""
    return arn if isinstance(arn, str) else ""


def _number(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
