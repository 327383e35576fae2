"""A job's settings: the class attributes a :class:`~relaystate.RelayJob` subclass sets.

:class:`~relaystate.RelayJob` inherits them from :class:`JobSettings`, which holds nothing
else: each setting with its default and what it means. Those that
:data:`relaystate.options.OPTIONS` names (``function_name``, ``max_hops``, ``ledger``...) are
options too: a constructor may override them by keyword, and they travel in the packet so that
the worker applies them (:mod:`relaystate.options` checks them). The others -- the ``ClassVar``
ones and ``budget`` -- are set on the class; ``backend`` also by the constructor's ``backend=``
(it does not travel).

Example:
    >>> from relaystate import RelayJob
    >>> RelayJob.max_hops, RelayJob(max_hops=50).max_hops
    (10000, 50)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .budget import AdaptiveBudget, Budget
from .packet import DEFAULT_MAX_MESSAGE_BYTES
from .retry import Retry

if TYPE_CHECKING:
    from .offload import S3Offload
    from .ports import Backend, LedgerPort
    from .ratelimit import RateLimit
    from .signing import PacketSigner

__all__ = ["JobSettings"]


class JobSettings:
    """The settings of a job class, with their defaults (see the module's docstring)."""

    #: The worker Lambda's name (or ARN) that the queue's mapping invokes.
    function_name: str | None = None
    #: The name packets carry to find this class on the worker (default: the class's qualified
    #: name). It names the class that sets it only: a subclass has a type of its own.
    job_type: ClassVar[str | None] = None
    #: Queue names are ``queue_prefix + job_id`` (the DLQ adds ``-dlq``); ``[A-Za-z0-9_-]``.
    queue_prefix: str = "relay-"
    #: A fixed queue name instead of prefix + job id.
    queue_name: str | None = None
    #: Guard-rail: a job that has not finished after this many hops fails instead of relaying.
    max_hops: int = 10_000
    #: Deliveries of one packet before SQS moves it to the DLQ.
    max_receive_count: int = 5
    #: The mapping's ``ScalingConfig.MaximumConcurrency`` (2..1000), or ``None``.
    max_concurrency: int | None = None
    #: The worker's timeout; ``None`` looks it up with ``GetFunctionConfiguration``.
    function_timeout_s: int | None = None
    #: The queue's ``MaximumMessageSize``; packets above it are refused before any AWS call.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: Call ``PutFunctionRecursionConfig(RecursiveLoop="Allow")`` at setup (else AWS stops the
    #: relay after 16 hops).
    allow_recursion: bool = True
    #: A hop's length when :meth:`~relaystate.RelayJob.handle` gets no Lambda context.
    hop_time_s: float = 60.0
    #: Makes the budget that decides, unit by unit, whether a hop may go on: called with the
    #: previous hop's ``timing`` state (a class, or a ``functools.partial``; set it on the class).
    budget: Callable[[Mapping[str, Any] | None], Budget] = AdaptiveBudget
    #: The progress ledger (exactly-once hops, fan-out join): a DynamoDB table name, or a
    #: :class:`~relaystate.ports.LedgerPort` (e.g. a ``DynamoDBLedger``); ``None`` runs without
    #: one (see README).
    ledger: str | LedgerPort | None = None
    #: With a ledger: shards that may fail with the job still done -- a count, or a fraction of
    #: the shards (``0.05``); the job ends ``failed`` beyond it (see
    #: :meth:`~relaystate.RelayJob.on_join`).
    tolerated_failures: int | float = 0
    #: The alias or version the mapping invokes (``"live"``, ``"7"``): a deploy that moves
    #: ``$LATEST`` does not change the code under running jobs.
    function_qualifier: str | None = None
    #: With a ledger, a hop's lease lasts this long beyond its Lambda's remaining time (room for
    #: clock skew between Lambda hosts and DynamoDB) before another invocation may take over.
    lease_margin_s: float = 30.0
    #: Where hop records go: a ``logging.Logger`` or a Powertools ``Logger`` (default: the
    #: ``relaystate`` logger).
    logger: ClassVar[Any] = None
    #: Print one CloudWatch embedded-metric-format line per hop (Hops, Units, Utilization,
    #: Retries by JobType) to stdout, where Lambda turns it into metrics.
    metrics: ClassVar[bool] = False
    #: With a ledger: keep each hop's record (start, end, units, utilization, outcome, delay)
    #: in the ledger write that ends the hop, for ``relaystate timeline`` (see
    #: :mod:`relaystate.timeline`: no extra write, a bigger record).
    timeline: ClassVar[bool] = False
    #: One OpenTelemetry trace per job, a span per hop (the ``otel`` extra; or set
    #: ``RELAYSTATE_TRACING=1`` in the environment; see :mod:`relaystate.tracing`).
    tracing: ClassVar[bool] = False
    #: Sign every packet and run only validly signed ones (see :mod:`relaystate.signing`).
    signer: ClassVar[PacketSigner | None] = None
    #: What a hop does when a unit raises (see :class:`~relaystate.retry.Retry`).
    retry: ClassVar[Retry] = Retry()
    #: Limits on the unit rate (one unit = one call of a limited API) that hold across hops.
    rate_limit: ClassVar[RateLimit | None] = None
    #: This class's version: it travels in the packet, and a worker whose class has another
    #: version runs the packet only through :meth:`~relaystate.RelayJob.migrate`.
    version: ClassVar[str | None] = None
    #: Keep ``data`` or a cursor too large for a packet in S3, the packet carrying its key and
    #: SHA-256 (see :class:`~relaystate.S3Offload`); ``None``: packets carry everything.
    offload: ClassVar[S3Offload | None] = None
    #: The backend; ``None`` means real AWS through the default boto3 session.
    backend: Backend | None = None
