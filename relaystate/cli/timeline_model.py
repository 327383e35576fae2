"""What a timeline page shows: a job's hops as bars, lane by shard, the gaps between, the totals.

Two sources make a :class:`Timeline`::

    from_status   a job in a ledger that kept its hops (``timeline = True``): each shard's
                  entries (:mod:`relaystate.timeline`); the AWS calls are estimated from how
                  each hop ended (:data:`HOP_CALLS`), as the ledger does not count them
    from_run      a local run (``relaystate run --timeline``): the hop records its workers
                  logged and LocalLambda's invocation log -- the invocations that failed
                  (timed out, crashed) have a lane of their own -- and its exact AWS calls

The gap after a hop says why the next one waited: its retry delay, a sleep, a wait for a
signal, a delayed relay, or only the queue (SQS's delivery, or a failed invocation's
redelivery). :mod:`~relaystate.cli.timeline_page` draws it.

Example:
    >>> timeline = from_status(job_status, table="relaystate-ledger")  # doctest: +SKIP
    >>> len(timeline.bars), timeline.totals.cost.total  # doctest: +SKIP
    (12, 4.1e-05)
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..frozen import FrozenDict
from ..pricing import Cost, cost_usd, usage_of_calls
from ..timeline import TIMELINE_HOPS, HopEntry

if TYPE_CHECKING:
    from ..ledger import JobStatus
    from ..local.invocation import Invocation

__all__ = ["HOP_CALLS", "Bar", "Gap", "Timeline", "Totals", "from_run", "from_status"]

#: The memory size assumed when a hop did not record its own (Lambda's default).
DEFAULT_MEMORY_MB = 128

_RELAY = {"UpdateItem": 2, "SendMessage": 1}
_END = {"UpdateItem": 1, "TransactWriteItems": 1, "GetItem": 1}
#: The AWS calls a hop makes with a ledger, by how it ended: its claim, its checkpoint (or
#: the shard's end) and its send. What a timeline of a ledger estimates the calls from.
HOP_CALLS: Mapping[str, Mapping[str, int]] = {
    "relayed": _RELAY,
    "retrying": _RELAY,
    "sleeping": _RELAY,
    "finishing": _RELAY,
    "waiting": {"UpdateItem": 2, "Query": 1},
    "finished": _END,
    "failed": {**_END, "SendMessage": 1},
}
#: The start's calls (queue, DLQ, their attributes, the mapping, the ledger's record) and
#: the teardown's (the join, the mapping and queues deleted, the ledger told).
_START = {
    "CreateQueue": 2,
    "GetQueueAttributes": 2,
    "SetQueueAttributes": 1,
    "UpdateItem": 1,
    "CreateEventSourceMapping": 1,
    "GetEventSourceMapping": 1,
    "PutFunctionRecursionConfig": 1,
}
_TEARDOWN = {
    "UpdateItem": 2,
    "GetItem": 1,
    "Query": 1,
    "DeleteEventSourceMapping": 1,
    "GetEventSourceMapping": 1,
    "GetQueueAttributes": 1,
    "DeleteQueue": 2,
}


@attrs.frozen(kw_only=True)
class Bar(HopEntry):
    """One hop of a shard: its :class:`~relaystate.timeline.HopEntry` and the shard's number.

    In the lane of failed invocations, a bar is one invocation that failed: ``shard`` is
    ``-1``, as which shard it ran is not known.
    """

    shard: int

    @classmethod
    def of(cls, shard: int, entry: HopEntry) -> Bar:
        """The bar of a shard's entry."""
        return cls(shard=shard, **attrs.asdict(entry, recurse=False))


@attrs.frozen
class Gap:
    """The time between a hop and the next of its shard, and why it was spent waiting."""

    shard: int
    start_ms: int
    end_ms: int
    #: ``retry``, ``sleep``, ``wait``, ``delay`` or ``queue``.
    kind: str
    why: str


@attrs.frozen(kw_only=True)
class Totals:
    """The job's totals, on top of the page."""

    hops: int
    units: int
    invocations: int
    failed_invocations: int
    #: Time spent in ``step``, and the Lambda time billed (the invocations' durations).
    used_ms: float
    paid_ms: float
    memory_mb: int
    aws_calls: Mapping[str, int] = attrs.field(converter=FrozenDict)
    #: The calls are estimated (from a ledger's hop records), not counted.
    estimated: bool
    cost: Cost


@attrs.frozen(kw_only=True)
class Timeline:
    """A job's hops, as the page draws them."""

    job_id: str
    job_type: str
    state: str
    shards: int
    bars: tuple[Bar, ...]
    failed: tuple[Bar, ...] = ()
    totals: Totals
    #: Where the hops were read from (``the ledger table T``, ``a local run``).
    source: str
    notes: tuple[str, ...] = ()

    @property
    def start_ms(self) -> int:
        return min((b.started_ms for b in (*self.bars, *self.failed)), default=0)

    @property
    def end_ms(self) -> int:
        return max((b.ended_ms for b in (*self.bars, *self.failed)), default=0)

    def lanes(self) -> dict[int, list[Bar]]:
        """Each shard's bars, in hop order (shards without a bar have an empty lane)."""
        lanes: dict[int, list[Bar]] = {shard: [] for shard in range(self.shards)}
        for bar in sorted(self.bars, key=lambda b: (b.shard, b.hop, b.started_ms)):
            lanes.setdefault(bar.shard, []).append(bar)
        return lanes

    def gaps(self) -> list[Gap]:
        """Every gap between a hop and the next of its shard, with why it waited."""
        found: list[Gap] = []
        for shard, bars in self.lanes().items():
            for before, after in itertools.pairwise(bars):
                if after.started_ms > before.ended_ms:
                    kind, why = _why(before)
                    found.append(Gap(shard, before.ended_ms, after.started_ms, kind, why))
        return found


def _why(before: Bar) -> tuple[str, str]:
    delay = f"{before.delay_s} s"
    if before.outcome == "retrying":
        return "retry", f"retry delay ({delay}, the Retry policy) after a unit error"
    if before.outcome == "sleeping":
        return "sleep", f"sleeping (Sleep; relayed with a {delay} delay)"
    if before.outcome == "waiting":
        return "wait", "waiting for a signal (WaitFor)"
    if before.delay_s:
        return "delay", f"relayed with a {delay} delay (the rate limit)"
    return "queue", "in the queue: SQS's delivery, or a failed invocation delivered again"


def from_status(status: JobStatus, *, table: str) -> Timeline:
    """The timeline of a job as a ledger kept it (its shards' hop entries).

    The AWS calls are estimated from how each hop ended (:data:`HOP_CALLS`) plus the start's
    and the teardown's; Lambda's billed time is the hops' (a failed invocation left no entry).
    """
    bars: list[Bar] = []
    memory: list[int] = []
    notes: list[str] = []
    for shard in status.shard_status:
        for entry in shard.timeline:
            memory.append(entry.memory_mb)
            bars.append(Bar.of(shard.shard, entry))
        if shard.timeline and shard.timeline[0].hop > 0:
            notes.append(
                f"shard {shard.shard}: the ledger keeps the last {TIMELINE_HOPS} hops; the "
                f"first {shard.timeline[0].hop} are not shown"
            )
    calls: collections.Counter[str] = collections.Counter()
    for bar in bars:
        calls.update(HOP_CALLS.get(bar.outcome, {}))
    calls.update(_START)
    calls["SendMessageBatch" if status.shards > 1 else "SendMessage"] += math.ceil(
        status.shards / 10
    )
    if status.state.value in ("torn_down", "failed"):
        calls.update(_TEARDOWN)
    memory_mb = max(memory, default=0) or DEFAULT_MEMORY_MB
    paid_ms = float(sum(b.duration_ms for b in bars))
    return Timeline(
        job_id=status.job_id,
        job_type=status.job_type,
        state=status.state.value,
        shards=status.shards,
        bars=tuple(bars),
        totals=_totals(bars, len(bars), 0, paid_ms, memory_mb, calls, estimated=True),
        source=f"the ledger table {table}",
        notes=tuple(notes),
    )


def from_run(
    *,
    job_id: str,
    job_type: str,
    state: str,
    shards: int,
    records: Iterable[Mapping[str, Any]],
    invocations: Sequence[Invocation],
    aws_calls: Mapping[str, int],
    memory_mb: int,
) -> Timeline:
    """The timeline of a local run: its hop records (``record.relaystate_hop``, with
    ``started_ms``/``ended_ms``), its invocations, and the AWS calls it counted."""
    bars = [_bar(record) for record in records if "started_ms" in record]
    ran = [i for i in invocations if i.outcome != "dropped"]
    failed = tuple(
        Bar(
            shard=-1,
            hop=n,
            started_ms=i.started_ms,
            ended_ms=i.started_ms + round(i.duration_ms),
            outcome=f"invocation {i.outcome}",
            error=i.error,
        )
        for n, i in enumerate(ran)
        if i.outcome in ("error", "timeout", "crash", "partial")
    )
    paid_ms = float(sum(i.duration_ms for i in ran))
    deliveries = sum(len(i.message_ids) for i in ran)
    return Timeline(
        job_id=job_id,
        job_type=job_type,
        state=state,
        shards=shards,
        bars=tuple(bars),
        failed=failed,
        totals=_totals(
            bars, len(ran), len(failed), paid_ms, memory_mb, aws_calls, deliveries=deliveries
        ),
        source="a local run (LocalLambda)",
    )


def _bar(record: Mapping[str, Any]) -> Bar:
    return Bar(
        shard=int(record.get("shard", 0)),
        hop=int(record.get("hop", 0)),
        started_ms=int(record["started_ms"]),
        ended_ms=int(record.get("ended_ms", record["started_ms"])),
        outcome=str(record.get("outcome", "")),
        units=int(record.get("units", 0)),
        work_ms=int(record.get("work_ms", 0)),
        utilization=float(record.get("utilization", 0.0)),
        delay_s=int(record.get("delay_s", 0) or 0),
        error=str(record.get("error", "")),
    )


def _totals(
    bars: Sequence[Bar],
    invocations: int,
    failed: int,
    paid_ms: float,
    memory_mb: int,
    calls: Mapping[str, int],
    *,
    estimated: bool = False,
    deliveries: int | None = None,
) -> Totals:
    gb_s = paid_ms / 1000 * memory_mb / 1024
    usage = usage_of_calls(calls, invocations=invocations, gb_s=gb_s, deliveries=deliveries)
    return Totals(
        hops=len(bars),
        units=sum(b.units for b in bars),
        invocations=invocations,
        failed_invocations=failed,
        used_ms=float(sum(b.work_ms for b in bars)),
        paid_ms=paid_ms,
        memory_mb=memory_mb,
        aws_calls=dict(calls),
        estimated=estimated,
        cost=cost_usd(usage),
    )
