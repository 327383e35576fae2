"""Hostile input: whatever arrives, it ends as a valid packet, a batch response, or a RelayError.

Property-based (hypothesis), unit tier: ``RelayJob.handle`` runs on ``memory_backend()``, so no
input does I/O. Two entry points:

- ``RelayPacket.from_json(text)``: arbitrary text, arbitrary JSON, and packets with arbitrary
  values in their fields. Every input is a packet that survives its own wire format (to_json,
  from_json: the same packet), or a RelayError.
- ``RelayJob.handle(event, context)``: arbitrary events, SQS records with arbitrary fields and
  bodies, and batches of good packets with one bad record among them. Every event ends as a
  ``{"batchItemFailures": [...]}`` naming only records of the event (or an InvalidEventError),
  and a bad record never stops the good ones of its batch.

The module prints how many inputs were generated (at least 10,000 across the two).
"""

from __future__ import annotations

import json
import logging
import string
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaystate import DONE, RelayError, RelayJob, RelayPacket
from relaystate.errors import InvalidEventError, InvalidPacketError
from relaystate.testing import memory_backend, sqs_event

#: Generated inputs by entry point, reported at the end of the module.
TRIED: Counter[str] = Counter()


def examples(n: int) -> settings:
    """``n`` generated inputs; no example database in the repo; no deadline (first calls warm
    caches, and the machine's speed is not what these tests are about)."""
    return settings(max_examples=n, database=None, deadline=None)


class HostileJob(RelayJob):
    """Finishes at its first unit and records which job ran."""

    function_name = "hostile-worker"
    ran: ClassVar[list[str]] = []

    def step(self, cursor: Any) -> Any:
        HostileJob.ran.append(self.job_id)
        return DONE


@pytest.fixture(scope="module", autouse=True)
def quiet_and_counted(request: pytest.FixtureRequest) -> Iterator[None]:
    """Silence the per-record error logs (thousands of tracebacks); report the input count."""
    logger = logging.getLogger("relaystate")
    saved = logger.disabled
    logger.disabled = True
    yield
    logger.disabled = saved
    line = (
        f"hostile input: {sum(TRIED.values()):,} generated inputs "
        f"({', '.join(f'{name} {n:,}' for name, n in sorted(TRIED.items()))})"
    )
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n{line}")


# -- strategies ----------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
# Keys of the wire format, so that generated objects reach the validation of each field.
WIRE_KEYS = [
    "v", "job_id", "job_type", "function", "queue_url", "dlq_url", "mapping_id", "shard",
    "shards", "hop", "state", "cursor", "data", "stats", "timing", "rate", "options", "error",
    "created_ms", "updated_ms", "QueueUrl", "UUID", "FunctionName", "sig", "kid",
]  # fmt: skip
STATS_KEYS = ["hops", "relays", "units", "work_ms", "retries", "sqsCount"]


def valid_packet(job_id: str = "job-1", **changes: Any) -> RelayPacket:
    return RelayPacket(
        job_id=job_id,
        job_type=HostileJob.type_name(),
        function_name="hostile-worker",
        queue_url="https://sqs.test/123456789012/relay-x",
        cursor=[1, {"a": "b"}],
        data={"table": "users"},
        **changes,
    )


@st.composite
def mutated_packets(draw: st.DrawFn) -> dict[str, Any]:
    """A valid packet's dict with some fields replaced, removed or added."""
    raw = valid_packet().to_dict()
    raw["stats"] = {
        **raw["stats"],
        **draw(st.dictionaries(st.sampled_from(STATS_KEYS), json_values)),
    }
    for key in draw(st.lists(st.sampled_from(WIRE_KEYS), max_size=4)):
        raw[key] = draw(json_values)
    for key in draw(st.lists(st.sampled_from(sorted(raw)), max_size=2)):
        raw.pop(key, None)
    if draw(st.booleans()):
        raw[draw(st.text(max_size=6))] = draw(json_values)
    return raw


@st.composite
def npm_packets(draw: st.DrawFn) -> dict[str, Any]:
    """What the npm helper writes, with arbitrary values."""
    raw: dict[str, Any] = {"QueueUrl": draw(st.text() | json_values)}
    if draw(st.booleans()):
        raw["UUID"] = draw(json_values)
    if draw(st.booleans()):
        raw["stats"] = draw(st.dictionaries(st.sampled_from(STATS_KEYS), json_values) | json_values)
    raw.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3)))
    return raw


def nested(depth: int, opener: str, closer: str) -> str:
    return opener * depth + "0" + closer * depth


def deep_bodies(depth: int) -> list[str]:
    """JSON nested ``depth`` deep: alone, in a packet's cursor, in an npm packet's data."""
    cursor = valid_packet().to_dict()
    cursor.pop("cursor")
    return [
        nested(depth, "[", "]"),
        nested(depth, '{"a":', "}"),
        json.dumps(cursor)[:-1] + ',"cursor":' + nested(depth, "[", "]") + "}",
        '{"QueueUrl":"https://q","n":' + nested(depth, "[", "]") + "}",
    ]


# Nesting alone at any depth (json.loads gives up somewhere near the recursion limit, which
# depends on the stack); in a packet's field, shallow enough for freeze() or far deeper than
# json.loads can go. The depths between are the known bug of
# test_from_json_of_json_nested_deeper_than_freeze_can_go.
deeply_nested = st.integers(1, 100_000).flatmap(
    lambda depth: st.sampled_from(deep_bodies(depth)[:2])
) | (st.integers(1, 300) | st.integers(20_000, 100_000)).flatmap(
    lambda depth: st.sampled_from(deep_bodies(depth)[2:])
)

bodies = (
    st.text()
    | st.text(alphabet=string.printable)
    | json_values.map(json.dumps)
    | mutated_packets().map(json.dumps)
    | npm_packets().map(json.dumps)
)


# -- RelayPacket.from_json --------------------------------------------------------------------


def assert_packet_or_relay_error(text: str | bytes) -> None:
    try:
        packet = RelayPacket.from_json(text)
    except RelayError:
        return
    assert isinstance(packet, RelayPacket)
    again = RelayPacket.from_json(packet.to_json())  # its own wire format reads back the same
    assert packet == again


@examples(4_000)
@given(st.text() | st.binary())
def test_from_json_of_arbitrary_text_or_bytes(text: str | bytes) -> None:
    TRIED["from_json"] += 1
    assert_packet_or_relay_error(text)


@examples(2_000)
@given(json_values)
def test_from_json_of_arbitrary_json(value: Any) -> None:
    TRIED["from_json"] += 1
    assert_packet_or_relay_error(json.dumps(value))


@examples(1_500)
@given(mutated_packets() | npm_packets())
def test_from_json_of_packets_with_arbitrary_fields(raw: dict[str, Any]) -> None:
    TRIED["from_json"] += 1
    assert_packet_or_relay_error(json.dumps(raw))


@examples(300)
@given(deeply_nested)
def test_from_json_of_deeply_nested_json(text: str) -> None:
    TRIED["from_json"] += 1
    assert_packet_or_relay_error(text)


@pytest.mark.parametrize("where", ["cursor", "npm data"])
def test_from_json_of_json_nested_deeper_than_freeze_can_go(where: str) -> None:
    body = deep_bodies(600)[2 if where == "cursor" else 3]

    assert_packet_or_relay_error(body)


# -- RelayJob.handle ----------------------------------------------------------------------------

records = st.fixed_dictionaries(
    {},
    optional={
        "messageId": st.text(max_size=10) | json_values,
        "receiptHandle": st.text(max_size=10),
        "body": bodies | json_values,
        "attributes": st.dictionaries(
            st.sampled_from(["ApproximateReceiveCount", "SentTimestamp"]), json_values
        )
        | json_values,
        "messageAttributes": json_values,
        "eventSource": st.text(max_size=10),
    },
)
events = (
    json_values
    | st.fixed_dictionaries({"Records": st.lists(records, max_size=4)})
    | st.fixed_dictionaries({"Records": json_values})
    | st.dictionaries(st.text(max_size=8), json_values)
)


class OddContext:
    """A context whose remaining time is whatever was drawn."""

    def __init__(self, remaining: Any) -> None:
        self.remaining = remaining
        self.aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> Any:
        return self.remaining


contexts = st.none() | json_values.map(OddContext) | st.integers(0, 900_000).map(OddContext)


def assert_response_or_relay_error(event: Any, context: Any) -> None:
    try:
        response = HostileJob.handle(event, context, backend=memory_backend())
    except InvalidEventError:
        return
    assert ["batchItemFailures"] == list(response)
    ids = [r.get("messageId") for r in event["Records"]]
    for failure in response["batchItemFailures"]:
        assert ["itemIdentifier"] == list(failure)
        assert failure["itemIdentifier"] in ids


@examples(1_200)
@given(events, contexts)
def test_handle_of_arbitrary_events(event: Any, context: Any) -> None:
    TRIED["handle"] += 1
    assert_response_or_relay_error(event, context)


@examples(1_200)
@given(bodies, st.integers(min_value=-5, max_value=10**6))
def test_handle_of_records_with_arbitrary_bodies(body: str, receive_count: int) -> None:
    TRIED["handle"] += 1
    event = sqs_event(body, receive_count=receive_count)
    assert_response_or_relay_error(event, None)


bad_records = records.filter(
    lambda r: not str(r.get("messageId", "")).startswith("good-")
) | bodies.map(lambda body: {"messageId": "bad", "body": body})


def is_a_hostile_packet(record: dict[str, Any]) -> bool:
    """Whether the 'bad' record is in fact a good packet of HostileJob (then it runs too)."""
    try:
        return RelayPacket.from_json(record["body"]).job_type == HostileJob.type_name()
    except (KeyError, TypeError, RelayError):
        return False


@examples(1_000)
@given(st.integers(min_value=1, max_value=4), bad_records, st.data())
def test_a_bad_record_does_not_stop_the_good_ones(
    good: int, bad: dict[str, Any], data: st.DataObject
) -> None:
    TRIED["handle"] += 1
    packets = [valid_packet(f"good-job-{i}") for i in range(good)]
    event = sqs_event(*(p.to_json() for p in packets))
    for i, record in enumerate(event["Records"]):
        record["messageId"] = f"good-{i}"
    position = data.draw(st.integers(min_value=0, max_value=good), label="position")
    event["Records"].insert(position, bad)
    HostileJob.ran.clear()

    response = HostileJob.handle(event, None, backend=memory_backend())

    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    if is_a_hostile_packet(bad):
        assert [] == [f for f in failed if f.startswith("good-")]
    else:
        expected = [bad["messageId"]] if isinstance(bad.get("messageId"), str) else []
        assert expected == failed
    assert [p.job_id for p in packets] == [j for j in HostileJob.ran if j.startswith("good-")]


def test_a_lone_surrogate_is_refused_when_read_not_when_sent() -> None:
    # JSON may escape a lone surrogate ("\ud800"); UTF-8 cannot carry it, so a packet with one
    # could never be sent: it is refused at the door, with the field named.
    raw = valid_packet().to_dict()
    raw["data"] = {"name": "\ud800"}

    with pytest.raises(InvalidPacketError, match="lone surrogate"):
        RelayPacket.from_json(json.dumps(raw))
