"""AdaptiveBudget: what it expects of the next unit, and that a long job keeps its pace.

Unit tier: no I/O. The long-job case runs the benchmark's hop simulation (bench/budget.py).
"""

from __future__ import annotations

import math
import random

import pytest

from bench.budget import DISTRIBUTIONS, simulate
from relaystate.budget import AdaptiveBudget, SendLatencies


def _fed(draw: random.Random, units: int, budget: AdaptiveBudget | None = None) -> AdaptiveBudget:
    budget = budget or AdaptiveBudget()
    for _ in range(units):
        budget.record_unit(50.0 * math.exp(draw.gauss(0.0, 1.0)))
    return budget


def test_the_estimate_for_heavy_tailed_units_does_not_grow_with_the_units_seen() -> None:
    # Lognormal units: the slowest unit seen grows with every unit; the estimate must not.
    draw = random.Random(7)
    budget = _fed(draw, 2_000)
    young = budget.threshold_ms()
    old = _fed(draw, 60_000, budget).threshold_ms()

    assert 0.85 < old / young < 1.15
    fitted = 50.0 * math.exp(4.26)  # the 1-in-100,000 unit of this distribution
    assert 0.8 < old / fitted < 1.25


def test_the_state_a_packet_carries_gives_the_same_estimate() -> None:
    budget = _fed(random.Random(3), 5_000)

    # The state is rounded (sums to 4 places, bucket maxima to 0.1 ms).
    assert budget.threshold_ms() == pytest.approx(
        AdaptiveBudget(budget.state()).threshold_ms(), rel=1e-3
    )


def test_bounded_units_are_expected_under_one_and_a_half_times_the_slowest_seen() -> None:
    draw = random.Random(5)
    budget = AdaptiveBudget()
    for _ in range(1_000):
        budget.record_unit(draw.uniform(10.0, 200.0))

    # A log-normal fit of these units expects more than 1 s at 1 in 100,000.
    assert 200.0 <= budget.threshold_ms() <= 300.0


def test_a_slow_mode_is_expected_in_full() -> None:
    draw = random.Random(9)
    budget = AdaptiveBudget()
    for _ in range(2_000):
        budget.record_unit(20.0 if draw.random() < 0.95 else 2_000.0)

    assert budget.threshold_ms() >= 2_000.0


def test_a_long_job_on_a_short_function_keeps_its_units_per_hop_and_loses_no_hop() -> None:
    windows = simulate(
        AdaptiveBudget,
        DISTRIBUTIONS["lognormal median 50 ms, sigma 1"],
        hops=10_000,
        timeout_ms=2_000.0,
        every=1_000,
    )

    first, *_, last = windows
    assert last["units per hop"] >= 0.95 * first["units per hop"]
    assert last["utilization"] >= 0.95 * first["utilization"]
    assert [0] * 10 == [w["killed later"] for w in windows]


@pytest.mark.parametrize("keep", [1, 2, 5, 20])
def test_the_worst_send_is_the_slowest_of_the_last_keep_sends(keep: int) -> None:
    draw = random.Random(keep)
    seen = SendLatencies(keep=keep)
    recent: list[float] = []
    for _ in range(500):
        # Ties and the slowest send leaving the window both happen often among few values.
        ms = float(draw.choice([10, 20, 30, 40, draw.randint(1, 60)]))
        seen.record(ms)
        recent = [*recent, ms][-keep:]
        assert seen.worst() == max(recent)
    seen.clear()
    assert seen.worst() is None
