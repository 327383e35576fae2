"""Claim-check offload: a job's data or cursor too large for its packet, kept in S3.

A packet must fit in an SQS message (1 MiB) and, with a ledger, its outbox in a DynamoDB item
(380 KB compressed). A job class that sets ``offload = S3Offload("bucket")`` keeps its
``data``, or a cursor, whose JSON is larger than ``threshold_bytes`` in an object instead, and
the packet carries a *claim check* -- the object's key and the SHA-256 of its bytes -- in its
``offloaded`` field, where the job's signature covers it (:mod:`relaystate.signing`)::

    start      data (and a shard's first cursor) above the threshold written under
               ``prefix + job_id + "/" + sha256``; the packets carry the checks
    hop        after the claim, every object the packet names is read and its digest
               compared: a missing object (OffloadMissingError) or one whose bytes are not
               the ones written (OffloadTamperedError) is refused and the hop is not run --
               SQS delivers the packet again and parks it in the DLQ in the end
    relay      data or cursor above the threshold written only if its digest is new: the key
               *is* the digest, so unchanged data is never written again
    teardown   the job's objects deleted, after its queues -- unless its DLQ keeps packets
               that name them; ``relaystate reap --offload-bucket`` deletes what a teardown
               that died left

Every value is written once and never changed, so a packet in flight -- a duplicate, a
redelivery, a packet parked in the DLQ -- always finds the bytes it was made with. A field
named in ``offloaded`` is a hole in the packet (``data`` is ``{}``, the cursor ``None``) until
:meth:`Offloader.load` fills it; a loaded packet names nothing.

The S3 client is made on first use: a job whose data stays small calls S3 only at its
teardown, to list its prefix (an earlier hop may have offloaded a cursor).

Example:
    >>> from relaystate.testing import memory_backend
    >>> offload = S3Offload("bucket", threshold_bytes=16)
    >>> offloader = Offloader(offload, memory_backend(), "j1")
    >>> p = RelayPacket(job_id="j1", job_type="T", function_name="f", data={"text": "x" * 40})
    >>> wire = offloader.store(p)
    >>> (dict(wire.data), sorted(wire.offloaded["data"]))
    ({}, ['bytes', 'key', 'sha256'])
    >>> offloader.load(wire).data == p.data
    True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .errors import (
    ConfigurationError,
    InvalidPacketError,
    OffloadMissingError,
    OffloadTamperedError,
)
from .frozen import FrozenDict, JsonValue, thaw
from .packet import RelayPacket
from .retry import retry_transient

if TYPE_CHECKING:
    from .ports import Backend, BlobPort

__all__ = [
    "DEFAULT_THRESHOLD_BYTES",
    "OFFLOADABLE",
    "REF_BYTES",
    "Offloader",
    "S3Offload",
    "load_packet",
]

#: The default threshold: a packet's data and cursor may then take 200 KB together, well
#: inside SQS's 1 MiB and the ledger's 380 KB (compressed) for the outbox.
DEFAULT_THRESHOLD_BYTES = 100_000
#: The fields that may be offloaded, and the hole each leaves in the packet.
OFFLOADABLE: Mapping[str, JsonValue] = {"data": FrozenDict(), "cursor": None}
#: Room a claim check takes in a packet, at most (a key of up to 1,024 bytes, in S3).
REF_BYTES = 1_200

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _bucket(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ConfigurationError(
            f"S3Offload: {value!r} is not an S3 bucket name (3-63 of a-z 0-9 . -)"
        )


def _prefix(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or len(value) > 512:
        raise ConfigurationError(f"S3Offload: prefix must be a string (<= 512), got {value!r}")


def _threshold(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"S3Offload: threshold_bytes must be a whole number >= 1, got {value!r}"
        )


@attrs.frozen
class S3Offload:
    """Keep a job's ``data`` or cursor larger than ``threshold_bytes`` (as JSON) in S3.

    Set it on the job class; the bucket must exist (``LocalLambda`` makes it on its
    endpoint). The roles need S3 actions on ``prefix`` only: ``relaystate iam-policy
    --offload-bucket BUCKET`` prints them.

    Args:
        bucket: the bucket that holds the objects.
        prefix: the start of every key; a job's objects are under ``prefix + job_id + "/"``.
        threshold_bytes: data or a cursor whose JSON (UTF-8) is larger goes to S3.

    Example:
        >>> from relaystate import DONE, RelayJob
        >>> class Import(RelayJob):
        ...     function_name = "import-worker"
        ...     offload = S3Offload("my-bucket", prefix="relaystate/", threshold_bytes=64_000)
        ...     def step(self, cursor):
        ...         return DONE
        >>> Import.offload.job_prefix("j1")
        'relaystate/j1/'
    """

    bucket: str = attrs.field(validator=_bucket)
    prefix: str = attrs.field(default="relaystate/", validator=_prefix)
    threshold_bytes: int = attrs.field(default=DEFAULT_THRESHOLD_BYTES, validator=_threshold)

    def job_prefix(self, job_id: str) -> str:
        """Where the objects of job ``job_id`` are: ``prefix + job_id + "/"``."""
        return f"{self.prefix}{job_id}/"


def encode(value: JsonValue) -> bytes:
    """A data or cursor value as it is stored: compact JSON, UTF-8.

    Example:
        >>> encode({"a": [1, 2]})
        b'{"a":[1,2]}'
    """
    return json.dumps(thaw(value), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Offloader:
    """A job's offload at work: stores and loads its packets' data and cursors.

    It remembers the keys it wrote or read, so that a value is written once per process, not
    once per packet.

    Args:
        offload: the job class's :class:`S3Offload`.
        backend: whose ``blobs`` make the bucket's store (on first use).
        job_id: the job's id: its objects are under ``offload.job_prefix(job_id)``.
    """

    def __init__(self, offload: S3Offload, backend: Backend, job_id: str) -> None:
        self.offload = offload
        self.backend = backend
        self.job_id = job_id
        self.known: set[str] = set()
        self._blobs: BlobPort | None = None
        # The last value encoded, by field: a start encodes its data once for its size check
        # and its write (the same object), not twice -- 20 MB take half a second.
        self._encoded: dict[str, tuple[JsonValue, bytes, str]] = {}

    @property
    def blobs(self) -> BlobPort:
        """The bucket's store, made on first use.

        Raises:
            ConfigurationError: the backend keeps no objects.
        """
        if self._blobs is None:
            if self.backend.blobs is None:
                raise ConfigurationError(
                    f"job {self.job_id} offloads to bucket {self.offload.bucket!r} but its "
                    "backend keeps no objects (Backend.blobs is None)"
                )
            self._blobs = self.backend.blobs(self.offload.bucket)
        return self._blobs

    def store(self, packet: RelayPacket, *, write: bool = True) -> RelayPacket:
        """The packet as it travels: data and cursor above the threshold replaced by claim
        checks, their objects written if new. ``write=False`` only says what it would carry
        (a size check before any AWS call)."""
        refs: dict[str, Any] = dict(thaw(packet.offloaded))
        holes: dict[str, JsonValue] = {}
        for field, hole in OFFLOADABLE.items():
            value = getattr(packet, field)
            if field in refs or value == hole:
                continue  # a hole already, or nothing to keep
            body, digest = self._encode(field, value)
            if len(body) <= self.offload.threshold_bytes:
                continue
            key = self.offload.job_prefix(packet.job_id) + digest
            if write and key not in self.known:
                blobs = self.blobs
                retry_transient(lambda: blobs.put(key, body))  # noqa: B023 - called at once
                self.known.add(key)
            refs[field] = {"key": key, "sha256": digest, "bytes": len(body)}
            holes[field] = hole
        if not holes:
            return packet
        return attrs.evolve(packet, offloaded=refs, **holes)

    def _encode(self, field: str, value: JsonValue) -> tuple[bytes, str]:
        """The value's bytes and their SHA-256 (the digest only of what may be offloaded)."""
        cached = self._encoded.get(field)
        if cached is not None and cached[0] is value:
            return cached[1], cached[2]
        body = encode(value)
        big = len(body) > self.offload.threshold_bytes
        digest = hashlib.sha256(body).hexdigest() if big else ""
        self._encoded[field] = (value, body, digest)
        return body, digest

    def load(self, packet: RelayPacket) -> RelayPacket:
        """The packet with every offloaded field read back, its digest checked.

        Raises:
            OffloadMissingError: an object the packet names is not in the bucket.
            OffloadTamperedError: an object's bytes are not the ones the packet names.
            InvalidPacketError: a claim check that is malformed or names another job's object.
        """
        if not packet.offloaded:
            return packet
        filled: dict[str, Any] = {}
        for field, ref in packet.offloaded.items():
            key, digest = self._check(packet, field, ref)
            blobs = self.blobs
            body = retry_transient(lambda: blobs.get(key))  # noqa: B023 - called at once
            where = f"the {field} of job {packet.job_id} shard {packet.shard} hop {packet.hop}"
            if body is None:
                raise OffloadMissingError(
                    f"{where} is offloaded to s3://{self.offload.bucket}/{key}, which does not "
                    "exist (deleted, or never written); the hop is not run",
                    field=f"offloaded.{field}",
                    key=key,
                )
            found = hashlib.sha256(body).hexdigest()
            if found != digest:
                raise OffloadTamperedError(
                    f"{where} is offloaded to s3://{self.offload.bucket}/{key}, whose SHA-256 "
                    f"is {found}, not the packet's {digest}: the object was changed after it "
                    "was written; the hop is not run",
                    field=f"offloaded.{field}",
                    key=key,
                )
            try:
                filled[field] = json.loads(body)
            except ValueError as exc:  # pragma: no cover - the digest matched what was written
                raise InvalidPacketError(f"{where} is not JSON", field=field) from exc
            self.known.add(key)
        return attrs.evolve(packet, offloaded=FrozenDict(), **filled)

    def delete(self) -> int:
        """Delete every object of the job; how many there were."""
        blobs = self.blobs
        prefix = self.offload.job_prefix(self.job_id)
        deleted = retry_transient(lambda: blobs.delete_prefix(prefix))
        self.known.clear()
        return deleted

    def _check(self, packet: RelayPacket, field: str, ref: Any) -> tuple[str, str]:
        """The key and digest of a claim check, if it is well formed and the job's own."""
        where = f"offloaded.{field}"
        if field not in OFFLOADABLE:
            raise InvalidPacketError(
                f"{where}: only {', '.join(OFFLOADABLE)} can be offloaded", field=where
            )
        key = ref.get("key") if isinstance(ref, Mapping) else None
        digest = ref.get("sha256") if isinstance(ref, Mapping) else None
        if not isinstance(key, str) or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise InvalidPacketError(
                f"{where} must be {{'key': ..., 'sha256': <64 hex digits>}}", field=where
            )
        # A packet may only name its own job's objects: never another job's, whatever it says.
        if not key.startswith(self.offload.job_prefix(packet.job_id)):
            raise InvalidPacketError(
                f"{where} names {key!r}, which is not under job {packet.job_id}'s prefix "
                f"{self.offload.job_prefix(packet.job_id)!r}; it is not read",
                field=where,
            )
        return key, digest


def load_packet(
    packet: RelayPacket, offload: S3Offload | None, backend: Backend, job_type: str
) -> tuple[RelayPacket, Offloader | None]:
    """A delivered packet with what it offloaded read back, and the offloader that read it
    (``None``: it offloaded nothing).

    Raises:
        OffloadError: an object is missing or not the one written.
        ConfigurationError: the packet offloaded, but its job class has no ``offload``.
    """
    if not packet.offloaded:
        return packet, None
    if offload is None:
        raise ConfigurationError(
            f"packet of job {packet.job_id} carries offloaded {sorted(packet.offloaded)} but "
            f"{job_type} has no offload: set offload = S3Offload(...) on the class in the "
            "worker as in the starter"
        )
    offloader = Offloader(offload, backend, packet.job_id)
    return offloader.load(packet), offloader
