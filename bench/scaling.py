"""Fan-out scaling: N shards of one unit each on LocalLambda and its embedded SQS endpoint.

Each run is a process of its own (its peak memory is its own): a job whose ``plan()`` returns
N cursors is started (N packets sent by tens) and run until idle on ``LocalLambda()`` with its
defaults (the embedded moto server in the same process, 4 invocations at once, 2-s timeout);
every unit is counted, so a redelivered packet shows as a duplicate unit. Without a ledger the
starter tears the job down at the end, and nothing may be left. Sizes are interleaved
(1,000, 10,000, 1,000, ...) so that drift of a shared machine hits both. 100,000 shards run
once when ``BENCH_100K=1`` is set (about 20 minutes here). Then the same job runs at each of
1,000 / 10,000 / 100,000 shards in relaystate's simulator (in memory, a virtual clock, no
faults), where that is part of the checkout: the first seed whose job starts, then that seed
again (the same run, so the rounds differ only by the machine), interleaved.

Only the simulator's rows (about 6 minutes), written into bench/results.md's table in place of
the ones there, the LocalLambda rows kept as they were measured::

    python -m bench.scaling --simulator

Before issue 15 (same machine): 1,000 shards 36.2 s, 10,000 not done after 1,000 s, with 2,435
duplicate units and no delete made; in the simulator, whose receives scanned the queue, 0.58 ms
a shard at 1,000, 1.62 at 10,000, 100,000 not done in 600 s.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from relaystate import DONE, RelayJob
from relaystate.testing import UnitsPerHop

SIZES = (1_000, 10_000)
ROUNDS = 3
#: Shards run once each in relaystate's simulator (relaystate.testing.Simulation), if present.
SIM_SIZES = (1_000, 10_000, 100_000)
SIM_SEEDS = (1, 2, 3)
SIM_ROUNDS = 3
RESULTS = Path(__file__).with_name("results.md")


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
    seeds: dict[int, int] = {}
    runs: dict[int, list[dict[str, Any]]] = {}
    refused: dict[int, list[str]] = {}
    for size in SIM_SIZES:  # the first seed whose job starts
        refused[size] = []
        for seed in SIM_SEEDS:
            found = _in_a_process(size, "--simulate", str(seed))
            if "error" not in found:
                seeds[size], runs[size] = seed, [found]
                break
            refused[size].append(f"seed {seed}: {found['error']}")
    for _ in range(SIM_ROUNDS - 1):  # the same runs again, sizes interleaved
        for size, seed in seeds.items():
            runs[size].append(_in_a_process(size, "--simulate", str(seed)))
    base = None
    rows = []
    for size in SIM_SIZES:
        if size not in runs:
            rows.append({"shards": f"{size:,} in the simulator: {'; '.join(refused[size])}"})
            continue
        found = runs[size]
        per_shard = sorted(1000 * r["seconds"] / size for r in found)
        median = statistics.median(per_shard)
        base = base or median
        peak = sorted(r["peak MiB"] for r in found)
        last = found[-1]
        rows.append(
            {
                "shards": f"{size:,} in the simulator (seed {seeds[size]})",
                "runs": len(found),
                "ms per shard (median, range)": (
                    f"{median:.2f} ({per_shard[0]:.2f}-{per_shard[-1]:.2f})"
                ),
                "x the 1,000-shard figure": f"{median / base:.2f}",
                "run s (median)": (
                    f"{statistics.median(r['seconds'] for r in found):.1f} "
                    f"({last['virtual seconds']:.0f} virtual)"
                ),
                "peak MiB (range)": f"{peak[0]:.0f}-{peak[-1]:.0f}",
                "units run / shards": f"{last['units'] / size:.4f}",
                "duplicate units": sum(r["duplicates"] for r in found),
                "left over": f"{last['violations']} invariant(s) broken"
                + "".join(f"; did not start with {r}" for r in refused[size]),
            }
        )
    return rows


def simulator_only() -> float:
    """Run the simulator's rows alone and put them in bench/results.md's fan-out scaling table,
    in place of the simulator rows there; the seconds it took."""
    started = time.perf_counter()
    rows = _simulator_rows()
    took = time.perf_counter() - started
    text = RESULTS.read_text()
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("## fan-out scaling:"))
    head = at + 2  # the title, a blank line, then the table's head
    heads = [cell.strip() for cell in lines[head].strip("|").split("|")]
    end = head
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    kept = [line for line in lines[head:end] if "in the simulator" not in line]
    made = ["| " + " | ".join(str(row.get(h, "")) for h in heads) + " |" for row in rows]
    after = lines[end:]  # a blank line, the section's time, a blank line: the note after them
    if len(after) > 3 and after[3].startswith("(the simulator rows:"):
        del after[2:4]
    when = time.strftime("%Y-%m-%d")
    note = f"(the simulator rows: `python -m bench.scaling --simulator`, {when}, {took:.1f} s)"
    after[2:2] = ["", note]
    RESULTS.write_text("\n".join([*lines[:head], *kept, *made, *after]))
    print("\n".join([lines[head], lines[head + 1], *made]))
    return took


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaling", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--simulator",
        action="store_true",
        help="run only the simulator's rows and write them into bench/results.md",
    )
    parser.add_argument("shards", nargs="?", type=int, help="one run of this many shards (a child)")
    parser.add_argument("--simulate", metavar="SEED", type=int, help="that run in the simulator")
    args = parser.parse_args(argv)
    if args.simulator:
        simulator_only()
    elif args.shards is None:
        parser.error("give --simulator, or the shards of one run")
    elif args.simulate is not None:  # one run, as a child: its figures as a JSON line
        print(json.dumps(one_simulation(args.shards, args.simulate)))
    else:
        print(json.dumps(one_run(args.shards)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
