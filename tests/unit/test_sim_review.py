"""What an adversarial review of job control found, on the simulator (unit tier: no endpoint).

Each test names the fault that broke a promise of README's "What is guaranteed" and the seeds
that reproduce it (``relaystate simulate ... --seed-start S --seeds 1 --trace`` replays one).
Each failed before its fix.
"""

from __future__ import annotations

from examples.approval import Refund
from relaystate.testing import SimControl, SimFaults, SimPause, SimSignal, Simulation
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


def test_a_pause_past_14_days_begun_while_a_hop_was_in_flight_loses_nothing() -> None:
    # Seeds 290 and 997: the first packet's invocation is killed before its claim, the pause
    # begins while the message is invisible, and it comes back into the disabled queue,
    # which drops it after 14 days: the ledger had no record of the shard, so unpause sent
    # nothing ("shard 0 never finished: no hop committed"). Now the start parks every first
    # packet in the ledger. Seeds 105 and 570: the last shard recorded its end, then its
    # teardown failed (a throttled Query; a Lambda killed); its redelivery expired in the
    # paused queue and unpause did not tear down ("no invocation began it"). Now pending()
    # hands unpause the last shard's packet, whose delivery takes the claim's teardown path.
    control = SimControl(
        pauses=[SimPause(at_s=(0, 60), for_s=(3_600, 20 * DAY))],
        signals=[SimSignal("approved", {"by": "ann"}, at_s=(0, 3_600))],
    )
    # The CLI's --duplicate-rate 0.6 --crash-rate 0.25 --shared-delete-rate 1.0 (the rest its
    # defaults): `relaystate simulate examples.approval:Refund --data '{"timeout_s": 1800}'
    # ... --ledger t --signal 'approved={"by": "ann"}@0..1h' --pause 0..60s:1h..20d`.
    faults = SimFaults(
        duplicate_rate=0.6,
        crash_rate=0.25,
        throttle_rate=0.05,
        conflict_rate=0.05,
        shared_deletes=1.0,
    )
    sim = Simulation(Refund, {"timeout_s": 1800}, ledger="t", faults=faults, control=control)

    report = sim.run_many([290, 997, 105, 570])

    assert [] == [str(v) for v in report.violations]
