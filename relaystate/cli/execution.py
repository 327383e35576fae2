"""One local run of a job class, start to end, and what it did (:class:`RunResult`).

:func:`execute` deploys the class on a fresh :class:`~relaystate.local.LocalLambda`, starts a
job, runs the runtime until no queue has work (showing a progress bar that says when the run
waits, and for how long), tears the job down where no hop will (and after Ctrl-C), saves the
packets a failed shard parked in its dead-letter queue (the queue goes with the run's
endpoint), and collects what the run did: the hop tally, the invocations and the Lambda time
they used, the AWS calls by operation, and what was left behind. It prints nothing else and
never exits: ``relaystate run`` and ``demo`` decide what the result means.

Example:
    >>> result = execute(CountPrimes, {"n": 40_000}, console=Console(), timeout_s=2.0,
    ...                  concurrency=4, max_wait_s=600)  # doctest: +SKIP
    >>> result.ok, result.log.hops, result.left  # doctest: +SKIP
    (True, 9, ())
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from rich.console import Console

from .. import resources
from ..frozen import FrozenDict
from ..job import RelayJob
from ..local.errors import IdleTimeoutError
from ..names import queue_name_of
from ..progress import measure
from .hoplog import HopLog, listening
from .instrument import UnitCounter, has_progress, instrumented
from .output import one_line, plural
from .parked import Parked, save_parked
from .progress import Reading, progress_bar
from .timeline_model import Timeline, from_run

if TYPE_CHECKING:
    from ..local import LocalLambda

__all__ = ["RunResult", "execute", "shard_count"]

#: Invocation outcomes after which SQS delivers the packet again.
FAILED_OUTCOMES = frozenset({"error", "timeout", "partial", "crash"})


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
        log: the hop tally of the run (hops, units, relays, retries, finished and failed
            shards, the last error's traceback).
        timeout_s: the function timeout each hop had.
        invocations: the invocations made; ``duration_ms`` their Lambda time in all, and
            ``failed_invocations`` those that failed (SQS delivered their packets again).
        aws_calls: the AWS operations the job and its hops made, by name.
        left: what still existed at the end (queues, mappings), one line each.
        parked: the packets found in the job's dead-letter queues, saved to files.
        wall_s: the run's wall time, from before the runtime started until it stopped.
        error: why the run as a whole failed (gave up, interrupted, teardown failed...), or
            empty.
        interrupted: the run was stopped with Ctrl-C.
        extra: more rows for the summary, ``(name, value)`` (the demo's rows copied).
        timeline: the run's hops, for ``--timeline`` (``None`` unless asked for).

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
    failed_invocations: int = 0
    aws_calls: Mapping[str, int] = attrs.field(factory=FrozenDict, converter=FrozenDict)
    left: tuple[str, ...] = ()
    parked: tuple[Parked, ...] = ()
    wall_s: float = 0.0
    error: str = ""
    interrupted: bool = False
    extra: tuple[tuple[str, str], ...] = ()
    timeline: Timeline | None = None

    @property
    def shards(self) -> int:
        """How many shards the job ran."""
        return shard_count(self.job)

    @property
    def failed_hops(self) -> int:
        """Hops that did not end well: a unit error (retried, or failing its shard), the hop
        cap, or an invocation that failed and was delivered again."""
        return self.log.retried + len(self.log.failed) + self.failed_invocations

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
    skip_time: bool = False,
    timeline: bool = False,
) -> RunResult:
    """Deploy ``job_class`` on a fresh LocalLambda, start it with ``data``, run it to idle.

    Args:
        job_class: the job class to deploy and start.
        data: the job's data (``self.data``).
        console: where the progress bar, and the workers' warnings and errors, go.
        timeout_s, concurrency: the runtime's function timeout and concurrent invocations.
        retry_delay_s: retry a failed invocation after this many seconds, and relay a unit
            error after this delay instead of the job's ``Retry.hop_delay_s`` (``None``: as
            on AWS, the queue's visibility timeout and the job's policy).
        max_wait_s: how long the job may run before the run gives up (and tears it down).
        total: the number of units expected, for the bar (``None``: the job's total by its
            ``progress`` hook, which the bar then counts in; else unknown).
        probe: a live count of the units done (default: the units that returned so far).
        skip_time: run on a virtual clock that skips the time in which nothing is due
            (``LocalLambda(skip_time=True)``); the result's ``extra`` says how much it skipped.
        timeline: keep the run's hops and invocations for a timeline page
            (:attr:`RunResult.timeline`).

    Returns:
        What the run did. A run that gave up, was interrupted, or whose teardown failed,
        says so in :attr:`RunResult.error`.

    Raises:
        Exception: what the runtime, the job class or its ``plan()`` raised before the job
            started (a :class:`~relaystate.errors.RelayError` for a configuration error).
        KeyboardInterrupt: Ctrl-C before the job started (the runtime is closed).

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
        # Outside the runtime: the class is put back only once its last hop has ended.
        instrumented(job_class, hop_delay_s=retry_delay_s) as units,
        LocalLambda(
            timeout_s=timeout_s,
            concurrency=concurrency,
            retry_delay_s=retry_delay_s,
            skip_time=skip_time,
        ) as lam,
    ):
        lam.deploy(job_class)
        job = job_class(data=data, backend=lam.backend)
        job.start()
        log.job_id = job.job_id
        _explain_waits(log, job, timeout_s=timeout_s, retry_delay_s=retry_delay_s)
        planned = _planned_total(job) if total is None and probe is None else None
        if planned is not None:  # the bar counts the job's own units, of its total
            total = planned
        watch = _Watch(lam, log, units, job, probe, own_units=planned is not None)
        error, interrupted = "", False
        name = f"{job_class.__name__} ({plural(shard_count(job), 'shard')})"
        try:
            with progress_bar(console, name, total, watch.read):
                try:
                    lam.run_until_idle(timeout_s=max_wait_s)
                except IdleTimeoutError as exc:
                    busy = str(exc).split(". ", 1)[0].removeprefix("LocalLambda was ")
                    error = f"gave up after {max_wait_s:g} s (--max-wait): {busy}"
                finally:
                    watch.finished = True
        except KeyboardInterrupt:
            interrupted = True
            error = (
                f"interrupted (Ctrl-C) after {time.perf_counter() - started:.1f} s; the job was "
                "torn down, and what its hops did so far is above"
            )
        if shard_count(job) > 1 or error:
            # A finished shard cannot know whether it is the last, so it leaves queue and
            # mapping in place; the starter, which has seen the queue go idle, tears down.
            # After a time-out or Ctrl-C, tear down too: this runtime's resources are ours.
            error = _tear_down(job, lam, log, timeout_s=timeout_s, error=error)
        result = _collect(lam, job, log, timeout_s=timeout_s, error=error)
        if skip_time:
            result = attrs.evolve(result, extra=(("time skipped", _span(lam.skipped_s)),))
        if timeline:
            result = attrs.evolve(result, timeline=_timeline(lam, job, log, result))
        # After the counts: reading the packets out is this command's doing, not the job's.
        parked = _save_parked(lam, job, list(result.left))
        result = attrs.evolve(result, parked=parked)
    return attrs.evolve(result, wall_s=time.perf_counter() - started, interrupted=interrupted)


class _Watch:
    """What the progress bar reads: live units, hops, waits; failed invocations as they come."""

    def __init__(
        self,
        lam: LocalLambda,
        log: HopLog,
        units: UnitCounter,
        job: RelayJob,
        probe: Callable[[RelayJob], int] | None,
        *,
        own_units: bool = False,
    ) -> None:
        self.lam, self.log, self.units, self.job, self.probe = lam, log, units, job, probe
        #: The bar counts the progress hook's units, not calls of ``step``.
        self.own_units = own_units
        self.finished = False
        self._seen: set[str] = set()

    def read(self) -> Reading:
        log = self.log
        if not self.lam.closed:
            for invocation in self.lam.invocations:
                if invocation.request_id in self._seen:
                    continue
                self._seen.add(invocation.request_id)
                if invocation.outcome in FAILED_OUTCOMES:
                    log.invocation_failed(
                        invocation.function_name, invocation.outcome, invocation.error
                    )
        if self.own_units:
            done = self.units.done
            return Reading(done, log.hops, "" if self.finished else log.waiting())
        if self.finished:  # the hops' own counts, now that every hop has ended
            return Reading(log.units, log.hops)
        live = _safely(self.probe, self.job) if self.probe is not None else self.units.value
        return Reading(max(live, log.units), log.hops, log.waiting())


def _planned_total(job: RelayJob) -> int | None:
    """The job's total by its ``progress`` hook, summed over its shards' first cursors; ``None``
    when its class has no hook (or it says nothing)."""
    if not has_progress(type(job)):
        return None
    total = 0
    for packet in job.packets:
        measured = measure(job.progress, packet.cursor, job=job.job_id)
        if measured is None:
            return None
        total += measured[1]
    return total or None


def _explain_waits(
    log: HopLog, job: RelayJob, *, timeout_s: float, retry_delay_s: int | None
) -> None:
    """Tell the hop log how long each kind of wait lasts, and what shortens it."""
    log.hop_retries = job.retry.hop_retries
    if retry_delay_s is not None:
        log.redelivery_s, log.redelivery_why = retry_delay_s, "--retry-delay"
        return
    log.retry_hint = "--retry-delay 0 shortens the wait"
    function_timeout = job.function_timeout_s or max(math.ceil(timeout_s), 1)
    log.redelivery_s = resources.visibility_for(function_timeout)
    log.redelivery_why = "the queue's visibility timeout, as on AWS"


def _tear_down(
    job: RelayJob, lam: LocalLambda, log: HopLog, *, timeout_s: float, error: str
) -> str:
    """Tear ``job`` down and wait for its hops to end; the run's error, or why teardown failed.

    A second Ctrl-C stops the waiting, not the command: the summary is still printed.
    """
    if error:
        # Hops still running will fail to relay to the deleted queue: expected, not news.
        log.quiet = True
        log.console.print("[yellow]tearing the job down; hops still running will fail to relay[/]")
    try:
        job.tear_down()
        lam.run_until_idle(timeout_s=timeout_s + 10)  # no mapping left: until they end
    except KeyboardInterrupt:
        return error or "interrupted (Ctrl-C) while the job was torn down"
    except Exception as exc:
        return error or f"teardown failed: {one_line(exc)}"
    return error


def _save_parked(lam: LocalLambda, job: RelayJob, left: list[str]) -> tuple[Parked, ...]:
    """The packets in the job's dead-letter queue, saved to files before the endpoint stops."""
    dlq_url = job.packet.dlq_url if job.packet is not None else ""
    if not dlq_url or not any(queue_name_of(dlq_url) in line for line in left):
        return ()
    directory = Path(tempfile.mkdtemp(prefix="relaystate-dead-letters-"))
    return tuple(save_parked(lam.sqs, [dlq_url], directory))


def _collect(
    lam: LocalLambda,
    job: RelayJob,
    log: HopLog,
    *,
    timeout_s: float,
    error: str,
) -> RunResult:
    invocations = lam.invocations
    return RunResult(
        job=job,
        log=log,
        timeout_s=timeout_s,
        invocations=len(invocations),
        duration_ms=sum(i.duration_ms for i in invocations),
        failed_invocations=sum(1 for i in invocations if i.outcome in FAILED_OUTCOMES),
        aws_calls=lam.aws_calls,
        left=tuple(lam.left_over()),
        error=error,
    )


def _span(seconds: float) -> str:
    """A length of time as a person reads it: ``1 d 0 h 15 min`` (whole minutes), or seconds.

    Example:
        >>> _span(86_400 + 900), _span(42.3)
        ('1 d 0 h 15 min', '42.3 s')
    """
    if seconds < 60:
        return f"{seconds:,.1f} s"
    minutes = round(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days} d {hours} h {minutes} min" if days else f"{hours} h {minutes} min"


def _timeline(lam: LocalLambda, job: RelayJob, log: HopLog, result: RunResult) -> Timeline:
    """The run's hops as a timeline: its hop records, invocations and AWS calls."""
    return from_run(
        job_id=job.job_id,
        job_type=job.type_name(),
        state="done" if result.ok else "failed",
        shards=result.shards,
        records=log.records,
        invocations=lam.invocations,
        aws_calls=lam.aws_calls,
        memory_mb=lam.memory_mb,
    )


def _safely(probe: Callable[[RelayJob], int], job: RelayJob) -> int:
    try:
        return probe(job)
    except Exception:
        return 0  # a count that cannot be read now is read again at the next refresh
