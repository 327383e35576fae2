"""An event-source mapping's states, waited for: Enabled, Disabled, gone -- bounded, with backoff.

AWS moves a mapping through ``Creating``, ``Enabling``, ``Enabled``, ``Disabling``,
``Disabled``, ``Updating`` and ``Deleting``; each transition takes seconds to a minute, and a
mapping in one refuses other changes (``ResourceInUseException``). Every wait here ends: at the
backend's ``mapping_wait_s``, or sooner at a caller's ``until`` (a Lambda's own deadline).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import clock
from .errors import MappingTimeoutError, ResourceConflictError, ResourceNotFoundError
from .retry import retry_transient

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort, MappingInfo

__all__ = ["detach", "enable", "enable_job", "wait_for_mapping"]

log = logging.getLogger("relaystate")


def _backoff(backend: Backend, until: float | None = None) -> Iterator[float]:
    """Pauses between polls, doubling, until the backend's wait limit is spent (or ``until``)."""
    deadline = clock.monotonic() + backend.mapping_wait_s
    if until is not None:
        deadline = min(deadline, until)
    pause = backend.mapping_poll_s
    while True:
        left = deadline - clock.monotonic()
        if left <= 0:
            return
        yield min(pause, left)
        pause = min(pause * 2, backend.mapping_poll_max_s)


def wait_for_mapping(
    backend: Backend,
    mapping_id: str,
    *,
    enabled: bool,
    until: float | None = None,
    disabled: bool = False,
    heartbeat: Callable[[], None] | None = None,
) -> MappingInfo | None:
    """Poll until the mapping is ``Enabled`` (``enabled=True``) or gone; bounded, with backoff.

    ``disabled=True`` (with ``enabled=False``) waits for ``Disabled`` instead of gone: a mapping
    created disabled. ``until`` (a ``clock.monotonic()`` value) ends the wait sooner, as a
    timeout would. ``heartbeat`` is called before each pause between polls (a pause or unpause
    renews its hold on the job's control there: :mod:`relaystate.control_lease`).
    """
    began = clock.monotonic()
    info = backend.mappings.get(mapping_id)
    waits = _backoff(backend, until)
    while True:
        if enabled and info is not None and info.state == "Enabled":
            return info
        if not enabled and info is None:
            return None
        if disabled and info is not None and info.state == "Disabled":
            return info
        if enabled and info is None:
            raise ResourceNotFoundError(
                f"mapping {mapping_id} vanished while it was being enabled; start the job again"
            )
        pause = next(waits, None)
        if pause is None:
            want = "Enabled" if enabled else ("Disabled" if disabled else "deleted")
            state = info.state if info else "gone"
            waited = clock.monotonic() - began
            cut = " (all the time the caller had left)" if until is not None else ""
            raise MappingTimeoutError(
                f"mapping {mapping_id} is still {state!r} after {waited:.1f} s{cut}, waiting for "
                f"it to be {want}; check it in the Lambda console, then retry (a job's setup is "
                "rolled back, its teardown is idempotent)"
            )
        if heartbeat is not None:
            heartbeat()
        clock.sleep(pause)
        info = backend.mappings.get(mapping_id)


def enable(
    backend: Backend,
    mapping_id: str,
    *,
    until: float | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> None:
    """Enable a mapping created disabled, and wait until it is ``Enabled`` (``heartbeat``: as
    :func:`wait_for_mapping` takes it)."""
    backend.mappings.set_enabled(mapping_id, True)
    wait_for_mapping(backend, mapping_id, enabled=True, until=until, heartbeat=heartbeat)


def enable_job(
    backend: Backend,
    ledger: LedgerPort | None,
    job_id: str,
    mapping_id: str,
    until: float | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> None:
    """Enable a job's mapping -- a staged fan-out's once its packets are sent, a paused job's
    once its packets are back -- and wait for ``Enabled``.

    A mapping gone before the wait saw it ``Enabled`` may be the job's own teardown: quick
    shards ran and the last one tore the job down between two of the wait's polls (1,000
    one-unit shards run in seconds; the polls are up to 5 s apart; an unpaused job may only
    have had its teardown left). The job ran: this returns (a start raised here would be
    retried, and the job run twice). Only the ledger can tell: it must say that every shard
    ended; else the mapping went for another reason (an operator's ``reap``) and this raises
    as before. Without a ledger it always raises: no shard of a fan-out tears its job down
    then (``job.tear_down()`` does), so the mapping went for another reason, and the packets
    in the queue would never run. ``heartbeat``: as :func:`wait_for_mapping` takes it.

    Raises:
        ResourceNotFoundError: the mapping is gone, and the ledger does not say that the job
            ended.
    """
    try:
        enable(backend, mapping_id, until=until, heartbeat=heartbeat)
    except ResourceNotFoundError:
        if ledger is None:
            raise
        known = retry_transient(lambda: ledger.status(job_id), until=until)
        if known is None or known.done + known.failed < known.shards:
            raise
        log.info(
            "relaystate: job %s ran and was torn down before its mapping was seen Enabled",
            job_id,
        )


def detach(
    backend: Backend, mapping_id: str, until: float | None = None, *, wait: bool = True
) -> None:
    """Delete the mapping and wait until it is gone -- or, given ``until``, until then;
    ``wait=False``: not at all.

    A mapping in a transition (Creating, Updating...) refuses deletion with
    ResourceInUseException; the delete is retried within the mapping wait budget, so that a
    queue is never deleted under a live mapping. Once the delete is accepted the mapping is
    on its way out (``Deleting``): past ``until`` the queues are deleted without waiting for
    it to be gone, rather than be left behind by a Lambda killed while it waits.
    """
    waits = _backoff(backend, until)
    while True:
        try:
            backend.mappings.delete(mapping_id)
            break
        except ResourceConflictError:
            pause = next(waits, None)
            if pause is None:
                raise
            clock.sleep(pause)
    if not wait:
        return
    try:
        wait_for_mapping(backend, mapping_id, enabled=False, until=until)
    except MappingTimeoutError:
        if until is None or clock.monotonic() < until:
            raise
        log.info(
            "relaystate: mapping %s is still being deleted; deleting its queues now, in the "
            "time the Lambda has left",
            mapping_id,
        )
