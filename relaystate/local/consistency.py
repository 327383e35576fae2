"""AWS's eventual consistency for LocalLambda: what moto does at once, AWS does late.

moto's counts are exact, a deleted queue is gone at once, its name is free again at once, and
the registry's mappings change state at once. AWS documents otherwise; with
``LocalLambda(consistency="aws")`` the job sees what AWS documents::

    counts lag         ApproximateNumberOfMessages(NotVisible|Delayed) read through the job's
                       SQS client show the counts of the newest earlier read (the emulated
                       service's polls included) that is at least ``count_lag_s`` old; a queue
                       created here counted 0 when it was made. AWS: "may not achieve
                       consistency until at least 1 minute after the producers stop" [1];
                       the profile's default, 3 s, keeps tests short
    deletion is late   a deleted queue still answers for ``queue_deletion_s``: a send
                       "succeeds" and the message vanishes, a receive finds nothing, its
                       attributes can still be read. AWS: "the deletion process takes up to
                       60 seconds. Requests you send involving that queue during the 60
                       seconds might succeed" [2]. The emulated Lambda service sees it gone at
                       once (``lam.left_over()`` no longer lists it); moto deletes it when the
                       time is up, or when the LocalLambda closes
    name reuse         CreateQueue of a name deleted less than ``name_reuse_s`` ago fails with
                       ``AWS.SimpleQueueService.QueueDeletedRecently`` (relaystate raises
                       QueueDeletedRecentlyError). AWS: "you must wait at least 60 seconds
                       before creating a queue with the same name" [2]. moto 5 does not do it
    mapping states     a new mapping is Creating for ``mapping_create_s``, a deleted one
                       Deleting for ``mapping_delete_s`` (the registry's transitions). AWS: a
                       deleted mapping "enters a Deleting state and might not be completely
                       deleted for several seconds" [3]; creation likewise takes seconds

[1] Amazon SQS API Reference, GetQueueAttributes. [2] Amazon SQS API Reference, DeleteQueue.
[3] AWS Lambda API Reference, DeleteEventSourceMapping.

The lag and the deletion apply to the clients LocalLambda makes (``lam.backend``, ``lam.sqs``
and the emulated service's own); a client a handler makes itself talks to moto as it is.
Times are seconds; :meth:`Consistency.scaled` shortens them all for a test.

Example:
    >>> Consistency.aws().scaled(0.1)
    Consistency(count_lag_s=0.3, queue_deletion_s=6.0, name_reuse_s=6.0, mapping_create_s=0.3, mapping_delete_s=0.3)
"""  # noqa: E501

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..errors import ConfigurationError
from ..queue_attributes import COUNT_ATTRIBUTES

__all__ = ["Consistency", "SqsConsistency"]

_PARAMS = "relaystate_consistency_params"
_GONE = "AWS.SimpleQueueService.NonExistentQueue"
_RECENT = "AWS.SimpleQueueService.QueueDeletedRecently"
#: A read of counts: when, and the counts it found.
_Sample = tuple[float, dict[str, str]]


def _seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or value < 0
    ):
        raise ConfigurationError(f"Consistency.{attribute.name} is seconds >= 0, got {value!r}")


@attrs.frozen
class Consistency:
    """How late AWS's eventual consistency makes things happen on a LocalLambda (seconds).

    Args:
        count_lag_s: how far the approximate message counts lag behind.
        queue_deletion_s: how long a deleted queue still answers.
        name_reuse_s: how long a deleted queue's name cannot be used again.
        mapping_create_s: how long a new mapping is ``Creating``.
        mapping_delete_s: how long a deleted mapping is ``Deleting``.

    Raises:
        ConfigurationError: a time that is not a number >= 0.

    Example:
        >>> with LocalLambda(consistency=Consistency(count_lag_s=10)) as lam:  # doctest: +SKIP
        ...     lam.deploy(CopyRows)
    """

    count_lag_s: float = attrs.field(default=3.0, validator=_seconds)
    queue_deletion_s: float = attrs.field(default=60.0, validator=_seconds)
    name_reuse_s: float = attrs.field(default=60.0, validator=_seconds)
    mapping_create_s: float = attrs.field(default=3.0, validator=_seconds)
    mapping_delete_s: float = attrs.field(default=3.0, validator=_seconds)

    @classmethod
    def aws(cls) -> Consistency:
        """The ``"aws"`` profile: the defaults above."""
        return cls()

    def scaled(self, factor: float) -> Consistency:
        """Every time multiplied by ``factor`` (a test's shortcut: ``0.1`` is ten times faster)."""
        return Consistency(
            *(round(value * factor, 6) for value in attrs.astuple(self))  # all are times
        )


class SqsConsistency:
    """SQS as :class:`Consistency` says, on the clients LocalLambda makes (internal).

    Args:
        consistency: the times.
        raw_client: an SQS client without hooks, for the deletions that take effect late.
        clock: seconds, monotonic.

    Example:
        >>> sqs_consistency = SqsConsistency(Consistency.aws(), raw)  # doctest: +SKIP
        >>> sqs_consistency.install_job(job_client)  # doctest: +SKIP
        >>> sqs_consistency.install_service(poller_client)  # doctest: +SKIP
    """

    def __init__(
        self,
        consistency: Consistency,
        raw_client: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consistency = consistency
        self._raw = raw_client
        self._clock = clock
        self._lock = threading.Lock()
        self._deleting: dict[str, float] = {}  # queue URL -> when DeleteQueue was called
        self._deleted_names: dict[str, float] = {}  # queue name -> likewise
        self._samples: dict[str, list[_Sample]] = {}  # queue URL -> reads of its counts

    # -- hooks ---------------------------------------------------------------------------------

    def install_job(self, client: Any) -> None:
        """The job's client: late deletion, name reuse, lagging counts."""
        events = client.meta.events
        events.register("before-parameter-build.sqs", _keep_params)
        events.register("before-call.sqs", self._job_call)
        events.register("after-call.sqs.CreateQueue", self._created)
        events.register("after-call.sqs.GetQueueAttributes", self._lag_counts)

    def install_service(self, client: Any) -> None:
        """The emulated service's client: a queue being deleted is gone; counts are sampled."""
        events = client.meta.events
        events.register("before-parameter-build.sqs", _keep_params)
        events.register("before-call.sqs", self._service_call)
        events.register("after-call.sqs.GetQueueAttributes", self._sample_counts)

    def _job_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        self.settle()
        operation, params = str(model.name), context.get(_PARAMS) or {}
        if operation == "CreateQueue":
            name = str(params.get("QueueName", ""))
            with self._lock:
                since = self._deleted_names.get(name)
            if since is not None and self._clock() - since < self.consistency.name_reuse_s:
                return _error(
                    _RECENT,
                    "You must wait 60 seconds after deleting a queue before you can create "
                    f"another with the same name ({name!r}; LocalLambda's consistency "
                    f"profile: {self.consistency.name_reuse_s:g} s).",
                )
            return None
        url = str(params.get("QueueUrl", ""))
        if not url:
            return None
        if not self.deleting(url):
            return self._start_deleting(url) if operation == "DeleteQueue" else None
        if operation == "DeleteQueue":
            return _ok({})
        if operation == "SendMessage":  # "succeeds", and the message vanishes with the queue
            return _ok(_sent(params))
        if operation == "SendMessageBatch":
            entries = params.get("Entries") or []
            return _ok({"Successful": [{"Id": e.get("Id"), **_sent(e)} for e in entries]})
        if operation == "ReceiveMessage":
            return _ok({})
        return None  # the rest is answered by the queue, which moto deletes later

    def _service_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        operation, params = str(model.name), context.get(_PARAMS) or {}
        url = str(params.get("QueueUrl", ""))
        name = str(params.get("QueueName", ""))
        gone = self.deleting(url) if url else bool(name) and self._name_deleting(name)
        if not gone:
            return None
        if operation == "ReceiveMessage":
            return _ok({})
        if operation in ("GetQueueAttributes", "GetQueueUrl"):
            return _error(_GONE, "The specified queue does not exist (it is being deleted).")
        if operation == "SendMessage":
            return _ok(_sent(params))
        return None

    def _created(self, parsed: Mapping[str, Any], **_: Any) -> None:
        url = parsed.get("QueueUrl")
        if isinstance(url, str):
            with self._lock:  # a new queue counts nothing: the first reads lag behind that
                self._samples[url] = [(self._clock(), dict.fromkeys(COUNT_ATTRIBUTES, "0"))]

    def _sample_counts(self, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        self._sample(context, parsed)

    def _lag_counts(self, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        url, attributes = self._sample(context, parsed)
        if not url or attributes is None:
            return
        with self._lock:
            samples = self._samples.get(url) or []
            cutoff = self._clock() - self.consistency.count_lag_s
            older = [counts for at, counts in samples if at <= cutoff]
            shown = older[-1] if older else samples[0][1] if samples else {}
        for key in COUNT_ATTRIBUTES:
            if key in attributes and key in shown:
                attributes[key] = shown[key]

    def _sample(
        self, context: dict[str, Any], parsed: Mapping[str, Any]
    ) -> tuple[str, dict[str, str] | None]:
        url = str((context.get(_PARAMS) or {}).get("QueueUrl", ""))
        attributes = parsed.get("Attributes")
        if not url or not isinstance(attributes, dict):
            return url, None
        counts = {k: str(attributes[k]) for k in COUNT_ATTRIBUTES if k in attributes}
        if not counts:
            return url, None
        now = self._clock()
        cutoff = now - self.consistency.count_lag_s
        with self._lock:
            samples = self._samples.setdefault(url, [])
            samples.append((now, counts))
            # Keep the newest read at least a lag old, and all that are newer.
            older = sum(1 for at, _ in samples if at <= cutoff)
            del samples[: max(older - 1, 0)]
        return url, attributes

    # -- deletion ------------------------------------------------------------------------------

    def deleting(self, url: str) -> bool:
        """Whether the queue was deleted and its deletion has not taken effect yet."""
        with self._lock:
            return url in self._deleting

    def _name_deleting(self, name: str) -> bool:
        with self._lock:
            return any(url.rstrip("/").rsplit("/", 1)[-1] == name for url in self._deleting)

    def _start_deleting(self, url: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:  # the queue must exist; otherwise DeleteQueue goes to moto and answers as it does
            self._raw.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        except (BotoCoreError, ClientError):
            return None
        now = self._clock()
        with self._lock:
            self._deleting[url] = now
            self._deleted_names[url.rstrip("/").rsplit("/", 1)[-1]] = now
            self._samples.pop(url, None)
        return _ok({})

    def settle(self) -> None:
        """Let the deletions whose time is up take effect (moto deletes those queues)."""
        cutoff = self._clock() - self.consistency.queue_deletion_s
        with self._lock:
            due = [url for url, at in self._deleting.items() if at <= cutoff]
            horizon = self._clock() - self.consistency.name_reuse_s
            for name in [n for n, at in self._deleted_names.items() if at <= horizon]:
                del self._deleted_names[name]
        self._delete(due)

    def flush(self) -> None:
        """Let every pending deletion take effect now (the LocalLambda closes)."""
        with self._lock:
            due = list(self._deleting)
        self._delete(due)

    def _delete(self, urls: list[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for url in urls:
            # Gone already is what deleting it was for; a failure leaves it to moto's reset.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._raw.delete_queue(QueueUrl=url)
            with self._lock:
                self._deleting.pop(url, None)


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """``before-parameter-build``: keep the call's parameters for the ``before-call`` hook."""
    context[_PARAMS] = params


def _sent(params: Mapping[str, Any]) -> dict[str, str]:
    body = str(params.get("MessageBody", "")).encode("utf-8")
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
    return {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": digest}


def _ok(parsed: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    return AWSResponse("", 200, HTTPHeaders(), None), {
        **parsed,
        "ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0},
    }


def _error(code: str, message: str) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    return AWSResponse("", 400, HTTPHeaders(), None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
    }
