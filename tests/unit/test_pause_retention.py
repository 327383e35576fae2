"""A pause longer than SQS keeps a message, begun while a delivery was in flight (issue 11).

Unit tier: the in-memory backends and MemoryLedger. A delivery "in flight" is a message taken
off the queue by an invocation that died (the memory queues have no visibility timeout, so a
message taken and never handled is what SQS drops after 14 days in a paused queue). Each test
failed before its fix.
"""

from __future__ import annotations

import pytest

from relaystate import JobState
from relaystate.errors import ThrottledError
from relaystate.testing import FakeClock, MemoryLedger
from relaystate.testing.memory import MemoryBackend
from tests.unit.test_job_control import Approval, Summer, backend, deliver, ledger_of, wall

__all__ = ["backend", "wall"]  # fixtures, used by name


def lose_in_flight(backend: MemoryBackend, queue_url: str) -> None:
    """Every message of the queue taken by an invocation that died: never handled, never back
    (SQS dropped it during the pause)."""
    backend.queues.queues[queue_url].messages.clear()


def test_start_keeps_each_first_packet_in_the_ledger(backend: MemoryBackend) -> None:
    job = Summer(data={}, backend=backend).start()
    assert job.packet is not None

    queued = [body for body, _ in backend.queues.queues[job.packet.queue_url].messages]
    assert sorted(queued) == sorted(ledger_of(backend).parked(job.job_id))


def test_a_first_packet_whose_delivery_died_before_its_claim_is_sent_by_unpause(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    # The ledger had no record of the shard: unpause had nothing to send, the shard never ran.
    job = Approval(data={"timeout_s": 1800}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    handle = Approval.attach(job.job_id, backend=backend, ledger="ledger")
    lose_in_flight(backend, url)  # invoked, killed before its claim

    handle.pause()
    handle.unpause()

    assert 1 == len(backend.queues.queues[url].messages)
    deliver(backend, job, wall, Approval)
    assert [("ask", None)] == Approval.ran


def test_unpause_does_not_send_first_packets_whose_shards_went_on(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    job = Summer(data={}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    for _ in range(3):
        deliver(backend, job, wall, Summer)  # shards 0-2 done; shard 3 queued
    handle = Summer.attach(job.job_id, backend=backend, ledger="ledger")

    handle.pause()
    handle.unpause()

    assert 1 == len(backend.queues.queues[url].messages)  # shard 3's, not those of 0-2
    assert [] == ledger_of(backend).parked(job.job_id)


def test_a_job_whose_last_shard_ended_but_not_its_teardown_is_torn_down_after_unpause(
    backend: MemoryBackend, wall: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The last shard recorded its end, then its teardown failed; its redelivery expired in the
    # paused queue, and unpause did not tear down: the job was never torn down, on_join never
    # ran.
    job = Summer(data={}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    for _ in range(3):
        deliver(backend, job, wall, Summer)

    def throttled(self: MemoryLedger, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        raise ThrottledError("throttled", service="dynamodb", operation="UpdateItem")

    with monkeypatch.context() as patched:
        patched.setattr(MemoryLedger, "claim_teardown", throttled)
        result = deliver(backend, job, wall, Summer)[0]
    assert [] != result["batchItemFailures"]  # left for a redelivery...
    lose_in_flight(backend, url)  # ...which SQS dropped during the pause
    handle = Summer.attach(job.job_id, backend=backend, ledger="ledger")
    handle.pause()

    handle.unpause()

    deliver(backend, job, wall, Summer)
    (results,) = Summer.joined
    assert [0, 1, 2, 3] == [r.result for r in results]
    status = job.status()
    assert status is not None
    assert JobState.TORN_DOWN == status.state
    assert url not in backend.queues.queues
