"""A hop timeline in the ledger: each hop's entry kept in the write that ends it, capped.

Every ledger test runs on MemoryLedger and on DynamoDBLedger (moto's server on 127.0.0.1).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from relaystate import DONE, RelayJob
from relaystate.aws import DynamoDBLedger
from relaystate.ledger import JobStatus
from relaystate.ports import LedgerPort
from relaystate.testing import MemoryLedger, UnitsPerHop, memory_backend, sqs_event
from relaystate.timeline import TIMELINE_HOPS, HopEntry

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.functional)])
def ledger(request: pytest.FixtureRequest) -> Iterator[tuple[LedgerPort, list[str]]]:
    """A ledger, and the writes it makes."""
    if request.param == "memory":
        memory = MemoryLedger()
        yield memory, memory.calls  # type: ignore[misc]
        return
    from relaystate.local.server import local_client

    client = local_client("dynamodb", request.getfixturevalue("sqs_endpoint"))
    writes: list[str] = []
    for operation in WRITES:
        client.meta.events.register(
            f"before-call.dynamodb.{operation}", lambda event_name, **_: writes.append(event_name)
        )
    dynamodb = DynamoDBLedger(f"timeline-{uuid.uuid4().hex[:8]}", client=client)
    dynamodb.create_table(wait_s=10.0)
    yield dynamodb, writes
    client.close()


def entry(hop: int, outcome: str = "relayed", **more: Any) -> HopEntry:
    return HopEntry(
        hop=hop, started_ms=1_000 * hop, ended_ms=1_000 * hop + 800, outcome=outcome, **more
    )


def shard_timeline(status: JobStatus | None) -> tuple[HopEntry, ...]:
    assert status is not None
    (shard,) = status.shard_status
    return shard.timeline


def test_the_checkpoint_and_the_end_keep_the_hops_entries(
    ledger: tuple[LedgerPort, list[str]],
) -> None:
    port, _ = ledger
    port.open_job("j", shards=1, job_type="T", function_name="f")
    first = entry(0, units=40, work_ms=700, utilization=0.7, delay_s=5, memory_mb=512)
    last = entry(1, "failed", error="ValueError('bad row')")
    port.claim("j", 0, 0, "a", lease_ms=60_000)
    port.checkpoint("j", 0, 0, "a", outbox="{}", stats={}, cursor_json="1", timeline=first)
    port.claim("j", 0, 1, "b", lease_ms=60_000)
    port.finish("j", 0, 1, "b", stats={}, cursor_json="2", failed=True, timeline=last)
    assert (first, last) == shard_timeline(port.status("j"))


def test_a_wait_keeps_its_entry_too(ledger: tuple[LedgerPort, list[str]]) -> None:
    port, _ = ledger
    port.open_job("j", shards=1, job_type="T", function_name="f")
    port.claim("j", 0, 0, "a", lease_ms=60_000)
    waited = entry(0, "waiting")
    port.checkpoint(
        "j", 0, 0, "a", outbox="{}", stats={}, cursor_json="1", waiting="ok", timeline=waited
    )
    assert (waited,) == shard_timeline(port.status("j"))


def test_a_hop_costs_two_writes_with_or_without_its_entry(
    ledger: tuple[LedgerPort, list[str]],
) -> None:
    port, writes = ledger
    port.open_job("j", shards=1, job_type="T", function_name="f")
    counts = []
    for hop, kept in enumerate((None, entry(1))):
        before = len(writes)
        port.claim("j", 0, hop, "a", lease_ms=60_000)
        port.checkpoint("j", 0, hop, "a", outbox="{}", stats={}, cursor_json="1", timeline=kept)
        counts.append(len(writes) - before)
    assert [2, 2] == counts


def test_the_ledger_keeps_the_last_hundred_hops_of_a_shard() -> None:
    port = MemoryLedger()
    port.open_job("j", shards=1, job_type="T", function_name="f")
    for hop in range(TIMELINE_HOPS + 5):
        port.claim("j", 0, hop, "a", lease_ms=60_000)
        port.checkpoint(
            "j", 0, hop, "a", outbox="{}", stats={}, cursor_json="1", timeline=entry(hop)
        )
    kept = shard_timeline(port.status("j"))
    assert list(range(5, TIMELINE_HOPS + 5)) == [e.hop for e in kept]


class Counted(RelayJob):
    job_type = "test_timeline_ledger.Counted"
    function_name = "counted-worker"
    ledger = "relaystate-ledger"
    budget = UnitsPerHop.of(1)

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        return DONE if cursor >= 2 else cursor + 1


class Kept(Counted):
    job_type = "test_timeline_ledger.Kept"
    timeline = True


def run_to_the_end(job_class: type[RelayJob]) -> MemoryLedger:
    store = MemoryLedger()
    backend = memory_backend(ledgers=lambda _: store)
    job = job_class(backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    while (queue := backend.queues.queues.get(url)) is not None and queue.messages:
        job_class.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    return store


def test_a_job_keeps_its_timeline_only_when_its_class_says_so() -> None:
    plain, kept = run_to_the_end(Counted), run_to_the_end(Kept)
    ((job_id, _),) = plain.shards
    assert () == shard_timeline(plain.status(job_id))
    ((kept_id, _),) = kept.shards
    entries = shard_timeline(kept.status(kept_id))
    assert ["relayed", "relayed", "finished"] == [e.outcome for e in entries]
    assert [1, 1, 1] == [e.units for e in entries]
    assert all(e.started_ms <= e.ended_ms for e in entries)
    # the same writes a hop, whether it keeps its entry or not
    assert [c for c, _ in plain.calls] == [c for c, _ in kept.calls]
