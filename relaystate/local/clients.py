"""LocalLambda's own AWS clients, each hooked for the role it plays.

All are made from one boto3 session (it loads botocore's data files once, 0.1 s each) for the
runtime's one endpoint::

    the job's SQS client      behind ``lam.backend`` and ``lam.sqs``: a killed invocation's
                              call refused, the chain's trace header stamped on sends, the
                              call counted (after any injected crash or throttle), the poller
                              woken by a send; created queues remembered; AWS's latency and
                              eventual consistency when their profiles are on
    the service's SQS client  the emulated Lambda service's receives and deletes
                              (:class:`~relaystate.local.poller.QueuePoller`), counted apart;
                              eventually consistent counts when the profile is on
    a raw SQS client          with the consistency profile only: the queue deletions that
                              take effect late, unhooked
    the ledgers' clients      one :class:`~relaystate.aws.DynamoDBLedger` per table, its table
                              created on first use; counted, faults and latency as the job's
                              SQS calls; its calls one at a time (moto's conditional
                              writes are not atomic)
    the buckets' clients      one :class:`~relaystate.aws.S3Blobs` per bucket (offloaded
                              packet data), the bucket created on first use; counted, latency

The order the hooks are installed in is the order they run in: a hook that answers a call
itself (the consistency profile's, for a queue being deleted) stops those after it.

Example:
    >>> with contextlib.ExitStack() as cleanup:  # doctest: +SKIP
    ...     clients = RuntimeClients(endpoint_url, "us-east-1", accounting=accounting,
    ...                              injector=injector, on_sent=wake.set, cleanup=cleanup)
    ...     clients.job_sqs.list_queues()
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from ..aws.dynamodb import DynamoDBLedger
from ..aws.errors import map_aws_errors
from ..aws.s3 import S3Blobs
from ..errors import ResourceConflictError
from . import trace
from .accounting import CallAccounting
from .consistency import Consistency, SqsConsistency
from .faults import FaultInjector
from .latency import Latency, LatencyInjector
from .poller import QueuePoller
from .server import OneAtATime, local_client, sqs_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

__all__ = ["RuntimeClients"]


class RuntimeClients:
    """The SQS clients and DynamoDB ledgers of one LocalLambda, on its endpoint.

    Args:
        endpoint_url: the endpoint every client reaches.
        region: the clients' region.
        accounting: counts the job's calls and the service's apart.
        injector: the faults the job's calls meet.
        on_sent: called after each message the job's client sends (wakes the poller).
        cleanup: the stack the clients' closing is pushed on, in the order they are made.
        latency: AWS's latency on the job's calls; ``None``: none.
        consistency: AWS's eventual consistency of SQS; ``None``: all at once.
        clock: the consistency profile's seconds, monotonic (a virtual clock's with
            ``skip_time``: its windows pass when the clock jumps).

    Example:
        >>> clients.ledger("relaystate-ledger").table_name  # doctest: +SKIP
        'relaystate-ledger'
    """

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        *,
        accounting: CallAccounting,
        injector: FaultInjector,
        on_sent: Callable[[], None],
        cleanup: contextlib.ExitStack,
        latency: Latency | None = None,
        consistency: Consistency | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import boto3

        self._endpoint_url = endpoint_url
        self._region = region
        self._accounting = accounting
        self._injector = injector
        self._session = boto3.session.Session()
        self._lock = threading.Lock()
        self._ledgers: dict[str, DynamoDBLedger] = {}
        self._blobs: dict[str, S3Blobs] = {}

        job_client, poller_client = (self._sqs() for _ in range(2))
        cleanup.callback(job_client.close)
        cleanup.callback(poller_client.close)
        trace.install(job_client, on_call=accounting.before_sqs_call, on_sent=on_sent)
        injector.install_sqs(job_client)
        job_client.meta.events.register("after-call.sqs.CreateQueue", accounting.queue_created)
        #: AWS's latency on the job's calls, or ``None``.
        self.latency = LatencyInjector(latency) if latency else None
        if self.latency is not None:
            self.latency.install(job_client, "sqs")
        #: The job's SQS client.
        self.job_sqs: SQSClient = job_client
        #: The emulated service's SQS calls (counted before a consistency hook can answer).
        self.poller = QueuePoller(poller_client, on_call=accounting.poller_call)
        #: SQS's eventual consistency, or ``None``.
        self.sqs_consistency: SqsConsistency | None = None
        if consistency is not None:
            raw_client = self._sqs()
            cleanup.callback(raw_client.close)
            self.sqs_consistency = SqsConsistency(consistency, raw_client, clock=clock)
            self.sqs_consistency.install_job(job_client)
            self.sqs_consistency.install_service(poller_client)
            cleanup.callback(self.sqs_consistency.flush)

    def ledger(self, table_name: str) -> DynamoDBLedger:
        """The ledger in ``table_name``, its table created on first use; one per table.

        Its calls are made one at a time (:class:`~relaystate.local.server.OneAtATime` says
        why: the ledger's fencing relies on it).
        """
        with self._lock:
            found = self._ledgers.get(table_name)
            if found is not None:
                return found
            client = local_client(
                "dynamodb", self._endpoint_url, self._region, session=self._session
            )
            trace.install_alive_check(
                client, "dynamodb", on_call=self._accounting.before_dynamodb_call
            )
            self._injector.install_dynamodb(client)
            if self.latency is not None:
                self.latency.install(client, "dynamodb")
            ledger = DynamoDBLedger(table_name, client=cast("DynamoDBClient", OneAtATime(client)))
            ledger.create_table(wait_s=10.0)
            self._ledgers[table_name] = ledger
            return ledger

    def blobs(self, bucket: str) -> S3Blobs:
        """The objects of ``bucket``, the bucket created on first use; one per bucket.

        The bucket's creation is not counted: on AWS it is made beforehand, by whoever deploys.
        """
        with self._lock:
            found = self._blobs.get(bucket)
            if found is not None:
                return found
            client: S3Client = local_client(
                "s3", self._endpoint_url, self._region, session=self._session
            )
            try:
                with map_aws_errors("s3", "CreateBucket"):
                    client.create_bucket(Bucket=bucket)
            except ResourceConflictError:
                pass  # made before (by another LocalLambda of this endpoint)
            trace.install_alive_check(client, "s3", on_call=self._accounting.before_s3_call)
            if self.latency is not None:
                self.latency.install(client, "s3")
            blobs = S3Blobs(bucket, client=client)
            self._blobs[bucket] = blobs
            return blobs

    def opened_buckets(self) -> list[S3Blobs]:
        """The buckets :meth:`blobs` opened so far."""
        with self._lock:
            return list(self._blobs.values())

    def before_lambda_call(self, operation: str) -> None:
        """Before a call of the mapping registry (Lambda's API, emulated): count it, wait."""
        self._accounting.before_registry_call(operation)
        if self.latency is not None:
            self.latency.delay("lambda", operation)

    def _sqs(self) -> SQSClient:
        return sqs_client(self._endpoint_url, self._region, session=self._session)
