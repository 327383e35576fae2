"""The simulator's ledger: MemoryLedger's writes as AWS calls, throttled, conflicting, recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from relaystate.errors import ThrottledError
from relaystate.testing.sim import SimFaults, SimTiming
from relaystate.testing.sim.ledger import SimLedger
from relaystate.testing.sim.scheduler import Proc
from relaystate.testing.sim.world import World

STATS = {"units": 1}


def in_a_process(faults: SimFaults, task: Callable[[World, SimLedger], None]) -> World:
    """Run ``task`` as the starter of a run (whose calls the faults may hit)."""
    world = World(1, faults, SimTiming())
    world.record.job_id = "j"
    ledger = SimLedger(world, "t")
    world.sched.start(0.0, Proc("starter", lambda: task(world, ledger)))
    world.sched.run_until_idle(real_timeout_s=30)
    return world


def test_what_the_ledger_accepts_is_recorded_as_commits() -> None:
    def task(world: World, ledger: SimLedger) -> None:
        ledger.open_job("j", shards=1, job_type="T", function_name="f")
        ledger.claim("j", 0, 0, "a", lease_ms=60_000)
        ledger.checkpoint("j", 0, 0, "a", outbox="{}", stats=STATS, cursor_json="1")
        ledger.claim("j", 0, 1, "b", lease_ms=60_000)
        ledger.finish("j", 0, 1, "b", stats=STATS, cursor_json="2")
        ledger.mark_torn_down("j")
        ledger.mark_torn_down("j")  # idempotent: the job had ended already

    world = in_a_process(SimFaults(), task)

    assert [(0, 0, "checkpoint"), (0, 1, "finish")] == [
        (c.shard, c.hop, c.kind) for c in world.record.commits
    ]
    assert 1 == len(world.record.marks)
    assert 0.0 < world.now < 1.0  # each call took a little virtual time


def test_a_throttled_call_changes_nothing() -> None:
    outcome: list[str] = []

    def task(world: World, ledger: SimLedger) -> None:
        with pytest.raises(ThrottledError):
            ledger.open_job("j", shards=1, job_type="T", function_name="f")
        outcome.append(str(sorted(ledger.jobs)))

    world = in_a_process(SimFaults(throttle_rate=1.0, throttle_starter=True), task)

    assert ["[]"] == outcome
    assert 1 == world.record.faults["throttle"]


def test_a_transaction_that_meets_concurrent_ones_is_tried_again() -> None:
    ended: list[bool] = []

    def task(world: World, ledger: SimLedger) -> None:
        ledger.open_job("j", shards=1, job_type="T", function_name="f")
        ledger.claim("j", 0, 0, "a", lease_ms=60_000)
        ended.append(ledger.finish("j", 0, 0, "a", stats=STATS, cursor_json="1"))

    world = in_a_process(SimFaults(conflict_rate=1.0), task)

    assert [True] == ended
    assert world.record.faults["conflict"] >= 1


def test_leases_run_on_the_virtual_clock() -> None:
    outcomes: list[str] = []

    def task(world: World, ledger: SimLedger) -> None:
        ledger.open_job("j", shards=1, job_type="T", function_name="f")
        outcomes.append(ledger.claim("j", 0, 0, "a", lease_ms=5_000).outcome)
        outcomes.append(ledger.claim("j", 0, 0, "b", lease_ms=5_000).outcome)
        world.sched.sleep(6.0)  # a's Lambda died: its lease runs out
        outcomes.append(ledger.claim("j", 0, 0, "b", lease_ms=5_000).outcome)

    in_a_process(SimFaults(), task)

    assert ["run", "busy", "run"] == outcomes


def test_a_cancelled_job_is_reopened_and_its_late_cancel_is_not_recorded_as_its_end() -> None:
    reopened: list[bool] = []

    def task(world: World, ledger: SimLedger) -> None:
        ledger.open_job("j", shards=1, job_type="T", function_name="f")
        ledger.claim("j", 0, 0, "a", lease_ms=60_000)
        ledger.claim_teardown("j", "tear_down()")  # a cancel, not recorded yet
        reopened.append(ledger.reopen_job("j"))  # a resume comes between its two writes
        reopened.append(ledger.reopen_job("j"))
        ledger.mark_torn_down("j", owner="tear_down()")

    world = in_a_process(SimFaults(), task)

    assert [True, False] == reopened
    assert [] == world.record.marks  # the job was not torn down
    # claim, claim_teardown, two reopen_job and mark_torn_down: each an AWS call of its own
    assert 5 == world.record.calls["UpdateItem"]
