"""Unit tests of RelayPacket and Stats: immutability, the wire format, the size guard."""

from __future__ import annotations

import json

import attrs
import pytest

from relaystate import InvalidPacketError, JobState, PacketTooLargeError, RelayPacket, Stats
from relaystate.frozen import FrozenDict


def packet(**changes: object) -> RelayPacket:
    base: dict[str, object] = {
        "job_id": "j1",
        "job_type": "CopyRows",
        "function_name": "copy-rows-worker",
        "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/relay-j1",
        "dlq_url": "https://sqs.us-east-1.amazonaws.com/123456789012/relay-j1-dlq",
        "mapping_id": "0f5e-uuid",
        "cursor": {"after": 100, "ids": [1, 2]},
        "data": {"table": "users", "cols": ["a", "b"]},
    }
    base.update(changes)
    return RelayPacket(**base)  # type: ignore[arg-type]


def test_packet_fields_cannot_be_assigned() -> None:
    p = packet()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.hop = 2  # type: ignore[misc]


def test_nested_data_cannot_be_mutated_through_a_snapshot() -> None:
    p = packet()
    with pytest.raises(TypeError):
        p.data["table"] = "other"  # type: ignore[index]
    assert isinstance(p.data["cols"], tuple)


def test_nested_cursor_is_frozen() -> None:
    p = packet()
    assert FrozenDict({"after": 100, "ids": (1, 2)}) == p.cursor
    with pytest.raises(TypeError):
        p.cursor["after"] = 0


def test_caller_dict_changes_do_not_reach_the_packet() -> None:
    data = {"table": "users", "cols": ["a"]}
    p = packet(data=data)
    data["table"] = "changed"
    data["cols"].append("b")
    assert {"table": "users", "cols": ("a",)} == dict(p.data)


def test_evolve_makes_a_new_snapshot_and_leaves_the_old_one() -> None:
    p = packet()
    q = p.evolve(hop=1, cursor=5)
    assert (0, 1) == (p.hop, q.hop)
    assert 5 == q.cursor
    assert p.data is q.data  # sharing is safe: it is frozen


def test_packets_are_hashable_and_equal_by_value() -> None:
    assert hash(packet(created_ms=1, updated_ms=1)) == hash(packet(created_ms=1, updated_ms=1))


def test_json_round_trip_keeps_every_field() -> None:
    p = packet(
        hop=7, shard=1, shards=3, state=JobState.RELAYING, stats=Stats(hops=7, relays=6, units=70)
    )
    assert p == RelayPacket.from_json(p.to_json())


def test_json_is_compact_and_carries_the_version() -> None:
    text = packet().to_json()
    assert ", " not in text
    assert ": " not in text
    assert 1 == json.loads(text)["v"]


def test_state_travels_as_its_lower_case_name() -> None:
    assert "relaying" == json.loads(packet(state=JobState.RELAYING).to_json())["state"]


def test_unknown_version_is_refused_naming_the_field() -> None:
    raw = packet().to_dict() | {"v": 99}
    with pytest.raises(InvalidPacketError, match="version 99") as info:
        RelayPacket.from_dict(raw)
    assert "version" == info.value.field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hop": "3"}, "hop"),
        ({"hop": -1}, "hop"),
        ({"state": "sleeping"}, "state"),
        ({"data": [1, 2]}, "data"),
        ({"stats": {"units": -5}}, "stats.units"),
        ({"stats": {"hops": True}}, "stats.hops"),
        ({"job_id": ""}, "job_id"),
        ({"shard": 3, "shards": 2}, "shards"),
        ({"extra": 1}, "extra"),
    ],
)
def test_malformed_packet_names_the_field_at_fault(change: dict[str, object], field: str) -> None:
    raw = packet().to_dict() | change
    with pytest.raises(InvalidPacketError) as info:
        RelayPacket.from_dict(raw)
    assert field == info.value.field


@pytest.mark.parametrize("missing", ["v", "job_id", "job_type", "function"])
def test_missing_required_field_is_named(missing: str) -> None:
    raw = packet().to_dict()
    del raw[missing]
    with pytest.raises(InvalidPacketError) as info:
        RelayPacket.from_dict(raw)
    assert missing == info.value.field


def test_a_wire_packet_with_two_faulty_json_fields_names_the_first_in_field_order() -> None:
    raw = packet().to_dict() | {"data": {"x": float("nan")}, "result": float("inf")}
    with pytest.raises(InvalidPacketError) as info:
        RelayPacket.from_dict(raw)
    assert "data.x" == info.value.field  # the constructor's order: data comes before result


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", "42", '"s"', "null"])
def test_non_packet_text_is_an_invalid_packet(text: str) -> None:
    with pytest.raises(InvalidPacketError):
        RelayPacket.from_json(text)


def test_non_json_cursor_is_refused_naming_the_path() -> None:
    with pytest.raises(InvalidPacketError) as info:
        packet(cursor={"when": {1, 2}})
    assert "cursor.when" == info.value.field


def test_nan_is_refused() -> None:
    with pytest.raises(InvalidPacketError, match="not valid JSON"):
        packet(data={"x": float("nan")})


def test_npm_packet_is_read_with_its_fields_mapped() -> None:
    npm = {
        "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/awsRelayQueue_fn_1",
        "UUID": "6b8f-mapping",
        "stats": {"sqsCount": 4},
        "attempt": 0,
        "offset": 1200,
    }
    p = RelayPacket.from_json(json.dumps(npm))
    assert npm["QueueUrl"] == p.queue_url
    assert "6b8f-mapping" == p.mapping_id
    assert 4 == p.stats.relays
    assert {"attempt": 0, "offset": 1200} == dict(p.data)
    assert JobState.RELAYING == p.state


def test_npm_packet_with_a_bad_queue_url_names_it() -> None:
    with pytest.raises(InvalidPacketError) as info:
        RelayPacket.from_dict({"QueueUrl": 5, "UUID": "x"})
    assert "QueueUrl" == info.value.field


def test_size_guard_reports_both_sizes() -> None:
    p = packet(data={"blob": "x" * 2000})
    with pytest.raises(PacketTooLargeError) as info:
        p.check_size(1024)
    assert 1024 == info.value.limit
    assert p.size_bytes() == info.value.size
    assert "1,024" in str(info.value)


def test_size_guard_counts_utf8_bytes_not_characters() -> None:
    p = packet(data={"text": "é" * 600})
    assert p.size_bytes() > len(p.to_json())


def test_packet_at_the_limit_passes_the_guard() -> None:
    p = packet()
    assert p.to_json() == p.check_size(p.size_bytes())


def test_stats_default_to_zero() -> None:
    assert {"hops": 0, "relays": 0, "units": 0, "work_ms": 0, "retries": 0} == Stats().to_dict()


class _Tagged(FrozenDict):
    """A FrozenDict of the user's: freeze keeps it as it is."""


def test_a_frozen_dict_subclass_is_written_as_the_mapping_it_holds() -> None:
    p = packet(cursor=_Tagged({"b": 1}), data={"x": _Tagged({"a": (1, 2)})})

    text = p.to_json()

    assert json.dumps(p.to_dict(), separators=(",", ":"), ensure_ascii=False) == text
    assert ({"b": 1}, {"x": {"a": [1, 2]}}) == (
        json.loads(text)["cursor"],
        json.loads(text)["data"],
    )
