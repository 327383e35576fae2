"""Hop-overhead benchmark: RelayJob against a hand-written relay handler, like for like.

Both run on one LocalLambda over moto's SQS server (127.0.0.1, a process of its own), one
invocation at a time, and do the same per hop: the Lambda service receives the message
(all attributes), invokes the handler, which parses the packet, runs one trivial unit and
sends the next packet of the same size through the same client; the service deletes the
handled message (batched, off the relay's path, for both). What differs is the handler:

    RelayJob        ``Hops.handle`` -- checks the packet and where it came from, rebuilds
                    the job, runs the machine, the budget, the hop record, sends the packet
    hand-written    ``json.loads``, ``cursor + 1``, ``json.dumps``, one ``SendMessage``

Timing runs from the first packet sent to the end of the last unit (a job's teardown after
that is left out of both). Runs are paired and interleaved, the order within a pair
alternating, so that drift of a shared machine hits both. The CPU time of the handler call
alone is :mod:`bench.hop_cpu`'s.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda, moto_process
from relaystate.ports import Backend
from relaystate.testing import UnitsPerHop, memory_backend

HOPS = 300
ROUNDS = 9


class Hops(RelayJob):
    function_name = "overhead-worker"
    job_type = "bench.overhead.Hops"
    budget = UnitsPerHop.of(1)
    #: When the last unit ended (``time.perf_counter()``).
    finished_at = 0.0

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        if cursor + 1 >= self.data["hops"]:
            Hops.finished_at = time.perf_counter()
            return DONE
        return cursor + 1


def hand_written(
    send: Callable[[str, str], Any], hops: int, on_last: Callable[[], None] = lambda: None
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A relay handler as one would write it by hand: parse, one unit, send the next packet."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event["Records"]:
            packet = json.loads(record["body"])
            cursor = packet["cursor"] + 1  # the unit
            if cursor >= hops:
                on_last()
                continue
            packet["cursor"], packet["hop"] = cursor, packet["hop"] + 1
            send(packet["queue_url"], json.dumps(packet, separators=(",", ":")))
        return {"batchItemFailures": []}

    return handler


def _first_packet(backend: Backend, hops: int) -> str:
    """A RelayJob's first packet as JSON: what the hand-written relay sends, same size."""
    job = Hops(data={"hops": hops}, backend=backend)
    job.start()
    assert job.packet is not None
    return job.packet.to_json()


# -- hops per second on LocalLambda ------------------------------------------------------------


def relaystate_hops_per_s(lam: LocalLambda, hops: int) -> float:
    job = Hops(data={"hops": hops}, backend=lam.backend)
    job.start()
    started = time.perf_counter()
    lam.run_until_idle(timeout_s=600)
    return hops / (Hops.finished_at - started)


def hand_written_hops_per_s(lam: LocalLambda, hops: int) -> float:
    ended: list[float] = []
    lam.deploy(
        "hand-written-worker",
        hand_written(
            lambda url, body: lam.sqs.send_message(QueueUrl=url, MessageBody=body),
            hops,
            on_last=lambda: ended.append(time.perf_counter()),
        ),
    )
    lam.backend.mappings.allow_recursion("hand-written-worker")  # a relay is a loop, as RelayJob's
    queue = lam.backend.queues.create(
        f"hand-{time.monotonic_ns()}", {"VisibilityTimeout": "30"}, {}
    )
    mapping = lam.backend.mappings.create(
        "hand-written-worker", queue.arn, batch_size=1, max_concurrency=None
    )
    body = json.loads(_first_packet(memory_backend(), hops))
    body["queue_url"] = queue.url
    started = time.perf_counter()
    lam.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body, separators=(",", ":")))
    lam.run_until_idle(timeout_s=600)
    lam.backend.mappings.delete(mapping.id)
    lam.backend.queues.delete(queue.url)
    return hops / (ended[0] - started)


# -- the tables ---------------------------------------------------------------------------------


def run() -> list[dict[str, Any]]:
    with (
        moto_process() as endpoint,
        LocalLambda(timeout_s=5.0, concurrency=1, endpoint_url=endpoint) as lam,
    ):
        lam.deploy(Hops)
        hand, ours = [], []
        for i in range(ROUNDS):  # paired and interleaved: drift of a shared machine hits both
            if i % 2:
                ours.append(relaystate_hops_per_s(lam, HOPS))
                hand.append(hand_written_hops_per_s(lam, HOPS))
            else:
                hand.append(hand_written_hops_per_s(lam, HOPS))
                ours.append(relaystate_hops_per_s(lam, HOPS))
        calls = {k: v // ROUNDS for k, v in lam.aws_calls.items()}
        poller = {k: v // ROUNDS for k, v in lam.poller_calls.items()}
    return [
        *_compared(hand, ours, "hops/s", "{:.1f}", "hand-written (json, one unit, SendMessage)"),
        {"handler": f"calls of both, per {ROUNDS} pairs: job {calls}; service {poller}"}
        | dict.fromkeys(
            ("hops/s (median)", "range", "RelayJob / hand-written (median of pairs)"), ""
        ),
    ]


def _compared(
    hand: list[float], ours: list[float], figure: str, shown: str, hand_label: str
) -> list[dict[str, Any]]:
    """Two rows: each handler's median and range, and the median and range of the pairs'
    ratios (RelayJob / hand-written)."""
    ratios = sorted(o / h for h, o in zip(hand, ours, strict=True))
    rows = []
    for label, found, ratio in (
        (hand_label, hand, ""),
        (
            "RelayJob.handle",
            ours,
            f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})",
        ),
    ):
        rows.append(
            {
                "handler": label,
                f"{figure} (median)": shown.format(statistics.median(found)),
                "range": f"{shown.format(min(found))}-{shown.format(max(found))}",
                "RelayJob / hand-written (median of pairs)": ratio,
            }
        )
    return rows


TITLE = (
    f"hop overhead: RelayJob vs a hand-written relay handler on one LocalLambda, one-unit "
    f"hops, same packet size and deletes; {ROUNDS} interleaved pairs of {HOPS} hops, moto's "
    "SQS server in its own process"
)
