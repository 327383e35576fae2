"""The two Lambdas of the SAM example: a starter behind an HTTP API, and the relay's worker.

``template.yaml`` deploys this file twice: ``app.start_handler`` (POST /jobs) and
``app.worker_handler`` (invoked by the event-source mapping each job creates). The job is a
stand-in for real work: it counts to ``to``, ``per_unit`` numbers a unit, pausing ``pause_ms``
per unit so that a job of a few thousand units needs several hops.

The settings come from the environment the template sets: the worker's name, the queue prefix
(the one the IAM policies allow), and the ledger table.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from relaystate import DONE, RelayError, RelayJob


class CountTo(RelayJob):
    """Count to ``data["to"]``: a unit adds ``per_unit`` to the cursor (after ``pause_ms``)."""

    function_name = os.environ.get("WORKER_FUNCTION")
    queue_prefix = os.environ.get("QUEUE_PREFIX", "relay-")
    ledger = os.environ.get("LEDGER_TABLE") or None

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        time.sleep(self.data.get("pause_ms", 10) / 1000)
        cursor += self.data.get("per_unit", 1)
        return DONE if cursor >= self.data["to"] else cursor


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def start_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """POST /jobs with ``{"to": 100000}``: start a job; 202 with its id and state."""
    try:
        data = json.loads(event.get("body") or "{}")
    except ValueError:
        return _response(400, {"error": 'the body must be JSON, e.g. {"to": 100000}'})
    if not isinstance(data, dict) or not isinstance(data.get("to"), int) or data["to"] < 1:
        return _response(400, {"error": "give a whole number 'to' >= 1, e.g. {\"to\": 100000}"})
    try:
        job = CountTo(data=data).start()
    except RelayError as exc:
        return _response(500, {"error": f"{type(exc).__name__}: {exc}"})
    return _response(202, {"job_id": job.job_id, "state": job.state.value})


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """One hop per SQS record: the packet's job goes on, relays, or finishes and tears down."""
    return CountTo.handle(event, context)
