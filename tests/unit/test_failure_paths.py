"""Failure paths outside ``step()``: what a user or AWS does wrong, and the hop still loses nothing.

Unit tests over the in-memory ports and a fake clock: a cursor or data that is not JSON, data
grown past the queue's limit, characters SQS refuses, a hook that raises, and a last unit that
leaves too little time for the teardown.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, ClassVar

import attrs
import pytest

from relaystate import DONE, ConfigurationError, JobState, RelayJob, RelayPacket, Retry
from relaystate import clock as relay_clock
from relaystate.budget import SEND_LATENCIES
from relaystate.errors import InvalidPacketError, MappingTimeoutError, PacketTooLargeError
from relaystate.ports import Backend, MappingInfo
from relaystate.testing import (
    FakeClock,
    FakeContext,
    MemoryMappings,
    MemoryQueues,
    memory_backend,
    sqs_event,
)


class Walk(RelayJob):
    """Walks the cursor from 0 to data["to"], each unit costing ``unit_ms`` on the fake clock.

    What a unit returns or leaves in ``self.data`` is set per test with ``Walk.bad``.
    """

    job_type = "test_failure_paths.Walk"
    function_name = "walk-worker"
    retry = Retry(attempts=1, hop_retries=0)
    clock: ClassVar[FakeClock] = FakeClock()
    unit_ms: ClassVar[float] = 100.0
    bad: ClassVar[dict[int, Any]] = {}  # cursor -> what the unit does wrong there
    seen: ClassVar[list[int]] = []
    done: ClassVar[list[str]] = []
    failed: ClassVar[list[BaseException | None]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Walk.clock.advance(Walk.unit_ms)
        Walk.seen.append(cursor)
        wrong = Walk.bad.get(cursor)
        if wrong == "cursor":
            return datetime.datetime(2026, 12, 1)  # not JSON
        if wrong == "data":
            self.data["when"] = {1, 2}  # not JSON
        if wrong == "big":
            self.data["blob"] = "x" * 2_000_000
        if isinstance(wrong, str) and wrong.startswith("text:"):
            self.data["text"] = wrong[5:]
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1

    def on_done(self) -> None:
        Walk.done.append(self.job_id)

    def on_failed(self, error: BaseException | None) -> None:
        Walk.failed.append(error)


@pytest.fixture(autouse=True)
def _reset() -> None:
    SEND_LATENCIES.clear()
    Walk.clock = FakeClock()
    Walk.unit_ms = 100.0
    Walk.bad = {}
    Walk.seen = []
    Walk.done = []
    Walk.failed = []


@pytest.fixture
def backend() -> Backend:
    return memory_backend()


def queues(backend: Backend) -> MemoryQueues:
    assert isinstance(backend.queues, MemoryQueues)
    return backend.queues


def run_hop(
    backend: Backend, job: RelayJob, timeout_ms: float = 2_000, job_class: type[RelayJob] = Walk
) -> dict[str, Any]:
    assert job.packet is not None
    body = queues(backend).pop(job.packet.queue_url)
    context = FakeContext(Walk.clock, timeout_ms)
    return job_class.handle(sqs_event(body), context, backend=backend)


def parked(backend: Backend, job: RelayJob) -> RelayPacket:
    assert job.packet is not None
    (body, _), *_ = queues(backend).queues[job.packet.dlq_url].messages
    return RelayPacket.from_json(body)


@pytest.mark.parametrize("wrong", ["data", "big"])
def test_a_hop_whose_data_cannot_travel_fails_the_shard_and_parks_the_packet_it_began_with(
    backend: Backend, wrong: str
) -> None:
    job = Walk(data={"to": 10_000}, backend=backend).start()
    Walk.bad = {2: wrong}

    result = run_hop(backend, job, timeout_ms=2_000)  # ~16 units, then the relay fails

    # Acknowledged, not delivered again to re-run the hop's units for nothing.
    assert {"batchItemFailures": []} == result
    assert [0, 1, 2] == Walk.seen[:3]
    (error,) = Walk.failed
    assert isinstance(error, InvalidPacketError | PacketTooLargeError)
    dead = parked(backend, job)
    assert JobState.FAILED == dead.state
    assert 0 == dead.cursor  # resumed after the fix, the hop's units run again: nothing lost
    assert type(error).__name__ in dead.error
    assert job.packet is not None
    assert [job.packet.dlq_url] == list(queues(backend).queues)  # queue gone, DLQ kept


def test_a_non_json_cursor_is_a_unit_error_and_the_units_before_it_are_kept(
    backend: Backend,
) -> None:
    job = Walk(data={"to": 10}, backend=backend).start()
    Walk.bad = {2: "cursor"}

    result = run_hop(backend, job, timeout_ms=60_000)

    assert {"batchItemFailures": []} == result
    assert [0, 1, 2] == Walk.seen
    (error,) = Walk.failed
    assert isinstance(error, InvalidPacketError)
    dead = parked(backend, job)
    assert (JobState.FAILED, 2) == (dead.state, dead.cursor)  # the unit that returned it


def test_a_non_json_cursor_goes_through_the_retry_policy_first(backend: Backend) -> None:
    class Patient(Walk):
        retry = Retry(attempts=2, backoff_s=0, hop_retries=1, hop_delay_s=5)

    job = Patient(data={"to": 10}, backend=backend).start()
    Walk.bad = {2: "cursor"}

    run_hop(backend, job, timeout_ms=60_000, job_class=Patient)

    assert [0, 1, 2, 2] == Walk.seen  # tried twice in the hop
    assert job.packet is not None
    ((body, delay),) = queues(backend).queues[job.packet.queue_url].messages
    assert (2, 1, 5) == (
        RelayPacket.from_json(body).cursor,
        RelayPacket.from_json(body).attempt,
        delay,
    )
    assert [] == Walk.failed


def test_the_error_message_of_a_non_json_cursor_says_what_to_use(backend: Backend) -> None:
    job = Walk(data={"to": 10}, backend=backend).start()
    Walk.bad = {0: "cursor"}
    run_hop(backend, job, timeout_ms=60_000)
    (error,) = Walk.failed
    assert re.search(r"cursor: a datetime is not a JSON value; use str, int", str(error))


# SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
_SQS_REFUSED = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class SqsStrictQueues(MemoryQueues):
    """Memory queues that refuse, as SQS does (InvalidMessageContents), what SQS refuses."""

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        if _SQS_REFUSED.search(body):
            raise AssertionError(f"SQS would refuse this body: {body!r}")
        return super().send(url, body, delay_seconds)


@pytest.mark.parametrize("text", ["\uffff", "\ufffe", "a\x00b", "tab\tand\nnewline", "\x7f"])
def test_characters_sqs_refuses_are_sent_escaped_and_read_back_the_same(text: str) -> None:
    backend = memory_backend()
    strict = SqsStrictQueues()
    backend = Backend(queues=strict, mappings=backend.mappings, mapping_poll_s=0.0)
    job = Walk(data={"to": 3}, backend=backend).start()
    Walk.bad = {0: f"text:{text}"}

    run_hop(backend, job, timeout_ms=400)  # one unit, then a relay carrying the text

    assert job.packet is not None
    ((body, _),) = strict.queues[job.packet.queue_url].messages
    assert text == RelayPacket.from_json(body).data["text"]


def test_an_on_done_that_raises_is_logged_and_the_hop_is_not_delivered_again(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    class Grumpy(Walk):
        def on_done(self) -> None:
            raise KeyError("missing-key")

    job = Grumpy(data={"to": 1}, backend=backend).start()

    result = run_hop(backend, job, timeout_ms=60_000, job_class=Grumpy)

    assert {"batchItemFailures": []} == result
    assert {} == queues(backend).queues  # torn down once, not left for a redelivery
    (record,) = [r for r in caplog.records if "on_done" in r.getMessage()]
    assert record.exc_info is not None
    assert "missing-key" in str(record.exc_info[1])


def test_a_last_unit_that_leaves_too_little_time_hands_the_teardown_to_a_fresh_hop(
    backend: Backend,
) -> None:
    job = Walk(data={"to": 1}, backend=backend).start()
    Walk.unit_ms = 10_000.0  # a 12-s hop: its one unit returns DONE with 2 s left

    first = run_hop(backend, job, timeout_ms=12_000)

    assert {"batchItemFailures": []} == first
    assert [0] == Walk.seen
    assert [] == Walk.done  # not finished here: 2 s left, the teardown keeps 3 (12 / 4)
    assert job.packet is not None
    ((body, _),) = queues(backend).queues[job.packet.queue_url].messages
    handed = RelayPacket.from_json(body)
    assert handed.finishing
    assert (1, 0) == (handed.hop, handed.cursor)

    second = run_hop(backend, job, timeout_ms=12_000)

    assert {"batchItemFailures": []} == second
    assert [0] == Walk.seen  # the finishing hop runs no unit
    assert [job.job_id] == Walk.done
    assert {} == queues(backend).queues


def test_a_last_unit_with_time_to_spare_tears_down_in_its_own_hop(backend: Backend) -> None:
    job = Walk(data={"to": 3}, backend=backend).start()
    run_hop(backend, job, timeout_ms=60_000)
    assert [job.job_id] == Walk.done
    assert {} == queues(backend).queues


def test_a_finishing_packet_survives_the_wire() -> None:
    packet = RelayPacket(job_id="j", job_type="t", function_name="f", finishing=True)
    assert RelayPacket.from_json(packet.to_json()).finishing
    assert "finishing" not in RelayPacket(job_id="j", job_type="t", function_name="f").to_json()
    with pytest.raises(InvalidPacketError, match="finishing"):
        RelayPacket.from_dict({**packet.to_dict(), "finishing": "yes"})


def test_a_subclass_has_a_job_type_of_its_own_not_its_parents(backend: Backend) -> None:
    class Loud(Walk):
        def on_done(self) -> None:
            raise AssertionError("a Walk packet must not run as Loud")

    assert "test_failure_paths.Walk" == Walk.type_name()
    assert Loud.__qualname__ == Loud.type_name()
    job = Walk(data={"to": 1}, backend=backend).start()
    assert {"batchItemFailures": []} == run_hop(backend, job, timeout_ms=60_000)
    assert [job.job_id] == Walk.done


def test_a_class_handles_its_own_packets_when_another_class_took_its_type_name_later(
    backend: Backend,
) -> None:
    def make() -> type[RelayJob]:
        class Twin(RelayJob):
            job_type = "test_failure_paths.Twin"
            function_name = "twin-worker"
            ran: ClassVar[list[str]] = []

            def step(self, cursor: Any) -> Any:
                type(self).ran.append(self.job_id)
                return DONE

        return Twin

    first, second = make(), make()  # the second registration wins the name
    job = first(backend=backend).start()
    assert job.packet is not None
    body = queues(backend).pop(job.packet.queue_url)
    assert {"batchItemFailures": []} == first.handle(sqs_event(body), None, backend=backend)
    assert [job.job_id] == first.ran  # type: ignore[attr-defined]
    assert [] == second.ran  # type: ignore[attr-defined]


# -- options, start and resume -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("lease_margin_s", -3600, "lease_margin_s must be a number of seconds >= 0"),
        ("max_hops", "10", "max_hops must be a whole number >= 1"),
        ("max_receive_count", True, "max_receive_count must be a whole number from 1 to 1,000"),
        ("max_concurrency", 1, "max_concurrency must be None or a whole number from 2"),
        ("function_timeout_s", 901, "function_timeout_s must be None or a whole number from 1"),
        ("hop_time_s", -1, "hop_time_s must be a number of seconds >= 0"),
        ("allow_recursion", "yes", "allow_recursion must be True or False"),
        ("queue_prefix", "relay.", "use 1-76 characters of A-Z, a-z, 0-9"),
        ("queue_prefix", 7, "queue_prefix must be a string"),
        ("ledger", 42, "ledger must be None, a DynamoDB table name, or a ledger object"),
    ],
)
def test_a_bad_option_is_refused_by_the_constructor_naming_what_it_accepts(
    option: str, value: Any, says: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(says)):
        Walk(**{option: value})


def test_a_bad_option_set_on_the_class_is_refused_too() -> None:
    class Sloppy(Walk):
        max_hops = 0

    with pytest.raises(ConfigurationError, match="max_hops"):
        Sloppy()


def test_a_packet_carrying_a_bad_option_is_an_invalid_packet(backend: Backend) -> None:
    job = Walk(data={"to": 3}, backend=backend).start()
    assert job.packet is not None
    forged = {**job.packet.to_dict(), "options": {"max_hops": "lots"}}
    with pytest.raises(InvalidPacketError, match="max_hops"):
        Walk.from_packet(forged)


class StuckMappings(MemoryMappings):
    """Mappings that never leave ``Creating`` (AWS: it happens, for minutes)."""

    def create(
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        info = super().create(
            function_name, queue_arn, batch_size=batch_size, max_concurrency=max_concurrency
        )
        stuck = attrs.evolve(info, state="Creating")
        self.mappings[info.id] = stuck
        return stuck


def test_start_in_a_lambda_stops_waiting_in_time_to_roll_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeClock()
    monkeypatch.setattr(relay_clock, "monotonic", lambda: fake.now / 1000.0)
    monkeypatch.setattr(relay_clock, "sleep", lambda s: fake.advance(s * 1000.0))
    queues_, mappings_ = MemoryQueues(), StuckMappings()
    backend = Backend(queues=queues_, mappings=mappings_, mapping_wait_s=300.0)
    context = FakeContext(fake, 29_000)  # behind API Gateway: 29 s

    with pytest.raises(MappingTimeoutError, match="all the time the caller had left"):
        Walk(data={"to": 3}, backend=backend).start(context=context)

    assert context.get_remaining_time_in_millis() > 0  # rolled back before the starter's end
    assert {} == queues_.queues
    assert {} == mappings_.mappings


def test_resume_works_for_the_longest_job_id_start_accepts(backend: Backend) -> None:
    job = Walk(data={"to": 3}, backend=backend, job_id="j" * 70).start()
    assert job.packet is not None
    failed = job.packet.evolve(state=JobState.FAILED, queue_url="", mapping_id="")
    resumed = Walk.resume(failed, backend=backend)
    assert JobState.QUEUED == resumed.state
    assert resumed.packet is not None
    assert "j" * 70 == resumed.packet.job_id


class LingeringQueues(MemoryQueues):
    """Queues that still answer after DeleteQueue (AWS: for up to 60 s), while what is sent to
    them is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.deleted: set[str] = set()

    def delete(self, url: str) -> None:
        self.calls.append(("delete", url))
        self.deleted.add(url)

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        if url in self.deleted:
            self.calls.append(("send", url))
            return "m-lost"  # "succeeds", and vanishes
        return super().send(url, body, delay_seconds)


def test_resume_right_after_a_teardown_does_not_reuse_the_queue_being_deleted() -> None:
    lingering, maps = LingeringQueues(), MemoryMappings()
    backend = Backend(queues=lingering, mappings=maps, mapping_poll_s=0.0)
    job = Walk(data={"to": 10}, backend=backend).start()
    assert job.packet is not None
    first = job.packet
    job.tear_down()  # the mapping is gone; the queue still answers DescribeQueue for a while

    resumed = Walk.resume(first, backend=backend)

    assert resumed.packet is not None
    assert first.queue_url != resumed.packet.queue_url
    assert 1 == len(lingering.queues[resumed.packet.queue_url].messages)


def test_resume_does_not_wait_for_a_mapping_that_is_being_deleted(backend: Backend) -> None:
    job = Walk(data={"to": 10}, backend=backend).start()
    assert job.packet is not None
    maps = backend.mappings
    assert isinstance(maps, MemoryMappings)
    maps.mappings[job.packet.mapping_id] = attrs.evolve(
        maps.mappings[job.packet.mapping_id], state="Deleting"
    )

    resumed = Walk.resume(job.packet.evolve(state=JobState.FAILED), backend=backend)

    assert resumed.packet is not None
    assert job.packet.mapping_id != resumed.packet.mapping_id
    assert "Enabled" == maps.mappings[resumed.packet.mapping_id].state


def test_a_unit_error_with_too_little_time_left_hands_the_failure_to_a_fresh_hop(
    backend: Backend,
) -> None:
    class Broken(Walk):
        def step(self, cursor: Any) -> Any:
            Walk.clock.advance(10_000.0)
            raise RuntimeError("quota gone")

    job = Broken(data={"to": 5}, backend=backend).start()

    first = run_hop(backend, job, timeout_ms=12_000, job_class=Broken)

    assert {"batchItemFailures": []} == first
    assert [] == Walk.failed  # 2 s left: the shard is not failed (parked, torn down) here
    assert job.packet is not None
    ((body, _),) = queues(backend).queues[job.packet.queue_url].messages
    handed = RelayPacket.from_json(body)
    assert handed.finishing
    assert "quota gone" in handed.error

    run_hop(backend, job, timeout_ms=12_000, job_class=Broken)

    (error,) = Walk.failed
    assert "quota gone" in str(error)
    dead = parked(backend, job)
    assert (JobState.FAILED, 0, False) == (dead.state, dead.cursor, dead.finishing)
    resumed = Broken.resume(dead, backend=backend)  # after the fix: the unit runs again
    assert resumed.packet is not None
    assert not resumed.packet.finishing


def test_the_last_hop_the_cap_allows_keeps_time_for_its_teardown(backend: Backend) -> None:
    job = Walk(data={"to": 10_000}, backend=backend, max_hops=1).start()
    Walk.unit_ms = 100.0

    run_hop(backend, job, timeout_ms=20_000)

    # 20 s: a hop that is not the last runs until about 0.45 s are left; the last one keeps
    # 3 s (a quarter of the hop at most) for failing the shard and tearing it down.
    (error,) = Walk.failed
    assert "max_hops=1" in str(error)
    assert 20_000 - 100.0 * len(Walk.seen) >= 3_000
