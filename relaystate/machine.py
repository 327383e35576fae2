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

from transitions import Event, EventData, Machine, MachineError, State, Transition

from .errors import InvalidTransitionError
from .states import TRANSITIONS, JobState
from .triggers import MACHINE, Triggers

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


class _JobEvent(Event):
    """A trigger of the job machine, fired the short way while the long way would do no more.

    transitions' ``Event.trigger`` walks every hook a machine may have -- the machine's
    prepare, before, after and finalize lists, the transition's prepare and conditions, the
    states' exit and enter callbacks -- and logs a dozen DEBUG lines on the way: a fifth of a
    hop's CPU (cProfile), beyond what the callbacks do. The job machine has none of those: a
    transition's ``before`` or ``after`` callback is all it runs. So while that holds, the
    model's state allows the trigger, and transitions' DEBUG log is off, a trigger runs those
    callbacks, sets the state, and hands an error to ``on_exception``, in transitions' order;
    anything else (a refusal, a hook added, DEBUG on, a queued machine) goes transitions' way.
    """

    def __init__(self, name: str, machine: Machine) -> None:
        super().__init__(name, machine)
        #: Source state's value -> (source, its list of transitions, the one transition,
        #: destination): see trigger.
        self._plans: dict[str, _Plan] = {}
        #: The machine's fields: its ``__dict__``, read by key. transitions' Machine has a
        #: ``__getattr__``, which makes each attribute read of it the slow, generic one.
        self._fields: dict[str, Any] = vars(machine)

    def trigger(self, model: object, *args: Any, **kwargs: Any) -> bool:
        machine, fields = self.machine, self._fields
        attribute = fields["model_attribute"]
        value = getattr(model, attribute)
        # The way each source state fires, worked out once (a hop fires two triggers); it
        # still holds only while the machine's transitions and states are those it was worked
        # out from, and no hook was added since, which _holds sees.
        known = type(value) is JobState
        plan = self._plans.get(value._value_) if known else None
        if plan is None:
            state = machine.get_state(value)
            found = self.transitions.get(state.name)
            dest = _direct(machine, found) if found else None
            if found is None or dest is None:
                return super().trigger(model, *args, **kwargs)
            plan = (state, found, found[0], dest, dest.value)
            if known:
                self._plans[value._value_] = plan
        if not self._holds(plan, fields):
            return super().trigger(model, *args, **kwargs)
        state, _, transition, dest, dest_value = plan
        before, after = transition.before, transition.after
        if not (before or after):  # nothing to hand an event to
            setattr(model, attribute, dest_value)
            return True
        event = EventData(state, self, machine, model, args=args, kwargs=kwargs)
        event.transition = transition
        direct = fields["send_event"]  # transitions' Machine.callback calls a callable at once
        try:
            for func in before:
                if direct and callable(func):
                    func(event)
                else:
                    machine.callback(func, event)
            # transitions' set_state and EventData.update, for one model and a known State
            setattr(model, attribute, dest_value)
            event.state = dest
            for func in after:
                if direct and callable(func):
                    func(event)
                else:
                    machine.callback(func, event)
            event.result = True
        except BaseException as error:  # as transitions does: on_exception decides
            event.error = error  # type: ignore[assignment]  # the stub says Exception
            if not machine.on_exception:
                raise
            machine.callbacks(machine.on_exception, event)
        return bool(event.result)

    def _holds(self, plan: _Plan, fields: dict[str, Any]) -> bool:
        """Whether ``plan`` may fire the short way -- the one place this is checked, each
        trigger: its transition is still the only one from its source (none removed,
        replaced or added: transitions' ``remove_transition`` makes new lists,
        ``add_transition`` appends), its states are still the machine's, its destination is
        not made final since, no hook was added (the machine's, the transition's prepare or
        conditions, the states' exit or enter callbacks; see :func:`_direct`), and
        transitions' DEBUG log is off. ``fields``: the machine's ``__dict__``."""
        state, found, transition, dest, _ = plan
        states = fields["states"]
        return not (
            self.transitions.get(state.name) is not found
            or len(found) != 1
            or found[0] is not transition
            or states.get(dest.name) is not dest
            or states.get(state.name) is not state
            or dest.final
            or transition.prepare
            or transition.conditions
            or state.on_exit
            or dest.on_enter
            # _hooked(machine), without a call (nor the machine's slow attribute reads)
            or fields["_queued"]
            or fields["_prepare_event"]
            or fields["_before_state_change"]
            or fields["_after_state_change"]
            or fields["_finalize_event"]
            or _TRANSITIONS_LOG.isEnabledFor(logging.DEBUG)
        )


#: What a class's triggers are before they are worked out (see :meth:`JobMachine.attach`).
_UNKNOWN: Any = object()

#: A trigger's plan for one source state: the source, the event's list of transitions from
#: it, the one transition in that list, its destination and the destination's value (a
#: property of transitions' ``State``).
_Plan = tuple[State, list[Transition], Transition, State, Any]


def _hooked(machine: Machine) -> bool:
    """Whether the machine has a hook of its own (or queues events): transitions' fields of
    its ``has_queue``, ``prepare_event``... properties, read without a call each."""
    return bool(
        machine._queued
        or machine._prepare_event
        or machine._before_state_change
        or machine._after_state_change
        or machine._finalize_event
    )


def _direct(machine: Machine, found: list[Transition]) -> State | None:
    """The destination of the one transition in ``found`` if it runs nothing but its own
    ``before`` and ``after`` callbacks, else ``None``."""
    if len(found) != 1:
        return None
    transition = found[0]
    if _hooked(machine) or transition.prepare or transition.conditions or transition.dest is None:
        return None
    dest = machine.states[transition.dest]
    if machine.states[transition.source].on_exit or dest.on_enter or dest.final:
        return None
    return dest


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
        self._fire: list[tuple[str, Callable[..., bool]]] = []
        self._by_class: dict[type, list[tuple[str, Callable[..., bool]]] | None] = {}

    state_cls = _JobStateState
    event_cls = _JobEvent

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
        machine, so it is freed with the last reference to it. A model whose triggers are
        :class:`~relaystate.triggers.Triggers`' own fires them through the one attribute
        :data:`~relaystate.triggers.MACHINE`, set here, instead of a bound method each.
        """
        # _declared's answer known for the class, read from the machine's __dict__ (see
        # _JobEvent._fields): a hop attaches a job of the same class every time.
        fields, cls = self.__dict__, type(model)
        declared = fields["_by_class"].get(cls, _UNKNOWN)
        if declared is _UNKNOWN or len(fields["_fire"]) != len(fields["events"]):
            declared = self._declared(cls)
        if declared is None:
            setattr(model, MACHINE, self)
        else:
            own = vars(model)
            for trigger, fire in declared:
                if own.get(trigger, fire) is not None:  # an attribute of its own may unset one
                    setattr(model, trigger, partial(fire, model))
        model.state = initial

    def detach(self, model: Any) -> None:
        """Unbind the triggers :meth:`attach` bound; the model keeps its state.

        Each bound trigger holds the model, so a model that keeps them is a reference cycle,
        which only the cyclic garbage collector frees -- in a warm Lambda, a cycle a hop, and
        the collector's pauses over the whole heap. A detached model is freed at once.
        """
        found = model.__dict__
        if found.pop(MACHINE, None) is not None:
            return
        for trigger, fire in self._fired():
            bound = found.get(trigger)
            if isinstance(bound, partial) and (bound.func is fire or bound.func == fire):
                del found[trigger]

    def _fired(self) -> list[tuple[str, Callable[..., bool]]]:
        """Each trigger's name and the method that fires it (``event.trigger``), made once a
        machine's events are known: a hop attaches and detaches a job, nine triggers each."""
        if len(self._fire) != len(self.events):
            self._fire = [(trigger, event.trigger) for trigger, event in self.events.items()]
            self._by_class.clear()
        return self._fire

    def _declared(self, cls: type) -> list[tuple[str, Callable[..., bool]]] | None:
        """:meth:`_fired` for the triggers that ``cls`` declares (not ``None`` on the class),
        worked out once per class: a hop attaches a job of the same class every time.
        ``None``: every trigger of the machine is ``cls``'s as :class:`Triggers` declares it,
        which fires it itself."""
        fired = self._fired()
        if cls in self._by_class:
            return self._by_class[cls]
        found: list[tuple[str, Callable[..., bool]]] | None = [
            (name, fire) for name, fire in fired if getattr(cls, name, None) is not None
        ]
        if all(getattr(cls, name, None) is getattr(Triggers, name, 0) for name, _ in fired):
            found = None
        self._by_class[cls] = found
        return found


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
