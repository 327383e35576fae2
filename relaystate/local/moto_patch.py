"""A speed-up for moto's SQS server: a send no longer walks every message of its queue.

moto 5 reads one queue attribute, ``ContentBasedDeduplication``, on every ``SendMessage``
(and on every entry of a ``SendMessageBatch``) through ``Queue.attributes``, which builds all
of the queue's attributes -- among them three approximate counts that look at every message.
Sending n messages to one queue so costs O(n²): 7 ms a send on an empty queue, 28 ms at 800
messages. :func:`apply` gives those readers (``send_message``, ``_validate_message``,
``add_message``) a dict with the one attribute they read, computed as moto computes it. And
``GetQueueAttributes`` with n names built all of them 2n + 1 times: it now builds them once
a call. Everything else is moto's own code. It is applied in the local SQS endpoints only
(:class:`~relaystate.local.server.EmbeddedSqs`, :func:`~relaystate.local.moto_process`), and only to
a moto whose names it knows; on any other it does nothing (sends are then just slower).

Run as ``python -m relaystate.local.moto_patch [moto.server options]`` it starts moto's server
with the speed-up.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["apply"]

_state = threading.local()
_applied = False
_lock = threading.Lock()
#: The methods that read only ``ContentBasedDeduplication`` from ``Queue.attributes``.
_READERS = (("SQSBackend", "send_message"), ("SQSBackend", "_validate_message"))
_QUEUE_READERS = ("add_message",)
#: The methods that read ``Queue.attributes`` several times and change nothing in between.
_REREADERS = (("SQSBackend", "get_queue_attributes"),)


def apply() -> bool:
    """Install the speed-up into this process's moto (once); ``False`` if moto is unknown.

    Example:
        >>> from relaystate.local import moto_patch
        >>> moto_patch.apply()  # doctest: +SKIP
        True
    """
    global _applied
    with _lock:
        if _applied:
            return True
        try:
            from moto.sqs import models
        except ImportError:  # pragma: no cover - moto is a dependency of the local extra
            return False
        queue, backend = getattr(models, "Queue", None), getattr(models, "SQSBackend", None)
        original = getattr(queue, "attributes", None)
        if (
            queue is None
            or backend is None
            or not isinstance(original, property)
            or original.fget is None
            or not all(callable(getattr(backend, name, None)) for _, name in _READERS + _REREADERS)
            or not all(callable(getattr(queue, name, None)) for name in _QUEUE_READERS)
        ):
            return False
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
        for _, name in _READERS:
            setattr(backend, name, _reading_one_attribute(getattr(backend, name)))
        for name in _QUEUE_READERS:
            setattr(queue, name, _reading_one_attribute(getattr(queue, name)))
        for _, name in _REREADERS:
            setattr(backend, name, _building_attributes_once(getattr(backend, name)))
        _applied = True
        return True


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
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Also when a send calls it (moto's own Lambda mappings receive inside add_message):
        # it reads every attribute, so the one-attribute view is off for its duration.
        outer, depth = getattr(_state, "memo", None), getattr(_state, "depth", 0)
        _state.memo, _state.depth = {}, 0
        try:
            return method(*args, **kwargs)
        finally:
            _state.memo, _state.depth = outer, depth

    return wrapper


def main(argv: list[str] | None = None) -> None:
    """Start moto's server (its own command-line options) with :func:`apply` in effect."""
    apply()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":  # pragma: no cover - run as a process by moto_process
    main()
