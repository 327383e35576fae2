"""The blob port in memory: the objects of one bucket, for tests of jobs that offload.

Example:
    >>> blobs = MemoryBlobs("bucket")
    >>> blobs.put("relaystate/j1/ab", b"[1]")
    >>> [info.key for info in blobs.list("relaystate/")]
    ['relaystate/j1/ab']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .. import clock
from ..ports import BlobInfo

__all__ = ["MemoryBlobs", "blobs_per_bucket"]


class MemoryBlobs:
    """:class:`~relaystate.ports.BlobPort` in memory; records every call in ``calls``.

    Its objects are in :attr:`objects` (key -> bytes), for tests to read and to tamper with.

    Args:
        bucket: the bucket's name.
        clock_ms: the time in ms of a write (default: the wall clock).
    """

    def __init__(self, bucket: str, *, clock_ms: Callable[[], int] = clock.now_ms) -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.modified_ms: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []
        self._clock_ms = clock_ms

    def put(self, key: str, body: bytes) -> None:
        self.calls.append(("put", key))
        self.objects[key] = bytes(body)
        self.modified_ms[key] = self._clock_ms()

    def get(self, key: str) -> bytes | None:
        self.calls.append(("get", key))
        return self.objects.get(key)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        self.calls.append(("list", prefix))
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            yield BlobInfo(key, len(self.objects[key]), self.modified_ms[key])

    def delete_prefix(self, prefix: str) -> int:
        self.calls.append(("delete_prefix", prefix))
        gone = [key for key in self.objects if key.startswith(prefix)]
        for key in gone:
            del self.objects[key]
            del self.modified_ms[key]
        return len(gone)


def blobs_per_bucket() -> Callable[[str], MemoryBlobs]:
    """Makes one :class:`MemoryBlobs` per bucket name, on first use (``Backend.blobs``).

    Example:
        >>> blobs = blobs_per_bucket()
        >>> blobs("b") is blobs("b")
        True
    """
    made: dict[str, MemoryBlobs] = {}

    def blobs(bucket: str) -> MemoryBlobs:
        return made.get(bucket) or made.setdefault(bucket, MemoryBlobs(bucket))

    return blobs
