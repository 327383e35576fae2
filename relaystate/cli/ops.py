"""``ls``, ``reap`` and ``cancel``: relay jobs as their queues show them (``status``:
:mod:`relaystate.cli.status`).

Without a progress ledger a job's queues are all there is to see: how many packets wait
(visible), run (in flight) or sleep (delayed), which mappings feed them, and what the
dead-letter queue holds. Deleting follows the order AWS needs: a queue's mappings first,
waited until gone, then the queue -- and, with ``--offload-bucket``, the job's offloaded
objects last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
import click
from rich.table import Table

from .. import teardown
from ..errors import RelayError
from ..lifecycle import record_cancel
from ..ports import Backend
from .connect import AwsTarget, Connection, aws_options, json_option
from .inventory import Inventory, JobView, QueueView
from .orphans import orphans
from .output import (
    Failure,
    age_text,
    console,
    guarded,
    one_line,
    plural,
    print_json,
)
from .params import Duration, prefix_option

__all__ = ["cancel", "inventory_of", "jobs_prefix_option", "ls", "reap"]

#: Pause between reap's two looks at a candidate; tests replace it.
sleep: Callable[[float], None] = time.sleep

jobs_prefix_option = prefix_option("The queue-name prefix of the jobs (their queue_prefix).")


def inventory_of(conn: Connection, prefix: str) -> Inventory:
    """The relay jobs of the connection's region, by their queues under ``prefix``."""
    return Inventory(conn.sqs, conn.backend.mappings, prefix=prefix)


# -- ls ------------------------------------------------------------------------------------------


@click.command("ls")
@jobs_prefix_option
@aws_options
@json_option
def ls(prefix: str, aws: AwsTarget, as_json: bool) -> None:
    """List the relay jobs in the region: one line per job, oldest first.

    A relay queue is a queue whose name starts with the prefix and that carries the
    relaystate:job-id tag; queues without it are never listed (nor reaped). MESSAGES are
    the job's queue's visible / in flight / delayed messages; DLQ is what its dead-letter
    queue holds. See `relaystate status --help` for the activities.
    """
    with guarded():
        conn = aws.connect()
        jobs = inventory_of(conn, prefix).jobs()
    if as_json:
        print_json([job.to_dict(time.time()) for job in jobs])
        return
    if not jobs:
        click.echo(f"no relay jobs under the prefix {prefix!r} in {conn.region}")
        return
    table = Table(title=f"relay jobs in {conn.region} ({prefix}*)", title_justify="left")
    for name in ("JOB ID", "TYPE", "FUNCTION", "AGE", "ACTIVITY", "MESSAGES", "MAPPING", "DLQ"):
        table.add_column(name, no_wrap=name == "JOB ID")
    for job in jobs:
        table.add_row(
            job.job_id,
            job.job_type,
            job.function,
            age_text(time.time() - job.created_at) if job.created_at else "?",
            job.activity,
            "/".join(
                str(sum(getattr(q, k) for q in job.queues))
                for k in ("visible", "in_flight", "delayed")
            ),
            job.mapping_state,
            str(job.dlq_depth),
        )
    console().print(table)


# -- reap ----------------------------------------------------------------------------------------


@attrs.define
class Verdict:
    """What ``reap``/``cancel`` did (or would do) to one job.

    Example:
        >>> Verdict("9f2c", "skipped", "running (1 message in flight)").line()
        'skipped job 9f2c: running (1 message in flight)'
    """

    job_id: str
    action: str  # reaped, kept, would reap, would keep, skipped, cancelled, failed
    reason: str = ""
    deleted: list[str] = attrs.field(factory=list)
    kept: list[str] = attrs.field(factory=list)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def line(self) -> str:
        text = f"{self.action} job {self.job_id}"
        if self.reason:
            text += f": {self.reason}"
        dry = self.action.startswith("would ")
        if self.deleted:
            text += f"; {'would delete' if dry else 'deleted'} {', '.join(self.deleted)}"
        if self.kept:
            text += f"; {'would keep' if dry else 'kept'} {', '.join(self.kept)}"
        return text

    def settle(self) -> Verdict:
        """Name the action by its outcome: a job of which only a kept DLQ is left is 'kept'."""
        if not self.deleted and self.kept and self.action in ("reaped", "would reap"):
            self.action = "kept" if self.action == "reaped" else "would keep"
        return self


def _why_not_idle(job: JobView, *, cutoff: float) -> str:
    """Why ``reap`` leaves the job alone, or ``""`` if it is idle beyond the cutoff."""
    in_flight = sum(q.in_flight for q in job.all)
    if in_flight:
        return f"running ({plural(in_flight, 'message')} in flight)"
    waiting = sum(q.visible + q.delayed for q in job.queues)
    if waiting:
        advice = "; resume or cancel it" if job.activity == "stalled" else ""
        return f"{job.activity} ({plural(waiting, 'packet')} waiting{advice})"
    if job.last_created_at > cutoff:
        return f"too young (its newest queue is {age_text(time.time() - job.last_created_at)} old)"
    return ""


@click.command()
@click.option(
    "--older-than",
    "older_than",
    required=True,
    type=Duration(),
    help="Reap only jobs whose newest queue is older than this: 30m, 12h, 7d, 1h30m...",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option(
    "--include-dead-letters",
    is_flag=True,
    help="Also delete dead-letter queues that hold packets (their packets are lost).",
)
@click.option(
    "--settle",
    default="60s",
    show_default=True,
    type=Duration(),
    help="Look at each idle job again after this long before deleting it (SQS's message "
    "counts are approximate and can lag by up to a minute).",
)
@click.option(
    "--offload-bucket",
    help="Also delete the offloaded objects (S3Offload) in this bucket of jobs that have no "
    "queue left.",
)
@click.option(
    "--offload-prefix",
    default="relaystate/",
    show_default=True,
    help="With --offload-bucket: the jobs' S3Offload prefix.",
)
@jobs_prefix_option
@aws_options
@json_option
def reap(
    older_than: float,
    dry_run: bool,
    include_dead_letters: bool,
    settle: float,
    offload_bucket: str | None,
    offload_prefix: str,
    prefix: str,
    aws: AwsTarget,
    as_json: bool,
) -> None:
    """Delete what idle jobs left behind: mappings (first, waited until gone), then queues.

    A job is IDLE when, at two looks --settle apart, none of its queues holds a message
    in flight, and its queue (not its dead-letter queue) holds no visible or delayed
    message either; and its newest queue was created more than --older-than ago. That
    is a job that finished (a fan-out's queue stays until someone tears it down), failed,
    or was abandoned. A job with a message in flight is running; one with packets waiting
    is queued or stalled (see `relaystate status --help`): reap never touches them.

    Packets waiting in a stalled job's queue are work not done: resume or cancel the job.
    A dead-letter queue that holds packets is kept unless --include-dead-letters. Choose
    --older-than longer than a start takes (the mapping wait: minutes), so that a job
    being set up right now is never taken for an idle one.

    With --offload-bucket, the objects of jobs that offload (S3Offload) go too: those of
    every job reaped here, and those under --offload-prefix of any job that has no queue
    left (under --prefix: give the prefix of the jobs that offload there) and whose newest
    object is older than --older-than -- what a teardown that died, or a start rolled back
    by a killed process, left. A job whose DLQ is kept keeps its objects: its packets name
    them.

    Prints one line per job: reaped, kept (only a DLQ that holds packets is left), or
    skipped (and why). Exit status 1 if a deletion failed.
    """
    with guarded():
        conn = aws.connect()
        inventory = inventory_of(conn, prefix)
        jobs = inventory.jobs()
        cutoff = time.time() - older_than
        verdicts: list[Verdict] = []
        candidates: list[JobView] = []
        for job in jobs:
            reason = _why_not_idle(job, cutoff=cutoff)
            if reason:
                verdicts.append(Verdict(job.job_id, "skipped", reason))
            else:
                candidates.append(job)
        if candidates and not dry_run and settle > 0:
            sleep(settle)
        for job in candidates:
            verdicts.append(
                _reap_one(conn.backend, inventory, job, cutoff, dry_run, include_dead_letters)
            )
        if offload_bucket:
            _reap_objects(
                conn.backend, offload_bucket, offload_prefix, jobs, verdicts, cutoff, dry_run
            )
    verdicts.sort(key=lambda v: v.job_id)
    if as_json:
        print_json({"dry_run": dry_run, "jobs": [v.to_dict() for v in verdicts]})
    else:
        for verdict in verdicts:
            click.echo(verdict.line())
        counts = {action: sum(1 for v in verdicts if v.action == action) for action in _ACTIONS}
        summary = ", ".join(f"{n} {action}" for action, n in counts.items() if n)
        click.echo(f"reap: {plural(len(verdicts), 'job')} under {prefix!r} ({summary or 'none'})")
    failed = [v for v in verdicts if v.action == "failed"]
    if failed:
        raise Failure(f"{plural(len(failed), 'job')} could not be reaped: {failed[0].reason}")


_ACTIONS = ("reaped", "would reap", "kept", "would keep", "skipped", "failed")


def _reap_objects(
    backend: Backend,
    bucket: str,
    prefix: str,
    jobs: list[JobView],
    verdicts: list[Verdict],
    cutoff: float,
    dry_run: bool,
) -> None:
    """Delete the offloaded objects of the jobs with no queue left (reaped ones included);
    say so in their verdicts, or in new ones."""
    if backend.blobs is None:  # pragma: no cover - every backend here keeps objects
        raise Failure("this backend keeps no objects")
    blobs = backend.blobs(bucket)
    gone = {v.job_id for v in verdicts if v.action in ("reaped", "would reap")}
    live = {job.job_id for job in jobs} - gone
    orphaned, young = orphans(blobs, prefix, live=live, cutoff_ms=int(cutoff * 1000))
    by_job = {v.job_id: v for v in verdicts}
    for orphan in orphaned:
        verdict = by_job.get(orphan.job_id)
        if verdict is None:
            verdict = Verdict(orphan.job_id, "would reap" if dry_run else "reaped")
            verdicts.append(verdict)
        if not dry_run:
            try:
                blobs.delete_prefix(orphan.prefix)
            except RelayError as exc:
                verdict.action, verdict.reason = "failed", one_line(exc)
                continue
        verdict.deleted.append(orphan.line())
    for orphan in young:
        if orphan.job_id not in by_job:
            age = age_text(time.time() - orphan.newest_ms / 1000)
            verdicts.append(
                Verdict(orphan.job_id, "skipped", f"too young (its newest object is {age} old)")
            )


def _reap_one(
    backend: Backend,
    inventory: Inventory,
    job: JobView,
    cutoff: float,
    dry_run: bool,
    include_dead_letters: bool,
) -> Verdict:
    if dry_run:
        verdict = Verdict(job.job_id, "would reap")
        _plan(job, include_dead_letters, verdict)
        return verdict.settle()
    verdict = Verdict(job.job_id, "reaped")
    try:
        fresh = inventory.refresh(job)
        reason = _why_not_idle(fresh, cutoff=cutoff)
        if reason:
            return Verdict(job.job_id, "skipped", f"{reason}, at the second look")
        _release(backend, fresh, verdict, keep_dead_letters=not include_dead_letters)
    except RelayError as exc:
        verdict.action, verdict.reason = "failed", one_line(exc)
    return verdict.settle()


def _plan(job: JobView, include_dead_letters: bool, verdict: Verdict) -> None:
    for q in job.queues:
        verdict.deleted.extend(f"mapping {m.id}" for m in q.mappings)
        verdict.deleted.append(f"queue {q.name}")
    for q in job.dlqs:
        if q.held and not include_dead_letters:
            verdict.kept.append(_kept(q))
        else:
            verdict.deleted.append(f"DLQ {q.name}")


def _kept(q: QueueView) -> str:
    return (
        f"DLQ {q.name} ({plural(q.held, 'packet')}: `relaystate resume --from-dlq {q.url}` "
        "resumes them)"
    )


def _release(backend: Backend, job: JobView, verdict: Verdict, *, keep_dead_letters: bool) -> None:
    """Delete the job's mappings (each waited until gone), then its queues, then its DLQs.

    A DLQ that holds packets is kept when ``keep_dead_letters``. What was deleted and kept is
    recorded in ``verdict`` as it happens, so a failure half-way still says what was done.
    """
    for q in job.queues:
        for m in q.mappings:
            teardown.release(backend, queue_url="", dlq_url="", mapping_id=m.id)
            verdict.deleted.append(f"mapping {m.id}")
        backend.queues.delete(q.url)
        dropped = f" ({plural(q.held, 'packet')} dropped)" if q.held else ""
        verdict.deleted.append(f"queue {q.name}{dropped}")
    for q in job.dlqs:
        if q.held and keep_dead_letters:
            verdict.kept.append(_kept(q))
        else:
            backend.queues.delete(q.url)
            verdict.deleted.append(f"DLQ {q.name}")


# -- cancel --------------------------------------------------------------------------------------


@click.command()
@click.argument("job_id")
@click.option(
    "--ledger-table",
    help="The job's progress-ledger table: the cancel is recorded there (the job shows "
    "torn_down, and a resume reopens it).",
)
@jobs_prefix_option
@aws_options
@json_option
def cancel(
    job_id: str, ledger_table: str | None, prefix: str, aws: AwsTarget, as_json: bool
) -> None:
    """Stop a job now: delete its mappings (waited until gone), then its queues.

    No hop starts after its mapping is gone; a hop running at that moment fails to relay
    (its queue is gone) and ends there. The packets waiting in the queue are dropped; a
    dead-letter queue that holds packets is kept, so that they can still be resumed
    (`relaystate resume --from-dlq URL`). With --ledger-table the ledger records the job
    torn down, as job.tear_down() does; without it a job with a ledger still shows running
    there. Exit status 1 when there is no such job.
    """
    with guarded():
        conn = aws.connect()
        job = inventory_of(conn, prefix).job(job_id)
        if job is None:
            raise Failure(
                f"no relay queue of job {job_id!r} under the prefix {prefix!r} in {conn.region}: "
                "it is torn down already, or uses another prefix (--prefix) or region (--region)"
            )
        verdict = Verdict(job_id, "cancelled")
        try:
            _release(conn.backend, job, verdict, keep_dead_letters=True)
        except RelayError as exc:
            done = "; ".join(verdict.deleted) or "nothing"
            raise Failure(f"{one_line(exc)} (deleted so far: {done})") from exc
        if ledger_table:
            recorded = record_cancel(conn.ledger(ledger_table), job_id)
            verdict.reason = (
                "recorded torn down in the ledger"
                if recorded
                else f"not recorded in the ledger {ledger_table} (it does not know the job, "
                "or its last shard tears it down now)"
            )
        else:
            verdict.reason = "a ledger of the job is not told (--ledger-table TABLE tells it)"
    if as_json:
        print_json(verdict.to_dict())
    else:
        click.echo(verdict.line())
