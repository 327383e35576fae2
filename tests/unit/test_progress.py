"""Progress and ETA: the marks a hop takes, what status() makes of them (unit tier)."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import pytest

from relaystate import DONE, RelayJob, clock
from relaystate.progress import Progress, estimate, mark, measure
from relaystate.testing import MemoryBackend, UnitsPerHop, memory_backend, sqs_event


def marked(
    done: int, total: int, at_ms: int, since_ms: int = 0, since_done: int = 0
) -> dict[str, int]:
    return {
        "done": done,
        "total": total,
        "at_ms": at_ms,
        "since_ms": since_ms,
        "since_done": since_done,
    }


class Walk(RelayJob):
    job_type = "test_progress.Walk"
    function_name = "walk-worker"
    budget = UnitsPerHop.of(3)

    def plan(self) -> list[int]:
        return [0, 100][: self.data.get("shards", 1)]

    def step(self, cursor: int) -> Any:
        return DONE if cursor % 100 + 1 >= self.data["n"] else cursor + 1

    def progress(self, cursor: int) -> tuple[int, int]:
        return cursor % 100, self.data["n"]


class Plain(RelayJob):
    """No progress hook."""

    job_type = "test_progress.Plain"
    function_name = "plain-worker"

    def step(self, cursor: Any) -> Any:
        return DONE


def hops(job_class: type[RelayJob], backend: MemoryBackend, url: str) -> list[dict[str, Any]]:
    """Run every packet of the queue; the packets sent, as JSON."""
    sent: list[dict[str, Any]] = []
    while backend.queues.queues.get(url) and backend.queues.queues[url].messages:
        body = backend.queues.pop(url)
        sent.append(json.loads(body))
        assert [] == job_class.handle(sqs_event(body), None, backend=backend)["batchItemFailures"]
    return sent


# -- the arithmetic ------------------------------------------------------------------------------


def test_the_eta_is_the_units_left_at_the_measured_rate() -> None:
    found = estimate([(marked(40, 100, at_ms=10_000), False)], shards=1, now_ms=10_000)

    assert Progress(40, 100, units_per_s=4.0, eta_s=15.0) == found


def test_the_eta_counts_down_from_the_mark() -> None:
    found = estimate([(marked(40, 100, at_ms=10_000), False)], shards=1, now_ms=14_000)

    assert 11.0 == (found and found.eta_s)


def test_the_rate_counts_from_where_the_shard_started() -> None:
    found = estimate(
        [(marked(60, 100, at_ms=12_000, since_ms=2_000, since_done=50), False)],
        shards=1,
        now_ms=12_000,
    )

    assert (1.0, 40.0) == (found and found.units_per_s, found and found.eta_s)


def test_the_job_is_done_when_its_last_shard_is() -> None:
    found = estimate(
        [
            (marked(50, 50, at_ms=5_000), True),
            (marked(10, 50, at_ms=5_000), False),  # 2 a second: 20 s to go
        ],
        shards=2,
        now_ms=5_000,
    )

    assert Progress(60, 100, units_per_s=2.0, eta_s=20.0, reporting=2, shards=2) == found


def test_no_eta_while_a_shard_has_not_reported() -> None:
    found = estimate([(marked(10, 50, at_ms=5_000), False)], shards=2, now_ms=5_000)

    assert found is not None
    assert (None, 20.0) == (found.eta_s, found.percent)
    assert "[1 of 2 shards reported]" in found.text()


def test_no_eta_before_a_shard_has_made_progress() -> None:
    found = estimate([(marked(0, 50, at_ms=5_000), False)], shards=1, now_ms=5_000)

    assert (None, None) == (found and found.eta_s, found and found.units_per_s)


def test_an_ended_job_has_nothing_left() -> None:
    found = estimate([(marked(50, 50, at_ms=5_000), True)], shards=1, now_ms=9_000)

    assert found is not None
    assert (100.0, 0.0, 10.0) == (found.percent, found.eta_s, found.units_per_s)


def test_no_progress_without_marks_and_malformed_marks_are_not_marks() -> None:
    assert None is estimate([(None, False), ({"done": "x"}, False)], shards=2, now_ms=0)


def test_a_first_mark_anchors_where_its_hop_began() -> None:
    found = mark((30, 100), previous=None, began_ms=1_000, start=(20, 100), now_ms=4_000)

    assert marked(30, 100, at_ms=4_000, since_ms=1_000, since_done=20) == found


def test_a_later_mark_keeps_the_shards_anchor() -> None:
    first = marked(30, 100, at_ms=4_000, since_ms=1_000, since_done=20)

    found = mark((50, 100), previous=first, began_ms=6_000, start=None, now_ms=8_000)

    assert marked(50, 100, at_ms=8_000, since_ms=1_000, since_done=20) == found


@pytest.mark.parametrize("answer", [(1,), (1, "2"), (-1, 3), (True, 2), "half"])
def test_a_hook_that_answers_something_else_records_nothing(
    answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert measure(lambda cursor: answer, 0, job="j") is None
    assert "not (done, total)" in caplog.text


def test_a_hook_that_raises_records_nothing_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def hook(cursor: Any) -> Any:
        raise KeyError("total")

    with caplog.at_level(logging.WARNING, "relaystate"):
        assert measure(hook, 0, job="j") is None
    assert "progress hook of j raised" in caplog.text


def test_the_text_says_it_all_in_one_line() -> None:
    text = Progress(done=400, total=1000, units_per_s=12.5, eta_s=7_300.0).text()

    assert "40.0 % (400 of 1,000), 12.5/s, 2 h 1 min left" == text


# -- in the hops ---------------------------------------------------------------------------------


def test_each_packet_carries_the_shards_mark() -> None:
    backend = memory_backend()
    job = Walk(data={"n": 8}, backend=backend).start()
    assert job.packet is not None

    sent = hops(Walk, backend, job.packet.queue_url)

    assert [None, (3, 8, 0), (6, 8, 0)] == [
        (p["progress"]["done"], p["progress"]["total"], p["progress"]["since_done"])
        if "progress" in p
        else None
        for p in sent
    ]


def test_with_a_ledger_status_gives_percent_rate_and_eta() -> None:
    backend = memory_backend()
    job = Walk(data={"n": 8}, backend=backend, ledger="t").start()
    assert job.packet is not None
    body = backend.queues.pop(job.packet.queue_url)
    Walk.handle(sqs_event(body), None, backend=backend)

    status = job.status()

    assert status is not None
    assert status.progress is not None
    assert (3, 8, 37.5) == (status.progress.done, status.progress.total, status.progress.percent)
    assert {"done": 3, "total": 8} == {
        k: v for k, v in (status.shard_status[0].progress or {}).items() if k in ("done", "total")
    }


class Steady(RelayJob):
    """Units of exactly ``unit_s`` on the test's clock; its progress is the cursor of ``n``."""

    job_type = "test_progress.Steady"
    function_name = "steady-worker"
    budget = UnitsPerHop.of(25)
    clock: ClassVar[list[float]] = [0.0]

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        Steady.clock[0] += self.data["unit_s"]
        return DONE if cursor + 1 >= self.data["n"] else cursor + 1

    def progress(self, cursor: int) -> tuple[int, int]:
        return cursor, self.data["n"]


def test_the_eta_of_a_steady_job_is_within_20_percent_of_the_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A steady job on a clock of the test's own (every unit 20 ms, every delivery 150 ms of
    # queue and relay), so that the time left is what the job does, not what the machine's
    # load does: asked after each hop, from 40 % on, the ETA is the time left, within 20 %.
    # (On LocalLambda the same check on the wall clock failed when load changed mid-run.)
    monkeypatch.setattr(clock, "wall", lambda: 1_700_000_000 + Steady.clock[0])
    monkeypatch.setattr(clock, "monotonic", lambda: Steady.clock[0])
    Steady.clock[0] = 0.0
    backend = memory_backend()
    job = Steady(data={"n": 250, "unit_s": 0.02}, backend=backend, ledger="t").start()
    assert job.packet is not None
    url = job.packet.queue_url
    asked: list[tuple[float, float, float]] = []  # (when, percent, eta)
    while backend.queues.queues.get(url) and backend.queues.queues[url].messages:
        Steady.clock[0] += 0.15  # the delivery
        body = backend.queues.pop(url)
        assert [] == Steady.handle(sqs_event(body), None, backend=backend)["batchItemFailures"]
        status = job.status()
        progress = status.progress if status is not None else None
        if progress is not None and progress.eta_s is not None and progress.percent < 100:
            asked.append((Steady.clock[0], progress.percent, progress.eta_s))
    ended = Steady.clock[0]

    late = [(ended - when, eta) for when, percent, eta in asked if percent >= 40]
    assert len(late) >= 3
    assert all(abs(eta - left) <= 0.2 * left for left, eta in late), late


def test_a_finished_job_is_all_done_in_the_ledger() -> None:
    backend = memory_backend()
    job = Walk(data={"n": 8, "shards": 2}, backend=backend, ledger="t").start()
    assert job.packet is not None

    hops(Walk, backend, job.packet.queue_url)

    status = job.status()
    assert status is not None
    assert status.progress is not None
    assert (16, 16, 0.0) == (status.progress.done, status.progress.total, status.progress.eta_s)


def test_a_hop_record_says_how_far_the_shard_is(caplog: pytest.LogCaptureFixture) -> None:
    backend = memory_backend()
    job = Walk(data={"n": 8}, backend=backend).start()
    assert job.packet is not None

    with caplog.at_level(logging.INFO, "relaystate"):
        hops(Walk, backend, job.packet.queue_url)

    records = [r.relaystate_hop for r in caplog.records if hasattr(r, "relaystate_hop")]
    assert [(3, 8), (6, 8), (8, 8)] == [(r["done"], r["total"]) for r in records]


def test_a_job_without_the_hook_records_no_progress() -> None:
    backend = memory_backend()
    job = Plain(backend=backend, ledger="t").start()
    assert job.packet is not None

    sent = hops(Plain, backend, job.packet.queue_url)

    status = job.status()
    assert status is not None
    assert (["progress" in p for p in sent], status.progress) == ([False], None)


def test_a_hook_that_raises_does_not_fail_the_hop() -> None:
    class Broken(Walk):
        job_type = "test_progress.Broken"

        def progress(self, cursor: int) -> tuple[int, int]:
            raise ZeroDivisionError

    backend = memory_backend()
    job = Broken(data={"n": 5}, backend=backend).start()
    assert job.packet is not None

    sent = hops(Broken, backend, job.packet.queue_url)

    assert (2, {}) == (len(sent), backend.queues.queues)


# -- relaystate run's bar --------------------------------------------------------------------------


def test_the_run_bar_counts_the_hooks_units_of_the_planned_total() -> None:
    from relaystate.cli.execution import _planned_total
    from relaystate.cli.instrument import instrumented

    backend = memory_backend()
    with instrumented(Walk, hop_delay_s=None) as units:
        job = Walk(data={"n": 8, "shards": 2}, backend=backend).start()
        assert job.packet is not None
        planned = _planned_total(job)
        body = backend.queues.pop(job.packet.queue_url)
        Walk.handle(sqs_event(body), None, backend=backend)
        midway = units.done
        hops(Walk, backend, job.packet.queue_url)

    assert (16, 3, 16) == (planned, midway, units.done)


def test_a_class_without_the_hook_has_no_planned_total() -> None:
    from relaystate.cli.execution import _planned_total

    assert _planned_total(Plain(backend=memory_backend()).start()) is None


class _Measured:
    """A mixin that gives a job its progress hook."""

    def progress(self, cursor: int) -> tuple[int, int]:
        return cursor % 100, 8


class WalkMixedIn(_Measured, Walk):
    job_type = "test_progress.WalkMixedIn"


class WalkLater(RelayJob):
    job_type = "test_progress.WalkLater"
    function_name = "walk-worker"
    budget = UnitsPerHop.of(3)
    plan = Walk.plan
    step = Walk.step


WalkLater.progress = Walk.progress  # type: ignore[method-assign]  # set after the class


@pytest.mark.parametrize("job_class", [WalkMixedIn, WalkLater], ids=["mixin", "assigned later"])
def test_a_hook_however_the_class_got_it_is_asked(job_class: type[RelayJob]) -> None:
    """The hop skips only the default hook: one from a mixin or set on the class later counts."""
    backend = memory_backend()
    job = job_class(data={"n": 8}, backend=backend).start()
    assert job.packet is not None

    sent = hops(job_class, backend, job.packet.queue_url)

    assert [None, (3, 8), (6, 8)] == [
        (p["progress"]["done"], p["progress"]["total"]) if "progress" in p else None for p in sent
    ]
