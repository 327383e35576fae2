"""Fault injection for LocalLambda: duplicate deliveries, killed invocations, throttled calls.

What a relay meets on AWS and a happy-path test never shows, injected at random but
reproducibly (a seed)::

    duplicate   SQS delivers at least once: a received batch is handed to two concurrent
                invocations (same event, same message ids and receipt handles); both settle.
    crash       an invocation dies at a point of its hop, as a Lambda killed by a timeout or
                out of memory does: it raises :class:`~relaystate.local.FunctionKilled` (a
                ``BaseException``: job code cannot catch it), makes no more AWS calls, and its
                messages are left for redelivery.
    throttle    an AWS call of the job (SQS through ``lam.backend``, DynamoDB through a
                ``lam.ledger()``) fails with AWS's throttling error after botocore's retries:
                a ``ClientError`` raised before the request, so that relaystate's own error
                mapping turns it into :class:`~relaystate.errors.ThrottledError`.

Crash points (:data:`CRASH_POINTS`; ``crash_points=`` picks among them)::

    unit              before a unit: at the n-th call of
                      ``context.get_remaining_time_in_millis()``, which a hop calls between
                      units; n falls at a random fraction of the calls a whole hop makes
    checkpoint        after the checkpoint: after the ledger's ``UpdateItem`` that writes the
                      outbox (the next packet, not yet sent) succeeded
    send              after the send: after a successful ``SendMessage``
    teardown          during teardown: before ``DeleteEventSourceMapping``
    teardown-queues   during teardown, after the mapping is gone: before ``DeleteQueue``.
                      Not in the defaults: nothing redelivers the message then (the mapping
                      is gone), so the queues are left over for ``reap`` -- by design, on AWS
                      as here

Faults hit only invocations (and what their handlers call); the emulated Lambda service's own
calls (receive, delete, change visibility) are never faulted, nor are calls made outside an
invocation (``job.start()``, ``job.status()`` from a test) unless ``throttle_outside=True``.

Example:
    >>> from relaystate.local import Faults, LocalLambda
    >>> faults = Faults(duplicate_rate=0.3, crash_rate=0.1, throttle_rate=0.05, seed=7)
    >>> with LocalLambda(faults=faults) as lam:  # doctest: +SKIP
    ...     lam.deploy(CopyRows)
    ...     CopyRows(data={}, backend=lam.backend, ledger="ledger").start()
    ...     lam.run_until_idle(timeout_s=120)
    ...     lam.faults_injected
    Counter({'duplicate': 11, 'throttle': 6, 'crash:checkpoint': 2, 'crash:unit': 1})
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
from collections.abc import Iterable
from typing import Any, Literal, cast

import attrs

from ..errors import ConfigurationError
from . import trace
from .event import LambdaContext

__all__ = ["ALL_CRASH_POINTS", "CRASH_POINTS", "CrashPoint", "Faults"]

log = logging.getLogger("relaystate.local")

#: Where an injected crash kills an invocation (see the module's documentation).
CrashPoint = Literal["unit", "checkpoint", "send", "teardown", "teardown-queues"]
#: The crash points drawn from by default.
CRASH_POINTS: tuple[CrashPoint, ...] = ("unit", "checkpoint", "send", "teardown")
#: Every crash point, ``teardown-queues`` (which leaves the job's queues over) included.
ALL_CRASH_POINTS: tuple[CrashPoint, ...] = (*CRASH_POINTS, "teardown-queues")

_WHERE: dict[CrashPoint, str] = {
    "unit": "before a unit (call {n} of context.get_remaining_time_in_millis())",
    "checkpoint": "after the checkpoint (the ledger's UpdateItem that wrote the outbox)",
    "send": "after the send (SendMessage)",
    "teardown": "during teardown (before DeleteEventSourceMapping)",
    "teardown-queues": "during teardown (before DeleteQueue; the mapping is gone)",
}
#: The error code AWS throttles each service's calls with.
_THROTTLE_CODES = {
    "sqs": "ThrottlingException",
    "dynamodb": "ProvisionedThroughputExceededException",
}
#: Where a ``unit`` crash lands before any hop of the function has been seen to its end.
_FIRST_HOP_CALLS = 4
_CHECKPOINT = "relaystate_local_checkpoint"


def _rate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ConfigurationError(
            f"Faults.{attribute.name} is a probability from 0 to 1, got {value!r}"
        )


def _seed(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigurationError(f"Faults.seed must be None or an int, got {value!r}")


def _points(value: Iterable[str] | str) -> tuple[CrashPoint, ...]:
    if isinstance(value, str):
        value = (value,)
    points = tuple(value)
    unknown = [p for p in points if p not in ALL_CRASH_POINTS]
    if unknown or not points:
        raise ConfigurationError(
            f"Faults.crash_points takes one or more of {list(ALL_CRASH_POINTS)}, got "
            f"{list(points)!r}"
        )
    return cast(tuple[CrashPoint, ...], points)


@attrs.frozen
class Faults:
    """What :class:`~relaystate.local.LocalLambda` injects, and how often.

    Args:
        duplicate_rate: the chance that a received batch is handed to two concurrent
            invocations (SQS's at-least-once delivery).
        crash_rate: the chance that an invocation dies at one of ``crash_points``, drawn per
            invocation; a point the invocation never reaches (a relay hop does not tear
            down) is not injected.
        throttle_rate: the chance that one AWS call of the job fails with a throttling error.
        seed: seeds the fault sequence; the same seed draws the same faults for the same
            order of deliveries (threads may reorder deliveries, and so the faults, a little).
        crash_points: the points a crash is drawn from (default :data:`CRASH_POINTS`).
        throttle_outside: throttle calls made outside invocations too (``job.start()``...).

    Raises:
        ConfigurationError: a rate outside 0..1, a seed that is not an int, an unknown
            crash point.

    Example:
        >>> Faults(duplicate_rate=0.3, seed=1).duplicate_rate
        0.3
        >>> Faults(crash_rate=0.5, crash_points=["teardown"]).crash_points
        ('teardown',)
    """

    duplicate_rate: float = attrs.field(default=0.0, validator=_rate)
    crash_rate: float = attrs.field(default=0.0, validator=_rate)
    throttle_rate: float = attrs.field(default=0.0, validator=_rate)
    seed: int | None = attrs.field(default=None, validator=_seed)
    crash_points: tuple[CrashPoint, ...] = attrs.field(default=CRASH_POINTS, converter=_points)
    throttle_outside: bool = False

    @property
    def enabled(self) -> bool:
        """Whether any fault can be injected (a rate above 0)."""
        return bool(self.duplicate_rate or self.crash_rate or self.throttle_rate)


@attrs.define(eq=False)
class InvocationFaults:
    """The faults drawn for one invocation, and what came of them (internal).

    ``injector`` drew them; ``crash`` is the point at which it dies (``None``: it does not),
    ``fraction`` how far through the hop's ``get_remaining_time_in_millis`` calls a ``unit``
    crash lands, ``rng`` the invocation's own generator for throttles (its draws do not
    depend on other threads).
    """

    injector: FaultInjector
    crash: CrashPoint | None
    fraction: float
    rng: random.Random
    remaining_calls: int = 0


def plan_of(scope: trace.Scope | None) -> InvocationFaults | None:
    """The faults drawn for the invocation of ``scope`` (``None``: none, or no invocation).

    :class:`~relaystate.local.trace.Scope` holds them untyped (trace is below this module).
    """
    plan = scope.faults if scope is not None else None
    return plan if isinstance(plan, InvocationFaults) else None


class FaultInjector:
    """Draws and injects the faults of one LocalLambda; counts what it injected (internal).

    Per-delivery draws (duplicate, crash, the invocation's own seed) are made by the poller,
    in delivery order; throttles are drawn from the invocation's own generator.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._injected: collections.Counter[str] = collections.Counter()
        # function name -> most get_remaining_time_in_millis calls seen in a whole invocation
        self._hop_calls: dict[str, int] = {}

    @property
    def injected(self) -> collections.Counter[str]:
        """Faults injected so far: ``duplicate``, ``crash:<point>``, ``throttle``."""
        with self._lock:
            return collections.Counter(self._injected)

    def _count(self, what: str) -> None:
        with self._lock:
            self._injected[what] += 1

    # -- draws, in the poller's thread ---------------------------------------------------------

    def copies(self) -> int:
        """How many invocations a received batch goes to: 2 for a duplicate delivery, else 1."""
        if not self.faults.duplicate_rate:
            return 1
        with self._lock:
            duplicate = self._rng.random() < self.faults.duplicate_rate
            if duplicate:
                self._injected["duplicate"] += 1
        return 2 if duplicate else 1

    def plan(self) -> InvocationFaults | None:
        """The faults of the next invocation; ``None`` when nothing is ever injected."""
        if not (self.faults.crash_rate or self.faults.throttle_rate):
            return None
        with self._lock:
            crash: CrashPoint | None = None
            if self._rng.random() < self.faults.crash_rate:
                crash = self._rng.choice(self.faults.crash_points)
            fraction = self._rng.random()
            rng = random.Random(self._rng.getrandbits(64))
        return InvocationFaults(self, crash=crash, fraction=fraction, rng=rng)

    def context_class(self) -> type[LambdaContext]:
        """The context class for invocations: one that can die between units if needed."""
        if self.faults.crash_rate and "unit" in self.faults.crash_points:
            return CrashableContext
        return LambdaContext

    # -- injection, in the invocation's thread ---------------------------------------------------

    def _crash(self, scope: trace.Scope, point: CrashPoint, **detail: Any) -> None:
        where = _WHERE[point].format(**detail)
        scope.crashed = f"injected crash {where}"
        scope.killed = True
        self._count(f"crash:{point}")
        raise trace.FunctionKilled(
            f"invocation {scope.request_id} of {scope.function_name} was killed {where} "
            "(fault injection); it makes no more AWS calls"
        )

    def on_remaining(self, scope: trace.Scope) -> None:
        """``get_remaining_time_in_millis()`` was called: die here if a ``unit`` crash is due."""
        plan = plan_of(scope)
        if plan is None:
            return
        plan.remaining_calls += 1
        if plan.crash != "unit":
            return
        with self._lock:
            calls = self._hop_calls.get(scope.function_name, _FIRST_HOP_CALLS)
        if plan.remaining_calls == 1 + int(plan.fraction * calls):
            self._crash(scope, "unit", n=plan.remaining_calls)

    def finished(self, scope: trace.Scope) -> None:
        """An invocation ended: learn how many calls of remaining time a whole hop makes."""
        plan = plan_of(scope)
        if plan is None or scope.crashed or not plan.remaining_calls:
            return
        with self._lock:
            seen = self._hop_calls.get(scope.function_name, 0)
            self._hop_calls[scope.function_name] = max(seen, plan.remaining_calls)

    def before_call(self, operation: str) -> None:
        """Before an AWS call of the job: die here if a teardown crash is due."""
        scope = trace.current_scope()
        plan = plan_of(scope)
        if scope is None or plan is None or plan.crash is None:
            return
        if (plan.crash == "teardown" and operation == "DeleteEventSourceMapping") or (
            plan.crash == "teardown-queues" and operation == "DeleteQueue"
        ):
            self._crash(scope, plan.crash)

    def throttle(self, service: str, operation: str) -> None:
        """Maybe fail this call as AWS does when it throttles (after botocore's retries)."""
        rate = self.faults.throttle_rate
        code = _THROTTLE_CODES.get(service)
        if not rate or code is None:
            return
        scope = trace.current_scope()
        plan = plan_of(scope)
        if plan is not None:
            hit = plan.rng.random() < rate
        elif scope is None and self.faults.throttle_outside:
            with self._lock:
                hit = self._rng.random() < rate
        else:
            return
        if not hit:
            return
        self._count("throttle")
        log.info(
            "relaystate.local: injected throttle: %s %s (%s)",
            service,
            operation,
            f"request {scope.request_id}" if scope is not None else "outside invocations",
        )
        from botocore.exceptions import ClientError

        response: Any = {
            "Error": {"Code": code, "Message": "Rate exceeded (injected by Faults)"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        raise ClientError(response, operation)

    def after_call(self, point: CrashPoint) -> None:
        """After a successful send or checkpoint: die here if that crash is due."""
        scope = trace.current_scope()
        plan = plan_of(scope)
        if scope is not None and plan is not None and plan.crash == point:
            self._crash(scope, point)

    # -- hooks on the clients ------------------------------------------------------------------

    def install_sqs(self, client: Any) -> None:
        """Crash after a successful ``SendMessage`` of an invocation that is due to."""

        def after_send(http_response: Any, **_: Any) -> None:
            if _ok(http_response):
                self.after_call("send")

        client.meta.events.register("after-call.sqs.SendMessage", after_send)

    def install_dynamodb(self, client: Any) -> None:
        """Crash after a successful checkpoint (an ``UpdateItem`` that writes ``:outbox``)."""

        def mark(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            values = params.get("ExpressionAttributeValues") or {}
            context[_CHECKPOINT] = ":outbox" in values

        def after_update(http_response: Any, context: dict[str, Any], **_: Any) -> None:
            if context.get(_CHECKPOINT) and _ok(http_response):
                self.after_call("checkpoint")

        client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", mark)
        client.meta.events.register("after-call.dynamodb.UpdateItem", after_update)


def _ok(http_response: Any) -> bool:
    status = getattr(http_response, "status_code", 500)
    return isinstance(status, int) and status < 300


class CrashableContext(LambdaContext):
    """A :class:`LambdaContext` whose invocation may die between units (fault injection).

    ``get_remaining_time_in_millis()`` is where a ``unit`` crash strikes; a killed
    invocation (crashed, or timed out) that calls it dies there, as it runs no more units.
    """

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left; raises :class:`FunctionKilled` in a killed invocation."""
        scope = trace.current_scope()
        if scope is not None:
            trace.check_alive()
            plan = plan_of(scope)
            if plan is not None:
                plan.injector.on_remaining(scope)
        return super().get_remaining_time_in_millis()
