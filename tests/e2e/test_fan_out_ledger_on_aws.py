"""A ledgered fan-out on AWS: four shards, each one's exact result in the ledger, and the job
torn down by the shard that ended last -- not by the starter."""

from __future__ import annotations

import pytest

from relaystate import JobState
from tests.e2e import scenarios
from tests.e2e.rig import Rig
from tests.functional.test_examples import primes_below

N, SHARDS = 200_000, 4


@pytest.fixture(scope="module")
def ledgered(rig: Rig) -> scenarios.Ledgered:
    return scenarios.count_primes_ledgered(rig, N, shards=SHARDS)


def test_every_shard_has_its_exact_count(ledgered: scenarios.Ledgered) -> None:
    expected = [
        (shard, "done", {"shard": shard, "primes": primes_below(hi) - primes_below(lo)})
        for shard, (lo, hi) in enumerate(scenarios.shard_bounds(N, shards=SHARDS))
    ]
    assert expected == ledgered.shards


def test_the_last_shard_tears_the_job_down(ledgered: scenarios.Ledgered) -> None:
    assert JobState.TORN_DOWN == ledgered.state
    assert [] == ledgered.left_over
