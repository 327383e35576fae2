"""A job touches only what is its own: a reused id or queue name, a forged packet, a racing start.

Unit tests over the in-memory ports (issue 11, items 2, 3, 7 and 11): each shows a way a user or
another job could make relaystate delete or feed someone else's queue, and that it does not.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import pytest

from relaystate import DONE, JobState, RelayJob, RelayPacket, Retry
from relaystate.errors import InvalidPacketError, JobConflictError, SendError
from relaystate.intake import Intake
from relaystate.testing import MemoryLedger, MemoryMappings, memory_backend, sqs_event
from relaystate.testing.memory import MemoryBackend


class Import(RelayJob):
    """A day's import: one unit a cursor, up to data["to"]."""

    job_type = "test_ownership.Import"
    function_name = "import-worker"
    retry = Retry(attempts=1, hop_retries=0)
    ran: ClassVar[list[tuple[str, int]]] = []

    def plan(self) -> Any:
        return list(range(self.data.get("shards", 1)))

    def step(self, cursor: int) -> Any:
        Import.ran.append((self.job_id, cursor))
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1


@pytest.fixture(autouse=True)
def _reset() -> None:
    Import.ran = []


@pytest.fixture
def backend() -> MemoryBackend:
    return memory_backend()


def messages(backend: MemoryBackend, url: str) -> list[str]:
    return [body for body, _ in backend.queues.queues[url].messages]


# -- the job id as an idempotency key -------------------------------------------------------------


def test_a_retried_start_of_the_same_job_returns_it_and_touches_nothing(
    backend: MemoryBackend,
) -> None:
    first = Import(data={"to": 5}, job_id="import-2026-12-01", backend=backend).start()
    assert first.packet is not None
    calls = len(backend.queues.calls)

    again = Import(data={"to": 5}, job_id="import-2026-12-01", backend=backend).start()

    assert JobState.QUEUED == again.state
    assert again.packet is not None
    assert first.packet.queue_url == again.packet.queue_url
    assert first.packet.mapping_id == again.packet.mapping_id
    assert 1 == len(messages(backend, first.packet.queue_url))  # no second first packet
    made = [call for call, _ in backend.queues.calls[calls:]]
    assert not {"create", "delete", "send", "send_batch"} & set(made)


def test_a_start_with_a_taken_id_and_other_data_is_refused_and_touches_nothing(
    backend: MemoryBackend,
) -> None:
    first = Import(data={"to": 5}, job_id="import-2026-12-01", backend=backend).start()
    assert first.packet is not None
    before = {url: list(q.messages) for url, q in backend.queues.queues.items()}
    mappings = dict(backend.mappings.mappings)

    with pytest.raises(JobConflictError, match="belongs to job import-2026-12-01"):
        Import(data={"to": 6}, job_id="import-2026-12-01", backend=backend).start()

    assert before == {url: list(q.messages) for url, q in backend.queues.queues.items()}
    assert mappings == backend.mappings.mappings


def test_two_jobs_with_one_fixed_queue_name_do_not_share_it(backend: MemoryBackend) -> None:
    Import(data={"to": 5}, backend=backend, queue_name="nightly").start()

    with pytest.raises(JobConflictError, match="queue nightly belongs to job"):
        Import(data={"to": 5}, backend=backend, queue_name="nightly").start()

    assert {"nightly", "nightly-dlq"} == {q.name for q in backend.queues.queues.values()}


def test_a_name_held_only_by_a_dlq_with_packets_is_not_reused(backend: MemoryBackend) -> None:
    job = Import(data={"to": 5}, job_id="nightly-1", backend=backend).start()
    assert job.packet is not None
    dlq = backend.queues.queues[job.packet.dlq_url]
    backend.queues.delete(job.packet.queue_url)  # torn down, the DLQ kept: it holds a packet
    backend.mappings.mappings.clear()
    dlq.messages.append(("a failed packet", 0))

    with pytest.raises(JobConflictError, match="only its dead-letter queue is left"):
        Import(data={"to": 5}, job_id="nightly-1", backend=backend).start()

    assert [("a failed packet", 0)] == list(dlq.messages)


def test_with_a_ledger_a_reused_id_with_other_data_is_refused(backend: MemoryBackend) -> None:
    Import(data={"to": 5}, job_id="import-7", backend=backend, ledger="ledger").start()

    with pytest.raises(JobConflictError, match="other data or options"):
        Import(data={"to": 6}, job_id="import-7", backend=backend, ledger="ledger").start()


def test_with_a_ledger_the_id_of_a_job_that_ended_is_refused_until_its_records_expire(
    backend: MemoryBackend,
) -> None:
    job = Import(data={"to": 1}, job_id="import-8", backend=backend, ledger="ledger").start()
    assert job.packet is not None
    body = backend.queues.pop(job.packet.queue_url)
    Import.handle(sqs_event(body), None, backend=backend)
    assert {} == backend.queues.queues  # done and torn down

    with pytest.raises(JobConflictError, match="which has ended"):
        Import(data={"to": 1}, job_id="import-8", backend=backend, ledger="ledger").start()


def test_a_start_that_fails_forgets_its_job_in_the_ledger(backend: MemoryBackend) -> None:
    ledger = MemoryLedger()
    broken = memory_backend(ledgers=lambda table_name: ledger)
    broken.mappings.timeout_s = 0  # GetFunctionConfiguration says 0 s: the mapping is refused

    class Refused(MemoryMappings):
        def create(self, *args: Any, **kwargs: Any) -> Any:
            raise SendError("refused", failed=())

    failing = attrs.evolve(broken, mappings=Refused())
    with pytest.raises(SendError):
        Import(data={"to": 1}, job_id="import-9", backend=failing, ledger="ledger").start()

    assert ledger.status("import-9") is None  # the id is free for the retry
    Import(data={"to": 1}, job_id="import-9", backend=broken, ledger="ledger").start()


# -- a fan-out start is all or nothing ------------------------------------------------------------


def test_a_fan_out_is_enabled_only_once_every_packet_is_sent(backend: MemoryBackend) -> None:
    job = Import(data={"to": 1, "shards": 25}, backend=backend).start()
    assert job.packet is not None

    calls = [call for call, _ in backend.mappings.calls]
    assert calls.index("set_enabled") > calls.index("create")
    sends = [i for i, (call, _) in enumerate(backend.queues.calls) if call == "send_batch"]
    assert 3 == len(sends)
    assert "Enabled" == backend.mappings.mappings[job.packet.mapping_id].state


def test_a_fan_out_whose_second_batch_fails_rolls_back_before_any_shard_ran(
    backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = backend.queues.send_batch
    batches: list[int] = []

    def second_fails(url: str, bodies: Any, delay_seconds: int = 0) -> list[str]:
        batches.append(len(bodies))
        if len(batches) == 2:
            raise SendError("throttled", failed=())
        return real(url, bodies, delay_seconds)

    monkeypatch.setattr(backend.queues, "send_batch", second_fails)
    seen_states: list[str] = []
    real_create = backend.mappings.create

    def create(*args: Any, **kwargs: Any) -> Any:
        info = real_create(*args, **kwargs)
        seen_states.append(info.state)
        return info

    monkeypatch.setattr(backend.mappings, "create", create)

    with pytest.raises(SendError):
        Import(data={"to": 1, "shards": 25}, backend=backend).start()

    assert ["Disabled"] == seen_states  # no shard could have run while the batches went out
    assert {} == backend.queues.queues
    assert {} == backend.mappings.mappings


# -- a packet cannot make a worker touch another job's resources ----------------------------------


def test_a_forged_packet_naming_another_jobs_mapping_and_dlq_deletes_neither(
    backend: MemoryBackend,
) -> None:
    a = Import(data={"to": 1}, job_id="job-a", backend=backend).start()
    b = Import(data={"to": 100}, job_id="job-b", backend=backend).start()
    assert a.packet is not None
    assert b.packet is not None
    backend.queues.pop(a.packet.queue_url)
    forged = a.packet.evolve(mapping_id=b.packet.mapping_id, dlq_url=b.packet.dlq_url)

    Import.handle(sqs_event(forged.to_json()), None, backend=backend)

    assert b.packet.mapping_id in backend.mappings.mappings
    assert b.packet.dlq_url in backend.queues.queues
    assert b.packet.queue_url in backend.queues.queues


def test_a_packet_from_a_queue_of_another_account_is_not_run(backend: MemoryBackend) -> None:
    job = Import(data={"to": 1}, backend=backend).start()
    assert job.packet is not None
    body = backend.queues.pop(job.packet.queue_url)
    event = sqs_event(body)
    name = job.packet.queue_url.rsplit("/", 1)[-1]
    event["Records"][0]["eventSourceARN"] = f"arn:aws:sqs:us-east-1:999999999999:{name}"

    result = Import.handle(event, None, backend=backend)

    assert [{"itemIdentifier": "msg-0"}] == result["batchItemFailures"]
    assert [] == Import.ran


def test_a_packet_without_its_queue_is_not_run_from_a_queue(backend: MemoryBackend) -> None:
    job = Import(data={"to": 1}, backend=backend).start()
    assert job.packet is not None
    backend.queues.pop(job.packet.queue_url)
    anonymous = job.packet.evolve(queue_url="")

    result = Import.handle(sqs_event(anonymous.to_json()), None, backend=backend)

    assert [{"itemIdentifier": "msg-0"}] == result["batchItemFailures"]
    assert [] == Import.ran
    with pytest.raises(InvalidPacketError, match="names no queue"):
        Intake(Import, backend).packet_of(sqs_event(anonymous.to_json())["Records"][0])


# -- the join trusts the ledger over SQS's lagging counts -----------------------------------------


def test_the_join_keeps_the_dlq_of_a_failed_shard_whatever_the_counts_say(
    backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Half(Import):
        job_type = "test_ownership.Half"

        def step(self, cursor: int) -> Any:
            assert self.packet is not None
            if self.packet.shard == 0:
                raise RuntimeError("shard 0 breaks")
            return DONE

    job = Half(data={"to": 1, "shards": 2}, backend=backend, ledger="ledger").start()
    assert job.packet is not None
    real_describe = backend.queues.describe

    def lagging(url: str) -> Any:  # AWS: the counts may lag about a minute
        found = real_describe(url)
        return None if found is None else {**found, "ApproximateNumberOfMessages": "0"}

    monkeypatch.setattr(backend.queues, "describe", lagging)
    first, second = messages(backend, job.packet.queue_url)
    backend.queues.queues[job.packet.queue_url].messages.clear()

    Half.handle(sqs_event(first), None, backend=backend)  # shard 0 fails: parked in the DLQ
    Half.handle(sqs_event(second), None, backend=backend)  # shard 1 ends last: the join

    assert job.packet.queue_url not in backend.queues.queues
    dead = [RelayPacket.from_json(b) for b in messages(backend, job.packet.dlq_url)]
    assert [(0, JobState.FAILED)] == [(p.shard, p.state) for p in dead]


def test_a_ledger_given_to_the_starter_as_an_object_reaches_the_workers() -> None:
    ledger = MemoryLedger("jobs-ledger")
    worker = memory_backend(ledgers=lambda table_name: {"jobs-ledger": ledger}[table_name])
    job = Import(data={"to": 1}, backend=worker, ledger=ledger).start()
    assert job.packet is not None
    assert "jobs-ledger" == job.packet.options["ledger"]
    body = worker.queues.pop(job.packet.queue_url)

    Import.handle(sqs_event(body), None, backend=worker)  # the worker is given no object

    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.TORN_DOWN == status.state  # fenced, counted and joined through the ledger
