"""LocalLambda's options, checked as it is made: a value AWS would refuse is refused at once.

The profiles (``latency=``, ``consistency=``) are resolved in :mod:`~relaystate.local.profiles`;
the rest is checked here, before an endpoint is started, and the error says what is taken.

Example:
    >>> check_options(concurrency=4, retry_delay_s=0.2, faults=None, poll_interval_s=0.05)
    >>> check_options(concurrency=0, retry_delay_s=None, faults=None, poll_interval_s=0.05)
    Traceback (most recent call last):
    ...
    relaystate.errors.ConfigurationError: concurrency must be a whole number >= 1, got 0
"""

from __future__ import annotations

from ..errors import ConfigurationError
from .faults import Faults

__all__ = ["check_options"]

#: The longest ``ChangeMessageVisibility`` takes: 12 hours.
_MAX_VISIBILITY_S = 43_200


def check_options(
    *,
    concurrency: object,
    retry_delay_s: object,
    faults: object,
    poll_interval_s: float,
    skip_time: object = False,
) -> None:
    """Refuse a ``LocalLambda`` option that the service (or the runtime) could not honour.

    Raises:
        ConfigurationError: an option out of range or of the wrong kind; the message names it.
    """
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    if retry_delay_s is not None and (
        isinstance(retry_delay_s, bool)
        or not isinstance(retry_delay_s, int | float)
        or not 0 <= retry_delay_s <= _MAX_VISIBILITY_S
    ):
        raise ConfigurationError(
            "retry_delay_s must be None or seconds 0..43200 (what "
            f"ChangeMessageVisibility accepts), got {retry_delay_s!r}"
        )
    if faults is not None and not isinstance(faults, Faults):
        raise ConfigurationError(
            f"faults must be a relaystate.local.Faults or None, got {faults!r}"
        )
    if poll_interval_s <= 0:
        raise ConfigurationError(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
    if not isinstance(skip_time, bool):
        raise ConfigurationError(f"skip_time must be True or False, got {skip_time!r}")
