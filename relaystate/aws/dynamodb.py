"""The progress ledger in one DynamoDB table: :class:`~relaystate.ports.LedgerPort` over boto3.

One table serves all jobs of an account and region::

    pk = "job#<job id>", sk = "#job"          shards, done, failed, the shard that ended last,
                                              state, paused, teardown owner, ttl
    pk = "job#<job id>", sk = "parked#<sha>"  a parked packet (zlib, binary), keyed by the
                                              SHA-256 of its body; ttl
    pk = "job#<job id>", sk = "shard#<n>"     hop, status, lease owner and expiry, stats,
                                              cursor, outbox (the next packet, zlib, binary)
                                              and its delay, until the next hop's claim; the
                                              signal it waits for and when it wakes; its
                                              result (zlib, binary) and error once ended; ttl;
                                              with a timeline, its last 100 hops (tl00..tl99)
    pk = "job#<job id>", sk = "signal#<name>" a signal's payload (zlib, binary); ttl

Every operation is one conditional ``UpdateItem`` (a shard's end, a reopen and a signal, one
``TransactWriteItems`` over the shard or the signal and the job), so DynamoDB decides each
race; parked packets are put and deleted 25 to a ``BatchWriteItem``. What the ledger means is
explained in :mod:`relaystate.ledger`.

The keys sort ``#job`` < ``parked#`` < ``shard#`` < ``signal#``: a job's status reads its
record and then every key from ``shard#`` on (its shards and signals), never its parked
packets.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..clock import now_ms
from ..errors import (
    ConfigurationError,
    ResourceConflictError,
    SignalConflictError,
    ThrottledError,
)
from ..ledger import (
    CURSOR_CHARS,
    ERROR_CHARS,
    Claim,
    JobStatus,
    Parked,
    ShardResult,
    ShardStatus,
    WriteConflict,
    check_signal_name,
    ended_state,
    expires_s,
    job_state,
    lease_lost,
    pack_outbox,
    pack_signal,
    parked_key,
    parse_cursor,
    refused_claim,
    retry_conflicts,
    same_payload,
    teardown_due,
    unknown_job,
    unpack_outbox,
)
from ..states import JobState
from ..timeline import HopEntry, entries, is_slot, slot
from .config import client_config
from .errors import map_aws_errors, translate

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBLedger"]

_JOB = "#job"
_SHARD = "shard#"
_SIGNAL = "signal#"
_PARKED = "parked#"
_CONDITION_FAILED = "ConditionalCheckFailedException"
#: Requests in one ``BatchWriteItem``: DynamoDB's limit.
_BATCH = 25


class DynamoDBLedger:
    """The ledger in one DynamoDB table (on-demand billing, TTL on finished jobs).

    Args:
        table_name: the table (make it once with :meth:`create_table`).
        session, client, config, client_kwargs: how to reach DynamoDB, as in
            :func:`relaystate.aws.aws_backend`.

    Example:
        >>> ledger = DynamoDBLedger("relaystate-ledger")  # doctest: +SKIP
        >>> ledger.create_table()  # once  # doctest: +SKIP
        >>> class CopyRows(RelayJob):  # doctest: +SKIP
        ...     ledger = "relaystate-ledger"
    """

    def __init__(
        self,
        table_name: str,
        *,
        session: boto3.Session | None = None,
        client: DynamoDBClient | None = None,
        config: Config | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.table_name = table_name
        self._session = session
        self._config = config
        self._client_kwargs = client_kwargs
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        """The DynamoDB client, made on first use."""
        if self._client is None:
            with map_aws_errors("dynamodb", "CreateClient"):
                import boto3

                session = self._session or boto3.Session()
                self._client = session.client(
                    "dynamodb", config=self._config or client_config(), **self._client_kwargs
                )
        return self._client

    # -- administration -------------------------------------------------------------------

    def create_table(self, *, wait_s: float = 120.0) -> None:
        """Create the table (pk/sk strings, on-demand) and turn on TTL; an existing one is kept."""
        try:
            with map_aws_errors("dynamodb", "CreateTable"):
                self.client.create_table(
                    TableName=self.table_name,
                    KeySchema=[
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                    Tags=[{"Key": "relaystate:role", "Value": "ledger"}],
                )
        except ResourceConflictError:
            return  # it exists
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            table = self._read(
                "DescribeTable", lambda: self.client.describe_table(TableName=self.table_name)
            )
            if table["Table"].get("TableStatus") == "ACTIVE":
                break
            time.sleep(1.0)
        with map_aws_errors("dynamodb", "UpdateTimeToLive"):
            self.client.update_time_to_live(
                TableName=self.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
            )

    # -- the port -----------------------------------------------------------------------------

    def open_job(
        self,
        job_id: str,
        *,
        shards: int,
        job_type: str,
        function_name: str,
        fingerprint: str = "",
    ) -> JobStatus | None:
        """Record a new job; ``None``, or the status of the job that already has the id."""
        now = now_ms()
        refused = self._update(
            job_id,
            _JOB,
            "SET shards = :shards, done = :zero, failed = :zero, #state = :state, "
            "job_type = :type, #function = :function, created_ms = :now, updated_ms = :now, "
            "fingerprint = :fingerprint, #ttl = :ttl",
            "attribute_not_exists(pk)",
            {
                ":shards": _n(shards),
                ":zero": _n(0),
                ":state": _s(JobState.QUEUED.value),
                ":type": _s(job_type),
                ":function": _s(function_name),
                ":fingerprint": _s(fingerprint),
                ":now": _n(now),
                ":ttl": _n(expires_s(now)),
            },
        )
        return None if refused is None else self.status(job_id)

    def abandon_job(self, job_id: str) -> None:
        """Forget a job whose start was rolled back, if no shard has ended."""
        with map_aws_errors("dynamodb", "DeleteItem"):
            try:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key={"pk": _s(f"job#{job_id}"), "sk": _s(_JOB)},
                    ConditionExpression="done = :zero AND failed = :zero",
                    ExpressionAttributeValues={":zero": _n(0)},
                )
            except ClientError as exc:
                if not _condition_failed(exc.response):
                    raise

    def claim(self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int) -> Claim:
        """Claim hop ``hop`` of a shard for ``owner`` until ``lease_ms`` from now."""
        now = now_ms()
        old = self._update(
            job_id,
            _shard(shard),
            "SET #status = :running, #owner = :owner, lease_until = :until, hop = :hop, "
            "updated_ms = :now, shard_no = :shard, #ttl = :ttl "
            "REMOVE outbox, outbox_delay, waiting_for, wake_ms",
            "attribute_not_exists(pk) OR hop < :hop OR (hop = :hop AND (#status IN (:queued, "
            ":waiting) OR (#status = :running AND (lease_until < :now OR #owner = :owner))))",
            {
                ":running": _s("running"),
                ":queued": _s("queued"),
                ":waiting": _s("waiting"),
                ":owner": _s(owner),
                ":until": _n(now + lease_ms),
                ":hop": _n(hop),
                ":now": _n(now),
                ":shard": _n(shard),
                ":ttl": _n(expires_s(now)),
            },
        )
        if old is None:
            return Claim("run")
        return refused_claim(
            hop,
            found_hop=_int(old, "hop"),
            found_status=_text(old, "status"),
            outbox=_outbox(old),
            delay_seconds=_int(old, "outbox_delay"),
            teardown_due=lambda: self._teardown_due(job_id),
        )

    def checkpoint(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        outbox: str,
        stats: Mapping[str, int],
        cursor_json: str,
        delay_seconds: int = 0,
        waiting: str = "",
        wake_ms: int = 0,
        timeline: HopEntry | None = None,
    ) -> None:
        """Record the hop's checkpoint and the next packet (to be sent, or kept for a signal
        when the shard waits), fenced by the lease; the hop's timeline entry, if given."""
        if waiting:
            check_signal_name(waiting)
        now = now_ms()
        keep, kept = _timeline(timeline)
        refused = self._update(
            job_id,
            _shard(shard),
            "SET hop = :next, #status = :next_status, outbox = :outbox, outbox_delay = :delay, "
            "waiting_for = :waiting, wake_ms = :wake, "
            f"stats = :stats, #cursor = :cursor, updated_ms = :now, #ttl = :ttl{keep} "
            "REMOVE #owner, lease_until",
            "#owner = :owner AND hop = :hop AND #status = :running",
            {
                **kept,
                ":next": _n(hop + 1),
                ":next_status": _s("waiting" if waiting else "queued"),
                ":outbox": {"B": pack_outbox(outbox)},
                ":delay": _n(delay_seconds),
                ":waiting": _s(waiting),
                ":wake": _n(wake_ms),
                ":stats": _s(json.dumps(dict(stats))),
                ":cursor": _s(cursor_json[:CURSOR_CHARS]),
                ":now": _n(now),
                ":ttl": _n(expires_s(now)),
                ":owner": _s(owner),
                ":hop": _n(hop),
                ":running": _s("running"),
            },
        )
        if refused is not None:
            raise lease_lost(job_id, shard, hop)

    def finish(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        stats: Mapping[str, int],
        cursor_json: str,
        failed: bool = False,
        error: str = "",
        result_json: str = "",
        timeline: HopEntry | None = None,
    ) -> bool:
        """The shard is done (or failed), with its result; count it. True when every shard
        has ended and this one ended last."""
        result = {":result": {"B": pack_outbox(result_json)}} if result_json else {}
        # A reopened shard that ends again keeps only its new result.
        set_result, remove_result = (", #result = :result", "") if result else ("", ", #result")
        keep, kept = _timeline(timeline)
        now = now_ms()
        refused = self._transact(
            [
                self._spec(
                    job_id,
                    _shard(shard),
                    "SET #status = :status, stats = :stats, #cursor = :cursor, "
                    f"updated_ms = :now, #error = :error, #ttl = :ttl{keep}"
                    f"{set_result} REMOVE #owner, lease_until{remove_result}",
                    "#owner = :owner AND hop = :hop AND #status = :running",
                    {
                        **result,
                        **kept,
                        ":status": _s("failed" if failed else "done"),
                        ":stats": _s(json.dumps(dict(stats))),
                        ":cursor": _s(cursor_json[:CURSOR_CHARS]),
                        ":now": _n(now),
                        ":error": _s(error[:ERROR_CHARS]),
                        ":ttl": _n(expires_s(now)),
                        ":owner": _s(owner),
                        ":hop": _n(hop),
                        ":running": _s("running"),
                    },
                ),
                self._spec(
                    job_id,
                    _JOB,
                    f"ADD {'failed' if failed else 'done'} :one "
                    "SET updated_ms = :now, #ttl = :ttl, last_shard = :shard",
                    "attribute_exists(pk)",
                    {
                        ":one": _n(1),
                        ":now": _n(now),
                        ":ttl": _n(expires_s(now)),
                        ":shard": _n(shard),
                    },
                ),
            ]
        )
        if refused is not None:
            if _refused_item(refused, 0):
                raise lease_lost(job_id, shard, hop)
            raise unknown_job(job_id, f"the ledger table {self.table_name}")
        # A transaction returns nothing: the counts are read back. Shards that ended at once
        # all read them complete; the one whose write came last is the one that ended last.
        job = self._job_item(job_id)
        return bool(job) and _ended(job) and _int(job, "last_shard") == shard

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        """Take the job's teardown for ``owner``; one owner at a time ever wins.

        ``owner`` is the invocation (its request id). With ``lease_ms`` the teardown can be
        taken over once that lease has run out (its Lambda died before it could finish);
        without one it is held for good.
        """
        now = now_ms()
        values = {":owner": _s(owner), ":now": _n(now)}
        if lease_ms is None:
            expression = "SET teardown_owner = :owner, updated_ms = :now REMOVE teardown_until"
        else:
            expression = "SET teardown_owner = :owner, teardown_until = :until, updated_ms = :now"
            values[":until"] = _n(now + lease_ms)
        refused = self._update(
            job_id,
            _JOB,
            expression,
            # A job the ledger does not know has no teardown to take (nor a record to make).
            "attribute_exists(pk) AND (attribute_not_exists(teardown_owner) "
            "OR teardown_owner = :owner OR teardown_until < :now)",
            values,
        )
        return refused is None

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0) -> None:
        """The job's resources are gone; its record expires in 30 days.

        Its state becomes ``failed`` if more than ``tolerated`` shards failed (the job item
        counts them), else ``torn_down``.
        """
        job = self._job_item(job_id)
        state = ended_state(_int(job, "failed"), tolerated=tolerated)
        now = now_ms()
        self._update(
            job_id,
            _JOB,
            "SET #state = :state, updated_ms = :now, #ttl = :ttl REMOVE paused",
            "attribute_exists(pk)",
            {
                ":state": _s(state.value),
                ":now": _n(now),
                ":ttl": _n(expires_s(now, finished=True)),
            },
        )

    def reopen(self, job_id: str, shard: int) -> None:
        """A failed shard is resumed: queue it again, uncount its failure (once), and let the
        job be torn down again."""
        now = now_ms()
        self._transact(  # refused when the shard is not failed: then nothing changes
            [
                self._spec(
                    job_id,
                    _shard(shard),
                    "SET #status = :queued, updated_ms = :now, #ttl = :ttl REMOVE #error",
                    "#status = :failed",
                    {
                        ":queued": _s("queued"),
                        ":failed": _s("failed"),
                        ":now": _n(now),
                        ":ttl": _n(expires_s(now)),
                    },
                ),
                self._spec(
                    job_id,
                    _JOB,
                    "ADD failed :minus SET #state = :running, updated_ms = :now, #ttl = :ttl "
                    "REMOVE teardown_owner, teardown_until",
                    "attribute_exists(pk)",
                    {
                        ":minus": _n(-1),
                        ":running": _s(JobState.RUNNING.value),
                        ":now": _n(now),
                        ":ttl": _n(expires_s(now)),
                    },
                ),
            ]
        )

    def results(self, job_id: str) -> Iterator[ShardResult]:
        """How each shard ended, in shard order; ``""`` for a shard that has not. Read a
        Query page at a time."""
        shards = _int(self._job_item(job_id), "shards")
        expected = 0
        for item in self._query(
            job_id,
            "begins_with(sk, :prefix)",
            {":prefix": _s(_SHARD)},
            projection="shard_no, #status, #result, #error",
        ):
            shard = _int(item, "shard_no")
            for missing in range(expected, min(shard, shards)):
                yield ShardResult(missing, "")
            if expected <= shard < shards:
                yield _shard_result(item)
                expected = shard + 1
        for missing in range(expected, shards):
            yield ShardResult(missing, "")

    def put_signal(self, job_id: str, name: str, payload_json: str) -> bool:
        """Record a signal for the job; False if the same payload was recorded before."""
        packed = pack_signal(name, payload_json)
        now = now_ms()
        key = {"pk": _s(f"job#{job_id}"), "sk": _s(_SIGNAL + name)}
        refused = self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": {"pk": _s(f"job#{job_id}"), "sk": _s(_JOB)},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": self._spec(
                        job_id,
                        _SIGNAL + name,
                        "SET payload = :payload, signal_name = :name, created_ms = :now, "
                        "#ttl = :ttl",
                        "attribute_not_exists(pk)",
                        {
                            ":payload": {"B": packed},
                            ":name": _s(name),
                            ":now": _n(now),
                            ":ttl": _n(expires_s(now)),
                        },
                    )
                },
            ]
        )
        if refused is None:
            return True
        if _refused_item(refused, 0):
            raise ConfigurationError(
                f"job {job_id} is not in the ledger table {self.table_name} (never started "
                "with it, or expired): it has no signals"
            )
        recorded = self._read(
            "GetItem",
            lambda: self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True),
        ).get("Item", {})
        if same_payload(unpack_outbox(recorded["payload"]["B"]), payload_json):
            return False
        raise SignalConflictError(name, job_id)

    def signals(self, job_id: str) -> dict[str, Any]:
        """Every signal recorded for the job: name -> payload."""
        return {
            _text(item, "signal_name"): _payload(item)
            for item in self._query(job_id, "begins_with(sk, :prefix)", {":prefix": _s(_SIGNAL)})
        }

    def waiting_for(self, job_id: str, name: str) -> list[Parked]:
        """The shards that wait for signal ``name`` now, with the packet that wakes each."""
        return [
            Parked(
                _int(item, "shard_no"),
                _int(item, "hop"),
                unpack_outbox(item["outbox"]["B"]),
                _int(item, "outbox_delay"),
            )
            for item in self._query(
                job_id,
                "begins_with(sk, :prefix)",
                {":prefix": _s(_SHARD), ":waiting": _s("waiting"), ":name": _s(name)},
                filter="#status = :waiting AND waiting_for = :name AND attribute_exists(outbox)",
                projection="shard_no, hop, outbox, outbox_delay",
            )
        ]

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Record the job paused, or not; one that has ended (or is unknown) is left as it is."""
        now = now_ms()
        self._update(  # refused when the job has ended or is unknown: then nothing changes
            job_id,
            _JOB,
            "SET paused = :paused, updated_ms = :now, #ttl = :ttl",
            "attribute_exists(pk) AND NOT #state IN (:torn_down, :failed)",
            {
                ":paused": {"BOOL": paused},
                ":now": _n(now),
                ":ttl": _n(expires_s(now)),
                ":torn_down": _s(JobState.TORN_DOWN.value),
                ":failed": _s(JobState.FAILED.value),
            },
        )

    def park(self, job_id: str, bodies: Sequence[str]) -> None:
        """Keep packets in the ledger; a body parked twice is kept once."""
        packed = {parked_key(body): pack_outbox(body) for body in bodies}
        ttl = _n(expires_s(now_ms()))
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": _s(f"job#{job_id}"),
                            "sk": _s(_PARKED + key),
                            "body": {"B": data},
                            "ttl": ttl,
                        }
                    }
                }
                for key, data in packed.items()
            ]
        )

    def parked(self, job_id: str) -> list[str]:
        """Every body parked for the job; they stay parked until :meth:`forget_parked`."""
        return [
            unpack_outbox(item["body"]["B"])
            for item in self._query(job_id, "begins_with(sk, :prefix)", {":prefix": _s(_PARKED)})
        ]

    def forget_parked(self, job_id: str, bodies: Sequence[str]) -> None:
        """Forget parked bodies; one not parked is not an error."""
        keys = dict.fromkeys(parked_key(body) for body in bodies)
        self._batch_write(
            [
                {"DeleteRequest": {"Key": {"pk": _s(f"job#{job_id}"), "sk": _s(_PARKED + key)}}}
                for key in keys
            ]
        )

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state and each shard's hop, status, stats and cursor; None if unknown."""
        job = self._job_item(job_id)
        if not job:
            return None
        shards: list[ShardStatus] = []
        signals: dict[str, Any] = {}
        for item in self._query(job_id, "sk >= :from", {":from": _s(_SHARD)}):
            if "shard_no" in item:
                shards.append(_shard_status(item))
            elif "signal_name" in item:
                signals[_text(item, "signal_name")] = _payload(item)
        shards.sort(key=lambda s: s.shard)
        return JobStatus(
            job_id=job_id,
            state=job_state(
                _text(job, "state", "queued"),
                (s.status for s in shards),
                paused=_bool(job, "paused"),
                shards=_int(job, "shards"),
            ),
            shards=_int(job, "shards"),
            done=_int(job, "done"),
            failed=_int(job, "failed"),
            job_type=_text(job, "job_type"),
            function_name=_text(job, "function"),
            created_ms=_int(job, "created_ms"),
            updated_ms=_int(job, "updated_ms"),
            shard_status=tuple(shards),
            fingerprint=_text(job, "fingerprint"),
            paused=_bool(job, "paused"),
            signals=signals,
        )

    # -- the calls ------------------------------------------------------------------------------

    def _spec(
        self, job_id: str, sk: str, expression: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        """One conditional update of an item, as ``UpdateItem`` and a transaction take it."""
        names = {f"#{name}": name for name in re.findall(r"#(\w+)", f"{expression} {condition}")}
        spec: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": _s(f"job#{job_id}"), "sk": _s(sk)},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            spec["ExpressionAttributeNames"] = names
        return spec

    def _update(
        self, job_id: str, sk: str, expression: str, condition: str, values: dict[str, Any]
    ) -> Mapping[str, Any] | None:
        """A conditional ``UpdateItem``: ``None`` when applied, else the item as it was."""
        spec = self._spec(job_id, sk, expression, condition, values)
        refused = self._write(
            "UpdateItem",
            lambda: self.client.update_item(**spec, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        )
        return None if refused is None else refused.get("Item", {})

    def _transact(self, updates: list[dict[str, Any]]) -> Mapping[str, Any] | None:
        """Conditional updates of several items, all or none: ``None`` when applied, else the
        refusal (its ``CancellationReasons`` name the item whose condition failed). An update
        is an ``UpdateItem`` spec (:meth:`_spec`), or a transaction's item (``{"ConditionCheck":
        ...}``)."""
        items: Any = [u if "Key" not in u else {"Update": u} for u in updates]
        return self._write(
            "TransactWriteItems", lambda: self.client.transact_write_items(TransactItems=items)
        )

    def _write(self, operation: str, call: Callable[[], object]) -> Mapping[str, Any] | None:
        """Run a conditional write: ``None`` when applied, the error response when a condition
        refused it; tried again while it meets a concurrent write; every other error mapped."""

        def attempt() -> Mapping[str, Any] | None:
            with map_aws_errors("dynamodb", operation):
                try:
                    call()
                except ClientError as exc:
                    if _condition_failed(exc.response):
                        return exc.response
                    if _conflicted(exc.response):  # botocore does not retry these
                        error = translate(exc, service="dynamodb", operation=operation)
                        raise WriteConflict(error) from exc
                    raise
            return None

        return retry_conflicts(attempt)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """Put or delete items, :data:`_BATCH` to a ``BatchWriteItem``; what DynamoDB leaves
        unprocessed (throughput) is sent again, backing off, as a conflicted write is."""
        for start in range(0, len(requests), _BATCH):
            pending = requests[start : start + _BATCH]

            def attempt() -> None:
                nonlocal pending
                with map_aws_errors("dynamodb", "BatchWriteItem"):
                    response = self.client.batch_write_item(
                        RequestItems={self.table_name: pending}  # type: ignore[dict-item]
                    )
                left: Any = response.get("UnprocessedItems", {}).get(self.table_name, [])
                if left:
                    pending = left
                    raise WriteConflict(
                        ThrottledError(
                            f"DynamoDB left {len(left)} writes of a batch unprocessed "
                            f"in the ledger table {self.table_name}, however often retried",
                            service="dynamodb",
                            operation="BatchWriteItem",
                            code="UnprocessedItems",
                        )
                    )

            retry_conflicts(attempt)

    def _query(
        self,
        job_id: str,
        sk_condition: str,
        values: dict[str, Any],
        *,
        filter: str = "",
        projection: str = "",
    ) -> Iterator[Mapping[str, Any]]:
        """The job's items whose sort key meets ``sk_condition``, in key order, read one
        consistent ``Query`` page at a time."""
        expressions = f"{sk_condition} {filter} {projection}"
        names = {f"#{name}": name for name in re.findall(r"#(\w+)", expressions)}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"pk = :pk AND {sk_condition}",
            "ExpressionAttributeValues": {":pk": _s(f"job#{job_id}"), **values},
            "ConsistentRead": True,
        }
        if filter:
            kwargs["FilterExpression"] = filter
        if projection:
            kwargs["ProjectionExpression"] = projection
        if names:
            kwargs["ExpressionAttributeNames"] = names
        while True:
            page = self._read("Query", lambda: self.client.query(**kwargs))
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _read(self, operation: str, call: Callable[[], Any]) -> Any:
        with map_aws_errors("dynamodb", operation):
            return call()

    def _job_item(self, job_id: str) -> Mapping[str, Any]:
        response = self._read(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.table_name,
                Key={"pk": _s(f"job#{job_id}"), "sk": _s(_JOB)},
                ConsistentRead=True,
            ),
        )
        item: Mapping[str, Any] = response.get("Item", {})
        return item

    def _teardown_due(self, job_id: str) -> bool:
        job = self._job_item(job_id)
        return bool(job) and teardown_due(
            _text(job, "state"),
            shards=_int(job, "shards"),
            done=_int(job, "done"),
            failed=_int(job, "failed"),
        )


def _condition_failed(response: Mapping[str, Any]) -> bool:
    """A write's condition refused it (alone, or as one item of a transaction)."""
    if response.get("Error", {}).get("Code") == _CONDITION_FAILED:
        return True
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _conflicted(response: Mapping[str, Any]) -> bool:
    """A write was not applied because it met a concurrent one (alone, or in a transaction)."""
    if response.get("Error", {}).get("Code") == "TransactionConflictException":
        return True
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") == "TransactionConflict" for r in reasons)


def _refused_item(refusal: Mapping[str, Any], index: int) -> bool:
    """Whether the transaction's item ``index`` was the one whose condition failed."""
    reasons = refusal.get("CancellationReasons") or []
    return index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed"


def _ended(job: Mapping[str, Any]) -> bool:
    return _int(job, "done") + _int(job, "failed") >= _int(job, "shards")


def _outbox(item: Mapping[str, Any]) -> str | None:
    found = item.get("outbox")
    if found is None:
        return None
    if "B" in found:
        return unpack_outbox(found["B"])
    return str(found["S"])  # written by relaystate 0.1 (uncompressed); still read


def _shard(shard: int) -> str:
    return f"{_SHARD}{shard:06d}"


def _shard_status(item: Mapping[str, Any]) -> ShardStatus:
    return ShardStatus(
        shard=_int(item, "shard_no"),
        hop=_int(item, "hop"),
        status=_text(item, "status"),
        stats=json.loads(_text(item, "stats", "{}")),
        cursor=parse_cursor(_text(item, "cursor", "null")),
        updated_ms=_int(item, "updated_ms"),
        error=_text(item, "error"),
        wake_ms=_int(item, "wake_ms"),
        waiting=_text(item, "waiting_for"),
        timeline=entries((name, _text(item, name)) for name in item if is_slot(name)),
    )


def _timeline(entry: HopEntry | None) -> tuple[str, dict[str, Any]]:
    """The ``SET`` clause and value that keep a hop's timeline entry in its slot (none
    without one): the same write as the hop's end, so a hop still costs two writes."""
    if entry is None:
        return "", {}
    return f", {slot(entry.hop)} = :timeline", {":timeline": _s(entry.encode())}


def _shard_result(item: Mapping[str, Any]) -> ShardResult:
    status = _text(item, "status")
    if status not in ("done", "failed"):
        return ShardResult(_int(item, "shard_no"), "")
    found = item.get("result")
    result = None if found is None else json.loads(unpack_outbox(found["B"]))
    return ShardResult(_int(item, "shard_no"), status, result, _text(item, "error"))


def _payload(item: Mapping[str, Any]) -> Any:
    """A signal's payload, parsed."""
    return json.loads(unpack_outbox(item["payload"]["B"]))


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _text(item: Mapping[str, Any], name: str, default: str = "") -> str:
    return str(item.get(name, {}).get("S", default))


def _int(item: Mapping[str, Any], name: str) -> int:
    return int(item.get(name, {}).get("N", "0"))


def _bool(item: Mapping[str, Any], name: str) -> bool:
    return bool(item.get(name, {}).get("BOOL", False))
