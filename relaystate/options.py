"""A job's options: the class attributes a constructor may override, and what each accepts.

Options travel in the packet (the worker applies what the starter was given), so they are
checked where they come from: the constructor (:class:`~relaystate.errors.ConfigurationError`,
naming the option and what it accepts) and a packet read from outside
(:class:`~relaystate.errors.InvalidPacketError`). A bool is not a number here: ``max_hops=True``
is refused, as is ``max_hops="10"``.

Example:
    >>> check_options({"max_hops": 10, "queue_prefix": "jobs-"})
    >>> check_options({"max_hops": "10"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    relaystate.errors.ConfigurationError: max_hops must be a whole number >= 1 (...), got '10'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigurationError, InvalidPacketError
from .names import queue_name_for

__all__ = ["OPTIONS", "check_options", "check_packet_options"]

_QUALIFIER = re.compile(r"\$LATEST|[A-Za-z0-9_-]{1,128}")


def _whole(low: int, high: int | None, why: str, *, optional: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value is None and optional:
            return ""
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and value >= low and (high is None or value <= high):
            return ""
        span = f"from {low:,} to {high:,}" if high is not None else f">= {low:,}"
        return f"must be {'None or ' if optional else ''}a whole number {span} ({why})"

    return check


def _seconds(low: float, high: float, why: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value) and low <= value <= high:
            return ""
        return f"must be a number of seconds >= {low:g} and <= {high:g} ({why})"

    return check


def _flag(why: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if isinstance(value, bool) else f"must be True or False ({why})"

    return check


def _name(why: str, *, optional: bool) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value is None and optional:
            return ""
        if isinstance(value, str) and value:
            return ""
        return f"must be {'None or ' if optional else ''}a non-empty string ({why})"

    return check


def _ledger(value: Any) -> str:
    named = isinstance(getattr(value, "table_name", None), str)
    if value is None or (isinstance(value, str) and value) or (hasattr(value, "claim") and named):
        return ""
    return (
        "must be None, a DynamoDB table name, or a ledger object such as "
        "relaystate.aws.DynamoDBLedger (the progress ledger)"
    )


def _tolerated(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return ""
    if isinstance(value, float) and 0 <= value < 1:
        return ""
    return (
        "must be a whole number >= 0 (shards) or a fraction from 0 to 1 (of the shards) that "
        "may fail with the job still done"
    )


def _qualifier(value: Any) -> str:
    if value is None or (isinstance(value, str) and _QUALIFIER.fullmatch(value)):
        return ""
    return "must be None or an alias or version of the worker ($LATEST, 7, live...)"


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        return "must be a string (queue names are prefix + job id)"
    queue_name_for(value, "x")  # raises InvalidQueueNameError with SQS's rule
    return ""


def _queue_name(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        return "must be None or a string (a fixed queue name instead of prefix + job id)"
    if value is not None:
        queue_name_for("", "", value)  # raises InvalidQueueNameError with SQS's rule
    return ""


#: option -> its check: an empty string when the value is accepted, else what it must be.
OPTIONS: dict[str, Callable[[Any], str]] = {
    "function_name": _name("the worker Lambda's name or ARN", optional=True),
    "queue_prefix": _prefix,
    "queue_name": _queue_name,
    "max_hops": _whole(1, None, "hops before the job fails instead of relaying"),
    "max_receive_count": _whole(
        1, 1000, "deliveries of a packet before SQS moves it to the DLQ; AWS advises at least 5"
    ),
    "max_concurrency": _whole(
        2, 1000, "the mapping's ScalingConfig.MaximumConcurrency", optional=True
    ),
    "function_timeout_s": _whole(1, 900, "the worker's timeout; None looks it up", optional=True),
    "max_message_bytes": _whole(1_024, 1_048_576, "the queue's MaximumMessageSize"),
    "allow_recursion": _flag("let Lambda run the relay beyond 16 hops"),
    "hop_time_s": _seconds(0, 900, "a hop's length when handle() gets no context"),
    "ledger": _ledger,
    "lease_margin_s": _seconds(0, 3_600, "how long a hop's lease outlives its Lambda"),
    "tolerated_failures": _tolerated,
    "function_qualifier": _qualifier,
}


#: The options' names (a set made once: a worker checks its packet's options every hop).
_NAMES = frozenset(OPTIONS)


def check_options(values: Mapping[str, Any], *, from_packet: bool = False) -> None:
    """Check option values; raise naming the first one that is wrong and what it accepts.

    Raises:
        ConfigurationError: an unknown option, or a value the option does not accept.
        InvalidPacketError: the same, for options read from a packet (``from_packet=True``).
    """
    if not values:  # most packets carry none: every hop checks them
        return
    unknown = [] if values.keys() <= _NAMES else sorted(set(values) - _NAMES)
    problems = [f"unknown option(s) {unknown}; known: {sorted(OPTIONS)}"] if unknown else []
    for name, value in values.items():
        try:
            problem = OPTIONS[name](value) if name in OPTIONS else ""
        except ConfigurationError as exc:  # a name SQS would refuse: its own error, its rule
            if not from_packet:
                raise
            problem = str(exc)
        if problem:
            problems.append(f"{name} {problem}, got {value!r}")
    if problems and from_packet:
        raise InvalidPacketError(f"the packet's options: {problems[0]}", field="options")
    if problems:
        raise ConfigurationError(problems[0])


def check_packet_options(options: Mapping[str, Any]) -> None:
    """:func:`check_options` of a packet's options (``from_packet=True``).

    Not remembered between packets: a cache matches by equality, and ``10.0 == 10`` and
    ``1 == True``, so a worker would take from one packet what it refuses from another.

    Raises:
        InvalidPacketError: as :func:`check_options` with ``from_packet=True``.
    """
    check_options(options, from_packet=True)
