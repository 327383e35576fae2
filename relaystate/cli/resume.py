"""``resume``: go on from a saved packet, or from every packet in a dead-letter queue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs
import click

from .. import intake
from ..aws import map_aws_errors
from ..errors import InvalidPacketError, RelayError, ResourceNotFoundError
from ..job import RelayJob
from ..packet import RelayPacket
from ..ports import Backend
from .connect import AwsTarget, Connection, aws_options, json_option
from .output import Failure, guarded, one_line, plural, print_json
from .params import import_module, job_class_param, job_spec

__all__ = ["Resumed", "resume_command", "resume_dead_letters"]

#: How long resume keeps the DLQ messages it has received hidden while it works on them.
HOLD_S = 900
#: Receives in a row that may come back empty while the DLQ still reports messages.
_EMPTY_RECEIVES = 3


@attrs.frozen
class Resumed:
    """One packet resumed (``error`` empty) or not (``error`` says why).

    Example:
        >>> Resumed("msg-1", error="InvalidPacketError: not a relay packet").line()
        'not resumed msg-1: InvalidPacketError: not a relay packet'
    """

    source: str  # the file, or the DLQ message id
    job_id: str = ""
    shard: int = 0
    hop: int = 0
    queue_url: str = ""
    mapping_id: str = ""
    error: str = ""

    def line(self) -> str:
        if self.error:
            return f"not resumed {self.source}: {self.error}"
        return (
            f"resumed job {self.job_id} shard {self.shard} at hop {self.hop}: queue "
            f"{self.queue_url} (mapping {self.mapping_id})"
        )


def job_class_for(packet: RelayPacket, job_class: type[RelayJob] | None) -> type[RelayJob]:
    """The class to resume ``packet`` with: ``job_class``, or the one registered for its type.

    Example:
        >>> job_class_for(packet, None).resume(packet)  # doctest: +SKIP

    Raises:
        InvalidPacketError: no class is given and none is registered for the packet's type.
    """
    if job_class is not None:
        return job_class
    if not intake.knows(packet.job_type):
        raise InvalidPacketError(
            f"no job class for job type {packet.job_type!r} is imported: pass --import MODULE "
            "(the module that defines it) or --job MODULE:JobClass",
            field="job_type",
        )
    return RelayJob


def _resume(
    body: str | bytes,
    source: str,
    job_class: type[RelayJob] | None,
    backend: Backend,
    joined: dict[str, RelayPacket] | None = None,
) -> Resumed:
    """Resume one packet. ``joined``: the packets resumed so far in this batch, by job id --
    a later packet of the same job is resumed into the first one's queue and mapping (AWS may
    not list that queue yet, which is how a resume finds it otherwise)."""
    try:
        packet = RelayPacket.from_json(body)
        target = job_class_for(packet, job_class)
        first = joined.get(packet.job_id) if joined is not None else None
        if first is None:
            # The text, not the parsed packet: a class that signs checks the signature on it.
            job = target.resume(body, backend=backend)
        else:
            checked = intake.verified(target, body)
            job = target.resume(
                checked.evolve(
                    queue_url=first.queue_url,
                    dlq_url=first.dlq_url,
                    mapping_id=first.mapping_id,
                ),
                backend=backend,
            )
    except ResourceNotFoundError as exc:
        if exc.service != "lambda":
            return Resumed(source, error=one_line(exc))
        # A standalone SQS endpoint (moto, LocalStack without functions) has no worker to run it.
        spec = job_spec(job_class) if job_class is not None else "MODULE:JobClass"
        return Resumed(
            source,
            error=f"{one_line(exc)}; the worker {packet.function_name!r} must exist where the "
            f"packet is resumed: deploy it on AWS, or serve it on a local endpoint with "
            f"`relaystate serve {spec}` and pass that endpoint's --endpoint-url",
        )
    except RelayError as exc:
        return Resumed(source, error=one_line(exc))
    fresh = job.packet
    assert fresh is not None
    if joined is not None:
        joined.setdefault(fresh.job_id, fresh)
    return Resumed(
        source,
        job_id=fresh.job_id,
        shard=fresh.shard,
        hop=fresh.hop,
        queue_url=fresh.queue_url,
        mapping_id=fresh.mapping_id,
    )


def resume_dead_letters(
    conn: Connection, dlq_url: str, job_class: type[RelayJob] | None
) -> list[Resumed]:
    """Resume every packet in the DLQ; delete a message only after its packet was resumed.

    Messages are received (hidden for :data:`HOLD_S`) until the queue is empty; one that could
    not be resumed is made visible again at the end, for a later try.

    Example:
        >>> results = resume_dead_letters(conn, dlq_url, CopyRows)  # doctest: +SKIP
        >>> [r.error for r in results]  # doctest: +SKIP
        ['']
    """
    results: list[Resumed] = []
    held: list[str] = []  # receipt handles of packets that were not resumed
    seen: set[str] = set()
    joined: dict[str, RelayPacket] = {}  # the first packet resumed of each job
    empty = 0
    try:
        while empty < _EMPTY_RECEIVES:
            with map_aws_errors("sqs", "ReceiveMessage"):
                messages = conn.sqs.receive_message(
                    QueueUrl=dlq_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=HOLD_S,
                    WaitTimeSeconds=0,
                ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                # Short polls sample some of SQS's servers: empty is not proof of an empty queue.
                # A message seen before is one that failed and came back: not new work.
                empty = _EMPTY_RECEIVES if _visible(conn, dlq_url) == 0 else empty + 1
                continue
            empty = 0
            for message in fresh:
                message_id, receipt = message["MessageId"], message["ReceiptHandle"]
                seen.add(message_id)
                body = message.get("Body", "")
                result = _resume(body, message_id, job_class, conn.backend, joined)
                if result.error:
                    held.append(receipt)
                else:
                    result = _delete(conn, dlq_url, receipt, result)
                results.append(result)
    finally:
        for receipt in held:
            try:
                with map_aws_errors("sqs", "ChangeMessageVisibility"):
                    conn.sqs.change_message_visibility(
                        QueueUrl=dlq_url, ReceiptHandle=receipt, VisibilityTimeout=0
                    )
            except RelayError:
                pass  # it becomes visible again after HOLD_S anyway
    return results


def _visible(conn: Connection, url: str) -> int:
    with map_aws_errors("sqs", "GetQueueAttributes"):
        found = conn.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
    return int(found.get("Attributes", {}).get("ApproximateNumberOfMessages", "0") or 0)


def _delete(conn: Connection, url: str, receipt: str, result: Resumed) -> Resumed:
    try:
        with map_aws_errors("sqs", "DeleteMessage"):
            conn.sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
    except RelayError as exc:
        return attrs.evolve(
            result,
            error=f"resumed, but its DLQ message was not deleted ({one_line(exc)}); delete it "
            "by hand, or a later resume runs the packet twice",
        )
    return result


@click.command("resume")
@click.argument("packet_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--from-dlq",
    "dlq_url",
    metavar="QUEUE_URL",
    help="Resume every packet in this dead-letter queue (instead of PACKET_FILE).",
)
@click.option(
    "--job",
    "job_class",
    metavar="MODULE:JobClass",
    callback=job_class_param,
    help="The job class to resume with.",
)
@click.option(
    "--import",
    "modules",
    metavar="MODULE",
    multiple=True,
    help="Import MODULE first, so that its job classes are found by the packets' job type "
    "(repeatable).",
)
@aws_options
@json_option
def resume_command(
    packet_file: str | None,
    dlq_url: str | None,
    job_class: type[RelayJob] | None,
    modules: tuple[str, ...],
    aws: AwsTarget,
    as_json: bool,
) -> None:
    """Go on from a checkpoint: a packet saved in PACKET_FILE ('-': stdin), or every packet
    in a dead-letter queue (--from-dlq QUEUE_URL).

    Each packet is resumed as RelayJob.resume does it: the job's queue and mapping are made
    again if they are gone, and the packet is sent to the queue. With a ledger the job is
    reopened there first -- a failed shard, or a job cancelled by tear_down() -- and a job
    whose every shard has ended is not resumed (JobEndedError). A packet names its job type;
    the class that runs it comes from --job MODULE:JobClass, or from the modules given with
    --import (a packet is never evaluated: only imported job classes can run).

    With --from-dlq a message is deleted from the dead-letter queue only after its packet was
    resumed; a packet that could not be resumed stays there. Exit status 1 if any packet
    was not resumed.
    """
    if (packet_file is None) == (dlq_url is None):
        raise click.UsageError("give either PACKET_FILE or --from-dlq QUEUE_URL (one of them)")
    for module in modules:
        import_module(module)
    with guarded():
        conn = aws.connect()
        if dlq_url is not None:
            results = resume_dead_letters(conn, dlq_url, job_class)
        else:
            assert packet_file is not None
            body = _read(packet_file)
            results = [_resume(body, packet_file, job_class, conn.backend)]
    _report(results, as_json, dlq_url)


def _read(packet_file: str) -> str:
    if packet_file == "-":
        return sys.stdin.read()
    try:
        return Path(packet_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(
            f"cannot read {packet_file!r}: {one_line(exc)}", param_hint="PACKET_FILE"
        ) from None


def _report(results: list[Resumed], as_json: bool, dlq_url: str | None) -> None:
    failed = [r for r in results if r.error]
    if as_json:
        payload: dict[str, Any] = {
            "resumed": [attrs.asdict(r) for r in results if not r.error],
            "failed": [{"source": r.source, "error": r.error} for r in failed],
        }
        print_json(payload)
    else:
        for result in results:
            click.echo(result.line())
        if dlq_url is not None and not results:
            click.echo(f"no packets in {dlq_url}")
    if failed:
        where = " (they stay in the DLQ)" if dlq_url else ""
        raise Failure(
            f"{plural(len(failed), 'packet')} of {len(results)} not resumed{where}: "
            f"{failed[0].error}"
        )
