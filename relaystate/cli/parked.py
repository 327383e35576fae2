"""What a failed local run parked in its dead-letter queue, saved so that it can be resumed.

A shard that fails parks its last packet in the job's DLQ (see :class:`~relaystate.Retry`).
Under ``relaystate run`` that queue lives on the run's own endpoint, which stops with the
command: :func:`save_parked` reads the packets out first and writes each to a file, and
:meth:`Parked.commands` says how to go on from it after the fix -- on a ``relaystate serve``
endpoint, with ``relaystate resume``.

Example:
    >>> parked = save_parked(lam.sqs, dlq_urls, Path(tempfile.mkdtemp()))  # doctest: +SKIP
    >>> parked[0].commands("count:Count")  # doctest: +SKIP
    ('relaystate serve count:Count', 'relaystate resume /tmp/.../9f2c-shard-0.json --job ...')
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..aws import map_aws_errors
from ..errors import RelayError
from ..names import queue_name_of
from ..packet import RelayPacket

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["SERVE_PORT", "Parked", "save_parked"]

#: ``relaystate serve``'s default port: the endpoint the printed commands name.
SERVE_PORT = 4566


@attrs.frozen
class Parked:
    """One packet read out of a dead-letter queue and saved to ``path``.

    Example:
        >>> Parked(queue="relay-9f2c-dlq", path=Path("9f2c-shard-0.json"), shard=0, hop=3).what()
        'relay-9f2c-dlq (1 message): the packet of shard 0 at hop 3, saved to 9f2c-shard-0.json'
    """

    queue: str
    path: Path
    shard: int | None = None
    hop: int = 0

    def what(self) -> str:
        """The queue, what its message is, and where it was saved."""
        of = "a message that is not a relay packet"
        if self.shard is not None:
            of = f"the packet of shard {self.shard} at hop {self.hop}"
        return f"{self.queue} (1 message): {of}, saved to {self.path}"

    def commands(self, job_spec: str) -> tuple[str, str]:
        """The two commands that go on from the packet: serve the job, resume the packet.

        Example:
            >>> Parked(queue="q", path=Path("p.json")).commands("count:Count")[1]
            'relaystate resume p.json --job count:Count --endpoint-url http://127.0.0.1:4566'
        """
        return (
            f"relaystate serve {job_spec}",
            f"relaystate resume {self.path} --job {job_spec} "
            f"--endpoint-url http://127.0.0.1:{SERVE_PORT}",
        )


def save_parked(sqs: SQSClient, urls: Iterable[str], directory: Path) -> list[Parked]:
    """Receive every message of the queues and write each body to a file in ``directory``.

    The messages are received, not deleted: the queues are about to go with their endpoint.
    What cannot be received now (delayed, or in flight) is not saved.
    A body that is not a packet is saved all the same (named by its message id).

    Raises:
        OSError: a file could not be written.
    """
    parked: list[Parked] = []
    for url in urls:
        seen: set[str] = set()
        while True:
            try:
                with map_aws_errors("sqs", "ReceiveMessage"):
                    messages = sqs.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=900
                    ).get("Messages", [])
            except RelayError:
                break  # the queue went away meanwhile: nothing more to save from it
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                parked.append(_save(url, message["MessageId"], message.get("Body", ""), directory))
    return parked


def _save(url: str, message_id: str, body: str, directory: Path) -> Parked:
    shard: int | None
    try:
        packet = RelayPacket.from_json(body)
        shard, hop, name = packet.shard, packet.hop, f"{packet.job_id}-shard-{packet.shard}"
    except RelayError:
        shard, hop, name = None, 0, message_id
    path = directory / f"{name}.json"
    n = 1
    while path.exists():  # a shard parked twice (resumed, failed again): keep both
        n += 1
        path = directory / f"{name}-{n}.json"
    path.write_text(body, encoding="utf-8")
    return Parked(queue=queue_name_of(url), path=path, shard=shard, hop=hop)
