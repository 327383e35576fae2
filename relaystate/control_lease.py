"""One pause or unpause of a job at a time: the job's control lease in the ledger.

``pause()`` and ``unpause()`` each make several AWS calls (the mapping, the queue, the ledger).
Two of them that interleave -- two operators, two terminals, a retry of a call that timed out
-- could leave the ledger saying *paused* while the mapping is enabled (hops run while
paused), or *unpaused* while it is disabled (the job stuck). With a ledger each holds the
job's control for its whole run (:meth:`~relaystate.ports.LedgerPort.claim_control`, a
conditional write on the job's record, as a teardown is claimed)::

    take      claimed for a fresh owner, held LEASE_S from now; while another holds it the
              call waits, polling with backoff (0.5 s doubling to 5 s), for as long as the
              other may need: a mapping wait (the backend's ``mapping_wait_s``) and one lease
              more -- then raises JobBusyError, having done nothing
    keep      renewed at each step (each poll of a mapping wait, each batch parked or sent)
              once a third of the lease has passed; a renewal that finds another owner (this
              call stalled longer than its lease) raises JobBusyError: the call stops
    release   given up at the end, also when the call raised (a failed release is logged:
              the lease then runs out)

So the calls take effect in turn, and the last one to take the control wins -- the ledger's
``paused`` and the mapping agree once it returns. A call whose process dies holding the
control (a killed terminal, a Lambda's timeout) blocks the next one for at most LEASE_S; the
next one then takes it over and runs whole (both verbs do every step, so it also finishes
what the dead one left half-done). Without a ledger nothing is held: pauses without one are
best effort (see :mod:`relaystate.pause`).

Example:
    >>> with held(backend, ledger, job_id, "pause") as keep:  # doctest: +SKIP
    ...     keep()  # at each step
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import clock
from .errors import JobBusyError, RelayError

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = ["LEASE_S", "held"]

log = logging.getLogger("relaystate")

#: How long a pause or unpause holds the job's control from its last renewal, in seconds.
LEASE_S = 60.0
#: A renewal is written once this much of the lease has passed (at the next step).
_RENEW_S = LEASE_S / 3


@contextlib.contextmanager
def held(
    backend: Backend, ledger: LedgerPort | None, job_id: str, verb: str
) -> Iterator[Callable[[], None]]:
    """Hold the job's control while the block runs (``verb``: ``pause`` or ``unpause``, for
    messages); gives ``keep``, to be called at each step. Without a ledger, holds nothing.

    Raises:
        JobBusyError: another pause or unpause held the control longer than this one waited,
            or took it over while this one stalled.
    """
    if ledger is None:
        yield _nothing
        return
    lease = _Lease(ledger, job_id, f"{verb}-{uuid.uuid4().hex}", verb)
    lease.take(backend.mapping_wait_s + LEASE_S)
    try:
        yield lease.keep
    finally:
        lease.release()


def _nothing() -> None:
    """``keep`` without a ledger."""


class _Lease:
    """The control of one job, held by one call (see the module's documentation)."""

    def __init__(self, ledger: LedgerPort, job_id: str, owner: str, verb: str) -> None:
        self.ledger, self.job_id, self.owner, self.verb = ledger, job_id, owner, verb
        self.renewed = 0.0

    def take(self, wait_s: float) -> None:
        """Claim the control, waiting up to ``wait_s`` while another call holds it."""
        began = clock.monotonic()
        attempt = 0
        while not self._claim():
            waited = clock.monotonic() - began
            if waited >= wait_s:
                raise JobBusyError(
                    f"another pause or unpause of job {self.job_id} has been running for the "
                    f"{waited:.0f} s this {self.verb} waited, and still is: this {self.verb} did "
                    "nothing. Try again once it has ended (relaystate status shows whether the "
                    "job is paused)",
                    self.job_id,
                )
            if attempt == 0:
                log.info(
                    "relaystate: another pause or unpause of job %s is running; this %s waits "
                    "for it to end (up to %.0f s)",
                    self.job_id,
                    self.verb,
                    wait_s,
                )
            clock.sleep(min(clock.backoff_s(attempt, base_s=0.5, cap_s=5.0), wait_s - waited))
            attempt += 1

    def keep(self) -> None:
        """Renew the lease if a third of it has passed; stop if another call took it over."""
        if clock.monotonic() - self.renewed < _RENEW_S:
            return
        if not self._claim():
            raise JobBusyError(
                f"this {self.verb} of job {self.job_id} stalled past its hold on the job's "
                "control, and another pause or unpause took it over: this one stopped half-way, "
                "and the job is as that one leaves it. Check it (relaystate status) and try "
                "again if it is not as you want it",
                self.job_id,
            )

    def release(self) -> None:
        """Give the control up; a failure is logged (the lease runs out instead)."""
        try:
            self.ledger.release_control(self.job_id, self.owner)
        except RelayError as exc:
            log.warning(
                "relaystate: could not release the control of job %s (%s); the next pause or "
                "unpause waits up to %.0f s for it",
                self.job_id,
                exc,
                LEASE_S,
            )

    def _claim(self) -> bool:
        renewing = clock.monotonic()
        if not self.ledger.claim_control(self.job_id, self.owner, int(LEASE_S * 1000)):
            return False
        self.renewed = renewing
        return True
