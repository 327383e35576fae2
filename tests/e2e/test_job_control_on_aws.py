"""Job control on AWS: a signal wakes a waiting job; pause holds a sleeping job past its wake-up
(its mapping disabled), and unpause lets it finish."""

from __future__ import annotations

import pytest

from relaystate import JobState
from tests.e2e import scenarios
from tests.e2e.report import Report
from tests.e2e.rig import Rig

#: The night is long enough for the pause to take hold in it (a mapping takes a while to be
#: Disabled), and the job is held paused well past the night's end.
NIGHT_S, HOLD_S = 60.0, 30.0


def test_a_signal_wakes_the_waiting_job(rig: Rig) -> None:
    woken = scenarios.wake(rig)
    assert JobState.WAITING == woken.waiting
    assert 1 == woken.woken
    assert JobState.TORN_DOWN == woken.state
    assert {"refunded": True, "by": "bo"} == woken.outcome
    assert [] == woken.left_over


@pytest.fixture(scope="module")
def paused(rig: Rig, e2e_report: Report) -> scenarios.Paused:
    found = scenarios.pause_nightly(rig, night_s=NIGHT_S, hold_s=HOLD_S)
    e2e_report.note("pause_held_s", round(found.held_s, 1))
    return found


def test_a_paused_job_runs_nothing(paused: scenarios.Paused) -> None:
    assert JobState.PAUSED == paused.paused_state
    first, last = paused.units_while_paused
    assert first == last


def test_an_unpaused_job_finishes_after_the_pause(paused: scenarios.Paused) -> None:
    assert [0, 1] == [day for day, _ in paused.exports]
    (_, first), (_, second) = paused.exports
    assert second - first >= NIGHT_S + HOLD_S
    assert JobState.TORN_DOWN == paused.state
    assert [] == paused.left_over
