"""The list prices the cost benchmark uses, per unit, from :mod:`relaystate.pricing`.

One price table: :mod:`relaystate.pricing` holds the prices (us-east-1, on demand, free tiers
left out), dated, each with the page it comes from. **Prices change**: check the pages before you
rely on a figure, and change the numbers there when they do. This module only divides them into
the per-unit figures ``bench/cost.py`` multiplies.

Example:
    >>> round(LAMBDA_REQUEST * 1_000_000, 2)
    0.2
"""

from __future__ import annotations

from relaystate import pricing

AS_OF = pricing.AS_OF
REGION = pricing.REGION

#: Lambda: per request, and per GB-second of duration (billed per 1 ms) by architecture.
LAMBDA_REQUEST = pricing.LAMBDA_REQUESTS.of(1)
LAMBDA_GB_SECOND = {
    "x86_64": pricing.LAMBDA_GB_SECONDS.of(1),
    "arm64": pricing.LAMBDA_GB_SECONDS_ARM.of(1),
}
#: SQS standard queues: per request; each 64 KB chunk of a message's payload is a request.
SQS_REQUEST = pricing.SQS_REQUESTS.of(1)
SQS_CHUNK_BYTES = 64 * 1024
#: DynamoDB on demand: per write request unit (1 KB of item, 2 units per item in a
#: transaction) and per read request unit (4 KB, strongly consistent).
DYNAMODB_WRITE_UNIT = pricing.DYNAMODB_WRITE_UNITS.of(1)
DYNAMODB_READ_UNIT = pricing.DYNAMODB_READ_UNITS.of(1)
#: S3 Standard requests.
S3_PUT = pricing.S3_PUTS.of(1)
S3_GET = pricing.S3_GETS.of(1)
#: Step Functions Standard: per state transition.
SFN_STANDARD_TRANSITION = pricing.SFN_STANDARD_TRANSITIONS.of(1)
#: Step Functions Express: per request (execution), and per GB-second of its duration, memory
#: billed in 64-MB chunks (64 MB at least), duration in 100-ms increments.
SFN_EXPRESS_REQUEST = pricing.SFN_EXPRESS_REQUESTS.of(1)
SFN_EXPRESS_GB_SECOND = pricing.SFN_EXPRESS_GB_SECONDS.of(1)
SFN_EXPRESS_MIN_MB = 64
SFN_EXPRESS_INCREMENT_S = 0.1

#: Each priced service's page.
SOURCES = {
    price.unit.split()[0] if not price.unit.startswith("Step") else "Step Functions": price.source
    for price in (*pricing.PRICES, *pricing.OTHER_PRICES)
}
