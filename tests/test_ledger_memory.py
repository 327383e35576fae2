"""A job with a ledger on the in-memory backend: ``ledger="<table>"`` works there (unit tier)."""

from __future__ import annotations

from typing import Any, ClassVar

from relaystate import DONE, JobState, RelayJob
from relaystate.testing import MemoryBackend, MemoryLedger, UnitsPerHop, memory_backend, sqs_event


class Count(RelayJob):
    """Counts 0..data["to"]-1, one number a unit, two units a hop; every unit is recorded."""

    function_name = "count-worker"
    budget = UnitsPerHop.of(2)
    ledger = "counts"
    ran: ClassVar[list[int]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Count.ran.append(cursor)
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1


def drain(backend: MemoryBackend, job: RelayJob) -> list[str]:
    """Deliver the job's packets one by one until its queue is gone; the bodies delivered."""
    assert job.packet is not None
    url = job.packet.queue_url
    delivered = []
    while url in backend.queues.queues and backend.queues.queues[url].messages:
        body = backend.queues.pop(url)
        delivered.append(body)
        Count.handle(sqs_event(body), None, backend=backend)
    return delivered


def test_a_job_names_a_ledger_of_the_memory_backend_by_table() -> None:
    Count.ran = []
    backend = memory_backend()
    job = Count(data={"to": 6}, backend=backend).start()

    drain(backend, job)

    status = job.status()
    assert status is not None
    assert (JobState.TORN_DOWN, 6) == (status.state, status.units)
    assert [0, 1, 2, 3, 4, 5] == Count.ran
    assert {} == backend.queues.queues


def test_a_duplicate_delivery_on_the_memory_ledger_runs_no_unit() -> None:
    Count.ran = []
    ledger = MemoryLedger()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Count(data={"to": 6}, backend=backend).start()
    first = drain(backend, job)[0]

    assert {"batchItemFailures": []} == Count.handle(sqs_event(first), None, backend=backend)
    assert [0, 1, 2, 3, 4, 5] == Count.ran
    assert ("open_job", job.job_id) == ledger.calls[0]
