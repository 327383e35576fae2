"""LocalLambda's fidelity profiles by name: ``latency="aws"``, ``consistency="aws"``.

Each option takes a profile's name, an object (:class:`~relaystate.local.latency.Latency`,
:class:`~relaystate.local.consistency.Consistency`), or ``None`` (off: moto's speed and
moto's at-once consistency).

Example:
    >>> latency_of("aws") == Latency.aws(), consistency_of(None)
    (True, None)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from ..errors import ConfigurationError
from .consistency import Consistency
from .latency import Latency

__all__ = [
    "CONSISTENCY_PROFILES",
    "LATENCY_PROFILES",
    "consistency_of",
    "latency_of",
    "mapping_transitions",
]

#: ``latency=`` profiles by name.
LATENCY_PROFILES: Mapping[str, Callable[[], Latency]] = {"aws": Latency.aws}
#: ``consistency=`` profiles by name.
CONSISTENCY_PROFILES: Mapping[str, Callable[[], Consistency]] = {"aws": Consistency.aws}

_P = TypeVar("_P", Latency, Consistency)


def latency_of(value: str | Latency | None) -> Latency | None:
    """The :class:`Latency` that ``latency=value`` means.

    Raises:
        ConfigurationError: an unknown name, or anything else.
    """
    return _resolve("latency", value, Latency, LATENCY_PROFILES)


def consistency_of(value: str | Consistency | None) -> Consistency | None:
    """The :class:`Consistency` that ``consistency=value`` means.

    Raises:
        ConfigurationError: an unknown name, or anything else.
    """
    return _resolve("consistency", value, Consistency, CONSISTENCY_PROFILES)


def mapping_transitions(
    mapping_transition_s: float, consistency: Consistency | None
) -> tuple[float, float]:
    """How long a mapping stays ``Creating`` and ``Deleting``: the consistency profile's
    ``mapping_create_s`` and ``mapping_delete_s``, else ``mapping_transition_s`` for both.

    Example:
        >>> mapping_transitions(0.5, None)
        (0.5, 0.5)

    Raises:
        ConfigurationError: both were given.
    """
    if consistency is None:
        return mapping_transition_s, mapping_transition_s
    if mapping_transition_s:
        raise ConfigurationError(
            "give mapping_transition_s or a consistency profile, not both: the profile's "
            "mapping_create_s and mapping_delete_s are the mapping transitions"
        )
    return consistency.mapping_create_s, consistency.mapping_delete_s


def _resolve(
    option: str,
    value: str | _P | None,
    kind: type[_P],
    profiles: Mapping[str, Callable[[], _P]],
) -> _P | None:
    if value is None or isinstance(value, kind):
        return value
    if isinstance(value, str) and value in profiles:
        return profiles[value]()
    raise ConfigurationError(
        f"{option} must be None, one of {sorted(profiles)}, or a "
        f"{kind.__module__}.{kind.__name__}; got {value!r}"
    )
