"""AWS list prices, and what a job's use of Lambda, SQS and DynamoDB comes to in US dollars.

The prices are AWS's published on-demand list prices for US East (N. Virginia), as recorded on
:data:`AS_OF` from the pages each :class:`Price` names: they change, and other regions differ,
so an estimate made with them says so. Free tiers are not subtracted. What is counted::

    Lambda     a request per invocation, and its duration in GB-seconds (x86): the billed
               time times the memory size
    SQS        a request per API call -- the job's sends, creates and deletes, and the
               Lambda service's receive and delete of each message it delivers (64 KB of a
               payload count as one request: relay packets are far smaller)
    DynamoDB   on demand, a write unit per write of an item up to 1 KB (a transaction's item
               costs two), a read unit per strongly consistent read up to 4 KB: the ledger's
               items are mostly smaller, so this is a floor

Example:
    >>> usage = Usage(lambda_requests=10, lambda_gb_s=5.0, sqs_requests=40)
    >>> round(cost_usd(usage).total, 8)
    0.00010133
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = [
    "AS_OF",
    "DYNAMODB_READ_UNITS",
    "DYNAMODB_WRITE_UNITS",
    "LAMBDA_GB_SECONDS",
    "LAMBDA_GB_SECONDS_ARM",
    "LAMBDA_REQUESTS",
    "OTHER_PRICES",
    "PRICES",
    "REGION",
    "S3_GETS",
    "S3_PUTS",
    "SFN_EXPRESS_GB_SECONDS",
    "SFN_EXPRESS_REQUESTS",
    "SFN_STANDARD_TRANSITIONS",
    "SQS_REQUESTS",
    "Cost",
    "Price",
    "Usage",
    "cost_usd",
    "usage_of_calls",
]

#: When the prices below were recorded from their pages.
AS_OF = "2026-12-02"
#: The region they are for.
REGION = "us-east-1"


@attrs.frozen
class Price:
    """A list price: ``usd`` for every ``per`` ``unit``, from the page at ``source``.

    Example:
        >>> LAMBDA_REQUESTS.of(2_000_000)
        0.4
    """

    usd: float
    per: int
    unit: str
    source: str

    def of(self, amount: float) -> float:
        """What ``amount`` units cost."""
        return self.usd * amount / self.per


LAMBDA_REQUESTS = Price(
    0.20, 1_000_000, "Lambda requests", "https://aws.amazon.com/lambda/pricing/"
)
LAMBDA_GB_SECONDS = Price(
    0.0000166667, 1, "Lambda GB-seconds (x86)", "https://aws.amazon.com/lambda/pricing/"
)
SQS_REQUESTS = Price(
    0.40, 1_000_000, "SQS requests (standard queue)", "https://aws.amazon.com/sqs/pricing/"
)
DYNAMODB_WRITE_UNITS = Price(
    0.625,
    1_000_000,
    "DynamoDB write request units (on demand)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
)
DYNAMODB_READ_UNITS = Price(
    0.125,
    1_000_000,
    "DynamoDB read request units (on demand)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
)
LAMBDA_GB_SECONDS_ARM = Price(
    0.0000133334, 1, "Lambda GB-seconds (arm64)", "https://aws.amazon.com/lambda/pricing/"
)
S3_PUTS = Price(0.005, 1_000, "S3 PUT requests (Standard)", "https://aws.amazon.com/s3/pricing/")
S3_GETS = Price(0.0004, 1_000, "S3 GET requests (Standard)", "https://aws.amazon.com/s3/pricing/")
#: Step Functions, for comparison (``python -m bench cost``): Standard bills each state
#: transition; Express bills each execution and its duration (memory in 64-MB steps, at least
#: 64 MB; time in 100-ms steps).
SFN_STANDARD_TRANSITIONS = Price(
    0.025,
    1_000,
    "Step Functions Standard state transitions",
    "https://aws.amazon.com/step-functions/pricing/",
)
SFN_EXPRESS_REQUESTS = Price(
    1.00,
    1_000_000,
    "Step Functions Express requests",
    "https://aws.amazon.com/step-functions/pricing/",
)
SFN_EXPRESS_GB_SECONDS = Price(
    0.00001667,
    1,
    "Step Functions Express GB-seconds",
    "https://aws.amazon.com/step-functions/pricing/",
)

#: Every price, in the order a page lists them.
PRICES = (
    LAMBDA_REQUESTS,
    LAMBDA_GB_SECONDS,
    SQS_REQUESTS,
    DYNAMODB_WRITE_UNITS,
    DYNAMODB_READ_UNITS,
)

#: The prices a relaystate job is not billed, kept here so that there is one price table.
OTHER_PRICES = (
    LAMBDA_GB_SECONDS_ARM,
    S3_PUTS,
    S3_GETS,
    SFN_STANDARD_TRANSITIONS,
    SFN_EXPRESS_REQUESTS,
    SFN_EXPRESS_GB_SECONDS,
)

#: SQS's API actions: each call is a request.
_SQS = frozenset(
    {
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "CreateQueue",
        "DeleteMessage",
        "DeleteMessageBatch",
        "DeleteQueue",
        "GetQueueAttributes",
        "GetQueueUrl",
        "ListQueueTags",
        "ListQueues",
        "PurgeQueue",
        "ReceiveMessage",
        "SendMessage",
        "SendMessageBatch",
        "SetQueueAttributes",
        "TagQueue",
    }
)
#: DynamoDB's item operations: (write units, read units) a call costs at least (the ledger's
#: transactions write two items, at two units each).
_DYNAMODB: dict[str, tuple[int, int]] = {
    "UpdateItem": (1, 0),
    "PutItem": (1, 0),
    "DeleteItem": (1, 0),
    "BatchWriteItem": (1, 0),
    "TransactWriteItems": (4, 0),
    "GetItem": (0, 1),
    "Query": (0, 1),
    "BatchGetItem": (0, 1),
    "TransactGetItems": (0, 2),
}


@attrs.frozen(kw_only=True)
class Usage:
    """What a job used of the priced services."""

    lambda_requests: int = 0
    lambda_gb_s: float = 0.0
    sqs_requests: int = 0
    dynamodb_write_units: int = 0
    dynamodb_read_units: int = 0


@attrs.frozen
class Cost:
    """What a :class:`Usage` costs: one ``(price, amount, usd)`` line per price, and the sum."""

    lines: tuple[tuple[Price, float, float], ...]

    @property
    def total(self) -> float:
        """The sum of the lines, in USD."""
        return sum(usd for _, _, usd in self.lines)


def cost_usd(usage: Usage) -> Cost:
    """The list price of ``usage`` (see the module's documentation for what is counted)."""
    amounts = (
        (LAMBDA_REQUESTS, usage.lambda_requests),
        (LAMBDA_GB_SECONDS, usage.lambda_gb_s),
        (SQS_REQUESTS, usage.sqs_requests),
        (DYNAMODB_WRITE_UNITS, usage.dynamodb_write_units),
        (DYNAMODB_READ_UNITS, usage.dynamodb_read_units),
    )
    return Cost(tuple((price, float(n), price.of(n)) for price, n in amounts))


def usage_of_calls(
    calls: Mapping[str, int], *, invocations: int, gb_s: float, deliveries: int | None = None
) -> Usage:
    """The usage of a job that made ``calls`` (AWS operation -> count) and ``invocations``
    Lambda invocations lasting ``gb_s`` GB-seconds in all.

    ``deliveries``: messages the Lambda service received and deleted for the job (each two
    SQS requests; default: one per invocation). Calls of Lambda's control plane
    (``CreateEventSourceMapping``...) and of unknown operations cost nothing here.

    Example:
        >>> usage_of_calls({"SendMessage": 3, "UpdateItem": 6}, invocations=3, gb_s=1.5)
        Usage(lambda_requests=3, lambda_gb_s=1.5, sqs_requests=9, dynamodb_write_units=6, \
dynamodb_read_units=0)
    """
    delivered = invocations if deliveries is None else deliveries
    sqs = sum(n for op, n in calls.items() if op in _SQS) + 2 * delivered
    writes = sum(n * _DYNAMODB[op][0] for op, n in calls.items() if op in _DYNAMODB)
    reads = sum(n * _DYNAMODB[op][1] for op, n in calls.items() if op in _DYNAMODB)
    return Usage(
        lambda_requests=invocations,
        lambda_gb_s=gb_s,
        sqs_requests=sqs,
        dynamodb_write_units=writes,
        dynamodb_read_units=reads,
    )
