"""The examples run end to end on LocalLambda (small sizes), get the right answers, and clean up.

Each example runs once per module (a fixture); the tests read what it found.
"""

from __future__ import annotations

import itertools

import pytest

from examples import approval, csv_import, fan_out, nightly, rate_limited_api, sql_pages, sum_shards


def primes_below(n: int) -> int:
    sieve = bytearray([1]) * n
    sieve[:2] = b"\0\0"
    for k in range(2, int(n**0.5) + 1):
        if sieve[k]:
            sieve[k * k :: k] = bytearray(len(range(k * k, n, k)))
    return sum(sieve)


@pytest.fixture(scope="module")
def copied() -> sql_pages.Copied:
    # 20 units of 50 ms sleep are a full second of work: no 1-second hop can hold them all.
    return sql_pages.run(2_000, timeout_s=1.0, unit_delay_s=0.05)


@pytest.fixture(scope="module")
def sent() -> rate_limited_api.Sent:
    # 30 calls at 14/s (paced 10 % under) take about 2.4 s: several 1-second hops.
    return rate_limited_api.run(30, timeout_s=1.0)


@pytest.fixture(scope="module")
def imported() -> csv_import.Imported:
    # 20 units of 50 ms sleep: more than one 1-second hop.
    return csv_import.run(4_000, timeout_s=1.0, lines=200, unit_delay_s=0.05)


@pytest.fixture(scope="module")
def counted() -> fan_out.Counted:
    return fan_out.run(60_000, shards=4, timeout_s=1.0, chunk=1_000)


def test_sql_pages_copies_every_row_once(copied: sql_pages.Copied) -> None:
    assert 2_000 == copied.rows
    assert copied.rows == copied.copied  # and the copy's primary key admits no row twice
    assert copied.same_sum


def test_sql_pages_does_one_unit_per_page(copied: sql_pages.Copied) -> None:
    assert 20 == copied.units


def test_sql_pages_relays_when_the_work_outlasts_a_hop(copied: sql_pages.Copied) -> None:
    assert copied.hops >= 2
    assert copied.hops - 1 == copied.relays


def test_sql_pages_leaves_no_queue_or_mapping(copied: sql_pages.Copied) -> None:
    assert [] == copied.left_over


def test_rate_limited_api_sends_every_call(sent: rate_limited_api.Sent) -> None:
    assert 30 == sent.accepted


def test_rate_limited_api_is_never_rejected(sent: rate_limited_api.Sent) -> None:
    assert 0 == sent.rejected


def test_rate_limited_api_stays_under_the_limit(sent: rate_limited_api.Sent) -> None:
    # (Its busiest second cannot show a breach: the fake API rejects what goes over; the
    # test above counts those.)
    assert sent.rate_per_s <= sent.limit


def test_rate_limited_api_leaves_no_queue_or_mapping(sent: rate_limited_api.Sent) -> None:
    assert [] == sent.left_over


def test_rate_limited_api_paces_across_hops(sent: rate_limited_api.Sent) -> None:
    assert sent.hops >= 2


def test_csv_import_totals_are_right(imported: csv_import.Imported) -> None:
    assert imported.expected == imported.imported


def test_csv_import_resumes_across_hops(imported: csv_import.Imported) -> None:
    assert imported.hops >= 2


def test_csv_import_leaves_no_queue_or_mapping(imported: csv_import.Imported) -> None:
    assert [] == imported.left_over


def test_fan_out_counts_right(counted: fan_out.Counted) -> None:
    assert primes_below(60_000) == counted.primes


def test_fan_out_finishes_every_shard(counted: fan_out.Counted) -> None:
    assert [0, 1, 2, 3] == counted.shards_done


def test_fan_out_teardown_leaves_no_queue_or_mapping(counted: fan_out.Counted) -> None:
    assert [] == counted.left_over


@pytest.fixture(scope="module")
def decided() -> approval.Decided:
    return approval.run()


def test_approval_waits_for_the_signal_and_goes_on_with_it(decided: approval.Decided) -> None:
    assert decided.waited
    assert {"refunded": True, "by": "ann"} == decided.outcome
    assert [] == decided.left_over


def test_approval_keeps_a_signal_sent_before_the_wait() -> None:
    early = approval.run(early=True)
    assert {"refunded": True, "by": "ann"} == early.outcome
    assert [] == early.left_over


def test_approval_goes_on_without_the_signal_after_its_timeout() -> None:
    late = approval.run(approve=False, timeout_s=2)
    assert {"refunded": False, "by": None} == late.outcome
    assert [] == late.left_over


def test_nightly_sleeps_between_exports_without_an_invocation_in_between() -> None:
    slept = nightly.run(nights=3, night_s=1.0)
    assert [0, 1, 2] == [day for day, _ in slept.exports]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(slept.exports)]
    assert all(gap >= 1.0 for gap in gaps)
    assert 3 == slept.invocations  # one a night: nothing runs while it sleeps
    assert [] == slept.left_over


def test_sum_shards_joins_every_result_and_tolerates_one_failure() -> None:
    summed = sum_shards.run(20_000, shards=4, broken=2)
    lo, hi = 10_000, 15_000  # shard 2's quarter of 0..19,999 is missing
    assert sum(k * k for k in range(20_000)) - sum(k * k for k in range(lo, hi)) == summed.total
    assert [2] == summed.failed_shards
    assert "torn_down" == summed.state
    assert 1 == len(summed.left_over)  # the failed shard's DLQ, with its packet to resume
