"""One copy of a message in a simulated queue: :class:`SimMessage`.

Example:
    >>> message = SimMessage(1, "m-1", "hello", sent_at=0.0, visible_at=5.0)
    >>> message.receive_count, message.receipt
    (0, 0)
"""

from __future__ import annotations

import attrs

__all__ = ["SimMessage"]


@attrs.define(eq=False)
class SimMessage:
    """One copy of a message in a :class:`~relaystate.testing.sim.queue.SimQueue` (a duplicate
    is another copy, same id).

    ``sent_at`` is when it was first sent: a copy, and a message moved to a dead-letter queue,
    keep it, as SQS keeps a standard queue's enqueue time (its retention counts from it).
    ``visible_at`` of a held message changes only through its queue's
    :meth:`~relaystate.testing.sim.held.Held.hide`, which keeps the queue's index of it.
    """

    key: int
    id: str
    body: str
    sent_at: float
    visible_at: float
    #: The chain depth of the invocation that sent it (Lambda's recursion detection).
    depth: int = 0
    receive_count: int = 0
    receipt: int = 0
    first_received_at: float | None = None
    #: Why it was moved to this (dead-letter) queue, if it was.
    moved: str = ""
