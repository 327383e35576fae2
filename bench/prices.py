"""AWS list prices the cost benchmark uses: us-east-1, on-demand, free tiers left out.

Dated, each with the page it comes from. **Prices change**: check the pages before you rely on a
figure, and change the numbers here (one place) when they do.

Example:
    >>> round(LAMBDA_REQUEST * 1_000_000, 2)
    0.2
"""

from __future__ import annotations

#: When these prices were taken from the pages below.
AS_OF = "2026-12-02"
REGION = "us-east-1"

#: Lambda: per request, and per GB-second of duration (billed per 1 ms) by architecture.
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
#: SQS standard queues: per request; each 64 KB chunk of a message's payload is a request.
SQS_REQUEST = 0.40 / 1_000_000
SQS_CHUNK_BYTES = 64 * 1024
#: DynamoDB on-demand (since the November 2024 price cut): per write request unit (1 KB of item,
#: 2 units per item in a transaction) and per read request unit (4 KB, strongly consistent).
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
#: S3 Standard requests.
S3_PUT = 0.005 / 1_000
S3_GET = 0.0004 / 1_000
#: Step Functions Standard: per state transition.
SFN_STANDARD_TRANSITION = 0.025 / 1_000
#: Step Functions Express: per request (execution), and per GB-second of its duration, memory
#: billed in 64-MB chunks (64 MB at least), duration in 100-ms increments.
SFN_EXPRESS_REQUEST = 1.00 / 1_000_000
SFN_EXPRESS_GB_SECOND = 0.00001667
SFN_EXPRESS_MIN_MB = 64
SFN_EXPRESS_INCREMENT_S = 0.1

SOURCES = {
    "Lambda": "https://aws.amazon.com/lambda/pricing/",
    "SQS": "https://aws.amazon.com/sqs/pricing/",
    "DynamoDB": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "Step Functions": "https://aws.amazon.com/step-functions/pricing/",
    "S3": "https://aws.amazon.com/s3/pricing/",
}
