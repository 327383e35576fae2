"""What job control must show in every simulated run: the invariants of signals, waits, sleeps
and pauses (:func:`control_checks`), checked with :mod:`~relaystate.testing.sim.invariants`.

::

    a signal sent is never lost         a hop woken from a WaitFor whose signal was recorded
                                        before the wait's deadline runs with it; every hop
                                        that runs with it sees the payload that stands (the
                                        first: a second payload is refused); a wait whose
                                        signal came wakes
    a wait or sleep wakes once, never   the unit after a Sleep runs no sooner than its
      early                             seconds after it, the unit after a WaitFor without
                                        its signal no sooner than its timeout (and never,
                                        without one); the hop that runs it is committed once
                                        (no fork by a duplicate of the delayed or parked
                                        packet); a sleep or a timed-out wait wakes
    a paused job runs no hop            no invocation is delivered between pause() returning
                                        and an unpause() that may have come after it (called
                                        later, or called before and returned later: with a
                                        ledger pauses and unpauses take turns, and one that
                                        waited for the other runs after it); with a ledger,
                                        none while the ledger records the job paused (two
                                        calls that race leave the ledger and the mapping in
                                        agreement); hops in flight before finish; after
                                        unpause the job goes on (the other invariants hold it
                                        to every unit, run once)
    nothing lost to retention           no packet a shard still needed outlived its queue's
                                        retention (a copy is stale once another message
                                        carried its packet, or a later one of its shard): a
                                        pause longer than SQS keeps a message parks them
    at most one wake-up per 900 s of    a sleeping or waiting shard is sent at most one
      sleep                             message per 900 s (SQS's longest delay), plus one --
                                        and one more for each signal, two for each unpause
                                        (parked packets are sent back), and one for each hop
                                        committed by an invocation that then failed (it may
                                        have died before its send, which the redelivery
                                        makes): counted where delivered, each message once
                                        (a duplicate delivery or a redelivery after a crash
                                        is the fault's cost, not the sleep's)

Times compare on the virtual clock, to the millisecond the ledger and the packets keep.
"""

from __future__ import annotations

import bisect
import collections
import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from ...frozen import thaw
from ...signals import WaitFor
from ...sleep import MAX_DELAY_S, Sleep
from .record import Commit, Record, SignalRecorded, UnitRun, packet_ref, who
from .world import EPOCH_S

__all__ = [
    "CONTROL_INVARIANTS",
    "NO_EARLY_WAKE",
    "PAUSE_HOLDS",
    "RETENTION_KEPT",
    "SIGNAL_KEPT",
    "SLEEP_COST",
    "RunView",
    "control_checks",
]

SIGNAL_KEPT = "a signal sent is never lost"
NO_EARLY_WAKE = "a wait or sleep wakes once, never early"
PAUSE_HOLDS = "a paused job runs no hop"
RETENTION_KEPT = "nothing lost to retention"
SLEEP_COST = "at most one wake-up per 900 s of sleep"
#: The invariants of job control, in the order they are checked and reported.
CONTROL_INVARIANTS = (SIGNAL_KEPT, NO_EARLY_WAKE, PAUSE_HOLDS, RETENTION_KEPT, SLEEP_COST)

#: Packets and the ledger keep whole milliseconds.
_TOLERANCE_S = 0.002
_MISSING = object()


class RunView(Protocol):
    """What the checks read of a run besides its record: its commits and how shards ended."""

    record: Record
    settled: bool
    commits: list[Commit]

    def finished(self, shard: int) -> bool:
        """Whether the shard's units ran, from its first cursor, to DONE."""

    def outcome(self, shard: int) -> str:
        """``done``, ``failed``, or empty."""


def control_checks(view: RunView) -> tuple[tuple[str, Callable[[], Iterable[str]]], ...]:
    """Each invariant of job control, with what yields its cases for ``view``'s run."""
    checks = _Checks(view)
    return (
        (SIGNAL_KEPT, checks.signal_kept),
        (NO_EARLY_WAKE, checks.wakes_once),
        (PAUSE_HOLDS, checks.pause_holds),
        (RETENTION_KEPT, checks.retention_kept),
        (SLEEP_COST, checks.sleep_cost),
    )


class _Checks:
    def __init__(self, view: RunView) -> None:
        self.view = view
        record = self.record = view.record
        #: The signal of each name that stands: the first the ledger recorded.
        self.first: dict[str, SignalRecorded] = {}
        for signal in sorted(record.signals, key=lambda s: s.at):
            self.first.setdefault(signal.name, signal)
        #: Each hop's run's units, in order: by (invocation, shard, hop).
        self.runs: dict[tuple[int, int, int], list[UnitRun]] = collections.defaultdict(list)
        for unit in record.units:
            self.runs[(unit.by, unit.shard, unit.hop)].append(unit)
        #: The first unit of each hop's run, by (shard, cursor).
        self.openers: dict[tuple[int, Any], list[UnitRun]] = collections.defaultdict(list)
        for units in self.runs.values():
            self.openers[(units[0].shard, units[0].cursor)].append(units[0])
        self.pauses = [u for u in record.units if u.completed and u.pause is not None]
        #: Each shard's hops in which a unit paused, in order.
        self.paused_hops: dict[int, list[int]] = collections.defaultdict(list)
        for unit in self.pauses:
            self.paused_hops[unit.shard].append(unit.hop)
        for hops in self.paused_hops.values():
            hops.sort()
        self.commits = collections.Counter((c.shard, c.hop) for c in view.commits)
        by = {(c.shard, c.hop, c.by) for c in view.commits}
        #: The pauses that took effect: the unit was its hop's last, and that hop was committed
        #: by the invocation that ran it (not one killed before it slept, or that went on).
        self.effective = [
            u for u in self.pauses if (u.shard, u.hop, u.by) in by and self._next_in_run(u) is None
        ]
        self._wakes_of: dict[int, list[UnitRun]] = {}
        self._messages: dict[int, list[tuple[float, int]]] | None = None

    # -- the invariants ------------------------------------------------------------------------

    def signal_kept(self) -> Iterator[str]:
        for sent in self.record.signals_sent:
            if sent.outcome.startswith("raised"):
                yield f"signal({sent.name!r}) at {sent.at:.3f} s {sent.outcome}"
        for units in self.runs.values():
            unit = units[0]
            if unit.waited:
                yield from self._woken(unit, unit.waited)
        for wait in self.pauses:
            if isinstance(wait.pause, WaitFor):
                following = self._next_in_run(wait)
                if following is not None:  # it came before the wait began: no wait at all
                    yield from self._continued(wait, following, wait.pause.name)
        if self.view.settled:
            for shard, last in self._unwoken():
                signal = (
                    self.first.get(last.pause.name) if isinstance(last.pause, WaitFor) else None
                )
                if signal is not None:
                    yield (
                        f"shard {shard} waits for {signal.name!r} since {last.ended:.3f} s; the "
                        f"signal was recorded at {signal.at:.3f} s, and it never woke"
                    )

    def wakes_once(self) -> Iterator[str]:
        for pause in self.pauses:  # a Sleep ends its hop: the next unit runs in a later one
            following = self._next_in_run(pause)
            if isinstance(pause.pause, Sleep) and following is not None:
                early = self._early(pause, following)
                if early:
                    yield early
        forked: set[tuple[int, int]] = set()
        for pause in self.effective:
            wakes = self._wakes(pause)
            for unit in wakes:
                early = self._early(pause, unit)
                if early:
                    yield early
            forks = sorted(
                {u.hop for u in wakes if self.commits[(u.shard, u.hop)] > 1}
                - {hop for shard, hop in forked if shard == pause.shard}
            )
            for hop in forks:
                forked.add((pause.shard, hop))
                yield (
                    f"shard {pause.shard}: the {_what(pause)} of hop {pause.hop} woke into hop "
                    f"{hop}, which was committed {self.commits[(pause.shard, hop)]} times: forked"
                )
        if self.view.settled:
            # Nothing was due any more: a sleep or a timeout was left with nothing to wake it.
            for shard, last in self._unwoken():
                due = _due(last)
                if due is not None:
                    yield (
                        f"shard {shard}: the {_what(last)} of hop {last.hop} was due at "
                        f"{due:.3f} s, and it never woke"
                    )

    def pause_holds(self) -> Iterator[str]:
        pauses = self.record.pauses
        for span in pauses:
            if "raised" in span.outcome:
                yield f"the pause at {span.at:.3f} s: {span.outcome}"
            if span.paused is None:
                continue
            paused = span.paused
            end = min(
                (
                    p.unpausing
                    for p in pauses
                    if p.unpausing is not None
                    and (p.unpausing >= paused or (p.unpause_ended or math.inf) > paused)
                ),
                default=math.inf,
            )
            for inv in self.record.invocations:
                if paused < inv.received < end:
                    until = f"unpause() at {end:.3f} s" if end < math.inf else "no unpause"
                    yield (
                        f"{who(inv.id)} was delivered at {inv.received:.3f} s, while the job "
                        f"was paused (pause() returned at {paused:.3f} s; {until})"
                    )

        yield from self._ledger_pause_holds()

    def _ledger_pause_holds(self) -> Iterator[str]:
        """No invocation is delivered while the ledger records the job paused."""
        changes = self.record.ledger_paused
        times = [at for at, _ in changes]
        for inv in self.record.invocations:
            last = bisect.bisect_left(times, inv.received) - 1
            if last >= 0 and changes[last][1]:
                yield (
                    f"{who(inv.id)} was delivered at {inv.received:.3f} s, while the ledger "
                    f"recorded the job paused (since {changes[last][0]:.3f} s)"
                )

    def retention_kept(self) -> Iterator[str]:
        if not self.record.expired:
            return
        job_id = self.record.job_id
        delivered = [
            (ref.shard, ref.hop, message_id, inv.received)
            for inv in self.record.invocations
            for message_id, ref in zip(inv.message_ids, map(packet_ref, inv.bodies), strict=True)
            if ref is not None and ref.job_id == job_id
        ]
        for gone in self.record.expired:
            ref = gone.packet
            went_on = any(
                shard == ref.shard
                and hop >= ref.hop
                and at >= gone.enqueued
                and (message_id != gone.message_id or at > gone.at)
                for shard, hop, message_id, at in delivered
            )
            if went_on or self.view.outcome(ref.shard) == "done":
                continue  # a stale copy: another message carried the packet, or its successor
            pausing = [
                p for p in self.record.pauses if p.at <= gone.at <= (p.unpausing or math.inf)
            ]
            during = f", during the pause from {pausing[0].at:.3f} s" if pausing else ""
            kept = (gone.at - gone.enqueued) / 86_400
            yield (
                f"shard {ref.shard}'s packet (hop {ref.hop}) expired in {gone.role or 'queue'} "
                f"{gone.url.rsplit('/', 1)[-1]} at {gone.at:.3f} s, {kept:g} days after it was "
                f"sent{during}"
            )

    def sleep_cost(self) -> Iterator[str]:
        delivered = self._delivered()
        resends = [p.unpausing for p in self.record.pauses if p.unpausing is not None] * 2
        resends += [sent.at for sent in self.record.signals_sent]
        resends += self._unsent()
        for pause in self.effective:
            wakes = self._wakes(pause)
            end = min((u.at for u in wakes), default=math.inf)
            messages = [
                at
                for at, hop in delivered.get(pause.shard, ())
                if hop > pause.hop and pause.ended < at <= end
            ]
            if not messages:
                continue
            slept = max(messages) - pause.ended
            allowed = math.ceil(slept / MAX_DELAY_S) + 1
            allowed += sum(1 for t in resends if pause.ended < t <= end)
            if len(messages) > allowed:
                yield (
                    f"shard {pause.shard}: the {_what(pause)} of hop {pause.hop} cost "
                    f"{len(messages)} wake-ups in {slept:.0f} s (at most {allowed})"
                )

    # -- what the run did ---------------------------------------------------------------------

    def _woken(self, unit: UnitRun, name: str) -> Iterator[str]:
        """A hop's first unit after a wait for ``name``: with the signal that stands, or
        without one that came in time."""
        got = thaw(unit.signals).get(name, _MISSING) if unit.signals else _MISSING
        signal = self.first.get(name)
        where = f"shard {unit.shard} hop {unit.hop} ({who(unit.by)}, at {unit.at:.3f} s)"
        if got is not _MISSING:
            yield from self._payload(where, name, got, unit.at)
            return
        deadline = unit.wake_ms / 1000 - EPOCH_S if unit.wake_ms else math.inf
        if signal is not None and signal.at < min(deadline, unit.at):
            yield (
                f"signal {name!r} was recorded at {signal.at:.3f} s, before the wait's "
                f"{'deadline' if unit.wake_ms else 'end'}, but {where} ran without it"
            )

    def _continued(self, wait: UnitRun, following: UnitRun, name: str) -> Iterator[str]:
        """The unit after a WaitFor in the same hop: the signal had come, so it has it."""
        got = thaw(following.signals).get(name, _MISSING) if following.signals else _MISSING
        where = f"shard {wait.shard} hop {wait.hop} ({who(wait.by)})"
        if got is _MISSING:
            yield f"{where} went on past WaitFor({name!r}) without the signal"
        else:
            yield from self._payload(where, name, got, following.at)

    def _payload(self, where: str, name: str, got: Any, at: float) -> Iterator[str]:
        signal = self.first.get(name)
        if signal is None or signal.at > at + _TOLERANCE_S:
            yield f"{where} ran with signal {name!r} = {got!r}, which was not recorded then"
        elif got != json.loads(signal.payload_json):
            yield (
                f"{where} ran with signal {name!r} = {got!r}, not the payload that stands "
                f"({signal.payload_json}, recorded at {signal.at:.3f} s)"
            )

    def _next_in_run(self, unit: UnitRun) -> UnitRun | None:
        units = self.runs[(unit.by, unit.shard, unit.hop)]
        later = units.index(unit) + 1
        return units[later] if later < len(units) else None

    def _wakes(self, pause: UnitRun) -> list[UnitRun]:
        """The units that ran the next cursor after ``pause``: a later hop's first, up to the
        next hop of the shard that paused again (or, for a WaitFor whose signal had come, the
        next of its own hop)."""
        found = self._wakes_of.get(id(pause))
        if found is not None:
            return found
        hops = self.paused_hops[pause.shard]
        at = bisect.bisect_right(hops, pause.hop)
        again = hops[at] if at < len(hops) else math.inf
        found = [
            u
            for u in self.openers.get((pause.shard, pause.result), ())
            if pause.hop < u.hop <= again and u.at >= pause.ended
        ]
        following = self._next_in_run(pause)
        if following is not None:
            found.insert(0, following)
        self._wakes_of[id(pause)] = found
        return found

    def _early(self, pause: UnitRun, unit: UnitRun) -> str:
        """Why ``unit`` woke too early from ``pause``, or empty."""
        what = pause.pause
        if isinstance(what, WaitFor):
            if unit.signals and what.name in unit.signals:
                return ""  # woken by its signal (whether it should have: SIGNAL_KEPT)
            if what.timeout_s is None:
                return (
                    f"shard {unit.shard} hop {unit.hop} ({who(unit.by)}) went on at "
                    f"{unit.at:.3f} s from WaitFor({what.name!r}) of hop {pause.hop}, without "
                    "its signal and with no timeout"
                )
        due = _due(pause)
        if due is None or unit.at >= due - _TOLERANCE_S:
            return ""
        return (
            f"shard {unit.shard}: the {_what(pause)} of hop {pause.hop} ended at "
            f"{pause.ended:.3f} s, due at {due:.3f} s, but hop {unit.hop} ({who(unit.by)}) "
            f"ran its next unit at {unit.at:.3f} s"
        )

    def _unwoken(self) -> Iterator[tuple[int, UnitRun]]:
        """Each shard that did not end whose last unit paused: it never woke."""
        last: dict[int, UnitRun] = {}
        for unit in self.record.units:
            if unit.completed:
                last[unit.shard] = unit
        for shard, unit in sorted(last.items()):
            if unit.pause is not None and not self.view.outcome(shard):
                yield shard, unit

    def _delivered(self) -> dict[int, list[tuple[float, int]]]:
        """Per shard, each message's first delivery: when, and the hop of its packet.

        A message delivered again (a duplicate, a redelivery after a crash) is one message:
        its cost is the fault's. A packet sent again is another message.
        """
        if self._messages is not None:
            return self._messages
        job_id = self.record.job_id
        seen: set[str] = set()
        found: dict[int, list[tuple[float, int]]] = collections.defaultdict(list)
        for inv in self.record.invocations:
            for message_id, body in zip(inv.message_ids, inv.bodies, strict=True):
                ref = packet_ref(body) if message_id not in seen else None
                seen.add(message_id)
                if ref is not None and ref.job_id == job_id:
                    found[ref.shard].append((inv.received, ref.hop))
        self._messages = found
        return found

    def _unsent(self) -> list[float]:
        """When a hop was committed by an invocation that then failed: it may have died before
        it sent the next packet, which the hop's redelivery then sends again."""
        failed = {inv.id for inv in self.record.invocations if inv.outcome != "ok"}
        return [c.at for c in self.view.commits if c.by in failed]


def _due(pause: UnitRun) -> float | None:
    """When the unit after ``pause`` may run at the soonest without a signal (None: never)."""
    what = pause.pause
    seconds = what.seconds if isinstance(what, Sleep) else getattr(what, "timeout_s", None)
    return None if seconds is None else pause.ended + seconds


def _what(pause: UnitRun) -> str:
    what = pause.pause
    if isinstance(what, Sleep):
        return f"Sleep({what.seconds:g})"
    if isinstance(what, WaitFor):
        return f"WaitFor({what.name!r})"
    return "pause"
