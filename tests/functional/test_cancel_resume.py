"""A job with a DynamoDB ledger, cancelled (``tear_down()``) and resumed, on LocalLambda and
moto's server (127.0.0.1): the resumed job runs to its end and is torn down, nothing left over.

Before resume reopened the job in the ledger, its join found the teardown that ``tear_down()``
held for good: the last hop came back, busy, until SQS's last receive, and its copy was then
acknowledged as a duplicate -- the new queue and mapping were left for good.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import pytest

from relaystate import DONE, JobState, RelayJob
from relaystate.aws import DynamoDBLedger
from relaystate.local import LocalLambda
from relaystate.testing import UnitsPerHop

pytestmark = pytest.mark.lam(timeout_s=1.0)

_tables = itertools.count()


class Stroll(RelayJob):
    """Walks 0..data["to"]-1, one number a hop; every unit and every join is recorded."""

    function_name = "stroll-worker"
    budget = UnitsPerHop.of(1)
    lease_margin_s = 1.0  # a busy delivery's copy comes back soon
    units: ClassVar[list[int]] = []
    joins: ClassVar[int] = 0

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Stroll.units.append(cursor)
        return DONE if cursor + 1 >= self.data["to"] else cursor + 1

    def on_join(self, results: Any) -> None:
        Stroll.joins += 1


def receive(lam: LocalLambda, url: str) -> dict[str, Any]:
    """The queue's one message, as an SQS event of one record (the hop run by hand)."""
    got = lam.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, VisibilityTimeout=60)
    (message,) = got["Messages"]
    record = {"messageId": message["MessageId"], "body": message["Body"], "attributes": {}}
    return {"Records": [record]}


def test_a_cancelled_job_resumed_runs_to_its_end_and_leaves_nothing(lam: LocalLambda) -> None:
    Stroll.units, Stroll.joins = [], 0
    ledger: DynamoDBLedger = lam.ledger(f"cancel-resume-{next(_tables)}")
    lam.deploy(Stroll)
    job = Stroll(data={"to": 4}, backend=lam.backend, ledger=ledger.table_name).start()
    assert job.packet is not None
    Stroll.handle(receive(lam, job.packet.queue_url), None, backend=lam.backend)  # hop 0
    saved = receive(lam, job.packet.queue_url)["Records"][0]["body"]  # hop 1's packet
    job.tear_down()  # the cancel
    cancelled = ledger.status(job.job_id)

    resumed = Stroll.resume(saved, backend=lam.backend)
    lam.run_until_idle(timeout_s=60)

    status = ledger.status(job.job_id)
    assert cancelled is not None
    assert JobState.TORN_DOWN == cancelled.state
    assert resumed.packet is not None
    assert job.packet.queue_url != resumed.packet.queue_url  # a fresh queue
    assert status is not None
    assert (JobState.TORN_DOWN, 1) == (status.state, status.done)
    assert ([0, 1, 2, 3], 1) == (Stroll.units, Stroll.joins)
    assert [] == lam.left_over()
