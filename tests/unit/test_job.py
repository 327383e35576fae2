"""Unit tests of RelayJob over in-memory ports: start, the hop loop on a fake clock, teardown."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from relaystate import (
    DONE,
    ConfigurationError,
    JobState,
    PacketTooLargeError,
    RelayJob,
    RelayPacket,
    Retry,
    clock,
)
from relaystate.budget import SEND_LATENCIES
from relaystate.errors import (
    HopLimitError,
    InvalidDelayError,
    InvalidEventError,
    InvalidQueueNameError,
)
from relaystate.ports import Backend
from tests.fakes import FakeClock, FakeContext, MemoryMappings, MemoryQueues, sqs_event
from tests.fakes import memory_backend as new_backend


class Counter(RelayJob):
    """Counts from the cursor to data["to"], one unit per number, each costing ``unit_ms``."""

    function_name = "counter-worker"
    clock: ClassVar[FakeClock] = FakeClock()
    unit_ms: ClassVar[list[float]] = [100.0]
    seen: ClassVar[list[int]] = []
    done_calls: ClassVar[list[str]] = []
    failed_calls: ClassVar[list[BaseException | None]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        costs = Counter.unit_ms
        Counter.clock.advance(costs[cursor % len(costs)])
        Counter.seen.append(cursor)
        self.data["last"] = cursor
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1

    def on_done(self) -> None:
        Counter.done_calls.append(self.job_id)

    def on_failed(self, error: BaseException | None) -> None:
        Counter.failed_calls.append(error)


@pytest.fixture(autouse=True)
def _reset() -> None:
    SEND_LATENCIES.clear()  # send latencies a warm process remembers
    Counter.clock = FakeClock()
    Counter.unit_ms = [100.0]
    Counter.seen = []
    Counter.done_calls = []
    Counter.failed_calls = []


@pytest.fixture
def backend() -> Backend:
    return new_backend()


def queues(backend: Backend) -> MemoryQueues:
    assert isinstance(backend.queues, MemoryQueues)
    return backend.queues


def mappings(backend: Backend) -> MemoryMappings:
    assert isinstance(backend.mappings, MemoryMappings)
    return backend.mappings


def run_hop(backend: Backend, timeout_ms: float = 2_000, receive_count: int = 1) -> dict[str, Any]:
    """Take the next packet from the job's queue and hand it to the worker, as Lambda would."""
    q = queues(backend)
    (url,) = [u for u, queue in q.queues.items() if not queue.name.endswith("-dlq")]
    body = q.pop(url)
    context = FakeContext(Counter.clock, timeout_ms)
    return Counter.handle(sqs_event(body, receive_count=receive_count), context, backend=backend)


# -- start -------------------------------------------------------------------------------------


def test_start_creates_dlq_queue_mapping_and_sends_the_first_packet(backend: Backend) -> None:
    job = Counter(data={"to": 3}, backend=backend).start()
    assert JobState.QUEUED == job.state
    q = queues(backend)
    assert 2 == len(q.queues)
    assert ["allow_recursion", "create"] == [
        c for c, _ in mappings(backend).calls if c != "function_timeout_s"
    ]
    assert job.packet is not None
    assert job.packet.queue_url in q.queues
    assert [job.packet.to_json()] == [b for b, _ in q.queues[job.packet.queue_url].messages]


def test_start_sets_visibility_to_six_times_the_function_timeout(backend: Backend) -> None:
    job = Counter(data={"to": 1}, backend=backend, function_timeout_s=120).start()
    assert job.packet is not None
    assert "720" == queues(backend).queues[job.packet.queue_url].attributes["VisibilityTimeout"]


def test_start_redrives_to_the_dlq_after_max_receive_count(backend: Backend) -> None:
    job = Counter(data={"to": 1}, backend=backend, max_receive_count=7).start()
    assert job.packet is not None
    policy = json.loads(queues(backend).queues[job.packet.queue_url].attributes["RedrivePolicy"])
    assert 7 == policy["maxReceiveCount"]
    assert policy["deadLetterTargetArn"].endswith(job.packet.queue_url.rsplit("/", 1)[1] + "-dlq")


def test_start_tags_queues_with_job_function_and_time(backend: Backend) -> None:
    job = Counter(data={"to": 1}, backend=backend).start()
    assert job.packet is not None
    tags = queues(backend).queues[job.packet.queue_url].tags
    assert job.job_id == tags["relaystate:job-id"]
    assert "counter-worker" == tags["relaystate:function"]
    assert "relaystate:created-at" in tags


def test_fan_out_sends_one_packet_per_shard_in_batches_of_ten(backend: Backend) -> None:
    class Shards(Counter):
        def plan(self) -> Any:
            return list(range(25))

    job = Shards(data={"to": 1}, backend=backend).start()
    assert 25 == len(job.packets)
    assert [(i, 25) for i in range(25)] == [(p.shard, p.shards) for p in job.packets]
    assert 3 == sum(1 for call, _ in queues(backend).calls if call == "send_batch")


def test_oversize_packet_is_refused_before_any_aws_call(backend: Backend) -> None:
    job = Counter(data={"blob": "x" * 2_000_000}, backend=backend)
    with pytest.raises(PacketTooLargeError):
        job.start()
    assert [] == queues(backend).calls
    assert [] == mappings(backend).calls
    assert JobState.CREATED == job.state


def test_bad_queue_prefix_is_refused_with_the_rule(backend: Backend) -> None:
    with pytest.raises(InvalidQueueNameError, match="A-Z, a-z, 0-9"):
        Counter(data={"to": 1}, backend=backend, queue_prefix="relay.").start()


def test_unknown_option_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="max_hops"):
        Counter(max_hopz=3)


def test_empty_plan_is_refused(backend: Backend) -> None:
    class Empty(Counter):
        def plan(self) -> Any:
            return []

    with pytest.raises(ConfigurationError, match="no cursors"):
        Empty(backend=backend).start()


# -- the hop -----------------------------------------------------------------------------------


def test_hop_relays_a_new_snapshot_with_cursor_stats_and_hop(backend: Backend) -> None:
    Counter(data={"to": 1000}, backend=backend).start()
    assert {"batchItemFailures": []} == run_hop(backend)
    body = queues(backend).queues
    (url,) = [u for u, q in body.items() if not q.name.endswith("-dlq")]
    nxt = RelayPacket.from_json(body[url].messages[0][0])
    assert JobState.RELAYING == nxt.state
    assert 1 == nxt.hop
    assert len(Counter.seen) == nxt.cursor
    assert (1, 1, len(Counter.seen)) == (nxt.stats.hops, nxt.stats.relays, nxt.stats.units)
    assert 100 * len(Counter.seen) == nxt.stats.work_ms
    assert len(Counter.seen) - 1 == nxt.data["last"]


def test_hop_keeps_a_reserve_for_the_send(backend: Backend) -> None:
    Counter(data={"to": 1000}, backend=backend).start()
    start = Counter.clock.now
    run_hop(backend, timeout_ms=2_000)
    used = Counter.clock.now - start
    # No send measured yet: 250 ms are kept for it; with < 20 units seen, a unit needs
    # 2 x the slowest (200 ms) on top, so units start down to 450 ms left.
    assert 2_000 - used >= 250
    assert 16 == len(Counter.seen)


def test_hop_carries_what_its_budget_learned_to_the_next_hop(backend: Backend) -> None:
    Counter(data={"to": 1000}, backend=backend).start()
    run_hop(backend, timeout_ms=2_000)
    q = queues(backend)
    (url,) = [u for u, queue in q.queues.items() if not queue.name.endswith("-dlq")]
    timing = RelayPacket.from_json(q.queues[url].messages[0][0]).timing
    assert len(Counter.seen) == timing["n"]
    run_hop(backend, timeout_ms=2_000)  # learned: 100 ms units, a fast send -> more units
    assert len(Counter.seen) > 2 * 16


def test_hop_does_not_start_a_unit_that_the_slowest_seen_says_will_not_fit(
    backend: Backend,
) -> None:
    # A slow unit (600 ms) among fast ones: the npm rule (1.5 x the LAST unit) would start
    # another slow unit after a fast one with too little time left.
    Counter.unit_ms = [10, 600, 10, 10]
    Counter(data={"to": 1000}, backend=backend).start()
    start = Counter.clock.now
    run_hop(backend, timeout_ms=3_000)
    assert 3_000 - (Counter.clock.now - start) >= 250 + 0.02 * 3_000


def test_hop_always_runs_at_least_one_unit(backend: Backend) -> None:
    Counter(data={"to": 10}, backend=backend).start()
    run_hop(backend, timeout_ms=100)  # less than the reserve: still one unit, so work advances
    assert [0] == Counter.seen


def test_every_unit_runs_exactly_once_across_hops_and_the_job_tears_down(
    backend: Backend,
) -> None:
    job = Counter(data={"to": 100}, backend=backend).start()
    hops = 0
    while queues(backend).queues:
        assert {"batchItemFailures": []} == run_hop(backend, timeout_ms=1_000)
        hops += 1
    assert list(range(100)) == Counter.seen
    assert hops > 5
    assert {} == mappings(backend).mappings
    assert [job.job_id] == Counter.done_calls


class Flaky(Counter):
    """Unit 3 raises its first ``fail_times`` tries."""

    fail_times: ClassVar[int] = 1
    tries: ClassVar[int] = 0

    def step(self, cursor: Any) -> Any:
        if cursor == 3 and Flaky.tries < Flaky.fail_times:
            Flaky.tries += 1
            raise RuntimeError("API hiccup")
        return super().step(cursor)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    pauses: list[float] = []
    monkeypatch.setattr(clock, "sleep", pauses.append)
    Flaky.tries = 0
    return pauses


def test_a_unit_that_fails_once_is_retried_in_the_hop(backend: Backend, slept: list[float]) -> None:
    Flaky.fail_times = 1
    Flaky(data={"to": 6}, backend=backend).start()
    run_hop(backend, timeout_ms=60_000)
    assert list(range(6)) == Counter.seen
    assert 1 == len(slept)
    assert 0 <= slept[0] <= 0.2  # full jitter under the first backoff


def test_a_unit_that_keeps_failing_relays_its_progress_with_a_delay(
    backend: Backend, slept: list[float]
) -> None:
    Flaky.fail_times = 100
    job = Flaky(data={"to": 6}, backend=backend).start()
    assert job.packet is not None
    run_hop(backend, timeout_ms=60_000)
    (body, delay) = queues(backend).queues[job.packet.queue_url].messages[0]
    nxt = RelayPacket.from_json(body)
    assert (3, 1, 10) == (nxt.cursor, nxt.attempt, delay)  # units 0-2 kept; unit 3 later
    assert [0, 1, 2] == Counter.seen
    assert 3 == nxt.stats.retries  # 2 in the hop, then the relay


def test_a_shard_fails_into_the_dlq_when_the_policy_is_spent(
    backend: Backend, slept: list[float]
) -> None:
    Flaky.fail_times = 100
    job = Flaky(data={"to": 6}, backend=backend).start()
    assert job.packet is not None
    delays = []
    for _ in range(4):  # the first hop, then three delayed retries
        (_, delay) = queues(backend).queues[job.packet.queue_url].messages[0]
        delays.append(delay)
        run_hop(backend, timeout_ms=60_000)
    assert [0, 10, 20, 40] == delays
    (error,) = Counter.failed_calls
    assert "API hiccup" in str(error)
    dead = RelayPacket.from_json(queues(backend).queues[job.packet.dlq_url].messages[0][0])
    assert (JobState.FAILED, 3) == (dead.state, dead.cursor)
    assert "API hiccup" in dead.error


def test_no_retry_policy_fails_at_the_first_error(backend: Backend, slept: list[float]) -> None:
    class Strict(Flaky):
        retry = Retry(attempts=1, hop_retries=0)

    Flaky.fail_times = 1
    Strict(data={"to": 6}, backend=backend).start()
    run_hop(backend, timeout_ms=60_000)
    assert 1 == len(Counter.failed_calls)
    assert [] == slept


def test_every_record_of_a_batch_is_handled_and_only_bad_ones_fail(backend: Backend) -> None:
    class Shards(Counter):
        def plan(self) -> Any:
            return [0, 10]

    job = Shards(data={"to": 12}, backend=backend).start()
    assert job.packet is not None
    q = queues(backend)
    first, second = q.pop(job.packet.queue_url), q.pop(job.packet.queue_url)
    event = sqs_event(first, "not a packet", second)
    result = Shards.handle(event, FakeContext(Counter.clock, 60_000), backend=backend)
    assert {"batchItemFailures": [{"itemIdentifier": "msg-1"}]} == result
    assert {0, 10, 11} <= set(Counter.seen)


def test_packet_of_another_job_type_is_a_batch_item_failure(backend: Backend) -> None:
    class Other(RelayJob):
        function_name = "other"

        def step(self, cursor: Any) -> Any:
            return DONE

    job = Counter(data={"to": 5}, backend=backend).start()
    assert job.packet is not None
    result = Other.handle(sqs_event(job.packet.to_json()), None, backend=backend)
    assert [{"itemIdentifier": "msg-0"}] == result["batchItemFailures"]


def test_base_class_handle_dispatches_by_job_type(backend: Backend) -> None:
    job = Counter(data={"to": 1}, backend=backend).start()
    assert job.packet is not None
    body = queues(backend).pop(job.packet.queue_url)
    assert {"batchItemFailures": []} == RelayJob.handle(sqs_event(body), None, backend=backend)
    assert [0] == Counter.seen


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, [], None, {"Records": [1]}])
def test_non_sqs_event_raises_a_clear_error(event: Any) -> None:
    with pytest.raises(InvalidEventError, match="Records"):
        Counter.handle(event, None)


def test_redelivered_hop_counts_its_retries(backend: Backend) -> None:
    Counter(data={"to": 1000}, backend=backend).start()
    run_hop(backend, receive_count=3)
    q = queues(backend)
    (url,) = [u for u, queue in q.queues.items() if not queue.name.endswith("-dlq")]
    assert 2 == RelayPacket.from_json(q.queues[url].messages[0][0]).stats.retries


def test_hop_cap_fails_the_job_parks_the_packet_in_the_dlq_and_calls_on_failed(
    backend: Backend,
) -> None:
    job = Counter(data={"to": 1000}, backend=backend, max_hops=3).start()
    for _ in range(2):
        run_hop(backend, timeout_ms=1_000)
    assert job.packet is not None
    result = run_hop(backend, timeout_ms=1_000)  # the third hop: a fourth would pass max_hops
    assert {"batchItemFailures": []} == result
    (error,) = Counter.failed_calls
    assert isinstance(error, HopLimitError)
    q = queues(backend)
    assert [job.packet.dlq_url] == list(q.queues)  # queue gone, DLQ kept: it holds the packet
    dead = RelayPacket.from_json(q.queues[job.packet.dlq_url].messages[0][0])
    assert JobState.FAILED == dead.state
    assert "max_hops=3" in dead.error
    assert 3 == dead.stats.hops
    assert {} == mappings(backend).mappings


def test_a_failed_hop_keeps_the_dlq_it_parked_in_even_if_the_count_lags(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQS's message counts are approximate: right after the send, the DLQ may read empty.
    job = Counter(data={"to": 1000}, backend=backend, max_hops=1).start()
    q = queues(backend)
    real_describe = q.describe

    def lagging(url: str) -> Any:
        found = real_describe(url)
        return None if found is None else {**found, "ApproximateNumberOfMessages": "0"}

    monkeypatch.setattr(q, "describe", lagging)
    assert job.packet is not None

    run_hop(backend, timeout_ms=1_000)

    assert [job.packet.dlq_url] == list(q.queues)
    assert 1 == len(q.queues[job.packet.dlq_url].messages)


def test_relay_delay_over_900_seconds_is_refused(backend: Backend) -> None:
    job = Counter(data={"to": 5}, backend=backend).start()
    assert job.packet is not None
    running = Counter.from_packet(job.packet, backend=backend)
    running.begin_hop()
    with pytest.raises(InvalidDelayError, match="0 to 900"):
        running.relay(delay_seconds=901)
    assert JobState.RUNNING == running.state


# -- teardown and resume -----------------------------------------------------------------------


def test_finished_fan_out_shard_leaves_the_queue_for_tear_down(backend: Backend) -> None:
    class Shards(Counter):
        def plan(self) -> Any:
            return [0, 5]

    job = Shards(data={"to": 1}, backend=backend).start()
    assert job.packet is not None
    body = queues(backend).pop(job.packet.queue_url)
    Shards.handle(sqs_event(body), None, backend=backend)
    assert job.packet.queue_url in queues(backend).queues
    job.tear_down()
    assert JobState.TORN_DOWN == job.state
    assert {} == queues(backend).queues
    assert {} == mappings(backend).mappings


def test_tear_down_works_on_a_job_rebuilt_from_its_packet_and_is_idempotent(
    backend: Backend,
) -> None:
    job = Counter(data={"to": 5}, backend=backend).start()
    assert job.packet is not None
    rebuilt = Counter.from_packet(job.packet.to_json(), backend=backend)
    rebuilt.tear_down()
    rebuilt.tear_down()
    assert JobState.TORN_DOWN == rebuilt.state
    assert {} == queues(backend).queues


def test_resume_recreates_a_deleted_queue_and_mapping_and_sends_the_checkpoint(
    backend: Backend,
) -> None:
    job = Counter(data={"to": 50}, backend=backend).start()
    run_hop(backend, timeout_ms=1_000)
    q = queues(backend)
    (url,) = [u for u, queue in q.queues.items() if not queue.name.endswith("-dlq")]
    checkpoint = RelayPacket.from_json(q.queues[url].messages[0][0])
    job.tear_down()
    assert {} == q.queues

    resumed = Counter.resume(checkpoint.to_json(), backend=backend)
    assert JobState.QUEUED == resumed.state
    assert resumed.packet is not None
    assert checkpoint.queue_url != resumed.packet.queue_url  # a fresh name: SQS's 60-s rule
    assert checkpoint.cursor == resumed.packet.cursor
    assert 1 == len(mappings(backend).mappings)
    while q.queues:
        run_hop(backend, timeout_ms=1_000)
    assert list(range(50)) == sorted(set(Counter.seen))


def test_resume_reuses_queue_and_mapping_that_still_exist(backend: Backend) -> None:
    job = Counter(data={"to": 50}, backend=backend).start()
    assert job.packet is not None
    queues(backend).pop(job.packet.queue_url)
    resumed = Counter.resume(job.packet, backend=backend)
    assert resumed.packet is not None
    assert job.packet.queue_url == resumed.packet.queue_url
    assert job.packet.mapping_id == resumed.packet.mapping_id


def test_resume_of_a_finished_job_is_refused(backend: Backend) -> None:
    job = Counter(data={"to": 5}, backend=backend).start()
    assert job.packet is not None
    with pytest.raises(ConfigurationError, match="nothing to resume"):
        Counter.resume(job.packet.evolve(state=JobState.TORN_DOWN), backend=backend)


def test_missing_function_name_says_where_to_set_it() -> None:
    class Nameless(RelayJob):
        def step(self, cursor: Any) -> Any:
            return DONE

    with pytest.raises(ConfigurationError, match="set it on the class or pass function_name="):
        Nameless(backend=new_backend()).start()


def test_big_fan_out_streams_its_packets_from_a_lazy_plan(backend: Backend) -> None:
    class Many(Counter):
        def plan(self) -> Any:
            return (i * 10 for i in range(2_000))  # a generator: cursors only

    job = Many(data={"to": 1}, backend=backend).start()
    assert 200 == sum(1 for call, _ in queues(backend).calls if call == "send_batch")
    assert 2_000 == len(job.packets)
    assert (1_999, 19_990) == (job.packets[-1].shard, job.packets[-1].cursor)


def test_one_oversize_shard_is_refused_before_any_aws_call(backend: Backend) -> None:
    class Lopsided(Counter):
        def plan(self) -> Any:
            return [0, 1, "x" * 2_000_000, 3]

    with pytest.raises(PacketTooLargeError):
        Lopsided(data={"to": 1}, backend=backend).start()
    assert [] == queues(backend).calls


def test_a_packet_that_names_another_queue_than_its_source_is_not_run(
    backend: Backend,
) -> None:
    job = Counter(data={"to": 5}, backend=backend).start()
    assert job.packet is not None
    event = sqs_event(queues(backend).pop(job.packet.queue_url))
    event["Records"][0]["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:someone-else"
    result = Counter.handle(event, None, backend=backend)
    assert [{"itemIdentifier": "msg-0"}] == result["batchItemFailures"]
    assert [] == Counter.seen
