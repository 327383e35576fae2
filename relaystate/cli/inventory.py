"""What relay jobs exist in a region, read from their queues, their tags and their mappings.

A relay queue is an SQS queue whose tags include ``relaystate:job-id`` (every queue a job
creates has them; see :meth:`relaystate.resources.QueueSpec.tags`). Queues are found by name
prefix (the jobs' ``queue_prefix``, ``relay-`` by default) and grouped by job id. Nothing here
receives a message: looking never changes a message's receive count or visibility.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..aws import map_aws_errors
from ..errors import ResourceNotFoundError
from ..names import TAG_PREFIX, queue_name_of
from ..ports import MappingInfo, MappingPort
from ..queue_attributes import dead_letter_target, queue_counts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["ACTIVITIES", "FEEDING", "Inventory", "JobView", "QueueView"]

#: Mapping states in which a mapping feeds (or is about to feed) its queue to the function.
FEEDING = frozenset({"Creating", "Enabling", "Enabled", "Updating"})

#: What a job is doing, as its queues show it; the order is the order of precedence.
ACTIVITIES: dict[str, str] = {
    "running": "a hop holds a packet now (messages in flight)",
    "queued": "packets wait in the queue and an enabled mapping feeds it to the worker",
    "stalled": "packets wait in the queue but no enabled mapping feeds it: resume or cancel it",
    "dead-lettered": "only the dead-letter queue is left, and it holds packets: resume them",
    "idle": "no packet in its queues: finished, failed or abandoned (what reap deletes)",
}


@attrs.frozen
class QueueView:
    """One relay queue (or DLQ) as SQS describes it now, with the mappings that read it.

    Example:
        >>> q = QueueView(url="https://sqs.../relay-1", arn="arn:aws:sqs:...:relay-1",
        ...               job_id="1", role="queue", visible=1)
        >>> (q.name, q.held)
        ('relay-1', 1)
    """

    url: str
    arn: str
    job_id: str
    role: str  # "queue" or "dlq"
    job_type: str = ""
    function: str = ""
    created_at: float = 0.0  # epoch seconds
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0
    dlq_arn: str = ""
    mappings: tuple[MappingInfo, ...] = ()

    @property
    def name(self) -> str:
        return queue_name_of(self.url)

    @property
    def held(self) -> int:
        """Messages in the queue: visible, in flight and delayed."""
        return self.visible + self.in_flight + self.delayed

    @property
    def fed(self) -> bool:
        """Whether a mapping feeds this queue to a function (or is about to)."""
        return any(m.state in FEEDING for m in self.mappings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
            "visible": self.visible,
            "in_flight": self.in_flight,
            "delayed": self.delayed,
            "mappings": [
                {"id": m.id, "state": m.state, "function": m.function_name} for m in self.mappings
            ],
        }


@attrs.frozen
class JobView:
    """A job's queues (a resumed job may have more than one) and its dead-letter queues.

    Example:
        >>> job = JobView("9f2c", queues=(QueueView(url="u", arn="a", job_id="9f2c",
        ...                                         role="queue", in_flight=1),))
        >>> job.activity
        'running'
    """

    job_id: str
    queues: tuple[QueueView, ...] = ()
    dlqs: tuple[QueueView, ...] = ()

    @property
    def all(self) -> tuple[QueueView, ...]:
        return self.queues + self.dlqs

    @property
    def job_type(self) -> str:
        return next((q.job_type for q in self.all if q.job_type), "")

    @property
    def function(self) -> str:
        return next((q.function for q in self.all if q.function), "")

    @property
    def created_at(self) -> float:
        """When the job's first queue was made (its age)."""
        return min((q.created_at for q in self.all), default=0.0)

    @property
    def last_created_at(self) -> float:
        """When its newest queue was made (a resume makes one): what ``reap`` ages by."""
        return max((q.created_at for q in self.all), default=0.0)

    @property
    def dlq_depth(self) -> int:
        return sum(q.held for q in self.dlqs)

    @property
    def mapping_state(self) -> str:
        states = [m.state for q in self.queues for m in q.mappings]
        return ", ".join(states) if states else "none"

    @property
    def activity(self) -> str:
        """One of :data:`ACTIVITIES`."""
        if any(q.in_flight for q in self.queues):
            return "running"
        waiting = [q for q in self.queues if q.visible or q.delayed]
        if waiting:
            return "queued" if all(q.fed for q in waiting) else "stalled"
        if not self.queues and self.dlq_depth:
            return "dead-lettered"
        return "idle"

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "job_type": self.job_type,
            "function": self.function,
            "activity": self.activity,
            "age_s": round(now - self.created_at) if self.created_at else None,
            "visible": sum(q.visible for q in self.queues),
            "in_flight": sum(q.in_flight for q in self.queues),
            "delayed": sum(q.delayed for q in self.queues),
            "mapping_state": self.mapping_state,
            "dlq_depth": self.dlq_depth,
            "queues": [q.to_dict() for q in self.queues],
            "dlqs": [q.to_dict() for q in self.dlqs],
        }


class Inventory:
    """Finds relay queues by prefix and tags, and reads their counts and mappings.

    Args:
        sqs: an SQS client (``ListQueues``, ``ListQueueTags``, ``GetQueueAttributes``).
        mappings: the mapping port (``list_for_queue``).
        prefix: the queue-name prefix of the jobs (``RelayJob.queue_prefix``).

    Example:
        >>> inventory = Inventory(sqs, backend.mappings, prefix="relay-")  # doctest: +SKIP
        >>> [job.job_id for job in inventory.jobs()]  # doctest: +SKIP
        ['9f2c...']
    """

    def __init__(self, sqs: SQSClient, mappings: MappingPort, *, prefix: str = "relay-") -> None:
        self.sqs = sqs
        self.mappings = mappings
        self.prefix = prefix

    def urls(self, name_prefix: str) -> Iterator[str]:
        """Every queue URL whose name starts with ``name_prefix``, page by page."""
        with map_aws_errors("sqs", "ListQueues"):
            pages = self.sqs.get_paginator("list_queues").paginate(
                QueueNamePrefix=name_prefix, PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                yield from page.get("QueueUrls", [])

    def queue(self, url: str, *, tagged_only: bool = True) -> QueueView | None:
        """The queue at ``url``; ``None`` if it is gone or (``tagged_only``) not a relay queue."""
        try:
            with map_aws_errors("sqs", "ListQueueTags"):
                tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
            job_id = tags.get(f"{TAG_PREFIX}job-id", "")
            if tagged_only and not job_id:
                return None
            with map_aws_errors("sqs", "GetQueueAttributes"):
                found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        except ResourceNotFoundError:
            return None
        attributes: Mapping[str, str] = {str(k): v for k, v in found.get("Attributes", {}).items()}
        role = tags.get(f"{TAG_PREFIX}role") or ("dlq" if url.endswith("-dlq") else "queue")
        arn = attributes.get("QueueArn", "")
        visible, in_flight, delayed = queue_counts(attributes)
        return QueueView(
            url=url,
            arn=arn,
            job_id=job_id,
            role=role,
            job_type=tags.get(f"{TAG_PREFIX}job-type", ""),
            function=tags.get(f"{TAG_PREFIX}function", ""),
            created_at=float(attributes.get("CreatedTimestamp", "0") or 0),
            visible=visible,
            in_flight=in_flight,
            delayed=delayed,
            dlq_arn=dead_letter_target(attributes),
            mappings=tuple(self.mappings.list_for_queue(arn)) if role != "dlq" and arn else (),
        )

    def jobs(self, job_id: str | None = None) -> list[JobView]:
        """Every relay job under the prefix (or only ``job_id``'s), oldest first."""
        # A job's queues are named prefix + job id (+ "-dlq", or "-<hex>" after a resume).
        name_prefix = self.prefix + (job_id or "")
        grouped: dict[str, list[QueueView]] = {}
        for url in self.urls(name_prefix):
            view = self.queue(url)
            if view is not None and (job_id is None or view.job_id == job_id):
                grouped.setdefault(view.job_id, []).append(view)
        jobs = [_job(jid, views) for jid, views in grouped.items()]
        return sorted(jobs, key=lambda job: (job.created_at, job.job_id))

    def job(self, job_id: str) -> JobView | None:
        """The job's queues, or ``None`` if no relay queue of it is left under the prefix."""
        found = self.jobs(job_id)
        return found[0] if found else None

    def refresh(self, job: JobView) -> JobView:
        """The job read again: its known queues by URL, and any new one under its name prefix."""
        views = {q.url: q for q in (self.queue(q.url) for q in job.all) if q is not None}
        for found in self.jobs(job.job_id):
            views.update((q.url, q) for q in found.all)
        return _job(job.job_id, list(views.values()))

    def job_of_queue(self, url: str) -> JobView:
        """The job a queue URL belongs to: that queue and its DLQ (from its redrive policy).

        Works for any queue, relay-tagged or not.

        Raises:
            ResourceNotFoundError: there is no queue at ``url``.
        """
        view = self.queue(url, tagged_only=False)
        if view is None:
            raise ResourceNotFoundError(
                f"no queue at {url}: check the URL (`relaystate ls` lists relay queues); it may "
                "have been torn down already",
                service="sqs",
                operation="GetQueueAttributes",
                code="QueueDoesNotExist",
            )
        if view.role == "dlq":
            return JobView(view.job_id, dlqs=(view,))
        dlq = self._queue_by_arn(view.dlq_arn) if view.dlq_arn else None
        return JobView(view.job_id, queues=(view,), dlqs=(dlq,) if dlq else ())

    def _queue_by_arn(self, arn: str) -> QueueView | None:
        parts = arn.split(":")
        if len(parts) != 6:
            return None
        try:
            with map_aws_errors("sqs", "GetQueueUrl"):
                url = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                    "QueueUrl"
                ]
        except ResourceNotFoundError:
            return None
        view = self.queue(url, tagged_only=False)
        return attrs.evolve(view, role="dlq") if view is not None else None


def _job(job_id: str, views: list[QueueView]) -> JobView:
    views.sort(key=lambda v: (v.created_at, v.name))
    return JobView(
        job_id,
        queues=tuple(v for v in views if v.role != "dlq"),
        dlqs=tuple(v for v in views if v.role == "dlq"),
    )
