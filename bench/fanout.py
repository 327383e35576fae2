"""Fan-out benchmark: 1,000 shards sent with SendMessageBatch by tens vs one SendMessage each.

The same 1,000 relay packets (a job's first packets, made with relaystate's ShardPackets) go to
one queue on moto's SQS server (127.0.0.1, a process of its own); AWS calls are counted with
botocore's event hooks on the client, wall time with the monotonic clock.

moto's server runs with relaystate.local.moto_patch: unpatched, moto's SendMessage walks every
message of the queue (7 ms per call on an empty queue, 28 ms at 800 messages), and wall time
would mostly measure that. The last column models AWS instead: calls x a 15-ms in-region round
trip, plus the client's own CPU time to build and sign the requests (measured with botocore's
Stubber, no network).
"""

from __future__ import annotations

import time
from typing import Any

from relaystate import RelayPacket
from relaystate.aws import SqsQueues
from relaystate.local import moto_process
from relaystate.local.server import sqs_client
from relaystate.packet import ShardPackets
from relaystate.ports import Backend
from relaystate.sending import send_packets
from relaystate.testing import MemoryMappings

SHARDS = 1_000


def _packets(queue_url: str) -> ShardPackets:
    template = RelayPacket(
        job_id="bench-fanout",
        job_type="Bench",
        function_name="bench-worker",
        queue_url=queue_url,
        data={"table": "users", "batch": 100},
    )
    return ShardPackets(template, [i * 1_000 for i in range(SHARDS)])


def _run(endpoint: str, batched: bool) -> dict[str, float]:
    sqs = sqs_client(endpoint)
    calls: list[str] = []
    sqs.meta.events.register("before-call.sqs", lambda model, **_: calls.append(model.name))
    url = sqs.create_queue(QueueName=f"bench-fanout-{int(batched)}-{time.monotonic_ns()}")[
        "QueueUrl"
    ]
    backend = Backend(queues=SqsQueues(sqs), mappings=MemoryMappings())
    packets = _packets(url)
    calls.clear()
    started = time.perf_counter()
    if batched:
        send_packets(backend, url, packets)
    else:
        for packet in packets:
            backend.queues.send(url, packet.to_json())
    took = time.perf_counter() - started
    made = len(calls)
    sent = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )
    sqs.delete_queue(QueueUrl=url)
    return {"calls": made, "wall": took, "sent": sent, "cpu": _client_cpu(batched)}


def _client_cpu(batched: bool) -> float:
    """Client-side seconds to make and serialize the 1,000 requests (no network, no server)."""
    from botocore.stub import Stubber

    sqs = sqs_client("http://127.0.0.1:9")  # never reached: the Stubber answers
    url = "http://127.0.0.1:9/123456789012/bench"
    stub = Stubber(sqs)
    backend = Backend(queues=SqsQueues(sqs), mappings=MemoryMappings())
    for i in range(SHARDS // 10 if batched else SHARDS):
        if batched:
            ok = [
                {"Id": str(j), "MessageId": f"m{i}-{j}", "MD5OfMessageBody": "x"} for j in range(10)
            ]
            stub.add_response("send_message_batch", {"Successful": ok, "Failed": []})
        else:
            stub.add_response("send_message", {"MessageId": f"m{i}", "MD5OfMessageBody": "x"})
    with stub:
        started = time.process_time()
        if batched:
            send_packets(backend, url, _packets(url))
        else:
            for packet in _packets(url):
                backend.queues.send(url, packet.to_json())
        return time.process_time() - started


RTT_S = 0.015  # a typical in-region SQS round trip


def run() -> list[dict[str, Any]]:
    with moto_process() as endpoint:
        one = _run(endpoint, batched=False)
        batch = _run(endpoint, batched=True)
    model_one = one["calls"] * RTT_S + one["cpu"]
    model_batch = batch["calls"] * RTT_S + batch["cpu"]
    rows = [
        {
            "sending 1,000 shards": "one SendMessage each",
            "AWS calls": one["calls"],
            "wall s on moto": f"{one['wall']:.2f}",
            "client CPU s": f"{one['cpu']:.2f}",
            "calls x 15 ms + CPU": f"{model_one:.2f}",
            "messages in queue": one["sent"],
        },
        {
            "sending 1,000 shards": "SendMessageBatch by 10 (relaystate)",
            "AWS calls": batch["calls"],
            "wall s on moto": f"{batch['wall']:.2f}",
            "client CPU s": f"{batch['cpu']:.2f}",
            "calls x 15 ms + CPU": f"{model_batch:.2f}",
            "messages in queue": batch["sent"],
        },
    ]
    rows.append(
        {
            "sending 1,000 shards": "batched / one by one",
            "AWS calls": f"{batch['calls'] / one['calls']:.3f}",
            "wall s on moto": f"{batch['wall'] / one['wall']:.3f}",
            "client CPU s": f"{batch['cpu'] / one['cpu']:.3f}",
            "calls x 15 ms + CPU": f"{model_batch / model_one:.3f}",
            "messages in queue": "",
        }
    )
    return rows


TITLE = "fan-out: 1,000 shards, batched vs one SendMessage each (moto in its own process)"
