"""What a function invoked by an SQS event-source mapping receives: the event and the context.

Shapes follow the AWS Lambda developer guide ("Using Lambda with Amazon SQS") and the Python
runtime's ``LambdaContext`` (``awslambdaric/lambda_context.py``).
"""

from __future__ import annotations

import base64
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .. import clock

__all__ = [
    "LOCAL_ACCOUNT",
    "CognitoIdentity",
    "LambdaContext",
    "function_arn",
    "queue_region",
    "sqs_event",
    "sqs_record",
]

#: The account id moto uses, and so the one in local ARNs.
LOCAL_ACCOUNT = "123456789012"

# The order the Lambda guide prints them in; any other attribute SQS returned follows.
_ATTRIBUTE_ORDER = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
)


def function_arn(name: str, region: str, account: str = LOCAL_ACCOUNT) -> str:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME``."""
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def queue_region(queue_arn: str, default: str) -> str:
    """The region part of an SQS queue ARN (``default`` if it has none)."""
    parts = queue_arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[3] else default


def _b64(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


def _message_attribute(raw: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's ``{"StringValue": ..., "DataType": ...}`` in Lambda's camelCase shape."""
    out: dict[str, Any] = {}
    if "StringValue" in raw:
        out["stringValue"] = raw["StringValue"]
    if "BinaryValue" in raw:
        out["binaryValue"] = _b64(raw["BinaryValue"])
    out["stringListValues"] = list(raw.get("StringListValues") or [])
    out["binaryListValues"] = [_b64(v) for v in raw.get("BinaryListValues") or []]
    out["dataType"] = raw.get("DataType", "String")
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records[]`` entry from one message of a ``ReceiveMessage`` response.

    ``md5OfMessageAttributes`` is present only for a message that has message attributes, as
    SQS returns ``MD5OfMessageAttributes`` only then.

    Example:
        >>> msg = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "hi",
        ...        "MD5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b", "Attributes": {}}
        >>> sorted(sqs_record(msg, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1"))[:3]
        ['attributes', 'awsRegion', 'body']
    """
    raw_attributes: Mapping[str, Any] = message.get("Attributes") or {}
    attributes = {k: str(raw_attributes[k]) for k in _ATTRIBUTE_ORDER if k in raw_attributes}
    attributes.update({k: str(v) for k, v in raw_attributes.items() if k not in attributes})
    raw_message_attributes: Mapping[str, Any] = message.get("MessageAttributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value) for name, value in raw_message_attributes.items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if raw_message_attributes and message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event a mapping delivers for a batch of received messages: ``{"Records": [...]}``."""
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


@attrs.define
class CognitoIdentity:
    """``context.identity``: always empty for an invocation by an event-source mapping."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


@attrs.define(kw_only=True, slots=False)
class LambdaContext:
    """The ``context`` a handler receives, with the attributes of Lambda's Python runtime.

    As in the real runtime, ``memory_limit_in_mb`` is a string (it comes from the environment
    variable ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``) and :meth:`get_remaining_time_in_millis`
    counts down to 0 from the function's timeout. Like the real one it takes new attributes
    (some libraries set their own on it). ``deadline_ms`` is when it times out, in
    milliseconds since the epoch on ``relaystate.clock`` (the runtime keeps its deadline so,
    as ``_epoch_deadline_time_in_ms``): on a ``LocalLambda(skip_time=True)`` that is the
    virtual clock, whose time the remaining time counts down on too (the clock never jumps
    while an invocation runs).

    Example:
        >>> ctx = LambdaContext.start("fn", region="us-east-1", timeout_s=3, memory_mb=128,
        ...                           request_id="5f1e...")
        >>> ctx.memory_limit_in_mb, 0 < ctx.get_remaining_time_in_millis() <= 3000
        ('128', True)
    """

    aws_request_id: str
    function_name: str
    function_version: str = "$LATEST"
    invoked_function_arn: str
    memory_limit_in_mb: str
    log_group_name: str
    log_stream_name: str
    identity: CognitoIdentity = attrs.field(factory=CognitoIdentity)
    client_context: None = None
    tenant_id: None = None
    deadline: float = attrs.field(repr=False)
    deadline_ms: int = attrs.field(default=0, repr=False)

    @classmethod
    def start(
        cls,
        function_name: str,
        *,
        region: str,
        timeout_s: float,
        memory_mb: int,
        request_id: str,
        log_stream: str | None = None,
    ) -> LambdaContext:
        """The context of an invocation that starts now."""
        now_ms = clock.now_ms()
        stream = log_stream or (
            time.strftime("%Y/%m/%d", time.gmtime(now_ms / 1000))
            + "/[$LATEST]"
            + request_id.replace("-", "")
        )
        return cls(
            aws_request_id=request_id,
            function_name=function_name,
            invoked_function_arn=function_arn(function_name, region),
            memory_limit_in_mb=str(memory_mb),
            log_group_name=f"/aws/lambda/{function_name}",
            log_stream_name=stream,
            deadline=time.monotonic() + timeout_s,
            deadline_ms=now_ms + math.ceil(timeout_s * 1000),
        )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (never below 0)."""
        return max(math.floor((self.deadline - time.monotonic()) * 1000), 0)

    def log(self, msg: object) -> None:
        """Write ``msg`` to the function's log (here: standard output), like the runtime does."""
        sys.stdout.write(str(msg))
