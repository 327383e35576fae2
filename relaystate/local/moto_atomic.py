"""One request at a time where AWS is atomic: moto's DynamoDB writes and SQS deletes.

moto's server answers each request on a thread of its own, and its backends take no locks
where AWS's guarantees need them. Two of those gaps break what relaystate relies on::

    DynamoDB    a conditional ``UpdateItem`` checks its condition, then changes the item in
                place: two at once can both pass (on this machine, 18 of 200 rounds of 8
                concurrent claims of one item had more than one winner), and a refused one
                can return the item half-changed (its ``hop`` already the next, its
                ``status`` still the old). AWS applies each write to an item atomically, and
                the ledger's fencing is built on that. Every DynamoDB request now runs
                alone: moto parses and answers one at a time (the cost is a lock: the GIL
                ran them one at a time already).
    SQS         a delete replaces the queue's message list with a copy that lacks the deleted
                message; a ``SendMessage`` that appended to the old list in between is lost
                -- its sender got a message id. A delete now holds the queue's own lock
                (moto's ``_messages_lock``, which moto's append holds); a long-polling receive
                releases it while it waits, as before.

It is applied with :func:`relaystate.local.moto_patch.apply` (after the speed-ups, so that its
lock wraps their delete too), in the local endpoints only, and only to a moto whose names it
knows.

Example:
    >>> from relaystate.local import moto_atomic
    >>> moto_atomic.apply()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any

from .moto_once import once

__all__ = ["apply"]

#: moto's DynamoDB requests, one at a time (re-entrant: a transaction's parts call back in).
_dynamodb = threading.RLock()


@once
def apply() -> bool:
    """Make this process's moto answer DynamoDB requests one at a time and delete SQS
    messages under their queue's lock (once); ``False`` if moto's names are unknown.

    Example:
        >>> apply()  # doctest: +SKIP
        True
    """
    try:
        from moto.dynamodb.responses import DynamoHandler
        from moto.sqs.models import Queue
    except ImportError:  # pragma: no cover - moto is a dependency of the local extra
        return False
    if not callable(getattr(DynamoHandler, "call_action", None)) or not callable(
        getattr(Queue, "delete_message", None)
    ):
        return False
    setattr(DynamoHandler, "call_action", _alone(DynamoHandler.call_action))  # noqa: B010
    setattr(Queue, "delete_message", _under_the_queue_lock(Queue.delete_message))  # noqa: B010
    return True


def _alone(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any) -> Any:
        with _dynamodb:
            return method(self)

    return wrapper


def _under_the_queue_lock(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, receipt_handle: str) -> Any:
        lock = getattr(self, "_messages_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            return method(self, receipt_handle)

    return wrapper
