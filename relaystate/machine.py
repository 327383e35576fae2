"""The transitions machine behind a job: built from :data:`relaystate.states.TRANSITIONS`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from transitions import EventData, Machine, MachineError

from .errors import InvalidTransitionError
from .states import TRANSITIONS, JobState

__all__ = ["build_machine"]

#: trigger -> the names of the states it may be fired from, for error messages.
_ALLOWED: dict[str, tuple[str, ...]] = {
    trigger: tuple(s.value for s in sources) for trigger, sources, _ in TRANSITIONS
}


class _Machine(Machine):
    """A Machine that binds only the triggers the model declares, and says nothing of the rest.

    With ``model_override=True`` transitions binds what the model already has (our typed trigger
    methods) and logs a warning for every convenience method it skips (``is_CREATED``,
    ``may_relay``...), 14 lines per job. Those skips are the point of the policy, not news.
    """

    def _checked_assignment(self, model: Any, name: str, func: Callable[..., Any]) -> None:
        if getattr(model, name, None) is not None:
            setattr(model, name, func)


def build_machine(
    model: Any,
    initial: JobState,
    callbacks: Mapping[str, Mapping[str, Callable[..., Any]]],
) -> Machine:
    """Attach a machine to ``model`` in state ``initial``.

    ``callbacks`` maps a trigger to its transition callbacks (``before``, ``after``); they are
    bound methods, never strings, and receive the ``EventData`` (trigger arguments in
    ``event.kwargs``). A trigger fired from a state it does not leave raises
    :class:`InvalidTransitionError`; an error in a callback propagates unchanged, and the state
    stays where it was.
    """
    transitions = []
    for trigger, sources, dest in TRANSITIONS:
        spec: dict[str, Any] = {"trigger": trigger, "source": list(sources), "dest": dest}
        spec.update(callbacks.get(trigger, {}))
        transitions.append(spec)
    return _Machine(
        model=model,
        states=JobState,
        transitions=transitions,
        initial=initial,
        auto_transitions=False,
        model_override=True,
        send_event=True,
        on_exception=_reraise,
    )


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
