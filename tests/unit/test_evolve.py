"""The quick evolve of packets and stats gives what ``attrs.evolve`` gives, errors included."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaystate import RelayPacket
from relaystate.clock import now_ms
from relaystate.errors import InvalidPacketError
from relaystate.evolve import evolver
from relaystate.packet import Stats, _checked_fields, sqs_safe
from relaystate.states import JobState

BASE = RelayPacket(
    job_id="j1",
    job_type="T",
    function_name="f",
    queue_url="https://sqs.test/1/relay-j1",
    shards=4,
    shard=1,
    data={"table": "users", "rows": [1, 2]},
    cursor={"after": 10},
    created_ms=1,
    updated_ms=2,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
changes = st.fixed_dictionaries(
    {},
    optional={
        "hop": st.integers(0, 10**6),
        "state": st.sampled_from(list(JobState)),
        "cursor": json_values,
        "data": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "stats": st.builds(Stats, hops=st.integers(0, 9), units=st.integers(0, 9)),
        "attempt": st.integers(0, 5),
        "finishing": st.booleans(),
        "error": st.text(max_size=10),
        "updated_ms": st.integers(0, 10**13),
        "shard": st.integers(0, 3),
    },
)


@given(changes)
def test_a_packet_evolves_as_attrs_evolve_makes_it(change: dict[str, Any]) -> None:
    change.setdefault("updated_ms", 5)
    quick = BASE.evolve(**change)
    slow = attrs.evolve(BASE, **change)
    assert quick == slow
    assert type(quick) is RelayPacket
    assert RelayPacket.from_json(quick.to_json()) == quick
    # Written from its frozen values, the text is the one its plain dict gives.
    assert sqs_safe(json.dumps(quick.to_dict(), separators=(",", ":"), ensure_ascii=False)) == (
        quick.to_json()
    )
    assert BASE.hop == 0  # the first one unchanged
    assert BASE.data["rows"] == (1, 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hop": -1}, "hop"),
        ({"shard": 4}, "shards"),  # the checks across fields (post-init) run too
        ({"shards": 0}, "shards"),
        ({"version": 2}, "version"),
        ({"job_type": ""}, "job_type"),
        ({"function_name": ""}, "function_name"),
        ({"job_id": ""}, "job_id"),
        ({"data": {"s": {1, 2}}}, "data.s"),
        ({"data": [1]}, "data"),
        ({"state": "nonsense"}, "state"),
        ({"traceparent": "nope"}, "traceparent"),
        # Two at fault, given out of field order: converted, then checked, in field order.
        ({"data": [1], "state": "nonsense"}, "state"),
        ({"traceparent": "nope", "hop": -1}, "hop"),
    ],
)
def test_a_bad_change_is_refused_as_the_constructor_refuses_it(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidPacketError) as quick:
        BASE.evolve(**change)
    with pytest.raises(InvalidPacketError) as slow:
        attrs.evolve(BASE, **change)
    assert (quick.value.field, str(quick.value)) == (slow.value.field, str(slow.value))
    assert quick.value.field == field


def test_an_unknown_field_is_a_type_error_as_with_attrs() -> None:
    with pytest.raises(TypeError, match="no field"):
        BASE.evolve(colour="red")
    with pytest.raises(TypeError, match="no field"):
        Stats().evolve(colour=1)


def test_stats_evolve_checks_what_changes() -> None:
    assert Stats(units=3).evolve(units=5, hops=1) == Stats(units=5, hops=1)
    with pytest.raises(InvalidPacketError, match="units must be a whole number >= 0"):
        Stats().evolve(units=-1)


def test_a_class_with_slots_is_refused() -> None:
    @attrs.frozen
    class Slotted:
        x: int = 0

    with pytest.raises(TypeError, match="slots=False"):
        evolver(Slotted)


@given(
    st.builds(Stats, hops=st.integers(0, 9), units=st.integers(0, 9), waits=st.integers(0, 3)),
    st.fixed_dictionaries(
        {},
        optional={name: st.integers(0, 10**6) for name in ("hops", "units", "work_ms", "waits")},
    ),
)
def test_stats_added_is_the_evolve_of_the_sums(stats: Stats, counts: dict[str, int]) -> None:
    summed = {name: getattr(stats, name) + count for name, count in counts.items()}

    assert stats.evolve(**summed) == stats.added(**counts)
    assert list(vars(stats.added(**counts))) == list(vars(stats))  # field order kept


@pytest.mark.parametrize("count", [-1, True, 1.0, "1"])
def test_stats_added_refuses_what_is_not_a_count(count: Any) -> None:
    with pytest.raises(InvalidPacketError, match="units must be a whole number >= 0"):
        Stats().added(units=count)
    with pytest.raises(TypeError, match="no field"):
        Stats().added(colour=1)


wire_changes = st.fixed_dictionaries(
    {},
    optional={
        "hop": st.integers(0, 10**6),
        "shard": st.integers(0, 3),
        "state": st.sampled_from([s.value for s in JobState]),
        "cursor": json_values,
        "data": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "result": json_values,
        "signals": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
        "timing": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
        "attempt": st.integers(0, 5),
        "wake_ms": st.integers(0, 10**13),
        "finishing": st.booleans(),
        "error": st.text(max_size=10),
        "job_id": st.sampled_from(["j2", "jé"]),
        "traceparent": st.sampled_from(["", "00-" + "a" * 32 + "-" + "b" * 16 + "-01"]),
    },
)
#: One field at fault (the others fine): what the constructor refuses, the quick way must too.
faults = st.sampled_from(
    [
        {},
        {"hop": -1},
        {"shard": -1},
        {"shard": 4},
        {"shards": 0},
        {"attempt": -1},
        {"wake_ms": -1},
        {"v": 2},
        {"job_id": ""},
        {"function": ""},
        {"state": "QUEUED"},
        {"traceparent": "nope"},
        {"data": {"k": float("nan")}},
        {"cursor": {"k": "\ud800"}},
        {"result": [1, {"2": 3}]},
        {"stats": {"hops": -1}},
    ]
)


@given(wire_changes, faults, st.sets(st.sampled_from(["created_ms", "updated_ms", "stats"])))
def test_a_packet_read_the_quick_way_is_the_one_the_constructor_makes(
    change: dict[str, Any], fault: dict[str, Any], dropped: set[str]
) -> None:
    raw = {**BASE.to_dict(), **change}
    for name in dropped:
        del raw[name]
    raw.update(fault)
    before = now_ms()

    try:
        slow: RelayPacket | InvalidPacketError = RelayPacket(**_checked_fields(raw))
    except InvalidPacketError as exc:
        slow = exc
    try:
        quick: RelayPacket | InvalidPacketError = RelayPacket.from_dict(raw)
    except InvalidPacketError as exc:
        quick = exc

    if isinstance(slow, InvalidPacketError):
        assert isinstance(quick, InvalidPacketError)
        assert (quick.field, str(quick)) == (slow.field, str(slow))
        return
    assert isinstance(quick, RelayPacket)
    for name in dropped & {"created_ms", "updated_ms"}:  # set to now, as the factories do
        assert before <= getattr(quick, name) <= now_ms()
        slow = attrs.evolve(slow, **{name: getattr(quick, name)})
    assert quick == slow
    assert [(k, type(v)) for k, v in vars(quick).items()] == [
        (k, type(v)) for k, v in vars(slow).items()
    ]


@given(
    st.fixed_dictionaries(
        {
            "signals": st.dictionaries(st.text(max_size=3), json_values, max_size=2),
            "result": json_values,
            "timing": st.dictionaries(st.text(max_size=3), json_values, max_size=2),
        }
    ),
    st.fixed_dictionaries(
        {
            "signals": st.dictionaries(st.text(max_size=3), json_values, max_size=2),
            "result": json_values,
            "timing": st.dictionaries(st.text(max_size=3), json_values, max_size=2),
            "state": st.sampled_from(list(JobState)),
        }
    ),
)
def test_a_snapshot_holds_what_the_job_holds_now(
    before: dict[str, Any], now: dict[str, Any]
) -> None:
    """Only changed fields go to evolve: a value the job cleared must not be kept."""
    from types import SimpleNamespace

    from relaystate.frozen import thaw
    from relaystate.hop_state import HopState
    from relaystate.lifecycle import snapshot

    packet = BASE.evolve(**before)
    timing = now["timing"]
    hop = HopState(remaining=lambda: 1000.0, started_ms=1000.0, began_ms=0)
    hop.budget = SimpleNamespace(state=lambda: timing)  # type: ignore[assignment]
    job = SimpleNamespace(
        packet=packet,
        stats=Stats(hops=1),
        signals=now["signals"],
        result=now["result"],
        cursor=5,
        data={"n": 1},
    )

    made = snapshot(job, hop, now["state"])  # type: ignore[arg-type]

    assert now["state"] is made.state
    assert now["signals"] == thaw(made.signals)
    assert now["result"] == thaw(made.result)
    assert timing == thaw(made.timing)
    assert (5, {"n": 1}, Stats(hops=1)) == (made.cursor, thaw(made.data), made.stats)
