"""One handler call: run it in its own thread under the function's timeout; read its response.

A handler that overruns its timeout is reported as timed out at once, as on AWS. Its Python
thread cannot be killed, so it runs on in the background as a daemon thread; it is cut off from
AWS instead: its next call through the local backend raises
:class:`~relaystate.local.trace.FunctionKilled` (a killed Lambda sends nothing more), and what it
returns is ignored. An injected crash (:class:`~relaystate.local.Faults`) raises the same
``FunctionKilled`` where it strikes; the invocation ends as ``crash`` and its messages stay.

What comes before and after the call (the recursion stop, the event, settling the messages) is
:mod:`relaystate.local.invocation`'s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from . import trace
from .registry import LocalFunction

__all__ = ["HandlerRun", "InvocationOutcome", "read_response", "run_handler"]

log = logging.getLogger("relaystate.local")

#: How an invocation ended: ``ok`` (every record done), ``partial`` (``batchItemFailures``
#: named some records), ``error`` (raised, or a response Lambda treats as a failure),
#: ``timeout`` (overran), ``crash`` (killed by an injected fault), ``dropped`` (never invoked:
#: recursive loop stopped).
InvocationOutcome = Literal["ok", "partial", "error", "timeout", "crash", "dropped"]


@attrs.frozen
class HandlerRun:
    """What one handler call came to: its outcome and the messages to leave for redelivery."""

    outcome: InvocationOutcome
    failed_ids: tuple[str, ...]
    duration_ms: float
    error: str = ""


def read_response(
    response: object, message_ids: Sequence[str]
) -> tuple[InvocationOutcome, tuple[str, ...], str]:
    """Lambda's reading of an SQS handler's response (with ``ReportBatchItemFailures``).

    A complete success: ``None``, a response without ``batchItemFailures``, or an empty or
    ``null`` list. A complete failure: a response that is not JSON, or an entry whose
    ``itemIdentifier`` is missing, empty, or not a message of the batch. Otherwise the named
    messages failed.

    Example:
        >>> read_response({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["a", "b"])
        ('partial', ('b',), '')
    """
    everything = tuple(message_ids)
    try:
        json.dumps(response)
    except (TypeError, ValueError) as exc:
        return "error", everything, f"Runtime.MarshalError: Unable to marshal response: {exc}"
    if not isinstance(response, dict) or response.get("batchItemFailures") is None:
        return "ok", (), ""
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return "error", everything, f"batchItemFailures must be a list, got {failures!r}"
    named: list[str] = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return (
                "error",
                everything,
                f"batchItemFailures entry {item!r} does not name a message of this batch "
                "(itemIdentifier must be a record's messageId); Lambda treats the whole batch "
                "as failed",
            )
        if identifier not in named:
            named.append(identifier)
    if not named:
        return "ok", (), ""
    return "partial", tuple(i for i in everything if i in named), ""


def run_handler(
    function: LocalFunction,
    event: dict[str, Any],
    context: Any,
    scope: trace.Scope,
    message_ids: Sequence[str],
) -> HandlerRun:
    """Call ``function.handler(event, context)`` in a new thread; wait at most its timeout."""
    box: dict[str, Any] = {}

    def target() -> None:
        trace.enter(scope)
        try:
            box["response"] = function.handler(event, context)
        except trace.FunctionKilled:
            pass
        except BaseException as exc:  # the handler's failure is the invocation's outcome
            box["error"] = exc

    thread = threading.Thread(
        target=target, name=f"lambda:{function.name}:{scope.request_id[:8]}", daemon=True
    )
    started = time.perf_counter()
    thread.start()
    thread.join(function.timeout_s)
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    if scope.crashed:
        log.info(
            "relaystate.local: %s (request %s): %s",
            function.name,
            scope.request_id,
            scope.crashed,
        )
        return HandlerRun("crash", tuple(message_ids), duration_ms, scope.crashed)
    if thread.is_alive():
        scope.killed = True
        return HandlerRun(
            "timeout",
            tuple(message_ids),
            duration_ms,
            f"Task timed out after {function.timeout_s:.2f} seconds",
        )
    if "error" in box:
        exc: BaseException = box["error"]
        log.error(
            "relaystate.local: %s (request %s) raised %s: %s",
            function.name,
            scope.request_id,
            type(exc).__name__,
            exc,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return HandlerRun("error", tuple(message_ids), duration_ms, f"{type(exc).__name__}: {exc}")
    outcome, failed, error = read_response(box.get("response"), message_ids)
    if outcome == "error":
        log.error("relaystate.local: %s (request %s): %s", function.name, scope.request_id, error)
    return HandlerRun(outcome, failed, duration_ms, error)
