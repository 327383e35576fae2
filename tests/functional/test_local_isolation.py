"""While a LocalLambda is open, the handler one deploys runs as it is; nothing leaves the machine.

README's worker module (``tests/readme_worker.py``), deployed by name, makes its own clients
and leaves relaystate to make the relay's: all of them reach the local endpoint, with fake
credentials; a client pointed at AWS is refused; the environment is given back on close.

Functional tier: moto's server on 127.0.0.1.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import attrs
import boto3
import pytest

import relaystate.aws
from relaystate.aws import default_backend
from relaystate.local import IdleTimeoutError, LocalLambda
from relaystate.local.errors import OffMachineRequestError
from relaystate.local.isolation import is_loopback
from tests import readme_worker

#: 12 units of 10 rows, about 0.1 s each: several hops of a 2-second function. A 1-second one
#: left too little for the first hop's cold clients on a loaded machine (a CI run saw it killed).
ROWS = 120


@attrs.frozen
class WorkerRun:
    """What running README's worker, deployed by name, came to."""

    endpoint: str
    outcomes: list[str]
    copied: int
    left_over: list[str]
    hosts: dict[str, int]
    started: dict[str, Any]


@pytest.fixture(scope="module")
def worker_run() -> WorkerRun:
    """README's starter and worker, run as deployed: no backend, no endpoint given anywhere."""
    with LocalLambda(timeout_s=2.0) as lam:
        s3 = boto3.client("s3")  # made as the test's own code would: it reaches lam too
        s3.create_bucket(Bucket="readme-rows")
        for i in range(ROWS):
            s3.put_object(Bucket="readme-rows", Key=f"rows/{i}", Body=str(i).encode())
        lam.deploy("copy-rows-worker", readme_worker.handler)

        started = readme_worker.start_handler({"bucket": "readme-rows", "rows": ROWS}, None)
        lam.run_until_idle(timeout_s=60)

        copies = s3.list_objects_v2(Bucket="readme-rows", Prefix="copy/").get("Contents", [])
        return WorkerRun(
            endpoint=lam.endpoint_url,
            outcomes=[i.outcome for i in lam.invocations],
            copied=len(copies),
            left_over=lam.left_over(),
            hosts=dict(lam.hosts_contacted),
            started=started,
        )


def test_readme_worker_deployed_by_name_runs_a_multi_hop_job_to_the_end(
    worker_run: WorkerRun,
) -> None:
    assert "queued" == worker_run.started["state"]
    assert len(worker_run.outcomes) >= 2
    assert ["ok"] * len(worker_run.outcomes) == worker_run.outcomes
    assert ROWS == worker_run.copied


def test_readme_worker_leaves_nothing(worker_run: WorkerRun) -> None:
    assert [] == worker_run.left_over


def test_no_request_left_loopback_while_the_worker_ran(worker_run: WorkerRun) -> None:
    # Every request botocore sent in this process, the handler's own clients' included.
    assert [urlsplit(worker_run.endpoint).netloc] == list(worker_run.hosts)
    assert worker_run.hosts[urlsplit(worker_run.endpoint).netloc] > 3 * ROWS


def test_a_client_given_an_aws_endpoint_is_refused_with_what_to_do() -> None:
    with LocalLambda() as lam:
        sqs = boto3.client("sqs", endpoint_url="https://sqs.eu-west-1.amazonaws.com")

        with pytest.raises(OffMachineRequestError) as refused:
            sqs.list_queues()

        message = str(refused.value)
        assert "refused POST https://sqs.eu-west-1.amazonaws.com/" in message
        assert "leave this machine" in message
        assert "endpoint_url=lam.endpoint_url" in message
        assert 1 == lam.hosts_contacted["sqs.eu-west-1.amazonaws.com"]


def test_a_client_made_before_the_local_lambda_opened_is_refused() -> None:
    made_before = boto3.client("dynamodb", region_name="us-east-1")  # AWS's regional endpoint

    with LocalLambda(), pytest.raises(OffMachineRequestError, match=r"dynamodb\.us-east-1"):
        made_before.list_tables()


def test_a_handler_whose_client_points_at_aws_fails_its_invocation() -> None:
    aws_sqs = boto3.client("sqs", endpoint_url="https://sqs.us-east-1.amazonaws.com")

    def handler(event: dict[str, Any], context: Any) -> None:
        aws_sqs.list_queues()

    with LocalLambda(timeout_s=1.0, retry_delay_s=0) as lam:
        lam.deploy("reaches-out", handler)
        url = lam.sqs.create_queue(QueueName="reaches-out")["QueueUrl"]
        arn = lam.backend.queues.describe(url)["QueueArn"]  # type: ignore[index]
        lam.mappings.create("reaches-out", arn, batch_size=1, max_concurrency=None)
        lam.sqs.send_message(QueueUrl=url, MessageBody="go")
        with pytest.raises(IdleTimeoutError):
            lam.run_until_idle(timeout_s=1.0)

        assert "error" == lam.invocations[0].outcome
        assert "OffMachineRequestError: LocalLambda refused" in lam.invocations[0].error
        lam.sqs.delete_queue(QueueUrl=url)


def test_a_request_to_loopback_through_a_proxy_elsewhere_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.1.2.3:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    with LocalLambda(), pytest.raises(OffMachineRequestError) as refused:
        boto3.client("sqs").list_queues()

    assert "through the proxy 10.1.2.3" in str(refused.value)


def test_real_looking_credentials_in_the_environment_are_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-looking-session-token")
    signed: list[dict[str, str]] = []

    with LocalLambda():
        sqs = boto3.client("sqs")
        sqs.meta.events.register(
            "before-send.sqs", lambda request, **_: signed.append(dict(request.headers))
        )
        sqs.list_queues()

    [headers] = signed
    assert "Credential=testing/" in str(headers["Authorization"])
    assert "X-Amz-Security-Token" not in headers
    assert "AKIAIOSFODNN7EXAMPLE" == os.environ["AWS_ACCESS_KEY_ID"]  # given back on close
    assert "real-looking-session-token" == os.environ["AWS_SESSION_TOKEN"]


def test_the_environment_and_boto3_default_session_are_given_back_on_close() -> None:
    boto3.setup_default_session(region_name="us-east-1")
    before_session = boto3.DEFAULT_SESSION
    before = {name: os.environ.get(name) for name in os.environ if name.startswith("AWS_")}

    with LocalLambda() as lam:
        assert lam.endpoint_url == os.environ["AWS_ENDPOINT_URL_SQS"]
        assert boto3.DEFAULT_SESSION is not before_session

    assert before == {name: os.environ.get(name) for name in os.environ if name.startswith("AWS_")}
    assert boto3.DEFAULT_SESSION is before_session
    assert "AWS_ENDPOINT_URL" not in os.environ


@pytest.fixture
def no_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """relaystate's process-wide default backend as a fresh process has it: not made yet."""
    monkeypatch.setattr(relaystate.aws, "_default", None)


@pytest.mark.usefixtures("no_default_backend")
def test_nested_local_lambdas_hand_the_process_back_in_turn() -> None:
    with LocalLambda() as outer:
        assert outer.backend is default_backend()
        with LocalLambda() as inner:
            assert inner.backend is default_backend()
            assert inner.endpoint_url == os.environ["AWS_ENDPOINT_URL"]
            assert inner.endpoint_url == boto3.client("sqs").meta.endpoint_url
        assert outer.backend is default_backend()
        assert outer.endpoint_url == os.environ["AWS_ENDPOINT_URL"]

    assert "AWS_ENDPOINT_URL" not in os.environ
    after = default_backend()  # made for AWS now, and never one of the closed LocalLambdas'
    assert after not in (outer.backend, inner.backend)


@pytest.mark.usefixtures("no_default_backend")
def test_local_lambdas_closed_out_of_order_leave_the_newest_still_open() -> None:
    first, second = LocalLambda(), LocalLambda()
    try:
        first.close()
        assert second.backend is default_backend()
        assert second.endpoint_url == os.environ["AWS_ENDPOINT_URL"]
    finally:
        first.close()
        second.close()
    assert "AWS_ENDPOINT_URL" not in os.environ


@pytest.mark.usefixtures("no_default_backend")
def test_a_job_made_without_a_backend_uses_the_open_local_lambda() -> None:
    with LocalLambda(timeout_s=1.0) as lam:
        lam.deploy(readme_worker.CopyRows)
        boto3.client("s3").create_bucket(Bucket="empty-rows")

        job = readme_worker.CopyRows(data={"bucket": "empty-rows", "rows": 0}).start()
        lam.run_until_idle(timeout_s=30)

        assert job.backend is lam.backend
        assert ["ok"] == [i.outcome for i in lam.invocations]
        assert [] == lam.left_over()


def test_the_endpoint_serves_sqs_dynamodb_and_s3() -> None:
    with LocalLambda() as lam:
        sqs, ddb, s3 = (boto3.client(name) for name in ("sqs", "dynamodb", "s3"))

        sqs.create_queue(QueueName="one-endpoint")
        ddb.create_table(
            TableName="one-endpoint",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3.create_bucket(Bucket="one-endpoint")

        assert {lam.endpoint_url} == {c.meta.endpoint_url for c in (sqs, ddb, s3)}
        # (moto's state is the process's: what other tests made is there too)
        assert any(u.endswith("/one-endpoint") for u in sqs.list_queues()["QueueUrls"])
        assert "one-endpoint" in ddb.list_tables()["TableNames"]
        assert "one-endpoint" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("bucket.localhost", True),
        ("sqs.us-east-1.amazonaws.com", False),
        ("10.0.0.5", False),
        ("169.254.169.254", False),  # the instance metadata service: off the process's host
        ("localhost.example.com", False),
    ],
)
def test_loopback_is_told_by_name_and_address_alone(host: str, loopback: bool) -> None:
    assert loopback == is_loopback(host)
