"""The printed IAM policies' conditions, where moto cannot check them: on AWS, with the roles.

The worker and the starter may reach a mapping only if it invokes the worker
(``lambda:FunctionArn``). A teardown waits for its mapping to be gone by asking for it until
AWS says ResourceNotFound -- so a mapping that is gone must read as not found, not as denied,
to both roles. And a mapping of another function must be denied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.account import Connect, code_of
from tests.e2e.deploy import Deployment
from tests.e2e.jobs import CountPrimesOnAws
from tests.e2e.report import Report
from tests.e2e.rig import Rig

GONE = ("ok", "ResourceNotFoundException")
DENIED = "AccessDeniedException"
NEVER_MADE = "00000000-0000-4000-8000-000000000000"


def outcome(call: Callable[[], Any]) -> str:
    """``"ok"``, or the AWS error code the call raised."""
    try:
        call()
    except ClientError as exc:
        return code_of(exc)
    return "ok"


@pytest.fixture(scope="module")
def gone_mapping(rig: Rig) -> str:
    """The mapping of a job that ran to its end and was torn down, and is gone."""
    job = rig.start(CountPrimesOnAws, {"n": 2_000, "shards": 1}, "iam_conditions")
    rig.results(job.job_id)
    assert [] == rig.left_after(job.job_id)
    assert job.packet is not None
    return job.packet.mapping_id


@pytest.fixture(scope="module")
def others_mapping(deployer: Connect, deployment: Deployment) -> str:
    """A disabled mapping from a relay queue to a function the policies do not name."""
    names = deployment.names
    sqs = deployer("sqs")
    url = sqs.create_queue(QueueName=f"{names.queue_prefix}other")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    made = deployer("lambda").create_event_source_mapping(
        FunctionName=names.other, EventSourceArn=arn["QueueArn"], Enabled=False, BatchSize=1
    )
    uuid: str = made["UUID"]
    return uuid  # deleted, with its queue, by the session's reaper


@pytest.mark.parametrize("role", ["worker", "starter"])
@pytest.mark.parametrize("operation", ["get_event_source_mapping", "delete_event_source_mapping"])
def test_a_gone_mapping_reads_as_not_found_not_denied(
    role: str,
    operation: str,
    gone_mapping: str,
    request: pytest.FixtureRequest,
    e2e_report: Report,
) -> None:
    client = request.getfixturevalue(role)("lambda")
    found = outcome(lambda: getattr(client, operation)(UUID=gone_mapping))
    never = outcome(lambda: getattr(client, operation)(UUID=NEVER_MADE))
    e2e_report.note(f"{role}_{operation}_gone", found)
    e2e_report.note(f"{role}_{operation}_never_made", never)
    assert found in GONE, f"{role}: {operation} of a gone mapping: {found}"
    assert never in GONE, f"{role}: {operation} of a mapping never made: {never}"


@pytest.mark.parametrize("role", ["worker", "starter"])
@pytest.mark.parametrize("operation", ["get_event_source_mapping", "delete_event_source_mapping"])
def test_another_functions_mapping_is_denied(
    role: str, operation: str, others_mapping: str, request: pytest.FixtureRequest
) -> None:
    client = request.getfixturevalue(role)("lambda")
    assert DENIED == outcome(lambda: getattr(client, operation)(UUID=others_mapping))


def test_the_starter_cannot_map_a_queue_to_another_function(
    starter: Connect, deployer: Connect, deployment: Deployment, others_mapping: str
) -> None:
    # The queue exists (others_mapping made it): were the call allowed, AWS would answer that
    # a mapping of that queue and function exists, not make a second one.
    names = deployment.names
    arn = f"arn:aws:sqs:{deployment.region}:{deployment.account}:{names.queue_prefix}other"
    made: dict[str, Any] = {}

    def create() -> None:
        made.update(
            starter("lambda").create_event_source_mapping(
                FunctionName=names.other, EventSourceArn=arn, Enabled=False
            )
        )

    found = outcome(create)
    if "UUID" in made:  # the policy let it through: undo, then fail
        deployer("lambda").delete_event_source_mapping(UUID=made["UUID"])
    assert DENIED == found


def test_the_starter_cannot_enable_another_functions_mapping(
    starter: Connect, others_mapping: str
) -> None:
    client = starter("lambda")
    assert DENIED == outcome(
        lambda: client.update_event_source_mapping(UUID=others_mapping, Enabled=True)
    )
