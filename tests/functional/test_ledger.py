"""The progress ledger on moto's DynamoDB and SQS (127.0.0.1): fencing, outbox, join, status."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob, RelayPacket, Retry
from relaystate.aws import DynamoDBLedger, SqsQueues
from relaystate.errors import LeaseLostError, ThrottledError
from relaystate.local import LocalLambda
from relaystate.testing import UnitsPerHop

pytestmark = pytest.mark.lam(timeout_s=1.0, concurrency=4)


_tables = itertools.count()


@pytest.fixture
def ledger(lam: LocalLambda) -> DynamoDBLedger:
    return lam.ledger(f"ledger-{next(_tables)}")


class Walk(RelayJob):
    """Walks 0..data["to"]-1, ten numbers a unit; every unit is recorded with its hop."""

    function_name = "walk-worker"
    budget = UnitsPerHop.of(10)
    units: ClassVar[list[tuple[int, int, int]]] = []  # (shard, hop, cursor)

    def plan(self) -> Any:
        return [i * 1_000 for i in range(self.data.get("shards", 1))]

    def step(self, cursor: Any) -> Any:
        assert self.packet is not None
        Walk.units.append((self.packet.shard, self.packet.hop, cursor))
        nxt = cursor + 10
        return DONE if nxt >= self.packet.shard * 1_000 + self.data["to"] else nxt


@pytest.fixture(autouse=True)
def _fresh() -> None:
    Walk.units = []


def start(lam: LocalLambda, ledger: DynamoDBLedger, **data: Any) -> Walk:
    if lam.mappings.function("walk-worker") is None:
        lam.deploy(Walk)
    return Walk(data=data, backend=lam.backend, ledger=ledger.table_name).start()


def test_job_with_a_ledger_finishes_and_status_reports_it(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job = start(lam, ledger, to=300)
    lam.run_until_idle(timeout_s=60)
    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.TORN_DOWN == status.state
    assert 30 == status.units
    assert [] == lam.left_over()


def test_status_from_the_class_names_each_shard(lam: LocalLambda, ledger: DynamoDBLedger) -> None:
    job = start(lam, ledger, to=100, shards=3)
    lam.run_until_idle(timeout_s=60)
    status = Walk.status_of(job.job_id, ledger=ledger)
    assert status is not None
    assert [0, 1, 2] == [s.shard for s in status.shard_status]
    assert ["done"] * 3 == [s.status for s in status.shard_status]
    assert (3, 0) == (status.done, status.failed)


def test_fan_out_with_a_ledger_is_torn_down_once_by_the_last_shard(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    before = lam.aws_calls["DeleteEventSourceMapping"]
    job = start(lam, ledger, to=200, shards=4)
    lam.run_until_idle(timeout_s=60)
    assert 1 == lam.aws_calls["DeleteEventSourceMapping"] - before
    assert [] == lam.left_over()
    assert sorted({s for s, _, _ in Walk.units}) == [0, 1, 2, 3]
    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.TORN_DOWN == status.state


def test_a_hop_costs_two_ledger_writes_its_claim_and_its_checkpoint(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    before = lam.aws_calls
    start(lam, ledger, to=300)  # 3 hops
    lam.run_until_idle(timeout_s=60)
    calls = lam.aws_calls - before
    # open_job; 3 claims and 2 checkpoints; claim_teardown and mark_torn_down; the finish
    assert (8, 1) == (calls["UpdateItem"], calls["TransactWriteItems"])


def test_a_duplicate_of_a_finished_hop_runs_no_unit(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job = start(lam, ledger, to=300)
    assert job.packet is not None
    first = job.packet.to_json()
    lam.run_until_idle(timeout_s=60)
    ran = list(Walk.units)
    # SQS delivers hop 0 again, long after it was done.
    event = {"Records": [{"messageId": "dup-1", "body": first, "attributes": {}}]}
    assert {"batchItemFailures": []} == Walk.handle(event, None, backend=lam.backend)
    assert ran == Walk.units


def test_concurrent_duplicate_claim_is_busy_and_an_expired_lease_is_taken_over(
    ledger: DynamoDBLedger,
) -> None:
    ledger.open_job("j-lease", shards=1, job_type="Walk", function_name="f")
    assert "run" == ledger.claim("j-lease", 0, 0, "req-a", lease_ms=60_000).outcome
    assert "busy" == ledger.claim("j-lease", 0, 0, "req-b", lease_ms=60_000).outcome
    ledger.claim("j-lease", 0, 0, "req-a", lease_ms=-1)  # the holder's lease runs out
    assert "run" == ledger.claim("j-lease", 0, 0, "req-c", lease_ms=60_000).outcome
    with pytest.raises(LeaseLostError):
        ledger.checkpoint(
            "j-lease", 0, 0, "req-a", outbox="{}", stats={"units": 1}, cursor_json="1"
        )


def test_stale_hop_is_a_duplicate(ledger: DynamoDBLedger) -> None:
    ledger.open_job("j-stale", shards=1, job_type="Walk", function_name="f")
    ledger.claim("j-stale", 0, 0, "req-a", lease_ms=60_000)
    ledger.checkpoint("j-stale", 0, 0, "req-a", outbox="{}", stats={}, cursor_json="1")
    ledger.claim("j-stale", 0, 1, "req-b", lease_ms=60_000)  # confirms hop 0's send
    assert "duplicate" == ledger.claim("j-stale", 0, 0, "req-b", lease_ms=60_000).outcome


class FlakySend(SqsQueues):
    """Fails the first relay send after a checkpoint: a Lambda dying between the two."""

    fail_next: ClassVar[int] = 0

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        packet = RelayPacket.from_json(body)
        if FlakySend.fail_next and packet.hop == FlakySend.fail_next:
            FlakySend.fail_next = 0
            raise ThrottledError("injected: the send after the checkpoint failed")
        return super().send(url, body, delay_seconds)


def test_a_crash_between_checkpoint_and_send_is_repaired_from_the_outbox(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    import attrs

    queues = lam.backend.queues
    assert isinstance(queues, SqsQueues)
    flaky = FlakySend(queues.client)
    backend = attrs.evolve(lam.backend, queues=flaky)
    lam.deploy("walk-flaky", lambda e, c: Walk.handle(e, c, backend=backend))
    FlakySend.fail_next = 2
    job = Walk(
        data={"to": 400}, backend=backend, ledger=ledger.table_name, function_name="walk-flaky"
    ).start()
    lam.run_until_idle(timeout_s=60)
    hops = sorted({h for _, h, _ in Walk.units})
    assert list(range(len(hops))) == hops  # one unbroken chain
    assert [c for _, _, c in Walk.units] == list(range(0, 400, 10))  # hop 1's units once
    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.TORN_DOWN == status.state
    assert 0 == FlakySend.fail_next  # the fault was injected


class HalfBroken(Walk):
    """Shard 1 fails at once; shard 0 finishes."""

    job_type = "test_ledger.HalfBroken"
    function_name = "half-broken-worker"
    retry = Retry(attempts=1, hop_retries=0)

    def step(self, cursor: Any) -> Any:
        assert self.packet is not None
        if self.packet.shard == 1:
            raise RuntimeError("shard 1 cannot work")
        return super().step(cursor)


def test_a_job_with_a_failed_shard_ends_failed_in_the_ledger(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    lam.deploy(HalfBroken)
    job = HalfBroken(data={"to": 30, "shards": 2}, backend=lam.backend, ledger=ledger.table_name)
    job.start()
    lam.run_until_idle(timeout_s=60)
    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.FAILED, 1, 1) == (status.state, status.done, status.failed)
    assert job.packet is not None
    lam.backend.queues.delete(job.packet.dlq_url)  # it holds shard 1's parked packet


def test_an_aws_backend_makes_one_ledger_per_table_where_its_sqs_client_points(
    sqs_endpoint: str,
) -> None:
    from relaystate.aws import aws_backend
    from relaystate.local.server import local_client

    sqs = local_client("sqs", sqs_endpoint, "eu-west-1")
    backend = aws_backend(sqs_client=sqs, lambda_client=local_client("lambda", sqs_endpoint))
    assert backend.ledgers is not None

    first, again, other = backend.ledgers("t1"), backend.ledgers("t1"), backend.ledgers("t2")

    assert first is again  # every hop of a warm Lambda asks for it again
    assert other is not first
    assert ("eu-west-1", sqs_endpoint) == (
        first.client.meta.region_name,
        first.client.meta.endpoint_url,
    )
