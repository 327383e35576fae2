"""The AWS account's side of the e2e tier: clients and assumed roles, the worker's reports read
from CloudWatch Logs, what is left of a job, and the :class:`~tests.e2e.rig.Rig` on AWS.

IAM is eventually consistent: a role just made may not be assumable yet, a policy just put may
not be in force yet, and Lambda refuses a role it cannot assume yet. AWS documents the remedy --
retry -- and :func:`until_allowed` does it, bounded.

Example:
    >>> attempts = iter([access_denied(), access_denied(), "ok"])
    >>> def call():
    ...     found = next(attempts)
    ...     if isinstance(found, Exception):
    ...         raise found
    ...     return found
    >>> until_allowed(call, bound_s=5, sleep=lambda s: None)
    ('ok', 3)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from botocore.exceptions import ClientError

from relaystate.aws import aws_backend
from relaystate.names import DLQ_SUFFIX
from tests.e2e.names import log_group
from tests.e2e.rig import Rig

__all__ = [
    "DENIED",
    "Connect",
    "LeftOver",
    "LogReports",
    "access_denied",
    "aws_rig",
    "code_of",
    "until_allowed",
]

T = TypeVar("T")

#: What IAM answers before a change is in force.
DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
_NO_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def code_of(exc: ClientError) -> str:
    """The AWS error code of a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def access_denied() -> ClientError:
    """An ``AccessDenied`` error, as botocore raises it (for the examples and the tests)."""
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "Call")


def until_allowed(
    call: Callable[[], T],
    *,
    bound_s: float = 180.0,
    sleep: Callable[[float], None] = time.sleep,
    refused: Callable[[ClientError], bool] = lambda exc: code_of(exc) in DENIED,
) -> tuple[T, int]:
    """``call()``'s result and the attempts it took, retrying while IAM ``refused`` it (by
    default: access denied), for at most ``bound_s``.

    Raises:
        ClientError: another error, or still refused at the bound.
    """
    deadline, attempts, delay = time.monotonic() + bound_s, 0, 1.0
    while True:
        attempts += 1
        try:
            return call(), attempts
        except ClientError as exc:
            if not refused(exc) or time.monotonic() + delay > deadline:
                raise
        sleep(delay)
        delay = min(delay * 1.5, 10.0)


@attrs.frozen
class Connect:
    """Clients of one boto3 session in one region (and, for the tests here, one endpoint).

    Example:
        >>> import boto3
        >>> connect = Connect(boto3.Session(region_name="eu-west-1"), "eu-west-1")
        >>> connect("sqs").meta.region_name
        'eu-west-1'
    """

    session: Any = attrs.field(repr=False)
    region: str
    endpoint_url: str | None = None

    def __call__(self, service: str) -> Any:
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 8})
        return self.session.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
        )

    def assume(self, role_arn: str, session_name: str, *, bound_s: float = 180.0) -> Connect:
        """Clients on the role's credentials, renewed before they expire (a run may outlast
        an hour). The first ``AssumeRole`` is retried while the role's trust is not in force.
        """
        import boto3
        import botocore.session
        from botocore.credentials import RefreshableCredentials

        sts = self("sts")

        def fetch() -> dict[str, str]:
            got, _ = until_allowed(
                lambda: sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600
                ),
                bound_s=bound_s,
            )
            found = got["Credentials"]
            return {
                "access_key": found["AccessKeyId"],
                "secret_key": found["SecretAccessKey"],
                "token": found["SessionToken"],
                "expiry_time": found["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        core = botocore.session.Session()
        # boto3 has no public way to give a session credentials that renew themselves.
        core._credentials = credentials  # type: ignore[attr-defined]
        session = boto3.Session(botocore_session=core, region_name=self.region)
        return Connect(session, self.region, self.endpoint_url)


@attrs.frozen
class LogReports:
    """The worker's report lines (:func:`tests.e2e.jobs.report`), read from its log group.

    CloudWatch Logs shows a line seconds (at times a minute) after the worker wrote it: callers
    wait for what they need, bounded.
    """

    logs: Any = attrs.field(repr=False)
    log_group: str
    #: Lines written before this (ms since the epoch) are not read.
    since_ms: int

    def __call__(self, kind: str, job_id: str) -> list[dict[str, Any]]:
        pattern = f'{{ ($.relay_e2e = "{kind}") && ($.job_id = "{job_id}") }}'
        return [line for line in self.every(kind, pattern) if line.get("job_id") == job_id]

    def every(self, kind: str, pattern: str = "") -> list[dict[str, Any]]:
        """Every line of that kind (all jobs), found with the filter ``pattern`` (by default:
        of that kind) and checked again here: the pattern only spares the transfer."""
        found = self.lines(pattern or f'{{ $.relay_e2e = "{kind}" }}')
        return [line for line in found if line.get("relay_e2e") == kind]

    def lines(self, pattern: str) -> list[dict[str, Any]]:
        """The JSON objects among the lines that match a filter pattern, oldest first."""
        found: list[dict[str, Any]] = []
        pages = self.logs.get_paginator("filter_log_events").paginate(
            logGroupName=self.log_group, startTime=self.since_ms, filterPattern=pattern
        )
        try:
            for page in pages:
                for event in page.get("events", ()):
                    try:
                        line = json.loads(event["message"])
                    except ValueError:
                        continue  # START, END, REPORT, a traceback...
                    if isinstance(line, dict):
                        found.append(line)
        except ClientError as exc:
            if code_of(exc) == "ResourceNotFoundException":
                return []  # no invocation has written yet
            raise
        return found


@attrs.frozen
class LeftOver:
    """What is left of a job on AWS: its queue, its DLQ, and mappings that read them."""

    sqs: Any = attrs.field(repr=False)
    lambda_: Any = attrs.field(repr=False)
    function_name: str
    queue_prefix: str

    def __call__(self, job_id: str) -> list[str]:
        name = f"{self.queue_prefix}{job_id}"
        queues = (name, f"{name}{DLQ_SUFFIX}")
        found: list[str] = []
        for queue in queues:
            try:
                self.sqs.get_queue_url(QueueName=queue)
            except ClientError as exc:
                if code_of(exc) in _NO_QUEUE:
                    continue
                raise
            found.append(f"queue {queue}")
        pages = self.lambda_.get_paginator("list_event_source_mappings").paginate(
            FunctionName=self.function_name
        )
        for page in pages:
            for m in page.get("EventSourceMappings", ()):
                queue = m.get("EventSourceArn", "").rsplit(":", 1)[-1]
                if queue in queues:
                    found.append(f"mapping {m['UUID']} ({m.get('State')}) {queue}")
        return found


def aws_rig(
    *,
    starter: Connect,
    deployer: Connect,
    function_name: str,
    queue_prefix: str,
    ledger_table: str,
    since_ms: int,
    poll_s: float = 2.0,
    timeout_s: float = 600.0,
) -> Rig:
    """The rig on AWS: jobs started, signalled and paused with the starter role's credentials;
    reports and leftovers read with the deployer's."""
    kwargs: dict[str, Any] = {"region_name": starter.region}
    if starter.endpoint_url:
        kwargs["endpoint_url"] = starter.endpoint_url
    return Rig(
        backend=aws_backend(session=starter.session, **kwargs),
        function_name=function_name,
        queue_prefix=queue_prefix,
        ledger_table=ledger_table,
        reports=LogReports(deployer("logs"), log_group(function_name), since_ms),
        left_over=LeftOver(deployer("sqs"), deployer("lambda"), function_name, queue_prefix),
        pump=lambda: time.sleep(poll_s),
        timeout_s=timeout_s,
    )
