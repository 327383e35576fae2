"""Deterministic concurrency on a virtual clock: many threads, one running at a time.

Each simulated process -- an invocation, or the starter -- runs in a thread of its own, because
the job code it runs (``RelayJob.handle``, ``start()``) is ordinary blocking code. Only one of
these threads runs at a time: at every pause (``clock.sleep``, and the two legs of every AWS
call, see :class:`~relaystate.testing.sim.world.World`) the running thread puts itself back in
a queue ordered by virtual time and hands control to what is due next. Ties in time are broken
by a draw from the run's seed. So which process goes on next is decided by virtual time and the
seed alone, never by the operating system: a seed replays exactly, whatever else runs.

A process may run ahead of the others between its pauses (a unit of work moves its time on
without a pause): nothing it does there touches the world, so the world still sees every call
in time order. A process with a deadline (a Lambda's timeout) is killed when its time passes
it: :class:`Killed` is raised where it stands, a ``BaseException`` that job code does not catch.

Callbacks (a message's visibility timeout running out, a mapping becoming ``Enabled``) share the
same queue and run, in time order, in whichever thread is handing over.

Example:
    >>> import random
    >>> sched = Scheduler(random.Random(1))
    >>> seen = []
    >>> def worker(name, pause):
    ...     def task():
    ...         sched.sleep(pause)
    ...         seen.append((name, sched.now))
    ...     return Proc(name, task)
    >>> sched.start(0.0, worker("slow", 2.0)); sched.start(0.0, worker("fast", 1.0))
    >>> sched.run_until_idle()
    >>> seen
    [('fast', 1.0), ('slow', 2.0)]
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Killed", "Proc", "Scheduler", "SimulationError"]


class SimulationError(Exception):
    """The simulation itself could not go on: the job did not start, or the simulator broke."""


class Killed(BaseException):
    """A simulated process dies here (a timeout, an injected crash, the end of the run).

    A ``BaseException``, as a Lambda's kill is no error the job could handle: job code that
    catches ``Exception`` lets it through, and every later AWS call of the process raises it
    again (a dead Lambda makes no more calls).
    """


class Proc:
    """A simulated process: a task run in a thread of its own, on the virtual clock.

    Args:
        name: what the process is, for the run's story (``invocation 7``, ``starter``).
        task: what it runs.
        invocation: the Lambda invocation it is, if it is one (the world's, untyped here).
    """

    __slots__ = ("dead", "deadline", "invocation", "name", "task", "worker")

    def __init__(self, name: str, task: Callable[[], None], invocation: Any = None) -> None:
        self.name = name
        self.task = task
        self.invocation = invocation
        #: The virtual time at which the process is killed (a Lambda's timeout), if any.
        self.deadline: float | None = None
        #: Why the process died; empty while it lives.
        self.dead = ""
        self.worker: _Worker | None = None

    def __repr__(self) -> str:
        return f"<Proc {self.name}{' dead: ' + self.dead if self.dead else ''}>"


class Scheduler:
    """The virtual clock and the queue of what is due, in time order.

    Args:
        rng: breaks ties between things due at the same time (the seed decides).
        max_time_s: past this virtual time the run is aborted (a job that never ends).
    """

    def __init__(self, rng: random.Random, *, max_time_s: float = float("inf")) -> None:
        #: The virtual time of whatever runs now, in seconds from the run's start.
        self.now = 0.0
        self.max_time_s = max_time_s
        #: The process that runs now (``None`` between processes).
        self.current: Proc | None = None
        #: Why the run was cut short; empty while it goes on.
        self.aborted = ""
        #: An error of the simulator itself (not of the job), raised by :meth:`run_until_idle`.
        self.error: BaseException | None = None
        self._rng = rng
        self._heap: list[tuple[float, float, int, Proc | Callable[[], None]]] = []
        self._count = 0
        self._holder = 0
        self._idle = threading.Lock()
        self._idle.acquire()

    # -- what is due ------------------------------------------------------------------------

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` at virtual time ``when`` (not before what is due earlier)."""
        self._push(when, callback)

    def start(self, when: float, proc: Proc) -> None:
        """Start ``proc`` at virtual time ``when``."""
        self._push(when, proc)

    def holds(self) -> bool:
        """Whether the calling thread is the running process's (the simulation's clock is its)."""
        return self.current is not None and threading.get_ident() == self._holder

    def abort(self, why: str) -> None:
        """Cut the run short: every process is killed where it stands, no callback runs more."""
        if not self.aborted:
            self.aborted = why

    def fail(self, error: BaseException) -> None:
        """The simulator itself failed: keep the first error and abort."""
        if self.error is None:
            self.error = error
        self.abort(f"the simulator failed: {error!r}")

    def run_until_idle(self, *, real_timeout_s: float = 600.0) -> None:
        """Run everything that is due, in time order, until nothing is.

        Raises:
            SimulationError: nothing moved for ``real_timeout_s`` real seconds (a simulator
                bug), or the simulator failed (its error is the cause).
        """
        self._dispatch(None)
        if not self._idle.acquire(timeout=real_timeout_s):
            raise SimulationError(
                f"the simulation did not end within {real_timeout_s:g} real seconds"
            )
        if self.error is not None:
            raise SimulationError(f"the simulator failed: {self.error!r}") from self.error

    # -- the running process's time ---------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """The running process pauses ``seconds``: whatever is due before it runs first.

        Raises:
            Killed: the process is dead, its deadline fell in the pause, or the run was aborted.
        """
        proc = self.current
        assert proc is not None, "sleep() outside a simulated process"
        if proc.dead:
            raise Killed(proc.dead)
        wake = self.now + max(seconds, 0.0)
        late = proc.deadline is not None and wake > proc.deadline
        if late:
            assert proc.deadline is not None
            wake = proc.deadline
        heap = self._heap
        if heap and heap[0][0] <= wake:
            self._push(wake, proc)
            self._dispatch(proc)
        elif wake > self.max_time_s:
            self.abort(f"virtual time passed {self.max_time_s:g} s")
            proc.dead = self.aborted
        else:
            self.now = wake  # nothing else is due before: go on at once
        if proc.dead:
            raise Killed(proc.dead)
        if late:
            proc.dead = "timed out"
            raise Killed(proc.dead)

    def advance(self, seconds: float) -> None:
        """The running process works ``seconds`` without a pause (a unit of work).

        Raises:
            Killed: its deadline falls in that time.
        """
        proc = self.current
        assert proc is not None, "advance() outside a simulated process"
        wake = self.now + seconds
        if proc.deadline is not None and wake > proc.deadline:
            self.now = proc.deadline
            proc.dead = "timed out"
            raise Killed(proc.dead)
        self.now = wake

    def kill(self, why: str) -> None:
        """Kill the running process here.

        Raises:
            Killed: always.
        """
        proc = self.current
        assert proc is not None, "kill() outside a simulated process"
        proc.dead = why
        raise Killed(why)

    # -- handing over -----------------------------------------------------------------------

    def _push(self, when: float, item: Proc | Callable[[], None]) -> None:
        self._count += 1
        heapq.heappush(self._heap, (when, self._rng.random(), self._count, item))

    def _dispatch(self, me: Proc | None) -> None:
        """Run what is due, in order, until a process must run; ``me`` (the process of the
        calling thread, if it is to wait) returns when its turn comes."""
        heap = self._heap
        while heap:
            when, _, _, item = heapq.heappop(heap)
            self.now = when
            if when > self.max_time_s:
                self.abort(f"virtual time passed {self.max_time_s:g} s")
            if isinstance(item, Proc):
                if self.aborted:
                    if item.worker is None:
                        continue  # never started: nothing to unwind
                    item.dead = item.dead or self.aborted
                self.current = item
                if item is me:
                    return
                self._resume(item)
                if me is not None:
                    assert me.worker is not None
                    me.worker.wake.acquire()  # until this process's turn comes again
                return
            if not self.aborted:
                self.current = None  # a callback is the world's doing, not a process's
                try:
                    item()
                except BaseException as exc:  # a simulator bug: end the run
                    self.fail(exc)
        self.current = None
        self._holder = 0
        self._idle.release()

    def _resume(self, proc: Proc) -> None:
        worker = proc.worker
        if worker is None:
            worker = proc.worker = _take()
            worker.proc, worker.sched = proc, self
        self._holder = worker.ident
        worker.wake.release()


class _Worker:
    """A thread that runs simulated processes, one after the other (threads are reused)."""

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.proc: Proc | None = None
        self.sched: Scheduler | None = None
        thread = threading.Thread(target=self._loop, name="relaystate-sim", daemon=True)
        thread.start()
        assert thread.ident is not None
        self.ident = thread.ident

    def _loop(self) -> None:
        while True:
            self.wake.acquire()
            proc, sched = self.proc, self.sched
            assert proc is not None
            assert sched is not None
            try:
                proc.task()
            except Killed:
                pass
            except BaseException as exc:  # a simulator bug: end the run
                sched.fail(exc)
            self.proc = self.sched = None
            _give_back(self)
            sched._dispatch(None)


_pool: list[_Worker] = []
_pool_lock = threading.Lock()


def _take() -> _Worker:
    with _pool_lock:
        if _pool:
            return _pool.pop()
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _pool_lock:
        _pool.append(worker)
