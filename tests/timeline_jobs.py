"""A 4-shard job with retries, a sleep and a timed-out invocation: what a timeline is for.

``python -m tests.timeline_jobs timeline.html`` runs it on LocalLambda with a ledger and draws
its page with ``relaystate timeline``; README's picture is that page, taken with ``chromium
--headless --screenshot``. ``relaystate run tests.timeline_jobs:FlakyShards --timeout 1
--retry-delay 1 --timeline run.html`` draws a local run's. tests/test_timeline_page.py runs both.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from relaystate import DONE, RelayJob, Retry, Sleep

#: Units per shard; each takes ``data["unit_s"]`` seconds (0.05 by default).
UNITS = 30
_once: set[tuple[str, int]] = set()
_lock = threading.Lock()


def first_time(job_id: str, cursor: int) -> bool:
    """True the first time a job meets ``cursor`` in this process."""
    with _lock:
        seen = (job_id, cursor) in _once
        _once.add((job_id, cursor))
    return not seen


class FlakyShards(RelayJob):
    """Shard 1 meets a unit error twice (retried in later hops), shard 2 sleeps 2 s, shard 3
    has an invocation that times out once (SQS delivers its packet again)."""

    job_type = "timeline_jobs.FlakyShards"
    function_name = "flaky-shards-worker"
    retry = Retry(attempts=1, hop_retries=3, hop_delay_s=1)
    timeline = True
    # With a ledger the timed-out hop's lease must run out before its redelivery may claim it:
    # here, where every Lambda shares one clock, half a second beyond the hop is enough.
    lease_margin_s = 0.5

    def plan(self) -> list[int]:
        return [shard * 100 for shard in range(4)]

    def step(self, cursor: int) -> Any:
        shard, unit = divmod(cursor, 100)
        time.sleep(float(self.data.get("unit_s", 0.05)))
        if (
            shard == 1
            and unit == 12
            and (first_time(self.job_id, -cursor) or first_time(self.job_id, -cursor - 1000))
        ):
            raise ConnectionError("the partner API answered 503 Service Unavailable")
        if shard == 2 and unit == 10 and first_time(self.job_id, cursor):
            return Sleep(2, cursor + 1)
        if shard == 3 and unit == 15 and first_time(self.job_id, cursor):
            time.sleep(float(self.data.get("stall_s", 3.0)))  # past the function's timeout
        return DONE if unit + 1 >= UNITS else cursor + 1


def main(page: str) -> None:
    """Run the job on LocalLambda with a ledger, then ``relaystate timeline`` to ``page``."""
    from relaystate.cli import cli
    from relaystate.local import LocalLambda

    with LocalLambda(timeout_s=1.0, concurrency=4, retry_delay_s=1) as lam:
        lam.deploy(FlakyShards)
        table = lam.ledger().table_name
        job = FlakyShards(backend=lam.backend, ledger=table).start()
        lam.run_until_idle(timeout_s=120)
        cli.main(
            ["timeline", job.job_id, "-o", page, "--ledger-table", table],
            obj=lam.backend,
            standalone_mode=False,
        )


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "timeline.html")
