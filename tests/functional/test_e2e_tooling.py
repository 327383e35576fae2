"""The e2e tier's tooling, proven on this machine: what can be checked without an AWS account is.

- the gate: when the tier is skipped, and the reason it shows;
- the worker's zip: it imports with nothing beside it but boto3, as on Lambda;
- the IAM documents: the deploy puts exactly what ``relaystate iam-policy`` prints on the roles
  (the deploy runs against moto's server);
- the reaper: on moto's server, and with ``botocore.stub.Stubber`` (which checks every request
  against AWS's service models): it touches nothing whose name is not under its prefix;
- the scenarios: the e2e tests themselves run on a LocalLambda rig (re-collected here).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from relaystate import JobState
from relaystate.cli import cli
from relaystate.local import IdleTimeoutError, LocalLambda
from tests.e2e import bundle, jobs, scenarios, settings
from tests.e2e.account import Connect, LeftOver, LogReports
from tests.e2e.deploy import Deployment, deploy
from tests.e2e.iam import ROLE_POLICIES, iam_policy_command, logs_policy, relay_policies
from tests.e2e.names import LOG_GROUP_PREFIX, Names
from tests.e2e.reap import Clients, Found, Reaper, main, parse_age
from tests.e2e.rig import Rig

# The e2e tests themselves, collected here again: they run on the LocalLambda rig below (and
# the examples' tests the e2e tier reuses, on its fixtures).
from tests.e2e.test_examples_on_aws import (  # noqa: F401
    copied,
    counted,
    test_approval_goes_on_without_the_signal_after_its_timeout,
    test_approval_keeps_a_signal_sent_before_the_wait,
    test_approval_waits_for_the_signal_and_goes_on_with_it,
    test_nightly_sleeps_between_exports_without_an_invocation_in_between,
    test_sum_shards_joins_every_result_and_tolerates_one_failure,
)
from tests.e2e.test_fan_out_ledger_on_aws import (  # noqa: F401
    ledgered,
    test_every_shard_has_its_exact_count,
    test_the_last_shard_tears_the_job_down,
)
from tests.e2e.test_job_control_on_aws import test_a_signal_wakes_the_waiting_job  # noqa: F401
from tests.functional.test_examples import (  # noqa: F401
    test_fan_out_counts_right,
    test_fan_out_finishes_every_shard,
    test_fan_out_teardown_leaves_no_queue_or_mapping,
    test_sql_pages_copies_every_row_once,
    test_sql_pages_does_one_unit_per_page,
    test_sql_pages_leaves_no_queue_or_mapping,
    test_sql_pages_relays_when_the_work_outlasts_a_hop,
)

REGION = {settings.REGION_VARIABLE: "eu-west-1"}
KEYS = {"AWS_ACCESS_KEY_ID": "AKIAE2ETOOLINGEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}


# -- the gate --------------------------------------------------------------------------------


def test_without_a_region_the_tier_is_skipped_saying_what_to_set() -> None:
    reason = settings.gate({}, KEYS)
    assert isinstance(reason, str)
    assert settings.REGION_VARIABLE in reason
    assert settings.PROFILE_VARIABLE in reason
    assert "AWS_ACCESS_KEY_ID" in reason


def test_a_region_without_credentials_is_skipped_saying_what_to_set() -> None:
    reason = settings.gate(REGION, {})
    assert isinstance(reason, str)
    assert "no credentials" in reason
    assert settings.PROFILE_VARIABLE in reason


def test_the_suites_fake_credentials_never_open_the_gate() -> None:
    fakes = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    reason = settings.gate(REGION, fakes)
    assert isinstance(reason, str)
    assert "fakes" in reason


def test_remembered_keys_open_the_gate_in_a_session_and_not_in_the_environment() -> None:
    found = settings.gate(REGION, KEYS)
    assert isinstance(found, settings.Settings)
    assert "eu-west-1" == found.region
    credentials = found.session.get_credentials()
    assert credentials is not None
    assert KEYS["AWS_ACCESS_KEY_ID"] == credentials.access_key
    assert "testing" == os.environ["AWS_ACCESS_KEY_ID"]  # the suite's fakes stay in place
    assert KEYS["AWS_ACCESS_KEY_ID"] not in repr(found)


def test_a_profile_of_the_users_own_config_opens_the_gate(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile sandbox]\naws_access_key_id = AKIAPROFILEEXAMPLE\naws_secret_access_key = s\n"
    )
    environ = {**REGION, settings.PROFILE_VARIABLE: "sandbox"}
    found = settings.gate(environ, {**KEYS, "AWS_CONFIG_FILE": str(config)})
    assert isinstance(found, settings.Settings)
    assert "profile sandbox" == found.source
    credentials = found.session.get_credentials()
    assert credentials is not None
    assert "AKIAPROFILEEXAMPLE" == credentials.access_key


def test_an_unknown_profile_is_skipped_with_why(tmp_path: Path) -> None:
    environ = {**REGION, settings.PROFILE_VARIABLE: "nowhere"}
    reason = settings.gate(environ, {"AWS_CONFIG_FILE": str(tmp_path / "none")})
    assert isinstance(reason, str)
    assert "nowhere" in reason


def test_remember_keeps_the_values_it_saw_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "_remembered", None)
    settings.remember({"AWS_ACCESS_KEY_ID": "real", "HOME": "/root"})
    settings.remember({"AWS_ACCESS_KEY_ID": "testing"})  # the fakes, later
    assert {"AWS_ACCESS_KEY_ID": "real"} == settings.remembered()


def test_the_e2e_folder_is_marked_and_skipped_with_the_reason_shown() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELAYSTATE_E2E")}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/test_queue_counts.py", "-m", "e2e", "-ra"],
        cwd=bundle.REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert 0 == ran.returncode, ran.stdout + ran.stderr
    assert "1 skipped" in ran.stdout
    assert f"e2e tier (real AWS, opt-in): set {settings.REGION_VARIABLE}=<region>" in ran.stdout


# -- the worker's zip ------------------------------------------------------------------------


def _runtime_boto3(into: Path) -> Path:
    """A folder holding boto3 and what it needs, and nothing else: the Lambda runtime's."""
    into.mkdir()
    for dist in bundle.dependencies(["boto3"]):
        for top in {Path(f).parts[0] for f in dist.files or () if not str(f).startswith("..")}:
            source = Path(str(dist.locate_file(top)))
            if not (into / top).exists() and ".dist-info" not in top:
                (into / top).symlink_to(source)
    return into


def test_the_worker_zip_imports_with_only_boto3_beside_it(tmp_path: Path) -> None:
    code = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(bundle.build())).extractall(code)
    runtime = _runtime_boto3(tmp_path / "runtime")
    probe = f"""
import json, sys
sys.path[:0] = [{str(code)!r}, {str(runtime)!r}]
import attrs, relaystate, transitions, examples.sql_pages, tests.e2e.jobs as jobs
try:
    import pytest
    isolated = False
except ImportError:
    isolated = True
print(json.dumps({{
    "files": [m.__file__ for m in (attrs, relaystate, transitions, examples.sql_pages, jobs)],
    "version": relaystate.__version__,
    "isolated": isolated,
    "handler": callable(jobs.handler),
    "answer": jobs.handler({{"Records": []}}, None),
}}))
"""
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert 0 == ran.returncode, ran.stderr
    found = json.loads(ran.stdout.splitlines()[-1])
    assert all(file.startswith(str(code)) for file in found["files"]), found["files"]
    assert importlib.metadata.version("relaystate") == found["version"]
    assert found["isolated"]
    assert found["handler"]
    assert {"batchItemFailures": []} == found["answer"]


def test_the_worker_zip_is_the_same_bytes_every_time_and_holds_no_bytecode() -> None:
    built = bundle.build()
    names = zipfile.ZipFile(io.BytesIO(built)).namelist()
    assert built == bundle.build()
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    assert {"tests/e2e/jobs.py", "examples/fan_out.py", "six.py"} <= set(names)
    assert not [n for n in names if n.startswith(("boto3/", "botocore/", "tests/test_"))]


# -- the IAM documents -----------------------------------------------------------------------


def test_the_deploys_policies_are_what_iam_policy_prints() -> None:
    names = Names("0a1b2c3d")
    printed = CliRunner().invoke(
        cli, iam_policy_command(names, region="eu-west-1", account="123456789012")
    )
    assert 0 == printed.exit_code, printed.output
    assert json.loads(printed.stdout) == relay_policies(
        names, region="eu-west-1", account="123456789012"
    )


@pytest.fixture(scope="module")
def moto(sqs_endpoint: str, boto_session: Any) -> Connect:
    """Clients of moto's server (every service on one endpoint), fake credentials."""
    return Connect(boto_session, "us-east-1", sqs_endpoint)


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tests/e2e/jobs.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@contextlib.contextmanager
def _deployed(moto: Connect) -> Iterator[tuple[Names, Deployment]]:
    names = Names()
    made = deploy(moto, names, _tiny_zip(), bound_s=10)
    try:
        yield names, made
    finally:
        Reaper(Clients.made_by(moto), prefix=names.prefix, echo=lambda _: None).reap()


@pytest.fixture(scope="module")
def deployed(moto: Connect) -> Iterator[tuple[Names, Deployment]]:
    """A run deployed on moto's server, for the tests that only read it."""
    with _deployed(moto) as found:
        yield found


def test_the_deploy_puts_exactly_the_printed_policies_on_the_roles(
    moto: Connect, deployed: tuple[Names, Deployment]
) -> None:
    names, made = deployed
    iam = moto("iam")
    expected = {
        **relay_policies(names, region="us-east-1", account=made.account),
        "logs": logs_policy(names.worker, region="us-east-1", account=made.account),
    }
    for (role, policy), document in ROLE_POLICIES.items():
        role_name = names.worker if role == "worker" else names.starter
        got = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        assert expected[document] == got
    for role_name, policies in ((names.worker, 2), (names.starter, 1)):
        assert policies == len(iam.list_role_policies(RoleName=role_name)["PolicyNames"])
        assert [] == iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]


def test_the_deploy_makes_the_worker_lambda_runs_and_the_ledger(
    moto: Connect, deployed: tuple[Names, Deployment]
) -> None:
    names, made = deployed
    config = moto("lambda").get_function_configuration(FunctionName=names.worker)
    assert ("python3.12", bundle.HANDLER, made.worker_role_arn) == (
        config["Runtime"],
        config["Handler"],
        config["Role"],
    )
    ttl = moto("dynamodb").describe_time_to_live(TableName=names.table)
    assert "ENABLED" == ttl["TimeToLiveDescription"]["TimeToLiveStatus"]
    assert 1 == made.timings["create_function_attempts"]


def test_the_worker_reports_are_read_from_its_log_group(moto: Connect) -> None:
    logs, group = moto("logs"), f"{LOG_GROUP_PREFIX}{Names().worker}"
    assert [] == LogReports(logs, group, 0)("hop", "a")  # no group yet: nothing written
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    written = [
        {"relay_e2e": "hop", "job_id": "a", "shard": 0},
        {"relay_e2e": "result", "job_id": "a", "shard": 0},
        {"relay_e2e": "hop", "job_id": "b", "shard": 1},
    ]
    messages = [json.dumps(w) + "\n" for w in written] + ["START RequestId: 1\n", "[1, 2]\n"]
    events = [{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    reports = LogReports(logs, group, now)
    assert [written[0]] == reports("hop", "a")
    assert [written[0], written[2]] == reports.every("hop")
    logs.delete_log_group(logGroupName=group)


def test_what_is_left_of_a_job_is_its_queues_and_their_mapping(
    moto: Connect, deployed: tuple[Names, Deployment]
) -> None:
    names, _ = deployed
    sqs, lambda_ = moto("sqs"), moto("lambda")
    left = LeftOver(sqs, lambda_, names.worker, names.queue_prefix)
    assert [] == left("job1")
    queue = f"{names.queue_prefix}job1"
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in (queue, f"{queue}-dlq")]
    arn = sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["QueueArn"])
    mapping = lambda_.create_event_source_mapping(
        FunctionName=names.worker, EventSourceArn=arn["Attributes"]["QueueArn"], Enabled=False
    )
    mapped = f"mapping {mapping['UUID']} ({mapping['State']}) {queue}"
    assert [f"queue {queue}", f"queue {queue}-dlq", mapped] == left("job1")
    lambda_.delete_event_source_mapping(UUID=mapping["UUID"])
    for url in urls:
        sqs.delete_queue(QueueUrl=url)
    assert [] == left("job1")


# -- the reaper ------------------------------------------------------------------------------


def test_the_reaper_on_moto_deletes_the_runs_resources_and_nothing_else(moto: Connect) -> None:
    with _deployed(moto) as (names, _):
        _reap_beside_others(moto, names)


def _reap_beside_others(moto: Connect, names: Names) -> None:
    sqs, ddb, logs = moto("sqs"), moto("dynamodb"), moto("logs")
    job_queue = sqs.create_queue(QueueName=f"{names.queue_prefix}job")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=job_queue, AttributeNames=["QueueArn"])
    moto("lambda").create_event_source_mapping(
        FunctionName=names.worker, EventSourceArn=arn["Attributes"]["QueueArn"], Enabled=False
    )
    # Not the run's: a job's queue (relaystate's own prefix), another run's, look-alikes.
    other = f"relay-{names.run_id}"
    others = [other, f"relay-e2e-{names.run_id[::-1]}-job", f"x{names.prefix}"]
    kept = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in others]
    ddb.create_table(
        TableName=other,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    logs.create_log_group(logGroupName=f"{LOG_GROUP_PREFIX}{other}")

    Reaper(Clients.made_by(moto), prefix=names.prefix, echo=lambda _: None).reap()

    queues = sqs.list_queues().get("QueueUrls", [])
    assert [] == [q for q in queues if q.rsplit("/", 1)[-1].startswith(names.prefix)]
    assert set(kept) <= set(queues)
    assert other in ddb.list_tables()["TableNames"]
    assert names.table not in ddb.list_tables()["TableNames"]
    functions = [f["FunctionName"] for f in moto("lambda").list_functions()["Functions"]]
    assert [] == [f for f in functions if f.startswith(names.prefix)]
    roles = [r["RoleName"] for r in moto("iam").list_roles()["Roles"]]
    assert [] == [r for r in roles if r.startswith(names.prefix)]
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert f"{LOG_GROUP_PREFIX}{other}" in groups
    assert f"{LOG_GROUP_PREFIX}{names.worker}" not in groups
    for url in kept:
        sqs.delete_queue(QueueUrl=url)
    ddb.delete_table(TableName=other)
    logs.delete_log_group(logGroupName=f"{LOG_GROUP_PREFIX}{other}")


RUN = "relay-e2e-0a1b2c3d"
OLD = datetime(2026, 1, 1, tzinfo=UTC)
OURS, THEIRS, LOOKALIKE = (f"{n}0000000-0000-4000-8000-000000000000" for n in (1, 2, 3))


@pytest.fixture
def stubbed(boto_session: Any) -> Iterator[tuple[Clients, dict[str, Stubber], list[str]]]:
    """Stubbed clients (no endpoint is reached), and the order their operations were called in."""
    order: list[str] = []
    made: dict[str, Any] = {}
    for field, service in (
        ("lambda_", "lambda"),
        ("sqs", "sqs"),
        ("dynamodb", "dynamodb"),
        ("iam", "iam"),
        ("logs", "logs"),
    ):
        client = boto_session.client(service, region_name="eu-west-1")
        client.meta.events.register(
            "before-parameter-build", lambda model, **_: order.append(model.name)
        )
        made[field] = client
    stubbers = {field: Stubber(client) for field, client in made.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield Clients(**made), stubbers, order
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def _listings(stubbers: dict[str, Stubber], *, created: datetime = OLD) -> None:
    """Every listing answers with the run's resources and others whose names are not under
    its prefix (some of which the services' own prefix filters would not even return)."""
    sqs_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/"
    lambda_arn = "arn:aws:lambda:eu-west-1:123456789012:function:"
    sqs_arn = "arn:aws:sqs:eu-west-1:123456789012:"
    stubbers["lambda_"].add_response(
        "list_event_source_mappings",
        {
            "EventSourceMappings": [
                {
                    "UUID": OURS,
                    "EventSourceArn": f"{sqs_arn}{RUN}-job",
                    "FunctionArn": f"{lambda_arn}{RUN}-worker",
                    "LastModified": created,
                },
                {
                    "UUID": THEIRS,
                    "EventSourceArn": f"{sqs_arn}relay-1f2e",
                    "FunctionArn": f"{lambda_arn}copy-rows-worker",
                    "LastModified": created,
                },
                {
                    "UUID": LOOKALIKE,
                    "EventSourceArn": f"{sqs_arn}x{RUN}-job",
                    "FunctionArn": f"{lambda_arn}x{RUN}-worker:live",
                    "LastModified": created,
                },
            ]
        },
        {},
    )
    modified = created.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    stubbers["lambda_"].add_response(
        "list_functions",
        {
            "Functions": [
                {"FunctionName": f"{RUN}-worker", "LastModified": modified},
                {"FunctionName": "copy-rows-worker", "LastModified": modified},
                {"FunctionName": "relay-e2e", "LastModified": modified},
            ]
        },
        {},
    )
    stubbers["sqs"].add_response(
        "list_queues",
        {"QueueUrls": [f"{sqs_url}{RUN}-job", f"{sqs_url}relay-1f2e"]},
        {"QueueNamePrefix": RUN, "MaxResults": 1000},
    )
    stubbers["dynamodb"].add_response(
        "list_tables", {"TableNames": [RUN, "orders", f"{RUN[:-1]}"]}, {}
    )
    role = {"Path": "/", "RoleId": "AROAEXAMPLEEXAMPLE01", "CreateDate": created}
    stubbers["iam"].add_response(
        "list_roles",
        {
            "Roles": [
                {**role, "RoleName": f"{RUN}-worker", "Arn": f"arn:aws:iam::1:role/{RUN}-worker"},
                {**role, "RoleName": "Admin", "Arn": "arn:aws:iam::1:role/Admin"},
            ],
            "IsTruncated": False,
        },
        {},
    )
    stubbers["logs"].add_response(
        "describe_log_groups",
        {
            "logGroups": [
                {"logGroupName": f"/aws/lambda/{RUN}-worker", "creationTime": 1},
                {"logGroupName": "/aws/lambda/copy-rows-worker", "creationTime": 1},
            ]
        },
        {"logGroupNamePrefix": f"/aws/lambda/{RUN}"},
    )


def test_the_reaper_deletes_only_names_under_its_prefix_mappings_first(
    stubbed: tuple[Clients, dict[str, Stubber], list[str]],
) -> None:
    clients, stubbers, order = stubbed
    _listings(stubbers)
    # Only these deletions are answered: a call for anything else fails the test.
    lam, iam = stubbers["lambda_"], stubbers["iam"]
    lam.add_response("delete_event_source_mapping", {"UUID": OURS}, {"UUID": OURS})
    lam.add_client_error(
        "get_event_source_mapping", "ResourceNotFoundException", expected_params={"UUID": OURS}
    )
    lam.add_response("delete_function", {}, {"FunctionName": f"{RUN}-worker"})
    url = f"https://sqs.eu-west-1.amazonaws.com/123456789012/{RUN}-job"
    stubbers["sqs"].add_response("delete_queue", {}, {"QueueUrl": url})
    stubbers["dynamodb"].add_response("delete_table", {}, {"TableName": RUN})
    worker = {"RoleName": f"{RUN}-worker"}
    iam.add_response("list_role_policies", {"PolicyNames": ["relaystate-worker"]}, worker)
    iam.add_response("delete_role_policy", {}, {**worker, "PolicyName": "relaystate-worker"})
    policy = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    attached = [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": policy}]
    iam.add_response("list_attached_role_policies", {"AttachedPolicies": attached}, worker)
    iam.add_response("detach_role_policy", {}, {**worker, "PolicyArn": policy})
    iam.add_response("delete_role", {}, worker)
    stubbers["logs"].add_response(
        "delete_log_group", {}, {"logGroupName": f"/aws/lambda/{RUN}-worker"}
    )

    done = Reaper(clients, prefix=RUN, echo=lambda _: None).reap()

    assert () == done.failed
    assert [
        f"mapping {OURS}",
        f"function {RUN}-worker",
        f"queue {RUN}-job",
        f"table {RUN}",
        f"role {RUN}-worker",
        f"log group /aws/lambda/{RUN}-worker",
    ] == [f"{f.kind} {f.name}" for f in done.deleted]
    deletes = order[6:]  # after the six listings
    assert ["DeleteEventSourceMapping", "GetEventSourceMapping", "DeleteFunction"] == deletes[:3]


def test_the_reaper_waits_for_a_deleting_mapping_before_the_queue_goes(
    stubbed: tuple[Clients, dict[str, Stubber], list[str]],
) -> None:
    clients, stubbers, order = stubbed
    lam = stubbers["lambda_"]
    lam.add_response("delete_event_source_mapping", {"UUID": OURS}, {"UUID": OURS})
    lam.add_response("get_event_source_mapping", {"UUID": OURS, "State": "Deleting"}, None)
    lam.add_client_error("get_event_source_mapping", "ResourceNotFoundException")
    url = f"https://sqs.eu-west-1.amazonaws.com/123456789012/{RUN}-job"
    stubbers["sqs"].add_response("delete_queue", {}, {"QueueUrl": url})
    slept: list[float] = []
    reaper = Reaper(clients, prefix=RUN, sleep=slept.append, echo=lambda _: None)

    done = reaper.reap(
        [Found("queue", f"{RUN}-job", detail=url), Found("mapping", OURS, detail=f"{RUN}-job")]
    )

    assert () == done.failed
    assert [1.0] == slept
    expected = ["DeleteEventSourceMapping", "GetEventSourceMapping", "GetEventSourceMapping"]
    assert [*expected, "DeleteQueue"] == order


def test_a_dry_run_deletes_nothing(
    stubbed: tuple[Clients, dict[str, Stubber], list[str]],
) -> None:
    clients, stubbers, order = stubbed
    _listings(stubbers)
    said: list[str] = []
    done = Reaper(clients, prefix=RUN, echo=said.append).reap(dry_run=True)
    assert 6 == len(done.deleted)
    assert all(line.startswith("would delete") for line in said)
    assert not [name for name in order if name.startswith(("Delete", "Detach"))]


def test_older_than_spares_what_is_younger(
    stubbed: tuple[Clients, dict[str, Stubber], list[str]],
) -> None:
    clients, stubbers, _ = stubbed
    now = OLD + timedelta(minutes=30)
    _listings(stubbers, created=OLD)
    stubbers["sqs"].add_response(
        "get_queue_attributes",
        {"Attributes": {"CreatedTimestamp": str(int(now.timestamp()))}},
        None,
    )
    stubbers["dynamodb"].add_response(
        "describe_table", {"Table": {"TableName": RUN, "CreationDateTime": OLD}}, {"TableName": RUN}
    )
    reaper = Reaper(clients, prefix=RUN, older_than_s=parse_age("20m"), now=lambda: now)
    found = {f.kind for f in reaper.find()}
    # The queue was made just now; the rest half an hour ago (the log group in 1970).
    assert {"mapping", "function", "table", "role", "log group"} == found


def test_the_reap_command_lists_what_it_would_delete(
    stubbed: tuple[Clients, dict[str, Stubber], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clients, stubbers, _ = stubbed
    _listings(stubbers)
    monkeypatch.setattr(Clients, "of", classmethod(lambda cls, session, **_: clients))
    assert 0 == main(["--region", "eu-west-1", "--prefix", RUN, "--dry-run"])
    said = capsys.readouterr().out.splitlines()
    assert 6 == len(said)
    assert f"would delete mapping {OURS} ({RUN}-job -> {RUN}-worker), 2026-01-01 00:00 UTC" in said


@pytest.mark.parametrize("prefix", ["relay-", "relay-e2e", "", "relay-e2e-*", "x-relay-e2e-1"])
def test_the_reaper_refuses_a_prefix_outside_the_e2e_tiers(prefix: str) -> None:
    with pytest.raises(ValueError, match="only names under 'relay-e2e-'"):
        Reaper(None, prefix=prefix)
    with pytest.raises(SystemExit):
        main(["--region", "eu-west-1", "--prefix", prefix, "--dry-run"])


# -- the scenarios, on LocalLambda -----------------------------------------------------------


@pytest.fixture(scope="module")
def rig(sqs_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """The e2e rig on a LocalLambda (3-second functions, as deployed): the worker module served
    as the e2e worker, its report lines kept in memory, its scratch files in a folder of ours."""
    lines: list[dict[str, Any]] = []
    emit, jobs.emit = jobs.emit, lambda line: lines.append(json.loads(line))
    scratch, tempfile.tempdir = tempfile.tempdir, str(tmp_path_factory.mktemp("e2e-scratch"))
    names = Names()
    with LocalLambda(timeout_s=3.0, concurrency=4, endpoint_url=sqs_endpoint) as lam:
        lam.deploy(names.worker, jobs.handler)
        lam.ledger(names.table)

        def pump() -> None:
            # Busy past half a second (a sleep, a timer): return, and let the wait look again.
            with contextlib.suppress(IdleTimeoutError):
                lam.run_until_idle(timeout_s=0.5)
            time.sleep(0.05)

        yield Rig(
            backend=lam.backend,
            function_name=names.worker,
            queue_prefix=names.queue_prefix,
            ledger_table=names.table,
            reports=lambda kind, job_id: [
                line for line in lines if (line["relay_e2e"], line["job_id"]) == (kind, job_id)
            ],
            left_over=lambda job_id: [line for line in lam.left_over() if job_id in line],
            pump=pump,
            timeout_s=120,
        )
    jobs.emit, tempfile.tempdir = emit, scratch


def test_the_pause_scenario_holds_a_sleeping_job_on_local_lambda(rig: Rig) -> None:
    # On AWS the night is a minute (tests/e2e/test_job_control_on_aws.py); here two seconds.
    paused = scenarios.pause_nightly(rig, night_s=2.0, hold_s=1.0)
    assert JobState.PAUSED == paused.paused_state
    assert paused.units_while_paused[0] == paused.units_while_paused[1]
    (_, first), (_, second) = paused.exports
    assert second - first >= 3.0
    assert JobState.TORN_DOWN == paused.state
    assert [] == paused.left_over
