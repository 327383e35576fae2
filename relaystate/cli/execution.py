"""One local run of a job class, start to end, and what it did (:class:`RunResult`).

:func:`execute` deploys the class on a fresh :class:`~relaystate.local.LocalLambda`, starts a
job, runs the runtime until no queue has work (showing a progress bar), tears the job down
where no hop will, and collects what the run did: the hop tally, the invocations and the
Lambda time they used, the AWS calls by operation, and what was left behind. It prints
nothing else and never exits: ``relaystate run`` and ``demo`` decide what the result means.

Example:
    >>> result = execute(CountPrimes, {"n": 40_000}, console=Console(), timeout_s=2.0,
    ...                  concurrency=4, max_wait_s=600)  # doctest: +SKIP
    >>> result.ok, result.log.hops, result.left  # doctest: +SKIP
    (True, 9, ())
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from rich.console import Console

from ..frozen import FrozenDict
from ..job import RelayJob
from ..local.errors import IdleTimeoutError
from .hoplog import HopLog, listening
from .output import one_line, plural
from .progress import progress_bar

if TYPE_CHECKING:
    from ..local import LocalLambda

__all__ = ["RunResult", "execute", "shard_count"]


def shard_count(job: RelayJob) -> int:
    """How many shards the started ``job`` runs (a job that did not fan out has one).

    Example:
        >>> shard_count(job)  # doctest: +SKIP
        4
    """
    return max(len(job.packets), 1)


@attrs.frozen
class RunResult:
    """What one local run of a job did, for the summary.

    Attributes:
        job: the job that was started (its packets name the shards).
        log: the hop tally of the run (hops, units, relays, finished and failed shards).
        timeout_s: the function timeout each hop had.
        invocations: the invocations made; ``duration_ms`` their Lambda time in all, and
            ``failed_hops`` those that did not end well.
        aws_calls: the AWS operations the job and its hops made, by name.
        left: what still existed at the end (queues, mappings), one line each.
        wall_s: the run's wall time, from before the runtime started until it stopped.
        error: why the run as a whole failed (gave up, teardown failed...), or empty.
        extra: more rows for the summary, ``(name, value)`` (the demo's rows copied).

    Example:
        >>> result = execute(Count, {}, console=Console(), timeout_s=2.0, concurrency=1,
        ...                  max_wait_s=60)  # doctest: +SKIP
        >>> result.problems()  # doctest: +SKIP
        []
    """

    job: RelayJob
    log: HopLog
    timeout_s: float
    invocations: int = 0
    duration_ms: float = 0.0
    failed_hops: int = 0
    aws_calls: Mapping[str, int] = attrs.field(factory=FrozenDict, converter=FrozenDict)
    left: tuple[str, ...] = ()
    wall_s: float = 0.0
    error: str = ""
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def shards(self) -> int:
        """How many shards the job ran."""
        return shard_count(self.job)

    @property
    def ok(self) -> bool:
        """Whether the run succeeded: no error, every shard finished, nothing left behind."""
        return not (self.error or self.problems())

    def problems(self) -> list[str]:
        """What went wrong with the job, one line each (empty when nothing did)."""
        found = list(self.log.failed)
        missing = self.shards - len(self.log.done_shards)
        if missing > 0 and not found:
            why = f" (last hop error: {self.log.last_error})" if self.log.last_error else ""
            found.append(f"{missing} of {plural(self.shards, 'shard')} did not finish{why}")
        if self.left:
            found.append(f"resources left: {', '.join(self.left)}")
        return found


def execute(
    job_class: type[RelayJob],
    data: dict[str, Any],
    *,
    console: Console,
    timeout_s: float,
    concurrency: int,
    max_wait_s: float,
    retry_delay_s: int | None = None,
    total: int | None = None,
    probe: Callable[[RelayJob], int] | None = None,
) -> RunResult:
    """Deploy ``job_class`` on a fresh LocalLambda, start it with ``data``, run it to idle.

    Args:
        job_class: the job class to deploy and start.
        data: the job's data (``self.data``).
        console: where the progress bar, and the workers' warnings and errors, go.
        timeout_s, concurrency, retry_delay_s: the runtime's function timeout, concurrent
            invocations and retry delay (see :class:`~relaystate.local.LocalLambda`).
        max_wait_s: how long the job may run before the run gives up (and tears it down).
        total: the number of units expected, for the bar (``None``: unknown).
        probe: a live count of the units done; the hop records count a hop's units only
            when it ends.

    Returns:
        What the run did. A run that gave up, or whose teardown failed, says so in
        :attr:`RunResult.error`.

    Raises:
        Exception: what the runtime, the job class or its ``plan()`` raised before the job
            started (a :class:`~relaystate.errors.RelayError` for a configuration error).

    Example:
        >>> execute(Count, {"to": 100}, console=Console(), timeout_s=2.0, concurrency=1,
        ...         max_wait_s=60).ok  # doctest: +SKIP
        True
    """
    from ..local import LocalLambda

    started = time.perf_counter()
    log = HopLog(console)
    with (
        listening(log),
        LocalLambda(
            timeout_s=timeout_s, concurrency=concurrency, retry_delay_s=retry_delay_s
        ) as lam,
    ):
        lam.deploy(job_class)
        job = job_class(data=data, backend=lam.backend)
        job.start()
        log.job_id = job.job_id

        def progress() -> tuple[int, int]:
            live = _safely(probe, job) if probe is not None else 0
            return max(live, log.units), log.hops

        error = ""
        name = f"{job_class.__name__} ({plural(shard_count(job), 'shard')})"
        try:
            with progress_bar(console, name, total, progress):
                lam.run_until_idle(timeout_s=max_wait_s)
        except IdleTimeoutError as exc:
            busy = str(exc).split(". ", 1)[0].removeprefix("LocalLambda was ")
            error = f"gave up after {max_wait_s:g} s (--max-wait): {busy}"
        if shard_count(job) > 1 or error:
            # A finished shard cannot know whether it is the last, so it leaves queue and
            # mapping in place; the starter, which has seen the queue go idle, tears down.
            # After a time-out, tear down too: this runtime's resources are ours alone.
            error = _tear_down(job, lam, log, timeout_s=timeout_s, error=error)
        result = _collect(lam, job, log, timeout_s=timeout_s, error=error)
    return attrs.evolve(result, wall_s=time.perf_counter() - started)


def _tear_down(
    job: RelayJob, lam: LocalLambda, log: HopLog, *, timeout_s: float, error: str
) -> str:
    """Tear ``job`` down and wait for its hops to end; the run's error, or why teardown failed."""
    if error:
        # Hops still running will fail to relay to the deleted queue: expected, not news.
        log.quiet = True
        log.console.print("[yellow]tearing the job down; hops still running will fail to relay[/]")
    try:
        job.tear_down()
        lam.run_until_idle(timeout_s=timeout_s + 10)  # no mapping left: until they end
    except Exception as exc:
        return error or f"teardown failed: {one_line(exc)}"
    return error


def _collect(
    lam: LocalLambda, job: RelayJob, log: HopLog, *, timeout_s: float, error: str
) -> RunResult:
    invocations = lam.invocations
    return RunResult(
        job=job,
        log=log,
        timeout_s=timeout_s,
        invocations=len(invocations),
        duration_ms=sum(i.duration_ms for i in invocations),
        failed_hops=sum(1 for i in invocations if i.outcome != "ok"),
        aws_calls=lam.aws_calls,
        left=tuple(lam.left_over()),
        error=error,
    )


def _safely(probe: Callable[[RelayJob], int], job: RelayJob) -> int:
    try:
        return probe(job)
    except Exception:
        return 0  # a count that cannot be read now is read again at the next refresh
