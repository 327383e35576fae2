"""One run's world: its seed's random streams, its virtual clock, its record, and the gate
every AWS call of the job goes through.

The gate (:meth:`World.call`) is where the world meets the job's code. A call of a simulated
process takes time in two legs, a request and an answer, each a pause in which whatever is due
runs first; the call takes effect between them. On its way it may be::

    killed      the invocation's crash plan falls on this call: before it is made, or after
                it took effect (its answer is lost); or its deadline falls in a leg
    throttled   ThrottledError instead of an effect, as after botocore's retries

A unit of work (:meth:`World.unit`) moves the process's time on by a drawn duration, with no
pause: a unit touches nothing the world holds.

While a run is installed (:meth:`World.installed`), :mod:`relaystate.clock` reads the virtual
clock and sleeps on it, the ``random`` module is seeded from the run's seed (the ledger's and
the retry policy's jitter, a job's own draws), the process-wide send latencies are forgotten
and the ``relaystate`` loggers are quiet: so that a seed replays exactly, whatever ran before.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ... import clock
from ...budget import SEND_LATENCIES
from ...errors import RelayError, ThrottledError
from ...frozen import freeze
from ...signals import WaitFor
from ...sleep import Sleep
from ...states import DONE
from .faults import SimFaults
from .record import USER, CrashPlan, HookCall, Invocation, Record, UnitRun
from .scheduler import Killed, Scheduler
from .timing import SimTiming

__all__ = ["EPOCH_S", "USER_PROC", "World"]

#: The wall-clock time at which every run starts (2026-01-01T00:00:00Z): packets' and the
#: ledger's timestamps are the same from run to run.
EPOCH_S = 1_767_225_600.0
#: Kill points an invocation of a function is assumed to reach before one was seen whole.
FIRST_CALLS, FIRST_UNITS = 6, 4
#: The loggers a run quiets (every hop that fails under a fault would log its traceback).
QUIET_LOGGERS = ("relaystate",)
#: The name of the processes of the user (job control driven from outside).
USER_PROC = "the user"

_T = TypeVar("_T")


class World:
    """The shared state of one run (see the module's documentation).

    Args:
        seed: the run's seed; every draw of the run comes from it.
        faults: what to inject.
        timing: how long things take.
        max_time_s: the virtual time after which the run is cut short.

    Example:
        >>> world = World(7, SimFaults(), SimTiming())
        >>> world.call("sqs", "SendMessage", lambda: "m-1")  # outside a process: at once
        'm-1'
    """

    def __init__(
        self,
        seed: int,
        faults: SimFaults,
        timing: SimTiming,
        *,
        max_time_s: float = float("inf"),
    ) -> None:
        root = random.Random(seed)
        self.seed = seed
        self.faults = faults
        self.timing = timing
        #: Durations (latencies, units, state changes).
        self.rng = random.Random(root.getrandbits(64))
        #: Fault draws.
        self.chance = random.Random(root.getrandbits(64))
        #: Which of the visible messages a poller receives; ids.
        self.order = random.Random(root.getrandbits(64))
        self._random_seed = root.getrandbits(64)
        self.sched = Scheduler(random.Random(root.getrandbits(64)), max_time_s=max_time_s)
        #: The user's draws (when it signals, pauses): a stream of its own, drawn last, so that
        #: a run without a user is the run it always was.
        self.user_rng = random.Random(root.getrandbits(64))
        #: Whether a delete reaches a duplicate's other copies (SimFaults.shared_deletes): a
        #: stream of its own, drawn last, for the same reason.
        self.delete_rng = random.Random(root.getrandbits(64))
        self.record = Record()
        #: function name -> most (AWS calls, units) seen in one whole invocation.
        self.reach: dict[str, tuple[int, int]] = {}

    # -- time ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The virtual time, in seconds from the run's start."""
        return self.sched.now

    def now_ms(self) -> int:
        """The virtual wall clock in milliseconds since the epoch (the ledger's clock)."""
        return int((EPOCH_S + self.sched.now) * 1000)

    def invocation(self) -> Invocation | None:
        """The invocation that runs now, if the calling thread runs one."""
        sched = self.sched
        if not sched.holds():
            return None
        assert sched.current is not None
        found: Invocation | None = sched.current.invocation
        return found

    def by(self) -> int:
        """Who runs now: an invocation's number, 0 for the starter, -1 for AWS itself, -2 for
        the user."""
        sched = self.sched
        if not sched.holds():
            return -1
        current = sched.current
        assert current is not None
        found: Invocation | None = current.invocation
        if found is not None:
            return found.id
        return USER if current.name == USER_PROC else 0

    # -- the gate -------------------------------------------------------------------------------

    def call(self, service: str, operation: str, apply: Callable[[], _T]) -> _T:
        """Make an AWS call of the running process: latency, crash, throttle, then ``apply``.

        Outside a simulated process (a test looking at the world after a run) ``apply`` runs
        at once.

        Raises:
            Killed: the invocation dies at this call.
            ThrottledError: the call was throttled.
        """
        sched = self.sched
        if not sched.holds():
            return apply()
        assert sched.current is not None
        if sched.current.dead:
            raise Killed(sched.current.dead)
        inv: Invocation | None = sched.current.invocation
        crash = self._crash_due(inv, "call") if inv is not None else None
        if crash is not None and not crash.after:
            self._kill(f"killed before {operation}")
        leg = self.timing.call_s(service, self.rng) / 2
        sched.sleep(leg)
        try:
            if self._throttled(inv):
                self.record.faults["throttle"] += 1
                self.record.say(self.now, self.by(), f"{operation} throttled")
                if inv is not None:
                    inv.fault = f"{operation} throttled"
                raise ThrottledError(
                    f"{operation} throttled (injected by the simulation)",
                    service=service,
                    operation=operation,
                    code="ThrottlingException",
                )
            result = apply()
        except RelayError:
            sched.sleep(leg)
            raise
        self.record.calls[operation] += 1
        if inv is not None:
            if operation == "DeleteEventSourceMapping":
                inv.unmapped = True
            if crash is not None and (not inv.unmapped or self.faults.crash_after_unmap):
                self._kill(f"killed after {operation} took effect")
        sched.sleep(leg)
        return result

    def unit(self, job: Any, cursor: Any, step: Callable[[Any, Any], Any]) -> Any:
        """Run one unit of ``job`` (``step(job, cursor)``), recorded, on the virtual clock.

        Raises:
            Killed: the invocation dies before the unit, or times out in it.
        """
        sched = self.sched
        packet = job.packet
        if not sched.holds() or packet is None:  # not in a hop (a test calling step itself)
            return step(job, cursor)
        assert sched.current is not None
        inv: Invocation | None = sched.current.invocation
        if inv is not None and self._crash_due(inv, "unit") is not None:
            self._kill("killed before a unit")
        run = UnitRun(packet.shard, packet.hop, cursor, sched.now, inv.id if inv else 0)
        if packet.waiting or packet.wake_ms:
            run.waited, run.wake_ms = packet.waiting, packet.wake_ms
        if job.signals:
            run.signals = freeze(job.signals, "signals")
        self.record.units.append(run)
        took = self.timing.unit_s(self.rng)
        try:
            result = step(job, cursor)
        except Exception:
            sched.advance(took)
            run.ended = sched.now
            raise
        sched.advance(took)
        run.ended = sched.now
        try:
            if isinstance(result, Sleep | WaitFor):
                run.pause, run.result = result, result.next_cursor
            else:
                run.result = result if result is DONE else freeze(result, "cursor")
        except RelayError:
            run.result = repr(result)  # the hop fails it too: not a cursor
        run.completed = True
        return result

    def hook(self, kind: str, job: Any) -> None:
        """Record a call of ``on_done`` or ``on_failed`` (``kind``)."""
        packet = job.packet
        self.record.hooks.append(HookCall(kind, packet.shard, packet.hop, self.now, self.by()))
        self.record.say(self.now, self.by(), f"{kind} of shard {packet.shard}")

    # -- faults -------------------------------------------------------------------------------

    def crash_plan(self, function: str) -> CrashPlan | None:
        """Draw where a new invocation of ``function`` is killed, if it is."""
        rate = self.faults.crash_rate
        if not rate or self.chance.random() >= rate:
            return None
        calls, units = self.reach.get(function, (FIRST_CALLS, FIRST_UNITS))
        if self.chance.random() < 0.5:
            return CrashPlan("unit", 1 + int(self.chance.random() * max(units, 1)))
        at = 1 + int(self.chance.random() * max(calls, 1))
        return CrashPlan("call", at, after=self.chance.random() < 0.5)

    def learn(self, inv: Invocation) -> None:
        """An invocation ran whole: how far invocations of its function reach."""
        calls, units = self.reach.get(inv.function, (0, 0))
        self.reach[inv.function] = (max(calls, inv.calls), max(units, inv.units))

    def duplicate(self) -> bool:
        """Whether a received message is delivered once more."""
        rate = self.faults.duplicate_rate
        return bool(rate) and self.chance.random() < rate

    def conflicts(self) -> int:
        """How many times in a row the next ledger transaction meets a concurrent one."""
        rate = self.faults.conflict_rate
        count = 0
        while rate and self.chance.random() < (rate if count == 0 else 0.5):
            count += 1
        self.record.faults["conflict"] += count
        return count

    def _throttled(self, inv: Invocation | None) -> bool:
        rate = self.faults.throttle_rate
        if not rate or (inv is None and not self.faults.throttle_starter):
            return False
        return self.chance.random() < rate

    def _crash_due(self, inv: Invocation, kind: str) -> CrashPlan | None:
        if kind == "call":
            inv.calls += 1
            reached = inv.calls
        else:
            inv.units += 1
            reached = inv.units
        plan = inv.crash
        if plan is None or plan.kind != kind or plan.at != reached:
            return None
        if inv.unmapped and not self.faults.crash_after_unmap:
            return None  # the mapping is gone: nothing would deliver the message again
        return plan

    def _kill(self, why: str) -> None:
        self.record.faults["crash"] += 1
        self.record.say(self.now, self.by(), why)
        self.sched.kill(why)

    # -- installing the run -----------------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self, *, quiet: bool = True) -> Iterator[None]:
        """Put this world's clock, seed and quiet in place for the run; restore them after."""
        real = (clock.wall, clock.monotonic, clock.sleep)
        sched = self.sched

        def wall() -> float:
            return EPOCH_S + sched.now if sched.holds() else real[0]()

        def monotonic() -> float:
            return sched.now if sched.holds() else real[1]()

        def sleep(seconds: float) -> None:
            if sched.holds():
                sched.sleep(seconds)
            else:
                real[2](seconds)

        state = random.getstate()
        loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
        disabled = [logger.disabled for logger in loggers]
        clock.wall, clock.monotonic, clock.sleep = wall, monotonic, sleep
        random.seed(self._random_seed)
        SEND_LATENCIES.clear()
        if quiet:
            for logger in loggers:
                logger.disabled = True
        try:
            yield
        finally:
            clock.wall, clock.monotonic, clock.sleep = real
            random.setstate(state)
            SEND_LATENCIES.clear()
            for logger, was in zip(loggers, disabled, strict=True):
                logger.disabled = was
