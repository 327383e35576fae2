"""``relaystate demo`` and ``relaystate run``: run relay jobs on the local Lambda runtime.

::

    relaystate demo [--rows 10000] [--timeout 2.0]     copy a SQLite table, hop by hop
    relaystate run MODULE:JobClass [--data JSON] ...    run a job class to the end

Both show a progress bar (units, hops) while the job runs and close with a summary: hops,
units, relays, Lambda time used of the time available, AWS calls by operation, resources
left, wall time. Exit status 0 means every shard finished and nothing was left behind.

This module holds the two commands and their options. The run itself is
:mod:`~relaystate.cli.execution`, the hop tally :mod:`~relaystate.cli.hoplog`, the bar
:mod:`~relaystate.cli.progress`, the closing table :mod:`~relaystate.cli.summary`. It imports
click and rich (the ``local`` extra); the Lambda path never imports this module.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console

from ..job import RelayJob
from .execution import execute
from .output import Failure, guarded
from .params import concurrency_option, is_missing, job_class_and_data, timeout_option
from .summary import Interrupted, report
from .timeline import write_page

__all__ = ["demo", "run"]

#: How long ``run_until_idle`` may take before the command gives up (``--max-wait``).
MAX_WAIT_S = 600.0


@click.command()
@click.option(
    "--rows",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows in the generated table.",
)
@timeout_option
def demo(rows: int, timeout: float) -> None:
    """Copy a generated SQLite table, 100 rows a unit, as a relay of hops.

    Runs examples/sql_pages.py's CopyRows on the local Lambda runtime: with a short function
    timeout the copy takes several hops. The summary shows hops, relays, how much of the
    Lambda time paid for was used, the AWS calls made, and that nothing was left behind.
    """
    import tempfile

    example = _demo_example()
    batch: int = example.BATCH
    copy_rows: type[RelayJob] = example.CopyRows
    connect, make_source = example.connect, example.make_source
    console = Console()
    console.print(f"Copying {rows:,} SQLite rows, {batch} a unit, in hops of at most {timeout:g} s")
    console.print("on the local Lambda runtime (SQS: moto on 127.0.0.1; no AWS account used)")
    with tempfile.TemporaryDirectory(prefix="relaystate-demo-") as tmp:
        db = Path(tmp) / "rows.db"
        make_source(db, rows)

        def copied_units(job: RelayJob) -> int:
            with connect(db) as conn:
                (n,) = conn.execute("SELECT COUNT(*) FROM copy").fetchone()
            return math.ceil(int(n) / batch)

        with guarded(runs_job_code=True), _interruptible():
            result = execute(
                copy_rows,
                {"db": str(db)},
                console=console,
                timeout_s=timeout,
                concurrency=1,
                max_wait_s=MAX_WAIT_S,
                total=math.ceil(rows / batch),
                probe=copied_units,
            )
        with connect(db) as conn:
            copied, distinct = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT id) FROM copy"
            ).fetchone()
        result = attrs.evolve(
            result,
            extra=(
                *result.extra,
                ("rows copied", f"{copied:,} of {rows:,} ({distinct:,} distinct)"),
            ),
            error=result.error or (f"copied {copied:,} rows of {rows:,}" if copied != rows else ""),
        )
    report(console, result)


@click.command()
@job_class_and_data
@timeout_option
@concurrency_option
@click.option(
    "--max-wait",
    default=MAX_WAIT_S,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Give up if the job is not done in this many seconds.",
)
@click.option(
    "--retry-delay",
    type=click.IntRange(0, 43_200),
    help="Retry after this many seconds: a failed invocation is delivered again after it, and "
    "a unit error relays with it instead of the job's Retry.hop_delay_s (doubling per retry, "
    "as the policy does)  [default: as on AWS: the queue's visibility timeout, at least 30 s; "
    "the job's policy, 10 s doubling]",
)
@click.option(
    "--total",
    type=click.IntRange(min=1),
    help="The units the job will run, if you know: the progress bar then shows a bar (a job "
    "class with a progress(cursor) hook gives its own total).",
)
@click.option(
    "--skip-time",
    is_flag=True,
    help="Skip the time in which nothing is due: a job that sleeps (Sleep) or waits for a "
    "signal with a timeout (WaitFor) goes on at once, on a virtual clock that the job reads "
    "through relaystate.clock; a job that sleeps for a day runs in seconds. The summary "
    "says how much time was skipped.",
)
@click.option(
    "--timeline",
    "timeline_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the run's hops to this file as one HTML page: a lane per shard, a bar per "
    "hop, the waits between, the totals and the estimated cost on AWS.",
)
def run(
    job_class: type[RelayJob],
    data: dict[str, Any],
    timeout: float,
    concurrency: int,
    max_wait: float,
    retry_delay: int | None,
    total: int | None,
    skip_time: bool,
    timeline_file: Path | None,
) -> None:
    """Run a RelayJob subclass on the local Lambda runtime, to the end.

    MODULE is imported as Python would, from the current directory or the installed
    packages. A job class needs a worker name and one unit of work, e.g. in count.py:

    \b
        from relaystate import DONE, RelayJob
        class Count(RelayJob):
            function_name = "count-worker"   # the Lambda that runs the hops
            def plan(self):                   # the first cursor (a list: shards)
                return 0
            def step(self, cursor):           # one unit: the next cursor, or DONE
                return DONE if cursor >= self.data["to"] else cursor + 1

    \b
    Then: relaystate run count:Count --data '{"to": 100000}'

    A job that fans out (plan() returned several cursors) is torn down once its queue is
    idle: no shard can know that it is the last. A unit that raises is retried as the job's
    Retry policy says: the run shows each wait and how long it lasts (--retry-delay 0 ends
    them at once), and, if the job fails, the traceback of the last error and the packets
    its failed shards parked, saved to files to resume after the fix. Ctrl-C tears the job
    down and prints the summary so far.

    --skip-time runs a job that sleeps or waits on a virtual clock that jumps over the time
    in which nothing is due (a day of Sleep in seconds):

    \b
        relaystate run examples.nightly:NightlyExport --skip-time \\
            --data '{"nights": 2, "night_s": 86400}'

    Exit status: 0 when every shard finished and nothing was left behind, 1 when the job
    failed, 2 for bad arguments, 130 after Ctrl-C.
    """
    console = Console()
    with guarded(runs_job_code=True), _interruptible():
        result = execute(
            job_class,
            data,
            console=console,
            timeout_s=timeout,
            concurrency=concurrency,
            max_wait_s=max_wait,
            retry_delay_s=retry_delay,
            total=total,
            skip_time=skip_time,
            timeline=timeline_file is not None,
        )
    if timeline_file is not None and result.timeline is not None:
        write_page(result.timeline, timeline_file)
        console.print(f"timeline: {timeline_file}", markup=False, highlight=False, soft_wrap=True)
    report(console, result)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C before the job started: one line, exit status 130, no traceback."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted (Ctrl-C) before the job started; its local endpoint stopped with it, "
            "so nothing is left"
        ) from None


#: Where the demo's example lives: in an installed wheel, then in a source checkout.
_DEMO_EXAMPLE = ("relaystate._examples.sql_pages", "examples.sql_pages")


def _demo_example() -> Any:
    """The module of examples/sql_pages.py, which the wheel carries as relaystate._examples."""
    import importlib

    missing: list[str] = []
    for name in _DEMO_EXAMPLE:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not is_missing(name, exc):
                raise  # the example itself needs something that is missing
            missing.append(name)
    raise Failure(
        f"the demo's example is missing ({' and '.join(missing)} not found): reinstall "
        "relaystate, or run from a source checkout"
    )
