"""Fan out, collect each shard's result, and finish with the join -- one failure tolerated.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/sum_shards.py

:class:`SumSquares` sums the squares of 0..n-1 in ``data["shards"]`` shards. Each shard sets
``self.result`` (its partial sum) when it is done; with a ledger, the shard that ends last calls
``on_join(results)`` once, with every shard's result -- or error -- in shard order, and tears
the job down. ``data["broken"]`` makes one shard fail; ``tolerated_failures = 1`` keeps the job
done despite it (the failed shard's packet stays in the DLQ, to resume after a fix).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

from relaystate import DONE, RelayJob, Retry
from relaystate.ledger import ShardResult
from relaystate.local import LocalLambda

LEDGER = "sums"


class SumSquares(RelayJob):
    """Sum of k*k for k in 0..data["n"]-1, in shards; shard ``data["broken"]`` fails."""

    function_name = "sum-squares-worker"
    ledger = LEDGER
    tolerated_failures = 1
    retry = Retry(attempts=1, hop_retries=0)  # fail at once: this example's failure is on purpose

    def plan(self) -> list[list[int]]:
        n, shards = self.data["n"], self.data["shards"]
        bounds = [n * i // shards for i in range(shards + 1)]
        return [[lo, hi, 0] for lo, hi in pairwise(bounds)]

    def step(self, cursor: tuple[int, int, int]) -> Any:
        assert self.packet is not None
        if self.packet.shard == self.data.get("broken"):
            raise RuntimeError(f"shard {self.packet.shard} is broken on purpose")
        lo, hi, total = cursor
        end = min(lo + 1_000, hi)
        total += sum(k * k for k in range(lo, end))
        if end >= hi:
            self.result = total
            return DONE
        return [end, hi, total]

    def on_join(self, results: Iterable[ShardResult]) -> None:
        Joined.results = list(results)


class Joined:
    """Where on_join leaves the results for :func:`run` (on AWS: S3, a database)."""

    results: ClassVar[list[ShardResult]] = []


@dataclass(frozen=True)
class Summed:
    """What :func:`run` found after the job."""

    total: int  # over the shards that succeeded
    failed_shards: list[int]
    state: str  # the job's state in the ledger
    left_over: list[str]


def run(n: int = 20_000, *, shards: int = 4, broken: int | None = 2) -> Summed:
    """Run :class:`SumSquares` to the end and read what the join saw."""
    Joined.results = []
    with LocalLambda(timeout_s=2.0, concurrency=4) as lam:
        lam.deploy(SumSquares)
        ledger = lam.ledger(LEDGER)
        job = SumSquares(data={"n": n, "shards": shards, "broken": broken}, backend=lam.backend)
        job.start()
        lam.run_until_idle(timeout_s=120)
        status = ledger.status(job.job_id)
        return Summed(
            total=sum(r.result for r in Joined.results if r.status == "done"),
            failed_shards=[r.shard for r in Joined.results if r.status == "failed"],
            state=status.state.value if status else "unknown",
            left_over=lam.left_over(),
        )


def main() -> int:
    summed = run()
    print(
        f"sum over the shards that ran: {summed.total:,}; failed shards {summed.failed_shards}; "
        f"job {summed.state}; left over: {', '.join(summed.left_over) or 'none'}"
    )
    return 0 if summed.state == "torn_down" and summed.failed_shards == [2] else 1


if __name__ == "__main__":
    sys.exit(main())
