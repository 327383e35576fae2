"""MemoryMappings.list_for_queue: the shipped fake answers like the adapters (unit tier)."""

from __future__ import annotations

from relaystate.testing import MemoryMappings

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:relay-1"


def test_memory_mappings_list_for_queue_returns_the_queues_mappings() -> None:
    mappings = MemoryMappings()
    mine = mappings.create("worker", QUEUE_ARN, batch_size=1, max_concurrency=None)
    mappings.create("worker", QUEUE_ARN + "-other", batch_size=1, max_concurrency=None)

    assert [mine] == mappings.list_for_queue(QUEUE_ARN)


def test_memory_mappings_list_for_queue_forgets_deleted_mappings() -> None:
    mappings = MemoryMappings()
    info = mappings.create("worker", QUEUE_ARN, batch_size=1, max_concurrency=None)
    mappings.delete(info.id)

    assert [] == mappings.list_for_queue(QUEUE_ARN)
