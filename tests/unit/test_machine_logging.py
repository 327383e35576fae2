"""relaystate's machine keeps transitions' per-trigger lines out of INFO logs (unit tier)."""

from __future__ import annotations

import logging

import pytest
from transitions import Machine

from relaystate.machine import JobMachine
from relaystate.states import JobState


class Light:
    state: JobState | None = None

    def enqueue(self) -> bool: ...

    def begin_hop(self) -> bool: ...


def fire_triggers() -> None:
    light = Light()
    JobMachine({}).attach(light, JobState.CREATED)
    light.enqueue()
    light.begin_hop()


def transitions_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("transitions")]


def test_triggers_log_nothing_from_transitions_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        fire_triggers()

    assert [] == transitions_records(caplog)


def test_triggers_log_transitions_lines_at_debug_when_debug_is_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        fire_triggers()

    found = transitions_records(caplog)
    assert found
    assert {logging.DEBUG} == {r.levelno for r in found}


def test_other_machines_keep_their_info_lines(caplog: pytest.LogCaptureFixture) -> None:
    JobMachine({})  # the filter is in place
    model = type("Model", (), {})()
    machine = Machine(model, states=["a", "b"], transitions=[["go", "a", "b"]], initial="a")

    with caplog.at_level(logging.INFO):
        machine.models[0].go()

    assert any(r.levelno == logging.INFO for r in transitions_records(caplog))
