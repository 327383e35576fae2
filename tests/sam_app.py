"""The SAM example under test (examples/sam): its template and its app module, for the unit
tier (the template's shape, the start handler on Stubber) and the functional tier (the app on
LocalLambda). tests/conftest.py makes its fixtures, ``sam_template`` and ``sam_app``, known
to every test."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cfnlint.decode
import pytest

SAM = Path(__file__).resolve().parents[1] / "examples" / "sam"
TEMPLATE = SAM / "template.yaml"


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    """The template, decoded by cfn-lint (with no decoding problem)."""
    found, problems = cfnlint.decode.decode(TEMPLATE)
    assert [] == problems
    resources: dict[str, Any] = found
    return resources


@pytest.fixture
def sam_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """examples/sam/app.py, imported with the environment the template gives it."""
    monkeypatch.setenv("WORKER_FUNCTION", "sam-test-worker")
    monkeypatch.setenv("QUEUE_PREFIX", "relay-samtest-")
    monkeypatch.setenv("LEDGER_TABLE", "")
    spec = importlib.util.spec_from_file_location("sam_example_app", SAM / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def http_event(body: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``POST /jobs`` with ``body``."""
    return {"version": "2.0", "routeKey": "POST /jobs", "body": body, "isBase64Encoded": False}
