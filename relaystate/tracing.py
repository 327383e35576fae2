"""OpenTelemetry across hops: one trace per job, a span per hop, a span per AWS call.

Tracing is off unless both hold: the ``otel`` extra is installed (``pip install
'relaystate[otel]'``: ``opentelemetry-api``), and it is asked for -- ``tracing = True`` on the job
class, or ``RELAYSTATE_TRACING=1`` in the environment (``RELAYSTATE_TRACING=0`` turns it off
for every job, whatever the class says). Off, nothing of OpenTelemetry is imported: a worker's
cold start is what it was. Asked for but not installed, a warning says so once and the jobs
run untraced.

::

    start        span "relaystate start <JobType>", a child of the starter's current span
                 (if any: else a new trace); its W3C traceparent goes into every first packet
    hop          span "relaystate hop <JobType>" (kind CONSUMER), the child of the span that
                 sent its packet -- the start, or the hop before -- so that a shard's hops
                 chain, and a fan-out's shards branch from the start; the packets it sends
                 carry its traceparent (``RelayPacket.traceparent``)
    AWS calls    a span per call of the backend's ports during a hop (kind CLIENT), named as
                 OpenTelemetry's AWS SDK conventions name them (``SQS.SendMessage``,
                 ``DynamoDB.UpdateItem``), with ``rpc.system``/``rpc.service``/``rpc.method``

A hop span's attributes: ``relaystate.job.id``, ``relaystate.job.type``, ``relaystate.shard``,
``relaystate.hop``, ``relaystate.units``, ``relaystate.utilization``, ``relaystate.outcome``,
``relaystate.relay_delay_s`` (and ``relaystate.work_ms``, ``relaystate.retries``,
``faas.invocation_id``). A hop that failed its shard has status ERROR; a unit error is
recorded as the span's exception event. Spans go to the global tracer provider, so any SDK
exporter works; at the end of each invocation the provider is flushed (``force_flush``), as a
Lambda is frozen between invocations. Only ``traceparent`` travels, not ``tracestate``; a
resumed packet goes on in the trace it was in.

This module only decides, and is all an untraced worker imports; :mod:`relaystate.otel` makes
the spans, imported (with OpenTelemetry) once a job is traced.

Example:
    >>> class CopyRows(RelayJob):  # doctest: +SKIP
    ...     tracing = True
    >>> with tracer.start_as_current_span("import users"):  # doctest: +SKIP
    ...     CopyRows(data={"table": "users"}).start()   # the job's trace is under this span
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = [
    "ENV",
    "UNTRACED",
    "HopSpan",
    "enabled",
    "flush",
    "hop_span",
    "setting",
    "start_span",
    "traced_ports",
]

log = logging.getLogger("relaystate")

#: The environment variable that turns tracing on (``1``) or off (``0``) for every job.
ENV = "RELAYSTATE_TRACING"
#: What :func:`_environ` reads: :data:`ENV` as ``os.environ`` keeps it, the class that keeps
#: it so, and whether it does (on POSIX its dict holds bytes).
_ENV_BYTES = os.fsencode(ENV)
_ENVIRON = os._Environ
_POSIX = os.name == "posix"
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def setting() -> str:
    """What the environment says about tracing: :data:`ENV`'s value, trimmed, lower-case.

    A worker reads it once an invocation and hands it to :func:`enabled` for each of its
    hops (an environment lookup costs as much as the rest of the decision).

    Example:
        >>> setting() in ("", "0", "1")
        True
    """
    return _environ().strip().lower()


def _environ() -> str:
    """``os.environ.get(ENV, "")``, read from the dict under ``os.environ`` where it keeps
    bytes (POSIX): the mapping's ``get`` costs three Python calls (``__getitem__``, the key's
    encoding, the ``KeyError`` of a name that is not set), and is asked on every hop. Anywhere
    else -- another platform, ``os.environ`` replaced -- the mapping's own ``get``."""
    environ = os.environ
    if type(environ) is not _ENVIRON or not _POSIX:
        return environ.get(ENV, "")
    raw = environ._data.get(_ENV_BYTES)  # type: ignore[attr-defined]  # not in the stubs
    return "" if raw is None else os.fsdecode(raw)


def enabled(job: Any, env: str | None = None) -> bool:
    """Whether ``job`` (a job or its class) is traced: asked for, and OpenTelemetry installed.

    ``env``: the environment's :func:`setting`, when the caller has read it already.

    Example:
        >>> class Plain:
        ...     tracing = False
        >>> enabled(Plain)  # unless RELAYSTATE_TRACING=1 is set
        False
    """
    setting = _environ().strip().lower() if env is None else env
    if setting in _OFF:
        return False
    if not (setting in _ON or getattr(job, "tracing", False) is True):
        return False
    return _installed()


@functools.cache
def _installed() -> bool:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        log.warning(
            "relaystate: tracing is asked for (tracing = True or %s=1) but OpenTelemetry is not "
            "installed: pip install 'relaystate[otel]'; jobs run untraced",
            ENV,
        )
        return False
    return True


class HopSpan(Protocol):
    """A hop's span as the hop sees it (:data:`UNTRACED` for a hop that is not traced).

    Attributes:
        traceparent: the span's W3C traceparent, for the packets the hop sends (``""``: none).
    """

    traceparent: str

    def outcome(self, outcome: str) -> None:
        """A hop that ran no unit: how its delivery was dealt with (``duplicate``...)."""

    def record(self, record: Mapping[str, Any], error: BaseException | None) -> None:
        """The hop's record (its outcome, units, utilization, delay...) and its error."""


class _Untraced:
    """The span of a hop that is not traced: it does nothing."""

    traceparent = ""

    def outcome(self, outcome: str) -> None:
        pass

    def record(self, record: Mapping[str, Any], error: BaseException | None) -> None:
        pass


#: The span of every hop that is not traced.
UNTRACED: HopSpan = _Untraced()


def start_span(job: Any) -> contextlib.AbstractContextManager[str]:
    """The span of a job's start, under the caller's current span; gives its traceparent
    (``""`` when the job is not traced), for the first packets."""
    if not enabled(job):
        return contextlib.nullcontext("")
    from . import otel

    return otel.start_span(job)


def hop_span(
    job: Any, context: Any, receive_count: int, *, traced: bool | None = None
) -> contextlib.AbstractContextManager[HopSpan] | None:
    """The span of one hop of ``job`` (rebuilt from its packet), the child of the span that
    sent the packet; ``None`` when the job is not traced (the hop runs in :data:`UNTRACED`,
    which does nothing: no context to enter).

    ``traced``: :func:`enabled` for the job, when the caller has decided it already."""
    if job.packet is None or not (enabled(job) if traced is None else traced):
        return None
    from . import otel

    return otel.hop_span(job, context, receive_count)


def traced_ports(backend: Backend, ledger: LedgerPort | None) -> tuple[Backend, LedgerPort | None]:
    """The backend and ledger with a span around each call of their ports (tracing on)."""
    from . import otel

    return otel.traced_ports(backend, ledger)


def flush(job: Any, env: str | None = None) -> None:
    """Export what the job's hops traced before the Lambda is frozen (the global provider's
    ``force_flush``, where it has one); nothing when the job is not traced. ``env``: as for
    :func:`enabled`."""
    if not enabled(job, env):
        return
    from . import otel

    try:
        otel.flush()
    except Exception:  # an exporter's trouble must not fail the hops that ran
        log.warning("relaystate: flushing the trace's spans failed", exc_info=True)
