"""A delivery that finds its hop (or the job's teardown) busy never spends SQS's last receive.

Each delivery that finds another invocation holding the hop's lease fails and comes back,
spending one of the queue's ``maxReceiveCount`` receives; a Lambda that died holding the lease
keeps it for the function's timeout and the lease margin, and where failed messages come back
sooner than that (LocalLambda's ``retry_delay_s``, a short visibility timeout) the busy
deliveries alone could reach the count: SQS then moved a sound packet to the DLQ, and the shard
stopped there, running in the ledger, the job never torn down. The delivery that reaches the
count now sends its message again, delayed by a lease, and is acknowledged.

Unit tier: in-memory ports and ledger.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob
from relaystate import clock as relay_clock
from relaystate.testing import MemoryLedger, UnitsPerHop, memory_backend, sqs_event


class Pair(RelayJob):
    """One shard, two one-unit hops; counts its units and its on_done."""

    function_name = "pair-worker"
    ledger = "pair"
    max_receive_count = 3
    budget = UnitsPerHop.of(1)
    lease_margin_s = 30.0
    units: ClassVar[list[int]] = []
    done: ClassVar[int] = 0

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Pair.units.append(cursor)
        return DONE if cursor >= 1 else cursor + 1

    def on_done(self) -> None:
        Pair.done += 1


class _Context:
    aws_request_id = "req"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    at = [1_000_000.0]
    monkeypatch.setattr(relay_clock, "wall", lambda: at[0])
    Pair.units, Pair.done = [], 0
    return at


def _held_first_hop() -> tuple[Any, MemoryLedger, str, str]:
    """A started job whose first hop a dead invocation claimed (its lease runs 60 s)."""
    ledger = MemoryLedger()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Pair(data={}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    body = backend.queues.pop(url)
    claim = ledger.claim(job.job_id, 0, 0, "the-dead-one", 60_000, body)
    assert claim.outcome == "run"
    return backend, ledger, url, body


@pytest.mark.parametrize("count", [1, 2])
def test_a_busy_delivery_before_the_last_receive_comes_back(now: list[float], count: int) -> None:
    backend, _, url, body = _held_first_hop()

    got = Pair.handle(sqs_event(body, receive_count=count), _Context(10_000), backend=backend)

    assert [{"itemIdentifier": "msg-0"}] == got["batchItemFailures"]
    assert [] == list(backend.queues.queues[url].messages)  # nothing sent: SQS brings it back
    assert [] == Pair.units


def test_the_last_busy_delivery_is_sent_again_delayed_by_a_lease(now: list[float]) -> None:
    backend, ledger, url, body = _held_first_hop()

    got = Pair.handle(sqs_event(body, receive_count=3), _Context(10_000), backend=backend)

    assert {"batchItemFailures": []} == got  # acknowledged: not a failure SQS would park
    # The same body, delayed by this delivery's lease (10 s left + the 30-s margin).
    assert [(body, 40)] == list(backend.queues.queues[url].messages)
    assert [] == Pair.units

    # The copy arrives once the dead one's lease has run out, and takes the hop over.
    now[0] += 61
    copy = backend.queues.pop(url)
    assert {"batchItemFailures": []} == Pair.handle(sqs_event(copy), None, backend=backend)
    second = backend.queues.pop(url)
    assert {"batchItemFailures": []} == Pair.handle(sqs_event(second), None, backend=backend)

    assert ([0, 1], 1) == (Pair.units, Pair.done)
    status = ledger.status(Pair.from_packet(body, backend=backend).job_id)
    assert status is not None
    assert status.state is JobState.TORN_DOWN
    assert {} == backend.queues.queues


def test_a_copy_of_a_hop_the_holder_finished_is_a_duplicate(now: list[float]) -> None:
    backend, _, url, body = _held_first_hop()
    Pair.handle(sqs_event(body, receive_count=3), _Context(10_000), backend=backend)
    copy = backend.queues.pop(url)
    # The holder was alive after all: its lease lapsed, a redelivery ran the hop meanwhile.
    now[0] += 61
    assert {"batchItemFailures": []} == Pair.handle(sqs_event(body), None, backend=backend)

    assert {"batchItemFailures": []} == Pair.handle(sqs_event(copy), None, backend=backend)
    assert [0] == Pair.units  # the copy ran no unit (it re-sent hop 1's packet: a copy too)
    while url in backend.queues.queues and backend.queues.queues[url].messages:
        Pair.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)

    assert ([0, 1], 1) == (Pair.units, Pair.done)  # one chain: hop 1 ran once
    assert {} == backend.queues.queues


def test_the_last_delivery_of_a_held_teardown_is_sent_again(now: list[float]) -> None:
    ledger = MemoryLedger()
    backend = memory_backend(ledgers=lambda table_name: ledger)
    job = Pair(data={}, backend=backend).start()
    assert job.packet is not None
    url = job.packet.queue_url
    Pair.handle(sqs_event(backend.queues.pop(url)), None, backend=backend)
    last = backend.queues.pop(url)
    # A duplicate of the last hop took the teardown; its Lambda died there.
    assert ledger.claim_teardown(job.job_id, "the-duplicate", lease_ms=60_000)

    got = Pair.handle(sqs_event(last, receive_count=3), _Context(10_000), backend=backend)

    assert {"batchItemFailures": []} == got
    assert [(last, 40)] == list(backend.queues.queues[url].messages)
    assert [0, 1] == Pair.units  # its unit ran; the job is not torn down yet
    assert ledger.status(job.job_id).state is not JobState.TORN_DOWN  # type: ignore[union-attr]
    now[0] += 61
    copy = backend.queues.pop(url)
    assert {"batchItemFailures": []} == Pair.handle(sqs_event(copy), None, backend=backend)
    status = ledger.status(job.job_id)
    assert status is not None
    assert (status.state, Pair.units, Pair.done) == (JobState.TORN_DOWN, [0, 1], 1)
    assert {} == backend.queues.queues
