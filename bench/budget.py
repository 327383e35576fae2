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
    timeout_ms: float = TIMEOUT_MS,
    every: int | None = None,
) -> list[dict[str, float]]:
    """Run ``hops`` hops; per ``every`` hops (default: all of them) return utilization (work
    kept / time paid), units per hop kept, hops killed in their first unit or its send (no
    budget can help: a hop must run one unit) and hops killed later (the budget's doing).
    """
    rng = random.Random(seed)
    state: Mapping[str, Any] | None = None
    last_send = 0.0
    every = every or hops
    windows: list[dict[str, float]] = []
    kept = 0.0
    units_kept = killed_first = killed_later = 0
    for hop in range(hops):
        budget = policy(state)
        if last_send:
            budget.record_send(last_send)
        elapsed = rng.uniform(0.0, 100.0)
        budget.start(timeout_ms - elapsed)
        work = 0.0
        units = 0
        dead = False
        while units == 0 or budget.should_continue(timeout_ms - elapsed):
            unit = draw(rng)
            if elapsed + unit > timeout_ms:
                dead = True
                break
            elapsed += unit
            work += unit
            units += 1
            budget.record_unit(unit)
        send = rng.uniform(20.0, 40.0)
        if dead or elapsed + send > timeout_ms:
            # The work since the last checkpoint is lost; the next hop redoes it. A hop must
            # run one unit and send: if that alone does not fit, no budget could help.
            if units == (1 if not dead else 0):
                killed_first += 1
            else:
                killed_later += 1
        else:
            kept += work
            units_kept += units
            state = budget.state()
            last_send = send
        if (hop + 1) % every == 0:
            windows.append(
                {
                    "hops": hop + 1,
                    "utilization": kept / (every * timeout_ms),
                    "units per hop": units_kept / every,
                    "killed first": killed_first,
                    "killed later": killed_later,
                }
            )
            kept, units_kept, killed_first, killed_later = 0.0, 0, 0, 0
    return windows


def run() -> list[dict[str, Any]]:
    rows = []
    for dist_name, draw in DISTRIBUTIONS.items():
        for policy_name, policy in POLICIES.items():
            (result,) = simulate(policy, draw)
            total = _hops_needed(result["utilization"])
            rows.append(
                {
                    "distribution": dist_name,
                    "policy": policy_name,
                    "utilization": f"{100 * result['utilization']:.2f} %",
                    "hops killed": int(result["killed first"] + result["killed later"]),
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


# -- a long job on a short function: does the budget keep its units per hop as it ages? ---------

LONG_TIMEOUT_MS = 2_000.0
LONG_HOPS = 10_000
LONG_EVERY = 1_000
LONG_SEEDS = (1, 2, 3)


class DriftingBudget(AdaptiveBudget):
    """AdaptiveBudget before issue 15: the fit always capped at 1.5 x the slowest unit seen.

    In a heavy tail the slowest unit seen grows with every unit, so the cap loosens as a job
    ages: a young job ran more units a hop (at many times the stated risk) than an old one.
    """

    def _caps_fit(self, mean: float, spread: float) -> bool:
        return True


def _riskier(state: Mapping[str, Any] | None) -> Budget:
    return AdaptiveBudget(state, risk_z=3.09)


LONG_POLICIES: dict[str, Callable[[Mapping[str, Any] | None], Budget]] = {
    "before (cap on the slowest unit seen)": DriftingBudget,
    "relaystate default (risk 1 in 100,000 a unit)": AdaptiveBudget,
    "AdaptiveBudget(risk_z=3.09): 1 in 1,000": _riskier,
}


def run_long() -> list[dict[str, Any]]:
    """Rows per 1,000 hops: units per hop and utilization (median of the seeds), kills."""
    lognormal = DISTRIBUTIONS["lognormal median 50 ms, sigma 1"]
    rows = []
    for name, policy in LONG_POLICIES.items():
        runs = [
            simulate(
                policy,
                lognormal,
                hops=LONG_HOPS,
                seed=seed,
                timeout_ms=LONG_TIMEOUT_MS,
                every=LONG_EVERY,
            )
            for seed in LONG_SEEDS
        ]
        for windows in zip(*runs, strict=True):
            units = sorted(w["units per hop"] for w in windows)
            used = sorted(w["utilization"] for w in windows)
            last = int(windows[0]["hops"])
            middle = units[len(units) // 2]
            rows.append(
                {
                    "policy": name,
                    "hops": f"{last - LONG_EVERY + 1}-{last}",
                    "units per hop": f"{middle:.2f} ({units[0]:.2f}-{units[-1]:.2f})",
                    "utilization": f"{100 * used[len(used) // 2]:.1f} %",
                    "killed in the first unit or its send": sum(
                        int(w["killed first"]) for w in windows
                    ),
                    "killed later": sum(int(w["killed later"]) for w in windows),
                }
            )
    return rows


LONG_TITLE = (
    f"budget on a long job: a {LONG_TIMEOUT_MS / 1000:g}-s function, lognormal units "
    f"(median 50 ms, sigma 1), {LONG_HOPS:,} hops, a row per {LONG_EVERY:,}; seeds "
    f"{', '.join(map(str, LONG_SEEDS))}: units per hop as median (range), kills summed. "
    "A hop killed in its first unit (or its send) met a unit longer than the function: no "
    "budget avoids that"
)

SECTIONS = [(TITLE, run), (LONG_TITLE, run_long)]
