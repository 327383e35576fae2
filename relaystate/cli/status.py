"""``status``: a job as its queues or its ledger show it -- once, or live (``--watch``).

Without a ledger a job's queues are all there is to see: how many packets wait, run or sleep,
which mappings feed them, what the dead-letter queue holds. With ``--ledger-table`` the job is
read from its progress ledger: its state, shards, units and, when its class has a
``progress`` hook, percent done, units per second and the time left
(:mod:`relaystate.progress`).

A *frame* is one look at the job: what to show (a rich renderable, or a JSON-ready value with
``--json``) and whether the job has ended. :func:`show_live` shows frame after frame every
``interval_s`` -- in place on a terminal (rich's ``Live``), one JSON line a frame with
``--json`` -- until a frame says the job ended, or Ctrl-C (which ends the watch, not the job).

Example:
    >>> show_live(lambda: ("queued", True), interval_s=2.0, as_json=False)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import attrs
import click
from rich.console import RenderableType
from rich.table import Table

from ..ledger import JobStatus
from ..states import JobState
from .connect import AwsTarget, Connection, aws_options, json_option
from .inventory import ACTIVITIES, JobView, QueueView
from .ops import inventory_of, jobs_prefix_option
from .output import Failure, age_text, console, fact_table, guarded, iso_time, plural, print_json
from .params import Duration

__all__ = ["ENDED", "Frame", "ledger_json", "ledger_table", "show_live", "status"]

#: What to show, and whether the job has ended (the watch stops after showing it).
Frame = tuple[Any, bool]
#: The states after which a watched job changes no more.
ENDED = frozenset({JobState.TORN_DOWN, JobState.FAILED})
#: Pause between frames; tests replace it.
sleep: Callable[[float], None] = time.sleep


@click.command()
@click.argument("target", metavar="JOB_ID|QUEUE_URL")
@click.option(
    "--ledger-table",
    help="Read the job from this progress-ledger table (state, every shard's hop and stats).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Show the status live, read again every --interval, until the job ends (or Ctrl-C).",
)
@click.option(
    "--interval",
    default="2s",
    show_default=True,
    type=Duration(),
    help="With --watch: how often to read the status again.",
)
@jobs_prefix_option
@aws_options
@json_option
def status(
    target: str,
    ledger_table: str | None,
    watch: bool,
    interval: float,
    prefix: str,
    aws: AwsTarget,
    as_json: bool,
) -> None:
    """Show a job: what it is doing, its age, its queues' messages and its mapping.

    With --ledger-table, JOB_ID is read from the progress ledger instead: the job's state and,
    per shard, hop, status, units and last update -- and, when the job class defines
    progress(cursor), percent done, units per second and the time left.

    With --watch the status is shown in place and read again every --interval until the job
    ends (torn down or failed; without a ledger: its queues idle or gone), or Ctrl-C. With
    --json too, one line of JSON a look.

    JOB_ID finds the job's queues by their name prefix and their relaystate:job-id tag;
    QUEUE_URL shows that queue and its dead-letter queue. The activity is one of:

    \b
      running        a hop holds a packet now (messages in flight)
      queued         packets wait and an enabled mapping feeds the queue to the worker
      stalled        packets wait but no enabled mapping feeds the queue: resume or cancel
      dead-lettered  only the dead-letter queue is left, holding packets: resume them
      idle           no packet in its queues: finished, failed or abandoned

    Nothing is received: looking never changes a message's receive count. Exit status 1
    when there is no such job.
    """
    with guarded():
        conn = aws.connect()
        frame = (
            _ledger_frame(conn, ledger_table, target, as_json)
            if ledger_table
            else _queue_frame(conn, prefix, target, as_json)
        )
        if watch:
            show_live(frame, interval_s=interval, as_json=as_json)
            return
        shown, _ = frame()
    if as_json:
        print_json(shown)
    else:
        console().print(shown)


def _ledger_frame(
    conn: Connection, table_name: str, job_id: str, as_json: bool
) -> Callable[[], Frame]:
    """Looks at the job in the ledger; a look fails when the ledger does not know it."""
    ledger = conn.ledger(table_name)

    def frame() -> Frame:
        found = ledger.status(job_id)
        if found is None:
            raise Failure(f"the ledger {table_name!r} does not know job {job_id!r}")
        shown = ledger_json(found) if as_json else ledger_table(found)
        return shown, found.state in ENDED

    return frame


def _queue_frame(conn: Connection, prefix: str, target: str, as_json: bool) -> Callable[[], Frame]:
    """Looks at the job's queues (the first look fails when it has none); a job whose queues
    are gone or idle has ended."""
    inventory = inventory_of(conn, prefix)
    seen = False

    def frame() -> Frame:
        nonlocal seen
        if target.startswith(("https://", "http://")):
            job: JobView | None = inventory.job_of_queue(target)
        else:
            job = inventory.job(target)
        if job is None and seen:
            return (
                {"job_id": target, "activity": "gone"} if as_json else f"job {target}: gone"
            ), True
        if job is None:
            raise Failure(
                f"no relay queue of job {target!r} under the prefix {prefix!r} in {conn.region}: "
                "it was torn down, or it uses another prefix (--prefix) or region (--region); "
                "`relaystate ls` lists the jobs there"
            )
        seen = True
        shown = job.to_dict(time.time()) if as_json else _status_table(job)
        return shown, job.activity in ("idle", "dead-lettered")

    return frame


def _status_table(job: JobView) -> Table:
    table = fact_table(f"job {job.job_id or '?'}")
    table.add_row("type", f"{job.job_type or '?'} -> {job.function or '?'}")
    table.add_row("activity", f"{job.activity}: {ACTIVITIES[job.activity]}")
    if job.created_at:
        table.add_row(
            "age", f"{age_text(time.time() - job.created_at)} (since {iso_time(job.created_at)})"
        )
    for q in job.queues:
        mappings = ", ".join(f"{m.id} {m.state}" for m in q.mappings) or "none"
        table.add_row("queue", f"{q.name}: {_counts(q)}; mapping: {mappings}")
    for q in job.dlqs:
        table.add_row("dead letters", f"{q.name}: {plural(q.held, 'packet')}")
    if not job.dlqs:
        table.add_row("dead letters", "no dead-letter queue")
    return table


def show_live(frame: Callable[[], Frame], *, interval_s: float, as_json: bool) -> None:
    """Show ``frame()`` again every ``interval_s`` until a frame says the job ended, or Ctrl-C.

    With ``as_json`` each frame is one line of JSON (for scripts that follow a job).
    """
    shown, ended = frame()
    if as_json:
        while True:
            click.echo(json.dumps(shown, separators=(",", ":")))
            if ended or not _paused(interval_s):
                return
            shown, ended = frame()
    from rich.live import Live

    with Live(shown, console=console(), auto_refresh=False) as live:
        while not ended and _paused(interval_s):
            shown, ended = frame()
            live.update(shown, refresh=True)


def _paused(interval_s: float) -> bool:
    """Wait ``interval_s``; False when Ctrl-C ended the wait (the watch ends, quietly)."""
    try:
        sleep(interval_s)
    except KeyboardInterrupt:
        return False
    return True


def ledger_table(found: JobStatus) -> RenderableType:
    """The ledger's view of a job: state, shards, units, progress, and a row per shard."""
    table: Table = fact_table(f"job {found.job_id}")
    table.add_row("type", f"{found.job_type} -> {found.function_name}")
    table.add_row("state", found.state.value)
    table.add_row("shards", f"{found.shards}: {found.done} done, {found.failed} failed")
    table.add_row("units", f"{found.units:,}")
    progress = found.progress
    if progress is not None:
        table.add_row("progress", progress.text())
    for shard in found.shard_status:
        line = f"hop {shard.hop}, {shard.status}, {shard.stats.get('units', 0):,} units"
        mark = shard.progress
        if mark and isinstance(mark.get("done"), int) and isinstance(mark.get("total"), int):
            line += f", {mark['done']:,} of {mark['total']:,} done"
        table.add_row(f"shard {shard.shard}", line + (f" -- {shard.error}" if shard.error else ""))
    return table


def ledger_json(found: JobStatus) -> dict[str, Any]:
    """The ledger's view of a job as JSON-ready values, ``progress`` included (or ``null``)."""
    raw = attrs.asdict(found, value_serializer=_plain)
    progress = found.progress
    raw["progress"] = (
        None if progress is None else {**attrs.asdict(progress), "percent": progress.percent}
    )
    return raw


def _plain(instance: object, field: object, value: object) -> object:
    return value.value if hasattr(value, "value") and not isinstance(value, int) else value


def _counts(q: QueueView) -> str:
    return f"{q.visible} visible, {q.in_flight} in flight, {q.delayed} delayed"
