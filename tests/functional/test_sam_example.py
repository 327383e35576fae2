"""examples/sam: its starter and worker handlers run a job to the end on a LocalLambda."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cfnlint.api
import cfnlint.decode
import pytest

from relaystate.local import LocalLambda

SAM = Path(__file__).resolve().parents[2] / "examples" / "sam"


TEMPLATE = SAM / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    found, problems = cfnlint.decode.decode(TEMPLATE)
    assert [] == problems
    resources: dict[str, Any] = found
    return resources


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
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
    return {"version": "2.0", "routeKey": "POST /jobs", "body": body, "isBase64Encoded": False}


@pytest.mark.functional
def test_the_starter_starts_a_job_that_the_worker_runs_to_the_end(
    app: ModuleType, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalLambda(timeout_s=1, endpoint_url=sqs_endpoint) as lam:
        lam.deploy("sam-test-worker", app.worker_handler)
        monkeypatch.setattr(app.CountTo, "backend", lam.backend)

        response = app.start_handler(http_event('{"to": 300, "pause_ms": 5}'), None)
        lam.run_until_idle(timeout_s=60)

        assert 202 == response["statusCode"]
        body = json.loads(response["body"])
        assert "queued" == body["state"]
        assert body["job_id"]
        assert 1 < len(lam.invocations)  # it took several hops
        assert {"ok"} == {i.outcome for i in lam.invocations}
        assert [] == lam.left_over()  # finished: mapping and queues torn down
