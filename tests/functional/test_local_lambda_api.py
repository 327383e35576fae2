"""The Lambda API over HTTP on a local endpoint, answered from a LocalLambda (functional tier).

relaystate's own Lambda adapter, on a boto3 client pointed at the endpoint, is the client.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from relaystate import DONE, RelayJob
from relaystate.aws import LambdaMappings, aws_backend
from relaystate.errors import InvalidRequestError, ResourceNotFoundError
from relaystate.local import LocalLambda
from relaystate.local.endpoint import LocalEndpoint
from relaystate.local.lambda_api import service_of
from relaystate.local.server import local_client, sqs_client


class Ping(RelayJob):
    function_name = "ping-worker"

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        return DONE if cursor >= 20 else cursor + 1


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalEndpoint, LocalLambda]]:
    with (
        LocalEndpoint(port=0) as endpoint,
        LocalLambda(timeout_s=1.5, endpoint_url=endpoint.url) as lam,
    ):
        endpoint.serve(lam)
        lam.deploy(Ping)
        yield endpoint, lam


@pytest.fixture
def endpoint(served: tuple[LocalEndpoint, LocalLambda]) -> LocalEndpoint:
    return served[0]


@pytest.fixture
def lam(served: tuple[LocalEndpoint, LocalLambda]) -> LocalLambda:
    return served[1]


@pytest.fixture
def mappings(endpoint: LocalEndpoint) -> LambdaMappings:
    return LambdaMappings(local_client("lambda", endpoint.url))


@pytest.fixture
def queue_arn(endpoint: LocalEndpoint, request: pytest.FixtureRequest) -> str:
    sqs = sqs_client(endpoint.url)
    url = sqs.create_queue(
        QueueName=f"lambda-api-{request.node.name[:40]}", Attributes={"VisibilityTimeout": "30"}
    )["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


def test_get_function_configuration_reports_the_served_functions_timeout(
    mappings: LambdaMappings,
) -> None:
    assert 2 == mappings.function_timeout_s("ping-worker")


def test_an_unknown_function_says_how_to_serve_it(mappings: LambdaMappings) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        mappings.function_timeout_s("nobody-worker")

    message = str(caught.value)
    assert "ResourceNotFoundException" in message
    assert "serving: ping-worker" in message
    assert "relaystate serve MODULE:JobClass" in message


def test_a_mapping_is_created_read_listed_and_deleted(
    mappings: LambdaMappings, lam: LocalLambda, queue_arn: str
) -> None:
    created = mappings.create("ping-worker", queue_arn, batch_size=1, max_concurrency=2)

    assert created.state in ("Creating", "Enabled")
    assert [created.id] == [m.id for m in mappings.list_for_queue(queue_arn)]
    found = mappings.get(created.id)
    function = lam.mappings.function("ping-worker")
    assert found is not None
    assert function is not None
    assert (queue_arn, function.arn) == (found.queue_arn, found.function_name)
    mappings.delete(created.id)
    assert mappings.get(created.id) is None
    assert [] == mappings.list_for_queue(queue_arn)


def test_a_mapping_on_a_missing_queue_is_refused_once_worded(mappings: LambdaMappings) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        mappings.create(
            "ping-worker",
            "arn:aws:sqs:us-east-1:123456789012:nope",
            batch_size=1,
            max_concurrency=None,
        )

    assert 1 == str(caught.value).count("failed with InvalidParameterValueException")
    assert "create the queue first" in str(caught.value)


def test_recursion_is_allowed_on_the_served_function(
    mappings: LambdaMappings, lam: LocalLambda, endpoint: LocalEndpoint
) -> None:
    mappings.allow_recursion("ping-worker")

    function = lam.mappings.function("ping-worker")
    assert function is not None
    assert "Allow" == function.recursive_loop
    found = mappings.client.get_function_recursion_config(FunctionName="ping-worker")
    assert "Allow" == found["RecursiveLoop"]


def test_an_update_enables_and_disables_and_any_other_change_is_refused(
    mappings: LambdaMappings, queue_arn: str
) -> None:
    created = mappings.create(
        "ping-worker", queue_arn, batch_size=1, max_concurrency=None, enabled=False
    )
    assert created.state in ("Creating", "Disabled")

    same = mappings.client.update_event_source_mapping(UUID=created.id, BatchSize=1)
    assert created.id == same["UUID"]
    assert mappings.set_enabled(created.id, True).state in ("Enabling", "Enabled")
    assert mappings.set_enabled(created.id, False).state in ("Disabling", "Disabled")
    with pytest.raises(mappings.client.exceptions.InvalidParameterValueException):
        mappings.client.update_event_source_mapping(UUID=created.id, BatchSize=5)
    mappings.delete(created.id)


def test_other_services_pass_through_to_moto(endpoint: LocalEndpoint) -> None:
    dynamodb = local_client("dynamodb", endpoint.url)
    s3 = local_client("s3", endpoint.url)

    assert isinstance(dynamodb.list_tables()["TableNames"], list)
    s3.create_bucket(Bucket="relaystate-lambda-api")
    assert "relaystate-lambda-api" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_an_unsigned_request_by_path_is_answered_too(endpoint: LocalEndpoint) -> None:
    with urllib.request.urlopen(f"{endpoint.url}/2015-03-31/functions") as response:
        found = json.loads(response.read())

    assert ["ping-worker"] == [f["FunctionName"] for f in found["Functions"]]


def test_a_job_started_through_the_endpoint_runs_to_the_end(
    endpoint: LocalEndpoint, lam: LocalLambda
) -> None:
    backend = aws_backend(region_name="us-east-1", endpoint_url=endpoint.url)
    job = Ping(backend=backend).start()

    lam.run_until_idle(timeout_s=60)

    assert ["ok"] * len(lam.invocations) == [i.outcome for i in lam.invocations]
    assert [] == [m for m in lam.mappings if m.queue_arn.endswith(job.job_id)]
    assert [] == sqs_client(endpoint.url).list_queues(QueueNamePrefix=f"relay-{job.job_id}").get(
        "QueueUrls", []
    )


def test_service_of_reads_the_signatures_scope() -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )
    assert "dynamodb" == service_of({"HTTP_AUTHORIZATION": header})
    assert service_of({}) is None


def test_the_endpoint_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        LocalEndpoint(host="0.0.0.0")
