"""The ledger's DynamoDB table: reaching it, creating it, and the calls its operations are made of.

:class:`LedgerTable` is the base of :class:`~relaystate.aws.DynamoDBLedger`; the ledger's
operations are written with its few calls, each of which decides what a refusal means once:

    _update       one conditional ``UpdateItem``: ``None`` when applied, else the item as it was
    _transact     conditional updates of several items, all or none (``TransactWriteItems``)
    _batch_write  puts and deletes, 25 to a ``BatchWriteItem``, what DynamoDB left unprocessed
                  sent again
    _query        a job's items in key order, one consistent ``Query`` page at a time
    _read         any other read

A write that meets a concurrent one (``TransactionConflict``, which botocore does not retry)
is tried again, backing off (:func:`~relaystate.ledger.retry_conflicts`); every other AWS
error becomes relaystate's own (:func:`~relaystate.aws.errors.map_aws_errors`).

Example:
    >>> table = LedgerTable("relaystate-ledger")  # doctest: +SKIP
    >>> table.create_table()  # once: on-demand, TTL on  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import ResourceConflictError, ThrottledError
from ..ledger import WriteConflict, retry_conflicts
from .config import make_client
from .dynamodb_items import key, pk
from .errors import map_aws_errors, translate

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["LedgerTable", "condition_failed", "refused_item"]

#: Requests in one ``BatchWriteItem``: DynamoDB's limit.
_BATCH = 25


class LedgerTable:
    """One DynamoDB table of the ledger (on-demand billing, TTL on finished jobs).

    Args:
        table_name: the table (make it once with :meth:`create_table`).
        session, client, config, client_kwargs: how to reach DynamoDB, as in
            :func:`relaystate.aws.aws_backend`.

    Example:
        >>> LedgerTable("relaystate-ledger", region_name="eu-west-1").table_name
        'relaystate-ledger'
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
            self._client = make_client("dynamodb", self._session, self._config, self._client_kwargs)
        return self._client

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

    # -- the calls ------------------------------------------------------------------------------

    def _spec(
        self, job_id: str, sk: str, expression: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        """One conditional update of an item, as ``UpdateItem`` and a transaction take it."""
        names = _names(expression, condition)
        spec: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key(job_id, sk),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            spec["ExpressionAttributeNames"] = dict(names)
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
                    if condition_failed(exc.response):
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
        names = _names(expressions)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"pk = :pk AND {sk_condition}",
            "ExpressionAttributeValues": {":pk": pk(job_id), **values},
            "ConsistentRead": True,
        }
        if filter:
            kwargs["FilterExpression"] = filter
        if projection:
            kwargs["ProjectionExpression"] = projection
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        while True:
            page = self._read("Query", lambda: self.client.query(**kwargs))
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _read(self, operation: str, call: Callable[[], Any]) -> Any:
        with map_aws_errors("dynamodb", operation):
            return call()

    def _item(self, job_id: str, sk: str) -> Mapping[str, Any]:
        """One item of the job's, read consistently; ``{}`` when there is none."""
        response = self._read(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.table_name, Key=key(job_id, sk), ConsistentRead=True
            ),
        )
        item: Mapping[str, Any] = response.get("Item", {})
        return item


@functools.lru_cache(maxsize=1024)
def _names(*expressions: str) -> tuple[tuple[str, str], ...]:
    """The ``#name`` placeholders of an operation's expressions, as ``ExpressionAttributeNames``
    pairs: found once per text (a hop's writes send the same few texts every time; each
    request gets its own dict of them)."""
    found = re.findall(r"#(\w+)", " ".join(expressions))
    return tuple((f"#{name}", name) for name in dict.fromkeys(found))


def condition_failed(response: Mapping[str, Any]) -> bool:
    """A write's condition refused it (alone, or as one item of a transaction)."""
    if response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
        return True
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def refused_item(refusal: Mapping[str, Any], index: int) -> bool:
    """Whether the transaction's item ``index`` was the one whose condition failed."""
    reasons = refusal.get("CancellationReasons") or []
    return index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed"


def _conflicted(response: Mapping[str, Any]) -> bool:
    """A write was not applied because it met a concurrent one (alone, or in a transaction)."""
    if response.get("Error", {}).get("Code") == "TransactionConflictException":
        return True
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") == "TransactionConflict" for r in reasons)
