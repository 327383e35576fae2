"""Cost per million units of a job, in USD from AWS list prices (relaystate.pricing, us-east-1).

The job: 1,000,000 units of 50 ms each on a 512-MB Lambda (x86_64; arm64 in its own column),
in hops of 1,000 units (long hops, ~50 s) or of 10 units (short hops, ~0.5 s); one shard;
packets of about 0.5 KB. The same job five ways:

    relaystate            each hop: a Lambda invocation by the queue's event-source mapping,
                          one SendMessage of the next packet; the mapping's receive and delete
    relaystate + ledger   the same, plus the ledger's two DynamoDB writes a hop
    ... packets in S3     the same, packets kept in S3 (a PUT and a GET a hop): a model of the
                          planned S3Offload for packets past SQS's 1 MiB (not built yet)
    hand-rolled relay     the npm helper's pattern: one SendMessage + one invocation a hop, no
                          ledger, no setup or teardown of its own (counted as none)
    Step Functions        a loop of a Task state (the Lambda, returning its cursor) and a
    Standard / Express    Choice state: 2 state transitions a hop; Express runs at most 5 min
                          an execution, so the loop is chained over executions

Per hop, in USD (p_* are the prices, h the hop's billed seconds, m the memory in GB):

    Lambda        p_request + h x m x p_gb_s, h = units x 50 ms + the hop's own calls
                  (SendMessage 15 ms, each DynamoDB write 10 ms: in-region latencies, assumed)
    SQS           p_sqs x (ceil(packet / 64 KB) + 1 receive + 1 delete
                           + 5 x h / 20 s empty long polls of the mapping's 5 pollers)
    DynamoDB      p_wru x write units (measured: bench/ledger.py) + p_rru x read units
    S3            p_put + p_get (the S3 row only)
    SFN Standard  p_transition x 2
    SFN Express   p_request x hops in 5 min^-1 + p_express_gb_s x 0.0625 GB x h

and per job the setup and teardown (SQS calls and ledger writes, measured), spread over
the million units. Free tiers are left out. The calls and write units per hop are measured
on LocalLambda (bench/ledger.py); the latencies and the mapping's five pollers are AWS's
figures, not measured here.
"""

from __future__ import annotations

import math
from typing import Any

from bench import prices
from bench.ledger import per_hop_costs

UNITS = 1_000_000
UNIT_S = 0.050
MEMORY_GB = 0.5
PACKET_BYTES = 520
SHAPES = {"long hops (1,000 units, ~50 s)": 1_000, "short hops (10 units, ~0.5 s)": 10}
SEND_S = 0.015
WRITE_S = 0.010
POLLERS = 5
LONG_POLL_S = 20.0
#: The setup and teardown calls that SQS bills (the Lambda control-plane calls are free).
SQS_OPERATIONS = {
    "CreateQueue",
    "DeleteQueue",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListQueueTags",
    "SetQueueAttributes",
    "SendMessage",
    "TagQueue",
}


def _sqs_requests_per_hop(hop_s: float) -> float:
    return math.ceil(PACKET_BYTES / prices.SQS_CHUNK_BYTES) + 2 + POLLERS * hop_s / LONG_POLL_S


def _lambda(hops: float, hop_s: float, arch: str) -> float:
    return hops * (prices.LAMBDA_REQUEST + hop_s * MEMORY_GB * prices.LAMBDA_GB_SECOND[arch])


def costs(measured: dict[str, Any], per_hop: int, arch: str) -> dict[str, dict[str, float]]:
    """USD for the million units, by approach: total, and the part that is not the units' work."""
    hops = UNITS / per_hop
    work_s = per_hop * UNIT_S
    work = _lambda(hops, work_s, arch) - hops * prices.LAMBDA_REQUEST
    found: dict[str, float] = {}
    for name, ledger in (("relaystate", "without"), ("relaystate + ledger", "with")):
        cost = measured[ledger]
        writes_per_hop = cost["calls"].get("UpdateItem", 0) + cost["calls"].get(
            "TransactWriteItems", 0
        )
        hop_s = work_s + SEND_S + WRITE_S * writes_per_hop
        fixed_sqs = sum(n for op, n in cost["fixed calls"].items() if op in SQS_OPERATIONS)
        found[name] = (
            _lambda(hops, hop_s, arch)
            + prices.SQS_REQUEST * (hops * _sqs_requests_per_hop(hop_s) + fixed_sqs)
            + prices.DYNAMODB_WRITE_UNIT * (hops * cost["write units"] + cost["fixed write units"])
            + prices.DYNAMODB_READ_UNIT * (hops * cost["read units"] + cost["fixed read units"])
        )
    # Packets that outgrow SQS's 1 MiB would go to S3 (the planned S3Offload, not built yet):
    # a PUT and a GET a hop, the SQS message a pointer.
    found["relaystate + ledger, packets in S3 (model)"] = found["relaystate + ledger"] + hops * (
        prices.S3_PUT + prices.S3_GET
    )
    hop_s = work_s + SEND_S
    found["hand-rolled relay (SQS + Lambda)"] = _lambda(
        hops, hop_s, arch
    ) + prices.SQS_REQUEST * hops * _sqs_requests_per_hop(hop_s)
    found["Step Functions Standard"] = (
        _lambda(hops, work_s, arch) + prices.SFN_STANDARD_TRANSITION * 2 * hops
    )
    executions = math.ceil(hops * work_s / 300.0)
    express_gb = max(prices.SFN_EXPRESS_MIN_MB, 64) / 1024
    found["Step Functions Express"] = (
        _lambda(hops, work_s, arch)
        + prices.SFN_EXPRESS_REQUEST * executions
        + prices.SFN_EXPRESS_GB_SECOND * express_gb * hops * work_s
    )
    return {
        name: {"total": total, "beyond the work": total - work} for name, total in found.items()
    }


def run() -> list[dict[str, Any]]:
    measured = per_hop_costs()
    rows = []
    for shape, per_hop in SHAPES.items():
        x86, arm = costs(measured, per_hop, "x86_64"), costs(measured, per_hop, "arm64")
        for name in x86:
            rows.append(
                {
                    "job": shape,
                    "approach": name,
                    "USD per 1M units (x86_64)": f"{x86[name]['total']:.4f}",
                    "of which beyond the units' Lambda time": f"{x86[name]['beyond the work']:.4f}",
                    "USD per 1M units (arm64)": f"{arm[name]['total']:.4f}",
                }
            )
    with_ledger = measured["with"]
    rows.append(
        {
            "job": (
                f"measured per hop: without ledger {measured['without']['calls']}; with ledger "
                f"{with_ledger['calls']}, {with_ledger['write units']:.2f} write units, items of "
                f"{with_ledger['item bytes']:.0f} B. Prices of {prices.AS_OF} ({prices.REGION}): "
                + ", ".join(prices.SOURCES.values())
            )
        }
        | dict.fromkeys(list(rows[0])[1:], "")
    )
    return rows


TITLE = (
    "cost per million units: 50-ms units, 512 MB, one shard, in USD at list prices "
    f"({prices.REGION}, {prices.AS_OF}; prices change); formula in bench/cost.py"
)
