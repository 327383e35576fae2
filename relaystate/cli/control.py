"""``relaystate pause | unpause | signal``: control a job that runs, by its id.

::

    relaystate pause JOB_ID [--ledger-table T]          no hop runs until unpause
    relaystate unpause JOB_ID [--ledger-table T]        parked packets back, mapping enabled
    relaystate signal JOB_ID NAME --ledger-table T [--data JSON|@file|-]   wake a WaitFor

The job is found as ``RelayJob.attach`` finds it (:mod:`relaystate.attach`): in the ledger, or
by its queue. No job class is needed: nothing of the job's code runs here.
"""

from __future__ import annotations

from typing import Any

import click

from .. import pause as pausing
from ..attach import locate
from ..packet import RelayPacket
from ..ports import LedgerPort
from ..signals import send_signal
from .connect import AwsTarget, Connection, aws_options, json_option
from .output import guarded, print_json
from .params import json_value, prefix_option

__all__ = ["pause", "signal", "unpause"]

_ledger_option = click.option(
    "--ledger-table",
    help="The job's progress-ledger table (with one, packets are parked in it while paused).",
)
_prefix_option = prefix_option("The queue-name prefix of the job (its queue_prefix).")


def _find(conn: Connection, job_id: str, prefix: str, table: str | None) -> RelayPacket:
    return locate(
        job_id,
        job_type="",
        job_version="",
        queue_prefix=prefix,
        queue_name=None,
        backend=conn.backend,
        ledger=_ledger(conn, table),
    )


def _ledger(conn: Connection, table: str | None) -> LedgerPort | None:
    return conn.ledger(table) if table else None


def _report(result: dict[str, Any], line: str, as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        click.echo(line)


@click.command()
@click.argument("job_id")
@_ledger_option
@_prefix_option
@aws_options
@json_option
def pause(
    job_id: str, ledger_table: str | None, prefix: str, aws: AwsTarget, as_json: bool
) -> None:
    """Pause a job: its mapping is disabled, so no hop runs (and nothing is billed).

    Hops that run go on to their end. With --ledger-table the packets in the job's queue are
    parked in the ledger, and the pause may last any time; without, they wait in the queue,
    which keeps them 14 days. `relaystate unpause JOB_ID` goes on. With --ledger-table a
    pause or unpause of the job that runs elsewhere is waited for first (they take turns).
    """
    with guarded():
        conn = aws.connect()
        packet = _find(conn, job_id, prefix, ledger_table)
        parked = pausing.pause(conn.backend, _ledger(conn, ledger_table), packet)
    _report(
        {"job_id": job_id, "state": "paused", "parked": parked},
        f"job {job_id} paused ({parked} packet(s) parked in the ledger)",
        as_json,
    )


@click.command()
@click.argument("job_id")
@_ledger_option
@_prefix_option
@aws_options
@json_option
def unpause(
    job_id: str, ledger_table: str | None, prefix: str, aws: AwsTarget, as_json: bool
) -> None:
    """Unpause a job: parked packets go back to its queue, and its mapping is enabled.

    With --ledger-table a pause or unpause of the job that runs elsewhere is waited for first
    (they take turns).
    """
    with guarded():
        conn = aws.connect()
        packet = _find(conn, job_id, prefix, ledger_table)
        sent = pausing.unpause(conn.backend, _ledger(conn, ledger_table), packet)
    _report(
        {"job_id": job_id, "state": "queued", "sent_back": sent},
        f"job {job_id} unpaused ({sent} parked packet(s) sent back)",
        as_json,
    )


@click.command()
@click.argument("job_id")
@click.argument("name")
@click.option(
    "--data",
    "payload",
    default="null",
    callback=json_value,
    help="The signal's payload: JSON, @FILE for a file's, or - for standard input's.",
)
@click.option("--ledger-table", required=True, help="The job's progress-ledger table.")
@aws_options
@json_option
def signal(
    job_id: str, name: str, payload: Any, ledger_table: str, aws: AwsTarget, as_json: bool
) -> None:
    """Send signal NAME to a job: a shard waiting for it (WaitFor) goes on.

    A signal sent before the wait begins is kept for it. Sending the same signal again with
    the same payload changes nothing; with another payload it is refused (exit status 1).
    """
    with guarded():
        conn = aws.connect()
        ledger = _ledger(conn, ledger_table)
        assert ledger is not None
        woken = send_signal(conn.backend, ledger, job_id, name, payload)
    _report(
        {"job_id": job_id, "signal": name, "woken": woken},
        f"signal {name!r} sent to job {job_id}: {woken} waiting shard(s) woken",
        as_json,
    )
