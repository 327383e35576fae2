"""The job as the modules under the job class see it: one small protocol each.

:class:`~relaystate.RelayJob` imports the modules that run its hops and transitions; they are
handed the job instead, typed by what they call on it, so that none of them imports the job
class back::

    Job      what the lifecycle needs (:mod:`relaystate.lifecycle`, :mod:`relaystate.start`,
             :mod:`relaystate.signals`, :mod:`relaystate.callbacks`): identity, options, data,
             progress and the hooks
    HopJob   what one hop needs (:mod:`relaystate.hop`): the unit of work, its progress, its
             options and the triggers that end the hop

Example:
    >>> def where(job: HopJob) -> str:
    ...     return f"{job.type_name()} {job.job_id}"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .budget import Budget
    from .frozen import JsonValue
    from .hop_state import HopState
    from .offload import S3Offload
    from .packet import RelayPacket, Stats
    from .ratelimit import RateLimit
    from .retry import Retry
    from .signing import PacketSigner
    from .states import JobState

__all__ = ["HopJob", "Job"]


class Job(Protocol):
    """What the lifecycle needs of a job: its identity, options, data and progress."""

    job_id: str
    function_name: str | None
    queue_prefix: str
    queue_name: str | None
    max_hops: int
    max_receive_count: int
    max_concurrency: int | None
    function_timeout_s: int | None
    max_message_bytes: int
    allow_recursion: bool
    function_qualifier: str | None
    options: dict[str, Any]
    data: dict[str, Any]
    signals: dict[str, Any]
    cursor: JsonValue
    stats: Stats
    packet: RelayPacket | None

    @property
    def signer(self) -> PacketSigner | None:
        """Signs the job's packets, if it signs."""

    @property
    def version(self) -> str | None:
        """The job class's version."""

    @property
    def offload(self) -> S3Offload | None:
        """Where data and cursors too large for a packet go, if anywhere."""

    @property
    def tolerated_failures(self) -> int | float:
        """Shards that may fail with the job still done (a count, or a fraction)."""

    @property
    def result(self) -> Any:
        """The shard's result, for ``on_join``."""

    def on_join(self, results: Any) -> None:
        """Once, on the last shard, with every shard's result."""

    def on_done(self) -> None:
        """The shard finished."""

    def on_failed(self, error: BaseException | None) -> None:
        """The shard failed."""

    def plan(self) -> Any:
        """The first cursor(s)."""

    def type_name(self) -> str:
        """The job type packets carry."""


class HopJob(Protocol):
    """What a hop needs of its job: the unit of work, its progress, its options and triggers."""

    job_id: str
    packet: RelayPacket | None
    data: dict[str, Any]
    cursor: JsonValue
    signals: dict[str, Any]
    stats: Stats
    state: JobState
    hop: HopState | None
    max_hops: int
    hop_time_s: float
    lease_margin_s: float
    budget: Callable[[Mapping[str, Any] | None], Budget]

    @property
    def retry(self) -> Retry:
        """The retry policy for units that raise."""

    @property
    def rate_limit(self) -> RateLimit | None:
        """Limits on the unit rate, if any."""

    @property
    def logger(self) -> Any:
        """Where the hop's record goes (``None``: the ``relaystate`` logger)."""

    @property
    def metrics(self) -> bool:
        """Whether to print a CloudWatch EMF line per hop."""

    @property
    def offload(self) -> S3Offload | None:
        """Where data and cursors too large for a packet are kept, if anywhere."""

    @property
    def timeline(self) -> bool:
        """Whether the ledger keeps each hop's timeline entry (:mod:`relaystate.timeline`)."""

    @property
    def _measures_progress(self) -> bool:
        """Whether the job has a progress hook of its own (else the hop does not ask it)."""

    @property
    def tracing(self) -> bool:
        """Whether each hop is an OpenTelemetry span (:mod:`relaystate.tracing`)."""

    def step(self, cursor: Any) -> Any:
        """One unit of work."""

    def progress(self, cursor: Any) -> tuple[int, int] | None:
        """How far the shard is at ``cursor``: ``(done, total)``, or ``None``."""

    def type_name(self) -> str:
        """The job type packets carry."""

    def begin_hop(self) -> bool:
        """queued | relaying -> running."""

    def relay(
        self,
        *,
        delay_seconds: int = 0,
        attempt: int = 0,
        finishing: bool = False,
        error: str = "",
        wake_ms: int = 0,
    ) -> bool:
        """running -> relaying."""

    def wait(self, *, name: str, deadline_ms: int = 0) -> bool:
        """running -> waiting."""

    def finish(self) -> bool:
        """running -> torn_down."""

    def fail(self, *, error: BaseException | None = None) -> bool:
        """-> failed."""
