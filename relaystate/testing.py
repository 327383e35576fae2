"""In-memory fakes for fast unit tests of relay jobs: no I/O, no endpoint, a fake clock.

For tests that need the real SQS protocol, the event shape and redelivery, use
:class:`relaystate.local.LocalLambda`. These fakes are for the job's own logic:

Example:
    >>> from relaystate import DONE, RelayJob
    >>> from relaystate.testing import memory_backend, sqs_event
    >>> class Once(RelayJob):
    ...     function_name = "once-worker"
    ...     def step(self, cursor):
    ...         return DONE
    >>> backend = memory_backend()
    >>> job = Once(backend=backend).start()
    >>> body = backend.queues.pop(job.packet.queue_url)
    >>> Once.handle(sqs_event(body), None, backend=backend)
    {'batchItemFailures': []}
    >>> backend.queues.queues
    {}
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .errors import ResourceNotFoundError
from .names import queue_name_of
from .ports import Backend, MappingInfo, QueueRef

__all__ = [
    "FakeClock",
    "FakeContext",
    "FakeQueue",
    "MemoryBackend",
    "MemoryMappings",
    "MemoryQueues",
    "UnitsPerHop",
    "memory_backend",
    "sqs_event",
]

ACCOUNT = "123456789012"


@attrs.define
class FakeQueue:
    """A queue of :class:`MemoryQueues`: its messages are ``(body, delay_seconds)``."""

    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    messages: list[tuple[str, int]] = attrs.field(factory=list)  # (body, delay)


class MemoryQueues:
    """:class:`~relaystate.ports.QueuePort` in memory; records every call in ``calls``."""

    def __init__(self) -> None:
        self.queues: dict[str, FakeQueue] = {}
        self.calls: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def url(self, name: str) -> str:
        return f"https://sqs.test/{ACCOUNT}/{name}"

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        self.calls.append(("create", name))
        url = self.url(name)
        self.queues.setdefault(url, FakeQueue(name, dict(attributes), dict(tags)))
        return QueueRef(url=url, arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}")

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        self.calls.append(("set_attributes", url))
        self._queue(url).attributes.update(attributes)

    def delete(self, url: str) -> None:
        self.calls.append(("delete", url))
        self.queues.pop(url, None)

    def describe(self, url: str) -> Mapping[str, str] | None:
        self.calls.append(("describe", url))
        queue = self.queues.get(url)
        if queue is None:
            return None
        return {
            **queue.attributes,
            "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue.name}",
            "ApproximateNumberOfMessages": str(len(queue.messages)),
        }

    def _queue(self, url: str) -> FakeQueue:
        try:
            return self.queues[url]
        except KeyError:
            raise ResourceNotFoundError(f"no queue {url}", code="QueueDoesNotExist") from None

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        self.calls.append(("send", url))
        self._queue(url).messages.append((body, delay_seconds))
        return f"m-{next(self._ids)}"

    def send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int = 0) -> list[str]:
        self.calls.append(("send_batch", url))
        assert len(bodies) <= 10
        queue = self._queue(url)
        queue.messages.extend((body, delay_seconds) for body in bodies)
        return [f"m-{next(self._ids)}" for _ in bodies]

    def pop(self, url: str) -> str:
        """Take the oldest message's body off the queue (as a consumer that deleted it)."""
        body, _ = self._queue(url).messages.pop(0)
        return body


class MemoryMappings:
    """:class:`~relaystate.ports.MappingPort` in memory; mappings are Enabled at once."""

    def __init__(self, timeout_s: int = 60) -> None:
        self.timeout_s = timeout_s
        self.mappings: dict[str, MappingInfo] = {}
        self.recursion: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def function_timeout_s(self, function_name: str) -> int:
        self.calls.append(("function_timeout_s", function_name))
        return self.timeout_s

    def create(
        self, function_name: str, queue_arn: str, *, batch_size: int, max_concurrency: int | None
    ) -> MappingInfo:
        self.calls.append(("create", queue_arn))
        info = MappingInfo(f"map-{next(self._ids)}", "Enabled", queue_arn, function_name)
        self.mappings[info.id] = info
        return info

    def get(self, mapping_id: str) -> MappingInfo | None:
        return self.mappings.get(mapping_id)

    def delete(self, mapping_id: str) -> None:
        self.calls.append(("delete", mapping_id))
        self.mappings.pop(mapping_id, None)

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        self.calls.append(("list_for_queue", queue_arn))
        return [info for info in self.mappings.values() if info.queue_arn == queue_arn]

    def allow_recursion(self, function_name: str) -> None:
        self.calls.append(("allow_recursion", function_name))
        self.recursion[function_name] = "Allow"


@attrs.frozen(kw_only=True)
class MemoryBackend(Backend):
    """A :class:`~relaystate.ports.Backend` whose ports are :class:`MemoryQueues` and
    :class:`MemoryMappings` (typed, so tests can reach their records)."""

    queues: MemoryQueues
    mappings: MemoryMappings


def memory_backend(timeout_s: int = 60) -> MemoryBackend:
    """A backend that keeps queues and mappings in memory; functions time out at ``timeout_s``."""
    return MemoryBackend(
        queues=MemoryQueues(),
        mappings=MemoryMappings(timeout_s),
        mapping_poll_s=0.0,
        mapping_wait_s=1.0,
    )


class FakeContext:
    """A Lambda context whose remaining time runs on a :class:`FakeClock` (milliseconds)."""

    def __init__(self, clock: FakeClock, timeout_ms: float) -> None:
        self.clock = clock
        self.deadline = clock.now + timeout_ms
        self.function_name = "worker"
        self.aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.deadline - self.clock.now)


@attrs.define
class FakeClock:
    """A clock in milliseconds that moves only when told to."""

    now: float = 0.0

    def advance(self, ms: float) -> None:
        self.now += ms


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event as Lambda delivers it, one record per body (message ids ``msg-0``...).

    Each record's ``eventSourceARN`` is the queue its packet names (``q`` for a body that is
    not a packet), as if it came from there.
    """
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{_queue_name(body)}",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def _queue_name(body: str) -> str:
    try:
        url = json.loads(body).get("queue_url") or json.loads(body).get("QueueUrl")
    except (ValueError, AttributeError, RecursionError):
        return "q"
    return queue_name_of(url) if isinstance(url, str) and url else "q"


class UnitsPerHop:
    """A budget that ends every hop after ``units`` units, however fast they are.

    For tests that want many short hops whatever the machine's speed: set
    ``budget = UnitsPerHop.of(10)`` on a job class.

    Example:
        >>> budget = UnitsPerHop.of(2)(None)
        >>> budget.start(1_000)
        >>> [budget.should_continue(1_000), budget.record_unit(1.0), budget.record_unit(1.0)]
        [True, None, None]
        >>> budget.should_continue(1_000)
        False
    """

    units = 1

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        self._done = 0

    @classmethod
    def of(cls, units: int) -> type[UnitsPerHop]:
        """A budget class that allows ``units`` units a hop."""
        return type(f"UnitsPerHop{units}", (cls,), {"units": units})

    def start(self, remaining_ms: float) -> None:
        self._done = 0

    def should_continue(self, remaining_ms: float) -> bool:
        return self._done < self.units

    def record_unit(self, elapsed_ms: float) -> None:
        self._done += 1

    def record_send(self, elapsed_ms: float) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {}
