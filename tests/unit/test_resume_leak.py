"""Resuming a fan-out leaves no queue behind: its resumes share the job's one live queue and
mapping, and the job's teardown deletes every queue and mapping of the job, whatever made them.

A resume whose packet's queue was gone made a queue and mapping of its own under a fresh name,
each resume another; the join deleted only the queue its last shard came from. A cancelled
fan-out resumed shard by shard, or a fan-out whose shards parked packets in the DLQ resumed
from there, left all but one of them until ``relaystate reap``.

Unit tier: in-memory ports and ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob, Retry, WaitFor
from relaystate.errors import ConfigurationError
from relaystate.ports import QueueRef
from relaystate.testing import MemoryBackend, MemoryLedger, UnitsPerHop, memory_backend, sqs_event


class Pace(RelayJob):
    """Counts 0..data["to"]-1 on each shard, one number a hop; shard 1 fails while
    ``Pace.broken``; records units and joins."""

    function_name = "pace-worker"
    budget = UnitsPerHop.of(1)
    retry = Retry(attempts=1, hop_retries=0)
    units: ClassVar[list[tuple[int, int]]] = []
    joins: ClassVar[list[list[str]]] = []
    broken: ClassVar[bool] = False

    def plan(self) -> Any:
        return [0] * self.data.get("shards", 2)

    def step(self, cursor: Any) -> Any:
        assert self.packet is not None
        if Pace.broken and cursor == 1:
            raise RuntimeError("the API is down")
        Pace.units.append((self.packet.shard, cursor))
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1

    def on_join(self, results: Any) -> None:
        Pace.joins.append([r.status for r in results])


@pytest.fixture
def ports() -> Iterator[tuple[MemoryBackend, MemoryLedger]]:
    Pace.units, Pace.joins, Pace.broken = [], [], False
    ledger = MemoryLedger()
    yield memory_backend(ledgers=lambda table_name: ledger), ledger
    Pace.broken = False


def drain(backend: MemoryBackend, limit: int = 100) -> None:
    """Deliver every queue's packets as SQS would, each failed one again, until none is left."""
    for _ in range(limit):
        busy = [url for url, queue in backend.queues.queues.items() if queue.messages]
        busy = [url for url in busy if not url.endswith("-dlq")]
        if not busy:
            return
        body = backend.queues.pop(busy[0])
        got = Pace.handle(sqs_event(body, receive_count=5), None, backend=backend)
        if got["batchItemFailures"]:
            backend.queues.send(busy[0], body, 0)
    raise AssertionError(f"the queues still have packets after {limit} deliveries")


def cancelled(backend: MemoryBackend, shards: int = 2) -> tuple[Pace, list[str]]:
    """A fan-out whose every shard ran its first hop, then cancelled; each shard's next packet."""
    job = Pace(data={"to": 3, "shards": shards}, backend=backend, ledger="t").start()
    assert job.packet is not None
    url = job.packet.queue_url
    for _ in range(shards):
        Pace.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    saved = [body for body, _ in backend.queues.queues[url].messages]
    job.tear_down()
    return job, saved


def left(backend: MemoryBackend) -> list[str]:
    """What is left of the job's queues and mappings (the ``lam.left_over()`` of the fakes)."""
    return sorted(backend.queues.queues) + sorted(backend.mappings.mappings)


def test_a_cancelled_fan_out_resumed_shard_by_shard_shares_one_queue_and_leaves_nothing(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job, saved = cancelled(backend)

    first = Pace.resume(saved[0], backend=backend)
    second = Pace.resume(saved[1], backend=backend)
    made = dict(backend.mappings.mappings)
    drain(backend)

    assert first.packet is not None
    assert second.packet is not None
    assert first.packet.queue_url == second.packet.queue_url  # the job's one live queue
    assert first.packet.mapping_id == second.packet.mapping_id
    assert 1 == len(made)
    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 2) == (status.state, status.done)
    assert [["done", "done"]] == Pace.joins
    assert [] == left(backend)


def test_a_fan_out_resumed_from_its_dead_letters_leaves_nothing(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    Pace.broken = True
    job = Pace(data={"to": 3, "shards": 3}, backend=backend, ledger="t").start()
    assert job.packet is not None
    drain(backend)  # every shard fails at its hop 1: three packets in the DLQ, the queue gone
    dead = [body for body, _ in backend.queues.queues[job.packet.dlq_url].messages]
    assert 3 == len(dead)
    assert [job.packet.dlq_url] == sorted(backend.queues.queues)

    Pace.broken = False
    backend.queues.queues[job.packet.dlq_url].messages.clear()  # as resume --from-dlq does
    resumed = [Pace.resume(body, backend=backend) for body in dead]
    drain(backend)

    assert 1 == len({r.packet.queue_url for r in resumed if r.packet is not None})
    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 3) == (status.state, status.done)
    assert [] == left(backend)


def test_queues_made_by_resumes_at_once_are_all_torn_down_by_the_join(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job, saved = cancelled(backend)
    listed = backend.queues.list_named
    # Two resumes at once: neither sees the other's new queue (AWS lists a new queue late).
    backend.queues.list_named = lambda prefix: []  # type: ignore[method-assign]
    first = Pace.resume(saved[0], backend=backend)
    second = Pace.resume(saved[1], backend=backend)
    backend.queues.list_named = listed  # type: ignore[method-assign]
    drain(backend)

    assert first.packet is not None
    assert second.packet is not None
    assert first.packet.queue_url != second.packet.queue_url
    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 2) == (status.state, status.done)
    assert [] == left(backend)  # the join took the other resume's queue and mapping too


def test_the_teardown_of_a_resumed_job_leaves_a_job_whose_id_begins_alike_alone(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, _ = ports
    other = Pace(data={"to": 3}, backend=backend, ledger="t", job_id="job-12").start()
    job = Pace(data={"to": 2, "shards": 1}, backend=backend, ledger="t", job_id="job-1").start()
    assert job.packet is not None
    Pace.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), None, backend=backend)
    saved = backend.queues.pop(job.packet.queue_url)
    job.tear_down()
    resumed = Pace.resume(saved, backend=backend)
    assert resumed.packet is not None
    Pace.handle(sqs_event(backend.queues.pop(resumed.packet.queue_url)), None, backend=backend)

    assert other.packet is not None
    assert [other.packet.queue_url, other.packet.dlq_url] == sorted(backend.queues.queues)
    assert [other.packet.mapping_id] == list(backend.mappings.mappings)


def test_memory_queues_list_the_queues_whose_name_begins_with_a_prefix() -> None:
    backend = memory_backend()
    for name in ("relay-a", "relay-a-dlq", "relay-ab", "other"):
        backend.queues.create(name, {}, {})

    assert ["relay-a", "relay-a-dlq", "relay-ab"] == sorted(
        ref.url.rsplit("/", 1)[-1] for ref in backend.queues.list_named("relay-a")
    )
    assert all(isinstance(ref, QueueRef) for ref in backend.queues.list_named(""))


@pytest.mark.parametrize("behind", [1, 2])
def test_an_older_packet_resumed_after_a_cancel_goes_on_from_the_ledgers_latest(
    ports: tuple[MemoryBackend, MemoryLedger], behind: int
) -> None:
    backend, ledger = ports
    job = Pace(data={"to": 4, "shards": 1}, backend=backend, ledger="t").start()
    assert job.packet is not None
    url = job.packet.queue_url
    saved = [backend.queues.queues[url].messages[0][0]]  # hop 0's packet
    for _ in range(2):  # hops 0 and 1 run; each packet is saved as it is sent
        Pace.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
        saved.append(backend.queues.queues[url].messages[0][0])
    job.tear_down()  # the cancel, with hop 2's packet in the queue

    resumed = Pace.resume(saved[2 - behind], backend=backend)
    drain(backend)

    assert resumed.packet is not None
    assert 2 == resumed.packet.hop  # the latest packet the ledger holds for the shard
    assert [(0, 0), (0, 1), (0, 2), (0, 3)] == Pace.units
    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 1) == (status.state, status.done)
    assert [] == left(backend)


class Asks(RelayJob):
    """Waits for "approved" at its first hop, then ends."""

    function_name = "asks-worker"
    retry = Retry(attempts=1, hop_retries=0)

    def step(self, cursor: Any) -> Any:
        return WaitFor("approved", 1) if cursor is None else DONE


def test_an_older_packet_of_a_shard_that_waits_for_a_signal_is_refused_and_nothing_made(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, _ = ports
    job = Asks(backend=backend, ledger="t").start()
    assert job.packet is not None
    first = backend.queues.pop(job.packet.queue_url)
    Asks.handle(sqs_event(first), None, backend=backend)  # it waits: the ledger keeps hop 1
    job.tear_down()

    with pytest.raises(ConfigurationError, match=r"hop 1"):
        Asks.resume(first, backend=backend)

    assert [] == left(backend)
