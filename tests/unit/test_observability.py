"""One structured record per hop; a Powertools-style logger in its place; EMF metric lines."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import pytest

from relaystate import DONE, RelayJob
from relaystate.testing import memory_backend, sqs_event


class Three(RelayJob):
    function_name = "three-worker"
    seen: ClassVar[list[int]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        return DONE if cursor >= 2 else cursor + 1


def run_one_hop(job_class: type[RelayJob]) -> None:
    backend = memory_backend()
    job = job_class(backend=backend).start()
    assert job.packet is not None
    job_class.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), None, backend=backend)


def test_each_hop_logs_one_json_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="relaystate"):
        run_one_hop(Three)
    (record,) = [r for r in caplog.records if hasattr(r, "relaystate_hop")]
    hop = record.relaystate_hop
    assert ("finished", 3, "Three", 0) == (
        hop["outcome"],
        hop["units"],
        hop["job_type"],
        hop["hop"],
    )
    assert hop == json.loads(record.getMessage().removeprefix("relaystate hop "))
    assert {"work_ms", "remaining_ms", "utilization", "state", "shard"} <= set(hop)


class Recorder:
    """Stands in for a Powertools Logger: the methods relaystate calls."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, dict[str, Any]]] = []

    def isEnabledFor(self, level: int) -> bool:
        return True

    def log(self, level: int, msg: str, *args: Any, extra: dict[str, Any]) -> None:
        self.lines.append((level, msg % args, extra))


def test_a_logger_on_the_class_gets_the_hop_records() -> None:
    class Logged(Three):
        logger = Recorder()

    run_one_hop(Logged)
    ((level, text, extra),) = Logged.logger.lines
    assert logging.INFO == level
    assert text.startswith("relaystate hop {")
    assert "finished" == extra["relaystate_hop"]["outcome"]


def test_metrics_print_one_emf_line_per_hop(capsys: pytest.CaptureFixture[str]) -> None:
    class Measured(Three):
        metrics = True

    run_one_hop(Measured)
    (line,) = capsys.readouterr().out.splitlines()
    emf = json.loads(line)
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert "relaystate" == directive["Namespace"]
    assert [["JobType"]] == directive["Dimensions"]
    assert ["Hops", "Units", "Utilization", "Retries"] == [m["Name"] for m in directive["Metrics"]]
    assert (1, 3, 0) == (emf["Hops"], emf["Units"], emf["Retries"])
    assert Measured.type_name() == emf["JobType"]
