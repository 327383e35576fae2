"""A job's stats: what it has done so far, summed over its hops, as its packets carry them.

:class:`Stats` is a field of every :class:`~relaystate.packet.RelayPacket` (and importable from
:mod:`relaystate.packet` and :mod:`relaystate`); it lives here, under the packet and its wire
format (:mod:`relaystate.wire`), because both build it.

Example:
    >>> Stats(hops=2, units=40).to_dict()
    {'hops': 2, 'relays': 0, 'units': 40, 'work_ms': 0, 'retries': 0}
"""

from __future__ import annotations

import attrs

from .errors import InvalidPacketError
from .evolve import evolver

__all__ = ["Stats"]


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is int and value >= 0:  # the common case, decided without isinstance()
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidPacketError(
            f"{attribute.name} must be a whole number >= 0, got {value!r}", field=attribute.name
        )


@attrs.frozen(kw_only=True, slots=False)  # fields in __dict__: see relaystate.evolve
class Stats:
    """What a job has done so far, summed over its hops.

    Example:
        >>> Stats(units=3).units
        3
    """

    #: Hops that ran (a hop is one worker invocation for one packet).
    hops: int = attrs.field(default=0, validator=_non_negative)
    #: Packets sent to the queue after the first (the npm library's ``sqsCount``).
    relays: int = attrs.field(default=0, validator=_non_negative)
    #: Units of work done (calls of ``step`` that returned).
    units: int = attrs.field(default=0, validator=_non_negative)
    #: Milliseconds spent inside ``step``.
    work_ms: int = attrs.field(default=0, validator=_non_negative)
    #: Hops that ended in an error and were retried from the same packet.
    retries: int = attrs.field(default=0, validator=_non_negative)
    #: Hops that only waited (the wake-ups of a long ``Sleep``, of a ``WaitFor``'s timeout):
    #: they run no unit and do not count against ``max_hops``.
    waits: int = attrs.field(default=0, validator=_non_negative)

    def evolve(self, **changes: int) -> Stats:
        """New stats with ``changes`` applied (``attrs.evolve``, quicker: a hop makes two).

        Example:
            >>> Stats(units=3).evolve(units=5).units
            5
        """
        return _evolve(self, changes)

    def added(self, **counts: int) -> Stats:
        """These stats with ``counts`` added to theirs (what a hop does to them: quicker than
        :meth:`evolve`, which checks every changed field again, while a sum of whole numbers
        >= 0 is one).

        Example:
            >>> Stats(hops=2, units=40).added(hops=1, units=5)
            Stats(hops=3, relays=0, units=45, work_ms=0, retries=0, waits=0)

        Raises:
            InvalidPacketError: a count is not a whole number >= 0.
            TypeError: a name is not a field of the stats.
        """
        new = object.__new__(Stats)
        values = new.__dict__
        values.update(self.__dict__)
        for name, count in counts.items():
            if name not in values:
                raise TypeError(f"Stats has no field {name!r}")
            if type(count) is not int or count < 0:  # refused as the field's validator does
                _non_negative(self, attrs.fields_dict(Stats)[name], count)
            values[name] += count
        return new

    def _hop(self, units: int, work_ms: int, retries: int) -> Stats:
        """:meth:`added` of a hop's own counts -- one hop, its ``units``, ``work_ms`` and
        ``retries`` -- without a keyword dict or a walk over it (every hop).

        Raises:
            InvalidPacketError: a count is not a whole number >= 0.
        """
        if not (
            type(units) is int
            and type(work_ms) is int
            and type(retries) is int
            and units >= 0
            and work_ms >= 0
            and retries >= 0
        ):
            for name, count in (("units", units), ("work_ms", work_ms), ("retries", retries)):
                _non_negative(self, attrs.fields_dict(Stats)[name], count)  # one of them raises
        new = object.__new__(Stats)
        values = new.__dict__
        values.update(self.__dict__)
        values["hops"] += 1
        values["units"] += units
        values["work_ms"] += work_ms
        values["retries"] += retries
        return new

    def _relayed(self) -> Stats:
        """``added(relays=1)``: one packet more sent (every relay)."""
        new = object.__new__(Stats)
        values = new.__dict__
        values.update(self.__dict__)
        values["relays"] += 1
        return new

    def to_dict(self) -> dict[str, int]:
        """The stats as a plain ``dict`` (``waits`` only when there were any)."""
        # What attrs.asdict gives for these int fields, without its generic walk (every hop):
        # the fields are in __dict__, in field order (set by __init__, or copied by evolve).
        found = self.__dict__.copy()
        if not self.waits:
            del found["waits"]
        return found


_evolve = evolver(Stats)
_STATS_FIELDS = tuple(field.name for field in attrs.fields(Stats))
_ZERO = Stats().__dict__


def _trusted_stats(values: dict[str, int]) -> Stats:
    """``Stats(**values)`` for values already checked to be fields' names and whole numbers
    >= 0 (what its validators check): read from a packet on every hop, checked once."""
    new = object.__new__(Stats)
    found = new.__dict__
    found.update(_ZERO)
    found.update(values)
    return new
