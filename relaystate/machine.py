"""The transitions machine behind every job: built once from :data:`relaystate.states.TRANSITIONS`.

One :class:`JobMachine` serves every job of the process: :meth:`JobMachine.attach` binds its
triggers onto a job and sets the job's state, without keeping a reference to the job (a warm
Lambda runs thousands of hops; a machine that listed every job it served would keep them all).
Building a ``transitions.Machine`` is most of what a hop would otherwise spend in relaystate's own
code, so it is built once, on the first job.

Example:
    >>> from relaystate.states import JobState
    >>> class Light:
    ...     state = None
    ...     def enqueue(self): ...
    >>> machine = JobMachine({})
    >>> light = Light()
    >>> machine.attach(light, JobState.CREATED)
    >>> light.enqueue()
    True
    >>> light.state
    <JobState.QUEUED: 'queued'>
    >>> machine.detach(light)
    >>> light.enqueue()  # the class's own method again
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from enum import Enum
from functools import partial
from typing import Any

from transitions import EventData, Machine, MachineError, State

from .errors import InvalidTransitionError
from .states import TRANSITIONS, JobState

__all__ = ["Callback", "JobMachine"]

#: A transition callback: it receives the ``EventData`` (the job is ``event.model``, trigger
#: arguments are in ``event.kwargs``).
Callback = Callable[[EventData], None]

#: The machine's name: transitions puts ``"relaystate: "`` first in the arguments of its log
#: records about this machine, which is how :class:`_QuietTriggers` knows them.
NAME = "relaystate"

#: trigger -> the names of the states it may be fired from, for error messages.
_ALLOWED: dict[str, tuple[str, ...]] = {
    trigger: tuple(s.value for s in sources) for trigger, sources, _ in TRANSITIONS
}


class _JobStateState(State):
    """A machine state whose name is worked out once.

    transitions' ``State.name`` is a property that checks for an enum and reads the member's
    ``name`` (itself a property) on every access, a dozen times a trigger; here it is the
    same text, kept as an attribute (this class attribute shadows the property).
    """

    name: str = ""

    def __init__(self, name: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.name = name.name if isinstance(name, Enum) else name


class JobMachine(Machine):
    """The job state machine, shared by every job; enum states, no auto transitions.

    Args:
        callbacks: trigger -> its transition callbacks (``before``, ``after``); plain functions
            of the ``EventData``, never strings. A trigger fired from a state it does not leave
            raises :class:`InvalidTransitionError`; an error in a callback propagates
            unchanged, and the state stays where it was.
    """

    def __init__(self, callbacks: Mapping[str, Mapping[str, Callback]]) -> None:
        transitions = []
        for trigger, sources, dest in TRANSITIONS:
            spec: dict[str, Any] = {"trigger": trigger, "source": list(sources), "dest": dest}
            spec.update(callbacks.get(trigger, {}))
            transitions.append(spec)
        super().__init__(
            model=None,
            states=JobState,
            transitions=transitions,
            initial=JobState.CREATED,
            auto_transitions=False,
            send_event=True,
            on_exception=_reraise,
            name=NAME,
        )
        _TRANSITIONS_LOG.addFilter(_QUIET)  # the same filter object: added once
        # get_state answers by the member's name; most lookups are of JobState members.
        self._by_member: dict[JobState, State] = {m: self.states[m.name] for m in JobState}

    state_cls = _JobStateState

    def get_state(self, state: Any) -> State:
        """The machine's state for a :class:`JobState` (or its name), as transitions finds it."""
        if type(state) is JobState:
            return self._by_member[state]
        found: State = super().get_state(state)
        return found

    def attach(self, model: Any, initial: JobState) -> None:
        """Bind the triggers the model declares (its typed stubs) and set its state.

        Only what the model already has is bound: transitions' convenience methods
        (``is_CREATED``, ``may_relay``...) are left out, and the model is not listed in the
        machine, so it is freed with the last reference to it.
        """
        for trigger, event in self.events.items():
            if getattr(model, trigger, None) is not None:
                setattr(model, trigger, partial(event.trigger, model))
        model.state = initial

    def detach(self, model: Any) -> None:
        """Unbind the triggers :meth:`attach` bound; the model keeps its state.

        Each bound trigger holds the model, so a model that keeps them is a reference cycle,
        which only the cyclic garbage collector frees -- in a warm Lambda, a cycle a hop, and
        the collector's pauses over the whole heap. A detached model is freed at once.
        """
        found = vars(model)
        for trigger, event in self.events.items():
            bound = found.get(trigger)
            if isinstance(bound, partial) and bound.func == event.trigger:
                del found[trigger]


class _QuietTriggers(logging.Filter):
    """Demote transitions' INFO lines about this machine to DEBUG.

    transitions logs three INFO lines per trigger ("Finished processing state running exit
    callbacks"...): with ``logging.basicConfig(level=logging.INFO)`` a relay's hop records drown
    in them. They describe the library's inner workings, not the job: DEBUG is their level.
    Records of the user's own machines pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.levelno != logging.INFO or not isinstance(args, tuple) or not args:
            return True
        if args[0] != f"{NAME}: ":
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return _TRANSITIONS_LOG.isEnabledFor(logging.DEBUG)


_TRANSITIONS_LOG = logging.getLogger("transitions.core")
_QUIET = _QuietTriggers()


def _reraise(event: EventData) -> None:
    """``on_exception``: turn transitions' MachineError into ours; let every other error through."""
    error = event.error
    if isinstance(error, MachineError):
        trigger = event.event.name if event.event else "?"
        state = event.state.value if event.state is not None else "?"
        raise InvalidTransitionError(
            trigger, getattr(state, "value", str(state)), _ALLOWED.get(trigger, ())
        ) from error
    if error is not None:
        raise error
