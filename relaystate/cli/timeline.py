"""``relaystate timeline JOB_ID``: a job's hops, read from its ledger, drawn as one HTML page.

::

    relaystate timeline JOB_ID [-o timeline.html] [--ledger-table T]

The job's class must keep a timeline (``timeline = True``, with a ledger): each hop's entry
is then in the ledger (:mod:`relaystate.timeline`). The page
(:mod:`~relaystate.cli.timeline_page`) is self-contained: open it from the file, offline.
``relaystate run --timeline FILE`` writes the same page for a local run (:func:`write_page`).

Example:
    >>> main(["timeline", "9f2c...", "-o", "timeline.html"])  # doctest: +SKIP
    timeline of job 9f2c...: 12 hops of 4 shards -> timeline.html
"""

from __future__ import annotations

from pathlib import Path

import click

from .connect import AwsTarget, aws_options
from .output import Failure, console, guarded, plural
from .timeline_model import Timeline, from_status
from .timeline_page import render

__all__ = ["timeline_command", "write_page"]

#: The ledger table a job names when it names none (``DynamoDBLedger``'s example's).
DEFAULT_TABLE = "relaystate-ledger"


@click.command("timeline")
@click.argument("job_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=Path("timeline.html"),
    show_default=True,
    help="Where to write the page.",
)
@click.option(
    "--ledger-table",
    default=DEFAULT_TABLE,
    show_default=True,
    help="The progress-ledger table the job ran with.",
)
@aws_options
def timeline_command(job_id: str, output: Path, ledger_table: str, aws: AwsTarget) -> None:
    """Draw a job's hops as one self-contained HTML page (inline SVG; nothing fetched).

    A lane per shard, a bar per hop coloured by how it ended (relayed, retrying, finished,
    failed...), the gaps between hops coloured by why the shard waited (a retry's delay, a
    sleep, a wait for a signal, a delayed relay, the queue), details on hover, and the
    job's totals on top: Lambda time used of paid, AWS calls, and the estimated cost in
    USD at AWS list prices.

    The job's class must keep its hops: `timeline = True` and a ledger. The ledger keeps the
    last 100 hops of each shard, for as long as it keeps the job (30 days after its end).
    Exit status 1 when the ledger does not know the job, or has no hop of it.
    """
    with guarded():
        status = aws.connect().ledger(ledger_table).status(job_id)
    if status is None:
        raise Failure(
            f"the ledger {ledger_table!r} does not know job {job_id!r} (a wrong --ledger-table, "
            "or its records expired 30 days after its end)"
        )
    found = from_status(status, table=ledger_table)
    if not found.bars:
        raise Failure(
            f"the ledger {ledger_table!r} has no hop of job {job_id!r} on record: its class "
            "keeps them only with `timeline = True` (set it, and run the job again)"
        )
    write_page(found, output)
    console().print(
        f"timeline of job {job_id}: {plural(len(found.bars), 'hop')} of "
        f"{plural(found.shards, 'shard')} -> {output}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def write_page(timeline: Timeline, path: Path) -> None:
    """Write the timeline's page to ``path`` (UTF-8).

    Raises:
        Failure: the file cannot be written.
    """
    try:
        path.write_text(render(timeline), encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot write the timeline to {path}: {exc.strerror or exc}") from exc
