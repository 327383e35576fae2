"""The job's states and the transitions between them: the one table the machine is built from."""

from __future__ import annotations

import enum

__all__ = ["DONE", "TRANSITIONS", "JobState", "Transition"]


class JobState(enum.Enum):
    """Where a relay job stands. Values are the lower-case names the wire format carries.

    Example:
        >>> JobState("relaying") is JobState.RELAYING
        True
    """

    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    RELAYING = "relaying"
    #: A hop ended in ``WaitFor``: the packet is parked in the ledger until a signal (or the
    #: wait's timeout) wakes the shard.
    WAITING = "waiting"
    #: ``pause()``: the mapping is disabled; nothing runs until ``unpause()``.
    PAUSED = "paused"
    TORN_DOWN = "torn_down"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class _Done:
    """The type of :data:`DONE`; a single instance that survives copying."""

    __slots__ = ()
    _instance: _Done | None = None

    def __new__(cls) -> _Done:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DONE"

    def __reduce__(self) -> str:
        return "DONE"


#: What ``RelayJob.step`` returns when there is no more work.
DONE = _Done()

#: ``(trigger, sources, destination)``; ``tear_down`` from ``TORN_DOWN`` is the idempotent no-op.
Transition = tuple[str, tuple[JobState, ...], JobState]

S = JobState
TRANSITIONS: tuple[Transition, ...] = (
    ("enqueue", (S.CREATED,), S.QUEUED),
    ("begin_hop", (S.QUEUED, S.RELAYING, S.WAITING), S.RUNNING),
    ("relay", (S.RUNNING,), S.RELAYING),
    ("wait", (S.RUNNING,), S.WAITING),
    ("finish", (S.RUNNING,), S.TORN_DOWN),
    ("pause", (S.QUEUED, S.RUNNING, S.RELAYING, S.WAITING), S.PAUSED),
    ("unpause", (S.PAUSED,), S.QUEUED),
    (
        "tear_down",
        (S.QUEUED, S.RUNNING, S.RELAYING, S.WAITING, S.PAUSED, S.FAILED, S.TORN_DOWN),
        S.TORN_DOWN,
    ),
    ("fail", (S.QUEUED, S.RUNNING, S.RELAYING, S.WAITING, S.PAUSED), S.FAILED),
)
del S
