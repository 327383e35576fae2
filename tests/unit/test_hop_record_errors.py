"""A hop that ends in a unit error carries its traceback in its record (unit tier)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest

from relaystate import RelayJob, Retry
from relaystate.testing import memory_backend, sqs_event


class Missing(RelayJob):
    """Every unit looks up a key that is not there."""

    function_name = "missing-worker"
    retry = Retry(attempts=1, hop_retries=1, hop_delay_s=0)

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        return {}["missing-key"]


def hop_records(caplog: pytest.LogCaptureFixture, hops: int) -> list[logging.LogRecord]:
    """Run ``hops`` hops of a Missing job (each delivery of the packet the hop before sent)."""
    backend = memory_backend()
    job = Missing(backend=backend).start()
    assert job.packet is not None
    with caplog.at_level(logging.DEBUG, logger="relaystate"):
        for _ in range(hops):
            body = backend.queues.pop(job.packet.queue_url)
            Missing.handle(sqs_event(body), None, backend=backend)
    return [r for r in caplog.records if hasattr(r, "relaystate_hop")]


def test_a_retrying_hop_logs_the_units_traceback_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (record,) = hop_records(caplog, 1)

    assert "retrying" == record.relaystate_hop["outcome"]
    assert logging.WARNING == record.levelno
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)
    shown = "".join(traceback.format_exception(*record.exc_info))
    assert 'return {}["missing-key"]' in shown


def test_a_failed_hop_logs_the_units_traceback_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, record = hop_records(caplog, 2)

    assert "failed" == record.relaystate_hop["outcome"]
    assert logging.ERROR == record.levelno
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)
    assert "Traceback (most recent call last)" in logging.Formatter().format(record)


def test_a_hop_that_relays_logs_no_exception(caplog: pytest.LogCaptureFixture) -> None:
    from tests.unit.test_observability import Three, run_one_hop

    with caplog.at_level(logging.INFO, logger="relaystate"):
        run_one_hop(Three)

    (record,) = [r for r in caplog.records if hasattr(r, "relaystate_hop")]
    assert record.exc_info is None
