"""Sending packets to a queue: one call for one, batches of ten for many, and SQS's delay rule."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from .errors import InvalidDelayError
from .packet import RelayPacket

if TYPE_CHECKING:
    from .ports import Backend
    from .signing import PacketSigner

__all__ = ["MAX_DELAY_S", "check_delay", "send_packets"]

#: SQS's longest per-message delay.
MAX_DELAY_S = 900


def check_delay(delay_seconds: int) -> int:
    """Return ``delay_seconds`` if SQS accepts it per message (0..900), else raise."""
    if (
        not isinstance(delay_seconds, int)
        or isinstance(delay_seconds, bool)
        or not 0 <= delay_seconds <= MAX_DELAY_S
    ):
        raise InvalidDelayError(
            f"DelaySeconds must be a whole number from 0 to {MAX_DELAY_S}, got "
            f"{delay_seconds!r}; for a longer pause, relay again with a delay when it ends"
        )
    return delay_seconds


def send_packets(
    backend: Backend,
    queue_url: str,
    packets: Iterable[RelayPacket],
    *,
    delay_seconds: int = 0,
    max_message_bytes: int = 1_048_576,
    signer: PacketSigner | None = None,
    before_send: Callable[[list[str]], None] | None = None,
) -> int:
    """Send packets: one ``SendMessage`` for one, ``SendMessageBatch`` by tens (≤ 1 MiB a call).

    Packets are serialized as they are sent, so a fan-out of 100,000 shards never holds more
    than one batch of message bodies. Each body is size-checked before it is sent (the job
    checks all of a fan-out before its first call). ``before_send`` is handed each call's
    bodies before the call (a start keeps its first packets in the ledger so). Returns how
    many were sent.
    """
    check_delay(delay_seconds)
    keep = before_send or _keep_nothing

    def send(body: str) -> int:
        keep([body])
        backend.queues.send(queue_url, body, delay_seconds)
        return 1

    if isinstance(packets, list) and len(packets) == 1:  # a relay's one packet, every hop
        return send(packets[0].check_size(max_message_bytes, signer))
    bodies = (packet.check_size(max_message_bytes, signer) for packet in packets)
    first = next(bodies, None)
    if first is None:
        return 0
    second = next(bodies, None)
    if second is None:
        return send(first)
    sent = 0
    for chunk in _chunks(itertools.chain((first, second), bodies), count=10, size=1_048_576):
        keep(chunk)
        backend.queues.send_batch(queue_url, chunk, delay_seconds)
        sent += len(chunk)
    return sent


def _keep_nothing(bodies: list[str]) -> None:
    """No ``before_send``: the bodies are only sent."""


def _chunks(bodies: Iterable[str], *, count: int, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    used = 0
    for body in bodies:
        n = len(body.encode("utf-8"))
        if chunk and (len(chunk) == count or used + n > size):
            yield chunk
            chunk, used = [], 0
        chunk.append(body)
        used += n
    if chunk:
        yield chunk
