"""A shard whose end is recorded is torn down, whatever AWS throttles, and its stale copies
are not resumed into a job that is gone.

``relaystate simulate examples.approval:Refund --ledger t --crash-rate 0.3 --seeds 5000
--signal 'approved={"by": "ann"}@0..1h'`` found two ways a sound packet went to the DLQ and
the job's queue and mapping stayed:

* the join read the shards' results before ``on_join`` ran, outside any retry: a throttled
  read failed the hop after the shard's end was recorded (seed 4586). Where the read is lazy
  (DynamoDB's, page by page) the throttle came inside ``on_join``, whose error ``run_hook``
  logs and swallows: the job was torn down with ``on_join`` having seen part of the results.
  The read now goes through :class:`~relaystate.retry.RetriedReads`: retried within the
  hop's time, and raised after ``on_join`` when it still fails (the delivery comes back).
* a teardown step throttled at SQS's last delivery of an ended shard failed that delivery
  into the DLQ: it is now sent again, delayed by a lease (``requeue_last``), as a busy one is.

And ``RelayJob.resume`` of a DLQ copy of a hop that had run, in a job the ledger shows torn
down, made a queue and a mapping that nothing removed: it is refused.

Unit tier: in-memory ports and ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob, Retry
from relaystate import clock as relay_clock
from relaystate.errors import ConfigurationError, ThrottledError
from relaystate.ledger import ShardResult
from relaystate.retry import TRANSIENT_TRIES, RetriedReads
from relaystate.testing import MemoryLedger, UnitsPerHop, memory_backend, sqs_event


def _throttled(what: str) -> ThrottledError:
    return ThrottledError(f"{what} throttled", service="dynamodb", operation="Query")


class Throttling(MemoryLedger):
    """A memory ledger whose next reads of the results, and next claims of the teardown, are
    throttled (as botocore's retries give up); results read lazily, as DynamoDB's are."""

    def __init__(self) -> None:
        super().__init__()
        self.results_throttles = 0
        self.teardown_throttles = 0
        self.results_reads = 0

    def results(self, job_id: str) -> Iterator[ShardResult]:
        self.results_reads += 1
        if self.results_throttles > 0:
            self.results_throttles -= 1
            raise _throttled("Query")
        yield from super().results(job_id)

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        if self.teardown_throttles > 0:
            self.teardown_throttles -= 1
            raise _throttled("UpdateItem")
        return super().claim_teardown(job_id, owner, lease_ms)


class Joined(RelayJob):
    """One shard of one unit; keeps what each ``on_join`` saw."""

    function_name = "joined-worker"
    ledger = "joined"
    max_receive_count = 3
    budget = UnitsPerHop.of(1)
    lease_margin_s = 30.0
    units: ClassVar[int] = 0
    done: ClassVar[int] = 0
    joins: ClassVar[list[list[ShardResult]]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Joined.units += 1
        self.result = "refunded"
        return DONE

    def on_done(self) -> None:
        Joined.done += 1

    def on_join(self, results: Iterable[ShardResult]) -> None:
        Joined.joins.append(list(results))


class Broken(RelayJob):
    """One shard that fails at its first unit; the job is torn down FAILED."""

    function_name = "broken-worker"
    ledger = "broken"
    retry = Retry(attempts=1, hop_retries=0)

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        raise RuntimeError("broken on purpose")


class _Context:
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A wall clock the test moves; pauses that take no time."""
    at = [1_000_000.0]
    monkeypatch.setattr(relay_clock, "wall", lambda: at[0])
    monkeypatch.setattr(relay_clock, "sleep", lambda seconds: None)
    Joined.units, Joined.done, Joined.joins = 0, 0, []
    return at


def _started() -> tuple[Any, Throttling, str, str, str]:
    """A started :class:`Joined` job: its backend, ledger, job id, queue and first body."""
    ledger = Throttling()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Joined(data={}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    return backend, ledger, job.job_id, url, backend.queues.pop(url)


def _state(ledger: MemoryLedger, job_id: str) -> JobState:
    status = ledger.status(job_id)
    assert status is not None
    return status.state


REFUNDED = [ShardResult(0, "done", "refunded", "")]

# -- RetriedReads ---------------------------------------------------------------------------


def test_a_read_throttled_mid_way_is_read_again_past_what_was_given(now: list[float]) -> None:
    calls: list[int] = []

    def read() -> Iterator[int]:
        calls.append(1)
        yield from (0, 1)
        if len(calls) == 1:
            raise _throttled("Query")  # the second page
        yield from (2, 3)

    reads = RetriedReads(read)

    assert ([0, 1, 2, 3], 2) == (list(reads), len(calls))
    reads.raise_failure()  # nothing failed for good


def test_a_read_that_keeps_failing_is_raised_to_the_hook_and_after_it(now: list[float]) -> None:
    def read() -> Iterator[int]:
        yield 0
        raise _throttled("Query")

    reads = RetriedReads(read)
    seen = [next(reads)]
    with pytest.raises(ThrottledError):
        seen.append(next(reads))

    assert [0] == seen
    with pytest.raises(ThrottledError):
        reads.raise_failure()  # a hook that swallowed it does not hide it


def test_a_read_is_made_only_when_iterated(now: list[float]) -> None:
    calls: list[int] = []
    reads = RetriedReads(lambda: calls.append(1) or iter([1]))  # type: ignore[func-returns-value]

    reads.raise_failure()

    assert [] == calls


# -- the join's read ------------------------------------------------------------------------


def test_on_join_gets_every_result_though_the_join_read_was_throttled(now: list[float]) -> None:
    backend, ledger, job_id, _, body = _started()
    ledger.results_throttles = 2

    got = Joined.handle(sqs_event(body), _Context(), backend=backend)

    assert {"batchItemFailures": []} == got
    assert [REFUNDED] == Joined.joins
    assert (JobState.TORN_DOWN, {}) == (_state(ledger, job_id), backend.queues.queues)


def test_a_join_whose_read_fails_for_good_comes_back_and_joins_whole(now: list[float]) -> None:
    backend, ledger, job_id, url, body = _started()
    ledger.results_throttles = TRANSIENT_TRIES

    got = Joined.handle(sqs_event(body), _Context(), backend=backend)

    # on_join saw the read fail; the job is not torn down on what it saw: the delivery
    # fails, and SQS delivers it again.
    assert [{"itemIdentifier": "msg-0"}] == got["batchItemFailures"]
    assert [] == Joined.joins  # on_join met the read's error (run_hook logged it)
    assert _state(ledger, job_id) is not JobState.TORN_DOWN
    assert url in backend.queues.queues
    now[0] += 41  # the failed delivery's teardown lease (10 s + the 30-s margin) runs out

    again = Joined.handle(sqs_event(body, receive_count=2), _Context(), backend=backend)

    assert {"batchItemFailures": []} == again
    assert ([REFUNDED], 1, 1) == (Joined.joins, Joined.units, Joined.done)
    assert (JobState.TORN_DOWN, {}) == (_state(ledger, job_id), backend.queues.queues)


def test_a_job_whose_on_join_does_not_read_reads_no_result(now: list[float]) -> None:
    ledger = Throttling()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Broken(data={}, backend=backend).start()
    assert job.packet is not None

    Broken.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), None, backend=backend)

    assert (JobState.FAILED, 0) == (_state(ledger, job.job_id), ledger.results_reads)


# -- SQS's last delivery of an ended shard -----------------------------------------------------


def test_the_last_delivery_of_an_ended_shard_throttled_is_sent_again(now: list[float]) -> None:
    backend, ledger, job_id, url, body = _started()
    ledger.teardown_throttles = TRANSIENT_TRIES

    got = Joined.handle(sqs_event(body, receive_count=3), _Context(), backend=backend)

    assert {"batchItemFailures": []} == got  # acknowledged: not a failure SQS would park
    assert [(body, 40)] == list(backend.queues.queues[url].messages)  # delayed by its lease
    assert _state(ledger, job_id) is not JobState.TORN_DOWN
    now[0] += 41

    copy = backend.queues.pop(url)
    assert {"batchItemFailures": []} == Joined.handle(sqs_event(copy), None, backend=backend)

    assert (JobState.TORN_DOWN, {}) == (_state(ledger, job_id), backend.queues.queues)
    assert (1, 1) == (Joined.units, Joined.done)  # the copy ran no unit, no on_done


def test_an_ended_shard_throttled_before_the_last_delivery_is_left_to_sqs(
    now: list[float],
) -> None:
    backend, ledger, _, url, body = _started()
    ledger.teardown_throttles = TRANSIENT_TRIES

    got = Joined.handle(sqs_event(body, receive_count=2), _Context(), backend=backend)

    assert [{"itemIdentifier": "msg-0"}] == got["batchItemFailures"]
    assert [] == list(backend.queues.queues[url].messages)


def test_the_last_delivery_of_a_shard_not_ended_fails_into_the_dlq(
    now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, ledger, _, url, body = _started()

    def finish(*args: Any, **kwargs: Any) -> bool:
        raise _throttled("TransactWriteItems")

    monkeypatch.setattr(ledger, "finish", finish)

    got = Joined.handle(sqs_event(body, receive_count=3), _Context(), backend=backend)

    # Its units would run again: a hop that keeps failing goes to the DLQ, as SQS decides.
    assert [{"itemIdentifier": "msg-0"}] == got["batchItemFailures"]
    assert [] == list(backend.queues.queues[url].messages)


# -- resume of a DLQ copy ---------------------------------------------------------------------


def test_resume_refuses_a_copy_of_a_hop_that_ran_in_a_torn_down_job(now: list[float]) -> None:
    backend, ledger, job_id, _, body = _started()
    Joined.handle(sqs_event(body), None, backend=backend)
    assert (JobState.TORN_DOWN, {}) == (_state(ledger, job_id), backend.queues.queues)

    # A copy of that hop, moved to the DLQ after it ran, is resumed.
    with pytest.raises(ConfigurationError, match="delete it and run `relaystate reap`"):
        Joined.resume(body, backend=backend)

    assert {} == backend.queues.queues  # no queue made that nothing would remove
    assert {} == backend.mappings.mappings


def test_resume_of_a_copy_of_an_ended_shard_finishes_its_teardown(now: list[float]) -> None:
    backend, ledger, job_id, url, body = _started()
    ledger.teardown_throttles = TRANSIENT_TRIES
    Joined.handle(sqs_event(body), _Context(), backend=backend)
    # Its last delivery was killed: the copy is in the DLQ, the job not torn down.
    backend.queues.queues[url].messages.clear()
    now[0] += 41

    resumed = Joined.resume(body, backend=backend)
    assert resumed.packet is not None
    copy = backend.queues.pop(resumed.packet.queue_url)
    assert {"batchItemFailures": []} == Joined.handle(sqs_event(copy), None, backend=backend)

    assert (JobState.TORN_DOWN, {}) == (_state(ledger, job_id), backend.queues.queues)
    assert (1, 1) == (Joined.units, Joined.done)


def test_resume_reopens_the_failed_shard_of_a_torn_down_job(now: list[float]) -> None:
    ledger = MemoryLedger()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Broken(data={}, backend=backend).start()
    assert job.packet is not None
    Broken.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), None, backend=backend)
    assert _state(ledger, job.job_id) is JobState.FAILED
    parked = backend.queues.pop(job.packet.dlq_url)

    resumed = Broken.resume(parked, backend=backend)

    assert resumed.state is JobState.QUEUED
    assert _state(ledger, job.job_id) is JobState.RUNNING
