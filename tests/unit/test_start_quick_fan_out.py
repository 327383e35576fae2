"""A staged fan-out whose shards end before its start sees the mapping Enabled has started.

A fan-out of more than ten shards sends its packets to a disabled mapping, then enables it and
waits (polls up to 5 s apart) for ``Enabled``. Quick shards run in that time and the last one
tears the job down, mapping first: the start used to find the mapping gone, raise
``ResourceNotFoundError`` ("start the job again": a second run) and abandon the job's ledger
record -- in the simulator, on 2 seeds in 3 of a fan-out of one-unit shards.

Unit tier: the simulator, and in-memory ports.
"""

from __future__ import annotations

import collections
from typing import Any, ClassVar

import pytest

from relaystate import DONE, RelayJob
from relaystate.errors import ResourceNotFoundError
from relaystate.ports import MappingInfo
from relaystate.testing import MemoryLedger, Simulation, memory_backend
from relaystate.testing.memory import MemoryMappings

SEEDS = range(1, 11)


class Quick(RelayJob):
    """A fan-out of one-unit shards."""

    function_name = "quick-worker"
    ran: ClassVar[collections.Counter[int]] = collections.Counter()

    def plan(self) -> Any:
        return list(range(self.data["shards"]))

    def step(self, cursor: Any) -> Any:
        Quick.ran[cursor] += 1
        return DONE


@pytest.mark.parametrize("ledger", ["ledger", None])
def test_a_quick_staged_fan_out_starts_and_runs_once_on_every_seed(ledger: str | None) -> None:
    for seed in SEEDS:
        Quick.ran.clear()
        run = Simulation(Quick, {"shards": 11}, ledger=ledger).run(seed)

        assert ((), dict.fromkeys(range(11), 1)) == (tuple(run.violations), dict(Quick.ran)), seed


class GoneOnEnable(MemoryMappings):
    """The mapping is deleted as it is enabled (by an operator's ``reap``, say)."""

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        info = super().set_enabled(mapping_id, enabled)
        self.mappings.pop(mapping_id)
        return info


def _backend(ledger: MemoryLedger | None, mappings: MemoryMappings | None = None) -> Any:
    backend = memory_backend(ledgers=(lambda table_name: ledger) if ledger else None)
    return type(backend)(
        queues=backend.queues,
        mappings=mappings or GoneOnEnable(),
        ledgers=backend.ledgers,
        blobs=backend.blobs,
        mapping_poll_s=0.0,
        mapping_wait_s=1.0,
    )


def test_with_a_ledger_a_mapping_gone_before_any_shard_ended_still_fails_the_start() -> None:
    ledger = MemoryLedger()
    backend = _backend(ledger)

    with pytest.raises(ResourceNotFoundError, match="vanished while it was being enabled"):
        Quick(data={"shards": 11}, backend=backend, ledger="t", job_id="quick-1").start()

    # Rolled back: the queues deleted, the ledger's record of the job abandoned.
    assert ({}, None) == (backend.queues.queues, ledger.status("quick-1"))


def test_without_a_ledger_a_mapping_gone_on_enable_fails_the_start() -> None:
    # Without a ledger no shard of a fan-out tears the job down (it is left to
    # job.tear_down()): a mapping gone before the start saw it Enabled went for another
    # reason, and the packets it leaves in the queue would never run. The start used to
    # return them as a started job.
    backend = _backend(None)

    with pytest.raises(ResourceNotFoundError, match="vanished while it was being enabled"):
        Quick(data={"shards": 11}, backend=backend, job_id="quick-2").start()

    assert {} == backend.queues.queues  # rolled back


class GoneBeforeEnable(MemoryMappings):
    """The mapping is deleted while still disabled, before the start enables it."""

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        self.mappings.pop(mapping_id, None)
        return super().set_enabled(mapping_id, enabled)


@pytest.mark.parametrize("with_ledger", [True, False])
def test_a_mapping_gone_before_it_was_enabled_fails_the_start(with_ledger: bool) -> None:
    # Disabled from its creation to its end: no shard ran, whatever the ledger is.
    ledger = MemoryLedger() if with_ledger else None
    backend = _backend(ledger, GoneBeforeEnable())

    with pytest.raises(ResourceNotFoundError):
        Quick(
            data={"shards": 11}, backend=backend, ledger="t" if ledger else None, job_id="q-3"
        ).start()

    assert {} == backend.queues.queues
