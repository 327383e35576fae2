"""Job control over the in-memory ports: sleep, wait for a signal, pause, attach, the join.

Unit tier: no endpoint; hops are handed their packets as SQS would, on a fake clock (the wall
clock relaystate reads is replaced, so a sleep of days passes in no time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs
import pytest

from relaystate import DONE, JobState, RelayJob, RelayPacket, Retry, Sleep, WaitFor
from relaystate import clock as relay_clock
from relaystate.budget import SEND_LATENCIES
from relaystate.errors import (
    ConfigurationError,
    SignalConflictError,
    UnknownJobError,
    VersionMismatchError,
)
from relaystate.ledger import ShardResult
from relaystate.testing import FakeClock, FakeContext, MemoryLedger, memory_backend, sqs_event
from relaystate.testing.memory import MemoryBackend


@pytest.fixture(autouse=True)
def wall(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    SEND_LATENCIES.clear()
    fake = FakeClock(now=1_796_000_000_000.0)  # ms since the epoch
    monkeypatch.setattr(relay_clock, "wall", lambda: fake.now / 1000.0)
    Nightly.ran = []
    Approval.ran = []
    Summer.joined = []
    return fake


@pytest.fixture
def backend() -> MemoryBackend:
    ledger = MemoryLedger("ledger")
    return memory_backend(ledgers=lambda table_name: ledger)


def ledger_of(backend: MemoryBackend) -> MemoryLedger:
    assert backend.ledgers is not None
    found = backend.ledgers("ledger")
    assert isinstance(found, MemoryLedger)
    return found


def deliver(
    backend: MemoryBackend, job: RelayJob, wall: FakeClock, job_class: type[RelayJob]
) -> tuple[dict[str, Any], int]:
    """The oldest packet of the job's queue to its worker; the result, and the packet's delay.

    The fake wall clock moves by the delay first, as the message was due only then.
    """
    assert job.packet is not None
    queue = backend.queues.queues[job.packet.queue_url]
    body, delay = queue.messages.popleft()
    wall.advance(delay * 1000.0)
    context = FakeContext(wall, 60_000)
    return job_class.handle(sqs_event(body), context, backend=backend), delay


# -- durable sleep --------------------------------------------------------------------------------


class Nightly(RelayJob):
    """Exports day 0, sleeps ``data["sleep_s"]``, exports day 1, and is done."""

    job_type = "test_job_control.Nightly"
    function_name = "nightly-worker"
    ran: ClassVar[list[tuple[int, float]]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: int) -> Any:
        Nightly.ran.append((cursor, relay_clock.wall()))
        if cursor == 0:
            return Sleep(self.data["sleep_s"], 1)
        return DONE


def test_a_short_sleep_is_one_delayed_relay(backend: MemoryBackend, wall: FakeClock) -> None:
    job = Nightly(data={"sleep_s": 600}, backend=backend).start()
    deliver(backend, job, wall, Nightly)

    _, delay = deliver(backend, job, wall, Nightly)

    assert 600 == delay
    assert [0, 1] == [cursor for cursor, _ in Nightly.ran]
    assert 600.0 == Nightly.ran[1][1] - Nightly.ran[0][1]


def test_a_sleep_of_a_day_is_chained_by_900_s_and_runs_no_unit_until_it_ends(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    job = Nightly(data={"sleep_s": 86_400}, backend=backend, max_hops=3).start()
    deliver(backend, job, wall, Nightly)  # day 0, then the sleep
    delays = []
    while job.packet is not None and backend.queues.queues.get(job.packet.queue_url):
        _, delay = deliver(backend, job, wall, Nightly)
        delays.append(delay)

    assert [0, 1] == [cursor for cursor, _ in Nightly.ran]
    assert 86_400 <= Nightly.ran[1][1] - Nightly.ran[0][1] < 86_401
    assert 96 == len(delays)  # 86,400 s / 900 s: one short wake-up each 15 minutes
    assert {900} == set(delays)
    assert {} == backend.queues.queues  # done and torn down (max_hops=3 counts work hops)


def test_a_sleep_over_a_year_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="a year"):
        Sleep(366 * 86_400, 1)


# -- waiting for a signal -------------------------------------------------------------------------


class Approval(RelayJob):
    """Asks, waits for "approved" (``data["timeout_s"]``), then records what came."""

    job_type = "test_job_control.Approval"
    function_name = "approval-worker"
    ledger = "ledger"
    retry = Retry(attempts=1, hop_retries=0)
    ran: ClassVar[list[tuple[str, Any]]] = []

    def plan(self) -> Any:
        return "ask"

    def step(self, cursor: str) -> Any:
        Approval.ran.append((cursor, self.signals.get("approved")))
        if cursor == "ask":
            return WaitFor("approved", "go", timeout_s=self.data.get("timeout_s"))
        return DONE


def test_a_wait_parks_the_packet_and_a_signal_wakes_it(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    job = Approval(backend=backend).start()
    deliver(backend, job, wall, Approval)
    assert job.packet is not None
    assert [] == list(backend.queues.queues[job.packet.queue_url].messages)  # nothing billed
    status = job.status()
    assert status is not None
    assert JobState.WAITING == status.state

    assert 1 == Approval.attach(job.job_id, backend=backend).signal("approved", {"by": "ann"})
    deliver(backend, job, wall, Approval)

    assert [("ask", None), ("go", {"by": "ann"})] == Approval.ran
    assert {} == backend.queues.queues


def test_a_signal_sent_before_the_wait_begins_is_kept(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    job = Approval(backend=backend).start()
    assert 0 == job.signal("approved", "early")  # nothing waits yet

    deliver(backend, job, wall, Approval)

    assert [("ask", None), ("go", "early")] == Approval.ran  # no wait at all
    assert {} == backend.queues.queues


def test_a_wait_times_out_and_goes_on_without_the_signal(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    job = Approval(data={"timeout_s": 2_000}, backend=backend).start()
    deliver(backend, job, wall, Approval)
    delays = []
    while job.packet is not None and backend.queues.queues.get(job.packet.queue_url):
        _, delay = deliver(backend, job, wall, Approval)
        delays.append(delay)

    assert [900, 900, 200] == delays  # the timer, chained
    assert [("ask", None), ("go", None)] == Approval.ran


def test_a_second_signal_with_another_payload_is_refused(backend: MemoryBackend) -> None:
    job = Approval(backend=backend).start()
    job.signal("approved", 1)
    job.signal("approved", 1)  # the same again: accepted, changes nothing

    with pytest.raises(SignalConflictError, match="approved"):
        job.signal("approved", 2)


def test_a_wait_without_a_ledger_fails_the_shard_saying_why(wall: FakeClock) -> None:
    backend = memory_backend()
    failures: list[BaseException | None] = []

    class Ledgerless(Approval):
        ledger = None

        def on_failed(self, error: BaseException | None) -> None:
            failures.append(error)

    job = Ledgerless(backend=backend).start()
    deliver(backend, job, wall, Ledgerless)

    (error,) = failures
    assert isinstance(error, ConfigurationError)
    assert "needs a ledger" in str(error)


# -- pause and attach -----------------------------------------------------------------------------


def test_pause_parks_the_queue_and_unpause_sends_it_back(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    job = Nightly(data={"sleep_s": 1}, backend=backend, ledger="ledger").start()
    assert job.packet is not None
    handle = Nightly.attach(job.job_id, backend=backend, ledger="ledger")

    handle.pause()

    assert JobState.PAUSED == handle.state
    assert "Disabled" == backend.mappings.mappings[job.packet.mapping_id].state
    assert [] == list(backend.queues.queues[job.packet.queue_url].messages)  # parked
    status = job.status()
    assert status is not None
    assert JobState.PAUSED == status.state

    handle.unpause()

    assert "Enabled" == backend.mappings.mappings[job.packet.mapping_id].state
    assert 1 == len(backend.queues.queues[job.packet.queue_url].messages)
    while backend.queues.queues.get(job.packet.queue_url):
        deliver(backend, job, wall, Nightly)
    assert [0, 1] == [cursor for cursor, _ in Nightly.ran]  # every unit once


def test_attach_without_a_ledger_finds_the_job_by_its_queue(backend: MemoryBackend) -> None:
    job = Nightly(data={"sleep_s": 1}, backend=backend).start()

    handle = Nightly.attach(job.job_id, backend=backend)

    assert JobState.QUEUED == handle.state
    assert handle.packet is not None
    assert job.packet is not None
    assert (job.packet.queue_url, job.packet.mapping_id) == (
        handle.packet.queue_url,
        handle.packet.mapping_id,
    )
    handle.tear_down()
    assert {} == backend.queues.queues


def test_attach_finds_a_job_started_with_another_queue_prefix_when_told_it(
    backend: MemoryBackend,
) -> None:
    job = Nightly(data={"sleep_s": 1}, backend=backend, ledger="ledger", queue_prefix="night-")
    job.start()
    assert job.packet is not None

    handle = Nightly.attach(job.job_id, backend=backend, ledger="ledger", queue_prefix="night-")
    handle.pause()

    assert "Disabled" == backend.mappings.mappings[job.packet.mapping_id].state


def test_pause_of_a_job_whose_queue_was_not_found_says_how_to_find_it(
    backend: MemoryBackend,
) -> None:
    # The ledger knows the job, but the class's queue_prefix is not the one it was started
    # with: a pause that only marked the ledger would leave the job running.
    job = Nightly(data={"sleep_s": 1}, backend=backend, ledger="ledger", queue_prefix="night-")
    job.start()
    assert job.packet is not None
    handle = Nightly.attach(job.job_id, backend=backend, ledger="ledger")

    with pytest.raises(UnknownJobError, match=r"queue was not found.*queue_prefix="):
        handle.pause()

    assert "Enabled" == backend.mappings.mappings[job.packet.mapping_id].state
    status = job.status()
    assert status is not None
    assert not status.paused


def test_attach_to_an_unknown_job_says_so(backend: MemoryBackend) -> None:
    with pytest.raises(UnknownJobError, match="no job nope"):
        Nightly.attach("nope", backend=backend, ledger="ledger")


# -- fan-out results and tolerated failures -------------------------------------------------------


class Summer(RelayJob):
    """Each shard sums 1..n; shard 3 fails when ``data["break"]``."""

    job_type = "test_job_control.Summer"
    function_name = "summer-worker"
    ledger = "ledger"
    retry = Retry(attempts=1, hop_retries=0)
    joined: ClassVar[list[list[ShardResult]]] = []

    def plan(self) -> Any:
        return [[i, 0] for i in range(4)]

    def step(self, cursor: list[int]) -> Any:
        assert self.packet is not None
        n, total = cursor
        if self.data.get("break") and self.packet.shard == 3:
            raise RuntimeError("shard 3 breaks")
        self.result = total + n
        return DONE

    def on_join(self, results: Iterable[ShardResult]) -> None:
        Summer.joined.append(list(results))


@pytest.mark.parametrize(
    ("tolerated", "state"), [(1, JobState.TORN_DOWN), (0.2, JobState.FAILED), (0, JobState.FAILED)]
)
def test_on_join_runs_once_with_every_result_in_shard_order(
    backend: MemoryBackend, wall: FakeClock, tolerated: float, state: JobState
) -> None:
    job = Summer(data={"break": True}, backend=backend, tolerated_failures=tolerated).start()
    assert job.packet is not None
    while backend.queues.queues.get(job.packet.queue_url):
        deliver(backend, job, wall, Summer)

    (results,) = Summer.joined
    assert [0, 1, 2, 3] == [r.shard for r in results]
    assert [0, 1, 2, None] == [r.result for r in results]
    assert ["done", "done", "done", "failed"] == [r.status for r in results]
    assert "shard 3 breaks" in results[3].error
    status = job.status()
    assert status is not None
    assert state == status.state


class SummerInOnDone(Summer):
    """Sets its result in ``on_done`` instead of in ``step``."""

    job_type = "test_job_control.SummerInOnDone"

    def step(self, cursor: list[int]) -> Any:
        return DONE

    def on_done(self) -> None:
        assert self.packet is not None
        self.result = {"shard": self.packet.shard}


def test_a_result_set_in_on_done_reaches_on_join(backend: MemoryBackend, wall: FakeClock) -> None:
    job = SummerInOnDone(data={}, backend=backend).start()
    assert job.packet is not None
    while backend.queues.queues.get(job.packet.queue_url):
        deliver(backend, job, wall, SummerInOnDone)

    (results,) = Summer.joined
    assert [{"shard": n} for n in range(4)] == [r.result for r in results]


# -- pinned code ----------------------------------------------------------------------------------


def test_the_mapping_invokes_the_function_qualifier(backend: MemoryBackend) -> None:
    job = Nightly(data={"sleep_s": 1}, backend=backend, function_qualifier="live").start()
    assert job.packet is not None
    info = backend.mappings.mappings[job.packet.mapping_id]
    assert "nightly-worker:live" == info.function_name


def test_a_packet_of_another_version_is_not_run_unless_migrated(
    backend: MemoryBackend, wall: FakeClock
) -> None:
    class V1(Nightly):
        job_type = "test_job_control.Versioned"

    job = V1(data={"sleep_s": 1}, backend=backend).start()
    assert job.packet is not None
    body = backend.queues.pop(job.packet.queue_url)

    class V2(Nightly):
        job_type = "test_job_control.Versioned"
        version = "2"

    result = V2.handle(sqs_event(body), None, backend=backend)

    assert [{"itemIdentifier": "msg-0"}] == result["batchItemFailures"]
    assert [] == Nightly.ran
    with pytest.raises(VersionMismatchError, match=r"define V2\.migrate"):
        V2.from_packet(body)

    class V3(V2):
        job_type = "test_job_control.Versioned3"

        @classmethod
        def migrate(cls, packet: RelayPacket) -> RelayPacket:
            return attrs.evolve(packet, data={**packet.data, "migrated": True})

    moved = V3.from_packet(
        RelayPacket.from_json(body).evolve(job_type="test_job_control.Versioned3").to_json()
    )
    assert moved.data["migrated"] is True
