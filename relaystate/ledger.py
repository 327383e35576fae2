"""The progress ledger: exactly-once hops under SQS's at-least-once delivery.

SQS may deliver a packet twice, and a Lambda may die mid-hop. With a ledger, every hop first
*claims* its shard with a conditional write (fencing), records its checkpoint and the next
packet (an *outbox*) before it sends that packet, and the last shard to finish -- counted in
the ledger -- tears the job down, exactly once.

One DynamoDB table serves all jobs of an account and region::

    pk = "job#<job id>", sk = "#job"          shards, done, failed, state, teardown owner, ttl
    pk = "job#<job id>", sk = "shard#<n>"     hop, status, lease owner and expiry, stats,
                                              cursor, outbox (the next packet) and whether sent

A claim of hop ``h`` of a shard succeeds when the shard is unknown, behind ``h``, or at ``h``
and ``queued``/``failed``, or ``running`` under an expired lease (its Lambda died). Otherwise
the delivery is a duplicate: of a hop that is done (acknowledged without running a unit, and
its outbox re-sent if the crash came between checkpoint and send), or of a hop that is running
now (left for redelivery: it is acknowledged once that hop is done).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .clock import now_ms
from .errors import LeaseLostError, PacketTooLargeError, RelayError
from .states import JobState

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "MAX_OUTBOX_BYTES",
    "Claim",
    "DynamoDBLedger",
    "JobStatus",
    "LeaseLostError",
    "ShardStatus",
]

#: DynamoDB items hold at most 400 KB; the outbox packet must fit with the rest of the item.
MAX_OUTBOX_BYTES = 380_000
#: Finished jobs' items expire (DynamoDB TTL) after this many seconds.
FINISHED_TTL_S = 30 * 86_400

ClaimOutcome = Literal["run", "duplicate", "busy", "resend", "teardown"]


@attrs.frozen
class Claim:
    """What a hop may do with its delivery.

    ``run``: work the hop. ``duplicate``: acknowledge, do nothing. ``busy``: the same hop runs
    elsewhere now; leave the message for redelivery. ``resend``: the hop checkpointed but may
    not have sent its next packet: send ``outbox`` again. ``teardown``: every shard is done but
    the teardown did not complete: do it (``owner`` holds it).
    """

    outcome: ClaimOutcome
    outbox: str = ""
    owner: str = ""


@attrs.frozen
class ShardStatus:
    """One shard as the ledger has it."""

    shard: int
    hop: int
    status: str
    stats: Mapping[str, int]
    cursor: Any
    updated_ms: int
    error: str = ""


@attrs.frozen
class JobStatus:
    """A job as the ledger has it: its state and every shard that has run."""

    job_id: str
    state: JobState
    shards: int
    done: int
    failed: int
    job_type: str
    function_name: str
    created_ms: int
    updated_ms: int
    shard_status: tuple[ShardStatus, ...] = ()

    @property
    def units(self) -> int:
        """Units done, summed over the shards."""
        return sum(s.stats.get("units", 0) for s in self.shard_status)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


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
        ...     ledger = DynamoDBLedger("relaystate-ledger")
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
            from .aws import _default_config
            from .aws.errors import map_aws_errors

            with map_aws_errors("dynamodb", "client"):
                import boto3

                session = self._session or boto3.Session()
                self._client = session.client(
                    "dynamodb", config=self._config or _default_config(), **self._client_kwargs
                )
        return self._client

    # -- administration -------------------------------------------------------------------

    def create_table(self, *, wait_s: float = 120.0) -> None:
        """Create the table (pk/sk strings, on-demand) and turn on TTL; an existing one is kept."""
        from .aws.errors import map_aws_errors
        from .errors import ResourceConflictError

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
            with map_aws_errors("dynamodb", "DescribeTable"):
                status = self.client.describe_table(TableName=self.table_name)["Table"]
            if status.get("TableStatus") == "ACTIVE":
                break
            time.sleep(1.0)
        with map_aws_errors("dynamodb", "UpdateTimeToLive"):
            self.client.update_time_to_live(
                TableName=self.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
            )

    # -- the job ------------------------------------------------------------------------------

    def open_job(self, job_id: str, *, shards: int, job_type: str, function_name: str) -> None:
        """Record a new job (idempotent): its shard count is what the join counts to."""
        now = now_ms()
        self._call(
            "PutItem",
            lambda: self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": _s(f"job#{job_id}"),
                    "sk": _s("#job"),
                    "shards": _n(shards),
                    "done": _n(0),
                    "failed": _n(0),
                    "state": _s(JobState.QUEUED.value),
                    "job_type": _s(job_type),
                    "function": _s(function_name),
                    "created_ms": _n(now),
                    "updated_ms": _n(now),
                },
                ConditionExpression="attribute_not_exists(pk)",
            ),
            conditional=True,
        )

    def claim(self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int) -> Claim:
        """Claim hop ``hop`` of a shard for ``owner`` until ``lease_ms`` from now."""
        now = now_ms()
        failed, old = self._update(
            job_id,
            shard,
            "SET #st = :running, #owner = :owner, lease_until = :until, hop = :hop, "
            "updated_ms = :now, shard_no = :shard",
            "attribute_not_exists(pk) OR hop < :hop OR (hop = :hop AND (#st IN (:queued, "
            ":failed) OR (#st = :running AND (lease_until < :now OR #owner = :owner))))",
            {
                ":running": _s("running"),
                ":queued": _s("queued"),
                ":failed": _s("failed"),
                ":owner": _s(owner),
                ":until": _n(now + lease_ms),
                ":hop": _n(hop),
                ":now": _n(now),
                ":shard": _n(shard),
            },
        )
        if not failed:
            return Claim("run")
        item_hop = int(old["hop"]["N"])
        status = old.get("status", {}).get("S", "")
        if item_hop == hop and status == "running":
            return Claim("busy")
        if item_hop == hop + 1 and not old.get("sent", {}).get("BOOL", True):
            return Claim("resend", outbox=old.get("outbox", {}).get("S", ""))
        if item_hop == hop and status == "done":
            job = self._job_item(job_id)
            if job and self._all_ended(job) and job.get("state", {}).get("S") != "torn_down":
                return Claim("teardown", owner=f"{shard}:{hop}")
        return Claim("duplicate")

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
    ) -> None:
        """Record the hop's checkpoint and the next packet (not yet sent), fenced by the lease."""
        size = len(outbox.encode("utf-8"))
        if size > MAX_OUTBOX_BYTES:
            raise PacketTooLargeError(size, MAX_OUTBOX_BYTES)
        failed, _ = self._update(
            job_id,
            shard,
            "SET hop = :next, #st = :queued, outbox = :outbox, sent = :false, stats = :stats, "
            "#cursor = :cursor, updated_ms = :now REMOVE #owner, lease_until",
            "#owner = :owner AND hop = :hop AND #st = :running",
            {
                ":next": _n(hop + 1),
                ":queued": _s("queued"),
                ":outbox": _s(outbox),
                ":false": {"BOOL": False},
                ":stats": _s(json.dumps(dict(stats))),
                ":cursor": _s(cursor_json[:4096]),
                ":now": _n(now_ms()),
                ":owner": _s(owner),
                ":hop": _n(hop),
                ":running": _s("running"),
            },
        )
        if failed:
            raise LeaseLostError(
                f"hop {hop} of job {job_id} shard {shard} was taken over by another invocation "
                "(this one outlived its lease); its work is discarded, the other goes on"
            )

    def mark_sent(self, job_id: str, shard: int, next_hop: int) -> None:
        """The outbox packet for ``next_hop`` was sent."""
        self._update(
            job_id,
            shard,
            "SET sent = :true REMOVE outbox",
            "hop = :hop",
            {":true": {"BOOL": True}, ":hop": _n(next_hop)},
        )

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
    ) -> bool:
        """The shard is done (or failed); count it. True when every shard has ended."""
        status = "failed" if failed else "done"
        counter = "failed" if failed else "done"
        now = now_ms()
        self._transact(
            job_id,
            [
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": self._key(job_id, f"shard#{shard:06d}"),
                        "UpdateExpression": "SET #st = :status, stats = :stats, "
                        "#cursor = :cursor, updated_ms = :now, #error = :error "
                        "REMOVE #owner, lease_until",
                        "ConditionExpression": "#owner = :owner AND hop = :hop AND #st = :running",
                        "ExpressionAttributeNames": {
                            "#st": "status",
                            "#owner": "owner",
                            "#cursor": "cursor",
                            "#error": "error",
                        },
                        "ExpressionAttributeValues": {
                            ":status": _s(status),
                            ":stats": _s(json.dumps(dict(stats))),
                            ":cursor": _s(cursor_json[:4096]),
                            ":now": _n(now),
                            ":error": _s(error[:2000]),
                            ":owner": _s(owner),
                            ":hop": _n(hop),
                            ":running": _s("running"),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": self._key(job_id, "#job"),
                        "UpdateExpression": f"ADD {counter} :one SET updated_ms = :now",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":one": _n(1), ":now": _n(now)},
                    }
                },
            ],
            what=f"hop {hop} of job {job_id} shard {shard}",
        )
        job = self._job_item(job_id)
        return bool(job) and self._all_ended(job)

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        """Take the job's teardown for ``owner``; one owner at a time ever wins.

        ``owner`` is the invocation (its request id). With ``lease_ms`` the teardown can be
        taken over once that lease has run out (its Lambda died before it could finish);
        without one it is held for good.
        """
        now = now_ms()
        if lease_ms is None:
            expression = "SET teardown_owner = :owner, updated_ms = :now REMOVE teardown_until"
            values = {":owner": _s(owner), ":now": _n(now)}
        else:
            expression = "SET teardown_owner = :owner, teardown_until = :until, updated_ms = :now"
            values = {":owner": _s(owner), ":now": _n(now), ":until": _n(now + lease_ms)}
        failed, _ = self._update_job(
            job_id,
            expression,
            "attribute_not_exists(teardown_owner) OR teardown_owner = :owner "
            "OR teardown_until < :now",
            values,
        )
        return not failed

    def mark_torn_down(self, job_id: str) -> None:
        """The job's resources are gone; its items expire in 30 days.

        Its state becomes ``failed`` if any shard failed (the job item counts them), else
        ``torn_down``.
        """
        job = self._job_item(job_id)
        failed = bool(job) and int(job.get("failed", {}).get("N", "0")) > 0
        state = JobState.FAILED if failed else JobState.TORN_DOWN
        self._update_job(
            job_id,
            "SET #st = :state, updated_ms = :now, #ttl = :ttl",
            "attribute_exists(pk)",
            {
                ":state": _s(state.value),
                ":now": _n(now_ms()),
                ":ttl": _n(int(time.time()) + FINISHED_TTL_S),
            },
            names={"#st": "state", "#ttl": "ttl"},
        )

    def reopen(self, job_id: str, shard: int) -> None:
        """A failed shard is resumed: uncount its failure and let the job be torn down again."""
        self._update_job(
            job_id,
            "ADD failed :minus SET #st = :running, updated_ms = :now "
            "REMOVE teardown_owner, teardown_until, #ttl",
            "failed > :zero",
            {
                ":minus": _n(-1),
                ":zero": _n(0),
                ":running": _s(JobState.RUNNING.value),
                ":now": _n(now_ms()),
            },
            names={"#st": "state", "#ttl": "ttl"},
        )

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state and each shard's hop, status, stats and cursor; None if unknown."""
        items: list[Mapping[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(f"job#{job_id}")},
            "ConsistentRead": True,
        }
        while True:
            page = self._call("Query", lambda: self.client.query(**kwargs))
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        job = next((i for i in items if i["sk"]["S"] == "#job"), None)
        if job is None:
            return None
        shards = tuple(
            ShardStatus(
                shard=int(i["shard_no"]["N"]),
                hop=int(i["hop"]["N"]),
                status=i.get("status", {}).get("S", ""),
                stats=json.loads(i.get("stats", {}).get("S", "{}")),
                cursor=_loads(i.get("cursor", {}).get("S", "null")),
                updated_ms=int(i.get("updated_ms", {}).get("N", "0")),
                error=i.get("error", {}).get("S", ""),
            )
            for i in items
            if i["sk"]["S"].startswith("shard#") and "shard_no" in i
        )
        return JobStatus(
            job_id=job_id,
            state=_state(job, shards),
            shards=int(job["shards"]["N"]),
            done=int(job["done"]["N"]),
            failed=int(job["failed"]["N"]),
            job_type=job.get("job_type", {}).get("S", ""),
            function_name=job.get("function", {}).get("S", ""),
            created_ms=int(job.get("created_ms", {}).get("N", "0")),
            updated_ms=int(job.get("updated_ms", {}).get("N", "0")),
            shard_status=tuple(sorted(shards, key=lambda s: s.shard)),
        )

    # -- primitives ------------------------------------------------------------------------------

    def _key(self, job_id: str, sk: str) -> dict[str, Any]:
        return {"pk": _s(f"job#{job_id}"), "sk": _s(sk)}

    def _call(self, operation: str, call: Any, *, conditional: bool = False) -> Any:
        from botocore.exceptions import ClientError

        from .aws.errors import map_aws_errors

        try:
            with map_aws_errors("dynamodb", operation):
                try:
                    return call()
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if conditional and code == "ConditionalCheckFailedException":
                        return exc.response
                    raise
        except RelayError:
            raise

    def _update(
        self,
        job_id: str,
        shard: int,
        expression: str,
        condition: str,
        values: dict[str, Any],
    ) -> tuple[bool, Mapping[str, Any]]:
        """A conditional UpdateItem on a shard item: (condition failed?, the item if it failed)."""
        response = self._call(
            "UpdateItem",
            lambda: self.client.update_item(
                TableName=self.table_name,
                Key=self._key(job_id, f"shard#{shard:06d}"),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(expression + condition),
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
            conditional=True,
        )
        failed = response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        return failed, response.get("Item", {}) if failed else {}

    def _update_job(
        self,
        job_id: str,
        expression: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> tuple[bool, Mapping[str, Any]]:
        kwargs: dict[str, Any] = {}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        response = self._call(
            "UpdateItem",
            lambda: self.client.update_item(
                TableName=self.table_name,
                Key=self._key(job_id, "#job"),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                **kwargs,
            ),
            conditional=True,
        )
        failed = response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        return failed, {}

    def _transact(self, job_id: str, items: list[Any], *, what: str) -> None:
        from botocore.exceptions import ClientError

        from .aws.errors import map_aws_errors

        with map_aws_errors("dynamodb", "TransactWriteItems"):
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code") for r in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    raise LeaseLostError(
                        f"{what} was taken over by another invocation; this one stops"
                    ) from exc
                raise

    def _job_item(self, job_id: str) -> Mapping[str, Any]:
        response = self._call(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.table_name, Key=self._key(job_id, "#job"), ConsistentRead=True
            ),
        )
        item: Mapping[str, Any] = response.get("Item", {})
        return item

    @staticmethod
    def _all_ended(job: Mapping[str, Any]) -> bool:
        ended = int(job["done"]["N"]) + int(job["failed"]["N"])
        return ended >= int(job["shards"]["N"])


_NAMES = {"#st": "status", "#owner": "owner", "#cursor": "cursor", "#error": "error"}


def _names(expression: str) -> dict[str, str]:
    return {k: v for k, v in _NAMES.items() if k in expression}


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _state(job: Mapping[str, Any], shards: tuple[ShardStatus, ...]) -> JobState:
    recorded = job.get("state", {}).get("S", "queued")
    try:
        state = JobState(recorded)
    except ValueError:
        return JobState.QUEUED
    if state is JobState.QUEUED and any(s.status in ("running", "queued") for s in shards):
        return JobState.RUNNING
    return state
