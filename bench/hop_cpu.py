"""Hop-CPU benchmark: ``RelayJob.handle`` against a hand-written relay handler, CPU alone.

Both handle the same packets on in-memory queues (no network, no runtime): the hand-written
handler parses the packet, runs the unit and sends the next packet of the same size
(:func:`bench.overhead.hand_written`); ``Hops.handle`` does the same through relaystate --
checks the packet and where it came from, rebuilds the job, runs the machine, the budget and
the hop record, sends the packet. What is timed is the process CPU of the handler call alone
(``time.process_time`` around it; the SQS event is made outside). Runs are paired and
interleaved, the order within a pair alternating, so that drift of a shared machine hits
both; the ratio is taken pair by pair.

Run it alone with ``python -m bench hop_cpu``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from relaystate.testing import memory_backend, sqs_event

from .overhead import Hops, _compared, _first_packet, hand_written

HOPS = 2_000
ROUNDS = 7
WARM_UP = 200


class _Context:
    function_name = "overhead-worker"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _cpu_us_per_hop(handler: Callable[[dict[str, Any], Any], Any], pop: Callable[[], str]) -> float:
    context = _Context()
    for _ in range(WARM_UP):
        handler(sqs_event(pop()), context)
    spent = 0.0
    for _ in range(HOPS):
        event = sqs_event(pop())
        started = time.process_time()
        handler(event, context)
        spent += time.process_time() - started
    return spent * 1e6 / HOPS


def relaystate_cpu_us() -> float:
    backend = memory_backend()
    job = Hops(data={"hops": 10**9}, backend=backend)
    job.start()
    assert job.packet is not None
    url = job.packet.queue_url

    def handler(event: dict[str, Any], context: Any) -> Any:
        backend.queues.calls.clear()
        return Hops.handle(event, context, backend=backend)

    return _cpu_us_per_hop(handler, lambda: backend.queues.pop(url))


def hand_written_cpu_us() -> float:
    backend = memory_backend()
    first = _first_packet(backend, 10**9)
    url = json.loads(first)["queue_url"]
    backend.queues.pop(url)
    backend.queues.send(url, first)

    def send(queue_url: str, body: str) -> None:
        backend.queues.calls.clear()
        backend.queues.send(queue_url, body)

    return _cpu_us_per_hop(hand_written(send, 10**9), lambda: backend.queues.pop(url))


def run() -> list[dict[str, Any]]:
    hand, ours = [], []
    for i in range(ROUNDS):  # paired and interleaved: drift of a shared machine hits both
        if i % 2:
            ours.append(relaystate_cpu_us())
            hand.append(hand_written_cpu_us())
        else:
            hand.append(hand_written_cpu_us())
            ours.append(relaystate_cpu_us())
    return _compared(hand, ours, "CPU us per hop", "{:.1f}", "hand-written")


TITLE = (
    f"hop CPU: the handler call alone, in-memory queues, {HOPS:,} hops a run, "
    f"{ROUNDS} interleaved pairs"
)
