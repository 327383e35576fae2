"""The simulator's scheduler: one thread at a time, in virtual-time order, kills at deadlines."""

from __future__ import annotations

import random

import pytest

from relaystate.testing.sim.scheduler import Killed, Proc, Scheduler, SimulationError


def run(sched: Scheduler, *procs: tuple[float, Proc]) -> None:
    for when, proc in procs:
        sched.start(when, proc)
    sched.run_until_idle(real_timeout_s=30)


def test_processes_run_in_virtual_time_order() -> None:
    sched = Scheduler(random.Random(0))
    seen: list[tuple[str, float]] = []

    def worker(name: str, pauses: list[float]) -> Proc:
        def task() -> None:
            for pause in pauses:
                sched.sleep(pause)
                seen.append((name, sched.now))

        return Proc(name, task)

    run(sched, (0.0, worker("a", [1.0, 1.0, 1.0])), (0.5, worker("b", [1.0, 1.0])))

    assert [("a", 1.0), ("b", 1.5), ("a", 2.0), ("b", 2.5), ("a", 3.0)] == seen


def test_ties_are_broken_by_the_seed_and_replay_exactly() -> None:
    def order(seed: int) -> list[str]:
        sched = Scheduler(random.Random(seed))
        seen: list[str] = []

        def worker(name: str) -> Proc:
            return Proc(name, lambda: seen.append(name))

        run(sched, *((1.0, worker(str(i))) for i in range(8)))
        return seen

    assert order(3) == order(3)
    assert len({tuple(order(seed)) for seed in range(10)}) > 1


def test_a_process_past_its_deadline_is_killed_where_it_stands() -> None:
    sched = Scheduler(random.Random(0))
    reached: list[float] = []
    outcome: list[str] = []

    def task() -> None:
        proc = sched.current
        assert proc is not None
        proc.deadline = 3.0
        try:
            for _ in range(5):
                sched.sleep(1.0)
                reached.append(sched.now)
        except Killed as killed:
            outcome.append(f"{killed} at {sched.now}")
            with pytest.raises(Killed):
                sched.sleep(0.0)  # a dead process makes no more calls
            raise

    run(sched, (0.0, Proc("p", task)))

    assert [1.0, 2.0, 3.0] == reached
    assert ["timed out at 3.0"] == outcome


def test_work_without_a_pause_moves_time_on_and_may_overrun() -> None:
    sched = Scheduler(random.Random(0))
    seen: list[object] = []

    def task() -> None:
        proc = sched.current
        assert proc is not None
        proc.deadline = 1.0
        sched.advance(0.6)
        seen.append(sched.now)
        try:
            sched.advance(0.6)
        except Killed:
            seen.append(("killed", sched.now))

    run(sched, (0.0, Proc("p", task)))

    assert [0.6, ("killed", 1.0)] == seen


def test_callbacks_run_in_order_with_the_processes() -> None:
    sched = Scheduler(random.Random(0))
    seen: list[str] = []

    def task() -> None:
        sched.sleep(2.0)
        seen.append("process")

    sched.at(1.0, lambda: seen.append("at 1"))
    sched.at(3.0, lambda: seen.append("at 3"))
    run(sched, (0.0, Proc("p", task)))

    assert ["at 1", "process", "at 3"] == seen


def test_an_aborted_run_unwinds_every_process() -> None:
    sched = Scheduler(random.Random(0), max_time_s=100.0)
    ended: list[str] = []

    def forever(name: str) -> Proc:
        def task() -> None:
            try:
                while True:
                    sched.sleep(7.0)
            except Killed:
                ended.append(name)
                raise

        return Proc(name, task)

    run(sched, (0.0, forever("a")), (1.0, forever("b")))

    assert ["a", "b"] == sorted(ended)
    assert "virtual time passed 100 s" == sched.aborted


def test_an_error_of_the_simulator_ends_the_run_and_is_raised() -> None:
    sched = Scheduler(random.Random(0))

    def broken() -> None:
        raise RuntimeError("simulator bug")

    sched.start(0.0, Proc("p", broken))

    with pytest.raises(SimulationError, match="simulator bug"):
        sched.run_until_idle(real_timeout_s=30)
