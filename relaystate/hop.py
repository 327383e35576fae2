"""One hop: claim it, run units while the budget allows, end it, and say how it went.

A hop is one worker invocation for one packet::

    claim      with a ledger: fence the hop (run it, or acknowledge a duplicate, re-send an
               outbox a dead hop left, finish a teardown a dead hop began)
    load       what the packet offloaded (S3Offload) read back; a missing or altered object
               is refused, the hop not run
    units      step(cursor) while the budget says another unit (and the send) fits in the
               Lambda's remaining time; a unit that raises is tried again under the Retry
               policy; a rate limit paces the units, or ends the hop with a delayed relay
    end        DONE -> finish (the last shard tears down); more to do -> relay; a unit error
               -> relay with a retry delay, then fail; max_hops reached -> fail; the shard's
               progress mark taken (the job's ``progress`` hook), for packet and ledger
    record     one structured log record (and, optionally, one CloudWatch EMF line); with
               ``timeline`` on the job class, the ledger write that ends the hop keeps its
               entry (:mod:`relaystate.timeline`)

A traced job's hop runs in its span (:mod:`relaystate.tracing`), whose traceparent the packets
it sends carry.

The hop is handed what it calls: the job (as the :class:`~relaystate.job_protocols.HopJob`
protocol), the backend and the ledger; it never imports the job class. Its per-hop state lives in
a :class:`~relaystate.hop_state.HopState` that the job's transitions read while it runs. The
claim is in :mod:`relaystate.hop_claim`, the record in :mod:`relaystate.hop_record`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import clock, tracing
from .budget import SEND_LATENCIES
from .errors import (
    ConfigurationError,
    HopLimitError,
    InvalidPacketError,
    PacketTooLargeError,
    RelayError,
)
from .frozen import EMPTY, freeze, thaw
from .hop_claim import claim_hop
from .hop_record import record_hop, timeline_entry, wanted, where
from .hop_state import HopState
from .packet import RelayPacket
from .retry import retry_transient
from .signals import WaitFor
from .sleep import Sleep, delay_until
from .states import DONE, JobState

if TYPE_CHECKING:
    from .budget import Budget
    from .job_protocols import HopJob
    from .ports import Backend, LedgerPort

__all__ = ["Hop", "remaining_ms"]

log = logging.getLogger("relaystate")

#: Errors no redelivery can cure: what the hop made cannot become a packet (data or cursor not
#: JSON, grown past the queue's or the ledger's limit). The shard fails instead, its last good
#: packet parked in the DLQ, rather than be delivered again to re-run its units for nothing.
PERMANENT_ERRORS = (InvalidPacketError, PacketTooLargeError, ConfigurationError)
#: What ``step`` returns to pause the shard (a tuple: ``Sleep | WaitFor`` is made at each use).
_PAUSES = (Sleep, WaitFor)


def remaining_ms(context: Any, default_s: float) -> Callable[[], float]:
    """The time the hop has left, from the Lambda context or, without one, a fixed hop length."""
    get = getattr(context, "get_remaining_time_in_millis", None)
    if callable(get):
        return lambda: float(get())
    deadline = clock.monotonic() + default_s
    return lambda: (deadline - clock.monotonic()) * 1000.0


class Hop:
    """One hop of ``job`` for the delivery of its packet.

    Args:
        job: the job rebuilt from the delivered packet (state QUEUED or RELAYING).
        backend: the job's backend.
        ledger: the job's progress ledger, or ``None``.
        context: the Lambda context (``None``: the hop lasts ``job.hop_time_s``).
        receive_count: SQS's ``ApproximateReceiveCount`` of the delivery (retries = count - 1).

    Example:
        >>> Hop(job, backend, None, context).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        job: HopJob,
        backend: Backend,
        ledger: LedgerPort | None,
        context: Any = None,
        receive_count: int = 1,
        *,
        body: str = "",
    ) -> None:
        self.job = job
        #: The message body the packet came in (the ledger keeps it while the hop runs).
        self.body = body
        self.backend = backend
        self.ledger = ledger
        self.context = context
        self.receive_count = receive_count
        remaining = remaining_ms(context, job.hop_time_s)
        self.state = HopState(
            remaining=remaining,
            started_ms=remaining(),
            began_ms=clock.now_ms(),
            body_bytes=len(body),
        )
        #: Units run and ms spent in them, once the units are over (the timeline's).
        self.worked = (0, 0)
        #: The hop's span (one that does nothing when the job is not traced).
        self.span: tracing.HopSpan = tracing.UNTRACED

    def run(self, *, traced: bool | None = None) -> None:
        """Claim the hop, run its units, end it (relay, finish or fail), log its record --
        in the hop's span when the job is traced (``traced``: decided already, or ``None``:
        decide it)."""
        job = self.job
        assert job.packet is not None
        job.hop = self.state
        try:
            if traced is False:  # decided untraced already: no span to ask for, no context
                self._claimed_run(tracing.UNTRACED)
                return
            span_of = tracing.hop_span(job, self.context, self.receive_count, traced=traced)
            if span_of is None:  # untraced: no context to enter and leave
                self._claimed_run(tracing.UNTRACED)
                return
            with span_of as span:
                self._claimed_run(span)
        finally:
            job.hop = None

    def _claimed_run(self, span: tracing.HopSpan) -> None:
        """Claim the hop in ``span``; unless it is not this delivery's to run, run it."""
        job, state = self.job, self.state
        self.span = span
        state.traceparent = span.traceparent
        if self.ledger is not None and not claim_hop(  # without a ledger every hop runs
            job,
            self.backend,
            self.ledger,
            state,
            context=self.context,
            body=self.body,
            span=span,
        ):
            return
        packet = job.packet
        assert packet is not None
        offloaded = packet.offloaded
        if offloaded is not EMPTY and offloaded:  # the shared empty one: known by identity
            self._load()
        job.begin_hop()
        assert job.packet is not None
        self._units_and_end(job.packet)

    def _load(self) -> None:
        """Read back what the packet offloaded (after the claim: a duplicate reads nothing),
        for a packet that offloaded something; a missing or altered object raises
        :class:`~relaystate.errors.OffloadError`."""
        job = self.job
        assert job.packet is not None
        from .offload import load_packet  # only a job that offloads needs it: cold start

        loaded, self.state.offloader = load_packet(
            job.packet, job.offload, self.backend, job.type_name()
        )
        job.packet, job.data, job.cursor = loaded, thaw(loaded.data), loaded.cursor

    # -- the units and the end -------------------------------------------------------------------

    def _units_and_end(self, packet: RelayPacket) -> None:
        job, state = self.job, self.state
        remaining = state.remaining
        state.retries_at_start = job.stats.retries
        timing = packet.timing
        budget = state.budget = job.budget(None if timing is EMPTY else thaw(timing) or None)
        worst_send = SEND_LATENCIES.worst()
        if worst_send is not None:
            budget.record_send(worst_send)
        budget.start(remaining())
        limiter = state.limiter = (
            job.rate_limit.limiter(thaw(packet.rate) or None, packet.shards)
            if job.rate_limit
            else None
        )
        cursor = packet.cursor
        # The job's progress hook, unless it has none to ask (the default says nothing).
        progress = _progress() if job._measures_progress else None
        # A shard's first hop anchors its progress rate where it starts.
        first = (
            None
            if progress is None or packet.progress
            else progress.measure(job.progress, cursor, job=job.job_id)
        )
        units = 0
        work_ms = 0.0
        done = packet.finishing  # the hop before ran the last unit: this one only finishes
        delay = 0
        unit_error: Exception | None = None
        # A sleep or a wait the packet carries: until it is over the hop only relays it on.
        pending: Sleep | WaitFor | None = (
            self._held(packet) if packet.waiting or packet.wake_ms else None  # mostly neither
        )
        # The last hop the cap allows ends in a teardown: it keeps that time from the start.
        worked = packet.hop - job.stats.waits
        kept_ms = state.teardown_reserve_ms() if worked + 1 >= job.max_hops else 0.0
        while not (done or pending) and (
            units == 0 or budget.should_continue(remaining() - kept_ms)
        ):
            if limiter is not None:
                wait = limiter.wait_s(clock.wall())
                if wait > limiter.limit.max_wait_s:
                    delay = limiter.delay_for(wait)  # cheaper in the queue than in a Lambda
                    break
                if wait > 0:
                    if units and not budget.should_continue(remaining() - wait * 1000.0):
                        break
                    clock.sleep(wait)
                limiter.take(clock.wall())
            before = remaining()
            try:
                result = self._step_with_retries(cursor, budget)
            except Exception as exc:
                unit_error = exc
                break
            elapsed = max(before - remaining(), 0.0)
            budget.record_unit(elapsed)
            units += 1
            work_ms += elapsed
            if result is DONE:
                done = True
                break
            if isinstance(result, _PAUSES):
                cursor = result.next_cursor
                if not (isinstance(result, WaitFor) and self._signalled(result.name)):
                    pending = result  # the hop ends here; the unit after it runs later
                continue
            cursor = result
        job.cursor = cursor
        # The packet's, plus this hop (and the retries of its delivery).
        retries = max(self.receive_count - 1, 0)
        worked_ms = round(work_ms)
        job.stats = job.stats._hop(units, worked_ms, retries)
        finished = done and unit_error is None
        anchor = (state.began_ms, first)  # a shard's first progress mark counts from here
        if progress is not None:
            state.progress = progress.take(
                job.progress, cursor, packet.progress, anchor, finished=finished
            )
        self.worked = (units, worked_ms)
        outcome, error, delay = self._end(packet, unit_error, done, delay, pending, units)
        if not wanted(job, self.span, outcome):
            return
        left = remaining()
        record_hop(
            job,
            state,
            self.span,
            hop=packet.hop,
            started_ms=state.began_ms,
            ended_ms=clock.now_ms(),
            outcome=outcome,
            units=units,
            work_ms=worked_ms,
            remaining_ms=round(left),
            utilization=round(work_ms / max(work_ms + left, 1.0), 4),
            delay_s=delay,
            error=repr(error) if error else "",
            exc=error,
        )

    def _end(
        self,
        packet: RelayPacket,
        unit_error: Exception | None,
        done: bool,
        delay: int,
        pending: Sleep | WaitFor | None = None,
        units: int = 0,
    ) -> tuple[str, Exception | None, int]:
        """Decide how the hop ends, keep its timeline entry, then fire that transition; its
        outcome, error and relay delay.

        An error no redelivery can cure (:data:`PERMANENT_ERRORS`), raised while the hop's
        result is turned into a packet, fails the shard: ``on_failed`` runs and the packet the
        hop began with is parked in the DLQ with the error, so that nothing is lost and a
        ``resume`` after the fix runs the hop's units again.
        """
        job = self.job
        try:
            if pending is not None and unit_error is None:
                end = self._pause_end(pending, idle=units == 0)
            else:
                end = self._planned_end(packet, unit_error, done, delay)
            return self._fire(end)
        except PERMANENT_ERRORS as exc:
            if job.state is not JobState.RUNNING:
                raise  # the failure path itself failed: SQS delivers the hop again
            log.error(
                "relaystate: %s cannot go on: %s; the shard fails (its packet is parked in the "
                "DLQ; fix the job, then resume it)",
                where(packet),
                exc,
            )
            failure: Exception = exc
            return self._fire(_End("failed", failure, 0, lambda: job.fail(error=failure)))

    def _fire(self, end: _End) -> tuple[str, Exception | None, int]:
        """Keep the hop's timeline entry (the transition's ledger write takes it), then fire."""
        if self.job.timeline and self.ledger is not None:
            self.state.entry = timeline_entry(
                self.job,
                self.state,
                self.context,
                self.worked,
                outcome=end.outcome,
                delay=end.delay,
                error=end.error,
            )
        end.fire()
        return end.outcome, end.error, end.delay

    def _held(self, packet: RelayPacket) -> Sleep | WaitFor | None:
        """The sleep or wait the packet is in, if it is not over: then the hop runs no unit.

        (The job's signals, ``self.signals`` in ``step``, are the packet's since the job was
        rebuilt from it; a wait reads the ledger's for those that came since.)
        """
        if not (packet.waiting or packet.wake_ms):
            return None
        now = clock.now_ms()
        if packet.waiting:
            if self._signalled(packet.waiting):
                return None  # woken by its signal
            if packet.wake_ms and now >= packet.wake_ms:
                return None  # timed out: it runs without the signal
            timeout = (packet.wake_ms - now) / 1000 if packet.wake_ms else None
            return WaitFor(packet.waiting, packet.cursor, timeout_s=timeout)
        if packet.wake_ms > now:
            return Sleep((packet.wake_ms - now) / 1000, packet.cursor)
        return None

    def _signalled(self, name: str) -> bool:
        """Whether signal ``name`` has come (read from the ledger when it is not known yet)."""
        job = self.job
        ledger = self.ledger
        if name not in job.signals and ledger is not None:
            job.signals.update(retry_transient(lambda: ledger.signals(job.job_id)))
        return name in job.signals

    def _pause_end(self, pending: Sleep | WaitFor, *, idle: bool) -> _End:
        """End the hop in a sleep (a delayed relay, chained by 900 s) or a wait (parked)."""
        job = self.job
        if idle:  # a wake-up that found it not over yet: not a hop of work
            job.stats = job.stats.added(waits=1)
        now = clock.now_ms()
        if isinstance(pending, Sleep):
            wake_ms = now + math.ceil(pending.seconds * 1000)
            delay = delay_until(wake_ms, now)
            wake = wake_ms if wake_ms - now > delay * 1000 else 0
            return _End(
                "sleeping", None, delay, lambda: job.relay(delay_seconds=delay, wake_ms=wake)
            )
        if self.ledger is None:
            raise ConfigurationError(
                f"{type(job).__name__}.step returned WaitFor({pending.name!r}), which needs a "
                "ledger (the packet waits in it for the signal): give the job a ledger"
            )
        name = pending.name
        deadline = now + math.ceil(pending.timeout_s * 1000) if pending.timeout_s else 0
        delay = delay_until(deadline, now) if deadline else 0
        return _End("waiting", None, delay, lambda: job.wait(name=name, deadline_ms=deadline))

    def _planned_end(
        self, packet: RelayPacket, unit_error: Exception | None, done: bool, delay: int
    ) -> _End:
        job = self.job
        if packet.finishing and packet.error:  # the hop before handed its failure on
            handed = RelayError(f"{packet.error} (handed on by hop {packet.hop - 1})")
            return _End("failed", handed, 0, lambda: job.fail(error=handed))
        if unit_error is not None:
            failed_hops = packet.attempt
            if failed_hops < job.retry.hop_retries:
                retry_delay = job.retry.hop_delay(failed_hops)
                job.stats = job.stats.added(retries=1)
                return _End(
                    "retrying",
                    unit_error,
                    retry_delay,
                    lambda: job.relay(delay_seconds=retry_delay, attempt=failed_hops + 1),
                )
            if not self.state.teardown_fits():
                # Too little time is left to fail the shard (park, count, tear down): a Lambda
                # killed half-way would leave the queues. A fresh hop does it.
                why = repr(unit_error)
                return _End(
                    "finishing", unit_error, 0, lambda: job.relay(finishing=True, error=why)
                )
            return _End("failed", unit_error, delay, lambda: job.fail(error=unit_error))
        if done:
            if not packet.finishing and not self.state.teardown_fits():
                # Too little time is left to delete the mapping and the queues: a Lambda killed
                # half-way would leave them behind. The next hop, with a whole timeout, does it.
                return _End("finishing", None, 0, lambda: job.relay(finishing=True))
            return _End("finished", None, delay, job.finish)
        if packet.hop + 1 - job.stats.waits >= job.max_hops:
            error = HopLimitError(
                f"job {job.job_id} reached max_hops={job.max_hops} without finishing; "
                "raise max_hops if the job really needs more hops, or make units bigger"
            )
            return _End("failed", error, delay, lambda: job.fail(error=error))
        return _End("relayed", None, delay, lambda: job.relay(delay_seconds=delay))

    def _step_with_retries(self, cursor: Any, budget: Budget) -> Any:
        """``step(cursor)`` -- DONE or the next cursor, frozen -- tried again after a jittered
        pause while the policy and time allow. A cursor that is not JSON counts as a failed try:
        it could never travel in a packet."""
        job, remaining = self.job, self.state.remaining
        tries = 0
        while True:
            try:
                result = job.step(cursor)
                if result is DONE or isinstance(result, _PAUSES):
                    return result
                kind = type(result)
                if kind is int or kind is bool or result is None:  # freeze's first answer
                    return result
                return freeze(result, "cursor")
            except Exception:
                tries += 1
                if tries >= job.retry.attempts:
                    raise
                pause = job.retry.pause_s(tries)
                if not budget.should_continue(remaining() - pause * 1000.0):
                    raise
                job.stats = job.stats.added(retries=1)
                clock.sleep(pause)


class _End:
    """How a hop ends: its outcome, error and relay delay, and the transition that does it.

    (A plain class: an attrs class is made at import, which a worker's cold start pays for.)
    """

    __slots__ = ("delay", "error", "fire", "outcome")

    def __init__(
        self, outcome: str, error: Exception | None, delay: int, fire: Callable[[], object]
    ) -> None:
        self.outcome, self.error, self.delay, self.fire = outcome, error, delay, fire


def _progress() -> ModuleType:
    """:mod:`relaystate.progress`, imported by the first hop (not at cold start), then kept:
    an import statement in the hop would cost a package lookup and a lock on every hop."""
    global _PROGRESS
    if _PROGRESS is None:
        from . import progress

        _PROGRESS = progress
    return _PROGRESS


_PROGRESS: ModuleType | None = None
