"""DynamoDBLedger's own: what it asks DynamoDB, which the ledger contract cannot see.

On moto's DynamoDB (127.0.0.1), counting or answering requests through botocore's events.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from botocore.awsrequest import AWSResponse

from relaystate import clock as relay_clock
from relaystate.aws import DynamoDBLedger
from relaystate.errors import JobEndedError, ThrottledError
from relaystate.ledger import CONFLICT_TRIES, JobStatus, ShardResult
from relaystate.timeline import HopEntry

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
    assert 2 == sum(page["ScannedCount"] for page in answered)  # the items read, before
    read = [
        item.get("shard_no") or item.get("signal_name")
        for page in answered
        for item in page["Items"]
    ]
    assert [{"N": "0"}, {"S": "approved"}] == read


@pytest.fixture
def read_bytes(client: Any) -> Iterator[list[int]]:
    """The size of every ``Query`` answer's body, as DynamoDB sent it."""
    sizes: list[int] = []

    def record(http_response: Any, **_: Any) -> None:
        sizes.append(len(http_response.content))

    client.meta.events.register("after-call.dynamodb.Query", record)
    yield sizes
    client.meta.events.unregister("after-call.dynamodb.Query", record)


def _big(size: int) -> str:
    """A JSON string of ``size`` random characters: zlib leaves it about as large."""
    return '"' + secrets.token_urlsafe(size)[:size] + '"'


def test_status_is_the_same_without_reading_the_shards_packets_and_results(
    ledger: DynamoDBLedger, read_bytes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every kind of shard a status shows, each item holding a big kept packet: ended (done,
    # with a big result and a timeline; failed, with an error), waiting for a signal, queued
    # with a progress mark; and a signal.
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    ledger.open_job(job_id, shards=4, job_type="Walk", function_name="walk-worker")
    for shard in range(4):
        ledger.claim(job_id, shard, 0, "req-a", LEASE_MS, packet=_big(100_000))
    checkpoints: dict[int, dict[str, Any]] = {
        0: {
            "stats": {"units": 5},
            "cursor_json": "5",
            "progress": {"done": 5, "total": 10},
            "timeline": HopEntry(hop=0, started_ms=1_000, ended_ms=2_000, outcome="relayed"),
        },
        2: {
            "stats": {"units": 1},
            "cursor_json": '{"page": 2}',
            "waiting": "approved",
            "wake_ms": 9_000_000,
        },
        3: {
            "stats": {"units": 2},
            "cursor_json": "[1, 2]",
            "delay_seconds": 30,
            "progress": {"done": 2, "total": 8},
        },
    }
    for shard, recorded in checkpoints.items():
        ledger.checkpoint(job_id, shard, 0, "req-a", outbox=_big(100_000), **recorded)
    ledger.claim(job_id, 0, 1, "req-b", LEASE_MS)
    ledger.finish(
        job_id,
        0,
        1,
        "req-b",
        stats={"units": 10},
        cursor_json="10",
        result_json=_big(100_000),
        timeline=HopEntry(hop=1, started_ms=3_000, ended_ms=4_000, outcome="finished"),
    )
    ledger.finish(job_id, 1, 0, "req-a", stats={}, cursor_json='"x"', failed=True, error="boom")
    ledger.put_signal(job_id, "other", '{"by": "ana"}')

    status = ledger.status(job_id)
    read = sum(read_bytes)
    query = ledger._query
    monkeypatch.setattr(
        ledger, "_query", lambda *args, projection="", **kwargs: query(*args, **kwargs)
    )
    whole = ledger.status(job_id)  # as status() read before it named what it reads

    assert whole is not None
    assert status is not None
    for field in attrs.fields(JobStatus):
        assert getattr(whole, field.name) == getattr(status, field.name), field.name
    # The comparison covers every kind of shard field: none of them is left at its default.
    done, failed, waiting, queued = status.shard_status
    assert (2, 10, {"done": 5, "total": 10}) == (len(done.timeline), done.cursor, done.progress)
    assert ("failed", "boom", "x") == (failed.status, failed.error, failed.cursor)
    assert ("approved", 9_000_000, {"page": 2}) == (
        waiting.waiting,
        waiting.wake_ms,
        waiting.cursor,
    )
    assert ("queued", {"done": 2, "total": 8}) == (queued.status, queued.progress)
    assert {"other": {"by": "ana"}} == status.signals
    # The items hold ~500 KB of packets and a result; status is sent the few hundred bytes
    # of each that it shows (DynamoDB still bills it the whole items).
    assert read < 8 * 1024


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


def test_a_reopen_whose_job_changed_after_its_read_reads_and_decides_again(
    client: Any, ledger: DynamoDBLedger, job: str, pauses: list[float]
) -> None:
    """A hop at work when its job was cancelled ends the last shard between the reopen's
    read and its write: the write is refused, and the reopen, read again, finds the job
    ended -- it is not reopened (a resume of it makes nothing)."""
    ledger.claim(job, 0, 0, "req-late", LEASE_MS)
    assert ledger.claim_teardown(job, "tear_down()")
    ledger.mark_torn_down(job, owner="tear_down()")
    late = DynamoDBLedger(ledger.table_name, client=client)
    ends: list[bool] = []

    def the_late_hop_ends(params: dict[str, Any], **_: Any) -> None:
        if "done = :done" in params.get("ConditionExpression", "") and not ends:
            ends.append(late.finish(job, 0, 0, "req-late", stats={}, cursor_json="null"))

    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", the_late_hop_ends)
    try:
        with pytest.raises(JobEndedError):
            ledger.reopen_job(job)
    finally:
        client.meta.events.unregister(
            "before-parameter-build.dynamodb.UpdateItem", the_late_hop_ends
        )

    status = ledger.status(job)
    assert [True] == ends
    assert status is not None
    assert ("torn_down", 1) == (status.state.value, status.done)
    assert 1 == len(pauses)  # one try more, after a pause
