"""The ``relaystate`` command.

::

    relaystate demo | run MODULE:JobClass           run a job on the local Lambda runtime
    relaystate simulate MODULE:JobClass             check it under faults, seed by seed
    relaystate status JOB_ID|QUEUE_URL | ls         look at relay jobs in an AWS region
    relaystate reap --older-than 7d [--dry-run]     delete what idle jobs left behind
    relaystate resume PACKET_FILE | --from-dlq URL  go on from saved or dead-lettered packets
    relaystate cancel JOB_ID                        stop a job: mapping and queue deleted
    relaystate pause | unpause JOB_ID               stop and go on (packets kept)
    relaystate signal JOB_ID NAME [--data JSON]     wake a job that waits (WaitFor)
    relaystate timeline JOB_ID [-o FILE]            its hops drawn as one HTML page
    relaystate serve [MODULE[:JobClass] ...]        a local AWS endpoint that runs their hops
    relaystate diagram | iam-policy --function F    the state machine; least-privilege IAM

It imports click and rich (the ``local`` extra); the Lambda path never imports this package.
``main`` is the console script's entry point (``relaystate.cli:main``).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from .. import __version__
from .control import pause, signal, unpause
from .diagram import diagram_command
from .local_run import demo, run
from .ops import cancel, ls, reap
from .policy import iam_policy
from .resume import resume_command
from .serve import serve
from .simulate import simulate
from .status import status
from .timeline import timeline_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="relaystate")
def cli() -> None:
    """Run long jobs on AWS Lambda as a relay of hops through a private SQS queue.

    Each hop of a job works until its Lambda time is nearly spent, checkpoints (cursor,
    stats, data) into a packet and sends it to the job's queue, whose event-source mapping
    invokes the worker again.

    `demo` and `run` run jobs on this machine: a local Lambda runtime stands in for the
    Lambda service, and an embedded SQS endpoint (moto) on 127.0.0.1 for SQS; no AWS account
    is used. `serve` keeps such an endpoint running for other processes. The other commands
    look after jobs in an AWS account (--region, --profile), or at any endpoint
    (--endpoint-url, e.g. the one `serve` prints).

    \b
    Start with:
      relaystate demo                               copy a SQLite table, hop by hop
      relaystate run examples.fan_out:CountPrimes   run a job class (here: 4 shards)
      relaystate ls --region eu-west-1              the relay jobs in a region
    """


for _command in (
    demo,
    run,
    serve,
    simulate,
    status,
    ls,
    reap,
    resume_command,
    cancel,
    pause,
    unpause,
    signal,
    timeline_command,
    diagram_command,
    iam_policy,
):
    cli.add_command(_command)
del _command


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
        relaystate, version 0.1.0
    """
    cli.main(args=list(argv) if argv is not None else None, prog_name="relaystate")
