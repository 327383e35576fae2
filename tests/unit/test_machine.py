"""Unit tests of the job's state machine: every allowed and every refused transition."""

from __future__ import annotations

from typing import Any

import pytest

from relaystate import DONE, ConfigurationError, InvalidTransitionError, JobState, RelayJob
from relaystate.states import TRANSITIONS
from tests.fakes import memory_backend

S = JobState


class Noop(RelayJob):
    function_name = "noop-worker"

    def step(self, cursor: Any) -> Any:
        return DONE


def job_in(state: JobState) -> Noop:
    backend = memory_backend()
    started = Noop(backend=backend).start()
    if state is S.CREATED:
        return Noop(backend=backend)
    assert started.packet is not None
    return Noop.from_packet(started.packet.evolve(state=state), backend=backend)


ALLOWED = {(trigger, source): dest for trigger, sources, dest in TRANSITIONS for source in sources}
PAIRS = [(trigger, state) for trigger, _, _ in TRANSITIONS for state in JobState]
#: Triggers fired by a hop only, with what they need: tested on their own below.
IN_A_HOP = {"wait"}


@pytest.mark.parametrize(
    ("trigger", "source"),
    [pair for pair in PAIRS if pair in ALLOWED and pair[0] not in IN_A_HOP],
    ids=str,
)
def test_allowed_transition_reaches_its_destination(trigger: str, source: JobState) -> None:
    job = job_in(source)
    getattr(job, trigger)()
    assert ALLOWED[(trigger, source)] == job.state


@pytest.mark.parametrize(
    ("trigger", "source"), [pair for pair in PAIRS if pair not in ALLOWED], ids=str
)
def test_refused_transition_raises_and_keeps_the_state(trigger: str, source: JobState) -> None:
    job = job_in(source)
    with pytest.raises(InvalidTransitionError) as info:
        getattr(job, trigger)()
    assert source == job.state
    assert (trigger, source.value) == (info.value.trigger, info.value.state)


def test_refusal_message_names_the_states_that_allow_the_trigger() -> None:
    with pytest.raises(InvalidTransitionError, match="'relay' is allowed from running"):
        job_in(S.CREATED).relay()


def test_there_are_no_auto_transitions() -> None:
    assert not hasattr(job_in(S.CREATED), "to_RUNNING")


def test_states_are_the_eight_of_the_design() -> None:
    expected = [
        "created",
        "queued",
        "running",
        "relaying",
        "waiting",
        "paused",
        "torn_down",
        "failed",
    ]
    assert expected == [s.value for s in JobState]


def test_wait_without_a_ledger_is_refused_and_keeps_the_state() -> None:
    job = job_in(S.RUNNING)
    with pytest.raises(ConfigurationError, match="without a ledger"):
        job.wait(name="approved")
    assert S.RUNNING == job.state


def test_a_callback_error_leaves_the_state_unchanged_and_propagates() -> None:
    job = Noop(backend=memory_backend(), function_name=None)
    with pytest.raises(ConfigurationError, match="has no function_name"):
        job.start()
    assert S.CREATED == job.state


def test_a_hook_added_after_a_trigger_was_fired_is_run_by_the_next_one() -> None:
    from transitions.core import Condition

    from relaystate.machine import JobMachine
    from relaystate.triggers import Triggers

    class Light(Triggers):
        state = S.CREATED

    machine = JobMachine({})
    seen: list[str] = []
    light = Light()
    machine.attach(light, S.QUEUED)
    assert light.begin_hop()  # the short way, worked out for QUEUED and kept
    machine.before_state_change.append(lambda event: seen.append("machine"))
    machine.events["begin_hop"].transitions["QUEUED"][0].conditions.append(
        Condition(lambda event: seen.append("condition") or False)
    )

    machine.attach(light, S.QUEUED)

    assert not light.begin_hop()  # the condition refused it
    assert S.QUEUED == light.state
    assert ["condition"] == seen  # transitions' order: conditions before before_state_change
    machine.events["begin_hop"].transitions["QUEUED"][0].conditions.clear()
    assert light.begin_hop()
    assert S.RUNNING == light.state
    assert ["condition", "machine"] == seen


def fired_once() -> tuple[Any, Any]:
    """A machine of its own and a model in QUEUED that fired ``begin_hop`` the short way (which
    worked out its plan for QUEUED and kept it), back in QUEUED."""
    from relaystate.machine import JobMachine
    from relaystate.triggers import Triggers

    class Light(Triggers):
        state = S.CREATED

    machine = JobMachine({})
    light = Light()
    machine.attach(light, S.QUEUED)
    assert light.begin_hop()
    machine.attach(light, S.QUEUED)
    return machine, light


def test_a_transition_removed_or_replaced_after_a_trigger_was_fired_is_the_one_fired() -> None:
    machine, light = fired_once()
    machine.remove_transition("begin_hop", source="QUEUED")

    with pytest.raises(InvalidTransitionError):
        light.begin_hop()
    machine.add_transition("begin_hop", "QUEUED", "PAUSED")
    assert light.begin_hop()
    assert S.PAUSED == light.state


def test_a_state_made_final_after_a_trigger_was_fired_runs_the_machines_on_final() -> None:
    machine, light = fired_once()
    seen: list[str] = []
    machine.states["RUNNING"].final = True
    machine.on_final.append(lambda event: seen.append("final"))

    assert light.begin_hop()
    assert ["final"] == seen
