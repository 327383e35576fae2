"""The backend in memory: its queues and mappings here, its ledgers in :mod:`.ledger`, its
objects in :mod:`.blobs`.

Example:
    >>> backend = memory_backend()
    >>> ref = backend.queues.create("relay-1", {}, {})
    >>> backend.queues.send(ref.url, "hello")
    'm-1'
    >>> backend.queues.pop(ref.url)
    'hello'
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Mapping, Sequence

import attrs

from ..errors import ResourceNotFoundError
from ..ports import Backend, BlobPort, LedgerPort, MappingInfo, QueueRef
from .blobs import blobs_per_bucket
from .ledger import MemoryLedger

__all__ = [
    "ACCOUNT",
    "FakeQueue",
    "MemoryBackend",
    "MemoryMappings",
    "MemoryQueues",
    "memory_backend",
]

#: The account id in the fakes' queue URLs and ARNs.
ACCOUNT = "123456789012"


@attrs.define
class FakeQueue:
    """A queue of :class:`MemoryQueues`: its messages are ``(body, delay_seconds)``."""

    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    # (body, delay), oldest first: a deque, so that draining a long queue stays linear.
    messages: collections.deque[tuple[str, int]] = attrs.field(factory=collections.deque)


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

    def find(self, name: str) -> QueueRef | None:
        self.calls.append(("find", name))
        url = self.url(name)
        if url not in self.queues:
            return None
        return QueueRef(url=url, arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}")

    def tags(self, url: str) -> Mapping[str, str]:
        self.calls.append(("tags", url))
        queue = self.queues.get(url)
        return dict(queue.tags) if queue is not None else {}

    def list_named(self, prefix: str) -> list[QueueRef]:
        self.calls.append(("list_named", prefix))
        return [
            QueueRef(url=url, arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue.name}")
            for url, queue in self.queues.items()
            if queue.name.startswith(prefix)
        ]

    def receive(self, url: str, max_messages: int, visibility_s: int) -> list[tuple[str, str]]:
        """Takes the messages off the queue at once (no visibility timeout here)."""
        self.calls.append(("receive", url))
        queue = self.queues.get(url)
        taken: list[tuple[str, str]] = []
        while queue is not None and queue.messages and len(taken) < min(max_messages, 10):
            body, _ = queue.messages.popleft()
            taken.append((body, f"rh-{next(self._ids)}"))
        return taken

    def delete_messages(self, url: str, receipts: Sequence[str]) -> None:
        self.calls.append(("delete_messages", url))

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
        body, _ = self._queue(url).messages.popleft()
        return body


class MemoryMappings:
    """:class:`~relaystate.ports.MappingPort` in memory; a mapping reaches the state asked for
    (Enabled, Disabled) at once."""

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
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        self.calls.append(("create", queue_arn))
        state = "Enabled" if enabled else "Disabled"
        info = MappingInfo(f"map-{next(self._ids)}", state, queue_arn, function_name)
        self.mappings[info.id] = info
        return info

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        self.calls.append(("set_enabled", mapping_id))
        found = self.mappings.get(mapping_id)
        if found is None:
            raise ResourceNotFoundError(
                f"no mapping {mapping_id}", code="ResourceNotFoundException"
            )
        info = self.mappings[mapping_id] = attrs.evolve(
            found, state="Enabled" if enabled else "Disabled"
        )
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


def memory_backend(
    timeout_s: int = 60,
    *,
    ledgers: Callable[[str], LedgerPort] | None = None,
    blobs: Callable[[str], BlobPort] | None = None,
) -> MemoryBackend:
    """A backend that keeps queues, mappings, ledgers and objects in memory.

    Args:
        timeout_s: the functions' timeout.
        ledgers: makes the ledger for a table name, what a job's ``ledger="<table>"`` uses
            (default: one :class:`~relaystate.testing.MemoryLedger` per name, made on first use).
        blobs: makes the object store for a bucket name, what a job's ``S3Offload`` uses
            (default: one :class:`~relaystate.testing.MemoryBlobs` per name, made on first use).

    Example:
        >>> from relaystate.testing import MemoryLedger
        >>> ledger = MemoryLedger()
        >>> backend = memory_backend(ledgers=lambda table_name: ledger)
        >>> backend.ledgers("relaystate-ledger") is ledger
        True
    """
    return MemoryBackend(
        queues=MemoryQueues(),
        mappings=MemoryMappings(timeout_s),
        ledgers=ledgers or _ledger_per_table(),
        blobs=blobs or blobs_per_bucket(),
        mapping_poll_s=0.0,
        mapping_wait_s=1.0,
    )


def _ledger_per_table() -> Callable[[str], LedgerPort]:
    made: dict[str, MemoryLedger] = {}

    def ledgers(table_name: str) -> MemoryLedger:
        return made.get(table_name) or made.setdefault(table_name, MemoryLedger(table_name))

    return ledgers
