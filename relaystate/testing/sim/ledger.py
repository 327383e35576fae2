"""The progress ledger in a simulation: :class:`SimLedger`, a :class:`MemoryLedger` whose every
operation is an AWS call of the running invocation.

Each operation goes through the world's gate (:meth:`~relaystate.testing.sim.world.World.call`)
as the DynamoDB call it is (``UpdateItem``, ``TransactWriteItems``, ``PutItem``, ``Query``,
``BatchWriteItem``...): it takes time, may be throttled, and may be the call at which its
invocation is killed, before or after it took effect. A transaction (a shard's end, a shard's
reopen, a signal) may meet concurrent ones and be cancelled (``SimFaults.conflict_rate``), which the
ledger tries again as it would on DynamoDB. What the ledger accepts is written to the run's
record: a hop's checkpoint, wait or finish is its *commit*, which the invariants hold the run
to, and the first signal of each name is the one that stands.

Example:
    >>> from relaystate.testing.sim import SimFaults, SimTiming
    >>> from relaystate.testing.sim.world import World
    >>> ledger = SimLedger(World(1, SimFaults(), SimTiming()), "relaystate-ledger")
    >>> ledger.open_job("j", shards=1, job_type="CopyRows", function_name="copy-worker")
    >>> ledger.claim("j", 0, 0, "request-a", lease_ms=60_000).outcome
    'run'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ...ledger import Claim, JobStatus, Parked, ShardResult
from ...states import JobState
from ..ledger import MemoryLedger
from .record import Commit, SignalRecorded
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

    def claim(
        self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int, packet: str = ""
    ) -> Claim:
        claim = super().claim
        return self.world.call(
            "dynamodb", "UpdateItem", lambda: claim(job_id, shard, hop, owner, lease_ms, packet)
        )

    def abandon_job(self, job_id: str) -> None:
        abandon_job = super().abandon_job
        self.world.call("dynamodb", "DeleteItem", lambda: abandon_job(job_id))

    def checkpoint(self, job_id: str, shard: int, hop: int, owner: str, **values: Any) -> None:
        checkpoint = super().checkpoint

        def apply() -> None:
            checkpoint(job_id, shard, hop, owner, **values)
            self._commit(job_id, shard, hop, "wait" if values.get("waiting") else "checkpoint")

        self.world.call("dynamodb", "UpdateItem", apply)

    def confirm_sent(self, job_id: str, shard: int, hop: int) -> None:
        confirm_sent = super().confirm_sent
        self.world.call("dynamodb", "UpdateItem", lambda: confirm_sent(job_id, shard, hop))

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

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0, owner: str | None = None) -> None:
        mark_torn_down = super().mark_torn_down

        def apply() -> None:
            job = self.jobs.get(job_id)
            before = job.state if job is not None else ""
            self._paused(job_id, lambda: mark_torn_down(job_id, tolerated=tolerated, owner=owner))
            # Recorded only when it ends the job (not when it came after a reopen, with owner).
            ending = job is not None and before not in _ENDED and job.state in _ENDED
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

    def reopen_job(self, job_id: str) -> bool:
        reopen_job = super().reopen_job
        # DynamoDB reads the job's item, then updates it on the condition that it is as read:
        # one call here, where the invocation may be killed.
        return self.world.call("dynamodb", "UpdateItem", lambda: reopen_job(job_id))

    def status(self, job_id: str) -> JobStatus | None:
        status = super().status
        return self.world.call("dynamodb", "Query", lambda: status(job_id))

    def results(self, job_id: str) -> Iterator[ShardResult]:
        results = super().results
        return iter(self.world.call("dynamodb", "Query", lambda: list(results(job_id))))

    def put_signal(self, job_id: str, name: str, payload_json: str) -> bool:
        put_signal = super().put_signal

        def apply() -> bool:
            self.conflicts = self.world.conflicts()
            recorded = put_signal(job_id, name, payload_json)
            if recorded and job_id == self.world.record.job_id:
                world = self.world
                world.record.signals.append(SignalRecorded(name, payload_json, world.now))
                world.record.say(world.now, world.by(), f"signal {name!r} recorded")
            return recorded

        return self.world.call("dynamodb", "TransactWriteItems", apply)

    def signals(self, job_id: str) -> dict[str, Any]:
        signals = super().signals
        return self.world.call("dynamodb", "Query", lambda: signals(job_id))

    def waiting_for(self, job_id: str, name: str) -> list[Parked]:
        waiting_for = super().waiting_for
        return self.world.call("dynamodb", "Query", lambda: waiting_for(job_id, name))

    def pending(self, job_id: str) -> list[Parked]:
        pending = super().pending
        return self.world.call("dynamodb", "Query", lambda: pending(job_id))

    def set_paused(self, job_id: str, paused: bool) -> None:
        set_paused = super().set_paused
        self.world.call(
            "dynamodb",
            "UpdateItem",
            lambda: self._paused(job_id, lambda: set_paused(job_id, paused)),
        )

    def claim_control(self, job_id: str, owner: str, lease_ms: int) -> bool:
        claim_control = super().claim_control
        return self.world.call(
            "dynamodb", "UpdateItem", lambda: claim_control(job_id, owner, lease_ms)
        )

    def release_control(self, job_id: str, owner: str) -> None:
        release_control = super().release_control
        self.world.call("dynamodb", "UpdateItem", lambda: release_control(job_id, owner))

    def park(self, job_id: str, bodies: Sequence[str]) -> None:
        park = super().park
        self.world.call("dynamodb", "BatchWriteItem", lambda: park(job_id, bodies))

    def parked(self, job_id: str) -> list[str]:
        parked = super().parked
        return self.world.call("dynamodb", "Query", lambda: parked(job_id))

    def forget_parked(self, job_id: str, bodies: Sequence[str]) -> None:
        forget_parked = super().forget_parked
        self.world.call("dynamodb", "BatchWriteItem", lambda: forget_parked(job_id, bodies))

    def _paused(self, job_id: str, write: Callable[[], None]) -> None:
        """Apply ``write``; if it changed the run's job's ``paused``, record when."""
        job = self.jobs.get(job_id)
        was = job is not None and job.paused
        write()
        now = job is not None and job.paused
        if now != was and job_id == self.world.record.job_id:
            self.world.record.ledger_paused.append((self.world.now, now))

    def _commit(self, job_id: str, shard: int, hop: int, kind: str) -> None:
        world = self.world
        if job_id != world.record.job_id:
            return
        world.record.commits.append(Commit(shard, hop, kind, world.now, world.by()))
        world.record.say(world.now, world.by(), f"{kind} of shard {shard} hop {hop} accepted")
