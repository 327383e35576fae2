"""The closing summary of a local run: what the relay did, what it cost, what it left behind.

::

    CountPrimes 3aa32a0771294dedba4fe3d7373cc571
    │ outcome        │ done: 4 of 4 shards finished                             │
    │ hops           │ 4                                                        │
    │ units          │ 20                                                       │
    │ relays         │ 0                                                        │
    │ failed hops    │ 0                                                        │
    │ Lambda time    │ 0.1 s used of 8.0 s available (4 invocations x 2 s): 2%  │
    │ AWS calls      │ 16: GetQueueAttributes 3, CreateQueue 2, DeleteQueue 2,  │
    │                │ GetEventSourceMapping 2, SetQueueAttributes 2, ...       │
    │ resources left │ none                                                     │
    │ wall time      │ 1.2 s                                                    │

:func:`report` prints it -- after the traceback of the last error when the run failed, and
before what was left behind with the commands that go on from it -- and turns a failed run
into exit status 1 (130 after Ctrl-C) with one line that says why.

Example:
    >>> report(Console(), execute(Count, {}, console=Console(), timeout_s=2.0,
    ...                           concurrency=1, max_wait_s=60))  # doctest: +SKIP
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .execution import RunResult
from .output import Failure, fact_table, job_traceback, plural
from .params import job_spec

__all__ = ["Interrupted", "report", "summary"]


class Interrupted(Failure):
    """The run was stopped with Ctrl-C: exit status 130, as a shell reports SIGINT."""

    exit_code = 130


def summary(result: RunResult) -> Table:
    """The closing table: what the relay did, what it cost, and what it left behind.

    Example:
        >>> Console().print(summary(result))  # doctest: +SKIP
    """
    job, log = result.job, result.log
    table = fact_table(f"{type(job).__name__} {job.job_id}")
    state = "done" if result.ok else "FAILED"
    finished = f"{len(log.done_shards)} of {plural(result.shards, 'shard')} finished"
    failed = f", {len(log.failed)} failed" if log.failed else ""
    stopped = ", interrupted (Ctrl-C)" if result.interrupted else ""
    table.add_row("outcome", f"{state}: {finished}{failed}{stopped}")
    table.add_row("hops", f"{log.hops:,}")
    table.add_row("units", f"{log.units:,}")
    retries = f" ({log.retried:,} to retry a unit)" if log.retried else ""
    table.add_row("relays", f"{log.relays:,}{retries}")
    table.add_row("failed hops", _failed_hops(result))
    for name, value in result.extra:
        table.add_row(name, value)
    available_ms = result.invocations * result.timeout_s * 1000
    share = f"{result.duration_ms / available_ms:.0%}" if available_ms else "n/a"
    table.add_row(
        "Lambda time",
        f"{result.duration_ms / 1000:,.1f} s used of {available_ms / 1000:,.1f} s available "
        f"({plural(result.invocations, 'invocation')} x {result.timeout_s:g} s): {share}",
    )
    calls = sorted(result.aws_calls.items(), key=lambda kv: (-kv[1], kv[0]))
    by_op = ", ".join(f"{op} {n}" for op, n in calls)
    table.add_row(
        "AWS calls", f"{sum(result.aws_calls.values()):,}" + (f": {by_op}" if by_op else "")
    )
    table.add_row("resources left", ", ".join(result.left) or "none")
    table.add_row("wall time", f"{result.wall_s:,.1f} s")
    return table


def _failed_hops(result: RunResult) -> str:
    log = result.log
    parts = []
    if log.retried:
        parts.append(f"{log.retried:,} retried after a unit error")
    if log.failed:
        parts.append(f"{len(log.failed):,} failed its shard for good")
    if result.failed_invocations:
        parts.append(
            f"{plural(result.failed_invocations, 'invocation')} failed and delivered again"
        )
    return f"{result.failed_hops:,}" + (f" ({', '.join(parts)})" if parts else "")


def report(console: Console, result: RunResult) -> None:
    """Print the summary; raise :class:`Failure` (exit 1, one line) if the job failed.

    Before the table: the traceback of the last error, once, when the run failed. After it:
    what was left behind, each with the command that goes on from it or removes it.

    Example:
        >>> report(Console(), result)  # doctest: +SKIP
    """
    problems = result.problems()
    failed = bool(result.error or problems)
    exc_info = result.log.last_exc_info
    if failed and exc_info is not None:
        where = f" ({result.log.last_error_where})" if result.log.last_error_where else ""
        console.print(f"[red]The last error{where}:[/]")
        console.print(job_traceback(*exc_info), markup=False, highlight=False, soft_wrap=True)
    console.print(summary(result))
    see = _left_behind(console, result)
    fail = Interrupted if result.interrupted else Failure
    if result.error:
        raise fail(result.error + see)
    if problems:
        raise fail("; ".join(problems) + see)


def _left_behind(console: Console, result: RunResult) -> str:
    """Print what was left and what to do about it; the pointer for the error line."""
    spec = job_spec(type(result.job))
    saved = {p.queue for p in result.parked}
    others = [line for line in result.left if not any(name in line for name in saved)]
    if not (result.parked or others):
        return ""
    console.print("[bold]Left behind, and what to do:[/]")
    if result.parked:
        for parked in result.parked:
            console.print(f"  {parked.what()}", markup=False, highlight=False, soft_wrap=True)
        serve, _ = result.parked[0].commands(spec)
        console.print("  After the fix, go on from a saved packet on a local endpoint:")
        console.print(f"    {serve}    (in another terminal; Ctrl-C stops it)", markup=False)
        for parked in result.parked:
            console.print(
                f"    {parked.commands(spec)[1]}", markup=False, highlight=False, soft_wrap=True
            )
    if others:
        console.print(
            f"  {', '.join(others)}: on AWS these would stay until `relaystate cancel "
            f"{result.job.job_id}` deletes them; here they went with this run's local endpoint",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return " (see above for what to do)"
