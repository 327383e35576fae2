"""SQS events as the Lambda service hands them to a worker's handler.

Example:
    >>> sqs_event("{}")["Records"][0]["eventSourceARN"]
    'arn:aws:sqs:us-east-1:123456789012:q'
"""

from __future__ import annotations

import json
from typing import Any

from ..names import queue_name_of
from .memory import ACCOUNT

__all__ = ["sqs_event"]


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event as Lambda delivers it, one record per body (message ids ``msg-0``...).

    Each record's ``eventSourceARN`` is the queue its packet names (``q`` for a body that is
    not a packet), as if it came from there.
    """
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{_queue_name(body)}",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def _queue_name(body: str) -> str:
    try:
        url = json.loads(body).get("queue_url") or json.loads(body).get("QueueUrl")
    except (ValueError, AttributeError, RecursionError):
        return "q"
    return queue_name_of(url) if isinstance(url, str) and url else "q"
