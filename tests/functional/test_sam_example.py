"""examples/sam: its starter and worker handlers run a job to the end on a LocalLambda."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from relaystate.local import LocalLambda
from tests.sam_app import http_event


@pytest.mark.functional
def test_the_starter_starts_a_job_that_the_worker_runs_to_the_end(
    sam_app: ModuleType, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalLambda(timeout_s=1, endpoint_url=sqs_endpoint) as lam:
        lam.deploy("sam-test-worker", sam_app.worker_handler)
        monkeypatch.setattr(sam_app.CountTo, "backend", lam.backend)

        response = sam_app.start_handler(http_event('{"to": 300, "pause_ms": 5}'), None)
        lam.run_until_idle(timeout_s=60)

        assert 202 == response["statusCode"]
        body = json.loads(response["body"])
        assert "queued" == body["state"]
        assert body["job_id"]
        assert 1 < len(lam.invocations)  # it took several hops
        assert {"ok"} == {i.outcome for i in lam.invocations}
        assert [] == lam.left_over()  # finished: mapping and queues torn down
