"""A queue of the simulator's SQS: what it holds (indexed, :mod:`~relaystate.testing.sim.held`),
and its counts over time.

Example:
    >>> queue = SimQueue("relay-1", {"VisibilityTimeout": "30"}, {"relaystate:role": "queue"})
    >>> queue.held[1] = SimMessage(1, "m-1", "hello", sent_at=0.0, visible_at=5.0)
    >>> queue.role, queue.number("VisibilityTimeout", 0), queue.counts(now=0.0)
    ('queue', 30, (0, 0, 1))
"""

from __future__ import annotations

import bisect
import json

import attrs

from ...names import TAG_PREFIX
from ..memory import FakeQueue
from .held import Held
from .message import SimMessage

__all__ = ["DEFAULT_RETENTION_S", "SimMessage", "SimQueue"]

#: SQS's MessageRetentionPeriod when a queue sets none (4 days).
DEFAULT_RETENTION_S = 345_600


@attrs.define(eq=False)
class SimQueue(FakeQueue):
    """A queue of :class:`SimQueues`: its messages (``held``) and the history of its counts."""

    url: str = ""
    arn: str = ""
    created_at: float = 0.0
    #: When DeleteQueue took effect (it still answers for a while); ``None`` while it lives.
    deleted_at: float | None = None
    #: When its MessageRetentionPeriod was last set (a cut drops older messages from then).
    retention_set_at: float = 0.0
    held: Held = attrs.Factory(Held)
    #: When the counts changed, and ``(visible, in flight, delayed)`` from then on.
    history_at: list[float] = attrs.Factory(list)
    history: list[tuple[int, int, int]] = attrs.Factory(list)

    @property
    def role(self) -> str:
        """``queue`` or ``dlq`` (the ``relaystate:role`` tag), else empty."""
        return self.tags.get(f"{TAG_PREFIX}role", "")

    def number(self, name: str, default: int) -> int:
        """A whole-number attribute (``VisibilityTimeout``...), or ``default``."""
        try:
            return int(self.attributes.get(name, default))
        except ValueError:
            return default

    def redrive(self) -> tuple[str, int] | None:
        """The dead-letter queue's ARN and the maxReceiveCount, if the queue redrives."""
        try:
            policy = json.loads(self.attributes.get("RedrivePolicy", "") or "{}")
            return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])
        except (ValueError, KeyError, TypeError):
            return None

    def expired(self, now: float) -> list[SimMessage]:
        """The messages past the queue's ``MessageRetentionPeriod`` at ``now`` (SQS drops them)."""
        return self.held.sent_by(now - self.number("MessageRetentionPeriod", DEFAULT_RETENTION_S))

    def counts(self, now: float) -> tuple[int, int, int]:
        """``(visible, in flight, delayed)`` messages, exactly, at ``now``."""
        return self.held.counts(now)

    def counts_at(self, when: float) -> tuple[int, int, int]:
        """The counts as they were at ``when`` (0 before the queue existed)."""
        i = bisect.bisect_right(self.history_at, when) - 1
        return self.history[i] if i >= 0 else (0, 0, 0)
