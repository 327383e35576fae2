"""relaystate iam-policy against the calls a job really makes: every one is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from relaystate.cli.policy import policies


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc["Statement"]
    return found


def actions(doc: dict[str, Any]) -> set[str]:
    return {action for s in statements(doc) for action in s["Action"]}


_LAMBDA_CALLS = {
    "CreateEventSourceMapping",
    "DeleteEventSourceMapping",
    "GetEventSourceMapping",
    "GetFunctionConfiguration",
    "ListEventSourceMappings",
    "PutFunctionRecursionConfig",
    "UpdateEventSourceMapping",
}


_DYNAMODB_CALLS = {
    "BatchWriteItem",
    "DeleteItem",
    "DescribeTable",
    "GetItem",
    "PutItem",
    "Query",
    "UpdateItem",
}


#: S3's calls and the actions that authorise them (a listing is s3:ListBucket).
_S3_CALLS = {
    "DeleteObjects": "s3:DeleteObject",
    "GetObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "PutObject": "s3:PutObject",
}


def _needed(calls: Any) -> set[str]:
    """The IAM actions of API calls (TransactWriteItems is authorised by its items' actions)."""
    needed = set()
    for operation in calls:
        if operation == "TransactWriteItems":
            continue
        if operation in _S3_CALLS:
            needed.add(_S3_CALLS[operation])
            continue
        # SQS authorises a batch by its single action (SendMessageBatch: sqs:SendMessage).
        operation = operation.removesuffix("Batch")
        service = (
            "lambda"
            if operation in _LAMBDA_CALLS
            else "dynamodb"
            if operation in _DYNAMODB_CALLS
            else "sqs"
        )
        needed.add(f"{service}:{operation}")
    return needed


def fan_out(name: str) -> Any:
    """A job class of two shards of three one-unit hops each, of job type ``name``."""
    from relaystate import DONE, RelayJob
    from relaystate.testing import UnitsPerHop

    class Fanned(RelayJob):
        job_type = name
        function_name = "policy-worker"
        budget = UnitsPerHop.of(1)

        def plan(self) -> list[int]:
            return [0, 10]

        def step(self, cursor: int) -> Any:
            return DONE if cursor % 10 == 2 else cursor + 1

    return Fanned


@pytest.mark.functional
def test_every_call_of_a_started_job_and_its_hops_is_in_the_policies(sqs_endpoint: str) -> None:
    from relaystate.local import LocalLambda

    Fanned = fan_out("test_cli_policy.Fanned")
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        lam.deploy(Fanned)
        table = lam.ledger().table_name
        before = dict(lam.aws_calls)
        Fanned(data={}, backend=lam.backend, ledger=table).start()
        started = {op: n - before.get(op, 0) for op, n in lam.aws_calls.items()}
        lam.run_until_idle(timeout_s=30)
        hops = {op: n - before.get(op, 0) - started.get(op, 0) for op, n in lam.aws_calls.items()}
        assert ["ok"] * 6 == [i.outcome for i in lam.invocations]

    documents = policies("policy-worker", ledger_table=table)
    starter, worker = actions(documents["starter"]), actions(documents["worker"])
    assert set() == _needed(op for op, n in started.items() if n) - starter
    assert set() == _needed(op for op, n in hops.items() if n) - worker
    assert "sqs:SetQueueAttributes" in starter  # the queues' TLS-only policy


@pytest.mark.functional
def test_every_call_of_a_job_that_offloads_is_in_the_policies(sqs_endpoint: str) -> None:
    from relaystate import DONE, RelayJob, S3Offload
    from relaystate.local import LocalLambda
    from relaystate.testing import UnitsPerHop

    class Bulky(RelayJob):
        job_type = "test_cli_policy.Bulky"
        function_name = "policy-worker"
        offload = S3Offload("policy-bucket", threshold_bytes=100)
        budget = UnitsPerHop.of(1)

        def plan(self) -> list[str]:
            return ["c" * 200, "d" * 200]  # cursors offloaded too

        def step(self, cursor: str) -> Any:
            return DONE if len(cursor) > 202 else cursor + "+"

    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        lam.deploy(Bulky)
        lam.blobs("policy-bucket")  # made beforehand, as on AWS
        table = lam.ledger().table_name
        before = dict(lam.aws_calls)
        Bulky(data={"blob": "x" * 500}, backend=lam.backend, ledger=table).start()
        started = {op: n - before.get(op, 0) for op, n in lam.aws_calls.items()}
        lam.run_until_idle(timeout_s=30)
        hops = {op: n - before.get(op, 0) - started.get(op, 0) for op, n in lam.aws_calls.items()}
        assert {"ok"} == {i.outcome for i in lam.invocations}
        assert [] == lam.left_over()

    documents = policies("policy-worker", ledger_table=table, offload_bucket="policy-bucket")
    starter, worker = actions(documents["starter"]), actions(documents["worker"])
    assert {"s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:DeleteObject"} <= _needed(
        op for op, n in {**started, **hops}.items() if n
    )
    assert set() == _needed(op for op, n in started.items() if n) - starter
    assert set() == _needed(op for op, n in hops.items() if n) - worker


@pytest.mark.functional
def test_every_call_of_job_control_is_in_the_policies(sqs_endpoint: str) -> None:
    """Signals are authorised like starts; pause and unpause like an operator's commands;
    a wait and its wake-up are the worker's."""
    from relaystate import DONE, RelayJob, WaitFor
    from relaystate.local import LocalLambda

    class Gated(RelayJob):
        job_type = "test_cli_policy.Gated"
        function_name = "policy-worker"

        def plan(self) -> str:
            return "ask"

        def step(self, cursor: str) -> Any:
            return WaitFor("go", "went") if cursor == "ask" else DONE

    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        lam.deploy(Gated)
        table = lam.ledger().table_name
        job = Gated(data={}, backend=lam.backend, ledger=table).start()
        lam.run_until_idle(timeout_s=30)  # the first hop parks its packet, waiting
        before = dict(lam.aws_calls)
        handle = Gated.attach(job.job_id, backend=lam.backend, ledger=table)
        handle.pause()
        handle.unpause()
        handle.signal("go", {"by": "ann"})
        controlled = {op: n - before.get(op, 0) for op, n in lam.aws_calls.items()}
        lam.run_until_idle(timeout_s=30)
        woken = {
            op: n - before.get(op, 0) - controlled.get(op, 0) for op, n in lam.aws_calls.items()
        }
        assert [] == lam.left_over()

    documents = policies("policy-worker", ledger_table=table)
    starter, worker = actions(documents["starter"]), actions(documents["worker"])
    assert set() == _needed(op for op, n in controlled.items() if n) - starter
    assert set() == _needed(op for op, n in woken.items() if n) - worker


@pytest.mark.functional
def test_every_call_of_a_resume_and_of_a_resumed_jobs_teardown_is_in_the_policies(
    sqs_endpoint: str,
) -> None:
    from relaystate.local import LocalLambda

    Resumed = fan_out("test_cli_policy.Resumed")
    with LocalLambda(endpoint_url=sqs_endpoint) as lam:
        lam.deploy(Resumed)
        table = lam.ledger().table_name
        job = Resumed(data={}, backend=lam.backend, ledger=table).start()
        assert job.packet is not None
        saved = job.packet.to_json()
        job.tear_down()  # cancelled at once: shard 0 is resumed alone, then shard 1
        before = dict(lam.aws_calls)
        Resumed.resume(saved, backend=lam.backend)
        Resumed.resume(saved.replace('"shard":0', '"shard":1'), backend=lam.backend)
        resumed = {op: n - before.get(op, 0) for op, n in lam.aws_calls.items()}
        lam.run_until_idle(timeout_s=30)
        hops = {op: n - before.get(op, 0) - resumed.get(op, 0) for op, n in lam.aws_calls.items()}
        assert [] == lam.left_over()

    documents = policies("policy-worker", ledger_table=table)
    starter, worker = actions(documents["starter"]), actions(documents["worker"])
    assert "sqs:ListQueues" in _needed(op for op, n in resumed.items() if n)
    assert "sqs:ListQueues" in _needed(op for op, n in hops.items() if n)
    assert set() == _needed(op for op, n in resumed.items() if n) - starter
    assert set() == _needed(op for op, n in hops.items() if n) - worker
