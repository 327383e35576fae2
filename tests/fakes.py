"""The in-memory fakes the unit tests use: the ones relaystate ships in relaystate.testing."""

from relaystate.testing import (
    ACCOUNT,
    FakeClock,
    FakeContext,
    MemoryBackend,
    MemoryMappings,
    MemoryQueues,
    memory_backend,
    sqs_event,
)

__all__ = [
    "ACCOUNT",
    "FakeClock",
    "FakeContext",
    "MemoryBackend",
    "MemoryMappings",
    "MemoryQueues",
    "memory_backend",
    "sqs_event",
]
