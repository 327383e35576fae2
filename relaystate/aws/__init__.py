"""The boto3 adapters of the backend ports, and the default backend for real AWS.

Example:
    >>> from relaystate.aws import DynamoDBLedger, aws_backend
    >>> backend = aws_backend(region_name="eu-west-1")  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..lazy import loader
from ..ports import Backend
from .config import client_config
from .errors import ERROR_CODES, map_aws_errors
from .lambda_ import LambdaMappings
from .sqs import SqsQueues

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient

    from .dynamodb import DynamoDBLedger
    from .s3 import S3Blobs

__all__ = [
    "ERROR_CODES",
    "DynamoDBLedger",
    "LambdaMappings",
    "S3Blobs",
    "SqsQueues",
    "aws_backend",
    "client_config",
    "default_backend",
    "map_aws_errors",
    "override_default_backend",
]


def aws_backend(
    *,
    session: boto3.Session | None = None,
    sqs_client: SQSClient | None = None,
    lambda_client: LambdaClient | None = None,
    config: Config | None = None,
    **client_kwargs: Any,
) -> Backend:
    """A backend on real AWS (or any endpoint the clients point at).

    Args:
        session: the boto3 session to make clients from (default: a new default session);
            its region is used.
        sqs_client, lambda_client: ready clients, used as they are.
        config: botocore config for clients made here (default: standard retries, timeouts).
        client_kwargs: passed to ``session.client`` (e.g. ``region_name``, ``endpoint_url``).

    Raises:
        ConfigurationError: no region is configured.
        CredentialsError: the named profile does not exist.

    Example:
        >>> backend = aws_backend(region_name="eu-west-1")  # doctest: +SKIP
        >>> job = CopyRows(data={"table": "users"}, backend=backend)  # doctest: +SKIP
    """
    if sqs_client is None or lambda_client is None:
        import boto3

        config = config or client_config()
        # Making a session or client can fail too (no region, unknown profile): map it as well.
        with map_aws_errors("boto3", "Session"):
            session = session or boto3.Session()
        if sqs_client is None:
            with map_aws_errors("sqs", "CreateClient"):
                sqs_client = session.client("sqs", config=config, **client_kwargs)
        if lambda_client is None:
            with map_aws_errors("lambda", "CreateClient"):
                lambda_client = session.client("lambda", config=config, **client_kwargs)

    beside_sqs = {**_where_sqs_is(sqs_client), **client_kwargs}
    made: dict[str, DynamoDBLedger] = {}
    made_lock = threading.Lock()

    def ledgers(table_name: str) -> DynamoDBLedger:
        # One ledger (and DynamoDB client) per table for the backend's life: every hop of a
        # warm Lambda asks for it again.
        from .dynamodb import DynamoDBLedger  # loaded by a job with a ledger only

        with made_lock:
            if table_name not in made:
                made[table_name] = DynamoDBLedger(
                    table_name, session=session, config=config, **beside_sqs
                )
            return made[table_name]

    buckets: dict[str, S3Blobs] = {}

    def blobs(bucket: str) -> S3Blobs:
        # As the ledgers: one per bucket; its S3 client is made on its first call.
        from .s3 import S3Blobs  # loaded by a job with an offload only

        with made_lock:
            if bucket not in buckets:
                buckets[bucket] = S3Blobs(bucket, session=session, config=config, **beside_sqs)
            return buckets[bucket]

    return Backend(
        queues=SqsQueues(sqs_client),
        mappings=LambdaMappings(lambda_client),
        ledgers=ledgers,
        blobs=blobs,
    )


# Loaded on first use: a worker without a ledger or an offload does not pay for them at cold
# start (DynamoDB's adapter brings the ledger's records and the timeline).
_LAZY = {"DynamoDBLedger": "dynamodb", "S3Blobs": "s3"}


__getattr__ = loader(__name__, _LAZY, globals())


def _where_sqs_is(sqs_client: Any) -> dict[str, Any]:
    """The region, and a non-AWS endpoint (LocalStack, moto), of the SQS client: the ledger's
    DynamoDB goes to the same place."""
    found: dict[str, Any] = {}
    meta = getattr(sqs_client, "meta", None)
    region = getattr(meta, "region_name", None)
    if isinstance(region, str) and region:
        found["region_name"] = region
    endpoint = getattr(meta, "endpoint_url", None)
    host = urlsplit(endpoint).hostname if isinstance(endpoint, str) else None
    if host and not host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        found["endpoint_url"] = endpoint
    return found


_default: Backend | None = None
_default_lock = threading.Lock()
#: Backends that stand in for the default one, newest last (a LocalLambda's while it is open).
_overrides: list[Backend] = []


def default_backend() -> Backend:
    """The process-wide backend on the default boto3 session, made on first use.

    Kept for the life of the process, so a warm Lambda reuses its clients and connections.
    While a backend stands in for it (:func:`override_default_backend`; a
    :class:`~relaystate.local.LocalLambda` does so while it is open), that backend is returned
    instead, and nothing is made or kept for AWS.
    """
    global _default
    with _default_lock:
        if _overrides:
            return _overrides[-1]
        if _default is None:
            _default = aws_backend()
        return _default


def override_default_backend(backend: Backend) -> Callable[[], None]:
    """Make :func:`default_backend` return ``backend`` until the returned function is called.

    Overrides nest: the newest one still in place wins, and undoing one (in any order)
    leaves the others in place. Undoing twice is harmless.

    Example:
        >>> from relaystate.testing import memory_backend
        >>> backend = memory_backend()
        >>> undo = override_default_backend(backend)
        >>> default_backend() is backend
        True
        >>> undo()
    """
    with _default_lock:
        _overrides.append(backend)

    def undo() -> None:
        with _default_lock:
            for i in range(len(_overrides) - 1, -1, -1):
                if _overrides[i] is backend:
                    del _overrides[i]
                    return

    return undo
