"""The spans of a traced job, over OpenTelemetry's API: imported only when tracing is on.

:mod:`relaystate.tracing` decides whether a job is traced and, only then, imports this module
(and OpenTelemetry with it), so that an untraced worker's cold start compiles and runs none of
it. What the spans are and carry is told there.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from .ports import Backend, LedgerPort

__all__ = ["RecordingHopSpan", "hop_span", "start_span", "traced_ports"]

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
            "reopen_job": "UpdateItem",
            "results": "Query",
            "put_signal": "TransactWriteItems",
            "signals": "Query",
            "waiting_for": "Query",
            "set_paused": "UpdateItem",
            "claim_control": "UpdateItem",
            "release_control": "UpdateItem",
            "park": "BatchWriteItem",
            "parked": "Query",
            "forget_parked": "BatchWriteItem",
            "status": "Query",
        },
    ),
}


@contextlib.contextmanager
def start_span(job: Any) -> Iterator[str]:
    """The span of a job's start, under the caller's current span; gives its traceparent."""
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"relaystate start {job.type_name()}",
        kind=SpanKind.PRODUCER,
        attributes=_job_attributes(job),
    ) as span:
        yield _traceparent(span)


@contextlib.contextmanager
def hop_span(job: Any, context: Any, receive_count: int) -> Iterator[RecordingHopSpan]:
    """The span of one hop of ``job`` (rebuilt from its packet), the child of the span that
    sent the packet."""
    packet = job.packet
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
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield RecordingHopSpan(span, _traceparent(span))


class RecordingHopSpan:
    """A traced hop's span (a :class:`relaystate.tracing.HopSpan`): what the hop tells it
    becomes its attributes and status."""

    __slots__ = ("span", "traceparent")

    def __init__(self, span: Span, traceparent: str) -> None:
        self.span = span
        self.traceparent = traceparent

    def outcome(self, outcome: str) -> None:
        """A hop that ran no unit: how its delivery was dealt with."""
        self.span.set_attribute("relaystate.outcome", outcome)

    def record(self, record: Mapping[str, Any], error: BaseException | None) -> None:
        """The hop's record as attributes; its error as an exception event (and ERROR, if
        the shard failed)."""
        for key, name in _RECORD_ATTRIBUTES.items():
            value = record.get(key)
            if isinstance(value, bool | int | float | str):
                self.span.set_attribute(name, value)
        if error is not None:
            self.span.record_exception(error)
        if record.get("outcome") == "failed":
            self.span.set_status(Status(StatusCode.ERROR, str(record.get("error", ""))[:200]))


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
            f"{self._service}.{operation}", kind=SpanKind.CLIENT, attributes=attributes
        ):
            return method(*args, **kwargs)


def flush() -> None:
    """Export what was traced: the global provider's ``force_flush``, where it has one."""
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(force_flush):
        force_flush()


def _job_attributes(job: Any) -> dict[str, Any]:
    return {"relaystate.job.id": str(job.job_id), "relaystate.job.type": job.type_name()}


def _traceparent(span: Span) -> str:
    """The span's W3C traceparent (``""`` for a span that is not recording a valid context)."""
    found = span.get_span_context()
    if not found.is_valid:
        return ""
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"
