"""A hop timeline: each hop's record, kept in the ledger for a job whose class says ``timeline``.

With ``timeline = True`` on a job class (and a ledger), every hop's end writes a
:class:`HopEntry` -- when it began and ended, its units and utilization, how it ended, the
delay before the next hop -- in the very ledger write that ends it: the checkpoint's
``UpdateItem`` (or the shard's end, or a wait's), so a hop still costs two writes. The entry
goes into one of :data:`TIMELINE_HOPS` slots of the shard's record (``tl00`` .. ``tl99``,
``hop % 100``): the record keeps the last 100 hops of each shard, and never grows past that.

What it costs: DynamoDB bills a write by the size of the item (one write unit per KB, the
larger of before and after), and a claim or checkpoint rewrites the shard's record. An entry
is about 60 bytes of compact JSON, so a shard's timeline adds up to about 6 KB: the claim and
the checkpoint of a shard with a full timeline cost up to 7 write units each instead of 1
($0.625 per million write units on demand: about $8 per million hops at worst). The records
expire with the job's others (:func:`relaystate.ledger.expires_s`). ``relaystate timeline
JOB_ID`` reads them back (:attr:`relaystate.ledger.ShardStatus.timeline`) and draws the page.

Example:
    >>> entry = HopEntry(hop=3, started_ms=1_000, ended_ms=3_500, units=40, work_ms=2_300,
    ...                  utilization=0.92, outcome="relayed", delay_s=5, memory_mb=512)
    >>> slot(entry.hop), HopEntry.decode(entry.encode()) == entry
    ('tl03', True)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import attrs

__all__ = ["ERROR_CHARS", "TIMELINE_HOPS", "HopEntry", "entries", "is_slot", "slot"]

#: Hops of each shard a timeline keeps (the last ones): the slots of a shard's record.
TIMELINE_HOPS = 100
#: A hop's error is kept up to this many characters (the page shows it on hover).
ERROR_CHARS = 160
_PREFIX = "tl"


def _short(text: object) -> str:
    return str(text)[:ERROR_CHARS]


@attrs.frozen(kw_only=True)
class HopEntry:
    """One hop as the timeline keeps it.

    Attributes:
        hop: the hop's number in its shard.
        started_ms, ended_ms: when it began and ended its work (ms since the epoch; its end
            is the ledger write that ended it).
        units: units of work it ran.
        work_ms: time spent inside ``step``.
        utilization: ``work_ms`` over the time the hop had (its Lambda's remaining time at
            the start), 0 to 1.
        outcome: ``relayed``, ``retrying``, ``sleeping``, ``waiting``, ``finishing``,
            ``finished`` or ``failed``.
        delay_s: the delay before the next hop (a retry's, a rate limit's, a sleep's).
        memory_mb: the Lambda's memory size (0: unknown), for the cost of its time.
        error: the unit's error, cut to :data:`ERROR_CHARS`, or ``""``.
    """

    hop: int
    started_ms: int
    ended_ms: int
    units: int = 0
    work_ms: int = 0
    utilization: float = 0.0
    outcome: str = ""
    delay_s: int = 0
    memory_mb: int = 0
    error: str = attrs.field(default="", converter=_short)

    @property
    def duration_ms(self) -> int:
        """How long the hop ran, from its start to the write that ended it."""
        return max(self.ended_ms - self.started_ms, 0)

    def encode(self) -> str:
        """The entry as a ledger keeps it: one compact JSON list (about 60 bytes)."""
        row = [
            self.hop,
            self.started_ms,
            self.duration_ms,
            self.units,
            self.work_ms,
            round(self.utilization * 10_000),
            self.outcome,
            self.delay_s,
            self.memory_mb,
        ]
        if self.error:
            row.append(self.error)
        return json.dumps(row, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> HopEntry:
        """The entry :meth:`encode` wrote.

        Raises:
            ValueError: the text is not an entry.
        """
        row = json.loads(text)
        if not isinstance(row, list) or len(row) < 9:
            raise ValueError(f"not a hop timeline entry: {text[:80]!r}")
        hop, started, duration, units, work, permyriad, outcome, delay, memory = row[:9]
        return cls(
            hop=int(hop),
            started_ms=int(started),
            ended_ms=int(started) + int(duration),
            units=int(units),
            work_ms=int(work),
            utilization=int(permyriad) / 10_000,
            outcome=str(outcome),
            delay_s=int(delay),
            memory_mb=int(memory),
            error=str(row[9]) if len(row) > 9 else "",
        )


def slot(hop: int) -> str:
    """The attribute of a shard's record that keeps hop ``hop``'s entry (a ring of slots).

    Example:
        >>> slot(7), slot(107)
        ('tl07', 'tl07')
    """
    return f"{_PREFIX}{hop % TIMELINE_HOPS:02d}"


def is_slot(name: str) -> bool:
    """Whether a record's attribute is a timeline slot.

    Example:
        >>> is_slot("tl42"), is_slot("stats")
        (True, False)
    """
    return len(name) == len(_PREFIX) + 2 and name.startswith(_PREFIX) and name[2:].isdigit()


def entries(slots: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[HopEntry, ...]:
    """The entries of a record's slots (``name -> encoded entry``), in hop order; what cannot
    be read is left out.

    Example:
        >>> entries({"tl01": HopEntry(hop=1, started_ms=5, ended_ms=9).encode(),
        ...          "stats": "{}"})[0].duration_ms
        4
    """
    pairs = slots.items() if isinstance(slots, Mapping) else slots
    found: list[HopEntry] = []
    for name, text in pairs:
        if not is_slot(name):
            continue
        try:
            found.append(HopEntry.decode(text))
        except (ValueError, TypeError):
            continue  # a damaged slot costs its bar, not the page
    return tuple(sorted(found, key=lambda e: e.hop))
