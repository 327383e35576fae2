"""Run a job class, seed after seed, in a simulated AWS, and check what every run did.

:class:`Simulation` is the entry point: for each seed it builds a fresh world (queues,
mappings, ledger, the Lambda service's poller), starts the job as a starter would, runs every
invocation the job's queue causes, on the virtual clock, until nothing is due, and checks the
invariants (:mod:`~relaystate.testing.sim.invariants`). The job class runs unchanged through
the real ``RelayJob`` code; for the run's length its ``step``, ``on_done`` and ``on_failed`` are
wrapped, to time units on the virtual clock and record what ran.

Example:
    >>> from relaystate import DONE, RelayJob
    >>> class Count(RelayJob):
    ...     function_name = "count-worker"
    ...     def plan(self):
    ...         return [0, 0]
    ...     def step(self, cursor):
    ...         return DONE if cursor >= 9 else cursor + 1
    >>> sim = Simulation(Count, ledger="relaystate-ledger", faults=SimFaults(duplicate_rate=0.5))
    >>> run = sim.run(seed=1)
    >>> run.violations, len(run.record.units) >= 20
    ((), True)
"""

from __future__ import annotations

import collections
import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ...errors import ThrottledError
from ...frozen import freeze
from ..blobs import blobs_per_bucket
from ..memory import MemoryBackend
from .control import SimControl
from .faults import SimFaults
from .invariants import INVARIANTS, Violation, check
from .ledger import SimLedger
from .mappings import SimMappings
from .poller import Poller
from .record import Record
from .scheduler import Proc, SimulationError
from .sqs import SimQueues
from .timing import SimTiming
from .user import User
from .world import World

if TYPE_CHECKING:  # the simulator runs the job class it is given; it needs none of its own
    from ...job import RelayJob

__all__ = ["FROM_CLASS", "SimReport", "SimRun", "Simulation"]

#: ``ledger=FROM_CLASS``: the job class's own ledger name (a ledger object is never used: the
#: simulation keeps its ledger in memory, under the name ``relaystate-ledger``).
FROM_CLASS = "<the class's>"
#: How often the starter of a fan-out without a ledger looks whether the job's queue is idle.
IDLE_POLL_S = 5.0

#: One simulation runs at a time in a process: the clock it installs is the process's.
_RUN_LOCK = threading.Lock()


@attrs.frozen
class SimRun:
    """One seed's run: what it broke, and what it did.

    Attributes:
        seed: the seed (``Simulation.run(seed)`` replays the run exactly).
        violations: the invariants it broke, at most one each.
        record: everything the run recorded (its story: ``record.story()``).
        virtual_s: the virtual time the run took.

    Example:
        >>> run = Simulation(Count, ledger="t").run(3)  # doctest: +SKIP
        >>> run.ok, run.story()[0]  # doctest: +SKIP
        (True, '    0.031 s  the starter: created queue relay-sim-3-dlq')
    """

    seed: int
    violations: tuple[Violation, ...]
    record: Record = attrs.field(eq=False, repr=False)
    virtual_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the run broke no invariant."""
        return not self.violations

    def story(self) -> list[str]:
        """What happened, one line an event, in virtual-time order."""
        return self.record.story()


@attrs.frozen
class SimReport:
    """What many seeds' runs showed.

    Attributes:
        seeds: how many seeds ran.
        violations: every violation, seed by seed.
        wall_s: the real time the runs took.
        faults: the faults injected, by kind, over all runs.
        invocations: invocations over all runs.
        units: units run (calls of ``step``) over all runs.

    Example:
        >>> sim = Simulation(Count, faults=SimFaults(duplicate_rate=0.5))  # doctest: +SKIP
        >>> report = sim.run_many(range(5))  # doctest: +SKIP
        >>> list(report.by_invariant())[:1], report.seeds  # doctest: +SKIP
        (['no unit of a committed hop ran again'], 5)
    """

    seeds: int
    violations: tuple[Violation, ...]
    wall_s: float
    faults: Mapping[str, int] = attrs.field(factory=dict)
    invocations: int = 0
    units: int = 0

    @property
    def seeds_per_s(self) -> float:
        """Runs per real second."""
        return self.seeds / self.wall_s if self.wall_s > 0 else 0.0

    def by_invariant(self) -> dict[str, list[Violation]]:
        """The violations of each invariant that was broken, in the invariants' order."""
        found: dict[str, list[Violation]] = {}
        for invariant in INVARIANTS:
            of = [v for v in self.violations if v.invariant == invariant]
            if of:
                found[invariant] = of
        return found


class Simulation:
    """Runs ``job_class`` under faults, one fresh simulated AWS per seed, and checks each run.

    Args:
        job_class: the job class to run (unchanged; see the module's documentation).
        data: the job's data (a copy for each run).
        ledger: the ledger's table name, ``None`` for none, or :data:`FROM_CLASS` (default):
            the class's.
        faults: what to inject.
        timing: how long things take (the function's timeout, a unit's time...).
        options: more constructor options of the job (``max_receive_count=``...).
        tear_down_when_idle: the starter tears the job down once its queue is idle, as the
            README tells a fan-out without a ledger to (default: exactly then).
        max_invocations: a run with more is cut short (a job that forks without end).
        max_time_s: a run past this virtual time is cut short.
        quiet: silence the ``relaystate`` loggers while a run goes on.
        control: what a user does to the job from outside, at drawn times: signals, pauses
            (see :mod:`~relaystate.testing.sim.control`).

    Example:
        >>> report = Simulation(Count, ledger="t").run_many(range(100))  # doctest: +SKIP
        >>> report.violations, round(report.seeds_per_s)  # doctest: +SKIP
        ((), 150)
    """

    def __init__(
        self,
        job_class: type[RelayJob],
        data: Mapping[str, Any] | None = None,
        *,
        ledger: str | None = FROM_CLASS,
        faults: SimFaults | None = None,
        timing: SimTiming | None = None,
        options: Mapping[str, Any] | None = None,
        tear_down_when_idle: bool | None = None,
        max_invocations: int = 20_000,
        max_time_s: float = 30 * 86_400.0,
        quiet: bool = True,
        control: SimControl | None = None,
    ) -> None:
        self.job_class = job_class
        self.data = dict(data or {})
        if ledger == FROM_CLASS:
            own = job_class.ledger
            ledger = own if isinstance(own, str) or own is None else "relaystate-ledger"
        self.ledger = ledger
        self.faults = faults or SimFaults()
        self.timing = timing or SimTiming()
        self.options = {**(options or {}), "ledger": ledger}
        self.tear_down_when_idle = tear_down_when_idle
        self.max_invocations = max_invocations
        self.max_time_s = max_time_s
        self.quiet = quiet
        self.control = control or SimControl()

    def run(self, seed: int) -> SimRun:
        """Run the job once, with the world drawn from ``seed``, and check the run.

        Raises:
            SimulationError: the job did not start (``plan()`` raised...), or the simulator
                itself failed.
        """
        with _RUN_LOCK:
            return _Run(self, seed).go()

    def run_many(
        self, seeds: Iterable[int], *, each: Callable[[SimRun], None] | None = None
    ) -> SimReport:
        """Run every seed of ``seeds``; ``each`` is called with every run as it ends."""
        violations: list[Violation] = []
        faults: collections.Counter[str] = collections.Counter()
        invocations = units = count = 0
        began = time.perf_counter()
        for seed in seeds:
            run = self.run(seed)
            count += 1
            violations.extend(run.violations)
            faults.update(run.record.faults)
            invocations += len(run.record.invocations)
            units += len(run.record.units)
            if each is not None:
                each(run)
        return SimReport(
            count,
            tuple(violations),
            time.perf_counter() - began,
            dict(faults),
            invocations,
            units,
        )


class _Run:
    """One seed's world, built, run and checked."""

    def __init__(self, sim: Simulation, seed: int) -> None:
        self.sim = sim
        self.seed = seed
        self.world = world = World(seed, sim.faults, sim.timing, max_time_s=sim.max_time_s)
        self.queues = SimQueues(world)
        self.mappings = SimMappings(world, self.queues)
        self.ledgers: dict[str, SimLedger] = {}
        self.backend = MemoryBackend(
            queues=self.queues,
            mappings=self.mappings,
            ledgers=self._ledger,
            blobs=blobs_per_bucket(),  # a job that offloads keeps its objects in memory here
            mapping_wait_s=300.0,
            mapping_poll_s=0.5,
            mapping_poll_max_s=5.0,
        )
        Poller(world, self.queues, self.mappings, max_invocations=sim.max_invocations)
        job_class = sim.job_class
        backend = self.backend
        function = sim.options.get("function_name") or job_class.function_name or "worker"
        timeout = sim.options.get("function_timeout_s") or job_class.function_timeout_s
        self.mappings.deploy(
            function,
            lambda event, context: job_class.handle(event, context, backend=backend),
            timeout_s=timeout or sim.timing.function_timeout_s,
            concurrency=sim.timing.concurrency,
        )
        world.record.job_id = f"sim-{seed}"
        self.start_error: BaseException | None = None
        self.user = (
            User(world, job_class, backend, sim.ledger, sim.control) if sim.control else None
        )

    def go(self) -> SimRun:
        world = self.world
        with world.installed(quiet=self.sim.quiet), _instrumented(self.sim.job_class, world):
            world.sched.start(0.0, Proc("starter", self._drive))
            world.sched.run_until_idle()
        if self.start_error is not None:
            raise SimulationError(
                f"seed {self.seed}: the job did not start: {self.start_error!r}"
            ) from self.start_error
        self.queues.expire_all()  # what SQS would have dropped by the end of the run
        record = world.record
        ledger = self.ledgers.get(self.sim.ledger) if self.sim.ledger else None
        violations = check(
            self.seed, record, self.queues, self.mappings, ledger, aborted=world.sched.aborted
        )
        return SimRun(self.seed, tuple(violations), record, world.now)

    def _ledger(self, table_name: str) -> SimLedger:
        found = self.ledgers.get(table_name)
        if found is None:
            found = self.ledgers[table_name] = SimLedger(self.world, table_name)
        return found

    def _drive(self) -> None:
        """The starter: start the job; for a fan-out without a ledger, tear it down when idle."""
        sim, world = self.sim, self.world
        record = world.record
        job = sim.job_class(
            data=copy.deepcopy(sim.data), backend=self.backend, job_id=record.job_id, **sim.options
        )
        try:
            job.start()
        except ThrottledError:
            if not sim.faults.throttle_starter:
                raise
            return  # a start throttled and rolled back: nothing ran
        except Exception as exc:
            self.start_error = exc
            return
        cursors = getattr(job.packets, "cursors", None)
        if cursors is None:
            cursors = [packet.cursor for packet in job.packets]
        record.first_cursors = [freeze(cursor, "cursor") for cursor in cursors]
        record.shards = len(record.first_cursors)
        record.ledgered = job.ledger is not None
        if self.user is not None:
            self.user.begin(job.job_id)
        idle_teardown = sim.tear_down_when_idle
        if idle_teardown is None:
            idle_teardown = not record.ledgered and record.shards > 1
        if idle_teardown:
            self._wait_idle(job)
            job.tear_down()

    def _wait_idle(self, job: RelayJob) -> None:
        """Until the job's queue holds no message and no invocation of its mapping runs."""
        assert job.packet is not None
        url, mapping_id = job.packet.queue_url, job.packet.mapping_id
        user, sched = self.user, self.world.sched
        while user is not None and user.pending:  # a paused job is not idle: wait for the user
            sched.sleep(max(IDLE_POLL_S, user.last_due - sched.now))
        while True:
            self.world.sched.sleep(IDLE_POLL_S)
            queue = self.queues.queues.get(url)
            mapping = self.mappings.live.get(mapping_id)
            held = getattr(queue, "held", None)
            if not held and (mapping is None or not mapping.running):
                return


@contextlib.contextmanager
def _instrumented(job_class: type[RelayJob], world: World) -> Iterator[None]:
    """Wrap ``step``, ``on_done`` and ``on_failed`` of ``job_class`` for the run's length."""
    names = ("step", "on_done", "on_failed")
    own = {name: job_class.__dict__[name] for name in names if name in job_class.__dict__}
    step, on_done, on_failed = job_class.step, job_class.on_done, job_class.on_failed

    def sim_step(self: RelayJob, cursor: Any) -> Any:
        return world.unit(self, cursor, step)

    def sim_on_done(self: RelayJob) -> None:
        world.hook("on_done", self)
        on_done(self)

    def sim_on_failed(self: RelayJob, error: BaseException | None) -> None:
        world.hook("on_failed", self)
        on_failed(self, error)

    for name, wrapper in zip(names, (sim_step, sim_on_done, sim_on_failed), strict=True):
        setattr(job_class, name, wrapper)
    try:
        yield
    finally:
        for name in names:
            if name in own:
                setattr(job_class, name, own[name])
            else:
                delattr(job_class, name)
