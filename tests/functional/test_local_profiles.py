"""LocalLambda's latency and consistency profiles: what the job's clients see; off by default.

Times are scaled down where a test would otherwise wait a minute (the figures and draws are in
the unit tier, test_latency_figures.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from relaystate import ConfigurationError
from relaystate.errors import QueueDeletedRecentlyError
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.local.latency import Latency, Spread

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


def test_profiles_are_off_by_default(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        assert (None, None) == (lam.latency, lam.consistency)


def test_a_consistency_profile_and_mapping_transition_s_are_not_given_together(
    sqs_endpoint: str,
) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        LocalLambda(endpoint_url=sqs_endpoint, consistency="aws", mapping_transition_s=1.0)


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
