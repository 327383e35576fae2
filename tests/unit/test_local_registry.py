"""MappingRegistry: the local MappingPort, with AWS's checks and states (unit tier: no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from relaystate import ConfigurationError
from relaystate.errors import InvalidRequestError, ResourceConflictError, ResourceNotFoundError
from relaystate.local.registry import MappingRegistry
from relaystate.ports import MappingInfo

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:relay-abc"
QUEUE_URL = "http://127.0.0.1:1/123456789012/relay-abc"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_registry(
    *, visibility: str = "30", transition_s: float = 0.0, queue_exists: bool = True
) -> tuple[MappingRegistry, FakeClock, list[str]]:
    clock = FakeClock()
    calls: list[str] = []

    def lookup(arn: str) -> tuple[str, Mapping[str, str]] | None:
        return (QUEUE_URL, {"VisibilityTimeout": visibility}) if queue_exists else None

    registry = MappingRegistry(
        region="us-east-1",
        queue_lookup=lookup,
        on_call=calls.append,
        transition_s=transition_s,
        clock=clock,
    )
    registry.deploy("worker", lambda event, context: None, timeout_s=2.5, memory_mb=128)
    return registry, clock, calls


def create(registry: MappingRegistry) -> MappingInfo:
    return registry.create("worker", QUEUE_ARN, batch_size=1, max_concurrency=None)


def test_function_timeout_is_rounded_up_to_whole_seconds() -> None:
    registry, _, _ = make_registry()

    assert 3 == registry.function_timeout_s("worker")


def test_function_can_be_named_by_its_arn() -> None:
    registry, _, _ = make_registry()

    arn = "arn:aws:lambda:us-east-1:123456789012:function:worker"
    assert 3 == registry.function_timeout_s(arn)


def test_undeployed_function_is_not_found_and_the_error_says_to_deploy() -> None:
    registry, _, _ = make_registry()

    with pytest.raises(ResourceNotFoundError, match=r"lam\.deploy"):
        registry.function_timeout_s("nowhere")


def test_new_mapping_is_creating_then_enabled() -> None:
    registry, clock, _ = make_registry(transition_s=1.0)

    info = create(registry)
    states = [info.state, registry.get(info.id).state]  # type: ignore[union-attr]
    clock.now += 1.0
    states.append(registry.get(info.id).state)  # type: ignore[union-attr]

    assert ["Creating", "Creating", "Enabled"] == states


def test_mapping_reports_queue_and_function_arn_like_aws() -> None:
    registry, _, _ = make_registry()

    info = create(registry)

    assert (
        MappingInfo(
            info.id, "Creating", QUEUE_ARN, "arn:aws:lambda:us-east-1:123456789012:function:worker"
        )
        == info
    )
    (mapping,) = registry.all()
    assert ("Enabled", "worker", 1, None, QUEUE_URL) == (
        mapping.state,
        mapping.function_name,
        mapping.batch_size,
        mapping.max_concurrency,
        mapping.queue_url,
    )


def test_deleted_mapping_is_deleting_then_gone() -> None:
    registry, clock, _ = make_registry(transition_s=1.0)
    info = create(registry)
    clock.now += 1.0

    registry.delete(info.id)
    states = [registry.get(info.id).state]  # type: ignore[union-attr]
    clock.now += 1.0

    assert ["Deleting"] == states
    assert registry.get(info.id) is None
    assert [] == registry.all()


def test_delete_is_idempotent() -> None:
    registry, _, _ = make_registry()
    info = create(registry)

    registry.delete(info.id)
    registry.delete(info.id)
    registry.delete("no-such-mapping")

    assert 0 == len(registry)


def test_mapping_to_a_missing_queue_is_refused() -> None:
    registry, _, _ = make_registry(queue_exists=False)

    with pytest.raises(InvalidRequestError, match="NonExistentQueue"):
        create(registry)


def test_mapping_to_a_queue_whose_visibility_is_below_the_timeout_is_refused() -> None:
    registry, _, _ = make_registry(visibility="2")

    with pytest.raises(
        InvalidRequestError, match="visibility timeout: 2 seconds is less than Function timeout"
    ):
        create(registry)


def test_second_mapping_of_the_same_queue_and_function_conflicts() -> None:
    registry, _, _ = make_registry()
    first = create(registry)

    with pytest.raises(ResourceConflictError, match=first.id):
        create(registry)


@pytest.mark.parametrize(("batch_size", "max_concurrency"), [(0, None), (11, None), (1, 1)])
def test_out_of_range_batch_size_or_concurrency_is_refused(
    batch_size: int, max_concurrency: int | None
) -> None:
    registry, _, _ = make_registry()

    with pytest.raises(InvalidRequestError):
        registry.create("worker", QUEUE_ARN, batch_size=batch_size, max_concurrency=max_concurrency)


def test_recursion_is_terminate_until_allowed_and_survives_a_redeploy() -> None:
    registry, _, _ = make_registry()
    before = registry.function("worker").recursive_loop  # type: ignore[union-attr]

    registry.allow_recursion("worker")
    registry.deploy("worker", lambda event, context: None, timeout_s=1, memory_mb=128)

    assert ("Terminate", "Allow") == (
        before,
        registry.function("worker").recursive_loop,  # type: ignore[union-attr]
    )


def test_each_port_call_is_reported_by_its_lambda_operation_name() -> None:
    registry, _, calls = make_registry()

    registry.function_timeout_s("worker")
    registry.allow_recursion("worker")
    info = create(registry)
    registry.get(info.id)
    registry.delete(info.id)
    registry.all()  # inspection is not an AWS call

    assert [
        "GetFunctionConfiguration",
        "PutFunctionRecursionConfig",
        "CreateEventSourceMapping",
        "GetEventSourceMapping",
        "DeleteEventSourceMapping",
    ] == calls


@pytest.mark.parametrize(
    ("name", "timeout_s", "memory_mb"),
    [
        ("bad name", 1.0, 128),
        ("x" * 65, 1.0, 128),
        ("ok", 0.0, 128),
        ("ok", 901.0, 128),
        ("ok", 1.0, 64),
    ],
)
def test_deploy_refuses_what_lambda_would_refuse(
    name: str, timeout_s: float, memory_mb: int
) -> None:
    registry, _, _ = make_registry()

    with pytest.raises(ConfigurationError):
        registry.deploy(name, lambda event, context: None, timeout_s=timeout_s, memory_mb=memory_mb)


def test_list_for_queue_finds_the_queues_mappings_only() -> None:
    registry, _, calls = make_registry(transition_s=1.0)
    info = create(registry)
    registry.deploy("other", lambda event, context: None, timeout_s=1, memory_mb=128)
    second = registry.create("other", QUEUE_ARN, batch_size=1, max_concurrency=None)
    calls.clear()

    found = registry.list_for_queue(QUEUE_ARN)

    assert [info.id, second.id] == [m.id for m in found]
    assert ["Creating", "Creating"] == [m.state for m in found]
    assert [] == registry.list_for_queue("arn:aws:sqs:us-east-1:123456789012:relay-other")
    assert ["ListEventSourceMappings", "ListEventSourceMappings"] == calls
