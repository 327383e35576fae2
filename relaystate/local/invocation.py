"""One invocation of LocalLambda: a received batch, from the recursion stop to its record.

The poll loop (:class:`~relaystate.local.LocalLambda`) receives a batch from a mapped queue
and hands it to :meth:`Invoker.invoke` on a worker thread. What happens to it, in order::

    recursion stop   a message whose chain (the ``Lineage`` of its ``AWSTraceHeader``) would
                     invoke the function more than 16 times is not delivered when the
                     function's recursion setting is not ``Allow``: it is moved to the
                     dead-letter queue (or deleted), and recorded as ``dropped``
    invoke           the rest becomes one SQS event and one Lambda context; the handler runs
                     under the function's timeout, in a scope that carries the chain's trace
                     header on to what it sends and the faults drawn for it
                     (:mod:`~relaystate.local.handler`)
    settle           what it handled is deleted, what failed handed back
                     (:class:`~relaystate.local.settling.Settler`)
    release          the batch's concurrency slot is freed as soon as the handler is done
                     and its messages are handed to the settler (their deletes mostly wait
                     for a batch): on AWS a function's concurrency counts running invocations
    record           an :class:`Invocation` is kept, in the order the batches were received;
                     then the slot is closed (the batch no longer keeps the runtime busy)

The invoker is handed what it calls: the function lookup, the poller, the settler, the fault
injector, and each batch's concurrency slot (:mod:`~relaystate.local.slots`).

Example:
    >>> [(i.outcome, i.chain_depth) for i in lam.invocations]  # doctest: +SKIP
    [('ok', 1), ('ok', 2), ('ok', 3)]
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..clock import now_ms
from . import trace
from .event import queue_region, sqs_event
from .faults import FaultInjector, InvocationFaults
from .handler import InvocationOutcome, run_handler
from .poller import QueuePoller
from .registry import LocalFunction, LocalMapping
from .settling import Copies, Settler
from .slots import Slot

__all__ = ["Invocation", "Invoker"]

log = logging.getLogger("relaystate.local")

#: A message to invoke with: the message, its chain's trace header, its depth in the chain.
_Delivery = tuple[dict[str, Any], trace.TraceHeader | None, int]


@attrs.frozen
class Invocation:
    """One invocation (or, for ``dropped``, one batch Lambda refused to invoke for).

    Attributes:
        function_name: the function invoked.
        request_id: the invocation's ``aws_request_id``.
        message_ids: the SQS messages of its event, in order.
        duration_ms: wall time until the handler returned (or timed out, or crashed).
        outcome: ``ok``, ``partial``, ``error``, ``timeout``, ``crash`` (an injected crash,
            see :class:`~relaystate.local.Faults`) or ``dropped``.
        error: what went wrong (for ``crash``: where it died), empty for ``ok``.
        failed_message_ids: the messages left in the queue for redelivery.
        mapping_id: the event-source mapping that delivered them.
        chain_depth: how often this chain has invoked the function, this time included.
        started_ms: when the handler was called, in ms since the epoch (a timeline's).

    Example:
        >>> [(i.outcome, i.chain_depth) for i in lam.invocations]  # doctest: +SKIP
        [('ok', 1), ('ok', 2), ('ok', 3)]
    """

    function_name: str
    request_id: str
    message_ids: tuple[str, ...]
    duration_ms: float
    outcome: InvocationOutcome
    error: str = ""
    failed_message_ids: tuple[str, ...] = ()
    mapping_id: str = ""
    chain_depth: int = 1
    started_ms: int = 0


class Invoker:
    """Invokes functions with received batches, and keeps the record of every invocation.

    Args:
        functions: the deployed function of a name (``None`` if there is none).
        poller: the emulated service's SQS calls (the dead-letter move of a stopped loop).
        settler: settles the messages of an ended invocation.
        injector: the fault injector (the context class, what a hop's end teaches it).
        region: the region of function ARNs and of events from queues of no other region.

    Example:
        >>> invoker = Invoker(functions=registry.function, poller=poller, settler=settler,
        ...                   injector=injector, region="us-east-1")  # doctest: +SKIP
        >>> invoker.invoke(slots.take(mapping.id), mapping, messages,
        ...                received_at=time.monotonic())  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        functions: Callable[[str], LocalFunction | None],
        poller: QueuePoller,
        settler: Settler,
        injector: FaultInjector,
        region: str,
    ) -> None:
        self._functions = functions
        self._poller = poller
        self._settler = settler
        self._injector = injector
        self._region = region
        self._lock = threading.Lock()
        # (batch number, part) -> invocation: listed in the order batches were received.
        self._invocations: dict[tuple[int, int], Invocation] = {}
        self._scopes: set[trace.Scope] = set()

    @property
    def invocations(self) -> list[Invocation]:
        """Every invocation that has ended, in the order their messages were received."""
        with self._lock:
            return [self._invocations[key] for key in sorted(self._invocations)]

    def invoke(
        self,
        slot: Slot,
        mapping: LocalMapping,
        messages: Sequence[dict[str, Any]],
        *,
        received_at: float,
        plan: InvocationFaults | None = None,
        copies: Copies | None = None,
    ) -> None:
        """Drop what a stopped loop sends, invoke the rest, settle, record; close the slot.

        Args:
            slot: the batch's concurrency slot: released once the handler is done, closed
                at the end whatever happened.
            mapping: the mapping that received the batch.
            messages: the received messages.
            received_at: when they were received (``time.monotonic()``).
            plan: the faults drawn for the invocation.
            copies: the copies of a duplicate delivery this is one of.
        """
        batch = slot.batch
        try:
            function = self._functions(mapping.function_name)
            if function is None:  # pragma: no cover - functions are never removed
                return
            key = trace.function_hash(function.arn)
            keep: list[_Delivery] = []
            drop: list[dict[str, Any]] = []
            depth_dropped = 0
            for message in messages:
                attributes: Mapping[str, str] = message.get("Attributes") or {}
                header = trace.TraceHeader.parse(attributes.get("AWSTraceHeader"))
                depth = (header.count_for(key) if header else 0) + 1
                if depth > trace.MAX_CHAIN_INVOCATIONS and function.recursive_loop != "Allow":
                    drop.append(message)
                    depth_dropped = max(depth_dropped, depth)
                else:
                    keep.append((message, header, depth))
            if drop:
                self._drop((batch, 0), mapping, function, drop, depth_dropped)
            if keep:
                self._run((batch, 1), mapping, function, keep, plan, slot, received_at, copies)
        except Exception:
            log.exception("relaystate.local: the poller failed on a batch of %s", mapping.queue_url)
        finally:
            slot.close()

    def kill_running(self) -> None:
        """Mark every invocation still running as killed: its next AWS call is refused."""
        with self._lock:
            for scope in self._scopes:
                scope.killed = True

    def _drop(
        self,
        order: tuple[int, int],
        mapping: LocalMapping,
        function: LocalFunction,
        messages: Sequence[dict[str, Any]],
        depth: int,
    ) -> None:
        dlq_url = self._poller.dead_letter(mapping.queue_url, messages)
        where = f"moved to the dead-letter queue {dlq_url}" if dlq_url else "deleted (no DLQ)"
        error = (
            f"recursive loop stopped: {function.name} would be invoked for the {depth}th time "
            f"from one original event (Lambda stops after {trace.MAX_CHAIN_INVOCATIONS}) and "
            f"its recursive-loop setting is {function.recursive_loop!r}; the message was "
            f"{where}. Call allow_recursion({function.name!r}) "
            "(PutFunctionRecursionConfig RecursiveLoop=Allow) if the loop is intended"
        )
        log.warning("relaystate.local: %s", error)
        self._record(
            order,
            Invocation(
                function_name=function.name,
                request_id=str(uuid.uuid4()),
                message_ids=tuple(m["MessageId"] for m in messages),
                duration_ms=0.0,
                outcome="dropped",
                error=error,
                mapping_id=mapping.id,
                chain_depth=depth,
            ),
        )

    def _run(
        self,
        order: tuple[int, int],
        mapping: LocalMapping,
        function: LocalFunction,
        batch: Sequence[_Delivery],
        plan: InvocationFaults | None,
        slot: Slot,
        received_at: float,
        copies: Copies | None,
    ) -> None:
        messages = [message for message, _, _ in batch]
        # The invocation continues the deepest chain in its batch (relays have batches of 1).
        _, header, depth = max(batch, key=lambda item: item[2])
        key = trace.function_hash(function.arn)
        request_id = str(uuid.uuid4())
        scope = trace.Scope(
            function_name=function.name,
            request_id=request_id,
            header=(header or trace.TraceHeader.new()).with_count(key, depth),
            faults=plan,
        )
        event = sqs_event(
            messages, mapping.queue_arn, queue_region(mapping.queue_arn, self._region)
        )
        context = self._injector.context_class().start(
            function.name,
            region=self._region,
            timeout_s=function.timeout_s,
            memory_mb=function.memory_mb,
            request_id=request_id,
        )
        ids = [m["MessageId"] for m in messages]
        started_ms = now_ms()
        with self._lock:
            self._scopes.add(scope)
        try:
            run = run_handler(function, event, context, scope, ids)
        finally:
            with self._lock:
                self._scopes.discard(scope)
        self._injector.finished(scope)
        # Visible again at received_at + the queue's visibility timeout (>= the function's).
        delete_by = received_at + function.timeout_s / 2
        self._settler.settle(mapping.queue_url, messages, run.failed_ids, delete_by, copies)
        slot.release()
        self._record(
            order,
            Invocation(
                function_name=function.name,
                request_id=request_id,
                message_ids=tuple(ids),
                duration_ms=run.duration_ms,
                outcome=run.outcome,
                error=run.error,
                failed_message_ids=run.failed_ids,
                mapping_id=mapping.id,
                chain_depth=depth,
                started_ms=started_ms,
            ),
        )
        log.debug(
            "relaystate.local: %s request %s: %s in %.1f ms (%d message(s), chain depth %d)",
            function.name,
            request_id,
            run.outcome,
            run.duration_ms,
            len(ids),
            depth,
        )

    def _record(self, order: tuple[int, int], invocation: Invocation) -> None:
        with self._lock:
            self._invocations[order] = invocation
