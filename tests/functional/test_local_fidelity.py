"""With AWS's latency and eventual consistency on, the examples and the chaos fan-out still pass,
and a timing bug that moto's speed hides is caught.

The profiles are the ``"aws"`` ones, unscaled: calls wait as on AWS, mappings take 3 s to be
Enabled and 3 s to be gone, counts lag 3 s, a deleted queue answers for a minute (nothing here
waits that out: the LocalLambda deletes it for good when it closes).

Functions time out after 2 s here (the chaos run's after 4 s), not the 1 s of
``test_examples.py`` and ``test_chaos.py``: with AWS's latency a 1-s function's last hop is
often killed in its teardown, and under throttles a 2-s one's sometimes is (the queue deletes,
retried from the mapping's delete on, do not fit in the time relaystate keeps for them). That
is a finding of these profiles about relaystate's teardown reserve, not a fault of the jobs.

Functional tier: moto's server on 127.0.0.1 (the chaos runs: in a process of its own).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from examples import csv_import, fan_out, rate_limited_api, sql_pages
from relaystate.compat import get_relay_packet, relay_pass, setup, tear_down
from relaystate.local import Faults, LocalLambda, moto_process
from relaystate.local.consistency import Consistency
from relaystate.local.latency import Latency
from tests.chaos.test_chaos import CHAOS, SHARDS, Commits, Tally, assert_exactly_once, run
from tests.functional.test_examples import primes_below

PROFILES: dict[str, Any] = {"latency": "aws", "consistency": "aws"}


# -- the examples ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def copied() -> sql_pages.Copied:
    # 20 units of 100 ms: more than one 2-second hop holds.
    return sql_pages.run(2_000, timeout_s=2.0, unit_delay_s=0.1, **PROFILES)


@pytest.fixture(scope="module")
def sent() -> rate_limited_api.Sent:
    # 30 calls at 14/s take about 2.4 s: two hops at least.
    return rate_limited_api.run(30, timeout_s=2.0, **PROFILES)


@pytest.fixture(scope="module")
def imported() -> csv_import.Imported:
    return csv_import.run(4_000, timeout_s=2.0, lines=200, unit_delay_s=0.1, **PROFILES)


@pytest.fixture(scope="module")
def counted() -> fan_out.Counted:
    return fan_out.run(60_000, shards=4, timeout_s=2.0, chunk=1_000, **PROFILES)


def test_sql_pages_copies_every_row_across_hops_on_aws_time(copied: sql_pages.Copied) -> None:
    assert (2_000, 2_000, True) == (copied.rows, copied.copied, copied.same_sum)
    assert copied.hops >= 2
    assert [] == copied.left_over


def test_rate_limited_api_sends_every_call_once_under_the_limit_on_aws_time(
    sent: rate_limited_api.Sent,
) -> None:
    assert (30, 0) == (sent.accepted, sent.rejected)
    assert sent.rate_per_s <= sent.limit
    assert sent.hops >= 2
    assert [] == sent.left_over


def test_csv_import_totals_are_right_on_aws_time(imported: csv_import.Imported) -> None:
    assert imported.expected == imported.imported
    assert imported.hops >= 2
    assert [] == imported.left_over


def test_fan_out_counts_right_and_tears_down_on_aws_time(counted: fan_out.Counted) -> None:
    assert primes_below(60_000) == counted.primes
    assert [0, 1, 2, 3] == counted.shards_done
    assert [] == counted.left_over


# -- the chaos fan-out, with a ledger --------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's server in its own process on 127.0.0.1 (as the chaos suite runs it)."""
    with moto_process() as url:
        yield url


@pytest.mark.parametrize("seed", [0, 1])
def test_chaos_fan_out_with_a_ledger_holds_on_aws_time(endpoint: str, seed: int) -> None:
    # A hop that died holds its lease for the function's timeout: a redelivery every second
    # (not test_chaos's 0.3 s) stays within Tally's max_receive_count while it waits.
    with LocalLambda(
        timeout_s=4.0,
        retry_delay_s=1.0,
        concurrency=4,
        endpoint_url=endpoint,
        faults=Faults(**CHAOS, seed=seed),
        latency=Latency.aws(seed=seed),
        consistency="aws",
    ) as lam:
        lam.deploy(Tally)
        ledger = lam.ledger(f"fidelity-{seed}-{time.time_ns()}")
        commits = Commits.watch(ledger)

        job = run(lam, ledger=ledger, shards=SHARDS, units=500)

        assert_exactly_once(lam, job, commits, shards=SHARDS, units=500)
        assert lam.faults_injected["duplicate"] > 0


# -- a timing bug the fast profile hides ----------------------------------------------------------

#: What the hand-written relay keeps for its teardown: plenty on moto, too little on AWS.
TEARDOWN_RESERVE_MS = 400


def hand_written_relay(event: dict[str, Any], context: Any) -> None:
    """A relay written with the npm helper's verbs: work until the reserve, relay; the second
    hop tears down instead, in the reserve, waiting for the mapping to be gone as npm did."""
    packet = get_relay_packet(event)
    assert packet is not None
    while context.get_remaining_time_in_millis() > TEARDOWN_RESERVE_MS:
        time.sleep(0.05)  # a unit of work
    if packet.hop >= 2:  # setup's packet is hop 0; the starter's relay_pass sends hop 1
        tear_down(packet)
    else:
        relay_pass(packet)


def _run_hand_written_relay(**profiles: Any) -> tuple[list[str], list[str]]:
    with LocalLambda(timeout_s=1.0, **profiles) as lam:
        lam.deploy("hand-relay", hand_written_relay)
        relay_pass(setup(None, "hand-relay"))  # the starter: default backend, as deployed
        lam.run_until_idle(timeout_s=30)
        return [i.outcome for i in lam.invocations], lam.left_over()


def test_a_teardown_with_too_little_time_passes_on_moto_speed() -> None:
    outcomes, left_over = _run_hand_written_relay()

    assert (["ok", "ok"], []) == (outcomes, left_over)


def test_the_aws_profiles_catch_the_teardown_that_has_too_little_time() -> None:
    outcomes, left_over = _run_hand_written_relay(
        latency=Latency.aws(seed=1), consistency=Consistency.aws()
    )

    # The mapping takes seconds to be gone; the last hop waits for it and is killed with
    # its queues still there, and nothing will ever deliver their message again.
    assert ["ok", "timeout"] == outcomes
    assert 2 == len([left for left in left_over if left.startswith("queue relay-")])
