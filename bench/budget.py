"""Budget benchmark: how much of the paid Lambda time each stop rule keeps as work.

A simulated clock (deterministic, seeded): function timeout 60 s, relay send 30 ms +/- 10 ms,
four unit-time distributions, 2,000 hops each. A hop killed by the timeout loses its work since
the last checkpoint. Each hop builds its budget from the state the previous hop's packet carried,
as the worker does; the previous hop's send latency is known to it, as in a warm Lambda.

The hop also spends 0-100 ms before its first unit (rebuilding the job from its packet); without
it a timeout that is an exact multiple of a constant unit time would hide the send-time problem.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

from relaystate.budget import AdaptiveBudget, Budget, GraceBudget, LastUnitBudget

TIMEOUT_MS = 60_000.0
HOPS = 2_000

DISTRIBUTIONS: dict[str, Callable[[random.Random], float]] = {
    "constant 50 ms": lambda r: 50.0,
    "uniform 10-200 ms": lambda r: r.uniform(10.0, 200.0),
    "lognormal median 50 ms, sigma 1": lambda r: 50.0 * math.exp(r.gauss(0.0, 1.0)),
    "bimodal 95% 20 ms / 5% 2 s": lambda r: 20.0 if r.random() < 0.95 else 2_000.0,
}

POLICIES: dict[str, Callable[[Mapping[str, Any] | None], Budget]] = {
    "relaystate default": AdaptiveBudget,
    "npm rule (1.5 x last unit)": LastUnitBudget,
    "grace 10 %": GraceBudget,
}


def simulate(
    policy: Callable[[Mapping[str, Any] | None], Budget],
    draw: Callable[[random.Random], float],
    *,
    hops: int = HOPS,
    seed: int = 1,
) -> dict[str, float]:
    """Run ``hops`` hops; return utilization (work kept / time paid), hops killed, hops."""
    rng = random.Random(seed)
    state: Mapping[str, Any] | None = None
    last_send = 0.0
    kept = 0.0
    killed = 0
    for _ in range(hops):
        budget = policy(state)
        if last_send:
            budget.record_send(last_send)
        elapsed = rng.uniform(0.0, 100.0)
        budget.start(TIMEOUT_MS - elapsed)
        work = 0.0
        units = 0
        dead = False
        while units == 0 or budget.should_continue(TIMEOUT_MS - elapsed):
            unit = draw(rng)
            if elapsed + unit > TIMEOUT_MS:
                dead = True
                break
            elapsed += unit
            work += unit
            units += 1
            budget.record_unit(unit)
        send = rng.uniform(20.0, 40.0)
        if dead or elapsed + send > TIMEOUT_MS:
            killed += 1  # the work since the last checkpoint is lost; the next hop redoes it
            continue
        kept += work
        state = budget.state()
        last_send = send
    return {"utilization": kept / (hops * TIMEOUT_MS), "killed": killed, "hops": hops}


def run() -> list[dict[str, Any]]:
    rows = []
    for dist_name, draw in DISTRIBUTIONS.items():
        for policy_name, policy in POLICIES.items():
            result = simulate(policy, draw)
            total = _hops_needed(result["utilization"])
            rows.append(
                {
                    "distribution": dist_name,
                    "policy": policy_name,
                    "utilization": f"{100 * result['utilization']:.2f} %",
                    "hops killed": int(result["killed"]),
                    "hops per 1 h of work": total,
                }
            )
    return rows


def _hops_needed(utilization: float) -> str:
    """Hops of 60 s needed for one hour of work at this utilization."""
    if utilization <= 0:
        return "never"
    return str(math.ceil(3_600_000 / (utilization * TIMEOUT_MS)))


TITLE = "budget: stop rules on a simulated 60 s function, 2,000 hops per distribution"
