"""Deleting a job's resources -- and only the job's: mapping, queue, then an empty DLQ.

Order is AWS's: the mapping first, waited until gone (a mapping left on a deleted queue's ARN
blocks a new one), then the queue, then the DLQ -- kept while it holds packets, the only record
of work that failed. What a packet names is checked against what AWS says before anything is
deleted, so that a forged or stale packet cannot make a worker delete another job's resources.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .mapping_state import detach
from .names import TAG_PREFIX, queue_name_of
from .queue_attributes import dead_letter_target, queue_counts
from .retry import retry_transient

if TYPE_CHECKING:
    from .ports import Backend, MappingInfo

__all__ = ["release"]

log = logging.getLogger("relaystate")


def release(
    backend: Backend,
    *,
    queue_url: str,
    dlq_url: str,
    mapping_id: str,
    keep_nonempty_dlq: bool = True,
    until: float | None = None,
    dlq_has_packets: bool = False,
    job_id: str = "",
    wait_for_mapping: bool = True,
) -> bool:
    """Delete mapping (waited until gone), queue, and DLQ; what is already gone is skipped.
    True when nothing of the job's was kept (what else it has -- offloaded objects -- may go).

    A DLQ that still holds dead packets is kept (and logged), unless ``keep_nonempty_dlq`` is
    false: those packets are the only record of work that failed. ``until`` (a
    ``clock.monotonic()`` value) bounds the wait for a deleted mapping to be gone: a teardown in
    a Lambda must delete the queues before the function's timeout. ``dlq_has_packets``: the
    caller just parked a packet there, which SQS's approximate counts may not show yet.
    ``wait_for_mapping=False`` (a teardown in a hop): once the mapping's delete is accepted the
    queues go at once -- a Lambda killed after the mapping is gone and before the queues would
    leave them with nothing to deliver the hop again, so that window is kept to a few calls.

    Nothing that is not the job's is deleted, whatever a packet names: the mapping only if it
    feeds the job's queue (its ``EventSourceArn``), the DLQ only if the queue redrives to it,
    and -- given ``job_id`` -- no queue that relaystate tagged as another job's.
    """
    queue = retry_transient(lambda: backend.queues.describe(queue_url)) if queue_url else None
    if queue is not None and not _owned(backend, queue_url, job_id):
        return False
    if mapping_id:
        info = retry_transient(lambda: backend.mappings.get(mapping_id))
        if info is not None and _feeds_another(info, queue_url, queue):
            log.warning(
                "relaystate: mapping %s feeds %s, not the job's queue %s; it is left alone",
                mapping_id,
                info.queue_arn,
                queue_url,
            )
        elif info is not None:
            retry_transient(
                lambda: detach(backend, mapping_id, until, wait=wait_for_mapping), until=until
            )
    if queue is not None:
        target = dead_letter_target(queue)
        if dlq_url and target and queue_name_of(target) != queue_name_of(dlq_url):
            log.warning(
                "relaystate: queue %s redrives to %s, not to %s; that one is left alone",
                queue_url,
                target,
                dlq_url,
            )
            dlq_url = ""
        retry_transient(lambda: backend.queues.delete(queue_url))
    if dlq_url:
        attributes = retry_transient(lambda: backend.queues.describe(dlq_url))
        if attributes is None:
            return True
        if not _owned(backend, dlq_url, job_id):
            return False
        held = max(sum(queue_counts(attributes)), int(dlq_has_packets))
        if held and keep_nonempty_dlq:
            log.warning(
                "relaystate: kept dead-letter queue %s: it holds %d packet(s); resume them "
                "with RelayJob.resume(packet) or delete the queue",
                dlq_url,
                held,
            )
            return False
        retry_transient(lambda: backend.queues.delete(dlq_url))
    return True


def _owned(backend: Backend, url: str, job_id: str) -> bool:
    """Whether the queue may be deleted for ``job_id``: not tagged as another job's.

    Queues without relaystate's tags (made by the npm helper, or by hand) are the caller's.
    """
    if not job_id:
        return True
    owner = retry_transient(lambda: backend.queues.tags(url)).get(f"{TAG_PREFIX}job-id")
    if owner is None or owner == job_id:
        return True
    log.warning(
        "relaystate: queue %s belongs to job %s, not to job %s; it is left alone",
        url,
        owner,
        job_id,
    )
    return False


def _feeds_another(info: MappingInfo, queue_url: str, queue: Mapping[str, str] | None) -> bool:
    if not info.queue_arn:
        return False
    if queue is not None and queue.get("QueueArn"):
        return info.queue_arn != queue["QueueArn"]
    return bool(queue_url) and queue_name_of(info.queue_arn) != queue_name_of(queue_url)
