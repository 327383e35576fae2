"""LocalLambda's fault injection: duplicate deliveries, crashes, throttles, and their seed.

Functional tier: a real SQS endpoint (moto's server on 127.0.0.1). Plain handlers here; the
ledger under faults is tests/chaos/test_chaos.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from relaystate import ConfigurationError
from relaystate.errors import ThrottledError
from relaystate.local import CRASH_POINTS, Faults, LocalLambda
from relaystate.ports import QueueRef
from tests.queues import backlog


@pytest.fixture
def runtime(sqs_endpoint: str) -> Iterator[Any]:
    """Makes LocalLambdas on the shared endpoint; closes them at the end of the test."""
    made: list[LocalLambda] = []

    def make(faults: Faults | None = None, **options: Any) -> LocalLambda:
        options.setdefault("timeout_s", 2.0)
        options.setdefault("retry_delay_s", 0)
        lam = LocalLambda(endpoint_url=sqs_endpoint, faults=faults, **options)
        made.append(lam)
        return lam

    yield make
    for lam in made:
        lam.close()


def serve(lam: LocalLambda, name: str, handler: Any) -> QueueRef:
    """Deploy ``handler`` as ``name`` and map a new queue to it; return the queue."""
    lam.deploy(name, handler)
    queue = lam.backend.queues.create(
        f"test-faults-{uuid.uuid4().hex[:12]}", {"VisibilityTimeout": "30"}, {}
    )
    lam.backend.mappings.create(name, queue.arn, batch_size=1, max_concurrency=None)
    return queue


def first_delivery(event: dict[str, Any]) -> bool:
    return "1" == event["Records"][0]["attributes"]["ApproximateReceiveCount"]


# -- Faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["duplicate_rate", "crash_rate", "throttle_rate"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True, "0.3"])
def test_faults_refuse_a_rate_that_is_not_a_probability(field: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=field):
        Faults(**{field: value})


def test_faults_refuse_an_unknown_crash_point_and_a_non_int_seed() -> None:
    with pytest.raises(ConfigurationError, match="crash_points"):
        Faults(crash_points=("before-lunch",))
    with pytest.raises(ConfigurationError, match="seed"):
        Faults(seed=1.5)  # type: ignore[arg-type]


def test_faults_default_to_nothing_injected_and_the_four_recoverable_crash_points() -> None:
    faults = Faults()
    assert (0.0, 0.0, 0.0, None) == (
        faults.duplicate_rate,
        faults.crash_rate,
        faults.throttle_rate,
        faults.seed,
    )
    assert ("unit", "checkpoint", "send", "teardown") == faults.crash_points == CRASH_POINTS
    assert not faults.enabled
    assert Faults(throttle_rate=0.01).enabled


def test_local_lambda_refuses_faults_of_another_type(sqs_endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="Faults"):
        LocalLambda(endpoint_url=sqs_endpoint, faults={"crash_rate": 0.1})  # type: ignore[arg-type]


# -- duplicate ------------------------------------------------------------------------------------


def test_a_duplicate_delivery_hands_the_same_event_to_two_concurrent_invocations(
    runtime: Any, sqs: Any
) -> None:
    lam = runtime(Faults(duplicate_rate=1.0, seed=1))
    both_running = threading.Barrier(2, timeout=5)
    seen: list[tuple[str, str]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        record = event["Records"][0]
        seen.append((record["messageId"], record["receiptHandle"]))
        both_running.wait()  # raises BrokenBarrierError unless both run at once

    queue = serve(lam, "twice", handler)
    lam.backend.queues.send(queue.url, "once")

    lam.run_until_idle(timeout_s=10)

    assert 2 == len(seen)
    assert seen[0] == seen[1]
    assert ["ok", "ok"] == [i.outcome for i in lam.invocations]
    assert 1 == lam.faults_injected["duplicate"]
    assert 0 == backlog(sqs, queue.url)  # deleted


@pytest.mark.parametrize("retry_delay_s", [0, 0.05])
@pytest.mark.parametrize("failing_copy", [0, 1])
def test_one_failed_copy_of_a_duplicate_does_not_bring_back_a_message_its_twin_handled(
    runtime: Any, sqs: Any, retry_delay_s: float, failing_copy: int
) -> None:
    # Both copies share a receipt handle: whichever ends first, the failure must not make
    # visible again a message the other copy handled.
    lam = runtime(Faults(duplicate_rate=1.0, seed=2), retry_delay_s=retry_delay_s)
    calls = iter(range(100))
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            n = next(calls)
        if n == failing_copy:
            time.sleep(0.1 * failing_copy)
            raise RuntimeError("this copy fails")
        time.sleep(0.1 * (1 - failing_copy))

    queue = serve(lam, "one-copy-fails", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert 2 == next(calls)  # the two copies, and no redelivery
    assert ["error", "ok"] == sorted(i.outcome for i in lam.invocations)
    assert 0 == backlog(sqs, queue.url)


# -- crash --------------------------------------------------------------------------------------


def test_a_crash_before_a_unit_kills_the_invocation_and_leaves_its_message(
    runtime: Any,
) -> None:
    lam = runtime(Faults(crash_rate=1.0, crash_points=["unit"], seed=3))
    loops: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        if not first_delivery(event):
            return
        n = 0
        try:
            for n in range(1, 11):  # noqa: B007 - n is read in finally
                context.get_remaining_time_in_millis()
        except Exception:  # a crash is not an Exception: the handler cannot catch it
            loops.append(-1)
        finally:
            loops.append(n)

    queue = serve(lam, "dies", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    first, second = lam.invocations
    assert ("crash", "ok") == (first.outcome, second.outcome)
    assert "injected crash before a unit" in first.error
    assert first.message_ids == first.failed_message_ids  # left for redelivery
    assert 1 == len(loops)
    assert loops[0] < 10
    assert 1 == lam.faults_injected["crash:unit"]


def test_a_crash_after_the_send_comes_after_the_message_was_sent(runtime: Any, sqs: Any) -> None:
    lam = runtime(Faults(crash_rate=1.0, crash_points=["send"], seed=4))
    out = lam.backend.queues.create(f"test-faults-out-{uuid.uuid4().hex[:8]}", {}, {})

    def handler(event: dict[str, Any], context: Any) -> None:
        if first_delivery(event):
            lam.backend.queues.send(out.url, "sent before the crash")
            lam.backend.queues.send(out.url, "never sent")

    queue = serve(lam, "sends", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert ["crash", "ok"] == [i.outcome for i in lam.invocations]
    received = sqs.receive_message(QueueUrl=out.url, MaxNumberOfMessages=10)
    assert ["sent before the crash"] == [m["Body"] for m in received.get("Messages", [])]


def test_a_crash_is_final_later_aws_calls_of_the_invocation_are_refused(runtime: Any) -> None:
    lam = runtime(Faults(crash_rate=1.0, crash_points=["teardown"], seed=5))
    after: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        if not first_delivery(event):
            return
        try:
            lam.backend.mappings.delete("no-such-mapping")
        finally:  # a killed Lambda's cleanup code makes no AWS call either
            try:
                lam.backend.queues.describe(queue.url)
                after.append("described")
            except BaseException as exc:
                after.append(type(exc).__name__)

    queue = serve(lam, "torn", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert ["FunctionKilled"] == after
    assert ["crash", "ok"] == [i.outcome for i in lam.invocations]
    assert "before DeleteEventSourceMapping" in lam.invocations[0].error
    assert 0 == lam.aws_calls["DeleteEventSourceMapping"]  # never made


# -- throttle -----------------------------------------------------------------------------------


def test_a_throttled_sqs_call_raises_throttled_error_through_the_error_mapping(
    runtime: Any,
) -> None:
    lam = runtime(Faults(throttle_rate=1.0, seed=6))
    caught: list[ThrottledError] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        try:
            lam.backend.queues.send(queue.url, "more")
        except ThrottledError as exc:
            caught.append(exc)

    queue = serve(lam, "throttled", handler)
    lam.backend.queues.send(queue.url, "work")  # outside an invocation: not throttled

    lam.run_until_idle(timeout_s=10)

    assert ["ok"] == [i.outcome for i in lam.invocations]  # the poller is never throttled
    assert ["ThrottlingException"] == [e.code for e in caught]
    assert ("sqs", "SendMessage") == (caught[0].service, caught[0].operation)
    assert 1 == lam.faults_injected["throttle"]


def test_a_throttled_ledger_call_raises_provisioned_throughput_exceeded(runtime: Any) -> None:
    lam = runtime(Faults(throttle_rate=1.0, seed=7))
    ledger = lam.ledger(f"faults-{uuid.uuid4().hex[:8]}")
    codes: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        try:
            ledger.status("some-job")
        except ThrottledError as exc:
            codes.append(exc.code)

    queue = serve(lam, "ledger-throttled", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert ["ProvisionedThroughputExceededException"] == codes
    assert ledger.status("some-job") is None  # outside an invocation: not throttled


def test_calls_outside_invocations_are_throttled_only_when_asked(runtime: Any) -> None:
    lam = runtime(Faults(throttle_rate=1.0, throttle_outside=True, seed=8))
    with pytest.raises(ThrottledError):
        lam.backend.queues.create(f"test-faults-{uuid.uuid4().hex[:8]}", {}, {})
    assert 1 == lam.faults_injected["throttle"]


# -- the seed and the retry delay -----------------------------------------------------------------


def run_chain(lam: LocalLambda, hops: int) -> list[tuple[str, str]]:
    """A handler that relays a counter to its own queue ``hops`` times, a few calls a hop."""

    def handler(event: dict[str, Any], context: Any) -> None:
        n = int(event["Records"][0]["body"])
        for _ in range(5):
            context.get_remaining_time_in_millis()
        if n + 1 < hops:
            lam.backend.queues.describe(queue.url)
            lam.backend.queues.send(queue.url, str(n + 1))

    queue = serve(lam, "chain", handler)
    lam.backend.queues.send(queue.url, "0")
    lam.run_until_idle(timeout_s=30)
    return [(i.outcome, i.error.split(" (")[0]) for i in lam.invocations]


def test_the_same_seed_injects_the_same_faults(runtime: Any) -> None:
    # One message at a time (no duplicates, no crash after a send): deliveries are ordered.
    faults = Faults(crash_rate=0.3, crash_points=["unit"], throttle_rate=0.2, seed=9)
    first = runtime(faults)
    again = runtime(faults)

    assert run_chain(first, 12) == run_chain(again, 12)
    assert first.faults_injected == again.faults_injected
    assert first.faults_injected["crash:unit"] > 0
    assert first.faults_injected["throttle"] > 0


def test_a_fractional_retry_delay_redelivers_a_failed_message_after_it(runtime: Any) -> None:
    lam = runtime(retry_delay_s=0.3)
    starts: list[float] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        starts.append(time.monotonic())
        if len(starts) == 1:
            raise RuntimeError("fails once")

    queue = serve(lam, "later", handler)
    lam.backend.queues.send(queue.url, "work")

    lam.run_until_idle(timeout_s=10)

    assert ["error", "ok"] == [i.outcome for i in lam.invocations]
    assert starts[1] - starts[0] >= 0.3


@pytest.mark.parametrize("delay", [-0.5, 43_200.5, True, "1"])
def test_local_lambda_refuses_a_retry_delay_sqs_would_not_take(
    sqs_endpoint: str, delay: Any
) -> None:
    with pytest.raises(ConfigurationError, match="retry_delay_s"):
        LocalLambda(endpoint_url=sqs_endpoint, retry_delay_s=delay)


# -- the ledger's DynamoDB --------------------------------------------------------------------


def race_for_the_teardown(ledger: Any, job_id: str, writers: int) -> list[str]:
    """``writers`` threads claim the job's teardown at once; the owners that won."""
    ledger.open_job(job_id, shards=1, job_type="t", function_name="f")
    start = threading.Barrier(writers, timeout=5)
    won: list[str] = []

    def claim(owner: str) -> None:
        start.wait()
        if ledger.claim_teardown(job_id, owner, lease_ms=60_000):
            won.append(owner)

    threads = [threading.Thread(target=claim, args=(f"request-{i}",)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_concurrent_conditional_writes_through_a_ledger_have_one_winner(runtime: Any) -> None:
    # moto checks a condition, then writes: unserialized, 8 racing writers sometimes had two
    # winners (5 trials in 300), which DynamoDB never allows and the ledger's fencing needs.
    lam = runtime()
    ledger = lam.ledger(f"faults-race-{uuid.uuid4().hex[:8]}")

    winners = [len(race_for_the_teardown(ledger, f"race-{trial}", 8)) for trial in range(60)]

    assert [1] * 60 == winners
