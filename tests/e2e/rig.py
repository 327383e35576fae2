"""Where a scenario runs: the starter's backend and names, and how to watch what the worker did.

A :class:`Rig` is the same to a scenario on AWS (the deployed worker, the starter role's
clients, CloudWatch Logs; see :func:`tests.e2e.aws.aws_rig`) and on this machine (a
LocalLambda; see ``tests/functional/test_e2e_tooling.py``), so that what the scenarios do
and check is proven here before a maintainer spends money on it.

Every wait is bounded: a job that has not got where it should within the rig's ``timeout_s``
fails the test with the job's status in the message.

Example:
    >>> refused([0.0, 0.1, 0.2], limit=2)
    1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from relaystate import JobState, RelayJob
from relaystate.ledger import JobStatus
from relaystate.ports import Backend, LedgerPort
from relaystate.queue_attributes import queue_counts

__all__ = ["EndedTooLateError", "Rig", "refused"]

T = TypeVar("T")
J = TypeVar("J", bound=RelayJob)

#: A job's end as the ledger records it.
ENDED = (JobState.TORN_DOWN, JobState.FAILED)


class EndedTooLateError(AssertionError):
    """A job did not get where the test waited for it within the bound."""


@attrs.frozen(kw_only=True)
class Rig:
    """The starter's side of the e2e scenarios.

    Attributes:
        backend: the starter's backend (on AWS: clients with the starter role's credentials).
        function_name: the worker Lambda that runs every job class of :mod:`tests.e2e.jobs`.
        queue_prefix: the jobs' queue-name prefix (``relay-e2e-<run id>-``).
        ledger_table: the progress ledger's table.
        reports: ``reports(kind, job_id)``: the worker's report lines of that kind so far.
        left_over: ``left_over(job_id)``: what still exists of the job's queues and mapping.
        pump: lets the relay run a while (sleeps on AWS; drives a LocalLambda here).
        timeout_s: how long any one wait may take.
        jobs: job id -> what the test called it, for the report (filled by :meth:`start`).
    """

    backend: Backend
    function_name: str
    queue_prefix: str
    ledger_table: str
    reports: Callable[[str, str], list[dict[str, Any]]]
    left_over: Callable[[str], list[str]]
    pump: Callable[[], None]
    timeout_s: float = 600.0
    jobs: dict[str, str] = attrs.field(factory=dict)

    def start(
        self, job_class: type[J], data: dict[str, Any], label: str, *, ledger: bool = False
    ) -> J:
        """Start a job of ``job_class`` on the worker, with the e2e names; remember its id."""
        options: dict[str, Any] = {
            "function_name": self.function_name,
            "queue_prefix": self.queue_prefix,
        }
        if ledger:
            options["ledger"] = self.ledger_table
        job = job_class(data=data, backend=self.backend, **options)
        self.jobs[job.job_id] = label
        job.start()
        return job

    def attach(self, job_class: type[J], job_id: str) -> J:
        """A handle on a running job, through the starter's backend and the ledger."""
        return job_class.attach(job_id, ledger=self.ledger_table, backend=self.backend)

    @property
    def ledger(self) -> LedgerPort:
        """The progress ledger, read with the starter's credentials."""
        assert self.backend.ledgers is not None
        return self.backend.ledgers(self.ledger_table)

    def wait(self, what: str, check: Callable[[], T | None], why: Callable[[], str]) -> T:
        """``check()``'s first result that is not ``None``, pumping in between.

        Raises:
            EndedTooLateError: none within ``timeout_s``; ``why()`` says where things stood.
        """
        deadline = time.monotonic() + self.timeout_s
        while True:
            found = check()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise EndedTooLateError(f"{what}: not within {self.timeout_s:.0f} s; {why()}")
            self.pump()

    def results(self, job_id: str, count: int = 1) -> list[dict[str, Any]]:
        """The ``result`` of each of the job's first ``count`` result reports, by shard."""

        def found() -> list[dict[str, Any]] | None:
            lines = self.reports("result", job_id)
            by_shard = {line["shard"]: line["result"] for line in lines}
            return [by_shard[s] for s in sorted(by_shard)] if len(by_shard) >= count else None

        return self.wait(f"{count} result(s) of job {job_id}", found, lambda: self._seen(job_id))

    def ended(self, job_id: str) -> JobStatus:
        """The job's status once the ledger records its end (torn down or failed)."""

        def found() -> JobStatus | None:
            status = self.ledger.status(job_id)
            return status if status is not None and status.state in ENDED else None

        return self.wait(f"the end of job {job_id}", found, lambda: self._status(job_id))

    def reached(self, job_id: str, state: JobState) -> JobStatus:
        """The job's status once the ledger shows it in ``state``."""

        def found() -> JobStatus | None:
            status = self.ledger.status(job_id)
            return status if status is not None and status.state is state else None

        return self.wait(f"job {job_id} {state.value}", found, lambda: self._status(job_id))

    def idle(self, job: RelayJob) -> None:
        """Wait until the job's queue holds no packet (visible, in flight or delayed) in two
        reads in a row: SQS's counts are approximate and lag what happened."""
        assert job.packet is not None
        url, quiet = job.packet.queue_url, [0]

        def found() -> bool | None:
            attributes = self.backend.queues.describe(url)
            held = sum(queue_counts(attributes)) if attributes is not None else 0
            quiet[0] = quiet[0] + 1 if held == 0 else 0
            return True if quiet[0] >= 2 else None

        self.wait(f"the queue of job {job.job_id} idle", found, lambda: self._seen(job.job_id))

    def left_after(self, job_id: str, keep: int = 0) -> list[str]:
        """What is left of the job once at most ``keep`` things are (a deleted queue answers
        for up to 60 s), or when the wait runs out: the test asserts on it."""
        left: list[str] = []

        def found() -> list[str] | None:
            left[:] = self.left_over(job_id)
            return left if len(left) <= keep else None

        try:
            return self.wait(f"teardown of job {job_id}", found, lambda: str(left))
        except EndedTooLateError:
            return left

    def _seen(self, job_id: str) -> str:
        hops = self.reports("hop", job_id)
        last = hops[-1] if hops else None
        return f"{len(hops)} hop(s) reported, the last {last}; left: {self.left_over(job_id)}"

    def _status(self, job_id: str) -> str:
        return f"status {self.ledger.status(job_id)}; {self._seen(job_id)}"


def refused(times: Sequence[float], limit: int) -> int:
    """How many of the calls made at ``times`` an API that accepts ``limit`` a second would
    have refused (what the example's fake API counts as its 429s).

    Example:
        >>> refused([0.0, 0.1, 0.2, 1.15], limit=2)
        1
    """
    accepted: list[float] = []
    rejected = 0
    for t in times:
        if len([a for a in accepted if a > t - 1.0]) >= limit:
            rejected += 1
        else:
            accepted.append(t)
    return rejected
