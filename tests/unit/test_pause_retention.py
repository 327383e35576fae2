"""A pause longer than SQS keeps a message, begun while a delivery was in flight (issue 11).

Unit tier: the in-memory backends and MemoryLedger. A delivery "in flight" is a message taken
off the queue by an invocation that died (the memory queues have no visibility timeout, so a
message taken and never handled is what SQS drops after 14 days in a paused queue). Each test
failed before its fix.
"""

from __future__ import annotations

import json

import pytest

from relaystate import JobState, lifecycle
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

    (sent,) = [body for body, _ in backend.queues.queues[url].messages]
    assert 3 == json.loads(sent)["shard"]  # shard 3's, not those of 0-2
    # Those of 0-2 are forgotten; shard 3's stays parked until its hop is committed.
    assert [sent] == ledger_of(backend).parked(job.job_id)


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


def test_a_first_packet_sent_back_by_an_unpause_survives_a_second_long_pause(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    # Found by review: unpause() sent the parked first packet back and forgot every parked
    # body; the shard still has no ledger record. Its delivery dies before the claim, a second
    # pause longer than 14 days lets SQS drop it: nothing holds it any more, the shard never
    # runs.
    job = Approval(data={"timeout_s": 1800}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    handle = Approval.attach(job.job_id, backend=backend, ledger="ledger")
    handle.pause()
    handle.unpause()  # the first packet goes back into the queue, and is forgotten
    assert 1 == len(backend.queues.queues[url].messages)
    lose_in_flight(backend, url)  # invoked, killed before its claim; dropped during pause 2

    handle.pause()
    handle.unpause()

    assert 1 == len(backend.queues.queues[url].messages), ledger_of(backend).parked(job.job_id)
    deliver(backend, job, wall, Approval)
    assert [("ask", None)] == Approval.ran


def test_unpause_of_a_resumed_job_sends_no_first_packet_of_its_old_queue(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    # Found by review. Shard 3 fails at hop 0, the job is torn down (its queue goes, the DLQ
    # stays); it is resumed into a fresh queue. The start parked shard 3's first packet,
    # naming the old queue; shard 3 is at hop 0 again (queued), so unpause sent it: a packet
    # that names another queue, refused by every delivery until SQS moves it to the DLQ.
    job = Summer(data={"break": True}, backend=backend).start()
    assert job.packet is not None
    old_url = job.packet.queue_url
    for _ in range(4):
        deliver(backend, job, wall, Summer)
    assert old_url not in backend.queues.queues
    (failed,) = [body for body, _ in backend.queues.queues[job.packet.dlq_url].messages]
    resumed = Summer.resume(failed, backend=backend)
    assert resumed.packet is not None
    new_url = resumed.packet.queue_url
    assert new_url != old_url

    resumed.pause()
    resumed.unpause()

    queued = [json.loads(body) for body, _ in backend.queues.queues[new_url].messages]
    assert [new_url] * len(queued) == [packet["queue_url"] for packet in queued]


@pytest.mark.parametrize(("limit", "kept"), [(10**6, True), (10, False)])
def test_a_shard_keeps_its_packet_at_its_end_only_while_it_and_the_result_fit_an_item(
    backend: MemoryBackend, wall: FakeClock, monkeypatch: pytest.MonkeyPatch, limit: int, kept: bool
) -> None:
    # Found by review: with the packet kept, a packet and a result of some 200 KB each made the
    # shard's item outgrow DynamoDB's 400 KB: every finish refused, on_done run on each retry.
    monkeypatch.setattr(lifecycle, "KEEP_PACKET_BYTES", limit)
    job = Summer(data={}, backend=backend).start()
    assert job.packet is not None

    deliver(backend, job, wall, Summer)

    (shard,) = [s for (job_id, _), s in ledger_of(backend).shards.items() if job_id == job.job_id]
    assert kept == (shard.outbox is not None)
