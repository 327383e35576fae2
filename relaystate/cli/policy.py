"""``iam-policy``: least-privilege IAM policies for the roles that run relay jobs.

Only the actions relaystate calls, each on the narrowest resource IAM allows for it:

- queues: ``arn:aws:sqs:REGION:ACCOUNT:PREFIX*`` (every queue a job makes is named so);
- event-source mappings: ``CreateEventSourceMapping`` has no resource type (``*``), the others
  act on ``event-source-mapping:*``; all are held to the worker function by the
  ``lambda:FunctionArn`` condition;
- the worker function itself, for ``GetFunctionConfiguration`` and
  ``PutFunctionRecursionConfig``;
- the ledger table, when there is one;
- the offload bucket (``S3Offload``), when there is one: its objects under the prefix only,
  and listing held to that prefix by the ``s3:prefix`` condition.

Never a wildcard action (``sqs:*``); :func:`policies` is what the SAM example's template
repeats, and the tests check both.
"""

from __future__ import annotations

import re
from typing import Any

import click

from ..job import RelayJob
from .connect import json_option
from .output import guarded, print_json
from .params import prefix_option

__all__ = [
    "LEDGER_ACTIONS",
    "OPERATOR_SQS_ACTIONS",
    "STARTER_S3_ACTIONS",
    "STARTER_SQS_ACTIONS",
    "WORKER_S3_ACTIONS",
    "WORKER_SQS_ACTIONS",
    "iam_policy",
    "policies",
]

#: What the starter calls: ``start()`` looks the job's queue name up (a taken name is never
#: created over), creates, tags and describes queues and sends the first packets; a failed start
#: (and a fan-out's teardown) deletes them, each checked by its tags to be the job's. A job's
#: handle (``attach``) signals like a start, and ``pause()`` parks the queue's packets.
STARTER_SQS_ACTIONS = (
    "sqs:CreateQueue",
    "sqs:DeleteMessage",  # pause() parks the queue's packets in the ledger
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListQueueTags",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
    "sqs:SetQueueAttributes",  # the queues' TLS-only policy, once their ARNs are known
    "sqs:TagQueue",
)
#: What the worker calls: the mapping (with the worker's execution role) receives and deletes;
#: a hop relays (send), parks a failed packet in the DLQ (send), and tears down.
WORKER_SQS_ACTIONS = (
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:ListQueueTags",  # a teardown deletes only queues tagged as its job's
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
)
#: What the `relaystate` operating commands call besides the starter's actions: list and
#: read queues (ls, status), read and delete dead letters (resume --from-dlq).
OPERATOR_SQS_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:CreateQueue",
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListQueueTags",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
)
#: The progress ledger's item operations (its transactions need the per-item actions).
LEDGER_ACTIONS = (
    "dynamodb:BatchWriteItem",  # first and paused packets parked, and forgotten once sent
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",  # a start that is rolled back forgets its job
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
#: The offload's object actions, by role: a start writes the data (and deletes it when it is
#: rolled back, as a fan-out's teardown does); a hop reads, writes and, at teardown, deletes.
STARTER_S3_ACTIONS = ("s3:DeleteObject", "s3:PutObject")
WORKER_S3_ACTIONS = ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")
ROLES = ("starter", "worker", "operator")

_FUNCTION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"function:(?P<name>[A-Za-z0-9_-]{1,64})"
)
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _partition_of(region: str) -> str:
    """The ARN partition of a region: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _statement(sid: str, actions: tuple[str, ...], resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource, **extra}


def policies(
    function: str,
    *,
    region: str = "*",
    account: str = "*",
    prefix: str = RelayJob.queue_prefix,
    ledger_table: str | None = None,
    offload_bucket: str | None = None,
    offload_prefix: str = "relaystate/",
) -> dict[str, dict[str, Any]]:
    """The IAM policy documents of the starter, worker and operator roles, by role.

    Args:
        function: the worker Lambda's name (or its ARN, which then gives region and account).
        region, account: where the resources are; ``"*"`` matches any.
        prefix: the jobs' ``queue_prefix``.
        ledger_table: the progress ledger's DynamoDB table, if the jobs use one.
        offload_bucket, offload_prefix: the jobs' ``S3Offload`` bucket and prefix, if they
            offload.

    Example:
        >>> doc = policies("copy-rows-worker", region="eu-west-1", account="123456789012")
        >>> doc["worker"]["Statement"][0]["Resource"]
        'arn:aws:sqs:eu-west-1:123456789012:relay-*'

    Raises:
        click.BadParameter: a function name that Lambda would refuse.
    """
    arn = _FUNCTION_ARN.fullmatch(function)
    if arn:
        name, region, account = arn["name"], arn["region"], arn["account"]
        partition = arn["partition"]
    elif _FUNCTION_NAME.fullmatch(function):
        name, partition = function, _partition_of(region)
    else:
        raise click.BadParameter(
            f"{function!r} is not a Lambda function name (1-64 of A-Z a-z 0-9 - _) or an "
            "unqualified function ARN",
            param_hint="--function",
        )
    function_arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    queues = f"arn:{partition}:sqs:{region}:{account}:{prefix}*"
    mappings = f"arn:{partition}:lambda:{region}:{account}:event-source-mapping:*"
    # The mappings of this function only (an alias or version of it included).
    only_worker = {"ArnLike": {"lambda:FunctionArn": [function_arn, f"{function_arn}:*"]}}
    ledger = (
        [
            _statement(
                "RelayLedger",
                LEDGER_ACTIONS,
                f"arn:{partition}:dynamodb:{region}:{account}:table/{ledger_table}",
            )
        ]
        if ledger_table
        else []
    )
    offload_starter, offload_worker = _offload_statements(partition, offload_bucket, offload_prefix)
    # ListQueues and ListEventSourceMappings take no resource: "*" is all there is.
    list_queues = _statement("ListQueues", ("sqs:ListQueues",), "*")
    list_mappings = _statement("ListRelayMappings", ("lambda:ListEventSourceMappings",), "*")
    # A job is torn down by its starter (a failed start, a fan-out) or by its last hop.
    manage_mappings = _statement(
        "ManageRelayMappings",
        ("lambda:DeleteEventSourceMapping", "lambda:GetEventSourceMapping"),
        mappings,
        Condition=only_worker,
    )
    starter = [
        _statement("RelayQueues", STARTER_SQS_ACTIONS, queues),
        _statement(
            "CreateRelayMapping",
            ("lambda:CreateEventSourceMapping",),
            "*",
            Condition=only_worker,
        ),
        manage_mappings,
        # A fan-out's mapping is created disabled and enabled once its packets are all sent.
        _statement(
            "EnableRelayMapping",
            ("lambda:UpdateEventSourceMapping",),
            mappings,
            Condition=only_worker,
        ),
        # When the job's queue name is taken: is a mapping feeding it? (no resource type)
        list_mappings,
        # A resume looks for the job's live queue by its name prefix (no resource type).
        list_queues,
        _statement(
            "WorkerFunction",
            ("lambda:GetFunctionConfiguration", "lambda:PutFunctionRecursionConfig"),
            function_arn,
        ),
        *ledger,
        *offload_starter,
    ]
    worker = [
        _statement("RelayQueues", WORKER_SQS_ACTIONS, queues),
        manage_mappings,
        # The teardown of a resumed job finds every queue of it, and the mappings that feed
        # them (relaystate.job_queues).
        list_queues,
        list_mappings,
        *ledger,
        *offload_worker,
    ]
    operator = [
        # ListQueues is the one SQS action without resource-level permissions.
        list_queues,
        _statement("RelayQueues", OPERATOR_SQS_ACTIONS, queues),
        *(statement for statement in starter[1:] if statement is not list_queues),
    ]
    return {
        role: {"Version": "2012-10-17", "Statement": statements}
        for role, statements in (("starter", starter), ("worker", worker), ("operator", operator))
    }


def _offload_statements(
    partition: str, bucket: str | None, prefix: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The starter's and the worker's statements on the offload bucket (none without one).

    ``ListObjectsV2`` (a teardown lists what it deletes) is ``s3:ListBucket`` on the bucket,
    held to the prefix; ``DeleteObjects`` is ``s3:DeleteObject`` on each key.
    """
    if not bucket:
        return [], []
    listing = _statement(
        "ListRelayObjects",
        ("s3:ListBucket",),
        f"arn:{partition}:s3:::{bucket}",
        Condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    )
    objects = f"arn:{partition}:s3:::{bucket}/{prefix}*"
    return (
        [_statement("RelayObjects", STARTER_S3_ACTIONS, objects), listing],
        [_statement("RelayObjects", WORKER_S3_ACTIONS, objects), listing],
    )


_ABOUT = {
    "starter": "the role of whatever calls start() or resume()",
    "worker": "the worker Lambda's execution role (its mapping reads the queue with it)",
    "operator": "whoever runs `relaystate ls / status / reap / resume / cancel`",
}


@click.command("iam-policy")
@click.option("--function", "function", required=True, help="The worker Lambda's name or ARN.")
@click.option("--ledger-table", help="The progress ledger's DynamoDB table, if the jobs use one.")
@click.option("--offload-bucket", help="The jobs' S3Offload bucket, if they offload.")
@click.option(
    "--offload-prefix",
    default="relaystate/",
    show_default=True,
    help="The jobs' S3Offload prefix: the S3 actions are granted under it only.",
)
@prefix_option("The jobs' queue_prefix.")
@click.option("--region", help="The region  [default: the configured one, else any: *]")
@click.option("--account", help="The 12-digit AWS account id  [default: any: *]")
@click.option("--profile", help="The AWS profile whose region is the default (read offline).")
@click.option(
    "--role",
    "roles",
    type=click.Choice(ROLES),
    multiple=True,
    help="Print only these roles' policies (repeatable)  [default: starter and worker]",
)
@json_option
def iam_policy(
    function: str,
    ledger_table: str | None,
    offload_bucket: str | None,
    offload_prefix: str,
    prefix: str,
    region: str | None,
    account: str | None,
    profile: str | None,
    roles: tuple[str, ...],
    as_json: bool,
) -> None:
    """Print least-privilege IAM policies for the starter and the worker roles.

    Only the actions relaystate calls: SQS on arn:aws:sqs:REGION:ACCOUNT:PREFIX*, the
    event-source-mapping actions held to the worker by the lambda:FunctionArn condition,
    GetFunctionConfiguration and PutFunctionRecursionConfig on the worker function,
    DynamoDB item actions on the ledger table when --ledger-table is given, and S3 object
    actions under --offload-prefix of the bucket when --offload-bucket is given. No wildcard
    action. --role operator prints what the operating commands (ls, status, reap, resume,
    cancel) need. Makes no AWS call.

    \b
    Example:
      relaystate iam-policy --function copy-rows-worker --region eu-west-1 \\
          --account 123456789012 --ledger-table relaystate-ledger
    """
    if account is not None and not re.fullmatch(r"\d{12}", account):
        raise click.BadParameter(
            f"{account!r} is not a 12-digit account id", param_hint="--account"
        )
    if region is None and not _FUNCTION_ARN.fullmatch(function):
        region = _configured_region(profile)
    if ledger_table is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", ledger_table):
        raise click.BadParameter(
            f"{ledger_table!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)",
            param_hint="--ledger-table",
        )
    if offload_bucket is not None:
        from ..offload import S3Offload

        try:
            S3Offload(offload_bucket, prefix=offload_prefix)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--offload-bucket") from None
    docs = policies(
        function,
        region=region or "*",
        account=account or "*",
        prefix=prefix,
        ledger_table=ledger_table,
        offload_bucket=offload_bucket,
        offload_prefix=offload_prefix,
    )
    chosen = {role: docs[role] for role in (roles or ("starter", "worker"))}
    if as_json:
        print_json(chosen)
        return
    for role, doc in chosen.items():
        click.echo(f"# {role}: {_ABOUT[role]}")
        print_json(doc)
    if "*" in (region or "*", account or "*") and not _FUNCTION_ARN.fullmatch(function):
        click.echo(
            "# note: no --region/--account given: the resources match any of them; pass both to "
            "pin the policies to one account",
            err=True,
        )


def _configured_region(profile: str | None) -> str | None:
    """The profile's (or the environment's) region, read from the config files: no AWS call."""
    import boto3

    from ..aws import map_aws_errors

    with guarded(), map_aws_errors("boto3", "Session"):
        return boto3.Session(profile_name=profile).region_name
