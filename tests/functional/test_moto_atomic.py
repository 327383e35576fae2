"""moto answers DynamoDB writes and SQS deletes as AWS does: atomically (moto_atomic).

moto's server runs each request on a thread and its backends take no locks: before
:mod:`relaystate.local.moto_atomic`, concurrent conditional claims of one ledger item had more
than one winner (18 of 200 rounds of 8 claims on this machine), and a refused claim could read
an item half-written by a checkpoint -- the next hop with the old status, which the ledger
takes for a duplicate and acknowledges: a chain lost in LocalLambda that AWS would not lose.

Functional tier: moto's server in a process of its own (as the chaos suite runs it: the races
show there), and the session's embedded endpoint.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from relaystate.aws import DynamoDBLedger
from relaystate.local import LocalLambda, moto_atomic, moto_patch, moto_process

T = TypeVar("T")

_tables = itertools.count()
ROUNDS = 20
CLAIMS = 8


@pytest.fixture(scope="module")
def own_process() -> Iterator[LocalLambda]:
    """A LocalLambda on moto's server in a process of its own."""
    with moto_process() as url, LocalLambda(endpoint_url=url) as lam:
        yield lam


@pytest.fixture
def ledger(own_process: LocalLambda) -> DynamoDBLedger:
    return own_process.ledger(f"atomic-{next(_tables)}")


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls on threads of their own, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def claiming(ledger: DynamoDBLedger, job: str, owner: str) -> Callable[[], str]:
    """A claim of hop 0 of the job's shard 0 by ``owner``, to be made: its outcome."""
    return lambda: ledger.claim(job, 0, 0, owner, lease_ms=60_000).outcome


def test_apply_is_part_of_the_local_endpoints_patch_and_idempotent() -> None:
    assert moto_patch.apply() is True
    assert moto_atomic.apply() is True


def test_concurrent_claims_of_one_hop_have_exactly_one_winner(ledger: DynamoDBLedger) -> None:
    winners = []
    for n in range(ROUNDS):
        job = f"j-race-{n}"
        ledger.open_job(job, shards=1, job_type="Walk", function_name="f")
        outcomes = at_once([claiming(ledger, job, f"req-{i}") for i in range(CLAIMS)])
        winners.append(outcomes.count("run"))

    assert [1] * ROUNDS == winners


def test_a_claim_refused_during_a_checkpoint_reads_the_item_before_or_after_it(
    ledger: DynamoDBLedger,
) -> None:
    # A duplicate of hop 0 that meets the hop running is "busy"; one that meets its checkpoint
    # done re-sends the outbox. Never "duplicate": that would acknowledge the only delivery
    # left to re-send the next packet if the holder's send fails.
    seen: set[str] = set()
    for n in range(ROUNDS):
        job = f"j-torn-{n}"
        ledger.open_job(job, shards=1, job_type="Walk", function_name="f")
        assert "run" == ledger.claim(job, 0, 0, "holder", lease_ms=60_000).outcome

        def checkpoint(job: str = job) -> str:
            ledger.checkpoint(job, 0, 0, "holder", outbox='{"hop": 1}', stats={}, cursor_json="1")
            return "checkpointed"

        duplicates = [claiming(ledger, job, f"dup-{i}") for i in range(CLAIMS - 1)]
        outcomes = at_once([checkpoint, *duplicates])
        seen.update(outcomes[1:])

    assert seen <= {"busy", "resend"}


def waits_for(lock: Any, call: Callable[[], object]) -> tuple[bool, bool]:
    """Whether ``call`` waited while ``lock`` was held here, and whether it ended after."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    with lock:
        thread = threading.Thread(target=run)
        thread.start()
        waited = not done.wait(0.5)
    thread.join(timeout=10)
    return waited, done.is_set()


def test_a_dynamodb_request_waits_for_the_one_in_progress(lam: LocalLambda) -> None:
    # The session's embedded endpoint runs in this process: its lock is the one held here.
    ledger = lam.ledger(f"atomic-{next(_tables)}")
    ledger.open_job("j-wait", shards=1, job_type="Walk", function_name="f")

    assert (True, True) == waits_for(
        moto_atomic._dynamodb, lambda: ledger.claim("j-wait", 0, 0, "req", lease_ms=60_000)
    )


def test_a_delete_waits_for_the_queue_lock_that_a_send_holds(sqs: Any) -> None:
    from moto.sqs.models import sqs_backends

    url = sqs.create_queue(QueueName=f"atomic-delete-{next(_tables)}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    queue = sqs_backends["123456789012"]["us-east-1"].queues[url.rsplit("/", 1)[1]]

    # moto's append holds the queue's lock: a delete that held it not could drop the message.
    assert (True, True) == waits_for(
        queue._messages_lock, lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    )
