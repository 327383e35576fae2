"""Time skipping for ``LocalLambda(skip_time=True)``: a virtual clock, and where it may jump to.

A job that sleeps for a day, or waits hours for a signal that does not come, is tested in
seconds: when nothing else is due, the runtime moves the clock on to the next thing that is::

    the clock       real time plus an offset that only grows (:class:`VirtualClock`): it runs
                    at real speed, and :meth:`~VirtualClock.skip` moves it on at once
    installed in    ``relaystate.clock.wall`` -- what jobs, packets and the ledger read: a
                    Sleep's wake-up, a WaitFor's deadline, the invocation log -- and moto's
                    SQS in this process, whose delays, visibility timeouts, retention and
                    ``SentTimestamp`` come from ``moto.core.utils.unix_time``, read by name in
                    ``moto.sqs.models``: both sides of a delayed message see one time
    left real       ``relaystate.clock.monotonic`` and ``.sleep``: a hop's work, its pauses and
                    its function's timeout take real time. The clock never jumps while an
                    invocation runs, so a deadline is the same on either clock
    where to jump   :func:`seconds_to_next_message`: the earliest delayed or in-flight message
                    of the polled queues, read from moto's models (there is no SQS call for
                    it); 0 when one is visible already, which is work due: no jump then
    one a process   the clock is the process's (moto's SQS and ``relaystate.clock`` are):
                    :func:`install` refuses a second one while one is installed

An endpoint served by another process (``moto_process()``, ``relaystate serve`` elsewhere,
any other SQS) keeps its own time, which this process cannot move: :func:`check_in_process`
refuses it, saying what to use instead.

Example:
    >>> virtual = VirtualClock()
    >>> virtual.skip(86_400)
    >>> round(virtual.wall() - time.time()), virtual.skipped_s
    (86400, 86400.0)
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from .. import clock
from ..errors import ConfigurationError
from .server import sqs_client

__all__ = ["VirtualClock", "check_in_process", "install", "seconds_to_next_message"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: What to do instead, for every refusal of an endpoint.
_INSTEAD = (
    "leave endpoint_url out (LocalLambda starts moto in this process), give the URL of an "
    "EmbeddedSqs or LocalEndpoint started in this process, or drop skip_time"
)

_lock = threading.Lock()
_installed: VirtualClock | None = None


class VirtualClock:
    """Real time plus an offset that only grows: seconds since the epoch, and monotonic ones.

    Example:
        >>> virtual = VirtualClock()
        >>> before = virtual.monotonic()
        >>> virtual.skip(900)
        >>> virtual.monotonic() - before >= 900
        True
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def wall(self) -> float:
        """Seconds since the epoch, on this clock."""
        return time.time() + self._offset

    def monotonic(self) -> float:
        """Seconds that never go back, on this clock (the registry's and the profiles' timers)."""
        return time.monotonic() + self._offset

    @property
    def skipped_s(self) -> float:
        """How far this clock has been moved on, in all."""
        return self._offset

    def skip(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` (nothing for 0 or less: it never goes back)."""
        if seconds > 0:
            self._offset += seconds


def install(virtual: VirtualClock) -> Callable[[], None]:
    """Make ``virtual`` the time of ``relaystate.clock.wall`` and of moto's SQS; return the undo.

    The undo puts back what was there and is idempotent.

    Raises:
        ConfigurationError: another virtual clock is installed in this process, or moto's SQS
            does not read its time by the names this replaces.
    """
    global _installed
    models = _moto_sqs()
    real_unix_time: Callable[..., float] = models.unix_time

    def unix_time(dt: Any = None) -> float:
        return real_unix_time(dt) if dt is not None else virtual.wall()

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    with _lock:
        if _installed is not None:
            raise ConfigurationError(
                "another LocalLambda with skip_time=True is open in this process, and the "
                "virtual clock is the process's (relaystate.clock and moto's SQS): close that "
                "one first, or run both jobs on one LocalLambda"
            )
        saved = (clock.wall, models.unix_time, models.unix_time_millis)
        clock.wall = virtual.wall
        models.unix_time, models.unix_time_millis = unix_time, unix_time_millis
        _installed = virtual

    def uninstall() -> None:
        global _installed
        with _lock:
            if _installed is not virtual:
                return
            clock.wall, models.unix_time, models.unix_time_millis = saved
            _installed = None

    return uninstall


def check_in_process(endpoint_url: str, region: str) -> None:
    """Refuse an SQS endpoint that moto does not serve in this process (its time is its own).

    A queue created through the endpoint must show up in this process's moto: that is the
    endpoint whose time :func:`install` moves. The probe queue is deleted again.

    Raises:
        ConfigurationError: the endpoint is off this machine, cannot be reached, or is
            served by another process; the message says what to do.
    """
    why = "skip_time=True moves the clock of moto's SQS in this process"
    if urlsplit(endpoint_url).hostname not in _LOOPBACK:
        raise ConfigurationError(f"{why}; {endpoint_url} is not on this machine: {_INSTEAD}")
    from botocore.exceptions import BotoCoreError, ClientError

    client = sqs_client(endpoint_url, region)
    name = f"relaystate-skip-time-probe-{uuid.uuid4().hex[:12]}"
    try:
        try:
            url = client.create_queue(QueueName=name)["QueueUrl"]
        except (BotoCoreError, ClientError) as exc:
            raise ConfigurationError(
                f"{why}; {endpoint_url} could not be asked whether it is moto in this process "
                f"({exc}): {_INSTEAD}"
            ) from exc
        account = urlsplit(url).path.strip("/").split("/")[0]
        here = _queue(f"arn:aws:sqs:{region}:{account}:{name}") is not None
        with contextlib.suppress(BotoCoreError, ClientError):  # moto deletes it at once
            client.delete_queue(QueueUrl=url)
    finally:
        client.close()
    if not here:
        raise ConfigurationError(
            f"{why}; {endpoint_url} is served by another process (moto_process(), "
            f"`relaystate serve` elsewhere, or another SQS), whose time it cannot move: "
            f"{_INSTEAD}"
        )


def seconds_to_next_message(queue_arns: Iterable[str]) -> float | None:
    """Seconds until a message of these queues can next be received, on the installed clock.

    0 when one is visible now; ``None`` when they hold none (or are not this process's moto).
    A delayed message is due when its delay ends, an in-flight one when its visibility
    timeout does.

    Example:
        >>> seconds_to_next_message([m.queue_arn for m in lam.mappings.active()])
        ... # doctest: +SKIP
        899.87
    """
    now_ms = _moto_sqs().unix_time_millis()
    due_ms: float | None = None
    for arn in queue_arns:
        queue = _queue(arn)
        for message in list(getattr(queue, "_messages", ())):
            if message.delayed:
                at = float(message.delayed_until)
            elif not message.visible:
                at = float(message.visible_at)
            else:
                return 0.0
            due_ms = at if due_ms is None else min(due_ms, at)
    return None if due_ms is None else max(0.0, (due_ms - now_ms) / 1000)


def _moto_sqs() -> Any:
    """``moto.sqs.models``, if it reads its time by the names :func:`install` replaces (a
    module whose names are replaced: typed ``Any``)."""
    from moto.sqs import models

    if not (callable(getattr(models, "unix_time", None)) and hasattr(models, "sqs_backends")):
        raise ConfigurationError(  # pragma: no cover - moto 5 has them
            "skip_time=True does not know this moto's SQS (moto.sqs.models.unix_time and "
            "sqs_backends are missing): install moto 5, or drop skip_time"
        )
    return models


def _queue(queue_arn: str) -> Any:
    """moto's ``Queue`` of ``arn:aws:sqs:REGION:ACCOUNT:NAME`` in this process, or ``None``."""
    parts = queue_arn.split(":")
    if len(parts) != 6:
        return None
    region, account, name = parts[3], parts[4], parts[5]
    try:
        return _moto_sqs().sqs_backends[account][region].queues.get(name)
    except (KeyError, AttributeError):
        return None
