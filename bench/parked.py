"""What a start's parked first packets cost to write into the DynamoDB ledger.

With a ledger, a start parks every shard's first packet before it is sent (one item a body,
zlib-compressed on its own, keyed by the body's SHA-256): ``DynamoDBLedger.park`` is handed
each ``SendMessageBatch``'s ten bodies, as the start hands them. 1,000 shards, their packets
made as the start makes them, with 4 KB of shared data (random text: zlib shrinks it by a
quarter) or 50 B; on moto's server in a process of its own (127.0.0.1).

Write units are DynamoDB's on-demand rule for a put: 1 per started KB of the item (names plus
values), counted from the ``BatchWriteItem`` requests. The last row of each case is a model,
not built: every body compressed with a zlib preset dictionary made of the batch's first
body, that body stored once as an item of its own -- the most a dictionary could save, as a
parked item costs at least one unit whatever it holds.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import zlib
from typing import Any

from bench.ledger_reads import item_bytes
from relaystate import RelayPacket
from relaystate.aws import DynamoDBLedger
from relaystate.aws.dynamodb_items import PARKED_PREFIX, key
from relaystate.local import moto_process
from relaystate.local.server import local_client
from relaystate.packet import ShardPackets

TITLE = "parked first packets: write units of a 1,000-shard start's parking (DynamoDB ledger)"
SHARDS = 1_000
#: A start hands the ledger each SendMessageBatch's bodies.
BATCH = 10
DATA = {
    "4 KB": {"blob": base64.b64encode(random.Random(3).randbytes(3_072)).decode()},
    "50 B": {"table": "users", "batch": 100, "region": "eu-west-1", "x": 1},
}


class BatchWrites:
    """Counts the items and write units of a client's ``BatchWriteItem`` puts."""

    def __init__(self, client: Any) -> None:
        self.items = 0
        self.units = 0
        self.bytes = 0
        client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        for requests in params["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    size = item_bytes(request["PutRequest"]["Item"])
                    self.items += 1
                    self.bytes += size
                    self.units += math.ceil(size / 1024)


def _bodies(job_id: str, data: dict[str, Any]) -> list[str]:
    template = RelayPacket(
        job_id=job_id,
        job_type="bench.parked.Job",
        function_name="bench-parked-worker",
        queue_url=f"https://sqs.us-east-1.amazonaws.com/123456789012/relaystate-{job_id}",
        data=data,
    )
    return [packet.to_json() for packet in ShardPackets(template, list(range(SHARDS)))]


def _modelled(job_id: str, bodies: list[str]) -> tuple[int, int]:
    """Write units and bytes if each body were compressed with the first one as a preset
    dictionary (an item naming the dictionary's key), the dictionary kept once."""
    zdict = bodies[0].encode()
    dict_item = {
        **key(job_id, "zdict#" + hashlib.sha256(zdict).hexdigest()),
        "body": {"B": zlib.compress(zdict)},
        "ttl": {"N": "1800000000"},
    }
    sizes = [item_bytes(dict_item)]
    for body in bodies:
        packer = zlib.compressobj(zdict=zdict)
        packed = packer.compress(body.encode()) + packer.flush()
        item = {
            **key(job_id, PARKED_PREFIX + hashlib.sha256(body.encode()).hexdigest()),
            "body": {"B": packed},
            "zdict": {"S": hashlib.sha256(zdict).hexdigest()},
            "ttl": {"N": "1800000000"},
        }
        sizes.append(item_bytes(item))
    return sum(math.ceil(size / 1024) for size in sizes), sum(sizes)


def run() -> list[dict[str, Any]]:
    rows = []
    with moto_process() as endpoint:
        client = local_client("dynamodb", endpoint)
        ledger = DynamoDBLedger("bench-parked", client=client)
        ledger.create_table(wait_s=10.0)
        writes = BatchWrites(client)
        for name, data in DATA.items():
            job_id = f"bench-parked-{name.replace(' ', '')}"
            bodies = _bodies(job_id, data)
            items, units, size = writes.items, writes.units, writes.bytes
            for start in range(0, len(bodies), BATCH):
                ledger.park(job_id, bodies[start : start + BATCH])
            assert sorted(bodies) == sorted(ledger.parked(job_id))
            body = len(bodies[0])
            rows.append(
                {
                    "data": name,
                    "parking": "now: each body compressed on its own",
                    "body bytes": body,
                    "items": writes.items - items,
                    "item bytes": f"{writes.bytes - size:,}",
                    "write units": writes.units - units,
                }
            )
            model_units, model_bytes = _modelled(job_id, bodies)
            rows.append(
                {
                    "data": name,
                    "parking": "model: a preset dictionary (one body), kept once",
                    "body bytes": body,
                    "items": len(bodies) + 1,
                    "item bytes": f"{model_bytes:,}",
                    "write units": model_units,
                }
            )
    return rows
