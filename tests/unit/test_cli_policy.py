"""relaystate iam-policy: least privilege, no wildcard action, no AWS call."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from relaystate.cli import cli
from relaystate.cli.policy import policies

ACCOUNT = "123456789012"


QUEUES = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:relay-*"


WORKER_ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:copy-rows-worker"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["iam-policy", *args])


def printed(*args: str) -> dict[str, Any]:
    result = invoke(
        "--function", "copy-rows-worker", "--region", "eu-west-1", "--account", ACCOUNT,
        "--json", *args,
    )  # fmt: skip
    assert 0 == result.exit_code, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc["Statement"]
    return found


def actions(doc: dict[str, Any]) -> set[str]:
    return {action for s in statements(doc) for action in s["Action"]}


def by_sid(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in statements(doc) if s["Sid"] == sid]
    return found


ALL_ROLES = ("--role", "starter", "--role", "worker", "--role", "operator")


@pytest.mark.parametrize("ledger", [(), ("--ledger-table", "relaystate-ledger")])
def test_no_policy_has_a_wildcard_action(ledger: tuple[str, ...]) -> None:
    docs = printed(*ALL_ROLES, *ledger)

    assert {"starter", "worker", "operator"} == set(docs)
    for doc in docs.values():
        for action in actions(doc):
            service, _, name = action.partition(":")
            assert service in {"sqs", "lambda", "dynamodb", "s3"}
            assert "*" not in action
            assert name


def test_by_default_the_starter_and_worker_policies_are_printed() -> None:
    assert {"starter", "worker"} == set(printed())


def test_sqs_actions_are_on_the_prefixed_queues_only() -> None:
    docs = printed(*ALL_ROLES)

    for role, doc in docs.items():
        for statement in statements(doc):
            if any(a.startswith("sqs:") for a in statement["Action"]):
                expected = "*" if statement["Action"] == ["sqs:ListQueues"] else QUEUES
                assert expected == statement["Resource"], (role, statement)
    assert ["sqs:ListQueues"] == by_sid(docs["operator"], "ListQueues")["Action"]


def test_a_custom_prefix_narrows_the_queue_resource() -> None:
    docs = printed("--prefix", "billing-")

    assert (
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:billing-*"
        == by_sid(docs["worker"], "RelayQueues")["Resource"]
    )


def test_s3_actions_are_on_the_offload_prefix_only() -> None:
    docs = printed(*ALL_ROLES, "--offload-bucket", "my-bucket", "--offload-prefix", "jobs/")

    for role, doc in docs.items():
        objects = by_sid(doc, "RelayObjects")
        listing = by_sid(doc, "ListRelayObjects")
        assert "arn:aws:s3:::my-bucket/jobs/*" == objects["Resource"], role
        assert ("arn:aws:s3:::my-bucket", {"StringLike": {"s3:prefix": ["jobs/*"]}}) == (
            listing["Resource"],
            listing["Condition"],
        )
    assert "s3:GetObject" not in by_sid(docs["starter"], "RelayObjects")["Action"]


def test_s3_actions_appear_only_with_an_offload_bucket() -> None:
    assert not any(
        a.startswith("s3:") for doc in printed(*ALL_ROLES).values() for a in actions(doc)
    )


def test_an_offload_bucket_that_s3_would_refuse_is_refused() -> None:
    result = invoke("--function", "w", "--offload-bucket", "Not_A_Bucket")

    assert 2 == result.exit_code
    assert "not an S3 bucket name" in result.output


def test_the_worker_may_not_create_queues_or_mappings() -> None:
    worker = printed()["worker"]

    assert {
        "sqs:DeleteMessage",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:ListQueueTags",
        "sqs:ListQueues",  # the teardown of a resumed job finds every queue of it
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
        "lambda:DeleteEventSourceMapping",
        "lambda:GetEventSourceMapping",
        "lambda:ListEventSourceMappings",
    } == actions(worker)


def test_function_actions_are_on_the_worker_function_only() -> None:
    statement = by_sid(printed()["starter"], "WorkerFunction")

    assert WORKER_ARN == statement["Resource"]
    assert ["lambda:GetFunctionConfiguration", "lambda:PutFunctionRecursionConfig"] == statement[
        "Action"
    ]


@pytest.mark.parametrize("role", ["starter", "worker"])
def test_mapping_actions_are_held_to_the_worker_function(role: str) -> None:
    doc = printed()[role]

    for statement in statements(doc):
        if statement["Action"] == ["lambda:ListEventSourceMappings"]:
            # Lambda supports no resource or condition for listing: "*" is all it takes.
            assert "*" == statement["Resource"]
        elif any("EventSourceMapping" in a for a in statement["Action"]):
            assert {"ArnLike": {"lambda:FunctionArn": [WORKER_ARN, f"{WORKER_ARN}:*"]}} == (
                statement["Condition"]
            )


def test_dynamodb_actions_appear_only_with_a_ledger_table_and_only_on_it() -> None:
    without = printed(*ALL_ROLES)
    with_ledger = printed(*ALL_ROLES, "--ledger-table", "relaystate-ledger")

    for doc in without.values():
        assert not any(a.startswith("dynamodb:") for a in actions(doc))
    for role in ("starter", "worker", "operator"):
        statement = by_sid(with_ledger[role], "RelayLedger")
        assert (
            f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/relaystate-ledger"
            == (statement["Resource"])
        )


def test_a_function_arn_gives_region_account_and_partition() -> None:
    arn = f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:w"

    docs = policies(arn)

    assert (
        f"arn:aws-cn:sqs:cn-north-1:{ACCOUNT}:relay-*"
        == by_sid(docs["worker"], "RelayQueues")["Resource"]
    )


def test_text_output_is_commented_json_per_role() -> None:
    result = invoke("--function", "w", "--region", "eu-west-1", "--account", ACCOUNT)

    assert 0 == result.exit_code, result.output
    blocks = [b for b in result.stdout.split("# ") if b]
    assert ["starter", "worker"] == [b.split(":", 1)[0] for b in blocks]
    for block in blocks:
        json.loads(block.split("\n", 1)[1])


def test_without_region_and_account_the_resources_match_any_and_a_note_says_so() -> None:
    result = invoke("--function", "w")

    assert 0 == result.exit_code, result.output
    assert "arn:aws:sqs:us-east-1:*:relay-*" in result.stdout  # the configured region
    assert "pass both to pin the policies" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--function", "bad name"], "is not a Lambda function name"),
        (["--function", "w", "--account", "12"], "is not a 12-digit account id"),
        (["--function", "w", "--ledger-table", "x"], "is not a DynamoDB table name"),
        (["--function", "w", "--prefix", "bad prefix"], "is not a queue-name prefix"),
        ([], "Missing option '--function'"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = invoke(*args)

    assert 2 == result.exit_code
    assert message in result.output
    assert "Traceback" not in result.output
