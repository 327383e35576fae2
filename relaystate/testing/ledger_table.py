"""The progress ledger's table in memory: the records a
:class:`~relaystate.testing.MemoryLedger` keeps, and the one lock its every operation takes.

:class:`MemoryTable` holds a job's record (:class:`MemoryJob`), a shard's
(:class:`MemoryShard`) and the packed texts kept on records of their own
(:class:`MemoryRecord`: a signal's payload, a parked packet), keyed as DynamoDB's table keys
them, and :meth:`MemoryTable._call`: one operation, atomic under the lock as DynamoDB decides
each conditional write, and a transaction that meets a concurrent one while
:attr:`~MemoryTable.conflicts` says so. :class:`~relaystate.testing.ledger_control.MemoryJobControl`
adds job control's operations on top, :class:`~relaystate.testing.MemoryLedger` a job's and its
shards' lifecycle.

Example:
    >>> from relaystate.testing import MemoryLedger
    >>> ledger = MemoryLedger(clock=lambda: 1_000)
    >>> ledger.open_job("j", shards=1, job_type="CopyRows", function_name="copy-worker")
    >>> ledger.jobs["j"].created_ms, ledger.calls
    (1000, [('open_job', 'j')])
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping

import attrs

from ..clock import now_ms
from ..errors import ResourceConflictError
from ..ledger import WriteConflict, teardown_due
from ..states import JobState

__all__ = ["MemoryJob", "MemoryRecord", "MemoryShard", "MemoryTable"]


@attrs.define
class MemoryRecord:
    """A packed text a :class:`~relaystate.testing.MemoryLedger` keeps on its own record: a
    signal's payload, a parked packet (:func:`~relaystate.ledger.pack_outbox`)."""

    packed: bytes
    #: When the record may expire, in seconds since the epoch (DynamoDB's TTL).
    ttl: int


@attrs.define
class MemoryJob:
    """A job's record in a :class:`~relaystate.testing.MemoryLedger`."""

    shards: int
    job_type: str
    function_name: str
    created_ms: int
    updated_ms: int
    done: int = 0
    failed: int = 0
    state: str = JobState.QUEUED.value
    teardown_owner: str | None = None
    teardown_until: int | None = None
    fingerprint: str = ""
    #: When the record may expire, in seconds since the epoch (DynamoDB's TTL).
    ttl: int | None = None
    paused: bool = False
    #: Who holds the job's control (a pause or unpause that runs), and until when (ms).
    control_owner: str | None = None
    control_until: int = 0
    #: The shard whose end was counted last (-1: none yet).
    last_shard: int = -1
    #: Each signal recorded for the job, by name.
    signals: dict[str, MemoryRecord] = attrs.Factory(dict)

    def teardown_due(self) -> bool:
        """Every shard has ended and the teardown is not recorded."""
        return teardown_due(self.state, shards=self.shards, done=self.done, failed=self.failed)


@attrs.define
class MemoryShard:
    """A shard's record in a :class:`~relaystate.testing.MemoryLedger`."""

    hop: int
    status: str
    updated_ms: int
    owner: str | None = None
    lease_until: int = 0
    stats: Mapping[str, int] = attrs.Factory(dict)
    cursor_json: str = "null"
    #: The next packet (:func:`~relaystate.ledger.pack_outbox`), from the checkpoint of a hop
    #: until the claim of the next.
    outbox: bytes | None = None
    #: The outbox was confirmed sent (:meth:`~relaystate.testing.MemoryLedger.confirm_sent`).
    outbox_sent: bool = False
    outbox_delay: int = 0
    error: str = ""
    #: When the record may expire, in seconds since the epoch (DynamoDB's TTL).
    ttl: int | None = None
    #: The signal a ``waiting`` shard waits for.
    waiting_for: str = ""
    wake_ms: int = 0
    #: The shard's result (:func:`~relaystate.ledger.pack_outbox`), recorded by its end.
    result: bytes | None = None
    #: The shard's latest progress mark (see :mod:`relaystate.progress`).
    progress: Mapping[str, int] | None = None
    #: Its hop timeline: slot -> encoded entry (:mod:`relaystate.timeline`), as DynamoDB keeps
    #: them in the record's attributes.
    timeline: dict[str, str] = attrs.Factory(dict)

    def held_by(self, owner: str, hop: int) -> bool:
        """``owner`` holds hop ``hop`` (the fence of a checkpoint and a finish)."""
        return self.owner == owner and self.hop == hop and self.status == "running"


class MemoryTable:
    """The records of a :class:`~relaystate.testing.MemoryLedger` and the lock its operations
    take (the base of :class:`~relaystate.testing.MemoryLedger`, whose arguments these are).

    Example:
        >>> MemoryTable("relaystate-ledger").jobs
        {}
    """

    def __init__(
        self, table_name: str = "relaystate-ledger", *, clock: Callable[[], int] = now_ms
    ) -> None:
        self.table_name = table_name
        #: Each job's record, by job id.
        self.jobs: dict[str, MemoryJob] = {}
        #: Each shard's record, by (job id, shard).
        self.shards: dict[tuple[str, int], MemoryShard] = {}
        #: Each parked packet, by (job id, :func:`~relaystate.ledger.parked_key` of its body).
        self.parking: dict[tuple[str, str], MemoryRecord] = {}
        #: ``(operation, job id)`` of every call, in order (a retried write once a try).
        self.calls: list[tuple[str, str]] = []
        #: The next this many transactions (a shard's end, a reopen, a signal) meet a
        #: concurrent one and are not applied, as DynamoDB cancels them
        #: (``TransactionConflict``); the ledger tries them again
        #: (:func:`~relaystate.ledger.retry_conflicts`).
        self.conflicts = 0
        self._clock = clock
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _call(self, operation: str, job_id: str, *, transaction: bool = False) -> Iterator[int]:
        """One operation, atomic under the ledger's lock; gives its time.

        A ``transaction`` meets a concurrent one while :attr:`conflicts` says so.
        """
        with self._lock:
            self.calls.append((operation, job_id))
            if transaction and self.conflicts > 0:
                self.conflicts -= 1
                raise WriteConflict(
                    ResourceConflictError(
                        f"{operation} of job {job_id} met a concurrent transaction",
                        service="dynamodb",
                        operation="TransactWriteItems",
                        code="TransactionCanceledException",
                    )
                )
            yield int(self._clock())
