"""examples/sam: the template passes cfn-lint (offline) and carries the policies `relaystate
iam-policy` prints (its handlers run on a LocalLambda in the functional tier)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import cfnlint.api
import cfnlint.decode
import pytest

from relaystate.cli.policy import policies
from tests.sam_app import TEMPLATE, http_event


def test_cfn_lint_passes_including_informational_checks() -> None:
    config = cfnlint.api.ManualArgs(
        regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"]
    )

    matches = cfnlint.api.lint_file(TEMPLATE, config=config)

    assert [] == [str(m) for m in matches]


def plain(node: Any) -> Any:
    """The template's values with each ``{"Fn::Sub": text}`` replaced by its text."""
    if isinstance(node, dict):
        if list(node) == ["Fn::Sub"] and isinstance(node["Fn::Sub"], str):
            return str(node["Fn::Sub"])
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return str(node) if isinstance(node, str) else node


def in_the_stack(node: Any) -> Any:
    """``policies()`` for placeholder names, written as the template's !Sub strings."""
    if isinstance(node, dict):
        return {k: in_the_stack(v) for k, v in node.items()}
    if isinstance(node, list):
        return [in_the_stack(v) for v in node]
    for placeholder, sub in (
        ("arn:aws:", "arn:${AWS::Partition}:"),
        ("REGION", "${AWS::Region}"),
        ("ACCOUNT", "${AWS::AccountId}"),
        ("PREFIX", "${QueuePrefix}"),
        ("function:WORKER", "function:${AWS::StackName}-worker"),
        ("table/TABLE", "table/${LedgerTable}"),
    ):
        node = node.replace(placeholder, sub)
    return node


@pytest.mark.parametrize(
    ("role", "function"), [("starter", "StarterFunction"), ("worker", "WorkerFunction")]
)
def test_each_function_has_exactly_the_policy_iam_policy_prints(
    sam_template: dict[str, Any], role: str, function: str
) -> None:
    printed = policies(
        "WORKER", region="REGION", account="ACCOUNT", prefix="PREFIX", ledger_table="TABLE"
    )[role]

    (attached,) = sam_template["Resources"][function]["Properties"]["Policies"]

    assert in_the_stack(printed) == plain(attached)


def test_no_statement_of_the_template_has_a_wildcard_action(sam_template: dict[str, Any]) -> None:
    for resource in sam_template["Resources"].values():
        for policy in resource.get("Properties", {}).get("Policies", []):
            for statement in policy["Statement"]:
                assert all("*" not in action for action in statement["Action"])


def test_the_worker_allows_recursive_loops_and_has_no_trigger_of_its_own(
    sam_template: dict[str, Any],
) -> None:
    worker = sam_template["Resources"]["WorkerFunction"]["Properties"]

    assert "Allow" == worker["RecursiveLoop"]
    assert "Events" not in worker
    assert "app.worker_handler" == worker["Handler"]


def test_the_ledger_table_is_on_demand_with_pk_sk_and_ttl(sam_template: dict[str, Any]) -> None:
    table = sam_template["Resources"]["LedgerTable"]["Properties"]

    assert "PAY_PER_REQUEST" == table["BillingMode"]
    assert [("pk", "HASH"), ("sk", "RANGE")] == [
        (k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]
    ]
    assert [("pk", "S"), ("sk", "S")] == [
        (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
    ]
    assert {"AttributeName": "ttl", "Enabled": True} == dict(table["TimeToLiveSpecification"])


def test_the_starter_is_behind_an_iam_authorized_http_api(sam_template: dict[str, Any]) -> None:
    starter = sam_template["Resources"]["StarterFunction"]["Properties"]
    api = sam_template["Resources"]["StarterApi"]["Properties"]

    (event,) = starter["Events"].values()
    assert ("HttpApi", "/jobs", "POST") == (
        event["Type"],
        event["Properties"]["Path"],
        event["Properties"]["Method"],
    )
    assert "AWS_IAM" == api["Auth"]["DefaultAuthorizer"]


@pytest.mark.parametrize("body", ["not json", "[]", '{"to": 0}', '{"to": "many"}', ""])
def test_the_starter_refuses_a_bad_body_with_400(sam_app: ModuleType, body: str) -> None:
    response = sam_app.start_handler(http_event(body), None)

    assert 400 == response["statusCode"]
    assert "error" in json.loads(response["body"])
