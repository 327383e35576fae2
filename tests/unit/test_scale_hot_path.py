"""The hop's hot path: quick readings of packets and JSON values agree with the full ones, and
a worker's job is freed when its hop ends.

Unit tier. RelayPacket.from_dict reads a packet as relaystate writes it (exact wire types,
ASCII text) field by field without isinstance checks; anything else goes the checked way.
freeze and thaw handle the exact JSON types first.
"""

from __future__ import annotations

import gc
import itertools
import json
import weakref
from collections import OrderedDict
from typing import Any, ClassVar

import pytest

from relaystate import RelayJob, RelayPacket
from relaystate.errors import InvalidPacketError
from relaystate.frozen import FrozenDict, freeze, thaw
from relaystate.packet import Stats, _checked_fields, _plain_packet
from relaystate.testing import UnitsPerHop, memory_backend, sqs_event
from relaystate.testing.clock import FakeClock, FakeContext


def _packet(**changes: Any) -> RelayPacket:
    return RelayPacket(
        job_id="j1",
        job_type="T",
        function_name="f",
        queue_url="https://sqs.us-east-1.amazonaws.com/1/q",
        cursor={"page": [1, 2.5, None, True, "x"]},
        data={"table": "users", "nested": {"list": [{"a": 1}], "text": "é€😀"}},
        stats=Stats(hops=3, relays=2, units=40, work_ms=900, retries=1),
        **changes,
    )


@pytest.mark.parametrize(
    "packet",
    [
        _packet(),
        _packet(timing={"n": 3, "h": {"1": [2, 3.5]}}, rate={"next": 1.5}, attempt=2),
        _packet(options={"max_hops": 50}, finishing=True, error="ValueError('boom')"),
    ],
)
def test_the_quick_reading_gives_what_the_checked_one_gives(packet: RelayPacket) -> None:
    raw = json.loads(packet.to_json())

    quick = _plain_packet(raw)

    assert quick is not None
    assert RelayPacket(**_checked_fields(raw)) == quick
    assert list(vars(quick)) == list(vars(packet))  # every field, in field order
    assert packet == RelayPacket.from_dict(raw)


@pytest.mark.parametrize(
    ("field", "value"),
    [("shard", True), ("hop", 1.0), ("job_id", "jé"), ("state", "queued"), ("data", [1])],
)
def test_a_field_not_as_relaystate_writes_it_is_read_the_checked_way(
    field: str, value: Any
) -> None:
    raw = json.loads(_packet().to_json()) | {field: value}

    assert _plain_packet(raw) is None or field == "state"
    if field in ("job_id", "state"):
        assert RelayPacket.from_dict(raw) == RelayPacket(**_checked_fields(raw))
    else:
        with pytest.raises(InvalidPacketError) as raised:
            RelayPacket.from_dict(raw)
        assert field == raised.value.field


def test_a_lone_surrogate_in_a_text_field_is_still_refused() -> None:
    raw = json.loads(_packet().to_json()) | {"error": "bad \ud800"}

    with pytest.raises(InvalidPacketError, match="lone surrogate"):
        RelayPacket.from_dict(raw)


class _Text(str):
    pass


class _Count(int):
    pass


def test_freeze_and_thaw_treat_subclasses_and_exact_types_alike() -> None:
    value = OrderedDict(
        [("a", [_Count(1), _Text("x"), 1.5, None]), ("b", {"c": (True, "é")}), ("d", FrozenDict())]
    )

    frozen = freeze(value)

    assert (
        FrozenDict(
            {"a": (1, "x", 1.5, None), "b": FrozenDict({"c": (True, "é")}), "d": FrozenDict()}
        )
        == frozen
    )
    assert {"a": [1, "x", 1.5, None], "b": {"c": [True, "é"]}, "d": {}} == thaw(frozen)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": {"b": float("nan")}}, "v.a.b"),
        ({"a": ["ok", "\udfff"]}, "v.a[1]"),
        ({"a": {"\ud800": 1}}, "v.a"),
        ({"a": [object()]}, "v.a[0]"),
    ],
)
def test_freeze_still_names_where_a_value_is_not_json(value: Any, where: str) -> None:
    with pytest.raises(InvalidPacketError) as raised:
        freeze(value, "v")

    assert raised.value.field == where or str(raised.value).startswith(f"{where}:")


class _Once(RelayJob):
    job_type = "test_scale_hot_path.Once"
    function_name = "once-worker"
    budget = UnitsPerHop.of(1)
    seen: ClassVar[list[weakref.ref[RelayJob]]] = []

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> int:
        _Once.seen.append(weakref.ref(self))
        return cursor + 1


def test_a_workers_job_is_freed_when_its_hop_ends_without_the_cyclic_collector() -> None:
    # The machine's bound triggers hold the job: kept, they make a cycle a hop.
    backend = memory_backend()
    job = _Once(data={}, backend=backend).start()
    assert job.packet is not None
    gc.disable()
    try:
        context = FakeContext(FakeClock(), timeout_ms=60_000)
        _Once.handle(sqs_event(backend.queues.pop(job.packet.queue_url)), context, backend=backend)

        assert _Once.seen[-1]() is None
    finally:
        gc.enable()


def test_a_workers_import_leaves_out_what_only_a_starter_needs() -> None:
    # Cold start pays for every import: `import relaystate` must not bring transitions (the
    # machine loads on first use), the starter's modules or attach's.
    import os
    import subprocess
    import sys

    code = (
        "import sys, relaystate\n"
        "from relaystate.testing import memory_backend, sqs_event\n"
        "heavy = ('transitions', 'relaystate.start', 'relaystate.attach', 'relaystate.callbacks')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert "[]" == out.stdout.strip()


def test_a_thawed_object_of_scalars_is_a_copy_the_frozen_one_does_not_share() -> None:
    frozen = freeze({"n": 1, "name": "x", "ratio": 0.5, "on": True, "none": None, "é": "€"})
    thawed = thaw(frozen)
    thawed["n"] = 2
    assert {"n": 1, "name": "x", "ratio": 0.5, "on": True, "none": None, "é": "€"} == thaw(frozen)
    assert 1 == frozen["n"]


def test_an_object_with_a_nested_value_is_thawed_all_the_way_down() -> None:
    frozen = freeze({"n": 1, "rows": [1, {"a": 2}], "nested": {"b": [3]}})
    assert {"n": 1, "rows": [1, {"a": 2}], "nested": {"b": [3]}} == thaw(frozen)
    assert list is type(thaw(frozen)["rows"])


@pytest.mark.parametrize(
    "body",
    [
        '{"a":1}',
        ' {"a":1}',  # whitespace around it: json.loads' reading
        '{"a":1}\n',
        '{"a":NaN}',
        '{"a":"\\u00e9"}',
        "[1, 2]",
        "3",
    ],
)
def test_a_body_is_read_as_json_loads_reads_it(body: str) -> None:
    assert json.loads(body) == RelayPacket.load_json(body)


@pytest.mark.parametrize("body", ['{"a":1}x', '{"a":', '{"a":1}{}', "{", ""])
def test_a_body_that_is_not_json_is_refused_as_json_loads_refuses_it(body: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(body)
    with pytest.raises(InvalidPacketError, match="not JSON") as raised:
        RelayPacket.load_json(body)
    assert str(expected.value) in str(raised.value)


def test_evolving_an_unknown_field_is_refused_every_time() -> None:
    packet = _packet()
    for _ in range(2):  # the second time too: what an evolve runs is kept per set of fields
        with pytest.raises(TypeError, match="no field"):
            packet.evolve(colour="red")


def test_an_evolver_is_right_past_the_number_of_plans_it_keeps() -> None:
    from relaystate.evolve import MAX_PLANS, evolver

    move = evolver(Stats)
    names = ("hops", "relays", "units", "work_ms", "retries", "waits")
    orders = list(itertools.permutations(names, 4))  # each order of changes is a plan of its own
    assert len(orders) > MAX_PLANS
    for order in orders:
        moved = move(Stats(), dict.fromkeys(order, 1))
        assert [1 if name in order else 0 for name in names] == list(moved.__dict__.values())
    with pytest.raises(InvalidPacketError, match="hops"):
        move(Stats(), {"hops": -1})  # a plan past the bound still validates
