"""The last shard's delivery is not acknowledged while another invocation holds the teardown.

A duplicate that finds the job ended first claims the teardown; if it dies there, only a
redelivery takes it over -- and SQS may never bring the duplicate's message back (the delete
of the other copy reached it). Found by the simulator (sum_shards, seed 639, with shared
deletes): every shard done, the teardown held by a dead invocation, nothing left to redeliver,
the queue and mapping left for good. The last shard's delivery now comes back instead.

Unit tier: in-memory ports and ledger.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob
from relaystate import clock as relay_clock
from relaystate.testing import MemoryLedger, memory_backend, sqs_event


class Once(RelayJob):
    """One shard, one unit; counts its on_done."""

    function_name = "once-worker"
    ledger = "once"
    done: ClassVar[int] = 0

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        return DONE

    def on_done(self) -> None:
        Once.done += 1


def test_the_last_shard_comes_back_while_the_teardown_is_held_then_takes_it_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(relay_clock, "wall", lambda: now[0])
    Once.done = 0
    ledger = MemoryLedger()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Once(data={}, backend=backend).start()
    assert job.packet is not None
    body = backend.queues.pop(job.packet.queue_url)
    # A duplicate found the job ended and took the teardown; its Lambda dies there.
    assert ledger.claim_teardown(job.job_id, "the-duplicate", lease_ms=60_000)

    first = Once.handle(sqs_event(body), None, backend=backend)
    held = ledger.status(job.job_id)
    now[0] += 61  # the duplicate's lease runs out
    again = Once.handle(sqs_event(body), None, backend=backend)
    ended = ledger.status(job.job_id)

    assert [{"itemIdentifier": "msg-0"}] == first["batchItemFailures"]
    assert held is not None
    assert (1, False) == (held.done, held.state is JobState.TORN_DOWN)
    assert {"batchItemFailures": []} == again
    assert ended is not None
    assert ended.state is JobState.TORN_DOWN
    assert ({}, 1) == (backend.queues.queues, Once.done)
