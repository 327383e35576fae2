"""Lambda's functions and event-source mappings in a simulation: :class:`SimMappings`.

The mapping port of :class:`~relaystate.testing.MemoryMappings`, with the states AWS documents
and the time each transition takes (drawn from the run's seed)::

    create       Creating -> Enabled (or Disabled, created with enabled=False); refused for a
                 function or queue that does not exist, a second mapping of the same queue
                 and function, or a queue whose visibility timeout is below the function's
    set_enabled  Enabled <-> Disabled, through Enabling / Disabling
    delete       Deleting -> gone; refused (ResourceInUseException) while Creating,
                 Enabling, Disabling or Updating; a mapping already Deleting stays so

Only an ``Enabled`` mapping polls its queue (:mod:`~relaystate.testing.sim.poller`) -- and a
``Disabling`` one, whose pollers have not all stopped yet (AWS documents no instant at which
they do: what ``pause()`` promises begins at ``Disabled``); an ``Enabling`` one does not yet. A
function is deployed with its handler, timeout and concurrency; its recursion setting starts
as ``Terminate`` (Lambda stops a Lambda-SQS-Lambda loop after 16 invocations) until
``allow_recursion`` sets ``Allow``.

Example:
    >>> from relaystate.testing.sim import SimFaults, SimTiming
    >>> from relaystate.testing.sim.sqs import SimQueues
    >>> from relaystate.testing.sim.world import World
    >>> world = World(1, SimFaults(), SimTiming())
    >>> mappings = SimMappings(world, SimQueues(world))
    >>> mappings.deploy("worker", lambda event, context: None, timeout_s=10)
    >>> mappings.function_timeout_s("worker")
    10
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ...errors import InvalidRequestError, ResourceConflictError, ResourceNotFoundError
from ...ports import MappingInfo
from ..memory import ACCOUNT, MemoryMappings
from .sqs import SimQueues
from .world import World

__all__ = ["DELIVERING", "Handler", "SimFunction", "SimMapping", "SimMappings"]

#: A Lambda handler: ``handler(event, context)``.
Handler = Callable[[Mapping[str, Any], Any], Any]
#: States in which a mapping refuses to be deleted or updated (ResourceInUseException).
BUSY = ("Creating", "Enabling", "Disabling", "Updating")
#: States in which a mapping's poller delivers.
DELIVERING = ("Enabled", "Disabling")


@attrs.define(eq=False)
class SimFunction:
    """A deployed function: its handler, timeout, concurrency and recursion setting."""

    name: str
    handler: Handler
    timeout_s: float
    concurrency: int
    recursion: str = "Terminate"
    #: Invocations running now.
    running: int = 0

    @property
    def arn(self) -> str:
        """The function's ARN (what GetEventSourceMapping reports as FunctionArn)."""
        return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.name}"


@attrs.define(eq=False)
class SimMapping:
    """An event-source mapping: what it polls, for which function, and its state."""

    id: str
    function: SimFunction
    queue_arn: str
    batch_size: int
    max_concurrency: int | None
    state: str
    #: Invocations of this mapping running now.
    running: int = 0
    #: A poll is due (so that one is not scheduled twice).
    poll_due: bool = False
    #: Counts state changes: a scheduled change applies only to the state it was made for.
    version: int = 0

    def info(self) -> MappingInfo:
        """As GetEventSourceMapping reports it."""
        return MappingInfo(self.id, self.state, self.queue_arn, self.function.arn)

    def delivers(self) -> bool:
        """Whether its poller receives and invokes (Enabled, or still Disabling)."""
        return self.state in DELIVERING

    def room(self) -> bool:
        """Whether another invocation may start (its MaximumConcurrency, the function's)."""
        limit = self.max_concurrency if self.max_concurrency is not None else math.inf
        return self.running < limit and self.function.running < self.function.concurrency


class SimMappings(MemoryMappings):
    """:class:`~relaystate.ports.MappingPort` of a simulation (see the module's documentation).

    Args:
        world: the run's world.
        queues: the run's queues (a mapping's queue must exist).
    """

    def __init__(self, world: World, queues: SimQueues) -> None:
        super().__init__()
        self.world = world
        self.queues = queues
        self.functions: dict[str, SimFunction] = {}
        #: Every mapping that exists (``mappings`` holds what GetEventSourceMapping reports).
        self.live: dict[str, SimMapping] = {}
        #: Called when a mapping becomes Enabled (the poller starts).
        self.on_enabled: Callable[[SimMapping], None] = lambda mapping: None
        self._numbers = itertools.count(1)

    def deploy(
        self, name: str, handler: Handler, *, timeout_s: float, concurrency: int = 1000
    ) -> None:
        """Deploy (or replace) function ``name``."""
        self.functions[name] = SimFunction(name, handler, timeout_s, concurrency)

    def function(self, name_or_arn: str) -> SimFunction:
        """The function of a name or ARN.

        Raises:
            ResourceNotFoundError: no such function is deployed.
        """
        found = self.functions.get(name_or_arn.rsplit(":", 1)[-1])
        if found is None:
            raise ResourceNotFoundError(
                f"Function not found: {name_or_arn}",
                service="lambda",
                code="ResourceNotFoundException",
            )
        return found

    # -- the port ------------------------------------------------------------------------------

    def function_timeout_s(self, function_name: str) -> int:
        def apply() -> int:
            return max(1, math.ceil(self.function(function_name).timeout_s))

        return self.world.call("lambda", "GetFunctionConfiguration", apply)

    def create(
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        def apply() -> MappingInfo:
            return self._create(function_name, queue_arn, batch_size, max_concurrency, enabled)

        return self.world.call("lambda", "CreateEventSourceMapping", apply)

    def get(self, mapping_id: str) -> MappingInfo | None:
        return self.world.call("lambda", "GetEventSourceMapping", lambda: self._info(mapping_id))

    def delete(self, mapping_id: str) -> None:
        self.world.call("lambda", "DeleteEventSourceMapping", lambda: self._delete(mapping_id))

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        """Enable or disable the mapping (UpdateEventSourceMapping).

        Raises:
            ResourceNotFoundError: no such mapping.
            ResourceConflictError: it is in a transition.
        """

        def apply() -> MappingInfo:
            mapping = self._mapping(mapping_id)
            want = "Enabled" if enabled else "Disabled"
            if mapping.state != want:
                self._busy(mapping, "UpdateEventSourceMapping", "Deleting")
                self._move(mapping, "Enabling" if enabled else "Disabling")
                took = self.world.timing.state_s(self.world.timing.mapping_update_s, self.world.rng)
                self._later(mapping, took, want)
            return mapping.info()

        return self.world.call("lambda", "UpdateEventSourceMapping", apply)

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        def apply() -> list[MappingInfo]:
            return [m.info() for m in self.live.values() if m.queue_arn == queue_arn]

        return self.world.call("lambda", "ListEventSourceMappings", apply)

    def allow_recursion(self, function_name: str) -> None:
        def apply() -> None:
            self.function(function_name).recursion = "Allow"

        self.world.call("lambda", "PutFunctionRecursionConfig", apply)

    # -- helpers -----------------------------------------------------------------------------

    def _create(
        self,
        function_name: str,
        queue_arn: str,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool,
    ) -> MappingInfo:
        world = self.world
        function = self.function(function_name)
        queue = self.queues.live(queue_arn)
        if queue is None:
            raise InvalidRequestError(
                f"Error occurred while ReceiveMessage. SQS Error Code: "
                f"AWS.SimpleQueueService.NonExistentQueue ({queue_arn})",
                service="lambda",
                operation="CreateEventSourceMapping",
                code="InvalidParameterValueException",
            )
        if queue.number("VisibilityTimeout", 30) < function.timeout_s:
            raise InvalidRequestError(
                f"Queue visibility timeout: {queue.number('VisibilityTimeout', 30)} seconds is "
                f"less than Function timeout: {function.timeout_s:g} seconds",
                service="lambda",
                operation="CreateEventSourceMapping",
                code="InvalidParameterValueException",
            )
        for other in self.live.values():
            if other.queue_arn == queue_arn and other.function is function:
                raise ResourceConflictError(
                    f"An event source mapping with SQS arn {queue_arn} and function "
                    f"{function.name} already exists: {other.id}",
                    service="lambda",
                    operation="CreateEventSourceMapping",
                    code="ResourceConflictException",
                )
        mapping = SimMapping(
            f"esm-{world.seed}-{next(self._numbers)}",
            function,
            queue_arn,
            batch_size,
            max_concurrency,
            "Creating",
        )
        self.live[mapping.id] = mapping
        self.mappings[mapping.id] = mapping.info()
        took = world.timing.state_s(world.timing.mapping_create_s, world.rng)
        self._later(mapping, took, "Enabled" if enabled else "Disabled")
        world.record.say(world.now, world.by(), f"created mapping {mapping.id} (Creating)")
        return mapping.info()

    def _delete(self, mapping_id: str) -> None:
        mapping = self.live.get(mapping_id)
        if mapping is None or mapping.state == "Deleting":
            return
        self._busy(mapping, "DeleteEventSourceMapping")
        world = self.world
        self._move(mapping, "Deleting")
        world.record.say(world.now, world.by(), f"deleting mapping {mapping_id}")
        took = world.timing.state_s(world.timing.mapping_delete_s, world.rng)
        self._later(mapping, took, "")

    def _info(self, mapping_id: str) -> MappingInfo | None:
        mapping = self.live.get(mapping_id)
        return mapping.info() if mapping is not None else None

    def _mapping(self, mapping_id: str) -> SimMapping:
        mapping = self.live.get(mapping_id)
        if mapping is None:
            raise ResourceNotFoundError(
                f"The resource you requested does not exist: {mapping_id}",
                service="lambda",
                code="ResourceNotFoundException",
            )
        return mapping

    def _busy(self, mapping: SimMapping, operation: str, *also: str) -> None:
        if mapping.state in BUSY or mapping.state in also:
            raise ResourceConflictError(
                f"Cannot {operation} of mapping {mapping.id}: it is {mapping.state}",
                service="lambda",
                operation=operation,
                code="ResourceInUseException",
            )

    def _move(self, mapping: SimMapping, state: str) -> None:
        mapping.state = state
        mapping.version += 1
        self.mappings[mapping.id] = mapping.info()

    def _later(self, mapping: SimMapping, after_s: float, state: str) -> None:
        """Move ``mapping`` to ``state`` (``""``: gone) ``after_s`` from now, unless it moved."""
        version = mapping.version

        def settle() -> None:
            if mapping.version != version or self.live.get(mapping.id) is not mapping:
                return
            if not state:
                del self.live[mapping.id]
                self.mappings.pop(mapping.id, None)
                self.world.record.say(self.world.now, -1, f"mapping {mapping.id} is gone")
                return
            self._move(mapping, state)
            if state == "Enabled":
                self.on_enabled(mapping)

        self.world.sched.at(self.world.now + after_s, settle)
