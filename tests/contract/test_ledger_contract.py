"""One contract, two ledgers: every test runs on MemoryLedger and on DynamoDBLedger.

MemoryLedger is the unit tier (no endpoint); DynamoDBLedger runs on moto's server on
127.0.0.1 (functional tier), one table for the module, a fresh job id per test. Both run on a
fake clock, so that a lease runs out when a test says so.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from botocore.awsrequest import AWSResponse

from relaystate import clock as relay_clock
from relaystate.aws import DynamoDBLedger
from relaystate.errors import (
    ConfigurationError,
    JobEndedError,
    LeaseLostError,
    PacketTooLargeError,
    ResourceConflictError,
    ResourceNotFoundError,
    SignalConflictError,
)
from relaystate.ledger import (
    CONFLICT_TRIES,
    FINISHED_TTL_S,
    MAX_JOB_LIFETIME_S,
    MAX_OUTBOX_BYTES,
    SEND_GRACE_MS,
    Parked,
    ShardResult,
    refused_claim,
)
from relaystate.ports import LedgerPort
from relaystate.states import JobState
from relaystate.testing import FakeClock, MemoryLedger

START_MS = 1_800_000_000_000  # a wall-clock time: DynamoDB's TTLs are epoch seconds
LEASE_MS = 60_000
#: JSON text too large for a record: random, as a ledger stores texts compressed and only
#: what does not compress is too big.
HUGE = '"' + secrets.token_urlsafe(MAX_OUTBOX_BYTES) + '"'
#: The MemoryLedger's operations that write nothing.
READS = {"status", "results", "signals", "waiting_for", "parked"}
_tables = itertools.count()


@attrs.define
class Twin:
    """A ledger under test, with the handles a test needs that the port does not give."""

    ledger: LedgerPort
    clock: FakeClock
    #: The write requests the ledger has made so far.
    writes: Callable[[], int]
    #: Makes the next n transactions meet a concurrent one (DynamoDB's TransactionConflict).
    conflicts: Callable[[int], None]
    #: Runs an action right after the ledger's next transaction is applied, before the call
    #: returns (a MemoryLedger's finish is one step: after it, before it returns).
    interleave: Callable[[Callable[[], object]], None]
    #: A record's TTL (seconds since the epoch), or None: the job's, a shard's (by number), or
    #: another record's (by its key: ``"signal#<name>"``, ``"parked#<sha>"``).
    ttl: Callable[[str, int | str | None], int | None]
    #: The pauses the ledger made, in seconds.
    pauses: list[float] = attrs.Factory(list)

    def advance(self, ms: int) -> None:
        """Move the ledger's clock ``ms`` milliseconds on."""
        self.clock.advance(ms)


@pytest.fixture(scope="module")
def dynamodb_client(request: pytest.FixtureRequest) -> Iterator[tuple[Any, list[str]]]:
    """A client of moto's DynamoDB on the session's endpoint, and the writes it makes."""
    from relaystate.local.server import local_client

    endpoint = request.getfixturevalue("sqs_endpoint")
    client = local_client("dynamodb", endpoint)
    writes: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        writes.append(event_name.rsplit(".", 1)[-1])

    for operation in (
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
    ):
        client.meta.events.register(f"before-call.dynamodb.{operation}", count)
    yield client, writes
    client.close()


@pytest.fixture(scope="module")
def table(dynamodb_client: tuple[Any, list[str]]) -> str:
    name = f"contract-{next(_tables)}-{uuid.uuid4().hex[:6]}"
    DynamoDBLedger(name, client=dynamodb_client[0]).create_table(wait_s=10.0)
    return name


@pytest.fixture(
    params=["memory", pytest.param("dynamodb", marks=pytest.mark.functional)],
)
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twin]:
    clock = FakeClock(float(START_MS))
    pauses: list[float] = []
    monkeypatch.setattr(relay_clock, "sleep", pauses.append)
    if request.param == "memory":
        memory = MemoryLedger(clock=clock)

        def after_next_finish(action: Callable[[], object]) -> None:
            def finish(*args: Any, **kwargs: Any) -> bool:
                del memory.finish  # once
                ended = memory.finish(*args, **kwargs)
                action()
                return ended

            memory.finish = finish  # type: ignore[method-assign]

        def memory_ttl(job: str, record: int | str | None) -> int | None:
            if record is None:
                return memory.jobs[job].ttl
            if isinstance(record, int):
                return memory.shards[(job, record)].ttl
            kind, key = record.split("#", 1)
            found = (
                memory.jobs[job].signals[key] if kind == "signal" else memory.parking[(job, key)]
            )
            return found.ttl

        yield Twin(
            memory,
            clock,
            writes=lambda: len([c for c in memory.calls if c[0] not in READS]),
            conflicts=lambda n: setattr(memory, "conflicts", n),
            interleave=after_next_finish,
            ttl=memory_ttl,
            pauses=pauses,
        )
        return
    # The adapter reads the wall clock through relaystate.clock.
    monkeypatch.setattr(relay_clock, "wall", lambda: clock.now / 1000.0)
    client, writes = request.getfixturevalue("dynamodb_client")
    before = len(writes)
    ledger = DynamoDBLedger(request.getfixturevalue("table"), client=client)
    conflicts = [0]

    def conflict(**_: Any) -> Any:
        """Answer a TransactWriteItems as DynamoDB does when it met a concurrent one."""
        if conflicts[0] <= 0:
            return None
        conflicts[0] -= 1
        return AWSResponse("http://127.0.0.1", 400, {}, None), {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    events = client.meta.events

    def ttl(job: str, record: int | str | None) -> int | None:
        if record is None:
            sk = "#job"
        else:
            sk = f"shard#{record:06d}" if isinstance(record, int) else record
        item = client.get_item(
            TableName=ledger.table_name, Key={"pk": {"S": f"job#{job}"}, "sk": {"S": sk}}
        )["Item"]
        return int(item["ttl"]["N"]) if "ttl" in item else None

    hooks: list[Callable[..., None]] = []

    def interleave(action: Callable[[], object]) -> None:
        def after(http_response: Any, **_: Any) -> None:
            if http_response.status_code < 300 and after in hooks:
                hooks.remove(after)
                action()

        hooks.append(after)
        events.register("after-call.dynamodb.TransactWriteItems", after)

    events.register("before-call.dynamodb.TransactWriteItems", conflict)
    yield Twin(
        ledger,
        clock,
        writes=lambda: len(writes) - before,
        conflicts=lambda n: conflicts.__setitem__(0, n),
        interleave=interleave,
        ttl=ttl,
        pauses=pauses,
    )
    events.unregister("before-call.dynamodb.TransactWriteItems", conflict)
    for hook in hooks:
        events.unregister("after-call.dynamodb.TransactWriteItems", hook)


@pytest.fixture
def job() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def opened(twin: Twin, job: str, shards: int = 1) -> LedgerPort:
    twin.ledger.open_job(job, shards=shards, job_type="Walk", function_name="walk-worker")
    return twin.ledger


def checkpoint(
    ledger: LedgerPort,
    job: str,
    hop: int,
    owner: str,
    shard: int = 0,
    delay_seconds: int = 0,
    **kw: Any,
) -> None:
    ledger.checkpoint(
        job,
        shard,
        hop,
        owner,
        outbox=f'{{"hop": {hop + 1}}}',
        stats={"units": 10 * (hop + 1)},
        cursor_json=str(hop + 1),
        delay_seconds=delay_seconds,
        **kw,
    )


def finish(ledger: LedgerPort, job: str, shard: int, hop: int, owner: str, **kw: Any) -> bool:
    return ledger.finish(job, shard, hop, owner, stats={"units": 5}, cursor_json="null", **kw)


def relay(ledger: LedgerPort, job: str, hops: int, shard: int = 0) -> None:
    """Run hops 0..hops-1 of a shard, each claimed and checkpointed: hop ``hops`` is queued."""
    for hop in range(hops):
        assert "run" == ledger.claim(job, shard, hop, f"req-{hop}", LEASE_MS).outcome
        checkpoint(ledger, job, hop, f"req-{hop}", shard)


def failed_shards(twin: Twin, job: str, shards: int, failed: int) -> LedgerPort:
    """A job whose shards ``0..failed-1`` failed at hop 0, the rest done: every shard ended."""
    ledger = opened(twin, job, shards)
    for shard in range(shards):
        ledger.claim(job, shard, 0, f"req-{shard}", LEASE_MS)
        finish(ledger, job, shard, 0, f"req-{shard}", failed=shard < failed, error="boom")
    return ledger


# -- claims --------------------------------------------------------------------------------------


def test_the_first_claim_of_a_shard_runs(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    assert "run" == ledger.claim(job, 0, 0, "req-a", LEASE_MS).outcome


def test_a_claim_of_a_hop_running_elsewhere_is_busy(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    assert "busy" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_claim_is_idempotent_for_its_owner(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    assert "run" == ledger.claim(job, 0, 0, "req-a", LEASE_MS).outcome


def test_a_hop_is_taken_over_once_its_lease_has_run_out(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.advance(LEASE_MS - 1)
    assert "busy" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome

    twin.advance(2)

    assert "run" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_claim_renews_its_owners_lease(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.advance(LEASE_MS - 1)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    twin.advance(2)

    assert "busy" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_checkpoint_by_a_holder_that_lost_its_lease_is_refused(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.advance(LEASE_MS + 1)
    ledger.claim(job, 0, 0, "req-b", LEASE_MS)

    with pytest.raises(LeaseLostError):
        checkpoint(ledger, job, 0, "req-a")

    # The new holder goes on: the old one's checkpoint wrote nothing.
    checkpoint(ledger, job, 0, "req-b")
    twin.advance(SEND_GRACE_MS + 1)  # req-b died before its send
    assert "resend" == ledger.claim(job, 0, 0, "req-c", LEASE_MS).outcome


def test_a_finish_by_a_holder_that_lost_its_lease_is_refused_and_not_counted(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.advance(LEASE_MS + 1)
    ledger.claim(job, 0, 0, "req-b", LEASE_MS)

    with pytest.raises(LeaseLostError):
        finish(ledger, job, 0, 0, "req-a")

    status = ledger.status(job)
    assert status is not None
    assert (0, 0, "running") == (status.done, status.failed, status.shard_status[0].status)


def test_a_checkpoint_of_another_hop_is_refused(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    with pytest.raises(LeaseLostError):
        checkpoint(ledger, job, 1, "req-a")


def test_a_second_finish_of_the_same_hop_is_refused(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a")

    with pytest.raises(LeaseLostError):
        finish(ledger, job, 0, 0, "req-a")

    status = ledger.status(job)
    assert status is not None
    assert 1 == status.done


def test_a_duplicate_of_a_hop_whose_successor_runs_is_acknowledged(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    relay(ledger, job, hops=2)
    ledger.claim(job, 0, 2, "req-2", LEASE_MS)

    assert ["duplicate", "duplicate"] == [
        ledger.claim(job, 0, hop, "req-late", LEASE_MS).outcome for hop in (0, 1)
    ]


def test_a_claim_of_a_hop_ahead_of_the_shard_runs(twin: Twin, job: str) -> None:
    # A packet resumed from a saved checkpoint, later than what the ledger has.
    ledger = opened(twin, job)
    relay(ledger, job, hops=1)

    assert "run" == ledger.claim(job, 0, 5, "req-a", LEASE_MS).outcome
    status = ledger.status(job)
    assert status is not None
    assert 5 == status.shard_status[0].hop


# -- the outbox ------------------------------------------------------------------------------


def test_a_hop_that_checkpointed_and_died_before_sending_resends_its_outbox(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a")  # ... and the Lambda died before its send
    twin.advance(SEND_GRACE_MS + 1)  # past the time its send would take

    claim = ledger.claim(job, 0, 0, "req-b", LEASE_MS)

    assert ("resend", '{"hop": 1}') == (claim.outcome, claim.outbox)


def test_a_duplicate_while_the_recording_invocation_may_still_send_a_delayed_packet_waits(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a", delay_seconds=900)  # req-a is about to send hop 1

    # A copy sent now would race req-a's own, and would wait 900 s in the queue beside it
    # before any claim could fence it: the duplicate comes back later instead.
    assert "busy" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_duplicate_resends_an_undelayed_outbox_at_once(twin: Twin, job: str) -> None:
    # Its copy reaches the next hop's claim at once, which fences it; waiting would only spend
    # the duplicate's receive counts (a hop whose send failed is redelivered within seconds).
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a")

    claim = ledger.claim(job, 0, 0, "req-b", LEASE_MS)

    assert ("resend", '{"hop": 1}', 0) == (claim.outcome, claim.outbox, claim.delay_seconds)


def test_a_resent_outbox_keeps_the_relays_delay(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a", delay_seconds=900)
    twin.advance(SEND_GRACE_MS + 1)

    claim = ledger.claim(job, 0, 0, "req-b", LEASE_MS)

    assert ("resend", 900) == (claim.outcome, claim.delay_seconds)


def test_a_delayed_packet_confirmed_sent_is_not_sent_again_by_a_duplicate(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a", delay_seconds=900)
    ledger.confirm_sent(job, 0, 1)  # hop 1 waits out its 900 s in the queue

    # A duplicate of hop 0 in those 900 s must not start a second chain.
    assert "duplicate" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_confirmation_holds_only_for_the_outbox_it_confirmed(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a", delay_seconds=900)
    ledger.confirm_sent(job, 0, 1)
    ledger.claim(job, 0, 1, "req-b", LEASE_MS)
    ledger.confirm_sent(job, 0, 1)  # late, after hop 1's claim: changes nothing
    checkpoint(ledger, job, 1, "req-b", delay_seconds=900)  # ... and died before its send
    twin.advance(SEND_GRACE_MS + 1)

    assert "resend" == ledger.claim(job, 0, 1, "req-c", LEASE_MS).outcome


def test_confirming_a_hop_that_is_not_queued_writes_nothing_and_raises_nothing(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    ledger.confirm_sent(job, 0, 1)  # hop 1 was never checkpointed
    ledger.confirm_sent("no-such-job", 0, 1)

    checkpoint(ledger, job, 0, "req-a")
    twin.advance(SEND_GRACE_MS + 1)
    assert "resend" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_the_claim_of_the_next_hop_confirms_the_send_and_drops_the_outbox(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a")
    ledger.claim(job, 0, 1, "req-b", LEASE_MS)
    twin.advance(LEASE_MS + 1)  # hop 1's Lambda died holding its lease ...

    # ... and a late duplicate of hop 0 does not send hop 1 a second time.
    assert "duplicate" == ledger.claim(job, 0, 0, "req-c", LEASE_MS).outcome


def test_a_reopened_shard_does_not_resend_the_packet_its_hop_was_claimed_from(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a")
    ledger.claim(job, 0, 1, "req-b", LEASE_MS)
    finish(ledger, job, 0, 1, "req-b", failed=True, error="boom")
    ledger.reopen(job, 0)  # hop 1 is queued again, for its resumed packet

    # A late duplicate of hop 0 must not send hop 1's first packet beside the resumed one.
    assert "duplicate" == ledger.claim(job, 0, 0, "req-late", LEASE_MS).outcome


def test_pending_holds_every_shards_next_packet_that_no_signal_sends(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=4)
    for shard in range(4):
        ledger.claim(job, shard, 0, f"req-{shard}", LEASE_MS, f'{{"shard": {shard}, "hop": 0}}')
    checkpoint(ledger, job, 0, "req-0", shard=0, delay_seconds=900)  # queued, due in 900 s
    ledger.checkpoint(  # waits for a signal, with a deadline in an hour
        job, 1, 0, "req-1", outbox='{"hop": 1}', stats={}, cursor_json="1",
        waiting="go", wake_ms=START_MS + 3_600_000,
    )  # fmt: skip
    ledger.checkpoint(  # waits for a signal, no deadline: only the signal sends it
        job, 2, 0, "req-2", outbox='{"hop": 1}', stats={}, cursor_json="1", waiting="go"
    )
    # shard 3 runs hop 0 under its lease

    assert [(0, 1, 900), (1, 1, 900)] == [
        (p.shard, p.hop, p.delay_seconds) for p in ledger.pending(job)
    ]

    twin.advance(LEASE_MS + 1)  # shard 3's Lambda died: its own packet, kept by its claim
    found = {p.shard: p for p in ledger.pending(job)}
    assert [0, 1, 3] == sorted(found)
    assert ('{"shard": 3, "hop": 0}', 0) == (found[3].outbox, found[3].delay_seconds)


def test_a_shard_that_ended_has_nothing_pending(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS, '{"hop": 0}')
    ledger.finish(job, 0, 0, "req-a", stats={}, cursor_json="null")
    twin.advance(LEASE_MS + 1)

    assert [] == ledger.pending(job)


def test_a_job_that_ended_but_was_not_torn_down_has_its_last_shards_packet_pending(
    twin: Twin, job: str
) -> None:
    # Its delivery takes the claim's teardown path: what unpause sends when the redelivery of
    # a last shard that died before its teardown expired in the paused queue (issue 11).
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 1, 0, "req-a", LEASE_MS, '{"shard": 1, "hop": 0}')
    ledger.finish(job, 1, 0, "req-a", stats={}, cursor_json="null")
    ledger.claim(job, 0, 0, "req-b", LEASE_MS, '{"shard": 0, "hop": 0}')
    checkpoint(ledger, job, 0, "req-b")
    ledger.claim(job, 0, 1, "req-c", LEASE_MS)
    ledger.finish(job, 0, 1, "req-c", stats={}, cursor_json="null", failed=True)

    assert [Parked(0, 1, '{"hop": 1}', 0)] == ledger.pending(job)
    assert "teardown" == ledger.claim(job, 0, 1, "req-d", LEASE_MS).outcome
    ledger.claim_teardown(job, "req-d")
    ledger.mark_torn_down(job, tolerated=1)
    assert [] == ledger.pending(job)


def test_an_end_told_not_to_keep_its_packet_leaves_nothing_pending(twin: Twin, job: str) -> None:
    # A hop whose packet and result together could outgrow a DynamoDB item (400 KB) ends
    # without keeping its packet: the finish must fit, even if unpause then has no teardown
    # packet to send.
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS, '{"hop": 0}')

    ledger.finish(job, 0, 0, "req-a", stats={}, cursor_json="null", keep_packet=False)

    assert [] == ledger.pending(job)
    assert "teardown" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_reopened_shard_has_nothing_pending_until_resumed(twin: Twin, job: str) -> None:
    # Its packet is sent by resume(), from the DLQ: the failed hop's own is not kept for it.
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS, '{"hop": 0}')
    ledger.finish(job, 0, 0, "req-a", stats={}, cursor_json="null", failed=True)

    ledger.reopen(job, 0)

    assert [] == ledger.pending(job)


def test_an_outbox_is_resent_only_while_its_hop_is_unclaimed() -> None:
    def refused(found_status: str) -> str:
        return refused_claim(
            0, found_hop=1, found_status=found_status, outbox="{}", teardown_due=bool
        ).outcome

    assert ["resend", "duplicate", "duplicate", "duplicate"] == [
        refused(status) for status in ("queued", "running", "done", "failed")
    ]


def test_an_outbox_larger_than_a_record_holds_is_refused_and_nothing_written(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    with pytest.raises(PacketTooLargeError):
        ledger.checkpoint(job, 0, 0, "req-a", outbox=HUGE, stats={}, cursor_json="1")

    assert "busy" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


# -- the join and the teardown --------------------------------------------------------------


def test_exactly_the_last_shard_to_end_sees_the_job_ended(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=3)
    for shard in range(3):
        ledger.claim(job, shard, 0, f"req-{shard}", LEASE_MS)

    ended = [
        finish(ledger, job, 1, 0, "req-1"),
        finish(ledger, job, 0, 0, "req-0", failed=True, error="boom"),
        finish(ledger, job, 2, 0, "req-2"),
    ]

    assert [False, False, True] == ended
    status = ledger.status(job)
    assert status is not None
    assert (2, 1) == (status.done, status.failed)


def test_of_two_shards_that_end_at_once_exactly_one_sees_the_job_ended(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-0", LEASE_MS)
    ledger.claim(job, 1, 0, "req-1", LEASE_MS)
    ended: dict[int, bool] = {}
    # Shard 1 ends whole between shard 0's write and shard 0's look at the counts.
    twin.interleave(lambda: ended.setdefault(1, finish(ledger, job, 1, 0, "req-1")))

    ended[0] = finish(ledger, job, 0, 0, "req-0")

    assert {0: False, 1: True} == ended


def test_a_finish_that_meets_concurrent_ones_is_tried_again_and_counted_once(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.conflicts(CONFLICT_TRIES - 1)

    assert finish(ledger, job, 0, 0, "req-a")

    status = ledger.status(job)
    assert status is not None
    assert (1, "done") == (status.done, status.shard_status[0].status)
    assert CONFLICT_TRIES - 1 == len(twin.pauses)
    assert twin.pauses == sorted(twin.pauses)  # backing off
    assert 0.5 >= max(twin.pauses)


def test_a_finish_that_keeps_meeting_concurrent_ones_fails_and_counts_nothing(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.conflicts(CONFLICT_TRIES)

    with pytest.raises(ResourceConflictError):
        finish(ledger, job, 0, 0, "req-a")

    status = ledger.status(job)
    assert status is not None
    assert (0, "running") == (status.done, status.shard_status[0].status)
    assert finish(ledger, job, 0, 0, "req-a")  # the holder can end it still


def test_a_reopen_that_meets_a_concurrent_transaction_is_tried_again(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=1)
    twin.conflicts(1)

    ledger.reopen(job, 0)

    status = ledger.status(job)
    assert status is not None
    assert (0, "queued") == (status.failed, status.shard_status[0].status)


def test_a_finish_in_a_job_the_ledger_does_not_know_is_refused(twin: Twin, job: str) -> None:
    ledger = twin.ledger
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    with pytest.raises(ResourceNotFoundError):
        finish(ledger, job, 0, 0, "req-a")


def test_a_duplicate_of_the_last_hop_of_an_ended_job_does_its_teardown(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a")  # ... and the Lambda died before its teardown

    assert "teardown" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome
    ledger.mark_torn_down(job)
    assert "duplicate" == ledger.claim(job, 0, 0, "req-c", LEASE_MS).outcome


def test_a_duplicate_of_a_shards_last_hop_is_acknowledged_while_others_run(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a")

    assert "duplicate" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_the_teardown_is_held_by_one_owner_until_its_lease_runs_out(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    assert ledger.claim_teardown(job, "req-a", LEASE_MS)
    assert ledger.claim_teardown(job, "req-a", LEASE_MS)  # idempotent for its owner
    assert not ledger.claim_teardown(job, "req-b", LEASE_MS)
    twin.advance(LEASE_MS + 1)
    assert ledger.claim_teardown(job, "req-b")  # a's Lambda died: b takes it, for good
    twin.advance(10 * LEASE_MS)
    assert not ledger.claim_teardown(job, "req-c", LEASE_MS)


def test_the_teardown_of_a_job_the_ledger_does_not_know_is_not_taken(twin: Twin, job: str) -> None:
    assert not twin.ledger.claim_teardown(job, "req-a", LEASE_MS)
    assert twin.ledger.status(job) is None


def test_a_torn_down_job_is_failed_when_a_shard_failed(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    ledger.claim(job, 1, 0, "req-b", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a", failed=True, error="boom")
    finish(ledger, job, 1, 0, "req-b")

    ledger.mark_torn_down(job)

    status = ledger.status(job)
    assert status is not None
    assert (JobState.FAILED, "boom") == (status.state, status.shard_status[0].error)


# -- reopen ----------------------------------------------------------------------------------------


def test_a_duplicate_of_a_hop_that_failed_its_shard_is_not_run_again(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-0", LEASE_MS)
    finish(ledger, job, 0, 0, "req-0", failed=True, error="boom")
    ledger.claim(job, 1, 0, "req-1", LEASE_MS)  # shard 1 runs on: the job has not ended

    assert "duplicate" == ledger.claim(job, 0, 0, "req-late", LEASE_MS).outcome
    status = ledger.status(job)
    assert status is not None
    assert (1, "failed") == (status.failed, status.shard_status[0].status)


def test_a_duplicate_of_the_failed_last_hop_of_an_ended_job_does_its_teardown(
    twin: Twin, job: str
) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=1)

    assert "teardown" == ledger.claim(job, 0, 0, "req-late", LEASE_MS).outcome
    ledger.mark_torn_down(job)  # as failed: a shard failed
    assert "duplicate" == ledger.claim(job, 0, 0, "req-later", LEASE_MS).outcome


def test_a_reopened_shard_is_claimed_again_at_the_hop_it_failed(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=1)

    ledger.reopen(job, 0)

    assert "run" == ledger.claim(job, 0, 0, "req-resumed", LEASE_MS).outcome
    status = ledger.status(job)
    assert status is not None
    assert ("running", "") == (status.shard_status[0].status, status.shard_status[0].error)


def test_reopening_a_shard_twice_uncounts_its_failure_once(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=3, failed=2)

    ledger.reopen(job, 0)
    ledger.reopen(job, 0)

    status = ledger.status(job)
    assert status is not None
    assert 1 == status.failed  # shard 1's failure is still counted


def test_reopening_a_shard_that_did_not_fail_changes_nothing(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=2, failed=1)
    ledger.mark_torn_down(job)

    ledger.reopen(job, 1)

    status = ledger.status(job)
    assert status is not None
    assert (1, JobState.FAILED, "done") == (
        status.failed,
        status.state,
        status.shard_status[1].status,
    )


def test_reopening_a_failed_shard_uncounts_its_failure(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a", failed=True, error="boom")

    ledger.reopen(job, 0)

    status = ledger.status(job)
    assert status is not None
    assert (0, JobState.RUNNING) == (status.failed, status.state)


def test_a_reopened_job_can_be_torn_down_again(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a", failed=True, error="boom")
    assert ledger.claim_teardown(job, "req-a")
    ledger.mark_torn_down(job)

    ledger.reopen(job, 0)

    assert ledger.claim_teardown(job, "req-b")


# -- a cancelled job reopened ----------------------------------------------------------------------


def cancelled(twin: Twin, job: str) -> LedgerPort:
    """A job of 2 shards cancelled by tear_down() (teardown taken for good, recorded) while
    shard 1 was at work at hop 1; shard 0 had ended."""
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-0", LEASE_MS)
    finish(ledger, job, 0, 0, "req-0")
    relay(ledger, job, 1, shard=1)
    assert ledger.claim_teardown(job, "tear_down()")
    ledger.mark_torn_down(job, owner="tear_down()")
    return ledger


def test_a_job_cancelled_while_a_shard_was_at_work_is_reopened_and_runs(
    twin: Twin, job: str
) -> None:
    ledger = cancelled(twin, job)

    assert ledger.reopen_job(job)

    status = ledger.status(job)
    assert status is not None
    assert (JobState.RUNNING, 1, 0) == (status.state, status.done, status.failed)
    assert "run" == ledger.claim(job, 1, 1, "req-resumed", LEASE_MS).outcome
    assert finish(ledger, job, 1, 1, "req-resumed")  # the join
    assert ledger.claim_teardown(job, "req-resumed", LEASE_MS)  # let go by the reopen


def test_reopening_a_job_twice_reopens_it_once(twin: Twin, job: str) -> None:
    ledger = cancelled(twin, job)

    assert ledger.reopen_job(job)
    assert not ledger.reopen_job(job)

    status = ledger.status(job)
    assert status is not None
    assert (JobState.RUNNING, 1) == (status.state, status.done)


def test_a_running_job_is_not_reopened(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    relay(ledger, job, 1)

    assert not ledger.reopen_job(job)
    assert "run" == ledger.claim(job, 0, 1, "req-1", LEASE_MS).outcome


def test_an_unknown_job_is_not_reopened_nor_recorded(twin: Twin, job: str) -> None:
    assert not twin.ledger.reopen_job(job)
    assert twin.ledger.status(job) is None


def test_a_job_whose_every_shard_ended_is_not_reopened(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=2, failed=0)
    assert ledger.claim_teardown(job, "req-join", LEASE_MS)
    ledger.mark_torn_down(job, owner="req-join")

    with pytest.raises(JobEndedError, match=job):
        ledger.reopen_job(job)

    status = ledger.status(job)
    assert status is not None
    assert JobState.TORN_DOWN == status.state
    assert not ledger.claim_teardown(job, "req-late", LEASE_MS)  # still held


def test_a_job_whose_join_runs_is_not_reopened(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=0)
    assert ledger.claim_teardown(job, "req-join", LEASE_MS)  # the join, not recorded yet

    with pytest.raises(JobEndedError):
        ledger.reopen_job(job)

    ledger.mark_torn_down(job, owner="req-join")
    status = ledger.status(job)
    assert status is not None
    assert JobState.TORN_DOWN == status.state


def test_a_cancel_whose_teardown_a_reopen_let_go_does_not_record_it(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    relay(ledger, job, 1)
    assert ledger.claim_teardown(job, "tear_down()")  # a cancel, not recorded yet

    assert ledger.reopen_job(job)  # a resume comes between its two writes
    ledger.mark_torn_down(job, owner="tear_down()")

    status = ledger.status(job)
    assert status is not None
    assert JobState.RUNNING == status.state


def test_a_join_whose_teardown_a_reopened_shard_let_go_does_not_record_it(
    twin: Twin, job: str
) -> None:
    ledger = failed_shards(twin, job, shards=2, failed=1)
    assert ledger.claim_teardown(job, "req-join", LEASE_MS)

    ledger.reopen(job, 0)  # the failed shard is resumed while the join runs
    ledger.mark_torn_down(job, owner="req-join")

    status = ledger.status(job)
    assert status is not None
    assert (JobState.RUNNING, 0) == (status.state, status.failed)


def test_a_reopened_jobs_record_expires_as_a_running_jobs_again(twin: Twin, job: str) -> None:
    ledger = cancelled(twin, job)
    twin.advance(DAY_MS)

    ledger.reopen_job(job)

    assert (START_MS + DAY_MS) // 1000 + RUNNING_S == twin.ttl(job, None)


# -- expiry ------------------------------------------------------------------------------------

DAY_MS = 86_400_000
RUNNING_S = FINISHED_TTL_S + MAX_JOB_LIFETIME_S


def test_a_running_jobs_records_expire_long_after_their_last_write(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    assert (START_MS // 1000 + RUNNING_S,) * 2 == (twin.ttl(job, None), twin.ttl(job, 0))

    twin.advance(DAY_MS)
    checkpoint(ledger, job, 0, "req-a")
    assert (START_MS + DAY_MS) // 1000 + RUNNING_S == twin.ttl(job, 0)

    twin.advance(DAY_MS)
    ledger.claim(job, 0, 1, "req-b", LEASE_MS)
    assert (START_MS + 2 * DAY_MS) // 1000 + RUNNING_S == twin.ttl(job, 0)


def test_a_shards_end_pushes_both_records_expiry_on(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    twin.advance(DAY_MS)

    finish(ledger, job, 0, 0, "req-a")

    expected = (START_MS + DAY_MS) // 1000 + RUNNING_S
    assert (expected, expected) == (twin.ttl(job, None), twin.ttl(job, 0))


def test_a_torn_down_jobs_record_expires_30_days_after_the_end(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=0)
    twin.advance(DAY_MS)

    ledger.mark_torn_down(job)

    assert (START_MS + DAY_MS) // 1000 + FINISHED_TTL_S == twin.ttl(job, None)


def test_a_reopened_jobs_records_expire_as_a_running_jobs(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=1)
    ledger.mark_torn_down(job)
    twin.advance(DAY_MS)

    ledger.reopen(job, 0)

    expected = (START_MS + DAY_MS) // 1000 + RUNNING_S
    assert (expected, expected) == (twin.ttl(job, None), twin.ttl(job, 0))


# -- status ----------------------------------------------------------------------------------------


def test_the_status_of_an_unknown_job_is_none(twin: Twin, job: str) -> None:
    assert twin.ledger.status(job) is None


def test_the_status_names_the_job_and_each_shard(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    relay(ledger, job, hops=2, shard=1)
    twin.advance(5)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)

    status = ledger.status(job)

    assert status is not None
    assert (job, "Walk", "walk-worker", 2, JobState.RUNNING) == (
        status.job_id,
        status.job_type,
        status.function_name,
        status.shards,
        status.state,
    )
    assert [(0, 0, "running"), (1, 2, "queued")] == [
        (s.shard, s.hop, s.status) for s in status.shard_status
    ]
    assert ({"units": 20}, 2) == (status.shard_status[1].stats, status.shard_status[1].cursor)
    assert START_MS + 5 == status.shard_status[0].updated_ms
    assert 20 == status.units


def test_a_job_is_queued_until_a_shard_is_claimed(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    status = ledger.status(job)

    assert status is not None
    assert (JobState.QUEUED, START_MS) == (status.state, status.created_ms)


def test_opening_a_known_job_keeps_it(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a")

    opened(twin, job, shards=5)

    status = ledger.status(job)
    assert status is not None
    assert (2, 1) == (status.shards, status.done)


MARK = {"done": 40, "total": 100, "at_ms": START_MS, "since_ms": START_MS - 10, "since_done": 0}


def test_a_checkpoint_records_the_shards_progress_mark_in_its_one_write(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    before = twin.writes()

    checkpoint(ledger, job, 0, "req-a", progress=MARK)

    status = ledger.status(job)
    assert status is not None
    assert (MARK, 1) == (status.shard_status[0].progress, twin.writes() - before)


def test_a_checkpoint_without_a_mark_keeps_the_one_recorded(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    checkpoint(ledger, job, 0, "req-a", progress=MARK)
    ledger.claim(job, 0, 1, "req-b", LEASE_MS)

    checkpoint(ledger, job, 1, "req-b")

    status = ledger.status(job)
    assert status is not None
    assert MARK == status.shard_status[0].progress


def test_a_shards_end_records_its_last_mark(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    last = {**MARK, "done": 100}

    finish(ledger, job, 0, 0, "req-a", progress=last)

    status = ledger.status(job)
    assert status is not None
    assert status.progress is not None
    assert (last, 100.0) == (status.shard_status[0].progress, status.progress.percent)


def test_a_shard_of_a_job_without_progress_has_no_mark(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    relay(ledger, job, hops=1)

    status = ledger.status(job)
    assert status is not None
    assert (None, None) == (status.shard_status[0].progress, status.progress)


def test_a_cursor_too_long_to_record_is_kept_as_text(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    long_cursor = '"' + "c" * 5_000 + '"'

    ledger.checkpoint(job, 0, 0, "req-a", outbox="{}", stats={}, cursor_json=long_cursor)

    status = ledger.status(job)
    assert status is not None
    cursor = status.shard_status[0].cursor
    assert isinstance(cursor, str)
    assert cursor.startswith('"ccc')


# -- waits -----------------------------------------------------------------------------------------


def wait(
    ledger: LedgerPort,
    job: str,
    hop: int,
    owner: str,
    *,
    name: str = "approved",
    shard: int = 0,
    delay_seconds: int = 0,
    wake_ms: int = 0,
) -> None:
    """Hop ``hop`` of a shard (claimed by ``owner``) ends waiting for signal ``name``."""
    checkpoint(ledger, job, hop, owner, shard, delay_seconds, waiting=name, wake_ms=wake_ms)


def claimed(twin: Twin, job: str) -> LedgerPort:
    """A one-shard job whose hop 0 ``req-a`` holds."""
    ledger = opened(twin, job)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    return ledger


def waiting(twin: Twin, job: str, **kw: Any) -> LedgerPort:
    """A one-shard job whose hop 0 ended waiting (for ``approved``, unless ``name=``)."""
    ledger = claimed(twin, job)
    wait(ledger, job, 0, "req-a", **kw)
    return ledger


def test_a_hop_that_waits_leaves_its_shard_waiting_at_the_next_hop(twin: Twin, job: str) -> None:
    ledger = claimed(twin, job)

    wait(ledger, job, 0, "req-a", wake_ms=START_MS + DAY_MS)

    status = ledger.status(job)
    assert status is not None
    shard = status.shard_status[0]
    assert (1, "waiting", "approved", START_MS + DAY_MS) == (
        shard.hop,
        shard.status,
        shard.waiting,
        shard.wake_ms,
    )
    assert JobState.WAITING == status.state


def test_a_waiting_hop_is_claimed_by_its_wake_up_and_waits_no_more(twin: Twin, job: str) -> None:
    ledger = waiting(twin, job, wake_ms=START_MS + DAY_MS)

    assert "run" == ledger.claim(job, 0, 1, "req-woken", LEASE_MS).outcome

    status = ledger.status(job)
    assert status is not None
    shard = status.shard_status[0]
    assert ("running", "", 0) == (shard.status, shard.waiting, shard.wake_ms)
    assert [] == ledger.waiting_for(job, "approved")


def test_a_wait_woken_twice_runs_its_next_hop_once(twin: Twin, job: str) -> None:
    # Its signal and its timer both deliver the waiting packet.
    ledger = waiting(twin, job)
    ledger.claim(job, 0, 1, "req-signal", LEASE_MS)

    assert "busy" == ledger.claim(job, 0, 1, "req-timer", LEASE_MS).outcome


def test_a_duplicate_of_the_hop_before_a_wait_whose_sends_were_made_is_acknowledged(
    twin: Twin, job: str
) -> None:
    ledger = waiting(twin, job)
    ledger.confirm_sent(job, 0, 1)  # the wait sent its timer (or had nothing to send)
    twin.advance(SEND_GRACE_MS + 1)

    # The waiting packet is its signal's to send now.
    assert "duplicate" == ledger.claim(job, 0, 0, "req-late", LEASE_MS).outcome


def test_a_duplicate_while_the_wait_may_still_make_its_sends_waits(twin: Twin, job: str) -> None:
    ledger = waiting(twin, job)

    assert "busy" == ledger.claim(job, 0, 0, "req-late", LEASE_MS).outcome


def test_a_duplicate_hands_back_a_wait_whose_sends_were_never_confirmed(
    twin: Twin, job: str
) -> None:
    # The hop died after recording the wait, or its timer's send failed: without this, no
    # timer would ever be in the queue and a shard no signal wakes would wait for good.
    ledger = waiting(twin, job, wake_ms=START_MS + DAY_MS)
    twin.advance(SEND_GRACE_MS + 1)

    claim = ledger.claim(job, 0, 0, "req-late", LEASE_MS)

    assert ("resend", '{"hop": 1}', True) == (claim.outcome, claim.outbox, claim.waiting)


def test_waiting_for_names_the_shards_that_wait_for_a_signal_with_their_packets(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job, shards=4)
    for shard in range(4):
        ledger.claim(job, shard, 0, f"req-{shard}", LEASE_MS)
    wait(ledger, job, 0, "req-2", shard=2, delay_seconds=30)
    wait(ledger, job, 0, "req-0", shard=0)
    wait(ledger, job, 0, "req-1", shard=1, name="rejected")
    checkpoint(ledger, job, 0, "req-3", shard=3)  # a relay: it waits for nothing

    assert [
        Parked(0, 1, '{"hop": 1}', 0),
        Parked(2, 1, '{"hop": 1}', 30),
    ] == ledger.waiting_for(job, "approved")


def test_nothing_waits_for_a_signal_in_an_unknown_job(twin: Twin, job: str) -> None:
    assert [] == twin.ledger.waiting_for(job, "approved")


def test_a_hop_that_waits_for_a_name_no_signal_can_have_is_refused_and_nothing_written(
    twin: Twin, job: str
) -> None:
    ledger = claimed(twin, job)

    with pytest.raises(ConfigurationError, match="signal name"):
        wait(ledger, job, 0, "req-a", name="approved by ann")

    assert "busy" == ledger.claim(job, 0, 0, "req-b", LEASE_MS).outcome


def test_a_sleeping_shard_is_queued_and_shows_when_it_wakes(twin: Twin, job: str) -> None:
    ledger = claimed(twin, job)

    ledger.checkpoint(
        job,
        0,
        0,
        "req-a",
        outbox="{}",
        stats={},
        cursor_json="1",
        delay_seconds=900,
        wake_ms=START_MS + DAY_MS,
    )

    status = ledger.status(job)
    assert status is not None
    shard = status.shard_status[0]
    assert (JobState.RUNNING, "queued", "", START_MS + DAY_MS) == (
        status.state,
        shard.status,
        shard.waiting,
        shard.wake_ms,
    )


def test_a_job_waits_only_when_every_shard_at_work_waits(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=3)
    ledger.claim(job, 0, 0, "req-0", LEASE_MS)
    wait(ledger, job, 0, "req-0")
    ledger.claim(job, 1, 0, "req-1", LEASE_MS)

    def state() -> JobState:
        status = ledger.status(job)
        assert status is not None
        return status.state

    assert JobState.RUNNING == state()  # shard 1 runs, shard 2 was never claimed
    finish(ledger, job, 1, 0, "req-1")
    assert JobState.RUNNING == state()  # shard 2 is still queued
    ledger.claim(job, 2, 0, "req-2", LEASE_MS)
    finish(ledger, job, 2, 0, "req-2", failed=True, error="boom")
    assert JobState.WAITING == state()


# -- signals ---------------------------------------------------------------------------------------


def test_a_signal_sent_before_anyone_waits_for_it_is_kept(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    assert ledger.put_signal(job, "approved", '{"by": "ann"}')

    assert {"approved": {"by": "ann"}} == ledger.signals(job)
    status = ledger.status(job)
    assert status is not None
    assert {"approved": {"by": "ann"}} == status.signals


def test_a_job_keeps_each_of_its_signals(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.put_signal(job, "b.second", "null")
    ledger.put_signal(job, "a:first", "[1, 2]")

    assert {"a:first": [1, 2], "b.second": None} == ledger.signals(job)


def test_a_signal_sent_again_with_the_same_payload_is_recorded_once(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.put_signal(job, "approved", '{"by": "ann", "at": 1}')
    writes = twin.writes()

    assert not ledger.put_signal(job, "approved", '{"at":1,"by":"ann"}')

    assert {"approved": {"by": "ann", "at": 1}} == ledger.signals(job)
    assert writes + 1 == twin.writes()  # the refused write, nothing else


def test_a_signal_sent_again_with_another_payload_is_refused_and_the_first_stands(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    ledger.put_signal(job, "approved", '{"by": "ann"}')

    with pytest.raises(SignalConflictError, match="'approved'") as raised:
        ledger.put_signal(job, "approved", '{"by": "bob"}')

    assert "approved" == raised.value.name
    assert {"approved": {"by": "ann"}} == ledger.signals(job)


def test_a_signal_to_a_job_the_ledger_does_not_know_is_refused(twin: Twin, job: str) -> None:
    with pytest.raises(ConfigurationError, match=f"job {job} is not in the ledger"):
        twin.ledger.put_signal(job, "approved", "true")

    assert {} == twin.ledger.signals(job)
    assert twin.ledger.status(job) is None


@pytest.mark.parametrize("name", ["", "approved by ann", "a/b", "é", "x" * 129, "a#b"])
def test_a_signal_whose_name_no_signal_can_have_is_refused(twin: Twin, job: str, name: str) -> None:
    ledger = opened(twin, job)

    with pytest.raises(ConfigurationError, match="signal name"):
        ledger.put_signal(job, name, "true")

    assert {} == ledger.signals(job)


def test_a_signal_name_may_be_128_of_letters_digits_and_four_marks(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    name = ("Az09_.:-" * 16)[:128]

    assert ledger.put_signal(job, name, "true")

    assert {name: True} == ledger.signals(job)


def test_a_signal_whose_payload_is_not_json_is_refused(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    with pytest.raises(ConfigurationError, match="not JSON"):
        ledger.put_signal(job, "approved", "{by: ann}")

    assert {} == ledger.signals(job)


def test_a_signal_larger_than_a_record_holds_is_refused(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    with pytest.raises(PacketTooLargeError):
        ledger.put_signal(job, "approved", HUGE)

    assert {} == ledger.signals(job)


def test_a_signal_that_meets_a_concurrent_transaction_is_tried_again(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    twin.conflicts(1)

    assert ledger.put_signal(job, "approved", "true")

    assert {"approved": True} == ledger.signals(job)


def test_the_signals_of_a_job_the_ledger_does_not_know_are_none(twin: Twin, job: str) -> None:
    assert {} == twin.ledger.signals(job)


# -- pause -----------------------------------------------------------------------------------------


def test_a_paused_job_is_paused_until_unpaused(twin: Twin, job: str) -> None:
    ledger = claimed(twin, job)

    ledger.set_paused(job, True)
    paused = ledger.status(job)
    ledger.set_paused(job, False)
    unpaused = ledger.status(job)

    assert paused is not None
    assert unpaused is not None
    assert [(True, JobState.PAUSED), (False, JobState.RUNNING)] == [
        (paused.paused, paused.state),
        (unpaused.paused, unpaused.state),
    ]


def test_a_paused_job_whose_shards_wait_is_paused(twin: Twin, job: str) -> None:
    ledger = waiting(twin, job)

    ledger.set_paused(job, True)

    status = ledger.status(job)
    assert status is not None
    assert JobState.PAUSED == status.state


def test_pausing_a_job_that_has_ended_leaves_it_as_it_is(twin: Twin, job: str) -> None:
    ledger = failed_shards(twin, job, shards=1, failed=0)
    ledger.mark_torn_down(job)

    ledger.set_paused(job, True)

    status = ledger.status(job)
    assert status is not None
    assert (False, JobState.TORN_DOWN) == (status.paused, status.state)


def test_a_paused_job_that_is_torn_down_is_paused_no_more(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.set_paused(job, True)
    ledger.claim(job, 0, 0, "req-a", LEASE_MS)
    finish(ledger, job, 0, 0, "req-a")

    ledger.mark_torn_down(job)

    status = ledger.status(job)
    assert status is not None
    assert (False, JobState.TORN_DOWN) == (status.paused, status.state)


def test_pausing_a_job_the_ledger_does_not_know_records_nothing(twin: Twin, job: str) -> None:
    twin.ledger.set_paused(job, True)

    assert twin.ledger.status(job) is None


# -- the control lease: one pause or unpause at a time ---------------------------------------------


def test_the_control_is_held_by_one_owner_until_its_lease_runs_out(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    assert ledger.claim_control(job, "pause-a", LEASE_MS)
    assert ledger.claim_control(job, "pause-a", LEASE_MS)  # its owner renews it
    assert not ledger.claim_control(job, "unpause-b", LEASE_MS)
    twin.advance(LEASE_MS + 1)  # a's caller died
    assert ledger.claim_control(job, "unpause-b", LEASE_MS)
    assert not ledger.claim_control(job, "pause-a", LEASE_MS)


def test_a_renewed_control_is_held_a_lease_from_its_renewal(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim_control(job, "pause-a", LEASE_MS)
    twin.advance(LEASE_MS - 1)

    ledger.claim_control(job, "pause-a", LEASE_MS)
    twin.advance(LEASE_MS - 1)

    assert not ledger.claim_control(job, "unpause-b", LEASE_MS)


def test_the_control_is_given_up_only_by_its_owner(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.claim_control(job, "pause-a", LEASE_MS)

    ledger.release_control(job, "unpause-b")  # not its owner: nothing changes
    refused = ledger.claim_control(job, "unpause-b", LEASE_MS)
    ledger.release_control(job, "pause-a")
    taken = ledger.claim_control(job, "unpause-b", LEASE_MS)

    assert (False, True) == (refused, taken)


def test_giving_up_a_control_nobody_holds_changes_nothing(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    ledger.release_control(job, "pause-a")
    ledger.release_control(f"{job}-unknown", "pause-a")

    assert ledger.claim_control(job, "unpause-b", LEASE_MS)


def test_the_control_of_a_job_the_ledger_does_not_know_is_free_and_records_nothing(
    twin: Twin, job: str
) -> None:
    assert twin.ledger.claim_control(job, "pause-a", LEASE_MS)
    assert twin.ledger.claim_control(job, "unpause-b", LEASE_MS)  # nothing was held
    assert twin.ledger.status(job) is None


def test_the_control_leaves_the_jobs_state_as_it_is(twin: Twin, job: str) -> None:
    ledger = claimed(twin, job)
    ledger.set_paused(job, True)

    ledger.claim_control(job, "unpause-a", LEASE_MS)
    held = ledger.status(job)
    ledger.release_control(job, "unpause-a")
    released = ledger.status(job)

    assert held is not None
    assert released is not None
    assert [(True, JobState.PAUSED)] * 2 == [
        (held.paused, held.state),
        (released.paused, released.state),
    ]


# -- parked packets --------------------------------------------------------------------------------


def test_parked_packets_stay_until_they_are_forgotten(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.park(job, ['{"hop": 3}', '{"hop": 7}', '{"hop": 3}'])  # a body parked twice

    assert ['{"hop": 3}', '{"hop": 7}'] == sorted(ledger.parked(job))
    assert ['{"hop": 3}', '{"hop": 7}'] == sorted(ledger.parked(job))  # read, not taken

    ledger.forget_parked(job, ['{"hop": 3}'])
    assert ['{"hop": 7}'] == ledger.parked(job)
    ledger.forget_parked(job, ['{"hop": 3}', '{"hop": 7}'])  # one no longer parked
    assert [] == ledger.parked(job)


def test_a_packet_parked_again_is_kept_once(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.park(job, ['{"hop": 3}'])

    ledger.park(job, ['{"hop": 3}'])

    assert ['{"hop": 3}'] == ledger.parked(job)


def test_more_packets_than_a_batch_writes_are_parked_and_forgotten(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    bodies = [f'{{"shard": {n}}}' for n in range(60)]

    ledger.park(job, bodies)
    assert sorted(bodies) == sorted(ledger.parked(job))

    ledger.forget_parked(job, bodies)
    assert [] == ledger.parked(job)


def test_a_jobs_parked_packets_are_its_own(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)
    ledger.park(job, ['{"hop": 3}'])

    assert [] == ledger.parked(f"{job}-other")


def test_a_packet_too_large_to_park_is_refused_and_none_parked(twin: Twin, job: str) -> None:
    ledger = opened(twin, job)

    with pytest.raises(PacketTooLargeError):
        ledger.park(job, ['{"hop": 3}', HUGE])

    assert [] == ledger.parked(job)


# -- results and tolerated failures ---------------------------------------------------------------


def test_results_are_every_shards_end_in_shard_order(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=4)
    ledger.claim(job, 2, 0, "req-2", LEASE_MS)
    finish(ledger, job, 2, 0, "req-2", result_json='{"sum": 3}')
    ledger.claim(job, 0, 0, "req-0", LEASE_MS)
    finish(ledger, job, 0, 0, "req-0", failed=True, error="boom")
    ledger.claim(job, 3, 0, "req-3", LEASE_MS)  # running: it has not ended
    # shard 1 was never claimed

    assert [
        ShardResult(0, "failed", None, "boom"),
        ShardResult(1, ""),
        ShardResult(2, "done", {"sum": 3}),
        ShardResult(3, ""),
    ] == list(ledger.results(job))


def test_a_shard_that_waits_or_sleeps_has_no_result_yet(twin: Twin, job: str) -> None:
    ledger = opened(twin, job, shards=2)
    ledger.claim(job, 0, 0, "req-0", LEASE_MS)
    wait(ledger, job, 0, "req-0")
    relay(ledger, job, hops=1, shard=1)

    assert [ShardResult(0, ""), ShardResult(1, "")] == list(ledger.results(job))


def test_a_result_larger_than_a_record_holds_is_refused_and_nothing_counted(
    twin: Twin, job: str
) -> None:
    ledger = claimed(twin, job)

    with pytest.raises(PacketTooLargeError):
        finish(ledger, job, 0, 0, "req-a", result_json=HUGE)

    status = ledger.status(job)
    assert status is not None
    assert (0, "running") == (status.done, status.shard_status[0].status)


def test_a_reopened_shard_that_ends_again_has_only_its_new_result(twin: Twin, job: str) -> None:
    ledger = claimed(twin, job)
    finish(ledger, job, 0, 0, "req-a", failed=True, error="boom", result_json='{"partial": 1}')
    ledger.reopen(job, 0)
    ledger.claim(job, 0, 0, "req-b", LEASE_MS)

    finish(ledger, job, 0, 0, "req-b")

    assert [ShardResult(0, "done")] == list(ledger.results(job))


def test_a_job_the_ledger_does_not_know_has_no_results(twin: Twin, job: str) -> None:
    assert [] == list(twin.ledger.results(job))


@pytest.mark.parametrize(
    ("failed", "tolerated", "state"),
    [(1, 1, JobState.TORN_DOWN), (2, 1, JobState.FAILED), (0, 0, JobState.TORN_DOWN)],
)
def test_a_torn_down_job_fails_only_when_more_shards_failed_than_it_tolerates(
    twin: Twin, job: str, failed: int, tolerated: int, state: JobState
) -> None:
    ledger = failed_shards(twin, job, shards=3, failed=failed)

    ledger.mark_torn_down(job, tolerated=tolerated)

    status = ledger.status(job)
    assert status is not None
    assert (state, failed) == (status.state, status.failed)


# -- expiry of the job's other records -------------------------------------------------------------


def test_a_jobs_signals_and_parked_packets_expire_as_a_running_jobs_records(
    twin: Twin, job: str
) -> None:
    ledger = opened(twin, job)
    twin.advance(DAY_MS)

    ledger.put_signal(job, "approved", "true")
    ledger.park(job, ['{"hop": 3}'])

    expected = (START_MS + DAY_MS) // 1000 + RUNNING_S
    key = hashlib.sha256(b'{"hop": 3}').hexdigest()
    assert (expected, expected) == (
        twin.ttl(job, "signal#approved"),
        twin.ttl(job, f"parked#{key}"),
    )
