"""What LocalLambda's emulated service still has: work going on, and what a job left behind.

Idle is the service's view, not the job's: no batch still open (running, or its deletes not
yet handed on), no delete waiting, no mapping still ``Deleting``, and every polled queue
empty -- no visible, in-flight or delayed message, counted exactly through the service's own
:class:`~relaystate.local.poller.QueuePoller` whatever the consistency profile shows the job.
When ``run_until_idle`` is not idle in time, :func:`busy_report` says with what, and what a
test author can change; after a job, :func:`left_over` lists the queues and mappings it did
not clean up.

Example:
    >>> is_idle(slots, settler, mappings, poller)  # doctest: +SKIP
    True
    >>> left_over(mappings, poller, accounting.created_queues)  # doctest: +SKIP
    ['queue relay-1f2e (1 message)']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..aws.s3 import S3Blobs
from ..names import queue_name_of
from .invocation import Invocation
from .poller import QueuePoller
from .registry import MappingRegistry
from .settling import Settler
from .slots import Slots

__all__ = ["busy_report", "is_idle", "left_over"]

#: The outcomes of an invocation that failed.
_FAILED = ("error", "timeout", "partial", "crash")


def is_idle(slots: Slots, settler: Settler, mappings: MappingRegistry, poller: QueuePoller) -> bool:
    """Whether nothing runs, nothing waits to be settled, and no mapped queue has work."""
    # Slots first: a batch's deletes are handed to the settler before its slot closes.
    if slots.open or settler.pending:
        return False
    # A mapping being deleted is the service's work still going on: left_over() would
    # list it until it is gone.
    if any(m.state == "Deleting" for m in mappings.all()):
        return False
    for queue_url in {m.queue_url for m in mappings.active()}:
        backlog = poller.backlog(queue_url)
        if backlog is not None and any(backlog):
            return False
    return True


def busy_report(
    timeout_s: float,
    *,
    running: int,
    mappings: MappingRegistry,
    poller: QueuePoller,
    invocations: Sequence[Invocation],
) -> str:
    """What was still going on after ``timeout_s``: the message of the ``IdleTimeoutError``."""
    queues = []
    for mapping in mappings.active():
        backlog = poller.backlog(mapping.queue_url)
        if backlog is not None and any(backlog):
            visible, in_flight, delayed = backlog
            queues.append(
                f"{queue_name_of(mapping.queue_arn)} ({mapping.function_name}): "
                f"{visible} visible, {in_flight} in flight, {delayed} delayed"
            )
    queues += [
        f"mapping {m.id} still Deleting ({m.function_name})"
        for m in mappings.all()
        if m.state == "Deleting"
    ]
    failures = [i for i in invocations if i.outcome in _FAILED]
    last = f" (the last: {failures[-1].error or failures[-1].outcome})" if failures else ""
    return (
        f"LocalLambda was not idle after {timeout_s:g} s: {running} invocation(s) running; "
        f"{'; '.join(queues) or 'no messages waiting'}. {len(failures)} invocation(s) "
        f"failed so far{last}; see lam.invocations. Raise run_until_idle(timeout_s=...), "
        "make sure step() "
        "returns DONE in the end, and note that a failed message waits out its queue's "
        "VisibilityTimeout before it is retried unless LocalLambda(retry_delay_s=...) is set"
    )


def left_over(
    mappings: MappingRegistry,
    poller: QueuePoller,
    created_queues: Iterable[str],
    buckets: Iterable[S3Blobs] = (),
) -> list[str]:
    """What still exists of the mappings, of ``created_queues`` and in ``buckets``: one line
    each."""
    found = [
        f"mapping {m.id} ({m.state}) {queue_name_of(m.queue_arn)} -> {m.function_name}"
        for m in mappings.all()
    ]
    for url in created_queues:
        backlog = poller.backlog(url)
        if backlog is not None:
            held = sum(backlog)
            found.append(f"queue {queue_name_of(url)} ({held} message{'s' * (held != 1)})")
    for blobs in buckets:
        found.extend(f"object s3://{blobs.bucket}/{o.key}" for o in blobs.list(""))
    return found
