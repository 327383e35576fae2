"""Resuming a fan-out leaves no queue behind, on LocalLambda and moto's server (127.0.0.1)
with a DynamoDB ledger: the resumes of a job share one queue and mapping, and the job's
teardown deletes every queue of it, whichever resume made it.

Before, each resume whose packet's queue was gone made its own queue and mapping, and the
join deleted only the one its last shard came from: `relaystate resume --from-dlq` of a fan-out
whose shards had failed, or a cancelled fan-out resumed shard by shard, left the others.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from relaystate import DONE, JobState, RelayJob, Retry
from relaystate.aws import DynamoDBLedger
from relaystate.cli import cli
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.testing import UnitsPerHop

pytestmark = pytest.mark.lam(timeout_s=1.0)

_tables = itertools.count()


class Stride(RelayJob):
    """Counts 0..data["to"]-1 on each of data["shards"] shards, one number a hop; fails at
    cursor 1 while ``Stride.broken`` (no retries: the packet goes to the DLQ)."""

    job_type = "test_resume_leak.Stride"
    function_name = "stride-worker"
    budget = UnitsPerHop.of(1)
    retry = Retry(attempts=1, hop_retries=0)
    lease_margin_s = 1.0
    broken: ClassVar[bool] = False
    units: ClassVar[list[tuple[int, int]]] = []

    def plan(self) -> Any:
        return [0] * self.data["shards"]

    def step(self, cursor: Any) -> Any:
        assert self.packet is not None
        if Stride.broken and cursor == 1:
            raise RuntimeError("the API is down")
        Stride.units.append((self.packet.shard, cursor))
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1


@pytest.fixture
def ledger(lam: LocalLambda) -> DynamoDBLedger:
    Stride.broken, Stride.units = False, []
    lam.deploy(Stride)
    return lam.ledger(f"resume-leak-{next(_tables)}")


def receive(lam: LocalLambda, url: str) -> dict[str, Any]:
    """One message of the queue, as an SQS event of one record (the hop run by hand)."""
    got = lam.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, VisibilityTimeout=60)
    (message,) = got["Messages"]
    record = {"messageId": message["MessageId"], "body": message["Body"], "attributes": {}}
    return {"Records": [record]}


def cancelled(lam: LocalLambda, ledger: DynamoDBLedger, shards: int) -> tuple[Stride, list[str]]:
    """A fan-out whose every shard ran its first hop, then cancelled; each shard's next packet."""
    job = Stride(data={"to": 3, "shards": shards}, backend=lam.backend, ledger=ledger.table_name)
    job.start()
    assert job.packet is not None
    for _ in range(shards):
        Stride.handle(receive(lam, job.packet.queue_url), None, backend=lam.backend)
    saved = [receive(lam, job.packet.queue_url)["Records"][0]["body"] for _ in range(shards)]
    job.tear_down()
    return job, saved


def failed_fan_out(lam: LocalLambda, ledger: DynamoDBLedger) -> Stride:
    """A fan-out of three shards that each failed at hop 1: three packets in its DLQ."""
    Stride.broken = True
    job = Stride(data={"to": 3, "shards": 3}, backend=lam.backend, ledger=ledger.table_name)
    job.start()
    lam.run_until_idle(timeout_s=60)
    Stride.broken = False
    return job


def resume_from_dlq(lam: LocalLambda, job: Stride) -> list[dict[str, Any]]:
    """`relaystate resume --from-dlq` of the job's DLQ, run until idle: what it resumed."""
    assert job.packet is not None
    result = CliRunner().invoke(
        cli,
        ["resume", "--from-dlq", job.packet.dlq_url, "--endpoint-url", lam.endpoint_url, "--json"],
        obj=lam.backend,
    )
    lam.run_until_idle(timeout_s=60)
    assert 0 == result.exit_code, result.output
    resumed: list[dict[str, Any]] = json.loads(result.stdout)["resumed"]
    return resumed


def ended(ledger: DynamoDBLedger, job: RelayJob) -> tuple[JobState, int]:
    status = ledger.status(job.job_id)
    assert status is not None
    return status.state, status.done


def test_a_fan_out_resumed_from_its_dlq_shares_one_queue_and_leaves_nothing(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job = failed_fan_out(lam, ledger)

    resumed = resume_from_dlq(lam, job)
    assert [0, 1, 2] == sorted(r["shard"] for r in resumed)
    assert 1 == len({r["queue_url"] for r in resumed})  # the job's one live queue
    assert 1 == len({r["mapping_id"] for r in resumed})
    assert (JobState.TORN_DOWN, 3) == ended(ledger, job)
    assert [] == lam.left_over()


def test_a_cancelled_fan_out_resumed_shard_by_shard_leaves_nothing(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job, saved = cancelled(lam, ledger, shards=2)

    resumed = [Stride.resume(body, backend=lam.backend) for body in saved]
    lam.run_until_idle(timeout_s=60)

    assert 1 == len({r.packet.queue_url for r in resumed if r.packet is not None})
    assert (JobState.TORN_DOWN, 2) == ended(ledger, job)
    assert [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] == sorted(Stride.units)
    assert [] == lam.left_over()


def test_two_resumes_at_once_leave_nothing_whichever_queue_each_made(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job, saved = cancelled(lam, ledger, shards=2)
    together = threading.Barrier(2)
    errors: list[BaseException] = []

    def resume(body: str) -> None:
        together.wait()
        try:
            Stride.resume(body, backend=lam.backend)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=resume, args=(body,)) for body in saved]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lam.run_until_idle(timeout_s=60)

    assert [] == errors
    assert (JobState.TORN_DOWN, 2) == ended(ledger, job)
    assert [] == lam.left_over()


@pytest.mark.lam(timeout_s=1.0, consistency=Consistency.aws().scaled(0.05))
def test_a_resume_right_after_a_cancel_does_not_join_the_queue_being_deleted(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job, saved = cancelled(lam, ledger, shards=2)  # its queue still listed for a while
    assert job.packet is not None

    resumed = [Stride.resume(body, backend=lam.backend) for body in saved]
    lam.run_until_idle(timeout_s=60)

    urls = {r.packet.queue_url for r in resumed if r.packet is not None}
    assert job.packet.queue_url not in urls
    assert 1 == len(urls)
    assert (JobState.TORN_DOWN, 2) == ended(ledger, job)
    assert [] == lam.left_over()


def test_an_older_packet_resumed_after_a_cancel_goes_on_from_the_ledgers_latest(
    lam: LocalLambda, ledger: DynamoDBLedger
) -> None:
    job = Stride(data={"to": 4, "shards": 1}, backend=lam.backend, ledger=ledger.table_name)
    job.start()
    assert job.packet is not None
    first = job.packet.to_json()  # hop 0's packet, saved at the start
    for _ in range(2):  # hops 0 and 1 run; hop 2's packet waits in the queue
        Stride.handle(receive(lam, job.packet.queue_url), None, backend=lam.backend)
    job.tear_down()

    resumed = Stride.resume(first, backend=lam.backend)
    lam.run_until_idle(timeout_s=60)

    assert resumed.packet is not None
    assert 2 == resumed.packet.hop
    assert [(0, 0), (0, 1), (0, 2), (0, 3)] == Stride.units
    assert (JobState.TORN_DOWN, 1) == ended(ledger, job)
    assert [] == lam.left_over()


def test_resume_from_dlq_puts_a_jobs_packets_in_the_first_ones_queue_though_aws_lists_it_late(
    lam: LocalLambda, ledger: DynamoDBLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = failed_fan_out(lam, ledger)
    # ListQueues shows no queue made by the batch's resumes (AWS lists a new queue late).
    monkeypatch.setattr(lam.backend.queues, "list_named", lambda prefix: [])

    resumed = resume_from_dlq(lam, job)
    assert 3 == len(resumed)
    assert 1 == len({r["queue_url"] for r in resumed})
    assert (JobState.TORN_DOWN, 3) == ended(ledger, job)
    assert [] == lam.left_over()
