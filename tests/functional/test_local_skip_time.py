"""``LocalLambda(skip_time=True)``: sleeps and waits of hours and days, tested in seconds.

Functional tier: moto's server in this process (the session's, or LocalLambda's own) -- the
endpoint whose clock the runtime can move.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from examples import approval, nightly
from relaystate import DONE, ConfigurationError, RelayJob, Sleep, WaitFor
from relaystate import clock as relay_clock
from relaystate.cli import cli
from relaystate.local import LocalLambda, moto_process
from relaystate.testing.budget import UnitsPerHop

DAY_S = 86_400


class Sleeper(RelayJob):
    """Runs a unit, sleeps ``data["sleep_s"]``, runs another; records when each ran."""

    job_type = "test_local_skip_time.Sleeper"
    function_name = "sleeper-worker"
    ran: ClassVar[list[float]] = []

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        Sleeper.ran.append(relay_clock.wall())
        return DONE if cursor else Sleep(self.data["sleep_s"], 1)


class Worker(RelayJob):
    """``data["units"]`` units of real work, one a hop; records each unit's start and end."""

    job_type = "test_local_skip_time.Worker"
    function_name = "skip-time-worker"
    budget = UnitsPerHop.of(1)
    ran: ClassVar[list[tuple[float, float]]] = []

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        began = relay_clock.wall()
        time.sleep(0.2)  # real work: the clock must not jump under it
        Worker.ran.append((began, relay_clock.wall()))
        return DONE if cursor + 1 >= self.data["units"] else cursor + 1


class Counter(RelayJob):
    """Sums 0..n-1, two units a hop, with no delay anywhere."""

    job_type = "test_local_skip_time.Counter"
    function_name = "skip-time-counter"
    budget = UnitsPerHop.of(2)
    totals: ClassVar[list[int]] = []

    def plan(self) -> int:
        self.data["total"] = 0
        return 0

    def step(self, cursor: int) -> Any:
        self.data["total"] += cursor
        return DONE if cursor + 1 >= self.data["n"] else cursor + 1

    def on_done(self) -> None:
        Counter.totals.append(self.data["total"])


class Waiter(RelayJob):
    """Waits ``data["timeout_s"]`` for a signal that does not come, then ends."""

    job_type = "test_local_skip_time.Waiter"
    function_name = "skip-time-waiter"
    ledger = "skip-time-ledger"
    woke: ClassVar[list[tuple[float, bool]]] = []

    def plan(self) -> str:
        return "ask"

    def step(self, cursor: str) -> Any:
        if cursor == "ask":
            Waiter.woke.append((relay_clock.wall(), False))
            return WaitFor("approved", "go", timeout_s=self.data["timeout_s"])
        Waiter.woke.append((relay_clock.wall(), "approved" in self.signals))
        return DONE


# -- the examples --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slept() -> tuple[nightly.Slept, float]:
    began = time.monotonic()
    found = nightly.run(nights=2, night_s=DAY_S, skip_time=True)
    return found, time.monotonic() - began


def test_nightly_sleeping_a_day_exports_as_without_skipping(
    slept: tuple[nightly.Slept, float],
) -> None:
    found, _ = slept
    assert [0, 1] == [day for day, _ in found.exports]
    ((_, first), (_, second)) = found.exports
    assert second - first >= DAY_S  # on the virtual clock the job reads
    assert [] == found.left_over


def test_nightly_sleeping_a_day_takes_seconds_not_a_day(
    slept: tuple[nightly.Slept, float],
) -> None:
    # Not a speed claim (the example's run_until_idle(60) would raise if time were not
    # skipped): the day between the exports passed on the virtual clock, not the real one.
    found, real_s = slept
    ((_, first), (_, second)) = found.exports
    assert second - first >= DAY_S > real_s


def test_a_day_of_sleep_costs_at_most_one_invocation_per_900_s(
    slept: tuple[nightly.Slept, float],
) -> None:
    found, _ = slept
    assert found.invocations <= DAY_S // 900 + 2  # the chained wake-ups, and the job's 2 hops


def test_approval_times_out_after_hours_in_seconds_as_after_seconds_without_skipping() -> None:
    late = approval.run(approve=False, timeout_s=3 * 3600, skip_time=True)
    assert {"refunded": False, "by": None} == late.outcome
    assert [] == late.left_over


def test_a_wait_without_a_timeout_still_waits_for_its_signal() -> None:
    decided = approval.run(skip_time=True)
    assert decided.waited
    assert {"refunded": True, "by": "ann"} == decided.outcome
    assert [] == decided.left_over


@pytest.mark.lam(skip_time=True)
def test_a_wait_of_hours_costs_at_most_one_invocation_per_900_s(lam: LocalLambda) -> None:
    Waiter.woke = []
    lam.deploy(Waiter)
    lam.ledger(Waiter.ledger)
    Waiter(data={"timeout_s": 3 * 3600}, backend=lam.backend).start()

    lam.run_until_idle(timeout_s=60)

    ((asked, _), (went_on, signalled)) = Waiter.woke
    assert not signalled
    assert went_on - asked >= 3 * 3600
    assert len(lam.invocations) <= 3 * 3600 // 900 + 2


# -- the clock -----------------------------------------------------------------------------


@pytest.mark.lam(skip_time=True)
def test_a_delayed_message_arrives_at_its_time_on_the_virtual_clock_the_context_reports(
    lam: LocalLambda,
) -> None:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        now_ms = relay_clock.now_ms()
        seen.append(
            {
                "now_ms": now_ms,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "deadline_ms": context.deadline_ms,
                "sent_ms": int(event["Records"][0]["attributes"]["SentTimestamp"]),
            }
        )

    lam.deploy("delayed-recorder", handler)
    queue = lam.backend.queues.create(
        f"test-skip-{uuid.uuid4().hex[:12]}", {"VisibilityTimeout": "30"}, {}
    )
    lam.backend.mappings.create("delayed-recorder", queue.arn, batch_size=1, max_concurrency=None)
    sent_ms = relay_clock.now_ms()
    lam.sqs.send_message(QueueUrl=queue.url, MessageBody="later", DelaySeconds=900)

    lam.run_until_idle(timeout_s=30)

    (got,) = seen
    assert got["now_ms"] >= sent_ms + 900_000  # never before its time
    assert abs(got["sent_ms"] - sent_ms) < 5_000  # SQS's timestamp: the same clock
    assert 890 < lam.skipped_s <= 901  # less the real time that passed since the send
    assert abs(got["deadline_ms"] - got["now_ms"] - got["remaining_ms"]) < 1_000
    (invocation,) = lam.invocations
    assert invocation.started_ms <= got["now_ms"] <= invocation.ended_ms
    before, now, after = time.time(), lam.now(), time.time()
    assert before + lam.skipped_s <= now <= after + lam.skipped_s


@pytest.mark.lam(skip_time=True)
def test_the_invocation_log_shows_the_sleep_on_the_virtual_clock(lam: LocalLambda) -> None:
    Sleeper.ran = []
    lam.deploy(Sleeper)
    Sleeper(data={"sleep_s": 3600}, backend=lam.backend).start()

    lam.run_until_idle(timeout_s=60)

    first, last = lam.invocations[0], lam.invocations[-1]
    assert last.started_ms - first.started_ms >= 3_600_000
    assert Sleeper.ran[1] - Sleeper.ran[0] >= 3600
    assert all(i.started_ms <= i.ended_ms for i in lam.invocations)


@pytest.mark.lam(skip_time=True)
def test_skip_time_skips_nothing_while_a_visible_message_or_an_invocation_is_due(
    lam: LocalLambda,
) -> None:
    Sleeper.ran, Worker.ran = [], []
    lam.deploy(Sleeper)
    lam.deploy(Worker)
    Sleeper(data={"sleep_s": 3600}, backend=lam.backend).start()
    Worker(data={"units": 4}, backend=lam.backend).start()

    lam.run_until_idle(timeout_s=60)

    assert 4 == len(Worker.ran)
    assert all(end - began < 5 for began, end in Worker.ran)  # no jump under running work
    slept_from, woke_at = Sleeper.ran
    assert Worker.ran[-1][1] < slept_from + 900  # every hop of work ran before any skip
    assert woke_at - slept_from >= 3600
    assert 3500 < lam.skipped_s < 3700


def _count_to_ten(lam: LocalLambda) -> tuple[list[str], list[int]]:
    Counter.totals = []
    lam.deploy(Counter)
    Counter(data={"n": 10}, backend=lam.backend).start()
    lam.run_until_idle(timeout_s=60)
    return [i.outcome for i in lam.invocations], list(Counter.totals)


def test_a_job_with_no_delays_runs_as_without_skip_time(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint, retry_delay_s=0) as plain:
        expected = _count_to_ten(plain)
    with LocalLambda(endpoint_url=sqs_endpoint, retry_delay_s=0, skip_time=True) as skipping:
        assert expected == _count_to_ten(skipping)
        assert 0.0 == skipping.skipped_s
    assert (["ok"] * 5, [45]) == expected


# -- where it works, and cleaning up ---------------------------------------------------------


def test_skip_time_with_an_endpoint_of_another_process_is_refused_saying_why() -> None:
    real = relay_clock.wall
    with moto_process() as url, pytest.raises(ConfigurationError, match="another process"):
        LocalLambda(endpoint_url=url, skip_time=True)
    assert real is relay_clock.wall


def test_skip_time_with_an_endpoint_off_the_machine_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match="not on this machine"):
        LocalLambda(endpoint_url="http://192.0.2.1:4566", skip_time=True)


def test_the_real_clock_is_back_after_close(sqs_endpoint: str) -> None:
    from moto.sqs import models

    real = (relay_clock.wall, models.unix_time, models.unix_time_millis)
    with LocalLambda(endpoint_url=sqs_endpoint, retry_delay_s=0, skip_time=True) as lam:
        assert relay_clock.wall is not real[0]
        lam.deploy(Sleeper)
        Sleeper(data={"sleep_s": 900}, backend=lam.backend).start()
        lam.run_until_idle(timeout_s=30)
        assert relay_clock.wall() - time.time() >= 890
    assert real == (relay_clock.wall, models.unix_time, models.unix_time_millis)
    before, now, after = time.time(), relay_clock.wall(), time.time()
    assert before <= now <= after


def test_the_real_clock_is_back_after_an_error_in_the_with_block(sqs_endpoint: str) -> None:
    from moto.sqs import models

    real = (relay_clock.wall, models.unix_time, models.unix_time_millis)
    with (
        pytest.raises(RuntimeError, match="boom"),
        LocalLambda(endpoint_url=sqs_endpoint, skip_time=True),
    ):
        raise RuntimeError("boom")
    assert real == (relay_clock.wall, models.unix_time, models.unix_time_millis)


def test_a_second_skipping_local_lambda_at_once_is_refused(sqs_endpoint: str) -> None:
    with LocalLambda(endpoint_url=sqs_endpoint, skip_time=True) as first:
        virtual = relay_clock.wall
        with pytest.raises(ConfigurationError, match="another LocalLambda with skip_time"):
            LocalLambda(endpoint_url=sqs_endpoint, skip_time=True)
        assert virtual is relay_clock.wall  # the refused one left the first's clock alone
        first.run_until_idle(timeout_s=10)
    with LocalLambda(endpoint_url=sqs_endpoint, skip_time=True) as again:  # one at a time
        assert 0.0 == again.skipped_s


# -- relaystate run --skip-time ------------------------------------------------------------


def test_run_skip_time_runs_a_day_of_nightly_sleep_in_seconds() -> None:
    data = json.dumps({"nights": 2, "night_s": DAY_S})
    result = CliRunner().invoke(
        cli, ["run", "examples.nightly:NightlyExport", "--skip-time", "--data", data]
    )
    assert 0 == result.exit_code, result.output
    assert "1 d 0 h 0 min" in result.output  # time skipped
    # A day is 96 wake-ups of 900 s, each a relay of the sleeping packet (a SendMessage).
    assert re.search(r"relays\s+│ 96\s", result.output), result.output


def test_run_help_tells_of_skip_time() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert "--skip-time" in result.output
    assert "virtual clock" in " ".join(result.output.split())
