"""A deterministic simulator: relay jobs under AWS's faults, thousands of seeds a minute.

:class:`Simulation` runs a job class through the real ``RelayJob`` code (start, handle, the
hop loop, the ledger protocol, teardown) in a simulated AWS held in memory, on a virtual
clock, with every choice drawn from one seed, and checks invariants after every run (see
:mod:`~relaystate.testing.sim.invariants`). A failing seed replays exactly.

Example:
    >>> from relaystate import DONE, RelayJob
    >>> from relaystate.testing import SimFaults, Simulation
    >>> class Count(RelayJob):
    ...     function_name = "count-worker"
    ...     def plan(self):
    ...         return [0, 0, 0]
    ...     def step(self, cursor):
    ...         return DONE if cursor >= 20 else cursor + 1
    >>> faults = SimFaults(duplicate_rate=0.3, conflict_rate=0.1)
    >>> report = Simulation(Count, ledger="relaystate-ledger", faults=faults).run_many(range(20))
    >>> report.violations, report.faults["duplicate"] > 0
    ((), True)
    >>> forked = Simulation(Count, ledger=None, faults=SimFaults(duplicate_rate=0.5))
    >>> sorted({v.invariant for v in forked.run_many(range(20)).violations})[:2]
    ['no unit of a committed hop ran again', 'on_done/on_failed exactly once per outcome']

What it models
--------------
SQS (:mod:`~relaystate.testing.sim.sqs`, :mod:`~relaystate.testing.sim.delivery`):
at-least-once delivery (a message delivered again, at once to a second concurrent invocation
or late, after it was deleted), visibility timeouts and redelivery, per-message and per-queue
delays, the redrive to the dead-letter queue after maxReceiveCount, message retention (a
message older than the queue's MessageRetentionPeriod is dropped, at once when the period is
cut below its age), approximate counts that lag up to a minute, DeleteQueue that takes effect
late (the queue answers for up to 60 s while what is sent to it vanishes), a deleted name
refused for 60 s, a queue URL that a new queue of the same name takes over, the message size
limit and the characters SQS refuses, batches of 10 and 1 MiB, and the job's own
ReceiveMessage and DeleteMessageBatch (what ``pause()`` parks with). A queue keeps its
messages indexed (:mod:`~relaystate.testing.sim.held`): a receive or a count costs ``log n``
of what it holds, so a fan-out of 100,000 shards runs in a couple of minutes.

Lambda (:mod:`~relaystate.testing.sim.mappings`, :mod:`~relaystate.testing.sim.poller`): the
event-source mapping's states and the time each transition takes (Creating, Enabling,
Enabled, Disabling, Disabled, Deleting; deletion and updates refused mid-transition; a
Disabling mapping still delivers), its poller (batches of BatchSize, MaximumConcurrency, the
function's concurrency), ReportBatchItemFailures, the function's timeout (a handler that
overruns is killed where it stands), cold starts, and the recursion stop after 16
invocations of a chain for a function that did not allow recursion.

DynamoDB (:mod:`~relaystate.testing.sim.ledger`): :class:`~relaystate.testing.MemoryLedger`'s
conditional writes and transactions, with throttles and transaction conflicts -- every
operation, job control's too (signals, waits, pause, parked packets).

A user (:mod:`~relaystate.testing.sim.control`, :mod:`~relaystate.testing.sim.user`): what
``control=`` scripts -- ``job.signal()``, ``job.pause()`` and ``job.unpause()`` at times drawn
from the seed, through ``attach()`` -- while the job's own ``step`` may return ``Sleep`` and
``WaitFor``.

Faults (:class:`SimFaults`): duplicates, invocations killed at any AWS call (before it, or
after it took effect) or before a unit, throttled calls, transaction conflicts. Time
(:class:`SimTiming`): every AWS call, unit, cold start and state change takes a drawn time;
invocations overlap, and the order in which they reach AWS is the virtual clock's
(:mod:`~relaystate.testing.sim.scheduler`).

What it does not model
----------------------
It is for speed and search, and never replaces the functional tests on moto: the twins are
written from AWS's documentation, not AWS's code, and the adapters (``relaystate.aws``:
request shapes, error mapping, botocore's retries) are not run at all. Not modelled: clock
skew between Lambda hosts and DynamoDB (one clock serves all), the one-second wait AWS asks
for after CreateQueue, the 15 minutes a new retention period may take to apply, FIFO
queues, partial failures inside one SendMessageBatch beyond refused entries, the poller's
gradual scaling, memory limits, the Lambda account's other functions, throttles of the
Lambda service's own receives and deletes, DynamoDB's item size limits beyond the ledger's
own checks, faults of the user's own calls (spared, as the starter's are), and a job's own
I/O (a unit's time is drawn; what ``step`` does runs for real, once per call).
"""

from .control import SimControl, SimPause, SimSignal
from .faults import SimFaults
from .invariants import INVARIANTS, Violation
from .scheduler import Killed, SimulationError
from .simulation import FROM_CLASS, SimReport, SimRun, Simulation
from .timing import SimTiming

__all__ = [
    "FROM_CLASS",
    "INVARIANTS",
    "Killed",
    "SimControl",
    "SimFaults",
    "SimPause",
    "SimReport",
    "SimRun",
    "SimSignal",
    "SimTiming",
    "Simulation",
    "SimulationError",
    "Violation",
]
