"""The user of a simulated job: :class:`User` signals, pauses and unpauses it from outside.

Once ``job.start()`` returned, each act of the run's
:class:`~relaystate.testing.sim.control.SimControl` runs at its drawn time in a process of its
own (``the user`` in the run's story), through the public API as a person at a terminal would:
``JobClass.attach(job_id)``, then ``.signal()``, ``.pause()`` or ``.unpause()``. Its AWS calls
go through the world's gate, spared of faults as the starter's are. What each act did is
written to the run's record (:class:`~relaystate.testing.sim.record.SignalSent`,
:class:`~relaystate.testing.sim.record.PauseSpan`).

The user is patient where AWS asks for patience and nowhere else: a call throttled, or refused
because the mapping is in a transition (``ResourceInUseException``), is tried again
:data:`TRIES` times, :data:`PAUSE_S` apart; any other error ends the act, as it would end a
command (a signal refused because another payload came first, a pause of a job that has ended).

Example:
    >>> user = User(world, Count, backend, "relaystate-ledger", control)  # doctest: +SKIP
    >>> user.begin("sim-1")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ...errors import (
    JobBusyError,
    MappingTimeoutError,
    RelayError,
    ResourceConflictError,
    ServiceUnavailableError,
    ThrottledError,
)
from ...ports import Backend
from ...states import JobState
from .control import SimControl, SimSignal
from .record import PauseSpan, SignalSent
from .scheduler import Proc
from .world import USER_PROC, World

if TYPE_CHECKING:
    from ...job import RelayJob

__all__ = ["PAUSE_S", "TRIES", "User"]

#: How many times the user tries an act that AWS asked to be tried again, and how far apart.
TRIES, PAUSE_S = 5, 10.0
#: What AWS answers when it asks to be tried again.
TRANSIENT = (
    ThrottledError,
    ServiceUnavailableError,
    ResourceConflictError,
    MappingTimeoutError,
    JobBusyError,  # another pause or unpause ran on longer than this one waited for it
)
#: An act's outcome that says the job had ended, or was never there: no unpause follows.
_ENDED = ("InvalidTransitionError", "UnknownJobError", "ResourceNotFoundError")

_T = TypeVar("_T")


class User:
    """The run's user (see the module's documentation).

    Args:
        world: the run's world.
        job_class: the job's class (the user attaches with it).
        backend: the run's backend.
        ledger: the job's ledger name, or ``None`` (the handle uses no ledger then).
        control: what the user does.
    """

    def __init__(
        self,
        world: World,
        job_class: type[RelayJob],
        backend: Backend,
        ledger: str | None,
        control: SimControl,
    ) -> None:
        self.world = world
        self.job_class = job_class
        self.backend = backend
        self.ledger = ledger
        self.job_id = ""
        rng = world.user_rng
        #: Each act, with when it is due (seconds after the start) -- drawn now, in order.
        self.signals = [(signal, signal.draw(rng)) for signal in control.signals]
        self.pauses = [pause.draw(rng) for pause in control.pauses]
        #: Acts not over yet.
        self.pending = 0
        #: The latest time at which an act is due (absolute, once begun).
        self.last_due = 0.0

    def begin(self, job_id: str) -> None:
        """The job ``job_id`` has started: schedule every act from now."""
        self.job_id = job_id
        now = self.world.now
        for signal, at in self.signals:
            self._start(now + at, functools.partial(self._signal, signal))
            self.last_due = max(self.last_due, now + at)
        for at, length in self.pauses:
            self._start(now + at, functools.partial(self._pause, length))
            self.last_due = max(self.last_due, now + at + length)

    # -- the acts ----------------------------------------------------------------------------

    def _signal(self, signal: SimSignal) -> None:
        world = self.world
        began = world.now
        woke, why = self._attempt(lambda: self._attach().signal(signal.name, signal.payload))
        outcome = f"woke {woke}" if woke is not None else why
        world.record.signals_sent.append(
            SignalSent(signal.name, signal.payload, began, world.now, outcome)
        )
        world.record.say(world.now, world.by(), f"signal({signal.name!r}): {outcome}")

    def _pause(self, length: float) -> None:
        world = self.world
        span = PauseSpan(world.now)
        world.record.pauses.append(span)
        done, why = self._attempt(self._pause_once)
        if done == "paused":  # not one that found the job paused already: that pause is another's
            span.paused = world.now
        span.outcome = f"pause(): {done or why}"
        world.record.say(world.now, world.by(), span.outcome)
        if why.startswith(_ENDED):
            return
        world.sched.sleep(max(span.at + length - world.now, 0.0))
        span.unpausing = world.now
        done, why = self._attempt(self._unpause_once)
        span.unpause_ended = world.now
        if done is not None:
            span.unpaused = world.now
        span.outcome += f"; unpause(): {done or why}"
        world.record.say(world.now, world.by(), f"unpause(): {done or why}")

    def _pause_once(self) -> str:
        job = self._attach()
        if job.state is JobState.PAUSED:
            return "already paused"
        job.pause()
        return "paused"

    def _unpause_once(self) -> str:
        job = self._attach()
        if job.state is not JobState.PAUSED:
            return f"not paused: {job.state.value}"
        job.unpause()
        return "unpaused"

    # -- helpers -----------------------------------------------------------------------------

    def _start(self, when: float, act: Callable[[], None]) -> None:
        self.pending += 1

        def task() -> None:
            try:
                act()
            finally:
                self.pending -= 1

        self.world.sched.start(when, Proc(USER_PROC, task))

    def _attach(self) -> RelayJob:
        job = self.job_class.attach(self.job_id, backend=self.backend, ledger=self.ledger)
        if self.ledger is None:
            job.ledger = None  # not the class's: the run has none
        return job

    def _attempt(self, act: Callable[[], _T]) -> tuple[_T | None, str]:
        """``act()``, tried again while AWS asks for it; its result, or why it failed.

        An error that is not the library's (a bug in it) is an outcome too: ``raised ...``.
        """
        for attempt in range(TRIES):
            try:
                return act(), ""
            except TRANSIENT as exc:
                if attempt + 1 >= TRIES:
                    return None, f"gave up: {type(exc).__name__}: {exc}"
                self.world.sched.sleep(PAUSE_S)
            except RelayError as exc:
                return None, f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                return None, f"raised {type(exc).__name__}: {exc}"
        raise AssertionError("unreachable")  # pragma: no cover
