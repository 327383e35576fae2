"""DynamoDBLedger's own: what it asks DynamoDB, which the ledger contract cannot see.

On moto's DynamoDB (127.0.0.1), counting or answering requests through botocore's events.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from relaystate import clock as relay_clock
from relaystate.aws import DynamoDBLedger
from relaystate.errors import ThrottledError
from relaystate.ledger import CONFLICT_TRIES, ShardResult

LEASE_MS = 60_000


@pytest.fixture(scope="module")
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    from relaystate.local.server import local_client

    made = local_client("dynamodb", request.getfixturevalue("sqs_endpoint"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def table(client: Any) -> str:
    name = f"adapter-{uuid.uuid4().hex[:6]}"
    DynamoDBLedger(name, client=client).create_table(wait_s=10.0)
    return name


@pytest.fixture
def ledger(client: Any, table: str) -> DynamoDBLedger:
    return DynamoDBLedger(table, client=client)


@pytest.fixture
def job(ledger: DynamoDBLedger) -> str:
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    ledger.open_job(job_id, shards=1, job_type="Walk", function_name="walk-worker")
    return job_id


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    made: list[float] = []
    monkeypatch.setattr(relay_clock, "sleep", made.append)
    return made


@pytest.fixture
def answered(client: Any) -> Iterator[list[dict[str, Any]]]:
    """The items every ``Query`` answers, as DynamoDB sent them, one list a page."""
    pages: list[dict[str, Any]] = []

    def record(parsed: dict[str, Any], **_: Any) -> None:
        pages.append(parsed)

    client.meta.events.register("after-call.dynamodb.Query", record)
    yield pages
    client.meta.events.unregister("after-call.dynamodb.Query", record)


def test_a_jobs_status_never_reads_its_parked_packets(
    ledger: DynamoDBLedger, job: str, answered: list[dict[str, Any]]
) -> None:
    # A parked packet is as large as a record gets: status is read often, and paid by size.
    ledger.park(job, ['"' + secrets.token_urlsafe(200_000) + '"'])
    ledger.put_signal(job, "approved", "true")
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    status = ledger.status(job)

    assert status is not None
    assert {"approved": True} == status.signals
    keys = [item["sk"]["S"] for page in answered for item in page["Items"]]
    assert ["shard#000000", "signal#approved"] == keys


def test_results_are_read_a_query_page_at_a_time(
    ledger: DynamoDBLedger, answered: list[dict[str, Any]]
) -> None:
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    ledger.open_job(job_id, shards=12, job_type="Walk", function_name="walk-worker")
    results = {shard: secrets.token_urlsafe(300_000) for shard in range(12)}  # ~2.7 MB packed
    for shard, result in results.items():
        ledger.claim(job_id, shard, 0, f"req-{shard}", LEASE_MS)
        ledger.finish(
            job_id,
            shard,
            0,
            f"req-{shard}",
            stats={},
            cursor_json="null",
            result_json=f'"{result}"',
        )

    read = ledger.results(job_id)
    first = next(read)
    pages_for_the_first = len(answered)
    rest = list(read)

    assert ShardResult(0, "done", results[0]) == first
    assert [ShardResult(s, "done", results[s]) for s in range(1, 12)] == rest
    assert 1 == pages_for_the_first
    assert 3 <= len(answered)


@pytest.fixture
def unprocessed(client: Any, table: str) -> Iterator[list[int]]:
    """Makes the next n ``BatchWriteItem`` calls leave every write unprocessed (and write
    nothing), as DynamoDB does when the table's throughput is exceeded; [n] to set."""
    left = [0]
    asked: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        asked.append(params)

    def leave(**_: Any) -> Any:
        if left[0] <= 0:
            return None
        left[0] -= 1
        parsed = {
            "UnprocessedItems": asked[-1]["RequestItems"],
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        return AWSResponse("http://127.0.0.1", 200, {}, None), parsed

    events = client.meta.events
    events.register("before-parameter-build.dynamodb.BatchWriteItem", capture)
    events.register("before-call.dynamodb.BatchWriteItem", leave)
    yield left
    events.unregister("before-parameter-build.dynamodb.BatchWriteItem", capture)
    events.unregister("before-call.dynamodb.BatchWriteItem", leave)


def test_writes_a_batch_left_unprocessed_are_sent_again(
    ledger: DynamoDBLedger, job: str, unprocessed: list[int], pauses: list[float]
) -> None:
    unprocessed[0] = 2
    bodies = [f'{{"shard": {n}}}' for n in range(5)]

    ledger.park(job, bodies)

    assert sorted(bodies) == sorted(ledger.parked(job))
    assert 2 == len(pauses)


def test_writes_a_batch_keeps_leaving_unprocessed_fail_as_throttled(
    ledger: DynamoDBLedger, job: str, unprocessed: list[int], pauses: list[float]
) -> None:
    unprocessed[0] = CONFLICT_TRIES

    with pytest.raises(ThrottledError, match="unprocessed"):
        ledger.park(job, ['{"hop": 3}'])

    assert CONFLICT_TRIES - 1 == len(pauses)


def test_packets_are_parked_and_forgotten_25_to_a_batch(
    ledger: DynamoDBLedger, job: str, client: Any
) -> None:
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(sum(len(requests) for requests in params["RequestItems"].values()))

    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", count)
    try:
        bodies = [f'{{"shard": {n}}}' for n in range(60)]
        ledger.park(job, bodies)
        ledger.forget_parked(job, bodies)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.BatchWriteItem", count)

    assert [25, 25, 10, 25, 25, 10] == calls
