"""Starting invocations: the service's receives for each mapping, and the threads they run in.

One pass of ``run_until_idle``'s loop calls :meth:`Dispatcher.dispatch`: for each mapping that
is ``Enabled`` and whose function is deployed, receive a batch while the mapping has room
(:class:`~relaystate.local.slots.Slots`: the runtime's concurrency and the mapping's
``MaximumConcurrency``), and hand each batch to the
:class:`~relaystate.local.invocation.Invoker` on a worker thread. A duplicate delivery
(:class:`~relaystate.local.Faults`) hands the same batch to two invocations, which settle
together (:class:`~relaystate.local.settling.Copies`).

Example:
    >>> dispatcher = Dispatcher(mappings, slots, poller, injector, invoker, concurrency=4)
    ... # doctest: +SKIP
    >>> dispatcher.dispatch()  # doctest: +SKIP
    True
    >>> dispatcher.shutdown()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .faults import FaultInjector
from .invocation import Invoker
from .poller import QueuePoller
from .registry import MappingRegistry
from .settling import Copies
from .slots import Slots

__all__ = ["Dispatcher"]


class Dispatcher:
    """Receives from the mapped queues that have room and starts an invocation per batch.

    Args:
        mappings: the deployed functions and their mappings.
        slots: how many invocations may run, over all and per mapping.
        poller: the service's own SQS calls.
        injector: draws each batch's faults, and whether it is delivered twice.
        invoker: runs one invocation of a batch.
        concurrency: the runtime's concurrency (sizes the worker threads).

    Example:
        >>> Dispatcher(mappings, slots, poller, injector, invoker, concurrency=4).dispatch()
        ... # doctest: +SKIP
        False
    """

    def __init__(
        self,
        mappings: MappingRegistry,
        slots: Slots,
        poller: QueuePoller,
        injector: FaultInjector,
        invoker: Invoker,
        *,
        concurrency: int,
    ) -> None:
        self._mappings = mappings
        self._slots = slots
        self._poller = poller
        self._injector = injector
        self._invoker = invoker
        # Duplicate deliveries run beside the originals: room for both. And a batch's
        # settling runs beside the next invocation: room for that.
        workers = 2 * concurrency * (2 if injector.faults.duplicate_rate else 1)
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="relaystate-local"
        )

    def dispatch(self) -> bool:
        """Receive from every Enabled mapping that has room; start an invocation per batch.
        True if any started."""
        started = False
        for mapping in self._mappings.active():
            function = self._mappings.function(mapping.function_name)
            if function is None:
                continue
            while self._slots.has_room(mapping.id, mapping.max_concurrency):
                current = self._mappings.mapping(mapping.id)
                if current is None or current.state != "Enabled":
                    break
                messages = self._poller.receive(mapping.queue_url, mapping.batch_size)
                if not messages:
                    break
                # Draws in delivery order, in this thread: a seed replays the same faults.
                plans = [self._injector.plan() for _ in range(self._injector.copies())]
                copies = Copies(left=len(plans)) if len(plans) > 1 else None
                for plan in plans:
                    self._executor.submit(
                        self._invoker.invoke,
                        self._slots.take(mapping.id),
                        mapping,
                        messages,
                        received_at=time.monotonic(),
                        plan=plan,
                        copies=copies,
                    )
                started = True
        return started

    def shutdown(self) -> None:
        """Wait for the running invocations (each ends within its timeout); start no more."""
        self._executor.shutdown(wait=True, cancel_futures=True)
