"""Every queue of a job, found by its name and tags: the live one a resume joins, and the ones
a teardown deletes besides those its packet names.

A job's first queue is ``queue_prefix + job_id``; a resume whose packet's queue was gone makes
one named ``queue_prefix + job_id + "-<6 hex>"`` (:func:`~relaystate.names.fresh_queue_name`),
each with its ``-dlq`` unless it reuses the job's. ``ListQueues`` by the name prefix
(:func:`~relaystate.names.job_name_prefix`) finds them all; the ``relaystate:job-id`` tag tells
the job's own from those of a job whose id begins alike.

AWS lists late: a queue made a moment ago may not be listed yet, and one deleted a moment ago
may still be (its name is blocked for 60 s). So a resume joins the job's live queue -- one a
live mapping feeds -- when one is listed, and makes one otherwise (two resumes at once may
each make one); and the teardown of a job that was resumed deletes every queue of the job it
finds, whichever resume made it, so that nothing is left whatever the order::

    resume      the packet's queue live? keep it : the job's listed live queue? join it
                : make a fresh one (resources.ensure)
    teardown    the packet's queue, mapping, DLQ (teardown.release); then, if that queue is
                not the job's first, every other queue of the job: its mappings, the queue,
                then the DLQs that hold nothing
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from functools import partial

import attrs

from .errors import RelayError
from .mapping_state import detach
from .names import TAG_PREFIX, job_name_prefix, queue_name_for, queue_name_of
from .ports import Backend, QueueRef
from .queue_attributes import dead_letter_target, queue_counts
from .retry import retry_transient

__all__ = ["JobNames", "Live", "job_queues", "live_queue", "release_others"]

log = logging.getLogger("relaystate")

_FRESH = re.compile(r"(-[0-9a-f]{6})?(-dlq)?")


@attrs.frozen
class JobNames:
    """How a job's queues are named: its ``queue_prefix``, its id and its first queue's name.

    Example:
        >>> names = JobNames("relay-", "9f2c")
        >>> names.resumed("https://sqs.us-east-1.amazonaws.com/1/relay-9f2c-0a1b2c")
        True
    """

    prefix: str
    job_id: str
    queue_name: str | None = None

    @property
    def first(self) -> str:
        """The name of the job's first queue (the one its start made)."""
        return queue_name_for(self.prefix, self.job_id, self.queue_name)

    def resumed(self, queue_url: str) -> bool:
        """Whether the queue at ``queue_url`` is one a resume made (not the job's first)."""
        return bool(queue_url) and queue_name_of(queue_url) != self.first

    def could_be(self, name: str) -> bool:
        """Whether a queue of that name may be the job's (its tags tell): the job's first
        queue, or a resume's, or their DLQs."""
        whole = f"{self.prefix}{self.job_id}"
        if name.startswith(whole):
            return _FRESH.fullmatch(name[len(whole) :]) is not None
        # A long id shortened in the name, or a queue_name of the job's own.
        return name.startswith(job_name_prefix(self.prefix, self.job_id)) or name in (
            self.first,
            f"{self.first}-dlq",
        )


@attrs.frozen
class JobQueue:
    """A queue of the job, as listed: its URL and ARN, and its role (``queue`` or ``dlq``)."""

    ref: QueueRef
    role: str


def job_queues(backend: Backend, names: JobNames) -> list[JobQueue]:
    """The job's queues that ``ListQueues`` shows now, in name order (see the module's notes:
    a new one may be missing, a deleted one still there)."""
    found: list[JobQueue] = []
    listed = retry_transient(
        lambda: backend.queues.list_named(job_name_prefix(names.prefix, names.job_id))
    )
    for ref in sorted(listed, key=lambda r: r.url):
        name = queue_name_of(ref.url)
        if not names.could_be(name):
            continue
        tags = retry_transient(partial(backend.queues.tags, ref.url))
        if tags.get(f"{TAG_PREFIX}job-id") != names.job_id:
            continue
        role = tags.get(f"{TAG_PREFIX}role") or ("dlq" if name.endswith("-dlq") else "queue")
        found.append(JobQueue(ref, role))
    return found


@attrs.frozen
class Live:
    """The job's live queue: one a mapping that is not being deleted feeds."""

    queue_url: str
    dlq_url: str
    mapping_id: str


def live_queue(backend: Backend, names: JobNames) -> Live | None:
    """The job's live queue, the first by name of those listed; ``None`` if none is listed.

    Its DLQ is the one its redrive policy names (``""`` if that one is gone).
    """
    listed = job_queues(backend, names)
    dlqs = {q.ref.arn: q.ref.url for q in listed if q.role == "dlq"}
    for queue in (q for q in listed if q.role != "dlq"):
        mappings = backend.mappings.list_for_queue(queue.ref.arn)
        feeding = [m for m in mappings if m.state != "Deleting"]
        attributes = backend.queues.describe(queue.ref.url) if feeding else None
        if attributes is None:
            continue
        target = dead_letter_target(attributes)
        dlq_url = dlqs.get(target, "")
        if target and not dlq_url:
            found = backend.queues.find(queue_name_of(target))
            dlq_url = found.url if found is not None else ""
        return Live(queue.ref.url, dlq_url, feeding[0].id)
    return None


def release_others(
    backend: Backend,
    names: JobNames,
    released: Collection[str],
    *,
    keep_dlqs: bool = False,
    until: float | None = None,
    wait_for_mapping: bool = True,
) -> bool:
    """Delete every queue of the job but those in ``released`` (a teardown's own): each
    queue's mappings first, then the queue, then the DLQs -- a DLQ that holds packets is kept,
    and every DLQ when ``keep_dlqs`` (a shard failed: its packet is in one of them, which
    SQS's counts may not show yet). True when nothing was kept.

    Best effort: the job's own resources are gone already, so a failure here (a worker whose
    role may not list queues) is logged and what is left is `relaystate reap`'s; False then.
    """
    try:
        listed = [q for q in job_queues(backend, names) if q.ref.url not in released]
        for queue in (q for q in listed if q.role != "dlq"):
            for mapping in backend.mappings.list_for_queue(queue.ref.arn):
                if mapping.state != "Deleting":
                    detached = partial(detach, backend, mapping.id, until, wait=wait_for_mapping)
                    retry_transient(detached, until=until)
            retry_transient(partial(backend.queues.delete, queue.ref.url))
            log.info("relaystate: deleted queue %s of job %s", queue.ref.url, names.job_id)
        complete = True
        for dlq in (q for q in listed if q.role == "dlq"):
            attributes = retry_transient(partial(backend.queues.describe, dlq.ref.url))
            if attributes is None:
                continue
            if keep_dlqs or any(queue_counts(attributes)):
                complete = False
                continue
            retry_transient(partial(backend.queues.delete, dlq.ref.url))
        return complete
    except RelayError:
        log.warning(
            "relaystate: could not delete the other queues of job %s (those resumes made); "
            "`relaystate reap` deletes what is left",
            names.job_id,
            exc_info=True,
        )
        return False
