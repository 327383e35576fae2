"""What an adversarial review of job control found, on the simulator (unit tier: no endpoint).

Each test names the fault that broke a promise of README's "What is guaranteed" and the seeds
that reproduce it (``relaystate simulate ... --seed-start S --seeds 1 --trace`` replays one).
Each failed before its fix.
"""

from __future__ import annotations

from relaystate.testing import SimControl, SimFaults, SimPause, SimSignal
from relaystate.testing.sim.control_checks import NO_EARLY_WAKE, RETENTION_KEPT, SIGNAL_KEPT
from relaystate.testing.sim.invariants import EVERY_UNIT
from tests.unit.test_sim import CHAOS
from tests.unit.test_sim_control import DAY, GATE, Gate, broken, simulate


def test_a_signal_sent_during_a_pause_longer_than_14_days_wakes_the_shard() -> None:
    # The job waits for "go" (no timeout) and is paused; the signal comes on day 1 or 2 and
    # sends the parked packet into the disabled queue, which drops it after 14 days. The
    # shard's record still says "waiting", and pending() leaves a waiting shard without a
    # timer to its signal: unpause sent nothing, and the shard waited for good. Every seed
    # broke it, without any fault (seed 0: "its packet (hop 2) expired in its queue").
    control = SimControl(
        pauses=[SimPause(at_s=(10, 60), for_s=(15 * DAY, 20 * DAY))],
        signals=[SimSignal("go", 1, at_s=(DAY, 2 * DAY))],
    )

    quiet = simulate(Gate, GATE, control, seeds=10, faults=SimFaults())
    chaos = simulate(Gate, GATE, control, seeds=20)

    assert [] == broken(quiet)
    assert [] == broken(chaos, SIGNAL_KEPT, RETENTION_KEPT, EVERY_UNIT)


def test_a_wait_whose_timer_send_failed_still_times_out() -> None:
    # park() records the shard "waiting" (hop + 1, the timer as its outbox), then sends the
    # delayed timer. When that send is throttled, or the Lambda dies before it, the hop's
    # redelivery found the next hop "waiting" and refused_claim() acknowledged it as a
    # duplicate: no timer was in the queue, and a shard that no signal wakes waited for good.
    # Seed 0 under CHAOS: invocation 6 (the 900 s wake-up) re-parks hop 2, its SendMessage is
    # throttled, invocation 7 (the redelivery) was acknowledged; 11 of 50 seeds broke it. Now
    # the wait confirms its sends, and a duplicate that finds them unconfirmed makes them.
    report = simulate(Gate, {**GATE, "timeout_s": 2_000}, seeds=50, faults=CHAOS)

    assert [] == broken(report, NO_EARLY_WAKE, EVERY_UNIT)
