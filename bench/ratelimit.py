"""Rate-limit benchmark: relaystate's RateLimit against a fake API that rejects calls above N/s.

Simulated clock (deterministic): the fake API, the Lambda's remaining time and the limiter's
wall clock all run on it; a unit is one API call taking 5 ms. Jobs run on the in-memory backend
(relaystate.testing), hop by hop, as SQS would deliver them (a delayed packet arrives when its
delay is over).

1. 2,000 calls, limit 14/s (SES), 30 s function: achieved rate / limit, rejected calls.
2. A per-window quota (a compressed "day" of 600 s, 500 calls; no per-second limit) that runs
   out mid-job (1,200 calls, 900 s function): the share of paid Lambda time spent asleep --
   relaystate's relay-with-delay vs a job that sleeps in the Lambda until the quota is back.
"""

from __future__ import annotations

import collections
from typing import Any, ClassVar

from relaystate import DONE, RateLimit, RelayJob
from relaystate import clock as clock_module
from relaystate.testing import memory_backend, sqs_event

UNIT_S = 0.005


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.asleep = 0.0

    def sleep(self, seconds: float) -> None:
        self.asleep += seconds
        self.now += seconds


class FakeApi:
    """Accepts at most ``limit`` calls in any sliding second; counts the rest as rejected."""

    def __init__(self, clock: Clock, limit: int) -> None:
        self.clock, self.limit = clock, limit
        self.window: collections.deque[float] = collections.deque()
        self.accepted = 0
        self.rejected = 0

    def call(self) -> None:
        now = self.clock.now
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) >= self.limit:
            self.rejected += 1
        else:
            self.window.append(now)
            self.accepted += 1
        self.clock.now += UNIT_S


class Context:
    def __init__(self, clock: Clock, timeout_s: float) -> None:
        self.clock, self.deadline = clock, clock.now + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.clock.now) * 1000)


class Calls(RelayJob):
    function_name = "calls-worker"
    api: ClassVar[FakeApi]

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Calls.api.call()
        return DONE if cursor + 1 >= self.data["n"] else cursor + 1


def drive(job_cls: type[Calls], clock: Clock, n: int, timeout_s: float) -> dict[str, float]:
    """Run the job to the end; return paid Lambda seconds, seconds asleep, hops, wall seconds."""
    backend = memory_backend(timeout_s=int(timeout_s))
    clock_module.wall, clock_module.sleep = (lambda: clock.now), clock.sleep
    start = clock.now
    job_cls(data={"n": n}, backend=backend).start()
    paid = 0.0
    hops = 0
    while backend.queues.queues:
        (url,) = [u for u, q in backend.queues.queues.items() if not q.name.endswith("-dlq")]
        body, delay = backend.queues.queues[url].messages.popleft()
        clock.now += delay
        began = clock.now
        job_cls.handle(sqs_event(body), Context(clock, timeout_s), backend=backend)
        paid += clock.now - began
        hops += 1
    return {"paid": paid, "asleep": clock.asleep, "hops": hops, "wall": clock.now - start}


def run() -> list[dict[str, Any]]:
    saved = clock_module.wall, clock_module.sleep
    rows = []
    try:
        clock = Clock()
        Calls.api = FakeApi(clock, limit=14)

        class Paced(Calls):
            rate_limit = RateLimit(per_second=14)

        result = drive(Paced, clock, 2_000, 30.0)
        rate = Calls.api.accepted / (result["wall"] or 1)
        rows.append(
            {
                "case": "2,000 calls at 14/s",
                "achieved / limit": f"{rate / 14:.3f}",
                "rejected": Calls.api.rejected,
                "hops": result["hops"],
                "Lambda time asleep": f"{100 * result['asleep'] / result['paid']:.1f} %",
            }
        )

        for label, max_wait in [
            ("quota spent mid-job, relaystate (relay with delay)", 2.0),
            ("quota spent mid-job, sleeping in the Lambda", 10_000.0),
        ]:
            clock = Clock()
            Calls.api = FakeApi(clock, limit=1_000)

            class Quota(Calls):
                rate_limit = RateLimit(per_day=500, window_s=600, max_wait_s=max_wait)

            result = drive(Quota, clock, 1_200, 900.0)
            rows.append(
                {
                    "case": label,
                    "achieved / limit": "-",
                    "rejected": Calls.api.rejected,
                    "hops": result["hops"],
                    "Lambda time asleep": f"{100 * result['asleep'] / result['paid']:.1f} %",
                }
            )
    finally:
        clock_module.wall, clock_module.sleep = saved
    return rows


TITLE = "rate limit: a fake API that rejects calls above 14/s; a compressed day quota"
