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

:func:`report` prints it and turns a failed run into exit status 1 with one line that
says why.

Example:
    >>> report(Console(), execute(Count, {}, console=Console(), timeout_s=2.0,
    ...                           concurrency=1, max_wait_s=60))  # doctest: +SKIP
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .execution import RunResult
from .output import Failure, fact_table, plural

__all__ = ["report", "summary"]


def summary(result: RunResult) -> Table:
    """The closing table: what the relay did, what it cost, and what it left behind.

    Example:
        >>> Console().print(summary(result))  # doctest: +SKIP
    """
    job, log = result.job, result.log
    table = fact_table(f"{type(job).__name__} {job.job_id}")
    state = "done" if result.ok else "FAILED"
    finished = f"{len(log.done_shards)} of {plural(result.shards, 'shard')} finished"
    table.add_row("outcome", f"{state}: {finished}")
    table.add_row("hops", f"{log.hops:,}")
    table.add_row("units", f"{log.units:,}")
    table.add_row("relays", f"{log.relays:,}")
    table.add_row("failed hops", f"{result.failed_hops:,}")
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


def report(console: Console, result: RunResult) -> None:
    """Print the summary; raise :class:`Failure` (exit 1, one line) if the job failed.

    Example:
        >>> report(Console(), result)  # doctest: +SKIP
    """
    console.print(summary(result))
    if result.error:
        raise Failure(result.error)
    problems = result.problems()
    if problems:
        raise Failure("; ".join(problems))
