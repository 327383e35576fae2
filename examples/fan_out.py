"""Fan a job out into shards that run in parallel, then tear it down from the starter.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/fan_out.py

:class:`CountPrimes` counts the primes below 1,000,000. ``plan()`` returns four cursors, one
per shard; each shard relays on its own through the job's queue, several hops running at
once, and counts the primes of its quarter, 2,000 numbers a unit.

What it shows:

* **Shards.** ``plan()`` returns a list of cursors, ``[[lo, hi], ...]``; each becomes a packet
  with its own cursor and its own copy of ``self.data``, so ``self.data["primes"]`` is that
  shard's count. (Cursors arrive frozen: a JSON array comes back as a tuple.)
* **Results out of the relay.** ``on_done`` writes each shard's count to a file (S3 or a
  database on AWS); the starter adds them up.
* **Teardown by the starter.** See :func:`run`: no shard can know that it is the last one.
* No sleeps here: trial division is real CPU work, enough for a 2-second function to relay.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.local.latency import Latency

#: Numbers tested by one unit of work.
CHUNK = 2_000


class CountPrimes(RelayJob):
    """Count the primes below ``data["n"]`` in ``data["shards"]`` parallel shards.

    ``data`` (all optional): ``n`` (default 1,000,000), ``shards`` (4), ``chunk`` (numbers a
    unit, 2,000), ``out_dir`` (where ``on_done`` writes ``shard-<i>.json``).
    """

    function_name = "count-primes-worker"

    def plan(self) -> list[list[int]]:
        n, shards = self.data.setdefault("n", 1_000_000), self.data.setdefault("shards", 4)
        self.data["primes"] = 0
        bounds = [n * i // shards for i in range(shards + 1)]
        return [[lo, hi] for lo, hi in pairwise(bounds)]

    def step(self, cursor: tuple[int, int]) -> Any:
        lo, hi = cursor
        end = min(lo + self.data.get("chunk", CHUNK), hi)
        self.data["primes"] += sum(1 for k in range(lo, end) if is_prime(k))
        return DONE if end >= hi else [end, hi]

    def on_done(self) -> None:
        if "out_dir" in self.data:
            assert self.packet is not None
            shard = self.packet.shard
            result = {"shard": shard, "primes": self.data["primes"], "hops": self.stats.hops}
            Path(self.data["out_dir"], f"shard-{shard}.json").write_text(json.dumps(result))


def is_prime(k: int) -> bool:
    """Trial division: slow on purpose, so that the work spans hops."""
    if k < 2:
        return False
    return all(k % d for d in range(2, int(k**0.5) + 1))


@dataclass(frozen=True)
class Counted:
    """What :func:`run` found after the job."""

    n: int
    primes: int  # the sum of the shards' counts
    shards_done: list[int]  # the shards that wrote a result
    hops: int  # over all shards
    left_over: list[str]


def run(
    n: int = 1_000_000,
    *,
    shards: int = 4,
    timeout_s: float = 2.0,
    chunk: int = CHUNK,
    latency: str | Latency | None = None,
    consistency: str | Consistency | None = None,
) -> Counted:
    """Count the primes below ``n`` with :class:`CountPrimes`, ``shards`` shards at once.

    ``latency`` and ``consistency``: AWS's, on the local runtime (see LocalLambda).
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalLambda(
            timeout_s=timeout_s, concurrency=4, latency=latency, consistency=consistency
        ) as lam,
    ):
        lam.deploy(CountPrimes)
        data = {"n": n, "shards": shards, "chunk": chunk, "out_dir": tmp}
        job = CountPrimes(data=data, backend=lam.backend)
        job.start()
        lam.run_until_idle(timeout_s=300)
        # A shard that finishes cannot know whether it is the last: the others may still be
        # running, and telling would take a ledger all shards share (not in this version).
        # So a finished shard leaves the queue and mapping in place, and the starter, which
        # has seen every shard through (the queue is idle), tears the job down.
        job.tear_down()
        results = [json.loads(p.read_text()) for p in sorted(Path(tmp).glob("shard-*.json"))]
        return Counted(
            n=n,
            primes=sum(r["primes"] for r in results),
            shards_done=sorted(r["shard"] for r in results),
            hops=sum(r["hops"] for r in results),
            left_over=lam.left_over(),
        )


def main() -> int:
    result = run()
    print(
        f"{result.primes:,} primes below {result.n:,}, counted by shards {result.shards_done} "
        f"in {result.hops} hops; left over: {', '.join(result.left_over) or 'none'}"
    )
    return 0 if result.primes == 78_498 and not result.left_over else 1


if __name__ == "__main__":
    sys.exit(main())
