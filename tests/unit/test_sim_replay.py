"""A seed replays the run it always did: the simulator's choices, pinned across its rewrites.

Unit tier: no endpoint. The expected values below were recorded on the simulator as it was
before its queues were indexed (issue 15: a receive scanned every message the queue held), so
that a change of how the simulated SQS finds its messages cannot change what a seed does. A
run is fingerprinted whole -- its story, every unit, every invocation, the faults, the AWS calls
and the violations -- and the fingerprint is pinned with a few figures that say what differs
when it does not match. A failing seed must replay exactly: if one of these fails after a
change, the change made the simulator draw otherwise, and seeds reported before it no longer
replay what they reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from relaystate.testing import SimControl, SimFaults, SimPause, SimTiming, Simulation
from relaystate.testing.sim.sqs import SimQueues
from relaystate.testing.sim.world import World
from tests.unit.test_sim import LEDGER, TIMING, Doomed, Tally

#: The faults the fingerprints were recorded under (test_sim's CHAOS of then).
CHAOS = SimFaults(duplicate_rate=0.3, crash_rate=0.1, throttle_rate=0.05, conflict_rate=0.05)

DAY = 86_400.0


def fingerprint(run: Any) -> tuple[str, int, int, str]:
    """``(digest of everything the run recorded, invocations, units, virtual seconds)``."""
    record = run.record
    parts = [
        *run.story(),
        *(repr((u.shard, u.hop, u.cursor, u.at, u.by, u.completed, u.ended)) for u in record.units),
        *(
            repr((i.id, i.message_ids, i.depth, i.started, i.ended, i.how(), i.received))
            for i in record.invocations
        ),
        repr(sorted(record.faults.items())),
        repr(sorted(record.calls.items())),
        *(str(v) for v in run.violations),
    ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return digest, len(record.invocations), len(record.units), f"{run.virtual_s:.6f}"


SCENARIOS: dict[str, Callable[[], Simulation]] = {
    "ledgered fan-out under chaos": lambda: Simulation(
        Tally, {"shards": 4, "units": 100}, ledger=LEDGER, faults=CHAOS, timing=TIMING
    ),
    "no ledger, duplicates": lambda: Simulation(
        Tally, {"shards": 4, "units": 100}, ledger=None, faults=SimFaults(duplicate_rate=0.5)
    ),
    "a failed shard parked in its DLQ": lambda: Simulation(
        Doomed, {"shards": 4, "units": 100, "bad_at": 30}, ledger=LEDGER, faults=CHAOS
    ),
    "300 shards of one unit under chaos": lambda: Simulation(
        Tally, {"shards": 300, "units": 1}, ledger=LEDGER, faults=CHAOS, timing=TIMING
    ),
    "paused past the queue's retention": lambda: Simulation(
        Tally,
        {"shards": 2, "units": 60},
        ledger=LEDGER,
        faults=CHAOS,
        control=SimControl(pauses=[SimPause(at_s=(0, 10), for_s=(5 * DAY, 13 * DAY))]),
    ),
}

#: (scenario, seed) -> fingerprint, recorded before the queues were indexed.
EXPECTED: dict[tuple[str, int], tuple[str, int, int, str]] = {
    ("ledgered fan-out under chaos", 1): ("9a18c4b87ea255e2", 28, 403, "276.214607"),
    ("ledgered fan-out under chaos", 2): ("5b0e4fb525bdb61b", 29, 400, "540.429692"),
    ("ledgered fan-out under chaos", 3): ("1c32da3fe8459329", 32, 402, "671.941928"),
    ("no ledger, duplicates", 1): ("490e9ccb18fe1156", 65, 1625, "1008.101425"),
    ("no ledger, duplicates", 2): ("6ec9111140718383", 86, 2150, "1538.010567"),
    ("no ledger, duplicates", 3): ("0b8f4f9421a5d305", 149, 3725, "1744.854147"),
    ("a failed shard parked in its DLQ", 1): ("3fd2ab4bd0dc0f7d", 16, 331, "424.727391"),
    ("a failed shard parked in its DLQ", 2): ("be17b872be72ba1c", 21, 331, "667.467025"),
    ("a failed shard parked in its DLQ", 3): ("165ba5ae712f1ebb", 23, 340, "574.878220"),
    ("300 shards of one unit under chaos", 1): ("e9092248ec4041ac", 389, 302, "617.924179"),
    ("300 shards of one unit under chaos", 2): ("e19f8b055ae8bff3", 383, 301, "649.611282"),
    ("300 shards of one unit under chaos", 3): ("7c3f0d659a9be3e8", 411, 301, "601.991525"),
    ("paused past the queue's retention", 1): ("889f2916a0a30a7f", 6, 120, "535009.917599"),
    ("paused past the queue's retention", 2): ("7dc810c1b4802678", 10, 120, "838136.777592"),
    # Recorded again when the claim's teardown outcome began to run on_join (one more
    # ledger Query, so later latencies are drawn otherwise): the same invocations, units,
    # outcome and end; invocation 11 is that takeover.
    ("paused past the queue's retention", 3): ("e2b0c62e796197ea", 11, 120, "816192.402931"),
}


@pytest.mark.parametrize(("scenario", "seed"), sorted(EXPECTED))
def test_a_seed_replays_the_run_it_always_did(scenario: str, seed: int) -> None:
    run = SCENARIOS[scenario]().run(seed)

    assert EXPECTED[scenario, seed] == fingerprint(run)


def script(seed: int) -> list[str]:
    """SQS alone, scripted: many messages, duplicates, delays, a visibility of 0, a redrive,
    a retention cut; which message each receive took, and the counts, step by step."""
    world = World(seed, SimFaults(duplicate_rate=0.4, late_duplicates=0.3), SimTiming())
    queues = SimQueues(world)
    dlq = queues.create("q-dlq", {}, {})
    policy = f'{{"deadLetterTargetArn": "{dlq.arn}", "maxReceiveCount": 3}}'
    ref = queues.create("q", {"VisibilityTimeout": "20", "RedrivePolicy": policy}, {})
    queue = queues.live(ref.arn)
    assert queue is not None
    seen: list[str] = []
    for i in range(40):
        queues.send(ref.url, f"m{i}", delay_seconds=i % 3 * 5)
    for step in range(60):
        world.sched.now = step * 3.0
        if step == 30:
            queues.set_attributes(ref.url, {"MessageRetentionPeriod": "60"})
        if step % 7 == 3:
            got = [body for body, _ in queues.receive(ref.url, 4, 0)]
        else:
            taken = queues.take(queue, 1 + step % 5)
            got = [m.body for m in taken]
            for message in taken[::2]:
                queues.delete_message(queue, message, message.receipt)
        if step % 4 == 0:
            queues.send(ref.url, f"n{step}")
        seen.append(f"{step}: {got} {queue.counts(world.now)}")
    dead = queues.live(dlq.arn)
    assert dead is not None
    seen.append(f"dlq: {sorted(m.body for m in dead.held.values())}")
    seen.append(f"history: {queue.history[-5:]} {len(queue.history)}")
    return seen


#: seed -> digest of :func:`script`'s lines, recorded before the queues were indexed.
EXPECTED_SCRIPT = {
    1: "c54d99a4651cbfa3",
    2: "55c7343f3f4f1cee",
    3: "ce50f84efefa4c91",
    4: "6c2016f8a0daf0b5",
}


@pytest.mark.parametrize("seed", sorted(EXPECTED_SCRIPT))
def test_sqs_alone_takes_what_it_always_took(seed: int) -> None:
    lines = script(seed)

    assert EXPECTED_SCRIPT[seed] == hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
