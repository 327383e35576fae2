"""The poll loop of ``LocalLambda.run_until_idle``, and the parts of the service it drives.

:class:`PollLoop` makes and holds what runs invocations -- :class:`~relaystate.local.slots.Slots`
(which may run), :class:`~relaystate.local.dispatch.Dispatcher` (receiving, and the threads),
:class:`~relaystate.local.invocation.Invoker` (one batch's run) and
:class:`~relaystate.local.settling.Settler` (deleting what was handled, handing back what
failed) -- and turns them until the service is idle. One pass: SQS's lagging counts settle
(``consistency=``), failed messages whose fractional retry delay is over are made visible,
overdue deletes are made (before a receive could see them again), every mapping with room
receives and invokes, the due deletes are made. Then it returns if the service is idle
(:func:`~relaystate.local.remaining.is_idle`); else, with ``skip_time``, the clock jumps to
what is due next when nothing is due now, or the loop waits for a wake-up (an invocation
ended, a mapping changed, a message was sent) or the poll interval. The runtime wires it and
checks the options; this module does not import the runtime back.

Example:
    >>> loop = PollLoop(mappings, poller, injector, region="us-east-1", concurrency=4,
    ...                 retry_delay_s=None, wake=threading.Event())  # doctest: +SKIP
    >>> loop.run_until_idle(120.0, poll_interval_s=0.05)  # doctest: +SKIP
    >>> loop.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time

from . import virtual_time
from .consistency import SqsConsistency
from .dispatch import Dispatcher
from .errors import IdleTimeoutError
from .faults import FaultInjector
from .invocation import Invocation, Invoker
from .poller import QueuePoller
from .registry import MappingRegistry
from .remaining import busy_report, is_idle
from .settling import Settler
from .slots import Slots
from .virtual_time import VirtualClock

__all__ = ["PollLoop"]


class PollLoop:
    """Dispatches, invokes and settles until no mapped queue has work and nothing runs.

    Args:
        mappings: the deployed functions and their mappings.
        poller: the service's own SQS calls.
        injector: the faults to inject into the invocations.
        region: the region of the functions' ARNs.
        concurrency: invocations at once over all functions.
        retry_delay_s: the runtime's ``retry_delay_s`` (``None``: the visibility timeout).
        wake: set when something happens that the loop should not sleep through.
        consistency: SQS's eventual consistency, if the runtime emulates it.
        virtual: the virtual clock of ``skip_time``, or ``None``.

    Example:
        >>> PollLoop(mappings, poller, injector, region="us-east-1", concurrency=4,
        ...          retry_delay_s=None, wake=wake).invocations
        ... # doctest: +SKIP
        []
    """

    def __init__(
        self,
        mappings: MappingRegistry,
        poller: QueuePoller,
        injector: FaultInjector,
        *,
        region: str,
        concurrency: int,
        retry_delay_s: float | None,
        wake: threading.Event,
        consistency: SqsConsistency | None = None,
        virtual: VirtualClock | None = None,
    ) -> None:
        self._mappings = mappings
        self._poller = poller
        self._wake = wake
        self._consistency = consistency
        self._virtual = virtual
        self._slots = Slots(concurrency, on_change=wake.set)
        self._settler = Settler(
            poller, retry_delay_s=retry_delay_s, running=lambda: self._slots.running
        )
        self._invoker = Invoker(
            functions=mappings.function,
            poller=poller,
            settler=self._settler,
            injector=injector,
            region=region,
        )
        self._dispatcher = Dispatcher(
            mappings, self._slots, poller, injector, self._invoker, concurrency=concurrency
        )

    @property
    def invocations(self) -> list[Invocation]:
        """Every invocation that has ended, in the order their messages were received."""
        return self._invoker.invocations

    def run_until_idle(self, timeout_s: float, *, poll_interval_s: float) -> None:
        """Pass after pass until the service is idle (see the module's documentation), with a
        pause of up to ``poll_interval_s`` between passes while nothing happens.

        Raises:
            IdleTimeoutError: still busy after ``timeout_s``; the message says with what.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self._wake.clear()
            if self._consistency is not None:
                self._consistency.settle()
            self._settler.release_due_retries()
            self._settler.flush(overdue_only=True)  # before a receive could see them again
            dispatched = self._dispatcher.dispatch()
            next_delete = self._settler.flush()
            if not dispatched and is_idle(self._slots, self._settler, self._mappings, self._poller):
                return
            now = time.monotonic()
            if now >= deadline:
                self._settler.flush(everything=True)
                raise IdleTimeoutError(
                    busy_report(
                        timeout_s,
                        running=self._slots.running,
                        mappings=self._mappings,
                        poller=self._poller,
                        invocations=self.invocations,
                    )
                )
            if not dispatched and self._skip_ahead():
                continue
            if not dispatched:
                wake_at = min(now + poll_interval_s, deadline, next_delete)
                self._wake.wait(max(0.0, wake_at - now))

    def stop(self) -> None:
        """Wait for the running invocations, cut off the timed-out ones, settle what they
        handled; start no more."""
        # Running invocations end within their timeouts; timed-out handler threads are cut off.
        self._dispatcher.shutdown()
        self._invoker.kill_running()
        self._settler.flush(everything=True)  # what the invocations that just ended handled

    def _skip_ahead(self) -> bool:
        """With ``skip_time``: jump the clock to what is due next, if nothing is due now.

        Not while an invocation runs or a batch is open (its messages' visibility would run
        out under it), while handled messages wait for their delete, or while failed ones
        wait here for a fractional ``retry_delay_s``; nor past a visible message. True if it
        jumped.
        """
        virtual = self._virtual
        if virtual is None or self._slots.open:
            return False
        if self._settler.pending or self._settler.holding_retries:
            return False
        waits = (
            virtual_time.seconds_to_next_message(m.queue_arn for m in self._mappings.active()),
            self._mappings.next_transition_in(),
        )
        wait = min((w for w in waits if w is not None), default=None)
        if wait is None or wait <= 0:
            return False
        # A millisecond past it: moto's delays end at, and its visibility after, the time.
        virtual.skip(wait + 0.001)
        return True
