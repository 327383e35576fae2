"""LocalLambda's latency and consistency profiles: the figures and the seeded draws."""

from __future__ import annotations

import random

import pytest

from relaystate import ConfigurationError
from relaystate.local.consistency import Consistency
from relaystate.local.latency import AWS_LATENCY, Latency, LatencyInjector, Spread
from relaystate.local.profiles import consistency_of, latency_of


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


class FakeTime:
    """A clock that only the injector's sleeps and the endpoint's work move."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("endpoint_s", "slept", "total_s"),
    [
        (0.002, [0.005, 0.003], 0.010),  # the endpoint's 2 ms are part of the 10 drawn
        (0.008, [0.005], 0.013),  # slower than the half kept for it: nothing more to wait
    ],
)
def test_a_call_takes_its_drawn_time_with_the_endpoints_own_time_in_it(
    endpoint_s: float, slept: list[float], total_s: float
) -> None:
    fake = FakeTime()
    injector = LatencyInjector(
        Latency({"sqs": Spread(10, 10)}), sleep=fake.sleep, clock=lambda: fake.now
    )

    injector.before("sqs", "SendMessage")
    fake.now += endpoint_s  # moto answers
    injector.after()

    assert (slept, total_s) == (fake.slept, pytest.approx(fake.now))


def test_a_call_without_latency_waits_nothing_after_either() -> None:
    fake = FakeTime()
    injector = LatencyInjector(Latency({}), sleep=fake.sleep, clock=lambda: fake.now)

    assert (0.0, 0.0, []) == (injector.before("sqs", "X"), injector.after(), fake.slept)


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
