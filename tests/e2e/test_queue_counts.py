"""SQS's approximate counts lag what happened: recorded (in the run's report), not timed.

relaystate reads these counts to tell an idle queue (``relaystate ls``, a fan-out's starter
before ``tear_down()``): how far they lag on AWS is what this measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from relaystate.queue_attributes import COUNT_ATTRIBUTES
from tests.e2e.account import Connect
from tests.e2e.deploy import Deployment
from tests.e2e.report import Report

#: The longest a count may take to show a change before the test fails (not a timing claim:
#: a bound on "eventually").
BOUND_S = 120.0


@pytest.fixture
def queue(deployer: Connect, deployment: Deployment) -> Iterator[str]:
    sqs = deployer("sqs")
    url: str = sqs.create_queue(QueueName=f"{deployment.names.queue_prefix}lag")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(COUNT_ATTRIBUTES))
    visible, in_flight, delayed = (int(found["Attributes"][k]) for k in COUNT_ATTRIBUTES)
    return visible, in_flight, delayed


def watch(
    read: Callable[[], tuple[int, int, int]], until: Callable[[tuple[int, int, int]], bool]
) -> dict[str, Any]:
    """Read the counts until ``until`` holds; what was read, and when."""
    began, reads = time.monotonic(), []
    while True:
        found = read()
        reads.append([round(time.monotonic() - began, 3), *found])
        if until(found) or time.monotonic() - began > BOUND_S:
            return {"reads": len(reads), "first": reads[0], "last": reads[-1], "held": until(found)}
        time.sleep(0.2)


def test_the_visible_count_shows_a_send_eventually(
    deployer: Connect, queue: str, e2e_report: Report
) -> None:
    sqs = deployer("sqs")
    sqs.send_message(QueueUrl=queue, MessageBody="lag")
    after_send = watch(lambda: counts(sqs, queue), lambda c: c[0] == 1)
    e2e_report.note("visible_count_after_send", after_send)
    assert after_send["held"]

    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=10)
    (message,) = got["Messages"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    after_delete = watch(lambda: counts(sqs, queue), lambda c: sum(c) == 0)
    e2e_report.note("counts_after_delete", after_delete)
    assert after_delete["held"]
