"""What every simulated run must show, checked when it is over: :func:`check`.

The invariants (:data:`INVARIANTS`), each a promise relaystate makes with a ledger::

    every unit ran at least once        each shard that did not fail ran a whole chain of
                                        units from its first cursor to DONE
    no unit of a committed hop ran      once a hop's checkpoint or finish was accepted (with a
      again                             ledger; without one, once its next packet was sent or
                                        its on_done ran), no unit of that hop starts again
    one chain per shard                 each hop is committed once: one successor, no fork
    teardown exactly once               a job whose shards all ended was torn down by one
                                        invocation (one that was not killed half-way), and
                                        the ledger recorded it once
    on_done/on_failed exactly once      each shard that finished saw on_done once in the
      per outcome                       invocation that recorded its end, each that failed
                                        on_failed once; a run in an invocation that died
                                        before that record repeats, by design (the hooks
                                        run before it: at least once, never lost)
    nothing left but a DLQ that holds   no queue, no mapping, no empty DLQ remains
      packets
    no DLQ deleted while it held a      no DeleteQueue took a dead-letter queue holding a
      packet                            packet of a shard that did not finish
    every failed shard's packet         a failed shard's packet waits in a dead-letter queue,
      reachable                         where RelayJob.resume finds it
    the run settles                     the run ended by itself, not cut short by its limits

and, between the two last, those of job control -- signals, waits, sleeps and pauses -- in
:mod:`~relaystate.testing.sim.control_checks`.

Each run yields at most one :class:`Violation` per invariant, naming its first case (and how
many more there were): short enough to read in a list of seeds, and the seed replays it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ...states import DONE
from .control_checks import CONTROL_INVARIANTS, control_checks
from .ledger import SimLedger
from .mappings import SimMappings
from .record import Commit, PacketRef, Record, packet_ref, who
from .sqs import SimQueues

__all__ = [
    "DLQ_KEPT",
    "EVERY_UNIT",
    "FAILED_PARKED",
    "HOOKS_ONCE",
    "INVARIANTS",
    "NOTHING_LEFT",
    "NO_RERUN",
    "ONE_CHAIN",
    "ONE_TEARDOWN",
    "SETTLES",
    "Violation",
    "check",
]

EVERY_UNIT = "every unit ran at least once"
NO_RERUN = "no unit of a committed hop ran again"
ONE_CHAIN = "one chain per shard"
ONE_TEARDOWN = "teardown exactly once"
HOOKS_ONCE = "on_done/on_failed exactly once per outcome"
NOTHING_LEFT = "nothing left but a DLQ that holds packets"
DLQ_KEPT = "no DLQ deleted while it held a packet"
FAILED_PARKED = "every failed shard's packet reachable"
SETTLES = "the run settles"
#: Every invariant, in the order they are checked and reported.
INVARIANTS = (
    EVERY_UNIT,
    NO_RERUN,
    ONE_CHAIN,
    ONE_TEARDOWN,
    HOOKS_ONCE,
    NOTHING_LEFT,
    DLQ_KEPT,
    FAILED_PARKED,
    *CONTROL_INVARIANTS,
    SETTLES,
)


@attrs.frozen
class Violation:
    """An invariant a run broke: which, the seed that replays it, and what happened.

    Example:
        >>> str(Violation(ONE_CHAIN, 7, "shard 0 hop 2 committed 2 times"))
        'one chain per shard: seed 7: shard 0 hop 2 committed 2 times'
    """

    invariant: str
    seed: int
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: seed {self.seed}: {self.detail}"


def check(
    seed: int,
    record: Record,
    queues: SimQueues,
    mappings: SimMappings,
    ledger: SimLedger | None,
    *,
    aborted: str = "",
) -> list[Violation]:
    """The invariants ``record`` and the world's final state break, in :data:`INVARIANTS`
    order. A run cut short (``aborted``) is held only to what its cut cannot explain."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    _Checker(record, queues, mappings, ledger, settled=not aborted).run(found)
    if aborted:
        found[SETTLES].append(f"cut short: {aborted}")
    violations = []
    for invariant in INVARIANTS:
        cases = found.get(invariant)
        if cases:
            more = f" (and {len(cases) - 1} more)" if len(cases) > 1 else ""
            violations.append(Violation(invariant, seed, cases[0] + more))
    return violations


class _Checker:
    """The checks of one run."""

    def __init__(
        self,
        record: Record,
        queues: SimQueues,
        mappings: SimMappings,
        ledger: SimLedger | None,
        *,
        settled: bool,
    ) -> None:
        self.record = record
        self.queues = queues
        self.mappings = mappings
        self.ledger = ledger if record.ledgered else None
        self.settled = settled
        self.shards = range(record.shards)
        self.hooks = collections.Counter((h.kind, h.shard) for h in record.hooks)
        self._graph = self._units_graph()
        self._finished: dict[int, bool] = {}
        self.commits = self._commits()
        self.failed = {s for s in self.shards if self.outcome(s) == "failed"}

    def run(self, found: dict[str, list[str]]) -> None:
        checks: tuple[tuple[str, Callable[[], Iterable[str]], bool], ...] = (
            (EVERY_UNIT, self.every_unit, True),
            (NO_RERUN, self.no_rerun, False),
            (ONE_CHAIN, self.one_chain, False),
            (ONE_TEARDOWN, self.one_teardown, True),
            (HOOKS_ONCE, self.hooks_once, False),
            (NOTHING_LEFT, self.nothing_left, True),
            (DLQ_KEPT, self.dlq_kept, False),
            (FAILED_PARKED, self.failed_parked, True),
        )
        for invariant, cases, needs_end in checks:
            if self.settled or not needs_end:
                found[invariant].extend(cases())
        for invariant, cases in control_checks(self):
            found[invariant].extend(cases())

    # -- the invariants ------------------------------------------------------------------------

    def every_unit(self) -> Iterable[str]:
        for shard in self.shards:
            if shard not in self.failed and not self.finished(shard):
                yield f"shard {shard} never finished: {self._whereabouts(shard)}"

    def no_rerun(self) -> Iterable[str]:
        first: dict[tuple[int, int], Commit] = {}
        for commit in self.commits:
            key = (commit.shard, commit.hop)
            if key not in first or commit.at < first[key].at:
                first[key] = commit
        for unit in self.record.units:
            done = first.get((unit.shard, unit.hop))
            if done is not None and unit.at > done.at:
                yield (
                    f"shard {unit.shard} hop {unit.hop}: a unit (cursor {_short(unit.cursor)}) "
                    f"ran at {unit.at:.3f} s in {who(unit.by)}, after the hop was committed "
                    f"at {done.at:.3f} s by {who(done.by)}"
                )

    def one_chain(self) -> Iterable[str]:
        per_hop: dict[tuple[int, int], list[Commit]] = collections.defaultdict(list)
        for commit in self.commits:
            per_hop[(commit.shard, commit.hop)].append(commit)
        for (shard, hop), commits in sorted(per_hop.items()):
            if len(commits) > 1:
                by = ", ".join(f"{c.kind} by {who(c.by)}" for c in commits)
                yield f"shard {shard} hop {hop} was committed {len(commits)} times ({by}): forked"

    def one_teardown(self) -> Iterable[str]:
        record = self.record
        marked_by = {by for _, by in record.marks}
        deleted_by = {d.by for d in record.deletes if d.role == "queue"}
        # A teardown completed when its invocation deleted the job's queue and went on to the
        # end (or the ledger recorded it): one that failed or was killed half-way did not.
        whole = sorted(by for by in deleted_by if self._ended_well(by) or by in marked_by)
        if len(whole) > 1:
            yield f"the job was torn down {len(whole)} times ({', '.join(map(who, whole))})"
        worked = all(s in self.failed or self.finished(s) for s in self.shards)
        if worked and not whole:
            yield f"every shard's work is done, but no teardown completed: {self._why_not()}"
        elif self.ledger is not None and whole and len(record.marks) != 1:
            yield f"the ledger recorded the teardown {len(record.marks)} times"

    def hooks_once(self) -> Iterable[str]:
        """``on_done`` (``on_failed``) runs before the shard's end is recorded: once for its
        outcome, and again only after a run whose invocation did not record the end (it was
        killed, or failed, between the hook and the record) -- at least once, never lost."""
        ends = {(c.shard, c.by) for c in self.commits if c.kind in ("finish", "fail")}
        by_shard: dict[int, list[Any]] = {}  # one pass: a fan-out has as many shards as hooks
        for hook in self.record.hooks:
            by_shard.setdefault(hook.shard, []).append(hook)
        for shard in self.shards:
            calls = by_shard.get(shard, [])
            outcome = self.outcome(shard)
            kind = {"done": "on_done", "failed": "on_failed"}.get(outcome)
            wrong = [h for h in calls if h.kind != kind] if kind else []
            recorded = [h for h in calls if h.kind == kind and (shard, h.by) in ends]
            repeats = [h for h in calls if h.kind == kind and (shard, h.by) not in ends]
            unexplained = [h for h in repeats if self._ended_well(h.by)]
            if kind is None:
                bad = len([h for h in calls if h.kind == "on_done"]) > 1 or len(calls) > 2
            elif self.settled:
                bad = bool(wrong) or len(recorded) != 1 or bool(unexplained)
            else:
                bad = bool(wrong) or len(recorded) > 1 or bool(unexplained)
            if bad:
                done = sum(1 for h in calls if h.kind == "on_done")
                failed = sum(1 for h in calls if h.kind == "on_failed")
                yield (
                    f"shard {shard} ({outcome or 'unfinished'}): on_done ran {done} time(s), "
                    f"on_failed {failed}{self._ending(shard, outcome)}"
                )

    def nothing_left(self) -> Iterable[str]:
        for queue in self.queues.everything():
            if queue.role == "dlq" and queue.held and queue.deleted_at is None:
                continue
            what = "empty DLQ" if queue.role == "dlq" else "queue"
            yield f"{what} {queue.name} left ({len(queue.held)} message(s))"
        for mapping in self.mappings.live.values():
            yield f"mapping {mapping.id} left ({mapping.state})"

    def dlq_kept(self) -> Iterable[str]:
        for deleted in self.record.deletes:
            # A stale copy of a hop of a shard that finished is no loss: only a packet of a
            # shard that did not finish (failed, or stuck) is.
            live = [p for p in deleted.packets if self.outcome(p.shard) != "done"]
            if deleted.role == "dlq" and deleted.effective and live:
                shards = sorted({p.shard for p in live})
                yield (
                    f"DLQ {deleted.url.rsplit('/', 1)[-1]} was deleted at {deleted.at:.3f} s by "
                    f"{who(deleted.by)} with {len(live)} packet(s) of unfinished shard(s) "
                    f"{shards}"
                )

    def failed_parked(self) -> Iterable[str]:
        parked = {p.shard for p in self._packets(dlq=True)}
        for shard in sorted(self.failed - parked):
            yield f"shard {shard} failed, but its packet is in no DLQ: {self._whereabouts(shard)}"

    # -- what the run did -------------------------------------------------------------------------

    def finished(self, shard: int) -> bool:
        """Whether the shard's units ran, from its first cursor, to DONE."""
        found = self._finished.get(shard)
        if found is None:
            found = self._finished[shard] = self._reaches_done(shard)
        return found

    def _reaches_done(self, shard: int) -> bool:
        graph = self._graph.get(shard, {})
        start = self.record.first_cursors[shard]
        seen, todo = {start}, [start]
        while todo:
            for result in graph.get(todo.pop(), ()):
                if result is DONE:
                    return True
                if result not in seen:
                    seen.add(result)
                    todo.append(result)
        return False

    def _units_graph(self) -> dict[int, dict[Any, list[Any]]]:
        graph: dict[int, dict[Any, list[Any]]] = collections.defaultdict(dict)
        for unit in self.record.units:
            if unit.completed:
                graph[unit.shard].setdefault(unit.cursor, []).append(unit.result)
        return graph

    def _commits(self) -> list[Commit]:
        record = self.record
        if record.ledgered:
            return list(record.commits)
        # Without a ledger a hop is committed when its result left it: its next packet sent,
        # its failed packet parked, its on_done run.
        commits = [
            Commit(s.packet.shard, s.packet.hop - 1, "relay", s.at, s.by)
            for s in record.sends
            if s.role == "queue" and s.packet.state == "relaying"
        ]
        commits += [
            Commit(s.packet.shard, s.packet.hop, "fail", s.at, s.by)
            for s in record.sends
            if s.role == "dlq" and s.packet.state == "failed"
        ]
        commits += [
            Commit(h.shard, h.hop, "finish", h.at, h.by)
            for h in record.hooks
            if h.kind == "on_done"
        ]
        return commits

    def outcome(self, shard: int) -> str:
        """``done``, ``failed``, or empty (running, stuck, never claimed)."""
        if self.ledger is not None:
            found = self.ledger.shards.get((self.record.job_id, shard))
            status = found.status if found is not None else ""
            return status if status in ("done", "failed") else ""
        parked = any(
            s.packet.shard == shard and s.packet.state == "failed" and s.role == "dlq"
            for s in self.record.sends
        )
        if parked or self.hooks["on_failed", shard]:
            return "failed"
        return "done" if self.finished(shard) else ""

    def _ending(self, shard: int, outcome: str) -> str:
        """Who committed the shard's end, if that invocation did not end well (and so may not
        have reached the hook)."""
        kind = {"done": "finish", "failed": "fail"}.get(outcome)
        for commit in self.commits:
            inv = self.record.by_invocation(commit.by)
            if commit.shard == shard and commit.kind == kind and inv and inv.outcome != "ok":
                return f"; its {kind} was committed by {who(inv.id)}, which ended {inv.how()}"
        return ""

    def _ended_well(self, by: int) -> bool:
        inv = self.record.by_invocation(by)
        return inv is None or inv.outcome == "ok"

    def _why_not(self) -> str:
        """Why no teardown completed, as far as the run shows."""
        for inv in self.record.invocations:
            if inv.unmapped and inv.outcome != "ok":
                return (
                    f"the teardown began in {who(inv.id)} (it deleted the mapping), which "
                    f"ended {inv.how()}"
                )
        for shard in self.shards:
            if self.ledger is not None and self.outcome(shard) == "":
                return f"shard {shard}'s end was never committed: {self._whereabouts(shard)}"
        return "no invocation began it"

    def _packets(self, *, dlq: bool) -> list[PacketRef]:
        found = []
        for queue in self.queues.everything():
            if queue.deleted_at is None and (queue.role == "dlq") == dlq:
                for message in queue.held.values():
                    ref = packet_ref(message.body)
                    if ref is not None and ref.job_id == self.record.job_id:
                        found.append(ref)
        return found

    def _whereabouts(self, shard: int) -> str:
        """Where the shard's last packet went, as far as the run shows."""
        record = self.record
        hops = [c.hop for c in self.commits if c.shard == shard]
        progress = f"last commit at hop {max(hops)}" if hops else "no hop committed"
        for queue in self.queues.everything():
            for message in queue.held.values():
                ref = packet_ref(message.body)
                if ref is not None and ref.shard == shard and ref.job_id == record.job_id:
                    if queue.role == "dlq":
                        how = f" (moved there: {message.moved})" if message.moved else ""
                        return f"{progress}; its packet (hop {ref.hop}) is in DLQ {queue.name}{how}"
                    return f"{progress}; its packet (hop {ref.hop}) waits in {queue.name}"
        lost = [s for s in record.sends if s.lost and s.packet.shard == shard]
        if lost:
            s = lost[-1]
            return (
                f"{progress}; its packet (hop {s.packet.hop}) was sent by {who(s.by)} at "
                f"{s.at:.3f} s to a queue being deleted, and vanished"
            )
        expired = [e for e in record.expired if e.packet.shard == shard]
        if expired:
            return f"{progress}; its packet (hop {expired[-1].packet.hop}) expired in its queue"
        for deleted in record.deletes:
            if any(p.shard == shard for p in deleted.packets):
                return (
                    f"{progress}; its packet went with queue {deleted.url.rsplit('/', 1)[-1]}, "
                    f"deleted at {deleted.at:.3f} s by {who(deleted.by)}"
                )
        return f"{progress}; its packet is nowhere"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
