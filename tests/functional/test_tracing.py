"""OpenTelemetry across hops: one trace per job, the hop spans' parent chain, the AWS calls.

Functional: a 3-shard job of several hops each on LocalLambda (moto's SQS on 127.0.0.1), its
spans exported to the OpenTelemetry SDK's in-memory exporter.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from relaystate import DONE, RelayJob, RelayPacket
from relaystate.local import LocalLambda
from relaystate.testing import UnitsPerHop, memory_backend, sqs_event
from relaystate.tracing import ENV, enabled


class TracedShards(RelayJob):
    job_type = "test_tracing.TracedShards"
    function_name = "traced-worker"
    budget = UnitsPerHop.of(1)
    tracing = True

    def plan(self) -> list[int]:
        return [0, 10, 20]

    def step(self, cursor: int) -> Any:
        return DONE if cursor % 10 >= 2 else cursor + 1


class Untraced(RelayJob):
    job_type = "test_tracing.Untraced"
    function_name = "untraced-worker"

    def step(self, cursor: Any) -> Any:
        return DONE


_PROVIDER = TracerProvider()
_EXPORTER = InMemorySpanExporter()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The global tracer provider, once per process, exporting to memory (cleared per test)."""
    if trace.get_tracer_provider() is not _PROVIDER:
        trace.set_tracer_provider(_PROVIDER)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def hop_spans(exported: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    return [s for s in exported if s.name == "relaystate hop test_tracing.TracedShards"]


def attribute(span: ReadableSpan, name: str) -> Any:
    assert span.attributes is not None
    return span.attributes[name]


def test_a_fan_out_is_one_trace_under_the_starters_span(
    sqs_endpoint: str, spans: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("test")
    with LocalLambda(timeout_s=2.0, endpoint_url=sqs_endpoint, retry_delay_s=0) as lam:
        lam.deploy(TracedShards)
        with tracer.start_as_current_span("the caller") as caller:
            job = TracedShards(backend=lam.backend).start()
        lam.run_until_idle(timeout_s=60)
        job.tear_down()
    exported = spans.get_finished_spans()
    hops = hop_spans(exported)
    assert 9 == len(hops)  # 3 shards x 3 hops (cursor 0, 1, 2 -> DONE)
    trace_id = caller.get_span_context().trace_id
    assert {trace_id} == {s.context.trace_id for s in exported if s.context is not None}
    (start,) = [s for s in exported if s.name.startswith("relaystate start")]
    assert start.parent is not None
    assert caller.get_span_context().span_id == start.parent.span_id
    assert job.job_id == attribute(start, "relaystate.job.id")


def test_each_hop_span_is_the_child_of_the_hop_before(
    sqs_endpoint: str, spans: InMemorySpanExporter
) -> None:
    with LocalLambda(timeout_s=2.0, endpoint_url=sqs_endpoint, retry_delay_s=0) as lam:
        lam.deploy(TracedShards)
        job = TracedShards(backend=lam.backend).start()
        lam.run_until_idle(timeout_s=60)
        job.tear_down()
    exported = spans.get_finished_spans()
    (start,) = [s for s in exported if s.name.startswith("relaystate start")]
    assert start.context is not None
    by_place = {
        (attribute(s, "relaystate.shard"), attribute(s, "relaystate.hop")): s
        for s in hop_spans(exported)
    }
    assert {(shard, hop) for shard in range(3) for hop in range(3)} == set(by_place)
    for (shard, hop), span in by_place.items():
        assert span.parent is not None
        before = start if hop == 0 else by_place[(shard, hop - 1)]
        assert before.context is not None
        assert before.context.span_id == span.parent.span_id, (shard, hop)
    last = by_place[(1, 2)]
    assert ("finished", 1, job.job_id, "test_tracing.TracedShards") == (
        attribute(last, "relaystate.outcome"),
        attribute(last, "relaystate.units"),
        attribute(last, "relaystate.job.id"),
        attribute(last, "relaystate.job.type"),
    )
    assert "relayed" == attribute(by_place[(1, 0)], "relaystate.outcome")
    assert {"relaystate.utilization", "relaystate.relay_delay_s", "faas.invocation_id"} <= set(
        last.attributes or {}
    )


def test_the_aws_calls_of_a_hop_are_its_children(
    sqs_endpoint: str, spans: InMemorySpanExporter
) -> None:
    with LocalLambda(timeout_s=2.0, endpoint_url=sqs_endpoint, retry_delay_s=0) as lam:
        lam.deploy(TracedShards)
        job = TracedShards(backend=lam.backend, ledger=lam.ledger().table_name).start()
        lam.run_until_idle(timeout_s=60)
    exported = spans.get_finished_spans()
    hops = {s.context.span_id: s for s in hop_spans(exported) if s.context is not None}
    calls = [s for s in exported if s.parent is not None and s.parent.span_id in hops]
    names = {s.name for s in calls}
    assert {"DynamoDB.UpdateItem", "SQS.SendMessage", "DynamoDB.TransactWriteItems"} <= names
    (send,) = [s for s in calls if s.name == "SQS.SendMessage"][:1]
    assert ("aws-api", "SQS", "SendMessage") == (
        attribute(send, "rpc.system"),
        attribute(send, "rpc.service"),
        attribute(send, "rpc.method"),
    )
    assert job.status() is not None


def test_the_packet_carries_the_traceparent_of_the_span_that_sent_it(
    spans: InMemorySpanExporter,
) -> None:
    backend = memory_backend()
    job = TracedShards(backend=backend).start()
    (start,) = spans.get_finished_spans()
    assert start.context is not None
    context = start.context
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    assert [expected] * 3 == [packet.traceparent for packet in job.packets]
    assert job.packet is not None
    TracedShards.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), None, backend=backend)
    (hop,) = hop_spans(spans.get_finished_spans())
    left = [RelayPacket.from_json(backend.queues.pop(job.packet.queue_url)) for _ in range(3)]
    (nxt,) = [p for p in left if p.hop == 1]
    assert hop.context is not None
    assert f"{hop.context.span_id:016x}" == nxt.traceparent.split("-")[2]


def test_an_untraced_job_makes_no_span_and_no_traceparent(spans: InMemorySpanExporter) -> None:
    job = Untraced(backend=memory_backend()).start()
    assert job.packet is not None
    assert ("", ()) == (job.packet.traceparent, spans.get_finished_spans())


def test_the_environment_turns_tracing_on_and_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "1")
    assert enabled(Untraced)
    monkeypatch.setenv(ENV, "0")
    assert not enabled(TracedShards)


def test_an_untraced_worker_imports_nothing_of_opentelemetry_nor_the_spans() -> None:
    code = (
        "import sys, relaystate\n"
        "from relaystate.testing import memory_backend, sqs_event\n"
        "class Job(relaystate.RelayJob):\n"
        "    function_name = 'w'\n"
        "    def step(self, cursor):\n"
        "        return relaystate.DONE\n"
        "backend = memory_backend()\n"
        "job = Job(backend=backend).start()\n"
        "Job.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), None, backend=backend)\n"
        "spans = ('opentelemetry', 'relaystate.otel')\n"
        "print(sorted(m for m in sys.modules if m.startswith(spans)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
    )
    assert "[]" == out.stdout.strip()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != ENV}


def test_a_packet_carries_a_traceparent_on_the_wire_and_refuses_a_malformed_one() -> None:
    from relaystate import InvalidPacketError

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    packet = RelayPacket(job_id="j", job_type="T", function_name="f", traceparent=traceparent)
    assert traceparent == RelayPacket.from_json(packet.to_json()).traceparent
    assert "traceparent" not in packet.evolve(traceparent="").to_dict()
    raw = {**packet.to_dict(), "traceparent": "00-not-a-trace-01"}
    with pytest.raises(InvalidPacketError, match="traceparent"):
        RelayPacket.from_dict(raw)
