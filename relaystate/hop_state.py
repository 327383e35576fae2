"""A running hop's state, as its transitions read it: time left, budget, limiter, lease.

The hop (:mod:`relaystate.hop`) makes one :class:`HopState` per delivery and hangs it on the job
while it runs; the transitions it fires (:mod:`relaystate.lifecycle`, :mod:`relaystate.signals`)
read it to write the budget's and the limiter's state into the next packet, to fence their
ledger writes by its lease, and to end their retries while the hop still has time to tear down.

Example:
    >>> HopState(remaining=lambda: 60_000.0, started_ms=60_000.0).teardown_fits()
    True
    >>> HopState(remaining=lambda: 1_000.0, started_ms=60_000.0).teardown_fits()
    False
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import clock
from .budget import SEND_LATENCIES

if TYPE_CHECKING:
    from .budget import Budget
    from .offload import Offloader
    from .ratelimit import Limiter
    from .timeline import HopEntry

__all__ = ["TEARDOWN_HANDOFF_S", "TEARDOWN_RESERVE_S", "HopState"]

#: Kept for the queue and DLQ deletes of a teardown in a hop (see
#: :func:`relaystate.lifecycle.release`), at most a quarter of the time left.
TEARDOWN_RESERVE_S = 1.0
#: A hop whose last unit leaves it less than this (at most a quarter of the hop) hands its
#: teardown to a fresh invocation (see :meth:`HopState.teardown_fits`).
TEARDOWN_HANDOFF_S = 3.0


class HopState:
    """What a running hop knows that its transitions need: time left, budget, limiter, lease.

    Attributes:
        remaining: the hop's time left in milliseconds (from the Lambda context).
        started_ms: the time the hop had left when it began (about the function's timeout).
        budget: the budget deciding whether another unit fits (its state rides in the packet).
        limiter: the rate limiter, if the job has a rate limit (its state rides too).
        owner: with a ledger, the invocation holding the hop's lease (its request id).
        lease_ms: that lease's length.
        retries_at_start: the packet's retry count when the hop began (for the hop's metrics).
        offloader: the job's offload at work, knowing the objects this hop read.
        progress: the shard's progress mark as the hop ended, for its packets and the ledger.
        began_ms: when the hop began, in ms since the epoch.
        entry: the hop's timeline entry once its end is decided (a job with ``timeline``):
            the ledger write that ends the hop keeps it (:mod:`relaystate.timeline`).
        traceparent: the hop span's W3C traceparent (tracing on): the packets the hop sends
            carry it, so that the next hop's span is its child (:mod:`relaystate.tracing`).
        body_bytes: the length of the message body the hop came in (the packet a ledger keeps
            for the hop while it runs).
        ended: with a ledger, the shard's end (done or failed) is recorded -- by this hop, or
            by an earlier one whose teardown this delivery finishes. What fails after it is
            the teardown's, which a delivery sent again finishes (see
            :func:`~relaystate.hop_claim.requeue_last`): no unit runs again.
    """

    # A plain class, not an attrs one: one class fewer to build at cold start (about 0.5 ms).
    remaining: Callable[[], float]
    started_ms: float
    budget: Budget | None
    limiter: Limiter | None
    owner: str
    lease_ms: int | None
    retries_at_start: int
    offloader: Offloader | None
    progress: dict[str, int] | None
    began_ms: int
    entry: HopEntry | None
    traceparent: str
    body_bytes: int
    ended: bool
    __slots__ = tuple(__annotations__)

    def __init__(
        self,
        remaining: Callable[[], float],
        started_ms: float = 0.0,
        budget: Budget | None = None,
        limiter: Limiter | None = None,
        owner: str = "",
        lease_ms: int | None = None,
        retries_at_start: int = 0,
        offloader: Offloader | None = None,
        progress: dict[str, int] | None = None,
        began_ms: int = 0,
        entry: HopEntry | None = None,
        traceparent: str = "",
        body_bytes: int = 0,
        ended: bool = False,
    ) -> None:
        self.remaining, self.started_ms, self.budget = remaining, started_ms, budget
        self.limiter, self.owner, self.lease_ms = limiter, owner, lease_ms
        self.retries_at_start, self.offloader, self.progress = retries_at_start, offloader, progress
        self.began_ms, self.entry, self.traceparent = began_ms, entry, traceparent
        self.body_bytes, self.ended = body_bytes, ended

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"HopState({fields})"

    def teardown_reserve_ms(self) -> float:
        """The time a teardown (about a dozen AWS calls: the mapping's and the queues' deletes
        and checks, the ledger's join) should have: :data:`TEARDOWN_HANDOFF_S`, at most a quarter
        of the hop -- but at least a dozen relay sends as this process has measured them."""
        reserve_ms = min(TEARDOWN_HANDOFF_S * 1000.0, self.started_ms / 4)
        worst_send = SEND_LATENCIES.worst()
        if worst_send is not None:
            reserve_ms = max(reserve_ms, min(12 * worst_send, self.started_ms / 2))
        return reserve_ms

    def teardown_fits(self) -> bool:
        """Whether the time left is enough for a teardown (:meth:`teardown_reserve_ms`)."""
        return self.remaining() >= self.teardown_reserve_ms()

    def deadline(self) -> float:
        """The ``clock.monotonic()`` time by which a teardown in this hop must have deleted the
        queues: the time left, less a reserve for those deletes."""
        left_s = max(self.remaining(), 0.0) / 1000.0
        return clock.monotonic() + left_s - min(TEARDOWN_RESERVE_S, left_s / 4)
