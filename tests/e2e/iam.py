"""The e2e roles' IAM documents: exactly what ``relaystate iam-policy`` prints, and their trust.

The worker's execution role holds the printed worker policy and, in a policy of its own, the
logs actions of AWS's ``AWSLambdaBasicExecutionRole`` held to the function's log group; the
starter role holds the printed starter policy and nothing else. The tests start jobs on the
starter role and the worker runs them on its role, so what passes is what the printed policies
allow -- and :func:`iam_policy_command` is the command that prints them.

Example:
    >>> from tests.e2e.names import Names
    >>> iam_policy_command(Names("0a1b2c3d"), region="eu-west-1", account="123456789012")[:3]
    ['iam-policy', '--function', 'relay-e2e-0a1b2c3d-worker']
"""

from __future__ import annotations

from typing import Any

from relaystate.cli.policy import policies
from tests.e2e.names import Names, log_group

__all__ = [
    "LOGS_ACTIONS",
    "ROLE_POLICIES",
    "iam_policy_command",
    "logs_policy",
    "relay_policies",
    "trust",
]

#: What ``AWSLambdaBasicExecutionRole`` allows: a function writes its logs.
LOGS_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
#: The inline policies of each role, by name: (role, policy name) -> which document.
ROLE_POLICIES = {
    ("worker", "relaystate-worker"): "worker",
    ("worker", "lambda-logs"): "logs",
    ("starter", "relaystate-starter"): "starter",
}


def relay_policies(names: Names, *, region: str, account: str) -> dict[str, dict[str, Any]]:
    """The starter's and the worker's policies, as ``relaystate iam-policy`` makes them for the
    run's worker, queue prefix and ledger table."""
    docs = policies(
        names.worker,
        region=region,
        account=account,
        prefix=names.queue_prefix,
        ledger_table=names.table,
    )
    return {role: docs[role] for role in ("starter", "worker")}


def iam_policy_command(names: Names, *, region: str, account: str) -> list[str]:
    """The ``relaystate`` command line that prints :func:`relay_policies` (as JSON)."""
    return [
        "iam-policy",
        "--function",
        names.worker,
        "--region",
        region,
        "--account",
        account,
        "--prefix",
        names.queue_prefix,
        "--ledger-table",
        names.table,
        "--json",
    ]


def logs_policy(function_name: str, *, region: str, account: str) -> dict[str, Any]:
    """``AWSLambdaBasicExecutionRole``'s actions, on the function's own log group."""
    group = f"arn:aws:logs:{region}:{account}:log-group:{log_group(function_name)}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FunctionLogs",
                "Effect": "Allow",
                "Action": sorted(LOGS_ACTIONS),
                "Resource": [group, f"{group}:*"],
            }
        ],
    }


def trust(caller_arn: str, *, service: str | None = None) -> dict[str, Any]:
    """Who may assume a role: the caller running the tests and, for the worker, Lambda."""
    principal: dict[str, Any] = {"AWS": caller_arn}
    if service:
        principal["Service"] = service
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
