"""``relaystate demo`` and ``relaystate run``: run relay jobs on the local Lambda runtime.

::

    relaystate demo [--rows 10000] [--timeout 2.0]     copy a SQLite table, hop by hop
    relaystate run MODULE:JobClass [--data JSON] ...    run a job class to the end

Both show a progress bar (units, hops) while the job runs and close with a summary: hops,
units, relays, Lambda time used of the time available, AWS calls by operation, resources
left, wall time. Exit status 0 means every shard finished and nothing was left behind.

It imports click and rich (the ``local`` extra); the Lambda path never imports this module.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..job import RelayJob
from ..local.errors import IdleTimeoutError
from .output import Failure, one_line, plural
from .params import is_missing, job_class_param, json_object

if TYPE_CHECKING:
    from ..local import LocalLambda

__all__ = ["HopLog", "Outcome", "demo", "execute", "report", "run", "summary"]

#: How long ``run_until_idle`` may take before the command gives up (``--max-wait``).
MAX_WAIT_S = 600.0


# -- what the workers report ------------------------------------------------------------------


class HopLog(logging.Handler):
    """Tallies the hop records workers log, and shows their warnings and errors as one line each.

    Every hop logs one structured record (``record.relaystate_hop``: job id, shard, outcome
    ``relayed``/``finished``/``failed``, units...; on AWS, a JSON line in CloudWatch); a hop
    that raised logs one with outcome ``error``. The local runtime runs the workers in this
    process, so the command reads them here.
    """

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.job_id = ""
        self.hops = 0
        self.units = 0
        self.relays = 0
        self.done_shards: set[int] = set()
        #: Why shards failed: ``shard N failed: <error>``.
        self.failed: list[str] = []
        #: The error of the last hop that failed (and will be delivered again).
        self.last_error = ""
        #: Stop showing warnings and errors (while the command tears a busy job down).
        self.quiet = False

    def emit(self, record: logging.LogRecord) -> None:
        hop = getattr(record, "relaystate_hop", None)
        if isinstance(hop, dict):
            if hop.get("outcome") == "error":
                self.last_error = str(hop.get("error", ""))
            else:
                self._count(hop)
                return
        if record.levelno < logging.WARNING:
            return
        if record.exc_info and record.exc_info[1] is not None and not self.last_error:
            self.last_error = one_line(record.exc_info[1])
        if self.quiet:
            return
        message = record.getMessage()
        line = message.splitlines()[0].removeprefix("relaystate: ") if message else record.name
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({one_line(record.exc_info[1])})"
        style = "red" if record.levelno >= logging.ERROR else "yellow"
        self.console.print(f"[{style}]{record.levelname.lower()}:[/] {line}", markup=True)

    def _count(self, hop: dict[str, object]) -> None:
        if self.job_id and hop.get("job_id") != self.job_id:
            return
        shard = int(str(hop.get("shard", 0)))
        self.hops += 1
        self.units += int(str(hop.get("units", 0)))
        outcome = hop.get("outcome")
        if outcome == "finished":
            self.done_shards.add(shard)
        elif outcome == "relayed":
            self.relays += 1
        elif outcome == "failed":
            self.failed.append(f"shard {shard} failed: {hop.get('error', '')}")


@contextmanager
def listening(handler: HopLog) -> Iterator[HopLog]:
    """Route the ``relaystate`` logger's records to ``handler`` alone while the block runs."""
    logger = logging.getLogger("relaystate")
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run did, for the summary."""

    job: RelayJob
    log: HopLog
    timeout_s: float
    invocations: int = 0
    duration_ms: float = 0.0
    failed_hops: int = 0
    aws_calls: Counter[str] = field(default_factory=Counter)
    left: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    error: str = ""
    extra: list[tuple[str, str]] = field(default_factory=list)

    @property
    def shards(self) -> int:
        return max(len(self.job.packets), 1)

    @property
    def ok(self) -> bool:
        return not (self.error or self.problems())

    def problems(self) -> list[str]:
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
) -> Outcome:
    """Deploy ``job_class`` on a fresh LocalLambda, start it with ``data``, run it to idle.

    ``total`` is the number of units expected (for the bar), ``probe`` a live count of units
    done (the hop lines count a hop's units only when it ends).
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
        outcome = Outcome(job=job, log=log, timeout_s=timeout_s)

        def progress() -> tuple[int, int]:
            live = _safely(probe, job) if probe is not None else 0
            return max(live, log.units), log.hops

        name = f"{job_class.__name__} ({plural(outcome.shards, 'shard')})"
        try:
            with progress_bar(console, name, total, progress):
                lam.run_until_idle(timeout_s=max_wait_s)
        except IdleTimeoutError as exc:
            busy = str(exc).split(". ", 1)[0].removeprefix("LocalLambda was ")
            outcome.error = f"gave up after {max_wait_s:g} s (--max-wait): {busy}"
        if outcome.shards > 1 or outcome.error:
            # A finished shard cannot know whether it is the last, so it leaves queue and
            # mapping in place; the starter, which has seen the queue go idle, tears down.
            # After a time-out, tear down too: this runtime's resources are ours alone.
            _tear_down(job, lam, outcome)
        _collect(outcome, lam)
    outcome.wall_s = time.perf_counter() - started
    return outcome


def _tear_down(job: RelayJob, lam: LocalLambda, outcome: Outcome) -> None:
    if outcome.error:
        # Hops still running will fail to relay to the deleted queue: expected, not news.
        outcome.log.quiet = True
        console = outcome.log.console
        console.print("[yellow]tearing the job down; hops still running will fail to relay[/]")
    try:
        job.tear_down()
        lam.run_until_idle(timeout_s=outcome.timeout_s + 10)  # no mapping left: until they end
    except Exception as exc:
        outcome.error = outcome.error or f"teardown failed: {one_line(exc)}"


def _collect(outcome: Outcome, lam: LocalLambda) -> None:
    invocations = list(lam.invocations)
    outcome.invocations = len(invocations)
    outcome.duration_ms = sum(i.duration_ms for i in invocations)
    outcome.failed_hops = sum(1 for i in invocations if i.outcome != "ok")
    outcome.aws_calls = Counter(lam.aws_calls)
    outcome.left = left_over(lam, outcome.job)


def left_over(lam: LocalLambda, job: RelayJob) -> list[str]:
    """The job's queues (with the messages they hold) and the mappings still on ``lam``.

    Queues are listed by the job's queue name (its DLQ adds ``-dlq``): moto keeps one store per
    process, so other servers' queues show up too. A client of its own, so that looking does
    not count among the job's AWS calls.
    """
    from ..local.server import sqs_client

    if job.packet is None or not job.packet.queue_url:
        return []
    prefix = job.packet.queue_url.rsplit("/", 1)[-1]
    client = sqs_client(lam.endpoint_url, lam.region)
    try:
        found = []
        for url in client.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
            attributes = client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            held = int(attributes.get("ApproximateNumberOfMessages", "0"))
            name = f"queue {url.rsplit('/', 1)[-1]}"
            found.append(f"{name} ({plural(held, 'message')})" if held else name)
    finally:
        client.close()
    return found + [f"mapping {m.id} ({m.state})" for m in lam.mappings]


@contextmanager
def progress_bar(
    console: Console, name: str, total: int | None, read: Callable[[], tuple[int, int]]
) -> Iterator[None]:
    """A bar of units done (of ``total``, if known) and hops so far, refreshed from ``read``."""
    units = "{task.completed:,.0f}/{task.total:,.0f} units" if total else "{task.completed:,} units"
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(units),
        TextColumn("{task.fields[hops]} hops"),
        TimeElapsedColumn(),
    )
    stop = threading.Event()
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(name, total=total, hops=0)

        def update() -> None:
            done, hops = read()
            bar.update(task, completed=done, hops=hops)

        def poll() -> None:
            while not stop.wait(0.1):
                update()

        poller = threading.Thread(target=poll, name="relaystate-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
            update()


def _safely(probe: Callable[[RelayJob], int], job: RelayJob) -> int:
    try:
        return probe(job)
    except Exception:
        return 0


# -- the summary ---------------------------------------------------------------------------------


def summary(outcome: Outcome) -> Table:
    """The closing table: what the relay did, what it cost, and what it left behind."""
    job, log = outcome.job, outcome.log
    table = Table(
        title=f"{type(job).__name__} {job.job_id}", show_header=False, title_justify="left"
    )
    table.add_column(style="bold")
    table.add_column()
    state = "done" if outcome.ok else "FAILED"
    finished = f"{len(log.done_shards)} of {plural(outcome.shards, 'shard')} finished"
    table.add_row("outcome", f"{state}: {finished}")
    table.add_row("hops", f"{log.hops:,}")
    table.add_row("units", f"{log.units:,}")
    table.add_row("relays", f"{log.relays:,}")
    table.add_row("failed hops", f"{outcome.failed_hops:,}")
    for name, value in outcome.extra:
        table.add_row(name, value)
    available_ms = outcome.invocations * outcome.timeout_s * 1000
    share = f"{outcome.duration_ms / available_ms:.0%}" if available_ms else "n/a"
    table.add_row(
        "Lambda time",
        f"{outcome.duration_ms / 1000:,.1f} s used of {available_ms / 1000:,.1f} s available "
        f"({plural(outcome.invocations, 'invocation')} x {outcome.timeout_s:g} s): {share}",
    )
    calls = sorted(outcome.aws_calls.items(), key=lambda kv: (-kv[1], kv[0]))
    by_op = ", ".join(f"{op} {n}" for op, n in calls)
    table.add_row(
        "AWS calls", f"{sum(outcome.aws_calls.values()):,}" + (f": {by_op}" if by_op else "")
    )
    table.add_row("resources left", ", ".join(outcome.left) or "none")
    table.add_row("wall time", f"{outcome.wall_s:,.1f} s")
    return table


def report(console: Console, outcome: Outcome) -> None:
    """Print the summary; raise :class:`Failure` (exit 1, one line) if the job failed."""
    console.print(summary(outcome))
    if outcome.error:
        raise Failure(outcome.error)
    problems = outcome.problems()
    if problems:
        raise Failure("; ".join(problems))


# -- the commands ------------------------------------------------------------------------------

_timeout_option = click.option(
    "--timeout",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.5, max=900),
    help="The function timeout in seconds (Lambda's 900 at most): each hop gets this long.",
)


@click.command()
@click.option(
    "--rows",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows in the generated table.",
)
@_timeout_option
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

        outcome = _guarded(
            lambda: execute(
                copy_rows,
                {"db": str(db)},
                console=console,
                timeout_s=timeout,
                concurrency=1,
                max_wait_s=MAX_WAIT_S,
                total=math.ceil(rows / batch),
                probe=copied_units,
            )
        )
        with connect(db) as conn:
            copied, distinct = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT id) FROM copy"
            ).fetchone()
        outcome.extra.append(("rows copied", f"{copied:,} of {rows:,} ({distinct:,} distinct)"))
        if copied != rows and not outcome.error:
            outcome.error = f"copied {copied:,} rows of {rows:,}"
    report(console, outcome)


@click.command()
@click.argument("job_class", metavar="MODULE:JobClass", callback=job_class_param)
@click.option(
    "--data",
    default="{}",
    show_default=True,
    callback=json_object,
    help="The job's data (self.data), a JSON object.",
)
@_timeout_option
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Hops that may run at once (shards of a fan-out run in parallel).",
)
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
    help="Retry a failed hop after this many seconds  [default: when the queue's visibility "
    "timeout ends, at least 30 s, as on AWS]",
)
def run(
    job_class: type[RelayJob],
    data: dict[str, Any],
    timeout: float,
    concurrency: int,
    max_wait: float,
    retry_delay: int | None,
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
    idle: no shard can know that it is the last. Exit status: 0 when every shard finished
    and nothing was left behind, 1 when the job failed, 2 for bad arguments.
    """
    console = Console()
    outcome = _guarded(
        lambda: execute(
            job_class,
            data,
            console=console,
            timeout_s=timeout,
            concurrency=concurrency,
            max_wait_s=max_wait,
            retry_delay_s=retry_delay,
        )
    )
    report(console, outcome)


def _guarded(action: Callable[[], Outcome]) -> Outcome:
    """Run ``action``; an error (in plan, setup, teardown) becomes one line and exit status 1."""
    try:
        return action()
    except click.ClickException:
        raise
    except Exception as exc:
        raise Failure(one_line(exc)) from exc


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
