"""Call accounting for LocalLambda: the job's AWS calls and the emulated service's, kept apart.

Two counters, by operation name::

    aws_calls      every AWS call made through ``lam.backend`` -- its SQS client, its mapping
                   registry, a ``lam.ledger()``'s DynamoDB client, a ``lam.blobs()``'s S3
                   client -- by jobs, handlers and tests: what the job would make (and pay
                   for) on AWS, what a test asserts on
    poller_calls   the SQS calls the emulated Lambda service makes itself for a mapping
                   (receive, delete, change visibility): the service's own on AWS, so they
                   never count as the job's

A call of the job passes the fault injector first (:class:`~relaystate.local.Faults`): an
injected crash strikes before the call, which is then neither made nor counted; an injected
throttle is counted, as AWS counts a call it refuses. A killed invocation's call is refused
before all of that (:func:`~relaystate.local.trace.check_alive`: the SQS, DynamoDB and S3
client hooks check it themselves, the registry's calls here). The queues ``CreateQueue`` made are
remembered too, so that ``lam.left_over()`` can tell which still exist.

Example:
    >>> from relaystate.local.faults import FaultInjector, Faults
    >>> accounting = CallAccounting(FaultInjector(Faults()))
    >>> accounting.before_sqs_call("SendMessage")
    >>> accounting.poller_call("ReceiveMessage")
    >>> accounting.aws_calls, accounting.poller_calls
    (Counter({'SendMessage': 1}), Counter({'ReceiveMessage': 1}))
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from typing import Any

from . import trace
from .faults import FaultInjector

__all__ = ["CallAccounting"]


class CallAccounting:
    """Counts the AWS calls of one LocalLambda; its methods are the clients' hooks.

    Args:
        injector: the fault injector the job's calls pass before they are counted.

    Example:
        >>> accounting = CallAccounting(FaultInjector(Faults()))  # doctest: +SKIP
        >>> trace.install(job_client, on_call=accounting.before_sqs_call, on_sent=wake.set)
        ... # doctest: +SKIP
    """

    def __init__(self, injector: FaultInjector) -> None:
        self._injector = injector
        self._lock = threading.Lock()
        self._aws_calls: collections.Counter[str] = collections.Counter()
        self._poller_calls: collections.Counter[str] = collections.Counter()
        self._created_queues: dict[str, None] = {}

    @property
    def aws_calls(self) -> collections.Counter[str]:
        """The job's calls so far (a copy)."""
        with self._lock:
            return collections.Counter(self._aws_calls)

    @property
    def poller_calls(self) -> collections.Counter[str]:
        """The emulated service's own calls so far (a copy)."""
        with self._lock:
            return collections.Counter(self._poller_calls)

    @property
    def created_queues(self) -> list[str]:
        """The URLs of the queues created through the job's SQS client, in order."""
        with self._lock:
            return list(self._created_queues)

    def before_sqs_call(self, operation: str) -> None:
        """Before a call of the job's SQS client."""
        self._before_call("sqs", operation)

    def before_dynamodb_call(self, operation: str) -> None:
        """Before a call of a ledger's DynamoDB client."""
        self._before_call("dynamodb", operation)

    def before_s3_call(self, operation: str) -> None:
        """Before a call of an offload's S3 client (never throttled: S3 is not in
        :class:`~relaystate.local.Faults`' table)."""
        self._before_call("s3", operation)

    def before_registry_call(self, operation: str) -> None:
        """Before a call of the mapping registry (Lambda's API, emulated: never throttled)."""
        trace.check_alive()
        self._injector.before_call(operation)
        self._count(self._aws_calls, operation)

    def poller_call(self, operation: str) -> None:
        """Before a call the emulated service makes itself."""
        self._count(self._poller_calls, operation)

    def queue_created(self, parsed: Mapping[str, Any], **_: Any) -> None:
        """botocore's ``after-call.sqs.CreateQueue``: remember the new queue's URL."""
        url = parsed.get("QueueUrl")
        if isinstance(url, str):
            with self._lock:
                self._created_queues[url] = None

    def _before_call(self, service: str, operation: str) -> None:
        self._injector.before_call(operation)  # an injected crash: the call is not made
        self._count(self._aws_calls, operation)
        self._injector.throttle(service, operation)  # made, and refused

    def _count(self, counter: collections.Counter[str], operation: str) -> None:
        with self._lock:
            counter[operation] += 1
