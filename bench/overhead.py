"""Hop-overhead benchmark: hops/s through RelayJob + LocalLambda vs a raw boto3 relay loop.

One SQS endpoint for both: moto's server on 127.0.0.1, in a process of its own. The job does
one trivial unit per hop (its budget stops after one unit), so a hop is all overhead: receive,
rebuild the job from the packet, run the machine, relay, delete. The raw loop does only
receive -> json -> send -> delete on one queue, as a hand-written relay would.

LocalLambda, like AWS's pollers, takes the delete off the relay's path: it deletes handled
messages from its poll loop, up to ten a call. That is why a hop through it can be faster
than a raw hop. The last rows show relaystate's own share apart from the runtime: the CPU
time of ``RelayJob.handle`` per hop on in-memory queues.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda, moto_process
from relaystate.local.server import sqs_client
from relaystate.testing import UnitsPerHop, memory_backend, sqs_event

HOPS = 200
ROUNDS = 9


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


def handle_ms_per_hop(hops: int = 2_000) -> float:
    """CPU of ``RelayJob.handle`` alone per hop: in-memory queues, no network, no runtime."""
    backend = memory_backend()
    job = Hops(data={"hops": 10**9}, backend=backend)
    job.start()
    url = job.packet.queue_url

    def hop() -> None:
        Hops.handle(sqs_event(backend.queues.pop(url)), _Context(), backend=backend)
        backend.queues.calls.clear()

    for _ in range(200):  # warm up
        hop()
    started = time.process_time()
    for _ in range(hops):
        hop()
    return (time.process_time() - started) * 1000 / hops


class _Context:
    function_name = "overhead-worker"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def run() -> list[dict[str, Any]]:
    with (
        moto_process() as endpoint,
        LocalLambda(timeout_s=5.0, concurrency=1, endpoint_url=endpoint) as lam,
    ):
        lam.deploy(Hops)
        raws, ourses = [], []
        for _ in range(ROUNDS):  # paired and interleaved: drift of a shared machine hits both
            raws.append(raw_hops_per_s(lam.endpoint_url, HOPS))
            ourses.append(relaystate_hops_per_s(lam, HOPS))
        calls = {k: v // ROUNDS for k, v in lam.aws_calls.items()}
        poller = {k: v // ROUNDS for k, v in lam.poller_calls.items()}
    ratios = sorted(ours / raw for raw, ours in zip(raws, ourses, strict=True))
    handle_ms = handle_ms_per_hop()
    raw_hop_ms = 1000 / statistics.median(raws)
    return [
        {
            "loop": "raw boto3 (receive, json, send, delete)",
            "hops/s (median)": f"{statistics.median(raws):.1f}",
            "ratio to raw (median of pairs)": "1",
            "ratio range": "",
        },
        {
            "loop": "RelayJob on LocalLambda",
            "hops/s (median)": f"{statistics.median(ourses):.1f}",
            "ratio to raw (median of pairs)": f"{statistics.median(ratios):.2f}",
            "ratio range": f"{ratios[0]:.2f}-{ratios[-1]:.2f}",
        },
        {
            "loop": f"RelayJob.handle alone, CPU ms per hop (in memory): {handle_ms:.2f} ms = "
            f"{100 * handle_ms / raw_hop_ms:.1f} % of a raw hop's {raw_hop_ms:.1f} ms",
        }
        | dict.fromkeys(_BLANK, ""),
        {"loop": f"job's AWS calls per run: {calls}"} | dict.fromkeys(_BLANK, ""),
        {"loop": f"poller's calls per run: {poller}"} | dict.fromkeys(_BLANK, ""),
    ]


_BLANK = ("hops/s (median)", "ratio to raw (median of pairs)", "ratio range")


TITLE = (
    f"hop overhead: one-unit hops, {ROUNDS} interleaved pairs of runs of {HOPS} hops, "
    "moto's SQS server in its own process"
)
