"""A job with a ledger, cancelled (``tear_down()``) and then resumed, runs to its end.

``tear_down()`` holds the job's teardown in the ledger for good and records the job torn down.
A resume of such a job sent its packet again, but the ledger still showed the job torn down
and its teardown held: the last shard's join found the teardown busy for ever, and the job's
new queue and mapping were never deleted. A resume now reopens the job in the ledger first
(:meth:`~relaystate.ports.LedgerPort.reopen_job`); a job whose every shard had ended is not
reopened, and its resume is refused before anything is made.

Unit tier: in-memory ports and ledger.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob
from relaystate.errors import ConfigurationError, JobEndedError
from relaystate.testing import MemoryBackend, MemoryLedger, UnitsPerHop, memory_backend, sqs_event


class Walk(RelayJob):
    """Counts 0..data["to"]-1 on each shard, one number a hop; records units and joins."""

    function_name = "walk-worker"
    budget = UnitsPerHop.of(1)
    ledger = "walks"
    units: ClassVar[list[tuple[int, int]]] = []
    joins: ClassVar[list[list[str]]] = []

    def plan(self) -> Any:
        return [0] * self.data.get("shards", 1)

    def step(self, cursor: Any) -> Any:
        assert self.packet is not None
        Walk.units.append((self.packet.shard, cursor))
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1

    def on_join(self, results: Any) -> None:
        Walk.joins.append([r.status for r in results])


@pytest.fixture
def ports() -> tuple[MemoryBackend, MemoryLedger]:
    Walk.units, Walk.joins = [], []
    ledger = MemoryLedger()
    return memory_backend(ledgers=lambda table_name: ledger), ledger


def deliver(backend: MemoryBackend, url: str, limit: int = 50) -> None:
    """Deliver the queue's packets as SQS would, each failed one again, until none is left;
    a delivery is its message's last receive (``maxReceiveCount`` 5) from the first."""
    for _ in range(limit):
        queue = backend.queues.queues.get(url)
        if queue is None or not queue.messages:
            return
        body = backend.queues.pop(url)
        got = Walk.handle(sqs_event(body, receive_count=5), None, backend=backend)
        if got["batchItemFailures"]:
            backend.queues.send(url, body, 0)
    raise AssertionError(f"the queue still has packets after {limit} deliveries")


def cancelled(backend: MemoryBackend, shards: int = 1) -> tuple[Walk, list[str]]:
    """A job whose every shard ran its first hop, then cancelled; each shard's next packet."""
    job = Walk(data={"to": 4, "shards": shards}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    for _ in range(shards):
        Walk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    saved = [body for body, _ in backend.queues.queues[url].messages]
    job.tear_down()
    return job, saved


def test_a_cancelled_job_resumed_runs_to_its_end_and_is_torn_down(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job, saved = cancelled(backend)
    assert JobState.TORN_DOWN == ledger.status(job.job_id).state  # type: ignore[union-attr]

    resumed = Walk.resume(saved[0], backend=backend)
    running = ledger.status(job.job_id)
    assert resumed.packet is not None
    deliver(backend, resumed.packet.queue_url)

    status = ledger.status(job.job_id)
    assert running is not None
    assert JobState.QUEUED == resumed.state
    assert JobState.RUNNING == running.state  # reopened: no longer shown torn down
    assert status is not None
    assert (JobState.TORN_DOWN, 1) == (status.state, status.done)
    assert [(0, 0), (0, 1), (0, 2), (0, 3)] == Walk.units
    assert [["done"]] == Walk.joins
    assert {} == backend.queues.queues  # nothing left: the join tore the new queue down


def test_a_cancelled_fan_out_whose_other_shard_had_ended_is_joined_once_resumed(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job = Walk(data={"to": 2, "shards": 2}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    Walk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)  # shard 0, hop 0
    Walk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)  # shard 1, hop 0
    Walk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)  # shard 0 ends
    saved = backend.queues.pop(url)  # shard 1's last hop, saved; then the job is cancelled
    job.tear_down()

    resumed = Walk.resume(saved, backend=backend)
    assert resumed.packet is not None
    deliver(backend, resumed.packet.queue_url)

    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 2) == (status.state, status.done)
    assert [["done", "done"]] == Walk.joins
    assert {} == backend.queues.queues


def test_a_job_that_ran_to_its_end_is_not_resumed_and_nothing_is_made(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job = Walk(data={"to": 3}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    Walk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    saved = backend.queues.queues[url].messages[0][0]  # a packet of hop 1, saved
    deliver(backend, url)
    assert JobState.TORN_DOWN == ledger.status(job.job_id).state  # type: ignore[union-attr]

    with pytest.raises(JobEndedError, match=r"every shard of job \w+ has ended") as raised:
        Walk.resume(saved, backend=backend)

    assert isinstance(raised.value, ConfigurationError)  # as a torn-down packet's resume is
    assert {} == backend.queues.queues
    assert {} == backend.mappings.mappings
    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.TORN_DOWN == status.state
    assert [["done"]] == Walk.joins


def test_a_cancelled_job_resumed_twice_from_the_same_packet_runs_each_unit_once(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job, saved = cancelled(backend)

    first = Walk.resume(saved[0], backend=backend)
    again = Walk.resume(saved[0], backend=backend)  # the user runs it twice
    assert first.packet is not None
    assert again.packet is not None
    deliver(backend, first.packet.queue_url)

    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 1) == (status.state, status.done)
    assert [(0, 0), (0, 1), (0, 2), (0, 3)] == Walk.units
    assert [["done"]] == Walk.joins


def test_a_cancel_that_ends_after_a_resume_reopened_the_job_does_not_mark_it_torn_down(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    job = Walk(data={"to": 2}, backend=backend).start()
    assert job.packet is not None
    saved = job.packet.to_json()
    # A cancel, slow: it has claimed the teardown; the resume comes before it records it.
    assert ledger.claim_teardown(job.job_id, "tear_down()")
    Walk.resume(saved, backend=backend)
    ledger.mark_torn_down(job.job_id, owner="tear_down()")

    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.RUNNING == status.state  # reopened, and not marked torn down after


def test_an_older_packet_of_a_cancelled_job_goes_on_from_the_latest_the_ledger_holds(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    # A copy of a hop that already ran would be acknowledged as a duplicate and stop its
    # shard: the resume sends the shard's latest packet instead, which the ledger holds.
    backend, ledger = ports
    job = Walk(data={"to": 4}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    older = backend.queues.pop(url)  # hop 0, saved before it ran
    Walk.handle(sqs_event(older), None, backend=backend)
    backend.queues.pop(url)  # hop 1, lost with the queue
    job.tear_down()

    resumed = Walk.resume(older, backend=backend)
    assert resumed.packet is not None
    deliver(backend, resumed.packet.queue_url)

    assert 1 == resumed.packet.hop
    assert [(0, 0), (0, 1), (0, 2), (0, 3)] == Walk.units
    assert {} == backend.queues.queues
    assert JobState.TORN_DOWN == ledger.status(job.job_id).state  # type: ignore[union-attr]


def test_a_packet_of_an_ended_shard_of_a_cancelled_fan_out_is_refused(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, _ = ports
    job = Walk(data={"to": 1, "shards": 2}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    first = backend.queues.pop(url)
    Walk.handle(sqs_event(first), None, backend=backend)  # its shard ends at hop 0
    job.tear_down()  # the other shard never ran

    with pytest.raises(ConfigurationError, match="resume its unfinished shards' latest packets"):
        Walk.resume(first, backend=backend)
    assert ({}, {}) == (backend.queues.queues, backend.mappings.mappings)
