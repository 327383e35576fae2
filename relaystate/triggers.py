"""The triggers of a job's state machine: typed methods that fire the machine the job is on.

:class:`~relaystate.machine.JobMachine` fires a trigger on a job only where the job declares it
(``model_override``), so that the job's triggers are typed and documented here rather than made
up at run time; what each does is in :mod:`relaystate.callbacks`. Attaching a job sets the one
attribute :data:`MACHINE` that these methods fire through (a hop attaches and releases a job:
one attribute, not a bound method per trigger); a trigger fired on a job that is not attached
raises.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MACHINE", "Triggers"]

#: The attribute of an attached job that holds its machine (``JobMachine.attach`` sets it).
MACHINE = "_job_machine"


class Triggers:
    """The transitions of :data:`relaystate.states.TRANSITIONS`, as methods of a job.

    Each returns ``True`` once its transition is made; a trigger fired from a state that does
    not allow it raises :class:`~relaystate.errors.InvalidTransitionError`.
    """

    def enqueue(self, *, context: Any = None) -> bool:
        """created -> queued: queue, DLQ and mapping made, first packets sent (``start()``)."""
        return _fire(self, "enqueue", {"context": context})

    def begin_hop(self) -> bool:
        """queued | relaying -> running: a worker rebuilt the job from its packet."""
        return _fire(self, "begin_hop", {})

    def relay(
        self,
        *,
        delay_seconds: int = 0,
        attempt: int = 0,
        finishing: bool = False,
        error: str = "",
        wake_ms: int = 0,
    ) -> bool:
        """running -> relaying: send the checkpoint (hop + 1) to the queue (see
        :func:`relaystate.lifecycle.relay` for what each argument means)."""
        return _fire(
            self,
            "relay",
            {
                "delay_seconds": delay_seconds,
                "attempt": attempt,
                "finishing": finishing,
                "error": error,
                "wake_ms": wake_ms,
            },
        )

    def wait(self, *, name: str | None = None, deadline_ms: int = 0) -> bool:
        """running -> waiting: park the next packet in the ledger until signal ``name`` (or
        ``deadline_ms``, if not 0); see :mod:`relaystate.signals`."""
        named = {} if name is None else {"name": name}  # none: the transition's callback says so
        return _fire(self, "wait", {**named, "deadline_ms": deadline_ms})

    def pause(self) -> bool:
        """-> paused: nothing runs until :meth:`unpause` (see :mod:`relaystate.pause`)."""
        return _fire(self, "pause", {})

    def unpause(self) -> bool:
        """paused -> queued: send parked packets back and enable the mapping."""
        return _fire(self, "unpause", {})

    def finish(self) -> bool:
        """running -> torn_down: ``step`` returned DONE; release the job's resources."""
        return _fire(self, "finish", {})

    def tear_down(self) -> bool:
        """Release mapping, queue and (empty) DLQ; idempotent; also on a rebuilt job.

        With a ledger the job is recorded torn down: a cancel, when shards are still at work.
        ``resume()`` of a packet saved before it reopens the job."""
        return _fire(self, "tear_down", {})

    def fail(self, *, error: BaseException | None = None) -> bool:
        """-> failed: park the packet in the DLQ, call on_failed."""
        return _fire(self, "fail", {"error": error})


def _fire(job: Triggers, trigger: str, kwargs: dict[str, Any]) -> bool:
    """Fire ``trigger`` on the machine ``job`` is attached to, with ``kwargs``."""
    machine = job.__dict__.get(MACHINE)
    if machine is None:
        raise _unbound()
    fired: bool = machine.events[trigger].trigger(job, **kwargs)
    return fired


def _unbound() -> RuntimeError:
    return RuntimeError(
        "trigger called on a job whose state machine is not attached: before it was, or on "
        "a worker's job after its hop let it go"
    )
