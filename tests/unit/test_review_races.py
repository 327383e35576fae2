"""Counter-examples found by review of the resume/cancel/teardown paths (cancelresume, dlq392,
resumeleak): what a user does at the same time as a job's join or cancel, or what AWS does late.

Each test states what must hold; a test marked ``xfail(strict=True)`` shows a defect not fixed
yet (its reason names the cause). Unit tier: in-memory ports and ledger; a concurrent call is
made from inside the other (a hook), at the moment the race needs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob, resources
from relaystate.errors import MappingTimeoutError
from relaystate.testing import MemoryBackend, MemoryLedger, UnitsPerHop, memory_backend, sqs_event


class RaceWalk(RelayJob):
    """Counts 0..data["to"]-1 on each shard; the shard ``fail_shard`` raises; ``during_join``
    runs inside ``on_join`` (a call another process makes while the join runs)."""

    function_name = "race-walk-worker"
    budget = UnitsPerHop.of(1)
    ledger = "race-walks"
    fail_shard: ClassVar[int | None] = None
    units: ClassVar[list[tuple[int, int]]] = []
    joins: ClassVar[list[list[str]]] = []
    during_join: ClassVar[Any] = None

    def plan(self) -> Any:
        return [0] * self.data.get("shards", 1)

    def step(self, cursor: Any) -> Any:
        assert self.packet is not None
        if self.packet.shard == RaceWalk.fail_shard:
            raise RuntimeError("boom")
        RaceWalk.units.append((self.packet.shard, cursor))
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1

    def on_join(self, results: Any) -> None:
        RaceWalk.joins.append([r.status for r in results])
        if RaceWalk.during_join is not None:
            act, RaceWalk.during_join = RaceWalk.during_join, None
            act()


@pytest.fixture
def ports() -> tuple[MemoryBackend, MemoryLedger]:
    RaceWalk.units, RaceWalk.joins, RaceWalk.fail_shard, RaceWalk.during_join = [], [], None, None
    ledger = MemoryLedger()
    return memory_backend(ledgers=lambda table_name: ledger), ledger


def deliver_all(backend: MemoryBackend, limit: int = 60) -> None:
    """Deliver every queue's packets, as SQS would (each delivery its message's last receive,
    ``maxReceiveCount`` 5), each failed one again, until no queue fed by a mapping holds one."""
    for _ in range(limit):
        urls = [
            url
            for url, queue in backend.queues.queues.items()
            if queue.messages and not url.endswith("-dlq")
        ]
        if not urls:
            return
        url = urls[0]
        body = backend.queues.pop(url)
        got = RaceWalk.handle(sqs_event(body, receive_count=5), None, backend=backend)
        if got["batchItemFailures"]:
            backend.queues.send(url, body, 0)
    raise AssertionError(f"the queues still have packets after {limit} deliveries")


@pytest.mark.xfail(
    strict=True,
    reason="a failed shard resumed while the join runs loses its packet: requeue() joins the "
    "packet's queue, still fed (start.py _fed), and the join then deletes it "
    "(lifecycle.py join_teardown -> release); reopen_job lets a live join's teardown go",
)
def test_a_failed_shard_resumed_during_the_join_is_not_lost(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    backend, ledger = ports
    RaceWalk.fail_shard = 1
    job = RaceWalk(data={"to": 2, "shards": 2}, backend=backend).start()
    assert job.packet is not None
    dlq = job.packet.dlq_url
    resumed: list[RaceWalk] = []

    def resume_the_failed_shard() -> None:
        # An operator resumes shard 1's packet from the DLQ while shard 0's join runs.
        RaceWalk.fail_shard = None
        body = backend.queues.pop(dlq)
        resumed.append(RaceWalk.resume(body, backend=backend))

    RaceWalk.during_join = resume_the_failed_shard
    deliver_all(backend)
    assert resumed, "the join ran with shard 1 failed"
    deliver_all(backend)
    # Shard 1's resumed units ran and the job ended; nothing of it is left.
    assert (1, 0) in RaceWalk.units
    assert (1, 1) in RaceWalk.units
    status = ledger.status(job.job_id)
    assert status is not None
    assert status.state is JobState.DONE
    assert backend.queues.queues == {}


@pytest.mark.xfail(
    strict=True,
    reason="tear_down() lists the job's other queues only when its packet's queue is one a "
    "resume made (lifecycle.py release: names.resumed(packet.queue_url)); the start's handle "
    "names the first queue, so a resumed queue and mapping are left and run on",
)
def test_a_cancel_from_the_start_s_handle_after_a_resume_stops_the_resumed_job(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    """Cancelled, resumed (into a fresh queue: the first is gone), cancelled again by the
    handle ``start()`` gave, whose packet names the job's first queue: the resumed queue and
    its mapping go too, and no unit runs after the cancel. They were left, the resumed shard
    ran on under a ledger that says torn down, and its join could never take the teardown."""
    backend, ledger = ports
    job = RaceWalk(data={"to": 3}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    RaceWalk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    saved = [body for body, _ in backend.queues.queues[url].messages]
    job.tear_down()
    resumed = RaceWalk.resume(saved[0], backend=backend)
    assert resumed.packet is not None
    assert resumed.packet.queue_url != url
    job.tear_down()
    status = ledger.status(job.job_id)
    assert status is not None
    assert status.state is JobState.TORN_DOWN
    assert backend.queues.queues == {}
    assert [m for m in backend.mappings.mappings.values() if m.state != "Deleting"] == []
    deliver_all(backend)
    assert RaceWalk.units == [(0, 0)]


@pytest.mark.xfail(
    strict=True,
    reason="a cancel that lands while a resume runs, after its reopen_job and before it makes "
    "the queue (start.py requeue: reopen_job, then resources.ensure), records the job torn "
    "down, teardown held for good; the resume then makes a queue and mapping the cancel never "
    "saw: the shard runs on after the cancel and its queue and mapping are left",
)
def test_a_cancel_during_a_resume_leaves_nothing_running(
    ports: tuple[MemoryBackend, MemoryLedger], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, ledger = ports
    job = RaceWalk(data={"to": 3}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    RaceWalk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    saved = [body for body, _ in backend.queues.queues[url].messages]
    job.tear_down()
    ensure = resources.ensure

    def cancelled_meanwhile(*args: Any, **kwargs: Any) -> Any:
        job.tear_down()  # an operator cancels the job again while the resume runs
        return ensure(*args, **kwargs)

    monkeypatch.setattr(resources, "ensure", cancelled_meanwhile)
    RaceWalk.resume(saved[0], backend=backend)
    monkeypatch.setattr(resources, "ensure", ensure)
    deliver_all(backend)
    # Whichever wins, nothing is left; a job the ledger calls cancelled ran nothing after.
    assert backend.queues.queues == {}
    assert [m for m in backend.mappings.mappings.values() if m.state != "Deleting"] == []
    status = ledger.status(job.job_id)
    assert status is not None
    if status.state is JobState.TORN_DOWN:
        assert RaceWalk.units == [(0, 0)]
    else:
        assert status.state is JobState.DONE
        assert RaceWalk.units == [(0, 0), (0, 1), (0, 2)]


@pytest.mark.xfail(
    strict=True,
    raises=MappingTimeoutError,
    reason="a resume into a paused job's queue waits for its Disabled mapping to be Enabled, "
    "which only unpause() does (resources.py ensure: wait_for_mapping(enabled=True)), and "
    "raises MappingTimeoutError saying the setup was rolled back (it was not: nothing to roll "
    "back); start.py _fed/_joined take a Disabled mapping as live",
)
def test_a_paused_job_s_packet_resumed_waits_for_the_unpause(
    ports: tuple[MemoryBackend, MemoryLedger],
) -> None:
    """A shard's packet resumed while its job is paused is queued; it runs after unpause()."""
    backend, ledger = ports
    job = RaceWalk(data={"to": 3, "shards": 2}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    for _ in range(2):
        RaceWalk.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    saved = [body for body, _ in backend.queues.queues[url].messages]
    job.pause()
    RaceWalk.resume(saved[0], backend=backend)
    job.unpause()
    deliver_all(backend)
    status = ledger.status(job.job_id)
    assert status is not None
    assert status.state is JobState.DONE
    assert sorted(RaceWalk.units) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert backend.queues.queues == {}
