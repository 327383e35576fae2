"""LambdaMappings: the exact Lambda requests, checked by ``botocore.stub.Stubber``.

Stubber validates every request and response against Lambda's service model, so these are the
shapes AWS would receive. The clients point at a closed loopback port: nothing leaves this machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from relaystate.aws import LambdaMappings, SqsQueues
from relaystate.errors import MappingTimeoutError, PermissionDeniedError
from relaystate.mapping_state import wait_for_mapping
from relaystate.ports import Backend, MappingInfo

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:relay-job-1"
FUNCTION = "copy-rows-worker"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
MAPPING_ID = "14e0db71-5d35-4eb5-b481-8945cf9d10c2"
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
def client() -> Any:
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=NOWHERE)


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def mappings(client: Any) -> LambdaMappings:
    return LambdaMappings(client)


def mapping_response(state: str) -> dict[str, Any]:
    return {
        "UUID": MAPPING_ID,
        "State": state,
        "EventSourceArn": QUEUE_ARN,
        "FunctionArn": FUNCTION_ARN,
        "BatchSize": 1,
    }


def test_create_sends_the_relay_mapping_request(stubber: Stubber, mappings: LambdaMappings) -> None:
    stubber.add_response(
        "create_event_source_mapping",
        mapping_response("Creating"),
        expected_params={
            "EventSourceArn": QUEUE_ARN,
            "FunctionName": FUNCTION,
            "Enabled": True,
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )

    mappings.create(FUNCTION, QUEUE_ARN, batch_size=1, max_concurrency=None)

    stubber.assert_no_pending_responses()  # the request matched, field by field


def test_create_with_max_concurrency_adds_scaling_config(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    stubber.add_response(
        "create_event_source_mapping",
        mapping_response("Creating"),
        expected_params={
            "EventSourceArn": QUEUE_ARN,
            "FunctionName": FUNCTION,
            "Enabled": True,
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )

    mappings.create(FUNCTION, QUEUE_ARN, batch_size=1, max_concurrency=5)

    stubber.assert_no_pending_responses()  # the request matched, field by field


def test_create_returns_the_new_mapping(stubber: Stubber, mappings: LambdaMappings) -> None:
    stubber.add_response("create_event_source_mapping", mapping_response("Creating"))

    info = mappings.create(FUNCTION, QUEUE_ARN, batch_size=1, max_concurrency=None)

    expected = MappingInfo(
        id=MAPPING_ID, state="Creating", queue_arn=QUEUE_ARN, function_name=FUNCTION_ARN
    )
    assert expected == info


def test_allow_recursion_puts_recursive_loop_allow(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    stubber.add_response(
        "put_function_recursion_config",
        {"RecursiveLoop": "Allow"},
        expected_params={"FunctionName": FUNCTION, "RecursiveLoop": "Allow"},
    )

    mappings.allow_recursion(FUNCTION)

    stubber.assert_no_pending_responses()  # the request matched, field by field


def test_function_timeout_reads_the_function_configuration(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    stubber.add_response(
        "get_function_configuration",
        {"FunctionName": FUNCTION, "Timeout": 120},
        expected_params={"FunctionName": FUNCTION},
    )

    timeout = mappings.function_timeout_s(FUNCTION)

    expected = 120
    assert expected == timeout


def test_get_returns_the_mapping_state(stubber: Stubber, mappings: LambdaMappings) -> None:
    stubber.add_response(
        "get_event_source_mapping",
        mapping_response("Enabled"),
        expected_params={"UUID": MAPPING_ID},
    )

    info = mappings.get(MAPPING_ID)

    expected = MappingInfo(
        id=MAPPING_ID, state="Enabled", queue_arn=QUEUE_ARN, function_name=FUNCTION_ARN
    )
    assert expected == info


def test_get_of_a_missing_mapping_returns_none(stubber: Stubber, mappings: LambdaMappings) -> None:
    stubber.add_client_error(
        "get_event_source_mapping",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        expected_params={"UUID": MAPPING_ID},
    )

    assert mappings.get(MAPPING_ID) is None


def test_delete_sends_the_mapping_id(stubber: Stubber, mappings: LambdaMappings) -> None:
    stubber.add_response(
        "delete_event_source_mapping",
        mapping_response("Deleting"),
        expected_params={"UUID": MAPPING_ID},
    )

    mappings.delete(MAPPING_ID)

    stubber.assert_no_pending_responses()  # the request matched, field by field


def test_delete_of_a_missing_mapping_is_a_no_op(stubber: Stubber, mappings: LambdaMappings) -> None:
    stubber.add_client_error(
        "delete_event_source_mapping",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        expected_params={"UUID": MAPPING_ID},
    )

    mappings.delete(MAPPING_ID)

    stubber.assert_no_pending_responses()  # the request matched, field by field


def backend_on(mappings: LambdaMappings, *, wait_s: float = 5.0) -> Backend:
    unused_queues = SqsQueues(boto3.client("sqs", region_name="us-east-1", endpoint_url=NOWHERE))
    return Backend(
        queues=unused_queues,
        mappings=mappings,
        mapping_wait_s=wait_s,
        mapping_poll_s=0.001,
        mapping_poll_max_s=0.001,
    )


def test_wait_for_mapping_polls_until_enabled(stubber: Stubber, mappings: LambdaMappings) -> None:
    for state in ("Creating", "Enabling", "Enabled"):
        stubber.add_response(
            "get_event_source_mapping",
            mapping_response(state),
            expected_params={"UUID": MAPPING_ID},
        )

    info = wait_for_mapping(backend_on(mappings), MAPPING_ID, enabled=True)

    expected = MappingInfo(
        id=MAPPING_ID, state="Enabled", queue_arn=QUEUE_ARN, function_name=FUNCTION_ARN
    )
    assert expected == info


def test_wait_for_mapping_returns_once_the_mapping_is_gone(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    stubber.add_response("get_event_source_mapping", mapping_response("Deleting"))
    stubber.add_client_error(
        "get_event_source_mapping",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
    )

    assert wait_for_mapping(backend_on(mappings), MAPPING_ID, enabled=False) is None


def test_mapping_that_never_gets_enabled_raises_mapping_timeout(client: Any) -> None:
    # How many polls fit in the wait depends on the clock: stub more than can be used.
    stubber = Stubber(client)
    for _ in range(50):
        stubber.add_response("get_event_source_mapping", mapping_response("Creating"))
    backend = backend_on(LambdaMappings(client), wait_s=0.01)

    with stubber, pytest.raises(MappingTimeoutError) as caught:
        wait_for_mapping(backend, MAPPING_ID, enabled=True)

    message = str(caught.value)
    expected = (True, True, True)
    assert expected == (MAPPING_ID in message, "'Creating'" in message, "Enabled" in message)


def test_list_for_queue_asks_for_the_queues_mappings_page_by_page(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    other = {**mapping_response("Deleting"), "UUID": "a2f0c3f4-0000-4000-8000-000000000001"}
    stubber.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [mapping_response("Enabled")], "NextMarker": "page-2"},
        expected_params={"EventSourceArn": QUEUE_ARN},
    )
    stubber.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [other]},
        expected_params={"EventSourceArn": QUEUE_ARN, "Marker": "page-2"},
    )

    found = mappings.list_for_queue(QUEUE_ARN)

    assert [
        MappingInfo(MAPPING_ID, "Enabled", QUEUE_ARN, FUNCTION_ARN),
        MappingInfo(other["UUID"], "Deleting", QUEUE_ARN, FUNCTION_ARN),
    ] == found


def test_list_for_queue_of_a_queue_without_mappings_is_empty(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    stubber.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": []},
        expected_params={"EventSourceArn": QUEUE_ARN},
    )

    assert [] == mappings.list_for_queue(QUEUE_ARN)


def test_list_for_queue_denied_names_the_action_to_allow(
    stubber: Stubber, mappings: LambdaMappings
) -> None:
    stubber.add_client_error(
        "list_event_source_mappings",
        service_error_code="AccessDeniedException",
        http_status_code=403,
        expected_params={"EventSourceArn": QUEUE_ARN},
    )

    with pytest.raises(PermissionDeniedError, match="lambda:ListEventSourceMappings"):
        mappings.list_for_queue(QUEUE_ARN)
