"""Deploy what the e2e tier runs on, once per session; every name begins with ``relay-e2e-``.

::

    table      relay-e2e-<run>            the progress ledger: on-demand, TTL on
    roles      relay-e2e-<run>-worker     the worker's execution role: the printed worker policy
                                          and the function's logs (see tests.e2e.iam)
               relay-e2e-<run>-starter    assumed by the tests to start jobs: the printed
                                          starter policy
    log group  /aws/lambda/relay-e2e-<run>-worker   made first, kept one day at most
    functions  relay-e2e-<run>-worker     python3.12, the zip of tests.e2e.bundle
               relay-e2e-<run>-other      the same code: a function the policies do not name

IAM takes a while to make a new role usable; AWS's advice is to retry, so ``CreateFunction``
is retried while Lambda says the role "cannot be assumed", and the deploy ends only when both
roles, assumed, are allowed what their policies grant (each wait bounded). What each step took
is returned for the run's report. Anything made here is deleted by the session's finalizer
(:mod:`tests.e2e.reap`), which runs even when this fails half-way.

Example:
    >>> worker_settings(Names("0a1b2c3d"), "arn:aws:iam::123456789012:role/r")["Handler"]
    'tests.e2e.jobs.handler'
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any

import attrs
from botocore.exceptions import ClientError

from relaystate.aws import DynamoDBLedger
from tests.e2e.account import Connect, code_of, until_allowed
from tests.e2e.bundle import HANDLER
from tests.e2e.iam import ROLE_POLICIES, logs_policy, relay_policies, trust
from tests.e2e.names import Names, log_group

__all__ = ["Deployment", "deploy", "worker_settings"]

#: The tag every resource of a run carries.
RUN_TAG = "relaystate-e2e-run"
#: The worker's timeout. The examples' tests use 1-second functions; a Lambda's first hop also
#: makes its clients, so the e2e worker gets 3 s, and the scenarios size the work to outlast it.
FUNCTION_TIMEOUT_S = 3
#: Memory of the functions: more memory is more CPU, and a shorter cold start.
MEMORY_MB = 512
#: Days Lambda's logs are kept (what the finalizer leaves when a test failed).
LOG_RETENTION_DAYS = 1


@attrs.frozen
class Deployment:
    """What :func:`deploy` made."""

    names: Names
    region: str
    account: str
    caller_arn: str
    worker_arn: str
    worker_role_arn: str
    starter_role_arn: str
    #: What each step took (seconds) and how many attempts, for the report.
    timings: dict[str, float] = attrs.field(factory=dict, eq=False)


def worker_settings(names: Names, role_arn: str) -> dict[str, Any]:
    """``CreateFunction``'s settings, but for the name and the code."""
    return {
        "Runtime": "python3.12",
        "Role": role_arn,
        "Handler": HANDLER,
        "Timeout": FUNCTION_TIMEOUT_S,
        "MemorySize": MEMORY_MB,
        "Architectures": ["x86_64"],
        # Plain text: each report line is then a log event of its own, JSON that
        # FilterLogEvents' patterns read.
        "LoggingConfig": {"LogFormat": "Text"},
        "Tags": {RUN_TAG: names.run_id},
        "Description": f"relaystate e2e worker, run {names.run_id}",
    }


def _cannot_be_assumed(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code_of(exc) == "InvalidParameterValueException" and "cannot be assumed" in message


def deploy(
    deployer: Connect,
    names: Names,
    code: bytes,
    *,
    bound_s: float = 180.0,
    clock: Callable[[], float] = time.monotonic,
) -> Deployment:
    """Make the run's table, roles, log group and functions, and wait until IAM lets them work.

    Args:
        deployer: clients on the user's credentials (they may create IAM roles).
        names: the run's names.
        code: the functions' zip (:func:`tests.e2e.bundle.build`).
        bound_s: the longest any one wait for IAM may take.

    Raises:
        ClientError: AWS refused a step (or IAM did not let the roles work within ``bound_s``).
    """
    timings: dict[str, float] = {}
    last = [clock()]

    def lap(name: str) -> None:
        now = clock()
        timings[f"{name}_s"] = round(now - last[0], 2)
        last[0] = now

    identity = deployer("sts").get_caller_identity()
    account, caller = identity["Account"], identity["Arn"]
    region = deployer.region
    DynamoDBLedger(names.table, client=deployer("dynamodb")).create_table()
    lap("table")

    iam = deployer("iam")
    documents = {
        **relay_policies(names, region=region, account=account),
        "logs": logs_policy(names.worker, region=region, account=account),
    }
    arns: dict[str, str] = {}
    for role, name, service in (
        ("worker", names.worker, "lambda.amazonaws.com"),
        ("starter", names.starter, None),
    ):
        made = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust(caller, service=service)),
            Description=f"relaystate e2e {role} role, run {names.run_id}",
            MaxSessionDuration=3600,
            Tags=[{"Key": RUN_TAG, "Value": names.run_id}],
        )
        arns[role] = made["Role"]["Arn"]
    for (role, policy), document in ROLE_POLICIES.items():
        iam.put_role_policy(
            RoleName=names.worker if role == "worker" else names.starter,
            PolicyName=policy,
            PolicyDocument=json.dumps(documents[document]),
        )
    lap("roles")

    logs = deployer("logs")
    try:
        logs.create_log_group(logGroupName=log_group(names.worker))
    except ClientError as exc:
        if code_of(exc) != "ResourceAlreadyExistsException":
            raise
    logs.put_retention_policy(
        logGroupName=log_group(names.worker), retentionInDays=LOG_RETENTION_DAYS
    )

    lambda_ = deployer("lambda")
    settings = worker_settings(names, arns["worker"])
    made, attempts = until_allowed(
        lambda: lambda_.create_function(
            FunctionName=names.worker, Code={"ZipFile": code}, **settings
        ),
        bound_s=bound_s,
        refused=_cannot_be_assumed,
    )
    worker_arn = made["FunctionArn"]
    timings["create_function_attempts"] = attempts
    lambda_.create_function(FunctionName=names.other, Code={"ZipFile": code}, **settings)
    waiter = lambda_.get_waiter("function_active_v2")
    for function in (names.worker, names.other):
        waiter.wait(FunctionName=function, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    lap("functions")

    _wait_for_roles(deployer, names, arns, bound_s)
    lap("iam_propagation")
    return Deployment(
        names=names,
        region=region,
        account=account,
        caller_arn=caller,
        worker_arn=worker_arn,
        worker_role_arn=arns["worker"],
        starter_role_arn=arns["starter"],
        timings=timings,
    )


def _wait_for_roles(deployer: Connect, names: Names, arns: dict[str, str], bound_s: float) -> None:
    """Assume each role and call, until allowed, what its policy grants: reading the ledger,
    and for the starter the worker's configuration, for the worker a relay queue."""
    sqs = deployer("sqs")
    probe = sqs.create_queue(QueueName=names.probe_queue)["QueueUrl"]
    key = {"pk": {"S": "job#relay-e2e-probe"}, "sk": {"S": "#job"}}
    try:
        for role in ("starter", "worker"):
            assumed = deployer.assume(arns[role], f"relay-e2e-{role}-probe", bound_s=bound_s)
            calls: list[Callable[[], object]] = [
                functools.partial(assumed("dynamodb").get_item, TableName=names.table, Key=key)
            ]
            if role == "starter":
                calls.append(
                    functools.partial(
                        assumed("lambda").get_function_configuration, FunctionName=names.worker
                    )
                )
            else:
                calls.append(
                    functools.partial(
                        assumed("sqs").get_queue_attributes, QueueUrl=probe, AttributeNames=["All"]
                    )
                )
            for call in calls:
                until_allowed(call, bound_s=bound_s)
    finally:
        sqs.delete_queue(QueueUrl=probe)
