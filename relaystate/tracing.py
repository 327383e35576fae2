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
Lambda is frozen between invocations. Only ``traceparent`` travels, not ``tracestate``.

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
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .ports import Backend, LedgerPort

__all__ = ["ENV", "HopSpan", "enabled", "flush", "hop_span", "start_span", "traced_ports"]

log = logging.getLogger("relaystate")

#: The environment variable that turns tracing on (``1``) or off (``0``) for every job.
ENV = "RELAYSTATE_TRACING"
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})
_TRACER = "relaystate"

#: Each port method: the AWS service and operation it calls (its first, for the ledger's).
_OPERATIONS: dict[str, tuple[str, dict[str, str]]] = {
    "queues": (
        "SQS",
        {
            "create": "CreateQueue",
            "set_attributes": "SetQueueAttributes",
            "delete": "DeleteQueue",
            "describe": "GetQueueAttributes",
            "find": "GetQueueUrl",
            "tags": "ListQueueTags",
            "receive": "ReceiveMessage",
            "delete_messages": "DeleteMessageBatch",
            "send": "SendMessage",
            "send_batch": "SendMessageBatch",
        },
    ),
    "mappings": (
        "Lambda",
        {
            "function_timeout_s": "GetFunctionConfiguration",
            "create": "CreateEventSourceMapping",
            "set_enabled": "UpdateEventSourceMapping",
            "get": "GetEventSourceMapping",
            "delete": "DeleteEventSourceMapping",
            "list_for_queue": "ListEventSourceMappings",
            "allow_recursion": "PutFunctionRecursionConfig",
        },
    ),
    "ledger": (
        "DynamoDB",
        {
            "open_job": "UpdateItem",
            "abandon_job": "DeleteItem",
            "claim": "UpdateItem",
            "checkpoint": "UpdateItem",
            "finish": "TransactWriteItems",
            "claim_teardown": "UpdateItem",
            "mark_torn_down": "UpdateItem",
            "reopen": "TransactWriteItems",
            "results": "Query",
            "put_signal": "TransactWriteItems",
            "signals": "Query",
            "waiting_for": "Query",
            "set_paused": "UpdateItem",
            "park": "BatchWriteItem",
            "parked": "Query",
            "forget_parked": "BatchWriteItem",
            "status": "Query",
        },
    ),
}


def enabled(job: Any) -> bool:
    """Whether ``job`` (a job or its class) is traced: asked for, and OpenTelemetry installed.

    Example:
        >>> class Plain:
        ...     tracing = False
        >>> enabled(Plain)  # unless RELAYSTATE_TRACING=1 is set
        False
    """
    setting = os.environ.get(ENV, "").strip().lower()
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


@contextlib.contextmanager
def start_span(job: Any) -> Iterator[str]:
    """The span of a job's start, under the caller's current span; gives its traceparent
    (``""`` when the job is not traced), for the first packets."""
    if not enabled(job):
        yield ""
        return
    from opentelemetry import trace

    tracer = trace.get_tracer(_TRACER)
    name = f"relaystate start {job.type_name()}"
    with tracer.start_as_current_span(
        name, kind=trace.SpanKind.PRODUCER, attributes=_job_attributes(job)
    ) as span:
        yield _traceparent(span)


@contextlib.contextmanager
def hop_span(job: Any, context: Any, receive_count: int) -> Iterator[HopSpan]:
    """The span of one hop of ``job`` (rebuilt from its packet), the child of the span that
    sent the packet; a :class:`HopSpan` that does nothing when the job is not traced.

    The span's traceparent is given to the packets the hop sends through
    :attr:`HopSpan.traceparent`.
    """
    packet = job.packet
    if not enabled(job) or packet is None:
        yield HopSpan()
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(
        {"traceparent": packet.traceparent} if packet.traceparent else {}
    )
    attributes: dict[str, Any] = {
        **_job_attributes(job),
        "relaystate.shard": packet.shard,
        "relaystate.shards": packet.shards,
        "relaystate.hop": packet.hop,
        "relaystate.retries": max(receive_count - 1, 0),
        "messaging.system": "aws_sqs",
    }
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        attributes["faas.invocation_id"] = request_id
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"relaystate hop {job.type_name()}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield HopSpan(span, _traceparent(span))


@attrs.define
class HopSpan:
    """A hop's span, or nothing (an untraced hop): what the hop tells it.

    Attributes:
        span: the OpenTelemetry span, or ``None``.
        traceparent: its W3C traceparent, for the packets the hop sends (``""``: none).
    """

    span: Span | None = None
    traceparent: str = ""

    def outcome(self, outcome: str) -> None:
        """A hop that ran no unit: how its delivery was dealt with (``duplicate``...)."""
        if self.span is not None:
            self.span.set_attribute("relaystate.outcome", outcome)

    def record(self, record: Mapping[str, Any], error: BaseException | None) -> None:
        """The hop's record (:meth:`relaystate.hop.Hop._record`'s fields) as attributes."""
        span = self.span
        if span is None:
            return
        for key, name in _RECORD_ATTRIBUTES.items():
            value = record.get(key)
            if isinstance(value, bool | int | float | str):
                span.set_attribute(name, value)
        if error is not None:
            span.record_exception(error)
        if record.get("outcome") == "failed":
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, str(record.get("error", ""))[:200]))


#: Hop record field -> span attribute.
_RECORD_ATTRIBUTES = {
    "units": "relaystate.units",
    "utilization": "relaystate.utilization",
    "outcome": "relaystate.outcome",
    "delay_s": "relaystate.relay_delay_s",
    "work_ms": "relaystate.work_ms",
}


def traced_ports(backend: Backend, ledger: LedgerPort | None) -> tuple[Backend, LedgerPort | None]:
    """The backend and ledger with a span around each call of their ports."""
    traced = attrs.evolve(
        backend,
        queues=cast("Any", _Traced(backend.queues, "queues")),
        mappings=cast("Any", _Traced(backend.mappings, "mappings")),
    )
    if ledger is None:
        return traced, None
    return traced, cast("LedgerPort", _Traced(ledger, "ledger"))


class _Traced:
    """A port whose method calls are each a CLIENT span (the AWS call they make)."""

    def __init__(self, port: Any, kind: str) -> None:
        self._port = port
        self._service, self._operations = _OPERATIONS[kind]
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._port, name)
        if name.startswith("_") or not callable(found):
            return found
        return functools.partial(self._call, name, found)

    def _call(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from opentelemetry import trace

        operation = self._operations.get(name, name)
        attributes: dict[str, Any] = {
            "rpc.system": "aws-api",
            "rpc.service": self._service,
            "rpc.method": operation,
        }
        if self._kind == "ledger":
            attributes["relaystate.ledger.operation"] = name
            attributes["aws.dynamodb.table_names"] = [str(getattr(self._port, "table_name", ""))]
        tracer = trace.get_tracer(_TRACER)
        with tracer.start_as_current_span(
            f"{self._service}.{operation}", kind=trace.SpanKind.CLIENT, attributes=attributes
        ):
            return method(*args, **kwargs)


def flush(job: Any) -> None:
    """Export what the job's hops traced before the Lambda is frozen (the global provider's
    ``force_flush``, where it has one); nothing when the job is not traced."""
    if not enabled(job):
        return
    from opentelemetry import trace

    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(force_flush):
        try:
            force_flush()
        except Exception:  # an exporter's trouble must not fail the hops that ran
            log.warning("relaystate: flushing the trace's spans failed", exc_info=True)


def _job_attributes(job: Any) -> dict[str, Any]:
    return {"relaystate.job.id": str(job.job_id), "relaystate.job.type": job.type_name()}


def _traceparent(span: Span) -> str:
    """The span's W3C traceparent (``""`` for a span that is not recording a valid context)."""
    found = span.get_span_context()
    if not found.is_valid:
        return ""
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"
