"""Job control in a simulation, as a user scripts it: :class:`SimControl`, its signals and pauses.

What the user of a simulated job does from outside, and when -- each time in seconds after
``job.start()`` returned, a number or a range ``(low, high)`` from which each run draws its own
(uniformly, from the run's seed)::

    SimSignal(name, payload, at_s)   job.signal(name, payload): before the wait begins, while
                                     it waits, or after its timeout, as the draw falls; two
                                     of one name are a signal sent twice (with another
                                     payload, the second is refused: the first stands)
    SimPause(at_s, for_s)            job.pause(), then job.unpause() ``for_s`` later: while
                                     hops are in flight, while the job sleeps or waits, or for
                                     longer than the queue keeps a message

The user (:mod:`~relaystate.testing.sim.user`) attaches to the job by its id for each act, as
a person at a terminal would (``relaystate signal``, ``relaystate pause``); the invariants of
:mod:`~relaystate.testing.sim.control_checks` hold the job to what these acts promise.

Example:
    >>> control = SimControl(
    ...     signals=(SimSignal("approved", {"by": "ann"}, at_s=(0, 3_000)),),
    ...     pauses=(SimPause(at_s=(0, 60), for_s=(10, 20 * 86_400)),),
    ... )
    >>> control.signals[0].at_s, control.pauses[0].at_s
    ((0.0, 3000.0), (0.0, 60.0))
    >>> import random
    >>> 0.0 <= control.signals[0].draw(random.Random(1)) <= 3_000.0
    True
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import attrs

from ...errors import ConfigurationError
from ...frozen import JsonValue, freeze
from ...signals import check_signal_name

__all__ = ["SimControl", "SimPause", "SimSignal", "Span"]

#: A time or a length in seconds: ``(low, high)``, drawn uniformly in each run (equal ends: fixed).
Span = tuple[float, float]


def span(value: Any) -> Span:
    """``value`` as a :data:`Span`: a number, or a pair ``(low, high)`` with ``0 <= low <= high``.

    Raises:
        ConfigurationError: anything else.

    Example:
        >>> span(5), span((1, 2.5))
        ((5.0, 5.0), (1.0, 2.5))
    """
    pair = value if isinstance(value, tuple | list) else (value, value)
    ok = len(pair) == 2 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair
    )
    if not ok or not 0 <= pair[0] <= pair[1]:
        raise ConfigurationError(
            f"a time in seconds is a number or a pair (low, high), 0 <= low <= high; got {value!r}"
        )
    return float(pair[0]), float(pair[1])


def _draw(between: Span, rng: random.Random) -> float:
    low, high = between
    return low if low == high else rng.uniform(low, high)


def _name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_signal_name(value)


def _payload(value: Any) -> JsonValue:
    return freeze(value, "SimSignal.payload")


@attrs.frozen
class SimSignal:
    """The user sends signal ``name`` with ``payload`` at ``at_s`` (see the module's
    documentation).

    Args:
        name: the signal's name.
        payload: its payload (JSON).
        at_s: when, in seconds after the start: a number or a range ``(low, high)``.

    Example:
        >>> SimSignal("approved", {"by": "ann"}, at_s=60).at_s
        (60.0, 60.0)
    """

    name: str = attrs.field(validator=_name)
    payload: JsonValue = attrs.field(default=None, converter=_payload)
    at_s: Span = attrs.field(default=(0.0, 0.0), converter=span)

    def draw(self, rng: random.Random) -> float:
        """When this run's user sends it."""
        return _draw(self.at_s, rng)


@attrs.frozen
class SimPause:
    """The user pauses the job at ``at_s`` and unpauses it ``for_s`` later (see the module's
    documentation).

    Args:
        at_s: when it pauses, in seconds after the start: a number or a range.
        for_s: how long the pause lasts, from ``job.pause()`` to ``job.unpause()``.

    Example:
        >>> SimPause(at_s=(0, 60), for_s=15 * 86_400).for_s
        (1296000.0, 1296000.0)
    """

    at_s: Span = attrs.field(converter=span)
    for_s: Span = attrs.field(converter=span)

    def draw(self, rng: random.Random) -> tuple[float, float]:
        """When this run's user pauses, and for how long."""
        return _draw(self.at_s, rng), _draw(self.for_s, rng)


def _signals(value: Iterable[SimSignal]) -> tuple[SimSignal, ...]:
    return tuple(value)


def _pauses(value: Iterable[SimPause]) -> tuple[SimPause, ...]:
    return tuple(value)


@attrs.frozen
class SimControl:
    """What the user does to the job in each run: its signals and its pauses.

    Args:
        signals: the signals it sends, in any order.
        pauses: the pauses it makes, each unpaused in its turn.

    Example:
        >>> bool(SimControl()), bool(SimControl(pauses=[SimPause(10, 600)]))
        (False, True)
    """

    signals: tuple[SimSignal, ...] = attrs.field(default=(), converter=_signals)
    pauses: tuple[SimPause, ...] = attrs.field(default=(), converter=_pauses)

    def __bool__(self) -> bool:
        return bool(self.signals or self.pauses)
