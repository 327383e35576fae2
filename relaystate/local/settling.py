"""Settling LocalLambda's invocations: delete what was handled, hand back what failed.

When an invocation ends, the Lambda service deletes the messages it handled and leaves the
failed ones in the queue, for SQS to deliver again after their visibility timeout. Three
things make that more than one call::

    batched deletes   a queue's handled receipts wait for a batch of 10 -- one
                      ``DeleteMessageBatch`` then deletes the messages of ten relay hops, and
                      no hop waits for a delete -- but never past their deadline:
                      :data:`DELETE_WAIT_S` after the handler returned, and at most half the
                      function's timeout after the receive (the queue's visibility timeout is
                      at least that timeout), so a handled message is never received again.
                      Each settle deletes what is due then (a full batch, a deadline passed),
                      and the poll loop flushes the rest (:meth:`Settler.flush`): a poll
                      loop kept busy receiving a long backlog would let deletes wait past
                      the visibility timeout, and the messages come back as duplicates.
    retry delay       ``LocalLambda(retry_delay_s=...)`` makes failed messages visible sooner
                      than the queue's ``VisibilityTimeout``: whole seconds at once with
                      ``ChangeMessageVisibility``, a fraction held here until it is due
                      (:meth:`Settler.release_due_retries`).
    duplicates        the copies of a duplicate delivery (:class:`Copies`) share their
                      messages' receipt handles: the last copy to end settles for all of them
                      -- a message any copy handled is deleted, and only one that every copy
                      failed comes back.

A delete that fails is logged and let go: as on AWS, the messages come back after their
visibility timeout. The settler makes its calls through the emulated service's own
:class:`~relaystate.local.poller.QueuePoller`, so they never count as the job's.

Example:
    >>> settler = Settler(poller, retry_delay_s=None, running=lambda: 0)  # doctest: +SKIP
    >>> settler.settle(queue_url, messages, failed_ids=(), delete_by=time.monotonic() + 1)
    ... # doctest: +SKIP
    >>> settler.flush(everything=True)  # doctest: +SKIP
    inf
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import attrs

from ..errors import RelayError
from .poller import QueuePoller

__all__ = ["DELETE_WAIT_S", "Copies", "Settler"]

log = logging.getLogger("relaystate.local")

#: The longest a handled message waits for its delete (see :meth:`Settler.flush`), unless half
#: its function's timeout since the receive comes sooner.
DELETE_WAIT_S = 0.2


@attrs.define
class Copies:
    """The invocations one received batch went to (a duplicate delivery): settled together."""

    left: int
    #: Receipt handles that some copy handled (a dict: ordered, no repeats).
    handled: dict[str, None] = attrs.field(factory=dict)


class Settler:
    """Deletes the handled messages of ended invocations and hands back the failed ones.

    Args:
        poller: the emulated service's SQS calls (``delete``, ``retry_later``).
        retry_delay_s: make failed messages visible again after this many seconds; ``None``:
            leave them to the queue's visibility timeout.
        running: how many invocations run now (while some do, deletes wait for a batch of 10).

    Example:
        >>> settler = Settler(poller, retry_delay_s=0.2, running=lambda: 0)  # doctest: +SKIP
    """

    def __init__(
        self,
        poller: QueuePoller,
        *,
        retry_delay_s: float | None,
        running: Callable[[], int],
    ) -> None:
        self._poller = poller
        self._retry_delay_s = retry_delay_s
        self._running = running
        self._lock = threading.Lock()
        # queue URL -> (when they must be deleted by, receipt handles of handled messages)
        self._deletes: dict[str, tuple[float, list[str]]] = {}
        # (due, sequence, queue URL, receipt handles): failed messages a fractional
        # retry_delay_s keeps in flight until they are due.
        self._retries: list[tuple[float, int, str, tuple[str, ...]]] = []
        self._retry_seq = 0

    @property
    def pending(self) -> bool:
        """Whether handled messages still wait for their delete."""
        with self._lock:
            return bool(self._deletes)

    @property
    def holding_retries(self) -> bool:
        """Whether failed messages wait here for a fractional ``retry_delay_s`` to end."""
        with self._lock:
            return bool(self._retries)

    def settle(
        self,
        queue_url: str,
        messages: Sequence[Mapping[str, Any]],
        failed_ids: Collection[str],
        delete_by: float,
        copies: Copies | None = None,
    ) -> None:
        """Have what succeeded deleted; hand the failed messages back (now, or after the delay).

        The deletes wait for :meth:`flush` if they can wait until ``delete_by`` (a
        ``time.monotonic()`` value); else they are made at once.
        """
        failed = set(failed_ids)
        done = [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed]
        retry = [m["ReceiptHandle"] for m in messages if m["MessageId"] in failed]
        if copies is not None:
            with self._lock:
                copies.left -= 1
                copies.handled.update(dict.fromkeys(done))
                if copies.left:
                    return
                done = list(copies.handled)
                retry = [r for r in retry if r not in copies.handled]
        if done:
            by = min(time.monotonic() + DELETE_WAIT_S, delete_by)
            if by <= time.monotonic() + 0.01:
                self._delete(queue_url, done)
            else:
                with self._lock:
                    due, receipts = self._deletes.get(queue_url, (by, []))
                    self._deletes[queue_url] = (min(due, by), [*receipts, *done])
            # Here, not only from the poll loop: it may be busy receiving for a long while.
            self.flush()
        delay = self._retry_delay_s
        if not retry or delay is None:
            return
        if float(delay).is_integer():
            self._poller.retry_later(queue_url, retry, int(delay))
            return
        with self._lock:
            self._retry_seq += 1
            heapq.heappush(
                self._retries, (time.monotonic() + delay, self._retry_seq, queue_url, tuple(retry))
            )

    def flush(self, *, overdue_only: bool = False, everything: bool = False) -> float:
        """Delete the handled messages that are due, by tens (``DeleteMessageBatch``).

        Due: every queue's (``everything``), those past their deadline (``overdue_only``), or
        else those past their deadline or of a full batch, and all of them when no invocation
        runs. Returns the next deadline of the rest (``inf``: none waits).
        """
        running = self._running()
        now = time.monotonic()
        with self._lock:
            due = {
                url: receipts
                for url, (by, receipts) in self._deletes.items()
                if everything or now >= by or not (overdue_only or (running and len(receipts) < 10))
            }
            for url in due:
                del self._deletes[url]
            next_due = min((by for by, _ in self._deletes.values()), default=float("inf"))
        for queue_url, receipts in due.items():
            self._delete(queue_url, receipts)
        return next_due

    def release_due_retries(self) -> None:
        """Make visible again the failed messages whose fractional retry delay is over."""
        now = time.monotonic()
        due: list[tuple[str, tuple[str, ...]]] = []
        with self._lock:
            while self._retries and self._retries[0][0] <= now:
                _, _, url, receipts = heapq.heappop(self._retries)
                due.append((url, receipts))
        for url, receipts in due:
            self._poller.retry_later(url, receipts, 0)

    def _delete(self, queue_url: str, receipts: Sequence[str]) -> None:
        try:
            self._poller.delete(queue_url, receipts)
        except RelayError as exc:  # as on AWS: the messages come back after their timeout
            log.warning(
                "relaystate.local: could not delete %d handled message(s) of %s (%s); SQS will "
                "deliver them again after their visibility timeout",
                len(receipts),
                queue_url,
                exc,
            )
