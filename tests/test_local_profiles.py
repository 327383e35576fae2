"""LocalLambda's latency and consistency profiles: what each models; both are off by default.

Unit tier for the figures and the draws; functional tier (moto's server on 127.0.0.1) for what
the job's clients see. Times are scaled down where a test would otherwise wait a minute.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from relaystate import ConfigurationError
from relaystate.errors import QueueDeletedRecentlyError
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.local.latency import AWS_LATENCY, Latency, LatencyInjector, Spread
from relaystate.local.profiles import consistency_of, latency_of

#: AWS's minute and seconds, shortened so that a test can wait them out.
SHORT = Consistency(
    count_lag_s=0.6,
    queue_deletion_s=0.6,
    name_reuse_s=0.6,
    mapping_create_s=0.3,
    mapping_delete_s=0.3,
)


def _seconds(call: object, *args: object, **kwargs: object) -> float:
    started = time.perf_counter()
    call(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - started


# -- the figures (unit) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "low_ms", "high_ms"),
    [
        ("sqs.SendMessage", 10, 20),
        ("dynamodb.UpdateItem", 5, 10),
        ("lambda.CreateEventSourceMapping", 50, 200),
        ("lambda.DeleteEventSourceMapping", 50, 200),
        ("lambda.GetEventSourceMapping", 30, 200),
    ],
)
def test_the_aws_profile_puts_medians_where_the_sources_do(
    operation: str, low_ms: float, high_ms: float
) -> None:
    assert low_ms <= AWS_LATENCY[operation].p50_ms <= high_ms


def test_every_aws_figure_has_a_tail_above_its_median() -> None:
    assert [] == [op for op, s in AWS_LATENCY.items() if not s.p99_ms >= 3 * s.p50_ms]


def test_a_spread_draws_its_median_and_its_99th_percentile() -> None:
    rng = random.Random(5)
    draws = sorted(Spread(20, 100).draw_s(rng) for _ in range(50_000))

    assert 20 == pytest.approx(draws[25_000] * 1000, rel=0.05)
    assert 100 == pytest.approx(draws[49_500] * 1000, rel=0.1)


def test_latency_draws_are_seeded() -> None:
    def waits(seed: int) -> list[float]:
        slept: list[float] = []
        injector = LatencyInjector(Latency.aws(seed=seed), sleep=slept.append)
        for _ in range(20):
            injector.delay("sqs", "SendMessage")
        return slept

    assert waits(3) == waits(3)
    assert waits(3) != waits(4)


def test_latency_scale_multiplies_every_draw() -> None:
    slept: list[float] = []
    half = LatencyInjector(Latency({"sqs": Spread(10, 10)}, scale=0.5), sleep=slept.append)

    half.delay("sqs", "SendMessage")

    assert [0.005] == slept


def test_an_operation_falls_back_to_its_service_then_to_no_latency() -> None:
    latency = Latency({"sqs": Spread(10, 20), "sqs.SendMessage": Spread(30, 60)})

    assert Spread(30, 60) == latency.spread("sqs", "SendMessage")
    assert Spread(10, 20) == latency.spread("sqs", "PurgeQueue")
    assert latency.spread("dynamodb", "GetItem") is None


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Spread(0, 10),
        lambda: Spread(20, 10),
        lambda: Latency({"sqs": (10, 20)}),  # type: ignore[dict-item]
        lambda: Latency(seed="7"),  # type: ignore[arg-type]
        lambda: Latency(scale=0),
        lambda: Consistency(count_lag_s=-1),
        lambda: latency_of("fast"),
        lambda: consistency_of("strong"),
    ],
)
def test_profiles_refuse_what_cannot_be_meant(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        bad()  # type: ignore[operator]


def test_consistency_scaled_shortens_every_time() -> None:
    assert Consistency(0.3, 6.0, 6.0, 0.3, 0.3) == Consistency.aws().scaled(0.1)


def test_profiles_are_off_by_default(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        assert (None, None) == (lam.latency, lam.consistency)


def test_a_consistency_profile_and_mapping_transition_s_are_not_given_together(
    sqs_endpoint: str,
) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        LocalLambda(endpoint_url=sqs_endpoint, consistency="aws", mapping_transition_s=1.0)


# -- latency on the job's calls (functional) ------------------------------------------------------

SLOW = Latency({"sqs.SendMessage": Spread(150, 150), "lambda": Spread(100, 100)}, seed=1)


@pytest.fixture
def slow_lam(sqs_endpoint: str) -> Iterator[LocalLambda]:
    with LocalLambda(endpoint_url=sqs_endpoint, latency=SLOW) as lam:
        yield lam


def test_latency_slows_the_jobs_sqs_calls(slow_lam: LocalLambda) -> None:
    url = slow_lam.sqs.create_queue(QueueName=f"slow-{time.time_ns()}")["QueueUrl"]

    assert _seconds(slow_lam.backend.queues.send, url, "x") >= 0.15
    assert _seconds(slow_lam.backend.queues.describe, url) < 0.15  # not in the table


def test_latency_slows_the_lambda_api_of_the_registry(slow_lam: LocalLambda) -> None:
    slow_lam.deploy("slow-fn", lambda event, context: None)

    assert _seconds(slow_lam.backend.mappings.function_timeout_s, "slow-fn") >= 0.1


def test_latency_does_not_slow_the_emulated_service(slow_lam: LocalLambda) -> None:
    url = slow_lam.sqs.create_queue(QueueName=f"slow-{time.time_ns()}")["QueueUrl"]

    assert _seconds(slow_lam._poller.client.send_message, QueueUrl=url, MessageBody="x") < 0.15


def test_the_aws_profile_slows_a_ledger_write(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint, latency=Latency.aws(seed=2, scale=10)) as lam:
        ledger = lam.ledger(f"slow-ledger-{time.time_ns()}")
        get = ledger.client.get_item
        key = {"pk": {"S": "job#x"}, "sk": {"S": "job"}}

        # GetItem's p50 is 4 ms: at ten times AWS's latency, 40 ms.
        assert _seconds(get, TableName=ledger.table_name, Key=key) >= 0.005


# -- consistency (functional) ---------------------------------------------------------------------


@pytest.fixture
def late_lam(sqs_endpoint: str) -> Iterator[LocalLambda]:
    with LocalLambda(endpoint_url=sqs_endpoint, consistency=SHORT) as lam:
        yield lam


def _counts(lam: LocalLambda, url: str) -> int:
    found = lam.backend.queues.describe(url)
    assert found is not None
    return int(found["ApproximateNumberOfMessages"])


def test_approximate_counts_lag_behind(late_lam: LocalLambda) -> None:
    url = late_lam.sqs.create_queue(QueueName=f"lag-{time.time_ns()}")["QueueUrl"]
    for _ in range(3):
        late_lam.backend.queues.send(url, "x")

    assert 0 == _counts(late_lam, url)  # a new queue counted 0; that is what shows for now
    time.sleep(SHORT.count_lag_s + 0.1)
    assert 3 == _counts(late_lam, url)  # the read a lag ago


def test_counts_are_exact_without_a_profile(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        url = lam.sqs.create_queue(QueueName=f"exact-{time.time_ns()}")["QueueUrl"]
        lam.backend.queues.send(url, "x")

        assert 1 == _counts(lam, url)


def test_a_deleted_queue_still_answers_and_swallows_sends_until_its_deletion_is_done(
    late_lam: LocalLambda,
) -> None:
    url = late_lam.sqs.create_queue(QueueName=f"going-{time.time_ns()}")["QueueUrl"]
    late_lam.backend.queues.delete(url)

    late_lam.backend.queues.send(url, "lost")  # "succeeds"
    assert late_lam.backend.queues.describe(url) is not None  # still answers
    assert [] == late_lam.left_over()  # the service sees it gone already

    time.sleep(SHORT.queue_deletion_s + 0.1)
    assert late_lam.backend.queues.describe(url) is None
    assert [] == [u for u in late_lam.sqs.list_queues().get("QueueUrls", []) if u == url]


def test_a_deleted_name_cannot_be_used_again_at_once(late_lam: LocalLambda) -> None:
    name = f"reused-{time.time_ns()}"
    ref = late_lam.backend.queues.create(name, {}, {})
    late_lam.backend.queues.delete(ref.url)

    with pytest.raises(QueueDeletedRecentlyError, match="QueueDeletedRecently"):
        late_lam.backend.queues.create(name, {}, {})

    time.sleep(SHORT.name_reuse_s + 0.1)
    assert name in late_lam.backend.queues.create(name, {}, {}).url


def test_without_a_profile_a_deleted_name_is_free_at_once(sqs_endpoint: str) -> None:
    # moto 5 does not block the name: the consistency profile is what does.
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        name = f"reused-{time.time_ns()}"
        lam.backend.queues.delete(lam.backend.queues.create(name, {}, {}).url)

        assert name in lam.backend.queues.create(name, {}, {}).url


def test_pending_deletions_take_effect_when_the_local_lambda_closes(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint, consistency="aws") as lam:
        url = lam.sqs.create_queue(QueueName=f"closing-{time.time_ns()}")["QueueUrl"]
        lam.backend.queues.delete(url)
        assert lam.backend.queues.describe(url) is not None  # its minute is not up

    with LocalLambda(endpoint_url=sqs_endpoint) as after:
        assert after.backend.queues.describe(url) is None


def test_mapping_states_take_the_profiles_times(late_lam: LocalLambda) -> None:
    late_lam.deploy("late-fn", lambda event, context: None)
    ref = late_lam.backend.queues.create(f"mapped-{time.time_ns()}", {}, {})
    info = late_lam.backend.mappings.create("late-fn", ref.arn, batch_size=1, max_concurrency=None)

    assert "Creating" == info.state
    time.sleep(SHORT.mapping_create_s + 0.05)
    assert "Enabled" == late_lam.backend.mappings.get(info.id).state  # type: ignore[union-attr]

    late_lam.backend.mappings.delete(info.id)
    assert "Deleting" == late_lam.backend.mappings.get(info.id).state  # type: ignore[union-attr]
    late_lam.run_until_idle(timeout_s=5)  # waits for it to be gone
    assert late_lam.backend.mappings.get(info.id) is None
    assert [] == [left for left in late_lam.left_over() if left.startswith("mapping")]
