"""A job with a ledger on the in-memory backend: ``ledger="<table>"`` works there (unit tier)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import pytest

from relaystate import DONE, JobState, RelayJob, RelayPacket, Retry
from relaystate import clock as relay_clock
from relaystate.errors import ThrottledError
from relaystate.testing import (
    MemoryBackend,
    MemoryLedger,
    MemoryQueues,
    UnitsPerHop,
    memory_backend,
    sqs_event,
)


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


def test_a_hop_costs_two_ledger_writes_its_claim_and_its_checkpoint() -> None:
    ledger = MemoryLedger()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Count(data={"to": 6}, backend=backend).start()  # 3 hops of 2 units

    drain(backend, job)

    assert [
        "open_job",
        "park",  # the first packet, once a shard: unpause sends it if no hop claimed it
        *["claim", "checkpoint"] * 2,
        "claim",
        "finish",
        "claim_teardown",
        "status",  # once a job: did a shard fail? (its packet is in the DLQ, whatever SQS says)
        "mark_torn_down",
    ] == [operation for operation, _ in ledger.calls]


class SendFailsOnce(MemoryQueues):
    """The first send of hop 1's packet fails: a Lambda that died between checkpoint and send."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        if not self.failed and '"hop":1' in body:
            self.failed = True
            raise ThrottledError("injected: the send after the checkpoint failed")
        return super().send(url, body, delay_seconds)


class FailsOnce(Count):
    """Hop 0's second unit fails once: the hop relays with a 30 s delay to try it again."""

    job_type = "test_ledger_memory.FailsOnce"
    retry = Retry(attempts=1, hop_retries=1, hop_delay_s=30)
    failed: ClassVar[bool] = False

    def step(self, cursor: Any) -> Any:
        if cursor == 1 and not FailsOnce.failed:
            FailsOnce.failed = True
            raise RuntimeError("injected unit error")
        return super().step(cursor)


def test_a_resent_outbox_keeps_the_relays_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_796_000_000.0]
    monkeypatch.setattr(relay_clock, "wall", lambda: now[0])
    FailsOnce.failed = False
    backend = attrs.evolve(memory_backend(), queues=SendFailsOnce())
    job = FailsOnce(data={"to": 6}, backend=backend).start()
    assert job.packet is not None
    first = backend.queues.pop(job.packet.queue_url)
    failed = FailsOnce.handle(sqs_event(first), None, backend=backend)
    assert [{"itemIdentifier": "msg-0"}] == failed["batchItemFailures"]  # the send failed

    now[0] += 30  # SQS delivers hop 0 again, after the visibility timeout
    FailsOnce.handle(sqs_event(first), None, backend=backend)

    [(body, delay)] = backend.queues.queues[job.packet.queue_url].messages
    assert (1, 30) == (RelayPacket.from_json(body).hop, delay)


class BrokenOnce(Count):
    """Its first unit fails the shard (no retries); resumed, it counts on."""

    job_type = "test_ledger_memory.BrokenOnce"
    retry = Retry(attempts=1, hop_retries=0)
    broken: ClassVar[bool] = False

    def step(self, cursor: Any) -> Any:
        if not BrokenOnce.broken:
            BrokenOnce.broken = True
            raise RuntimeError("injected: the shard fails")
        return super().step(cursor)


def test_a_failed_shard_resumed_from_its_parked_packet_runs_to_the_end() -> None:
    Count.ran, BrokenOnce.broken = [], False
    backend = memory_backend()
    job = BrokenOnce(data={"to": 4}, backend=backend).start()
    assert job.packet is not None
    first = backend.queues.pop(job.packet.queue_url)
    BrokenOnce.handle(sqs_event(first), None, backend=backend)
    parked = backend.queues.pop(job.packet.dlq_url)
    # A late duplicate of the failed hop is acknowledged: the failure is not counted twice.
    BrokenOnce.handle(sqs_event(first), None, backend=backend)
    assert [] == Count.ran

    resumed = BrokenOnce.resume(parked, backend=backend)
    drain(backend, resumed)

    status = resumed.status()
    assert status is not None
    assert (JobState.TORN_DOWN, 1, 0) == (status.state, status.done, status.failed)
    assert [0, 1, 2, 3] == Count.ran
