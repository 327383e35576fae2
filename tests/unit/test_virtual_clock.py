"""The virtual clock of ``LocalLambda(skip_time=True)``: how it moves, where it is installed,
and where it may jump to (read from moto's SQS models in memory; no endpoint)."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from relaystate import ConfigurationError
from relaystate import clock as relay_clock
from relaystate.local.options import check_options
from relaystate.local.virtual_time import (
    VirtualClock,
    check_in_process,
    install,
    seconds_to_next_message,
)

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def installed() -> Iterator[VirtualClock]:
    virtual = VirtualClock()
    uninstall = install(virtual)
    try:
        yield virtual
    finally:
        uninstall()


@pytest.fixture
def queue() -> Iterator[tuple[Any, str, str]]:
    """A queue of moto's SQS backend in memory: the backend, its name and its ARN."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[ACCOUNT][REGION]
    name = f"virtual-clock-{uuid.uuid4().hex[:12]}"
    backend.create_queue(name)
    try:
        yield backend, name, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    finally:
        backend.delete_queue(name)


def test_the_clock_runs_at_real_speed_until_it_skips() -> None:
    virtual = VirtualClock()
    before, now, after = time.time(), virtual.wall(), time.time()
    assert before <= now <= after
    virtual.skip(900)
    virtual.skip(100)
    before, now, after = time.time(), virtual.wall(), time.time()
    assert before + 1000 <= now <= after + 1000
    before, now, after = time.monotonic(), virtual.monotonic(), time.monotonic()
    assert before + 1000 <= now <= after + 1000
    assert 1000.0 == virtual.skipped_s


def test_the_clock_never_goes_back() -> None:
    virtual = VirtualClock()
    virtual.skip(60)
    virtual.skip(-30)
    virtual.skip(0)
    assert 60.0 == virtual.skipped_s


def test_installed_it_is_the_time_of_relaystate_and_of_moto_sqs(installed: VirtualClock) -> None:
    from moto.sqs import models

    installed.skip(3600)
    before, now, after = time.time(), relay_clock.wall(), time.time()
    assert before + 3600 <= now <= after + 3600
    before, now, after = time.time(), models.unix_time(), time.time()
    assert before + 3600 <= now <= after + 3600
    first, moto_ms, last = relay_clock.now_ms(), models.unix_time_millis(), relay_clock.now_ms()
    assert first <= moto_ms <= last + 1  # moto's is a float, relaystate's whole milliseconds


def test_moto_still_converts_the_datetimes_it_is_given(installed: VirtualClock) -> None:
    from moto.sqs import models

    installed.skip(3600)
    epoch_plus_a_day = datetime.datetime(1970, 1, 2)
    assert 86_400.0 == models.unix_time(epoch_plus_a_day)


def test_uninstalling_puts_the_real_clocks_back_once() -> None:
    from moto.sqs import models

    real = (relay_clock.wall, models.unix_time, models.unix_time_millis)
    uninstall = install(VirtualClock())
    uninstall()
    uninstall()
    assert real == (relay_clock.wall, models.unix_time, models.unix_time_millis)


def test_a_second_clock_is_refused_while_one_is_installed(installed: VirtualClock) -> None:
    with pytest.raises(ConfigurationError, match="another LocalLambda with skip_time"):
        install(VirtualClock())
    assert relay_clock.wall == installed.wall


def test_a_delayed_message_is_due_when_its_delay_ends(
    installed: VirtualClock, queue: tuple[Any, str, str]
) -> None:
    backend, name, arn = queue
    backend.send_message(name, "later", delay_seconds=900)
    assert 899 < (seconds_to_next_message([arn]) or 0) <= 900
    installed.skip(900.001)
    assert 0.0 == seconds_to_next_message([arn])  # visible now: due


def test_an_in_flight_message_is_due_when_its_visibility_timeout_ends(
    installed: VirtualClock, queue: tuple[Any, str, str]
) -> None:
    backend, name, arn = queue
    backend.send_message(name, "work")
    assert 1 == len(backend.receive_message(name, 1, 0, visibility_timeout=30))
    assert 29 < (seconds_to_next_message([arn]) or 0) <= 30


def test_the_earliest_message_of_all_queues_is_the_next_due(
    installed: VirtualClock, queue: tuple[Any, str, str]
) -> None:
    backend, name, arn = queue
    backend.send_message(name, "late", delay_seconds=900)
    backend.send_message(name, "sooner", delay_seconds=60)
    assert 59 < (seconds_to_next_message(["arn:aws:sqs:us-east-1:1:missing", arn]) or 0) <= 60


def test_nothing_is_due_in_empty_or_unknown_queues(queue: tuple[Any, str, str]) -> None:
    _, _, arn = queue
    assert seconds_to_next_message([arn, "arn:aws:sqs:us-east-1:1:missing", "not-an-arn"]) is None


def test_an_endpoint_off_the_machine_is_refused_without_a_request() -> None:
    with pytest.raises(ConfigurationError, match="not on this machine"):
        check_in_process("https://sqs.us-east-1.amazonaws.com", REGION)


def test_skip_time_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="skip_time must be True or False"):
        check_options(
            concurrency=1, retry_delay_s=None, faults=None, poll_interval_s=0.05, skip_time="yes"
        )
