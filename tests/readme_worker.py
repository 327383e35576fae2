"""README's job, starter and worker, as one deploys them: no backend, no endpoint, no LocalLambda.

``step`` copies rows between two S3 "tables" with its own ``boto3.client("s3")``, as a real
step talks to its data store; the relay's SQS and Lambda calls are relaystate's default
backend's. Deployed on a LocalLambda by name, all of it must reach the local endpoint.
"""

from __future__ import annotations

import time
from typing import Any

import boto3

from relaystate import DONE, RelayJob

#: Rows copied by one unit, and the pause standing in for a database's round trip.
BATCH = 10
UNIT_DELAY_S = 0.05


class CopyRows(RelayJob):
    """Copy the objects ``rows/<i>`` of ``data["bucket"]`` to ``copy/<i>``, ``BATCH`` a unit."""

    job_type = "tests.readme_worker.CopyRows"
    function_name = "copy-rows-worker"

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        s3 = boto3.client("s3")
        bucket, rows = self.data["bucket"], self.data["rows"]
        for i in range(cursor, min(cursor + BATCH, rows)):
            body = s3.get_object(Bucket=bucket, Key=f"rows/{i}")["Body"].read()
            s3.put_object(Bucket=bucket, Key=f"copy/{i}", Body=body)
        time.sleep(UNIT_DELAY_S)
        self.data["copied"] = self.data.get("copied", 0) + min(BATCH, rows - cursor)
        return DONE if cursor + BATCH >= rows else cursor + BATCH


# starter: behind API Gateway, a schedule, or a script
def start_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = CopyRows(data={"bucket": event["bucket"], "rows": event["rows"]}).start()
    return {"job_id": job.job_id, "state": job.state.value}


# worker: "copy-rows-worker"; its trigger is created by start(), not by you
def handler(event: dict[str, Any], context: Any) -> Any:
    return CopyRows.handle(event, context)
