"""The triggers of a job's state machine: typed stubs that the machine replaces on each job.

:class:`~relaystate.machine.JobMachine` binds a trigger onto a job only where the job declares
it (``model_override``), so that the job's triggers are typed and documented here rather than
made up at run time; what each does is in :mod:`relaystate.callbacks`. A stub that is called
means the job was never attached to the machine.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Triggers"]


class Triggers:
    """The transitions of :data:`relaystate.states.TRANSITIONS`, as methods of a job.

    Each returns ``True`` once its transition is made; a trigger fired from a state that does
    not allow it raises :class:`~relaystate.errors.InvalidTransitionError`.
    """

    def enqueue(self, *, context: Any = None) -> bool:
        """created -> queued: queue, DLQ and mapping made, first packets sent (``start()``)."""
        raise _unbound()

    def begin_hop(self) -> bool:
        """queued | relaying -> running: a worker rebuilt the job from its packet."""
        raise _unbound()

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
        raise _unbound()

    def wait(self, *, name: str, deadline_ms: int = 0) -> bool:
        """running -> waiting: park the next packet in the ledger until signal ``name`` (or
        ``deadline_ms``, if not 0); see :mod:`relaystate.signals`."""
        raise _unbound()

    def pause(self) -> bool:
        """-> paused: nothing runs until :meth:`unpause` (see :mod:`relaystate.pause`)."""
        raise _unbound()

    def unpause(self) -> bool:
        """paused -> queued: send parked packets back and enable the mapping."""
        raise _unbound()

    def finish(self) -> bool:
        """running -> torn_down: ``step`` returned DONE; release the job's resources."""
        raise _unbound()

    def tear_down(self) -> bool:
        """Release mapping, queue and (empty) DLQ; idempotent; also on a rebuilt job."""
        raise _unbound()

    def fail(self, *, error: BaseException | None = None) -> bool:
        """-> failed: park the packet in the DLQ, call on_failed."""
        raise _unbound()


def _unbound() -> RuntimeError:
    return RuntimeError(
        "trigger called on a job whose state machine is not attached: before it was, or on "
        "a worker's job after its hop let it go"
    )
