"""Speed-ups for moto's SQS server: no call walks every message of a queue it need not walk.

moto 5 keeps a queue's messages in one list, and four paths walk all of it on every call, so
a queue of n messages costs O(n) a call and a relay's backlog O(n²) in all (1,000 shards of
one unit: 36 s; 10,000: not done after 1,000 s)::

    SendMessage       reads ``ContentBasedDeduplication`` through ``Queue.attributes``, which
                      builds every attribute, three approximate counts among them: the readers
                      (``send_message``, ``_validate_message``, ``add_message``) get a dict of
                      the one attribute they read, computed as moto computes it
    GetQueueAttributes  with n names built them all 2n + 1 times: now once a call, and
                      without the three counts when none of them was asked for
    ReceiveMessage    listed every visible message (``Queue.messages``) to take the first
                      ten, and checked each one's retention period with a GetQueueAttributes
                      of its own (all attributes, counts included): inside a receive
                      ``Queue.messages`` is walked lazily, so a receive stops at its tenth
                      visible message, and the retention check no longer counts the queue
    DeleteMessage     scanned every message twice, listing each one's receipt handles: the
                      handles moto issues are indexed, and a delete finds its message by
                      identity (``list.index``) before it does what moto does

And one fix: moto computes the three counts one after the other, each message's visibility and
delay against the clock of that moment, so a message whose visibility timeout (or delay) ran
out in between was counted in none of them -- a queue holding a message read 0, 0, 0, and
LocalLambda, seeing no work, called itself idle while a shard's packet was about to be
received (its chain stopped). A GetQueueAttributes now counts at one instant, as AWS's
counts describe the queue at one time.

Everything else is moto's own code, and every result is the one moto gives (a handle the index
does not place in the queue goes to moto's own delete, which raises moto's error);
``tests/test_moto_patch.py`` runs the same calls on an unpatched moto and compares. It is
applied in the local SQS endpoints only (:class:`~relaystate.local.server.EmbeddedSqs`,
:func:`~relaystate.local.moto_process`), and only to a moto whose names it knows; on any other
it does nothing (calls are then just slower). The same endpoints get the DynamoDB
speed-ups of :mod:`~relaystate.local.moto_patch_dynamodb` from :func:`apply`, which also makes
moto's DynamoDB writes and SQS deletes atomic, as AWS's are
(:mod:`~relaystate.local.moto_atomic`).

Run as ``python -m relaystate.local.moto_patch [moto.server options]`` it starts moto's server
with the speed-ups.
"""

from __future__ import annotations

import functools
import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from . import moto_atomic, moto_patch_dynamodb
from .moto_once import once

__all__ = ["apply"]

_state = threading.local()
#: The methods that read only ``ContentBasedDeduplication`` from ``Queue.attributes``.
_READERS = (("SQSBackend", "send_message"), ("SQSBackend", "_validate_message"))
_QUEUE_READERS = ("add_message",)
#: The methods that read ``Queue.attributes`` several times and change nothing in between.
_REREADERS = (("SQSBackend", "get_queue_attributes"),)
#: The methods that walk ``Queue.messages`` once, in order, and may stop early.
_WALKERS = (("SQSBackend", "receive_message"),)
#: The attributes that count the queue's messages, and their properties on ``Queue``.
_COUNTS = {
    "ApproximateNumberOfMessages": "approximate_number_of_messages",
    "ApproximateNumberOfMessagesDelayed": "approximate_number_of_messages_delayed",
    "ApproximateNumberOfMessagesNotVisible": "approximate_number_of_messages_not_visible",
}
#: Receipt handle -> the message moto issued it to (weakly: moto decides how long they live).
_issued: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def apply() -> bool:
    """Install the speed-ups into this process's moto (once), then make its DynamoDB writes
    and SQS deletes atomic (:mod:`~relaystate.local.moto_atomic`); ``False`` if moto is
    unknown.

    DynamoDB's speed-ups (:mod:`~relaystate.local.moto_patch_dynamodb`) are installed with
    them, on their own terms (a moto whose DynamoDB names they know).

    Example:
        >>> from relaystate.local import moto_patch
        >>> moto_patch.apply()  # doctest: +SKIP
        True
    """
    moto_patch_dynamodb.apply()
    known = _speed_up()
    moto_atomic.apply()  # last: its lock must wrap the speed-ups' delete too
    return known


@once
def _speed_up() -> bool:
    try:
        from moto.sqs import models
    except ImportError:  # pragma: no cover - moto is a dependency of the local extra
        return False
    queue = getattr(models, "Queue", None)
    backend = getattr(models, "SQSBackend", None)
    message = getattr(models, "Message", None)
    if queue is None or backend is None or message is None:
        return False
    properties = ["attributes", "messages", *_COUNTS.values()]
    if (
        not all(_is_property(getattr(queue, name, None)) for name in properties)
        or not all(callable(getattr(backend, name, None)) for _, name in _READERS + _REREADERS)
        or not all(callable(getattr(backend, name, None)) for _, name in _WALKERS)
        or not all(callable(getattr(queue, name, None)) for name in _QUEUE_READERS)
        or not callable(getattr(queue, "delete_message", None))
        or not callable(getattr(message, "mark_received", None))
    ):
        return False
    if not _patch_instant(message):
        return False
    _patch_attributes(queue)
    _patch_counts(queue)
    _patch_messages(queue)
    for _, name in _READERS:
        setattr(backend, name, _reading_one_attribute(getattr(backend, name)))
    for name in _QUEUE_READERS:
        setattr(queue, name, _reading_one_attribute(getattr(queue, name)))
    for _, name in _REREADERS:
        setattr(backend, name, _building_attributes_once(getattr(backend, name)))
    for _, name in _WALKERS:
        setattr(backend, name, _walking_lazily(getattr(backend, name)))
    message.mark_received = _indexing_receipts(message.mark_received)
    queue.delete_message = _deleting_by_receipt(queue.delete_message)
    return True


def _is_property(found: object) -> bool:
    return isinstance(found, property) and found.fget is not None


# -- Queue.attributes: one attribute for its readers, built once a GetQueueAttributes ----------


def _patch_attributes(queue: Any) -> None:
    original = queue.attributes
    full = original.fget

    def attributes(self: Any) -> dict[str, Any]:
        if not getattr(_state, "depth", 0):
            memo: dict[int, dict[str, Any]] | None = getattr(_state, "memo", None)
            if memo is None:
                found: dict[str, Any] = full(self)
                return found
            if id(self) not in memo:
                memo[id(self)] = full(self)
            return memo[id(self)]
        if not getattr(self, "fifo_queue", False):
            return {}  # moto lists ContentBasedDeduplication for FIFO queues only
        value = self.content_based_deduplication
        shown = str(value).lower() if isinstance(value, bool) else value
        return {"ContentBasedDeduplication": shown}

    queue.attributes = property(attributes, doc=original.__doc__)


def _patch_counts(queue: Any) -> None:
    # While a GetQueueAttributes that asked for no count builds the attributes, the counts
    # are not computed: their values are thrown away (that call returns what it was asked).
    for name in _COUNTS.values():
        original = getattr(queue, name)

        def counted(self: Any, _count: Callable[[Any], int] = original.fget) -> int:
            return 0 if getattr(_state, "uncounted", False) else _count(self)

        setattr(queue, name, property(counted, doc=original.__doc__))


def _reading_one_attribute(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _state.depth = getattr(_state, "depth", 0) + 1
        try:
            return method(*args, **kwargs)
        finally:
            _state.depth -= 1

    return wrapper


def _building_attributes_once(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        # Also when a send calls it (moto's own Lambda mappings receive inside add_message):
        # it reads every attribute, so the one-attribute view is off for its duration.
        saved = (getattr(_state, "memo", None), getattr(_state, "depth", 0))
        uncounted = getattr(_state, "uncounted", False)
        now = getattr(_state, "now", None)
        _state.memo, _state.depth = {}, 0
        _state.uncounted = not any(n == "All" or n in _COUNTS for n in attribute_names or ())
        _state.now = _clock()  # the counts' one instant (see _patch_instant)
        try:
            return method(self, queue_name, attribute_names)
        finally:
            (_state.memo, _state.depth), _state.uncounted = saved, uncounted
            _state.now = now

    return wrapper


# -- the counts at one instant ----------------------------------------------------------------


def _clock() -> Any:
    """moto's clock, as its messages read it (looked up at each call: a test may set it)."""
    from moto.sqs import models

    return models.unix_time_millis()  # type: ignore[attr-defined]


def _patch_instant(message: Any) -> bool:
    """Within a GetQueueAttributes, a message is visible or delayed as of the call's instant
    (``_state.now``), by moto's own rules; elsewhere as moto has it."""
    visible, delayed = getattr(message, "visible", None), getattr(message, "delayed", None)
    if not (isinstance(visible, property) and isinstance(delayed, property)):
        return False
    if visible.fget is None or delayed.fget is None:
        return False
    moto_visible, moto_delayed = visible.fget, delayed.fget

    def is_visible(self: Any) -> bool:
        now = getattr(_state, "now", None)
        return bool(moto_visible(self)) if now is None else bool(now > self.visible_at)

    def is_delayed(self: Any) -> bool:
        now = getattr(_state, "now", None)
        return bool(moto_delayed(self)) if now is None else bool(now < self.delayed_until)

    message.visible = property(is_visible, doc=visible.__doc__)
    message.delayed = property(is_delayed, doc=delayed.__doc__)
    return True


# -- ReceiveMessage: the visible messages walked lazily ---------------------------------------


class _Visible:
    """A queue's visible messages (moto's ``Queue.messages``), found as they are walked.

    Iterating gives what moto's list would hold, in its order, without looking past where the
    walker stops; ``bool()`` and ``len()`` answer as the list would.
    """

    def __init__(self, messages: list[Any]) -> None:
        self._messages = messages  # moto replaces the list on a delete: this one stays put

    def __iter__(self) -> Iterator[Any]:
        return (m for m in self._messages if m.visible and not m.delayed)

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _patch_messages(queue: Any) -> None:
    original = queue.messages
    listed = original.fget

    def messages(self: Any) -> Any:
        if getattr(_state, "walking", False):
            return _Visible(self._messages)
        return listed(self)

    queue.messages = property(messages, doc=original.__doc__)


def _walking_lazily(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = getattr(_state, "walking", False)
        _state.walking = True
        try:
            return method(*args, **kwargs)
        finally:
            _state.walking = outer

    return wrapper


# -- DeleteMessage: the message found by its receipt handle ----------------------------------


def _indexing_receipts(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        _issued[self.receipt_handle] = self
        return result

    return wrapper


def _deleting_by_receipt(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, receipt_handle: str) -> None:
        message = _issued.get(receipt_handle)
        if message is not None and receipt_handle not in self.deleted_messages:
            messages: list[Any] = self._messages
            try:
                at = messages.index(message)  # moto's messages compare by identity
            except ValueError:
                at = -1
            if at >= 0:
                # What moto does for the one message that had the handle: a new list, as
                # moto makes, so that a receive walking the old one is not disturbed.
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                self._messages = messages[:at] + messages[at + 1 :]
                return
        method(self, receipt_handle)

    return wrapper


#: The server process's youngest-generation collection threshold (CPython's default: 700).
GEN0_THRESHOLD = 20_000


def main(argv: list[str] | None = None) -> None:
    """Start moto's server (its own command-line options) with :func:`apply` in effect.

    The process is moto's alone, so its garbage collector is set for it: what is loaded before
    the first request (moto, flask, werkzeug: some 65,000 objects) is frozen out of every
    collection, and the youngest generation is collected after 20,000 allocations, not 700.
    A request allocates thousands of short-lived objects (an ``UpdateItem`` of the ledger:
    its parsed expressions, copied items and trees), which set off collections that walked
    what every request keeps; reference counting frees nearly all of them anyway.
    """
    apply()
    from moto.server import main as moto_main

    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
    moto_main(argv)


if __name__ == "__main__":  # pragma: no cover - run as a process by moto_process
    main()
