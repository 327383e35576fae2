"""The one table that maps AWS errors to RelayError subclasses, checked code by code.

Every case goes through a real adapter method on a real boto3 client: ``ClientError``\\s come from
``botocore.stub.Stubber``; credentials, region and connection errors from botocore itself, with
every endpoint on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from relaystate.aws import ERROR_CODES, LambdaMappings, S3Blobs, SqsQueues, aws_backend
from relaystate.errors import (
    AwsError,
    ConfigurationError,
    InvalidRequestError,
    RelayError,
    ResourceNotFoundError,
    ServiceUnavailableError,
)

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/relay-test"


QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:relay-test"


MAPPING_ID = "14e0db71-5d35-4eb5-b481-8945cf9d10c2"


# Stubbed clients point at a closed loopback port: should a stub ever be bypassed, the call fails
# on this machine instead of reaching AWS.
NOWHERE = "http://127.0.0.1:9"


def stubbed(service: str) -> tuple[Any, Stubber]:
    client: Any = boto3.client(service, region_name="us-east-1", endpoint_url=NOWHERE)  # type: ignore[call-overload]
    return client, Stubber(client)


# (service, boto3 method, AWS operation, the adapter call that makes it)
Call = tuple[str, str, str, Callable[[Any], object]]


ADAPTER_CALLS: dict[str, Call] = {
    "SqsQueues.create": (
        "sqs",
        "create_queue",
        "CreateQueue",
        lambda c: SqsQueues(c).create("relay-test", {}, {}),
    ),
    "SqsQueues.delete": (
        "sqs",
        "delete_queue",
        "DeleteQueue",
        lambda c: SqsQueues(c).delete(QUEUE_URL),
    ),
    "SqsQueues.describe": (
        "sqs",
        "get_queue_attributes",
        "GetQueueAttributes",
        lambda c: SqsQueues(c).describe(QUEUE_URL),
    ),
    "SqsQueues.send": (
        "sqs",
        "send_message",
        "SendMessage",
        lambda c: SqsQueues(c).send(QUEUE_URL, "body"),
    ),
    "SqsQueues.send_batch": (
        "sqs",
        "send_message_batch",
        "SendMessageBatch",
        lambda c: SqsQueues(c).send_batch(QUEUE_URL, ["a", "b"]),
    ),
    "LambdaMappings.function_timeout_s": (
        "lambda",
        "get_function_configuration",
        "GetFunctionConfiguration",
        lambda c: LambdaMappings(c).function_timeout_s("worker"),
    ),
    "LambdaMappings.create": (
        "lambda",
        "create_event_source_mapping",
        "CreateEventSourceMapping",
        lambda c: LambdaMappings(c).create("worker", QUEUE_ARN, batch_size=1, max_concurrency=None),
    ),
    "LambdaMappings.get": (
        "lambda",
        "get_event_source_mapping",
        "GetEventSourceMapping",
        lambda c: LambdaMappings(c).get(MAPPING_ID),
    ),
    "LambdaMappings.delete": (
        "lambda",
        "delete_event_source_mapping",
        "DeleteEventSourceMapping",
        lambda c: LambdaMappings(c).delete(MAPPING_ID),
    ),
    "LambdaMappings.allow_recursion": (
        "lambda",
        "put_function_recursion_config",
        "PutFunctionRecursionConfig",
        lambda c: LambdaMappings(c).allow_recursion("worker"),
    ),
    "S3Blobs.put": (
        "s3",
        "put_object",
        "PutObject",
        lambda c: S3Blobs("bucket", client=c).put("relaystate/j/ab", b"{}"),
    ),
    "S3Blobs.get": (
        "s3",
        "get_object",
        "GetObject",
        lambda c: S3Blobs("bucket", client=c).get("relaystate/j/ab"),
    ),
    "S3Blobs.list": (
        "s3",
        "list_objects_v2",
        "ListObjectsV2",
        lambda c: list(S3Blobs("bucket", client=c).list("relaystate/j/")),
    ),
}


# One call per service is enough to walk the whole table through the real path.
TABLE_CALLS = ("SqsQueues.send", "LambdaMappings.create", "S3Blobs.put")


def fail_with(name: str, code: str, **error: Any) -> AwsError:
    """Run adapter call ``name`` with its AWS call stubbed to fail with ``code``."""
    service, method, _, call = ADAPTER_CALLS[name]
    client, stubber = stubbed(service)
    stubber.add_client_error(
        method,
        service_error_code=code,
        service_message=f"stubbed {code}",
        http_status_code=400,
        service_error_meta=error or None,
    )
    with stubber, pytest.raises(AwsError) as caught:
        call(client)
    stubber.assert_no_pending_responses()
    return caught.value


@pytest.mark.parametrize("name", TABLE_CALLS)
@pytest.mark.parametrize(("code", "expected"), sorted(ERROR_CODES.items()))
def test_each_aws_error_code_raises_its_relay_error(
    name: str, code: str, expected: type[AwsError]
) -> None:
    exc = fail_with(name, code)

    assert expected is type(exc)


@pytest.mark.parametrize("name", TABLE_CALLS)
def test_mapped_error_carries_code_operation_and_service(name: str) -> None:
    service, _, operation, _ = ADAPTER_CALLS[name]

    exc = fail_with(name, "ThrottlingException")

    assert ("ThrottlingException", operation, service) == (exc.code, exc.operation, exc.service)


def test_unknown_code_raises_plain_aws_error_with_code_operation_service() -> None:
    exc = fail_with("SqsQueues.send", "SomethingNewInAws")

    assert (AwsError, "SomethingNewInAws", "SendMessage", "sqs") == (
        type(exc),
        exc.code,
        exc.operation,
        exc.service,
    )


def test_unknown_legacy_sqs_code_falls_back_to_its_json_spelling() -> None:
    # SQS (awsQueryCompatible): Code is the legacy spelling, QueryErrorCode the JSON one.
    exc = fail_with(
        "SqsQueues.send",
        "AWS.SimpleQueueService.SomeNewSpelling",
        QueryErrorCode="QueueDoesNotExist",
    )

    assert (ResourceNotFoundError, "AWS.SimpleQueueService.SomeNewSpelling") == (
        type(exc),
        exc.code,
    )


def test_error_message_carries_the_aws_message() -> None:
    exc = fail_with("SqsQueues.send", "InvalidMessageContents")

    assert "stubbed InvalidMessageContents" in str(exc)


def test_permission_denied_names_the_iam_action() -> None:
    exc = fail_with("LambdaMappings.allow_recursion", "AccessDeniedException")

    assert "lambda:PutFunctionRecursionConfig" in str(exc)


def test_permission_denied_on_batch_send_names_sqs_send_message() -> None:
    # IAM has no sqs:SendMessageBatch action: SendMessage authorizes batches.
    exc = fail_with("SqsQueues.send_batch", "AccessDenied")

    assert ("sqs:SendMessage " in str(exc), "sqs:SendMessageBatch" in str(exc)) == (True, False)


def test_permission_denied_on_create_queue_names_tag_queue_too() -> None:
    exc = fail_with("SqsQueues.create", "AccessDenied")

    assert "sqs:TagQueue" in str(exc)


def test_permission_denied_on_an_s3_listing_names_s3_list_bucket() -> None:
    # IAM authorizes ListObjectsV2 with s3:ListBucket, on the bucket.
    exc = fail_with("S3Blobs.list", "AccessDenied")

    assert "s3:ListBucket" in str(exc)


def test_a_missing_object_is_none_but_a_missing_bucket_is_an_error() -> None:
    client, stubber = stubbed("s3")
    stubber.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    stubber.add_client_error("get_object", service_error_code="NoSuchBucket", http_status_code=404)
    blobs = S3Blobs("bucket", client=client)

    with stubber:
        assert blobs.get("relaystate/j/ab") is None
        with pytest.raises(ResourceNotFoundError, match="NoSuchBucket"):
            blobs.get("relaystate/j/ab")


def test_original_client_error_is_chained_as_cause() -> None:
    exc = fail_with("SqsQueues.send", "AWS.SimpleQueueService.NonExistentQueue")

    assert isinstance(exc.__cause__, ClientError)
    expected = "AWS.SimpleQueueService.NonExistentQueue"
    assert expected == exc.__cause__.response["Error"]["Code"]


@pytest.mark.parametrize("name", sorted(ADAPTER_CALLS))
def test_no_client_error_escapes_an_adapter_method(name: str) -> None:
    service, method, _, call = ADAPTER_CALLS[name]
    client, stubber = stubbed(service)
    stubber.add_client_error(method, service_error_code="Boom", http_status_code=400)

    # A ClientError escaping would fail this test with that error.
    with stubber, pytest.raises(RelayError) as caught:
        call(client)

    stubber.assert_no_pending_responses()  # the adapter made the call stubbed for it
    assert (AwsError, "Boom") == (type(caught.value), caught.value.code)


def test_no_region_raises_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)

    with pytest.raises(ConfigurationError) as caught:
        aws_backend(endpoint_url=NOWHERE)

    expected = "NoRegionError"
    assert expected == type(caught.value.__cause__).__name__


def test_no_region_message_names_the_variable_botocore_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)

    with pytest.raises(ConfigurationError) as caught:
        aws_backend(endpoint_url=NOWHERE)

    assert "AWS_DEFAULT_REGION" in str(caught.value)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_endpoint_raises_service_unavailable(closed_port: int) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    client = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )

    with pytest.raises(ServiceUnavailableError) as caught:
        SqsQueues(client).send(f"{endpoint}/123456789012/relay-test", "body")

    expected = "EndpointConnectionError"
    assert expected == type(caught.value.__cause__).__name__


def test_endpoint_that_never_answers_raises_service_unavailable() -> None:
    # The kernel accepts the connection into the backlog; nothing ever reads or answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=0.2),
        )

        with pytest.raises(ServiceUnavailableError) as caught:
            SqsQueues(client).send(f"{endpoint}/123456789012/relay-test", "body")

    expected = "ReadTimeoutError"
    assert expected == type(caught.value.__cause__).__name__


def test_parameter_botocore_refuses_raises_invalid_request() -> None:
    # botocore validates before sending; were it to send, NOWHERE refuses the connection.
    client, _ = stubbed("sqs")

    with pytest.raises(InvalidRequestError) as caught:
        SqsQueues(client).send(QUEUE_URL, "body", delay_seconds="soon")  # type: ignore[arg-type]

    expected = "ParamValidationError"
    assert expected == caught.value.code
