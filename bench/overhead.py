"""Hop-overhead benchmark: hops/s through RelayJob + LocalLambda vs a raw boto3 relay loop.

One SQS endpoint for both: moto's server on 127.0.0.1, in a process of its own. The job does
one trivial unit per hop (its budget stops after one unit), so a hop is all overhead: receive,
rebuild the job from the packet, run the machine, relay, delete. The raw loop does only
receive -> json -> send -> delete on one queue, as a hand-written relay would.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda, moto_process, sqs_client
from relaystate.testing import UnitsPerHop

HOPS = 150
ROUNDS = 5


class Hops(RelayJob):
    function_name = "overhead-worker"
    budget = UnitsPerHop.of(1)

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        return DONE if cursor + 1 >= self.data["hops"] else cursor + 1


def relaystate_hops_per_s(lam: LocalLambda, hops: int) -> float:
    before = sum(1 for i in lam.invocations if i.outcome == "ok")
    job = Hops(data={"hops": hops}, backend=lam.backend)
    job.start()
    started = time.perf_counter()
    lam.run_until_idle(timeout_s=600)
    took = time.perf_counter() - started
    assert hops == sum(1 for i in lam.invocations if i.outcome == "ok") - before
    return hops / took


def raw_hops_per_s(endpoint_url: str, hops: int) -> float:
    sqs = sqs_client(endpoint_url)
    url = sqs.create_queue(QueueName=f"raw-relay-{time.monotonic_ns()}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"cursor": 0}))
    started = time.perf_counter()
    done = 0
    while done < hops:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0)
        for message in got.get("Messages", []):
            packet = json.loads(message["Body"])
            packet["cursor"] += 1
            done += 1
            if done < hops:
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(packet))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    took = time.perf_counter() - started
    sqs.delete_queue(QueueUrl=url)
    return hops / took


def run() -> list[dict[str, Any]]:
    with (
        moto_process() as endpoint,
        LocalLambda(timeout_s=5.0, concurrency=1, endpoint_url=endpoint) as lam,
    ):
        lam.deploy(Hops)
        raws, ourses = [], []
        for _ in range(ROUNDS):  # interleaved, so that drift of a shared machine hits both
            raws.append(raw_hops_per_s(lam.endpoint_url, HOPS))
            ourses.append(relaystate_hops_per_s(lam, HOPS))
        raw, ours = statistics.median(raws), statistics.median(ourses)
        calls = {k: v // ROUNDS for k, v in lam.aws_calls.items()}
        poller = {k: v // ROUNDS for k, v in lam.poller_calls.items()}
    return [
        {"loop": "raw boto3 (receive, json, send, delete)", "hops/s": f"{raw:.1f}", "ratio": "1"},
        {
            "loop": "RelayJob on LocalLambda",
            "hops/s": f"{ours:.1f}",
            "ratio": f"{ours / raw:.2f}",
        },
        {"loop": f"job's AWS calls per run: {calls}", "hops/s": "", "ratio": ""},
        {"loop": f"poller's calls per run: {poller}", "hops/s": "", "ratio": ""},
    ]


TITLE = (
    f"hop overhead: one-unit hops, median of {ROUNDS} interleaved runs of {HOPS} hops, "
    "moto's SQS server in its own process"
)
