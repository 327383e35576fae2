"""The job machine's callbacks: each transition of :data:`relaystate.states.TRANSITIONS`, wired to
what it does (:mod:`relaystate.start`, :mod:`relaystate.lifecycle`, :mod:`relaystate.pause`).

A callback gets the transition's ``EventData``: the job is ``event.model``, the trigger's keyword
arguments are ``event.kwargs``. One :class:`~relaystate.machine.JobMachine` with these callbacks
serves every job of the process (:func:`machine`), built on first use -- not at import, which a
Lambda's cold start pays for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Protocol

from . import lifecycle, pause, signals, tracing
from .hop_state import HopState
from .job_protocols import Job
from .machine import Callback, JobMachine
from .packet import RelayPacket

if TYPE_CHECKING:
    from transitions import EventData

    from .ports import Backend, LedgerPort

__all__ = ["ControlledJob", "machine"]


class ControlledJob(Job, Protocol):
    """What the callbacks need of a job, beyond what the lifecycle needs."""

    hop: HopState | None
    packets: Sequence[RelayPacket]
    _resume_from: RelayPacket | None

    def _ports(self) -> tuple[Backend, LedgerPort | None]:
        """The job's backend and ledger."""


#: The job an event is for (``event.model``, typed).
_job: Callable[[EventData], ControlledJob] = attrgetter("model")


def _enqueue(event: EventData) -> None:
    job = _job(event)
    from .start import deadline_for, open_job, requeue  # only a starter needs it

    backend, ledger = job._ports()
    until = deadline_for(event.kwargs.get("context"))
    if job._resume_from is not None:
        fresh = requeue(job, backend, ledger, job._resume_from, until=until)
        job.packet, job.packets, job._resume_from = fresh, (fresh,), None
        return
    with tracing.start_span(job) as traceparent:
        opened = open_job(job, backend, ledger, until=until, traceparent=traceparent)
    job.packets = opened.packets
    job.packet = job.packets[0]
    job.cursor = job.packet.cursor


def _relay(event: EventData) -> None:
    job = _job(event)
    backend, ledger = job._ports()
    job.packet = lifecycle.relay(job, backend, ledger, job.hop, **event.kwargs)


def _wait(event: EventData) -> None:
    job = _job(event)
    backend, ledger = job._ports()
    job.packet = signals.park(job, backend, ledger, job.hop, **event.kwargs)


def _finish(event: EventData) -> None:
    job = _job(event)
    backend, ledger = job._ports()
    job.packet = lifecycle.finish(job, backend, ledger, job.hop)


def _tear_down(event: EventData) -> None:
    job = _job(event)
    assert job.packet is not None
    backend, ledger = job._ports()
    job.packet = lifecycle.tear_down(
        backend, ledger, job.packet, offload=job.offload, names=lifecycle.names_of(job)
    )


def _after_fail(event: EventData) -> None:
    job = _job(event)
    error = event.kwargs.get("error")
    backend, ledger = job._ports()
    job.packet = lifecycle.fail(job, backend, ledger, job.hop, error)


def _pause(event: EventData) -> None:
    job = _job(event)
    assert job.packet is not None
    backend, ledger = job._ports()
    pause.pause(backend, ledger, job.packet)


def _unpause(event: EventData) -> None:
    job = _job(event)
    assert job.packet is not None
    backend, ledger = job._ports()
    pause.unpause(backend, ledger, job.packet)


#: trigger -> its callbacks, each a function of the event (the job is ``event.model``).
_CALLBACKS: Mapping[str, Mapping[str, Callback]] = {
    "enqueue": {"before": _enqueue},
    "relay": {"before": _relay},
    "wait": {"before": _wait},
    "finish": {"before": _finish},
    "tear_down": {"before": _tear_down},
    "fail": {"after": _after_fail},
    "pause": {"before": _pause},
    "unpause": {"before": _unpause},
}
_MACHINE: JobMachine | None = None


def machine() -> JobMachine:
    """The one machine every job runs on, built on first use."""
    global _MACHINE
    if _MACHINE is None:
        _MACHINE = JobMachine({trigger: dict(hooks) for trigger, hooks in _CALLBACKS.items()})
    return _MACHINE
