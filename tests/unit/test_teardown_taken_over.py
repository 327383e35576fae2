"""A teardown taken over by another delivery runs ``on_join`` and applies the job's tolerance.

The last shard records its end, then claims the teardown and runs ``on_join``. If its Lambda
dies in between, the teardown is finished by a redelivery that finds the job ended (the
claim's ``teardown`` outcome) -- or by a duplicate of another shard's last hop that found it
first. That path tore the job down without the job: ``on_join`` never ran (the README: it
runs once, "a second time only if the Lambda running it dies before the ledger records the
teardown"), and a job with ``tolerated_failures`` whose tolerated shard failed ended
``failed``.

Unit tier: in-memory ports and ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from relaystate import DONE, JobState, RelayJob, Retry
from relaystate.ledger import ShardResult
from relaystate.testing import MemoryLedger, memory_backend, sqs_event


class Joined(RelayJob):
    """Two one-unit shards; shard 0 fails, which one tolerated failure allows."""

    function_name = "joined-worker"
    ledger = "joined"
    tolerated_failures = 1
    retry = Retry(attempts=1, hop_retries=0)
    joins: ClassVar[list[list[str]]] = []

    def plan(self) -> Any:
        return [0, 1]

    def step(self, cursor: Any) -> Any:
        if cursor == 0:
            raise RuntimeError("shard 0 fails on purpose")
        return DONE

    def on_join(self, results: Iterable[ShardResult]) -> None:
        Joined.joins.append([r.status for r in results])


class DiesAtTeardown(MemoryLedger):
    """The first claim of the teardown kills its Lambda (the shard's end is recorded)."""

    died = False

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        if not self.died:
            self.died = True
            raise RuntimeError("the Lambda is killed here")
        return super().claim_teardown(job_id, owner, lease_ms)


def test_a_redelivery_that_takes_the_teardown_over_runs_on_join_within_the_tolerance() -> None:
    Joined.joins = []
    ledger = DiesAtTeardown()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Joined(data={}, backend=backend).start()
    assert job.packet is not None
    first, last = (backend.queues.pop(job.packet.queue_url) for _ in range(2))
    assert {"batchItemFailures": []} == Joined.handle(sqs_event(first), None, backend=backend)

    died = Joined.handle(sqs_event(last), None, backend=backend)
    again = Joined.handle(sqs_event(last), None, backend=backend)
    ended = ledger.status(job.job_id)

    assert [{"itemIdentifier": "msg-0"}] == died["batchItemFailures"]
    assert {"batchItemFailures": []} == again
    assert ended is not None
    assert (JobState.TORN_DOWN, [["failed", "done"]]) == (ended.state, Joined.joins)
