"""The quick evolve of packets and stats gives what ``attrs.evolve`` gives, errors included."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaystate import RelayPacket
from relaystate.errors import InvalidPacketError
from relaystate.evolve import evolver
from relaystate.packet import Stats
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
    assert BASE.hop == 0  # the first one unchanged
    assert BASE.data["rows"] == (1, 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hop": -1}, "hop"),
        ({"shard": 4}, "shards"),  # the checks across fields (post-init) run too
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
