"""The backend protocols: the few primitives a job needs from AWS.

:mod:`relaystate.lifecycle` holds the logic (names, order, rollback, waiting rules); a backend only
implements these primitives. :mod:`relaystate.aws` implements them with boto3;
:class:`relaystate.local.LocalLambda` supplies a backend whose mappings are its own poller registry.
Every method raises :class:`~relaystate.errors.RelayError` subclasses only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from .ledger import Claim, JobStatus

__all__ = ["Backend", "LedgerPort", "MappingInfo", "MappingPort", "QueuePort", "QueueRef"]


@attrs.frozen
class QueueRef:
    """A queue that exists: its URL and ARN."""

    url: str
    arn: str


@attrs.frozen
class MappingInfo:
    """What a backend knows of an event-source mapping."""

    id: str
    state: str
    queue_arn: str
    #: The function's ARN, as ``GetEventSourceMapping`` reports it (``FunctionArn``).
    function_name: str


class QueuePort(Protocol):
    """SQS queue primitives."""

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        """Create the queue (idempotent for identical attributes) and return it."""

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        """Set queue attributes (e.g. its ``Policy``)."""

    def delete(self, url: str) -> None:
        """Delete the queue; a queue that does not exist is not an error."""

    def describe(self, url: str) -> Mapping[str, str] | None:
        """The queue's attributes (``QueueArn``, counts...), or ``None`` if it does not exist."""

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        """Send one message; return its message id."""

    def send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int = 0) -> list[str]:
        """Send up to 10 messages in one call; return their message ids in order.

        Raises :class:`~relaystate.errors.SendError` naming the entries that failed.
        """


class MappingPort(Protocol):
    """Lambda event-source-mapping and function primitives."""

    def function_timeout_s(self, function_name: str) -> int:
        """The function's configured timeout in seconds."""

    def create(
        self, function_name: str, queue_arn: str, *, batch_size: int, max_concurrency: int | None
    ) -> MappingInfo:
        """Create an enabled mapping from the queue to the function."""

    def get(self, mapping_id: str) -> MappingInfo | None:
        """The mapping's current state, or ``None`` if it does not exist."""

    def delete(self, mapping_id: str) -> None:
        """Start deleting the mapping; one that does not exist is not an error."""

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        """Every mapping whose event source is the queue (``Deleting`` ones too), any function.

        What finds the mappings of a queue when no packet names them (``relaystate ls``,
        ``reap``, ``cancel``).
        """

    def allow_recursion(self, function_name: str) -> None:
        """Let the function run in a Lambda-SQS-Lambda loop beyond 16 hops."""


class LedgerPort(Protocol):
    """The progress ledger's primitives (see :mod:`relaystate.ledger` for the protocol)."""

    table_name: str

    def open_job(self, job_id: str, *, shards: int, job_type: str, function_name: str) -> None:
        """Record a new job (idempotent)."""

    def claim(self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int) -> Claim:
        """Claim a hop of a shard for ``owner``."""

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
        """Record the hop's checkpoint and the next packet, fenced by the lease."""

    def mark_sent(self, job_id: str, shard: int, next_hop: int) -> None:
        """The outbox packet was sent."""

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
        """Count the shard as ended; True when every shard has."""

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        """Take the job's teardown for ``owner``."""

    def mark_torn_down(self, job_id: str) -> None:
        """The job's resources are gone."""

    def reopen(self, job_id: str, shard: int) -> None:
        """A failed shard is resumed."""

    def status(self, job_id: str) -> JobStatus | None:
        """The job as the ledger has it."""


@attrs.frozen
class Backend:
    """The pair of ports a job talks to.

    Example:
        >>> from relaystate.aws import aws_backend
        >>> backend = aws_backend(region_name="eu-west-1")  # doctest: +SKIP
    """

    queues: QueuePort
    mappings: MappingPort
    #: Makes the progress ledger for a table name, on the same account/endpoint (or ``None``:
    #: this backend has no ledger).
    ledgers: Callable[[str], LedgerPort] | None = attrs.field(default=None, eq=False)
    #: How long to wait for a mapping to become Enabled, or to be gone, in seconds.
    mapping_wait_s: float = 300.0
    #: First pause between mapping polls; doubles up to ``mapping_poll_max_s``.
    mapping_poll_s: float = 0.5
    mapping_poll_max_s: float = 5.0
