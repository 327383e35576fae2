"""What a job's status costs to read from the DynamoDB ledger, when its shards keep big packets.

An ended shard keeps its hop's packet (``outbox``, compressed) beside its result, so that a
job never torn down can be torn down by a delivery of it. ``status()`` reads every shard item
with one paged ``Query``; this measures that read for 400 ended shards whose kept packets are
about 20 KB each as stored (random data: zlib cannot shrink it), on moto's server in a process
of its own (127.0.0.1):

    pages           Query calls the read takes
    bytes returned  the HTTP bodies of those calls (what travels and what botocore parses)
    read units      what DynamoDB would bill: a consistent Query pays 1 unit per 4 KB of the
                    items it *reads*, whatever a ProjectionExpression leaves out of the answer;
                    computed from the items' sizes (attribute names plus values)
    ms              the wall time of one read, the median of several (moto's time included)
    client CPU ms   the CPU this process spent on it (botocore's parsing, relaystate's own):
                    the part that moto's time does not blur, and that stays on AWS

Two rows: the shard items read whole (what ``status()`` read before it named its attributes),
and ``status()`` itself.
"""

from __future__ import annotations

import base64
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

from relaystate.aws import DynamoDBLedger
from relaystate.aws.dynamodb_items import SHARD_PREFIX, s
from relaystate.local import moto_process
from relaystate.local.server import local_client

TITLE = (
    "status reads: 400 ended shards each keeping a ~20 KB packet (DynamoDB ledger, moto's "
    "server in its own process)"
)
SHARDS = 400
PACKET_RANDOM_BYTES = 15_000  # base64: 20,000 characters, ~20 KB compressed
ROUNDS = 5
LEASE_MS = 60_000


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it (names plus values; a number as its digits)."""
    total = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        size = len(data) if kind == "B" else len(str(data).encode("utf-8"))
        total += len(name.encode("utf-8")) + (math.ceil(size / 2) + 1 if kind == "N" else size)
    return total


class QueryReads:
    """Counts the Query calls of a client and the bytes of their answers."""

    def __init__(self, client: Any) -> None:
        self.pages = 0
        self.bytes = 0
        client.meta.events.register("after-call.dynamodb.Query", self._count)

    def _count(self, http_response: Any, **_: Any) -> None:
        self.pages += 1
        self.bytes += len(http_response.content)


def _fill(ledger: DynamoDBLedger, job_id: str) -> None:
    rng = random.Random(7)
    ledger.open_job(job_id, shards=SHARDS, job_type="Bench", function_name="bench-worker")
    for shard in range(SHARDS):
        packet = '"' + base64.b64encode(rng.randbytes(PACKET_RANDOM_BYTES)).decode() + '"'
        owner = f"req-{shard}"
        ledger.claim(job_id, shard, 0, owner, LEASE_MS, packet=packet)
        ledger.finish(
            job_id, shard, 0, owner, stats={"units": 10}, cursor_json="10", result_json="1"
        )


def _measured(reads: QueryReads, read: Callable[[], object]) -> tuple[int, int, float, float]:
    """Pages and bytes of one read, and the median wall and CPU ms of :data:`ROUNDS` reads."""
    took, spent = [], []
    for _ in range(ROUNDS):
        pages, size = reads.pages, reads.bytes
        started, cpu = time.perf_counter(), time.process_time()
        read()
        took.append((time.perf_counter() - started) * 1000)
        spent.append((time.process_time() - cpu) * 1000)
    return (
        reads.pages - pages,
        reads.bytes - size,
        statistics.median(took),
        statistics.median(spent),
    )


def run() -> list[dict[str, Any]]:
    with moto_process() as endpoint:
        client = local_client("dynamodb", endpoint)
        ledger = DynamoDBLedger("bench-status", client=client)
        ledger.create_table(wait_s=10.0)
        job_id = "bench-status-job"
        _fill(ledger, job_id)
        reads = QueryReads(client)

        def whole() -> list[Mapping[str, Any]]:
            return list(ledger._query(job_id, "sk >= :from", {":from": s(SHARD_PREFIX)}))

        items = whole()
        units = math.ceil(sum(item_bytes(item) for item in items) / 4096)
        rows = []
        for name, read in (
            ("shard items read whole (status() before)", whole),
            ("status()", lambda: ledger.status(job_id)),
        ):
            pages, size, ms, cpu_ms = _measured(reads, read)
            rows.append(
                {
                    "read": name,
                    "pages": pages,
                    "bytes returned": f"{size:,}",
                    "read units billed (AWS, about)": units,
                    "ms (median)": f"{ms:.0f}",
                    "client CPU ms (median)": f"{cpu_ms:.0f}",
                }
            )
        return rows
