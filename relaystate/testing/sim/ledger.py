"""The progress ledger in a simulation: :class:`SimLedger`, a :class:`MemoryLedger` whose every
operation is an AWS call of the running invocation.

Each operation goes through the world's gate (:meth:`~relaystate.testing.sim.world.World.call`)
as the DynamoDB call it is (``UpdateItem``, ``TransactWriteItems``, ``PutItem``, ``Query``):
it takes time, may be throttled, and may be the call at which its invocation is killed, before
or after it took effect. A transaction (a shard's end, a reopen) may meet concurrent ones and
be cancelled (``SimFaults.conflict_rate``), which the ledger tries again as it would on
DynamoDB. What the ledger accepts is written to the run's record: a hop's checkpoint or
finish is its *commit*, which the invariants hold the run to.

Example:
    >>> from relaystate.testing.sim import SimFaults, SimTiming
    >>> from relaystate.testing.sim.world import World
    >>> ledger = SimLedger(World(1, SimFaults(), SimTiming()), "relaystate-ledger")
    >>> ledger.open_job("j", shards=1, job_type="CopyRows", function_name="copy-worker")
    >>> ledger.claim("j", 0, 0, "request-a", lease_ms=60_000).outcome
    'run'
"""

from __future__ import annotations

from typing import Any

from ...ledger import Claim, JobStatus
from ...states import JobState
from ..ledger import MemoryLedger
from .record import Commit
from .world import World

__all__ = ["SimLedger"]

_ENDED = (JobState.TORN_DOWN.value, JobState.FAILED.value)


class SimLedger(MemoryLedger):
    """:class:`~relaystate.ports.LedgerPort` of a simulation (see the module's documentation).

    Args:
        world: the run's world (its clock is the ledger's).
        table_name: the table it stands for.
    """

    def __init__(self, world: World, table_name: str) -> None:
        super().__init__(clock=world.now_ms)
        self.world = world
        self.table_name = table_name

    def open_job(self, job_id: str, **options: Any) -> None:
        open_job = super().open_job
        self.world.call("dynamodb", "PutItem", lambda: open_job(job_id, **options))

    def claim(self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int) -> Claim:
        claim = super().claim
        return self.world.call(
            "dynamodb", "UpdateItem", lambda: claim(job_id, shard, hop, owner, lease_ms)
        )

    def checkpoint(self, job_id: str, shard: int, hop: int, owner: str, **values: Any) -> None:
        checkpoint = super().checkpoint

        def apply() -> None:
            checkpoint(job_id, shard, hop, owner, **values)
            self._commit(job_id, shard, hop, "checkpoint")

        self.world.call("dynamodb", "UpdateItem", apply)

    def finish(self, job_id: str, shard: int, hop: int, owner: str, **values: Any) -> bool:
        finish = super().finish

        def apply() -> bool:
            self.conflicts = self.world.conflicts()
            last = finish(job_id, shard, hop, owner, **values)
            self._commit(job_id, shard, hop, "fail" if values.get("failed") else "finish")
            return last

        return self.world.call("dynamodb", "TransactWriteItems", apply)

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        claim_teardown = super().claim_teardown
        return self.world.call(
            "dynamodb", "UpdateItem", lambda: claim_teardown(job_id, owner, lease_ms)
        )

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0) -> None:
        mark_torn_down = super().mark_torn_down

        def apply() -> None:
            job = self.jobs.get(job_id)
            ending = job is not None and job.state not in _ENDED
            mark_torn_down(job_id, tolerated=tolerated)
            if ending and job_id == self.world.record.job_id:
                world = self.world
                world.record.marks.append((world.now, world.by()))
                world.record.say(world.now, world.by(), "the ledger recorded the teardown")

        self.world.call("dynamodb", "UpdateItem", apply)

    def reopen(self, job_id: str, shard: int) -> None:
        reopen = super().reopen

        def apply() -> None:
            self.conflicts = self.world.conflicts()
            reopen(job_id, shard)

        self.world.call("dynamodb", "TransactWriteItems", apply)

    def status(self, job_id: str) -> JobStatus | None:
        status = super().status
        return self.world.call("dynamodb", "Query", lambda: status(job_id))

    def _commit(self, job_id: str, shard: int, hop: int, kind: str) -> None:
        world = self.world
        if job_id != world.record.job_id:
            return
        world.record.commits.append(Commit(shard, hop, kind, world.now, world.by()))
        world.record.say(world.now, world.by(), f"{kind} of shard {shard} hop {hop} accepted")
