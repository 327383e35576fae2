"""The examples on AWS: what tests/functional/test_examples.py asserts on LocalLambda, on Lambda.

The tests that read an example's result from a fixture are tests/functional/test_examples.py's own,
collected here again: the fixtures below run the example on the deployed worker instead
(once per module; sizes in :mod:`tests.e2e.scenarios`). The tests that run their example
themselves are repeated here, on the rig.
"""

from __future__ import annotations

import itertools

import pytest

from examples import csv_import, fan_out, rate_limited_api, sql_pages
from tests.e2e import scenarios
from tests.e2e.rig import Rig
from tests.functional.test_examples import (  # noqa: F401  (collected here, on the fixtures below)
    test_csv_import_leaves_no_queue_or_mapping,
    test_csv_import_resumes_across_hops,
    test_csv_import_totals_are_right,
    test_fan_out_counts_right,
    test_fan_out_finishes_every_shard,
    test_fan_out_teardown_leaves_no_queue_or_mapping,
    test_rate_limited_api_is_never_rejected,
    test_rate_limited_api_leaves_no_queue_or_mapping,
    test_rate_limited_api_paces_across_hops,
    test_rate_limited_api_stays_under_the_limit,
    test_sql_pages_copies_every_row_once,
    test_sql_pages_does_one_unit_per_page,
    test_sql_pages_leaves_no_queue_or_mapping,
    test_sql_pages_relays_when_the_work_outlasts_a_hop,
)

#: Mails sent: twice the local test's 30, so that the calls outlast a 3-second hop.
MAILS = 60


@pytest.fixture(scope="module")
def copied(rig: Rig) -> sql_pages.Copied:
    return scenarios.copy_rows(rig, 2_000)


@pytest.fixture(scope="module")
def sent(rig: Rig) -> rate_limited_api.Sent:
    return scenarios.send_mails(rig, MAILS)


@pytest.fixture(scope="module")
def imported(rig: Rig) -> csv_import.Imported:
    return scenarios.import_csv(rig, 4_000)


@pytest.fixture(scope="module")
def counted(rig: Rig) -> fan_out.Counted:
    # Torn down by the starter role (no ledger): the mapping's delete under its conditions.
    return scenarios.count_primes(rig, 60_000, shards=4)


def test_rate_limited_api_sends_every_call(sent: rate_limited_api.Sent) -> None:
    assert MAILS == sent.accepted


def test_approval_waits_for_the_signal_and_goes_on_with_it(rig: Rig) -> None:
    decided = scenarios.decide(rig)
    assert decided.waited
    assert {"refunded": True, "by": "ann"} == decided.outcome
    assert [] == decided.left_over


def test_approval_keeps_a_signal_sent_before_the_wait(rig: Rig) -> None:
    early = scenarios.decide(rig, early=True)
    assert {"refunded": True, "by": "ann"} == early.outcome
    assert [] == early.left_over


def test_approval_goes_on_without_the_signal_after_its_timeout(rig: Rig) -> None:
    late = scenarios.decide(rig, approve=False, timeout_s=2)
    assert {"refunded": False, "by": None} == late.outcome
    assert [] == late.left_over


def test_nightly_sleeps_between_exports_without_an_invocation_in_between(rig: Rig) -> None:
    slept = scenarios.export_nightly(rig, nights=3, night_s=1.0)
    assert [0, 1, 2] == [day for day, _ in slept.exports]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(slept.exports)]
    assert all(gap >= 1.0 for gap in gaps)
    assert 3 == slept.invocations  # one a night: nothing runs while it sleeps
    assert [] == slept.left_over


def test_sum_shards_joins_every_result_and_tolerates_one_failure(rig: Rig) -> None:
    summed = scenarios.sum_squares(rig, 20_000, shards=4, broken=2)
    lo, hi = 10_000, 15_000  # shard 2's quarter of 0..19,999 is missing
    assert sum(k * k for k in range(20_000)) - sum(k * k for k in range(lo, hi)) == summed.total
    assert [2] == summed.failed_shards
    assert "torn_down" == summed.state
    assert 1 == len(summed.left_over)  # the failed shard's DLQ, with its packet to resume
