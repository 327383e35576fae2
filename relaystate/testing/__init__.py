"""In-memory twins of the backend's ports for fast unit tests of relay jobs: no I/O, no endpoint.

For tests that need the real SQS protocol, the event shape and redelivery, use
:class:`relaystate.local.LocalLambda`. To search a job's behaviour under AWS's faults, seed
after seed, in memory, use :class:`Simulation` (:mod:`relaystate.testing.sim`). These fakes are
for the job's own logic:

Example:
    >>> from relaystate import DONE, RelayJob
    >>> from relaystate.testing import memory_backend, sqs_event
    >>> class Once(RelayJob):
    ...     function_name = "once-worker"
    ...     def step(self, cursor):
    ...         return DONE
    >>> backend = memory_backend()
    >>> job = Once(backend=backend).start()
    >>> body = backend.queues.pop(job.packet.queue_url)
    >>> Once.handle(sqs_event(body), None, backend=backend)
    {'batchItemFailures': []}
    >>> backend.queues.queues
    {}
"""

from .blobs import MemoryBlobs
from .budget import UnitsPerHop
from .clock import FakeClock, FakeContext
from .events import sqs_event
from .ledger import MemoryJob, MemoryLedger, MemoryRecord, MemoryShard
from .memory import (
    ACCOUNT,
    FakeQueue,
    MemoryBackend,
    MemoryMappings,
    MemoryQueues,
    memory_backend,
)
from .sim import (
    INVARIANTS,
    SimControl,
    SimFaults,
    SimPause,
    SimReport,
    SimRun,
    SimSignal,
    SimTiming,
    Simulation,
    SimulationError,
    Violation,
)

__all__ = [
    "ACCOUNT",
    "INVARIANTS",
    "FakeClock",
    "FakeContext",
    "FakeQueue",
    "MemoryBackend",
    "MemoryBlobs",
    "MemoryJob",
    "MemoryLedger",
    "MemoryMappings",
    "MemoryQueues",
    "MemoryRecord",
    "MemoryShard",
    "SimControl",
    "SimFaults",
    "SimPause",
    "SimReport",
    "SimRun",
    "SimSignal",
    "SimTiming",
    "Simulation",
    "SimulationError",
    "UnitsPerHop",
    "Violation",
    "memory_backend",
    "sqs_event",
]
