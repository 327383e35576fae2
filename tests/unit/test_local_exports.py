"""The face of relaystate.local: what a user imports from it, and nothing else (unit tier)."""

from __future__ import annotations

import importlib
import types

import pytest

import relaystate.local


def test_the_facade_exports_exactly_what_a_test_of_a_job_needs() -> None:
    assert [
        "CRASH_POINTS",
        "Faults",
        "FunctionKilled",
        "IdleTimeoutError",
        "Invocation",
        "LambdaContext",
        "LocalLambda",
        "LocalLambdaClosedError",
        "moto_process",
    ] == relaystate.local.__all__


def test_the_facade_lists_its_names_sorted() -> None:
    assert sorted(relaystate.local.__all__) == relaystate.local.__all__


def test_every_public_name_of_the_facade_is_exported() -> None:
    public = {
        name
        for name, value in vars(relaystate.local).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert sorted(public) == relaystate.local.__all__


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("relaystate.local.faults", "ALL_CRASH_POINTS"),
        ("relaystate.local.faults", "CrashPoint"),
        ("relaystate.local.handler", "InvocationOutcome"),
        ("relaystate.local.registry", "Handler"),
        ("relaystate.local.registry", "LocalFunction"),
        ("relaystate.local.registry", "LocalMapping"),
        ("relaystate.local.registry", "MappingRegistry"),
        ("relaystate.local.server", "EmbeddedSqs"),
        ("relaystate.local.server", "sqs_client"),
        ("relaystate.local.trace", "MAX_CHAIN_INVOCATIONS"),
    ],
)
def test_an_internal_left_out_of_the_facade_is_importable_from_its_module(
    module: str, name: str
) -> None:
    found = importlib.import_module(module)

    assert name in found.__all__
    assert hasattr(found, name)
    assert name not in relaystate.local.__all__
