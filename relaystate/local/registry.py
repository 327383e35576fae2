"""The local Lambda service's control plane: deployed functions and event-source mappings.

:class:`MappingRegistry` is the :class:`~relaystate.ports.MappingPort` of
:class:`~relaystate.local.LocalLambda`'s backend. It keeps functions and mappings in memory
(moto's Lambda would need Docker to run a function) and checks what AWS checks when a mapping
is created: the function exists, the queue exists, the queue's visibility timeout is not
shorter than the function's timeout, batch size and maximum concurrency are in range, and no
mapping joins the same queue and function already.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import attrs

from ..errors import (
    ConfigurationError,
    InvalidRequestError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from ..ports import MappingInfo
from .event import function_arn

__all__ = [
    "Handler",
    "LocalFunction",
    "LocalMapping",
    "MappingRegistry",
    "QueueLookup",
    "RecursiveLoop",
]

#: A Lambda handler: ``handler(event, context)``; its return value is the function's response.
Handler = Callable[[dict[str, Any], Any], object]
#: A function's recursive-loop setting (``PutFunctionRecursionConfig``).
RecursiveLoop = Literal["Allow", "Terminate"]
#: ``queue ARN -> (queue URL, queue attributes)``, or ``None`` if the queue does not exist.
QueueLookup = Callable[[str], "tuple[str, Mapping[str, str]] | None"]

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TIMEOUT_S = 900


@attrs.frozen
class LocalFunction:
    """A function deployed on a :class:`~relaystate.local.LocalLambda`.

    ``timeout_s`` may have a fraction here (AWS takes whole seconds, 1-900), to keep tests
    short; :meth:`MappingRegistry.function_timeout_s` reports it rounded up, as AWS would
    have it.

    Example:
        >>> fn = lam.deploy("echo", lambda event, context: None, timeout_s=0.5)  # doctest: +SKIP
        >>> fn.arn, fn.recursive_loop  # doctest: +SKIP
        ('arn:aws:lambda:us-east-1:123456789012:function:echo', 'Terminate')
    """

    name: str
    handler: Handler = attrs.field(repr=False)
    timeout_s: float
    memory_mb: int
    arn: str
    recursive_loop: RecursiveLoop = "Terminate"


@attrs.frozen
class LocalMapping:
    """A snapshot of an event-source mapping, as :meth:`MappingRegistry.all` lists it.

    Example:
        >>> [(m.function_name, m.state, m.batch_size) for m in lam.mappings]  # doctest: +SKIP
        [('copy-rows-worker', 'Enabled', 1)]
    """

    id: str
    state: str
    queue_arn: str
    function_name: str
    batch_size: int
    max_concurrency: int | None
    queue_url: str = attrs.field(repr=False)
    function_arn: str = attrs.field(repr=False)


@attrs.define(eq=False)
class _Entry:
    mapping: LocalMapping
    settles_at: float
    deleting: bool = False
    #: The state a transition (Creating, Enabling, Disabling) ends in.
    target: str = "Enabled"


def _in_transition(entry: _Entry) -> bool:
    return entry.deleting or entry.mapping.state in ("Creating", "Enabling", "Disabling")


def function_name_of(name_or_arn: str) -> str:
    """The function name in ``NAME[:Q]`` or ``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]``
    (the local runtime runs one code for every alias and version: ``Q`` is not emulated)."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
    return name_or_arn.split(":", 1)[0]


class MappingRegistry:
    """Functions and event-source mappings of a :class:`~relaystate.local.LocalLambda`.

    Implements :class:`~relaystate.ports.MappingPort`. A new mapping is ``Creating`` and
    becomes ``Enabled`` after ``transition_s``; a deleted one is ``Deleting`` for
    ``delete_transition_s`` (default: ``transition_s``), then gone. (On AWS both take
    seconds.)

    Args:
        region: the region in function ARNs.
        queue_lookup: finds a queue's URL and attributes by ARN (``None`` if it is gone).
        on_call: called with the Lambda API operation's name at each port call, first thing.
        on_change: called after a mapping was created or deleted.
        transition_s: how long ``Creating`` lasts (and ``Deleting``, unless given apart).
        delete_transition_s: how long ``Deleting`` lasts (``None``: ``transition_s``).
        clock: seconds, monotonic (a fake one in tests).

    Example:
        >>> from relaystate.local import LocalLambda
        >>> with LocalLambda() as lam:  # doctest: +SKIP
        ...     [(m.function_name, m.state) for m in lam.mappings]
        []
    """

    def __init__(
        self,
        *,
        region: str,
        queue_lookup: QueueLookup,
        on_call: Callable[[str], None] = lambda operation: None,
        on_change: Callable[[], None] = lambda: None,
        transition_s: float = 0.0,
        delete_transition_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.region = region
        self._clock = clock
        self.transition_s = transition_s
        self.delete_transition_s = (
            transition_s if delete_transition_s is None else delete_transition_s
        )
        self._queue_lookup = queue_lookup
        self._on_call = on_call
        self._on_change = on_change
        self._lock = threading.RLock()
        self._functions: dict[str, LocalFunction] = {}
        self._mappings: dict[str, _Entry] = {}

    # -- functions ---------------------------------------------------------------------------

    def deploy(
        self, name: str, handler: Handler, *, timeout_s: float, memory_mb: int
    ) -> LocalFunction:
        """Create or replace the function ``name`` (its recursion setting is kept).

        Raises:
            ConfigurationError: a name, timeout or memory size that Lambda would refuse.
        """
        name = function_name_of(name)
        if not _FUNCTION_NAME.fullmatch(name):
            raise ConfigurationError(
                f"function name {name!r} is not valid: use 1-64 characters of A-Z, a-z, 0-9, "
                "'-' and '_' (or a function ARN)"
            )
        if not callable(handler):
            raise ConfigurationError(
                f"the handler of {name!r} must be callable as handler(event, context), "
                f"got {handler!r}"
            )
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise ConfigurationError(
                f"timeout_s must be more than 0 and at most {MAX_TIMEOUT_S} (Lambda's "
                f"limit), got {timeout_s!r}"
            )
        if not 128 <= memory_mb <= 10_240:
            raise ConfigurationError(
                f"memory_mb must be 128..10240 (Lambda's range), got {memory_mb!r}"
            )
        with self._lock:
            old = self._functions.get(name)
            function = LocalFunction(
                name=name,
                handler=handler,
                timeout_s=float(timeout_s),
                memory_mb=memory_mb,
                arn=function_arn(name, self.region),
                recursive_loop=old.recursive_loop if old else "Terminate",
            )
            self._functions[name] = function
        return function

    def function(self, name_or_arn: str) -> LocalFunction | None:
        """The deployed function of that name (or ARN), or ``None``."""
        with self._lock:
            return self._functions.get(function_name_of(name_or_arn))

    def functions(self) -> list[LocalFunction]:
        """Every deployed function, by name."""
        with self._lock:
            return [self._functions[name] for name in sorted(self._functions)]

    def _require(self, name_or_arn: str, operation: str) -> LocalFunction:
        function = self.function(name_or_arn)
        if function is None:
            name = function_name_of(name_or_arn)
            raise ResourceNotFoundError(
                f"lambda {operation}: function {name!r} is not deployed on this LocalLambda; "
                f"call lam.deploy(YourJob) or lam.deploy({name!r}, handler) first",
                service="lambda",
                operation=operation,
                code="ResourceNotFoundException",
            )
        return function

    # -- inspection ----------------------------------------------------------------------------

    def all(self) -> list[LocalMapping]:
        """Every mapping that exists now (``Deleting`` ones included), oldest first."""
        with self._lock:
            return [entry.mapping for entry in self._settle()]

    def mapping(self, mapping_id: str) -> LocalMapping | None:
        """The mapping with that id, or ``None`` if there is none (any more)."""
        with self._lock:
            for entry in self._settle():
                if entry.mapping.id == mapping_id:
                    return entry.mapping
        return None

    def active(self) -> list[LocalMapping]:
        """The mappings whose queues are (or are about to be) polled: Enabled, or on their way
        there (Creating to be enabled, Enabling)."""
        with self._lock:
            return [
                e.mapping
                for e in self._settle()
                if e.mapping.state in ("Enabled", "Enabling")
                or (e.mapping.state == "Creating" and e.target == "Enabled")
            ]

    def next_transition_in(self) -> float | None:
        """Seconds until the next mapping ends its transition (``Creating``, ``Deleting``...);
        ``None`` when none is in one (a time-skipping runtime may jump there)."""
        with self._lock:
            now = self._clock()
            return min(
                (max(0.0, e.settles_at - now) for e in self._settle() if _in_transition(e)),
                default=None,
            )

    def __iter__(self) -> Iterator[LocalMapping]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())

    def _settle(self) -> list[_Entry]:
        """Advance states whose transition time has passed; drop mappings deleted by now."""
        now = self._clock()
        for mapping_id, entry in list(self._mappings.items()):
            if now < entry.settles_at:
                continue
            if entry.deleting:
                del self._mappings[mapping_id]
            elif entry.mapping.state in ("Creating", "Enabling", "Disabling"):
                entry.mapping = attrs.evolve(entry.mapping, state=entry.target)
        return list(self._mappings.values())

    # -- MappingPort -----------------------------------------------------------------------------

    def function_timeout_s(self, function_name: str) -> int:
        """The function's timeout in whole seconds (rounded up, at least 1)."""
        self._on_call("GetFunctionConfiguration")
        function = self._require(function_name, "GetFunctionConfiguration")
        return max(math.ceil(function.timeout_s), 1)

    def create(
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        """Create a mapping from the queue to the function; it is ``Creating`` at first, then
        ``Enabled`` (or ``Disabled``, created with ``enabled=False``)."""
        operation = "CreateEventSourceMapping"
        self._on_call(operation)
        function = self._require(function_name, operation)
        if not 1 <= batch_size <= 10:
            raise _invalid(
                operation,
                f"BatchSize must be 1..10 here, got {batch_size!r} (AWS allows more only with "
                "a batching window, which the local runtime does not emulate)",
            )
        if max_concurrency is not None and not 2 <= max_concurrency <= 1000:
            raise _invalid(
                operation,
                f"ScalingConfig.MaximumConcurrency must be 2..1000, got {max_concurrency!r}",
            )
        found = self._queue_lookup(queue_arn)
        if found is None:
            raise _invalid(
                operation,
                f"Error occurred while ReceiveMessage. SQS Error Code: "
                f"AWS.SimpleQueueService.NonExistentQueue (queue {queue_arn}); create the "
                "queue first",
            )
        queue_url, attributes = found
        visibility = int(attributes.get("VisibilityTimeout", "30") or 30)
        timeout = max(math.ceil(function.timeout_s), 1)
        if visibility < timeout:
            raise _invalid(
                operation,
                f"Queue visibility timeout: {visibility} seconds is less than Function "
                f"timeout: {timeout} seconds; raise the queue's VisibilityTimeout (AWS "
                "advises 6 x the function timeout)",
            )
        with self._lock:
            for entry in self._settle():
                m = entry.mapping
                if (
                    not entry.deleting
                    and m.queue_arn == queue_arn
                    and m.function_arn == (function.arn)
                ):
                    raise ResourceConflictError(
                        f"lambda {operation}: an event source mapping with SQS arn "
                        f"{queue_arn} and function {function.name} already exists "
                        f"(UUID {m.id}); update or delete it",
                        service="lambda",
                        operation=operation,
                        code="ResourceConflictException",
                    )
            mapping = LocalMapping(
                id=str(uuid.uuid4()),
                state="Creating",
                queue_arn=queue_arn,
                function_name=function.name,
                batch_size=batch_size,
                max_concurrency=max_concurrency,
                queue_url=queue_url,
                function_arn=function.arn,
            )
            self._mappings[mapping.id] = _Entry(
                mapping,
                self._clock() + self.transition_s,
                target="Enabled" if enabled else "Disabled",
            )
        self._on_change()
        return _info(mapping)

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        """``UpdateEventSourceMapping(Enabled=...)``: ``Enabling``/``Disabling`` for
        ``transition_s``, then ``Enabled``/``Disabled``; a mapping in another transition refuses
        (``ResourceInUseException``), as on AWS."""
        operation = "UpdateEventSourceMapping"
        self._on_call(operation)
        with self._lock:
            self._settle()
            entry = self._mappings.get(mapping_id)
            if entry is None or entry.deleting:
                raise ResourceNotFoundError(
                    f"lambda {operation}: no event source mapping {mapping_id}",
                    service="lambda",
                    operation=operation,
                    code="ResourceNotFoundException",
                )
            if entry.mapping.state not in ("Enabled", "Disabled"):
                raise ResourceConflictError(
                    f"lambda {operation}: mapping {mapping_id} is {entry.mapping.state}; "
                    "try again when it has settled",
                    service="lambda",
                    operation=operation,
                    code="ResourceInUseException",
                )
            entry.target = "Enabled" if enabled else "Disabled"
            if entry.mapping.state != entry.target:
                moving = "Enabling" if enabled else "Disabling"
                entry.mapping = attrs.evolve(entry.mapping, state=moving)
                entry.settles_at = self._clock() + self.transition_s
            self._settle()
            found = entry.mapping
        self._on_change()
        return _info(found)

    def get(self, mapping_id: str) -> MappingInfo | None:
        """The mapping's state; ``None`` once it is gone."""
        self._on_call("GetEventSourceMapping")
        found = self.mapping(mapping_id)
        return _info(found) if found is not None else None

    def delete(self, mapping_id: str) -> None:
        """Start deleting the mapping (``Deleting``, then gone); unknown ids are ignored."""
        self._on_call("DeleteEventSourceMapping")
        with self._lock:
            self._settle()
            entry = self._mappings.get(mapping_id)
            if entry is None or entry.deleting:
                return
            entry.deleting = True
            entry.settles_at = self._clock() + self.delete_transition_s
            entry.mapping = attrs.evolve(entry.mapping, state="Deleting")
        self._on_change()

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        """The mappings fed by the queue (``ListEventSourceMappings(EventSourceArn=...)``)."""
        self._on_call("ListEventSourceMappings")
        return [_info(m) for m in self.all() if m.queue_arn == queue_arn]

    def allow_recursion(self, function_name: str) -> None:
        """Set the function's recursive-loop setting to ``Allow``."""
        self.set_recursive_loop(function_name, "Allow")

    def set_recursive_loop(self, function_name: str, value: RecursiveLoop) -> None:
        """``PutFunctionRecursionConfig``: ``"Allow"`` or ``"Terminate"`` (the default)."""
        operation = "PutFunctionRecursionConfig"
        self._on_call(operation)
        if value not in ("Allow", "Terminate"):
            raise _invalid(
                operation, f"RecursiveLoop must be 'Allow' or 'Terminate', got {value!r}"
            )
        with self._lock:
            function = self._require(function_name, operation)
            self._functions[function.name] = attrs.evolve(function, recursive_loop=value)


def _info(mapping: LocalMapping) -> MappingInfo:
    # The AWS adapter reports the function's ARN (all AWS returns); so does the local one.
    return MappingInfo(
        id=mapping.id,
        state=mapping.state,
        queue_arn=mapping.queue_arn,
        function_name=mapping.function_arn,
    )


def _invalid(operation: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"lambda {operation} failed with InvalidParameterValueException: {message}",
        service="lambda",
        operation=operation,
        code="InvalidParameterValueException",
    )
