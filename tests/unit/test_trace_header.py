"""The X-Ray trace header SQS keeps as ``AWSTraceHeader``: its lineage, as LocalLambda reads it."""

from __future__ import annotations

from relaystate.local.trace import TraceHeader


def test_trace_header_round_trips_with_its_lineage() -> None:
    header = TraceHeader.new().with_count("ab12cd34", 3).with_count("0f0f0f0f", 1)

    parsed = TraceHeader.parse(header.format())

    assert header == parsed
    assert (3, 1, 0) == (
        header.count_for("ab12cd34"),
        header.count_for("0f0f0f0f"),
        header.count_for("99999999"),
    )


def test_trace_header_reads_both_lineage_spellings_seen_on_aws() -> None:
    old = TraceHeader.parse("Root=1-64d38018-6a56d23a731e0cbe6ed85687;Sampled=0;Lineage=037bed70:5")
    new = TraceHeader.parse("Root=1-b5a9daed-357f662c2c285cf280b61d38;Lineage=1:fe460cdd:7")

    assert old is not None
    assert new is not None
    assert (5, 7) == (old.count_for("037bed70"), new.count_for("fe460cdd"))
    assert TraceHeader.parse("Parent=53995c3f42cd8ad8;Sampled=1") is None
