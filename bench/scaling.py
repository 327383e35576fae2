"""Fan-out scaling: N shards of one unit each on LocalLambda and its embedded SQS endpoint.

Each run is a process of its own (its peak memory is its own): a job whose ``plan()`` returns
N cursors is started (N packets sent by tens) and run until idle on ``LocalLambda()`` with its
defaults (the embedded moto server in the same process, 4 invocations at once, 2-s timeout);
every unit is counted, so a redelivered packet shows as a duplicate unit. Without a ledger the
starter tears the job down at the end, and nothing may be left. Sizes are interleaved
(1,000, 10,000, 1,000, ...) so that drift of a shared machine hits both. 100,000 shards run
once when ``BENCH_100K=1`` is set (about 20 minutes here). Then the same job runs once at
each of 1,000 / 10,000 / 100,000 shards in relaystate's simulator (in memory, a virtual
clock, no faults), where that is part of the checkout.

Before issue 15 (same machine): 1,000 shards 36.2 s, 10,000 not done after 1,000 s, with 2,435
duplicate units and no delete made.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, ClassVar

from relaystate import DONE, RelayJob
from relaystate.testing import UnitsPerHop

SIZES = (1_000, 10_000)
ROUNDS = 3
#: Shards run once each in relaystate's simulator (relaystate.testing.Simulation), if present.
SIM_SIZES = (1_000, 10_000, 100_000)
SIM_SEEDS = (1, 2, 3)


class Fan(RelayJob):
    function_name = "scaling-worker"
    job_type = "bench.scaling.Fan"
    budget = UnitsPerHop.of(1)
    ran: ClassVar[collections.Counter[int]] = collections.Counter()

    def plan(self) -> Any:
        return range(self.data["shards"])

    def step(self, cursor: Any) -> Any:
        Fan.ran[cursor] += 1
        return DONE


def one_run(shards: int) -> dict[str, Any]:
    """Run the fan-out in this process; what it took."""
    from relaystate.local import LocalLambda

    with LocalLambda() as lam:
        lam.deploy(Fan)
        job = Fan(data={"shards": shards}, backend=lam.backend)
        started = time.perf_counter()
        job.start()
        sent = time.perf_counter()
        lam.run_until_idle(timeout_s=3_600)
        took = time.perf_counter() - started
        job.tear_down()
        return {
            "shards": shards,
            "seconds": took,
            "start seconds": sent - started,
            "units": sum(Fan.ran.values()),
            "shards run": len(Fan.ran),
            "duplicates": sum(n - 1 for n in Fan.ran.values()),
            "left": lam.left_over(),
            "peak MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "deletes": lam.poller_calls["DeleteMessageBatch"],
            "receives": lam.poller_calls["ReceiveMessage"],
        }


def one_simulation(shards: int, seed: int) -> dict[str, Any]:
    """Run the fan-out once in relaystate's simulator (no faults, a ledger), in this process."""
    from relaystate.testing import Simulation  # type: ignore[attr-defined]

    started = time.perf_counter()
    simulation = Simulation(Fan, {"shards": shards}, ledger="ledger", max_invocations=4 * shards)
    try:
        run = simulation.run(seed)
    except Exception as exc:  # the job did not start: said in the table
        return {"shards": shards, "seed": seed, "error": str(exc)}
    return {
        "shards": shards,
        "seed": seed,
        "seconds": time.perf_counter() - started,
        "virtual seconds": run.virtual_s,
        "violations": len(run.violations),
        "units": sum(Fan.ran.values()),
        "duplicates": sum(n - 1 for n in Fan.ran.values()),
        "peak MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _simulator_rows() -> list[dict[str, Any]]:
    try:
        from relaystate.testing import Simulation  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        return [{"shards": "simulator: not in this checkout of relaystate"}]
    rows = []
    for size in SIM_SIZES:
        refused = []
        for seed in SIM_SEEDS:  # the first seed whose job starts
            found = _in_a_process(size, "--simulate", str(seed))
            if "error" not in found:
                break
            refused.append(f"seed {seed}: {found['error']}")
        else:
            rows.append({"shards": f"{size:,} in the simulator: {'; '.join(refused)}"})
            continue
        rows.append(
            {
                "shards": f"{size:,} in the simulator (seed {found['seed']})",
                "runs": 1,
                "ms per shard (median, range)": f"{1000 * found['seconds'] / size:.2f}",
                "run s (median)": (
                    f"{found['seconds']:.1f} ({found['virtual seconds']:.0f} virtual)"
                ),
                "peak MiB (range)": f"{found['peak MiB']:.0f}",
                "units run / shards": f"{found['units'] / size:.4f}",
                "duplicate units": found["duplicates"],
                "left over": f"{found['violations']} invariant(s) broken"
                + "".join(f"; did not start with {r}" for r in refused),
            }
        )
    return rows


def _in_a_process(shards: int, *how: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scaling", str(shards), *how],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def run() -> list[dict[str, Any]]:
    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in SIZES}
    for _ in range(ROUNDS):
        for size in SIZES:
            runs[size].append(_in_a_process(size))
    if os.environ.get("BENCH_100K") == "1":
        runs[100_000] = [_in_a_process(100_000)]
    base = statistics.median(r["seconds"] / r["shards"] for r in runs[SIZES[0]])
    rows = []
    for size, found in runs.items():
        per_shard = sorted(1000 * r["seconds"] / size for r in found)
        peak = sorted(r["peak MiB"] for r in found)
        rows.append(
            {
                "shards": f"{size:,}",
                "runs": len(found),
                "ms per shard (median, range)": (
                    f"{statistics.median(per_shard):.2f} ({per_shard[0]:.2f}-{per_shard[-1]:.2f})"
                ),
                "x the 1,000-shard figure": f"{statistics.median(per_shard) / 1000 / base:.2f}",
                "run s (median)": f"{statistics.median(r['seconds'] for r in found):.1f}",
                "peak MiB (range)": f"{peak[0]:.0f}-{peak[-1]:.0f}",
                "units run / shards": f"{sum(r['units'] for r in found) / len(found) / size:.4f}",
                "duplicate units": sum(r["duplicates"] for r in found),
                "left over": sum(len(r["left"]) for r in found),
                "receives, deletes per shard": (
                    f"{sum(r['receives'] for r in found) / len(found) / size:.3f}, "
                    f"{sum(r['deletes'] for r in found) / len(found) / size:.3f}"
                ),
            }
        )
    blank = dict.fromkeys(rows[0], "")
    return rows + [blank | row for row in _simulator_rows()]


TITLE = (
    f"fan-out scaling: {' / '.join(f'{s:,}' for s in SIZES)} shards of one unit on LocalLambda() "
    f"(embedded endpoint, defaults), {ROUNDS} interleaved runs each, a process per run"
)


if __name__ == "__main__":  # one run, as a child of run(): its figures as a JSON line
    if sys.argv[2:3] == ["--simulate"]:
        print(json.dumps(one_simulation(int(sys.argv[1]), int(sys.argv[3]))))
    else:
        print(json.dumps(one_run(int(sys.argv[1]))))
