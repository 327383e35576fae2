"""``reap --offload-bucket``: the offloaded objects a job left, once it has no queue left.

A job that offloads (:class:`~relaystate.S3Offload`) keeps its objects under
``prefix + job_id + "/"``; its teardown deletes them after its queues. A teardown that died
in between, a start rolled back by a killed process, or a DLQ deleted by hand leaves them
behind. :func:`orphans` groups the objects under the prefix by job and tells which are
orphaned -- no queue of the job is left, and its newest object is older than the cutoff --
and which are too young to say.

Example:
    >>> from relaystate.testing import MemoryBlobs
    >>> blobs = MemoryBlobs("b", clock_ms=lambda: 1_000)
    >>> blobs.put("relaystate/j1/ab", b"{}")
    >>> found, young = orphans(blobs, "relaystate/", live=set(), cutoff_ms=2_000)
    >>> [(o.job_id, o.objects) for o in found], young
    ([('j1', 1)], [])
"""

from __future__ import annotations

from collections.abc import Collection

import attrs

from ..ports import BlobPort

__all__ = ["Orphan", "orphans"]


@attrs.frozen
class Orphan:
    """The objects of one job under the offload prefix.

    Example:
        >>> Orphan("j1", "relaystate/j1/", objects=2, size=2048, newest_ms=0).line()
        '2 offloaded objects (2,048 bytes) under relaystate/j1/'
    """

    job_id: str
    #: Where the job's objects are (``prefix + job_id + "/"``).
    prefix: str
    objects: int
    size: int
    #: When the newest of them was written, in ms since the epoch.
    newest_ms: int

    def line(self) -> str:
        """What is (or would be) deleted, for reap's verdict."""
        noun = "object" if self.objects == 1 else "objects"
        return f"{self.objects} offloaded {noun} ({self.size:,} bytes) under {self.prefix}"


def orphans(
    blobs: BlobPort, prefix: str, *, live: Collection[str], cutoff_ms: int
) -> tuple[list[Orphan], list[Orphan]]:
    """The jobs under ``prefix`` whose objects may go, and those too young to tell.

    Args:
        blobs: the offload bucket.
        prefix: the jobs' ``S3Offload.prefix``.
        live: the ids of jobs that still have a queue (their objects are never touched).
        cutoff_ms: a job whose newest object was written after this is too young: it may be
            starting now (its objects are written before its queue is made).

    Returns:
        ``(orphaned, too_young)``, each in job id order.
    """
    found: dict[str, Orphan] = {}
    for info in blobs.list(prefix):
        job_id, slash, _ = info.key[len(prefix) :].partition("/")
        if not slash or not job_id or job_id in live:
            continue  # not a job's object, or a job that still has a queue
        seen = found.get(job_id)
        found[job_id] = Orphan(
            job_id,
            f"{prefix}{job_id}/",
            objects=(seen.objects if seen else 0) + 1,
            size=(seen.size if seen else 0) + info.size,
            newest_ms=max(seen.newest_ms if seen else 0, info.modified_ms),
        )
    jobs = sorted(found.values(), key=lambda o: o.job_id)
    return [o for o in jobs if o.newest_ms <= cutoff_ms], [
        o for o in jobs if o.newest_ms > cutoff_ms
    ]
