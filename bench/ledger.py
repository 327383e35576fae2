"""Ledger cost: what the progress ledger adds to a hop -- time, AWS calls, DynamoDB write units.

Hops per second: a chain of one-unit hops on one LocalLambda over moto's server in a process
of its own (SQS and DynamoDB on one endpoint), without and with ``ledger=``, paired and
interleaved (the order within a pair alternating); timed from the first packet sent to the
end of the last unit.

Calls and write units per hop: the same chain on the embedded endpoint, at two lengths; the
difference divided by the difference in hops is the per-hop cost (the job's setup and teardown
fall out). Write request units are DynamoDB's on-demand rule: per written item, the larger of
its size before and after the write, in started KB (a transaction: twice that); the sizes are
moto's, of the stored items (attribute names plus values).

Where a hop's time goes: the same chains on moto's process again, each AWS call of this
process timed where botocore sends it (:class:`CallTimes`): its wall time (request, moto's
answer, response) and the CPU the calling thread spent on it (botocore's side); what the calls
do not account for is the local runtime's and the job's own time.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda, moto_process
from relaystate.local.latency import Latency
from relaystate.testing import UnitsPerHop

HOPS = 200
ROUNDS = 7
LENGTHS = (50, 250)
TABLE = "bench-ledger"


class Chain(RelayJob):
    function_name = "ledger-bench-worker"
    job_type = "bench.ledger.Chain"
    budget = UnitsPerHop.of(1)
    lease_margin_s = 0.0
    finished_at = 0.0

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        if cursor + 1 >= self.data["hops"]:
            Chain.finished_at = time.perf_counter()
            return DONE
        return cursor + 1


def hops_per_s(lam: LocalLambda, hops: int, ledger: str | None) -> float:
    job = Chain(data={"hops": hops}, backend=lam.backend, ledger=ledger)
    job.start()
    started = time.perf_counter()
    lam.run_until_idle(timeout_s=600)
    return hops / (Chain.finished_at - started)


class WriteUnits:
    """Counts DynamoDB write (and read) request units of a client's calls, from moto's items."""

    def __init__(self, client: Any) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends["123456789012"]["us-east-1"]
        self.write_units = 0
        self.read_units = 0.0
        self.item_bytes: list[int] = []
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def _size(self, table: str, key: dict[str, Any]) -> int:
        from moto.dynamodb.models.dynamo_type import DynamoType

        found = self._backend.get_table(table).get_item(
            DynamoType(key["pk"]), DynamoType(key["sk"])
        )
        return int(found.size()) if found is not None else 0

    def _items(self, model: Any, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
        """(table, key, units per KB) of each item the call writes or reads."""
        name = model.name
        if name in ("UpdateItem", "PutItem", "DeleteItem"):
            key = params.get("Key") or {k: params["Item"][k] for k in ("pk", "sk")}
            return [(params["TableName"], key, 1)]
        if name == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                ((_, spec),) = entry.items()
                key = spec.get("Key") or {k: spec["Item"][k] for k in ("pk", "sk")}
                found.append((spec["TableName"], key, 2))
            return found
        return []

    def _before(
        self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        items = self._items(model, params)
        context["bench_items"] = [(t, k, u, self._size(t, k)) for t, k, u in items]
        if model.name == "GetItem":
            context["bench_read"] = (
                params["TableName"],
                params["Key"],
                params.get("ConsistentRead"),
            )

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        for table, key, units, before in context.get("bench_items", ()):
            size = max(before, self._size(table, key))
            self.item_bytes.append(size)
            self.write_units += units * max(1, math.ceil(size / 1024))
        read = context.get("bench_read")
        if read is not None:
            table, key, consistent = read
            self.read_units += max(1, math.ceil(self._size(table, key) / 4096)) * (
                1.0 if consistent else 0.5
            )


def per_hop_costs() -> dict[str, Any]:
    """Calls and units per hop, without and with the ledger (embedded endpoint)."""
    found: dict[str, Any] = {}
    with LocalLambda(timeout_s=5.0, concurrency=1) as lam:
        lam.deploy(Chain)
        ledger = lam.ledger(TABLE)
        units = WriteUnits(ledger.client)
        for name, table in (("without", None), ("with", TABLE)):
            seen = []
            for hops in LENGTHS:
                calls_before = Counter(lam.aws_calls)
                written, read = units.write_units, units.read_units
                sizes = len(units.item_bytes)
                hops_per_s(lam, hops, table)
                seen.append(
                    (
                        Counter(lam.aws_calls) - calls_before,
                        units.write_units - written,
                        units.read_units - read,
                        units.item_bytes[sizes:],
                    )
                )
            (short, w_short, r_short, _), (long, w_long, r_long, sizes_long) = seen
            span = LENGTHS[1] - LENGTHS[0]
            calls = {op: (long[op] - short[op]) / span for op in long if long[op] != short[op]}
            write_units, read_units = (w_long - w_short) / span, (r_long - r_short) / span
            found[name] = {
                "calls": calls,
                "write units": write_units,
                "read units": read_units,
                "fixed write units": w_short - write_units * LENGTHS[0],
                "fixed read units": r_short - read_units * LENGTHS[0],
                "item bytes": statistics.median(sizes_long) if sizes_long else 0,
                "fixed calls": {
                    op: short[op] - round(calls.get(op, 0) * LENGTHS[0]) for op in short
                },
            }
    return found


class CallTimes:
    """Wall and calling-thread CPU seconds of every AWS call this process makes, by operation
    (botocore's ``Endpoint.make_request`` timed while :meth:`timing` is open)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timing(self) -> Iterator[CallTimes]:
        from botocore.endpoint import Endpoint

        send = Endpoint.make_request

        def make_request(endpoint: Any, operation_model: Any, request_dict: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return send(endpoint, operation_model, request_dict)
            finally:
                took = (time.perf_counter() - wall, time.thread_time() - cpu)
                with self._lock:
                    self.seen[operation_model.name].append(took)

        Endpoint.make_request = make_request  # type: ignore[method-assign, assignment]
        try:
            yield self
        finally:
            Endpoint.make_request = send  # type: ignore[method-assign]


def moto_cpu_s() -> float | None:
    """CPU seconds (user and system) spent so far by the moto servers this process started
    (:func:`~relaystate.local.moto_process`); ``None`` where ``/proc`` does not tell."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    total, seen = 0, False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != os.getpid():  # its parent
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if b"relaystate.local.moto_patch" not in cmdline.read():
                    continue
        except (OSError, IndexError, ValueError):
            continue
        total, seen = total + int(fields[11]) + int(fields[12]), True
    return total / tick if seen and tick else None


def split(lam: LocalLambda, rounds: int, hops: int) -> list[dict[str, Any]]:
    """Where a hop's time goes, without and with the ledger: per operation, calls a hop and
    each call's wall and client CPU time (medians), all its calls' wall time a hop; the rest
    is outside the calls. And the CPU a hop takes in moto's process and in this one (which
    runs LocalLambda, the job and botocore): on a machine shared with other work these
    vary less than wall times, and the two processes mostly take turns (a call waits for
    moto's answer), so their sum is close to a hop's time on a quiet machine."""
    found: dict[str | None, tuple[CallTimes, list[float]]] = {}
    hop_cpu: dict[str | None, list[tuple[float, float]]] = {None: [], TABLE: []}
    for i in range(rounds):
        for table in (None, TABLE) if i % 2 == 0 else (TABLE, None):
            times, speeds = found.setdefault(table, (CallTimes(), []))
            server, client = moto_cpu_s(), time.process_time()
            with times.timing():
                speeds.append(hops_per_s(lam, hops, table))
            after = moto_cpu_s()
            if server is not None and after is not None:
                used = (
                    (after - server) * 1000 / hops,
                    (time.process_time() - client) * 1000 / hops,
                )
                hop_cpu[table].append(used)
    rows = []
    for table, (times, speeds) in found.items():
        # A hop's mean time and each operation's summed wall time per hop: calls take longer
        # than their median now and then (a shared machine), and a median times the calls a
        # hop counted what the median leaves out as time outside the calls -- the more calls
        # a hop makes, the more (the ledger's hop makes twice as many).
        hop_ms = statistics.mean(1000 / speed for speed in speeds)
        in_calls = 0.0
        for op in ("ReceiveMessage", "SendMessage", "DeleteMessageBatch", "UpdateItem"):
            took = times.seen.get(op, [])
            per_hop = len(took) / (rounds * hops)
            wall = statistics.median(w for w, _ in took) * 1000 if took else 0.0
            cpu = statistics.median(c for _, c in took) * 1000 if took else 0.0
            spent = sum(w for w, _ in took) * 1000 / (rounds * hops)
            in_calls += spent
            if took:
                rows.append(
                    {
                        "ledger": "with" if table else "without",
                        "where": op,
                        "per hop": f"{per_hop:.2f}",
                        "wall ms a call (median)": f"{wall:.1f}",
                        "client CPU ms a call (median)": f"{cpu:.1f}",
                        "ms a hop (all its calls' wall time)": f"{spent:.1f}",
                    }
                )
        rows.append(
            {
                "ledger": "with" if table else "without",
                "where": "outside the calls (the runtime, the job, botocore before the request)",
                "per hop": "",
                "wall ms a call (median)": "",
                "client CPU ms a call (median)": "",
                "ms a hop (all its calls' wall time)": f"{hop_ms - in_calls:.1f} of {hop_ms:.1f}",
            }
        )
    if hop_cpu[None] and hop_cpu[TABLE]:
        sums = {}
        for table in (None, TABLE):
            server_ms = statistics.median(s for s, _ in hop_cpu[table])
            client_ms = statistics.median(c for _, c in hop_cpu[table])
            sums[table] = server_ms + client_ms
            rows.append(
                {
                    "ledger": "with" if table else "without",
                    "where": "CPU a hop: moto's process + this process (LocalLambda, the job, "
                    "botocore), medians of the chains",
                    "per hop": "",
                    "wall ms a call (median)": "",
                    "client CPU ms a call (median)": "",
                    "ms a hop (all its calls' wall time)": (
                        f"{server_ms:.2f} + {client_ms:.2f} = {sums[table]:.2f}"
                        + (f" (without / with: {sums[None] / sums[TABLE]:.3f})" if table else "")
                    ),
                }
            )
    return rows


def paired(lam: LocalLambda, rounds: int, hops: int) -> tuple[list[float], list[float]]:
    """hops/s of ``rounds`` chains without and with the ledger, interleaved (the order within
    a pair alternating, so that drift of a shared machine hits both)."""
    lam.deploy(Chain)
    lam.ledger(TABLE)
    plain: list[float] = []
    ledgered: list[float] = []
    for i in range(rounds):
        first, second = (None, TABLE) if i % 2 == 0 else (TABLE, None)
        for table in (first, second):
            (ledgered if table else plain).append(hops_per_s(lam, hops, table))
    return plain, ledgered


def run() -> list[dict[str, Any]]:
    global _split
    with (
        moto_process() as endpoint,
        LocalLambda(timeout_s=5.0, concurrency=1, endpoint_url=endpoint) as lam,
    ):
        plain, ledgered = paired(lam, ROUNDS, HOPS)
        _split = split(lam, SPLIT_ROUNDS, HOPS)
    ratios = sorted(w / p for p, w in zip(plain, ledgered, strict=True))
    costs = per_hop_costs()
    rows = []
    for name, speeds in (("without", plain), ("with", ledgered)):
        cost = costs[name]
        calls = cost["calls"]
        rows.append(
            {
                "ledger": name,
                "hops/s (median, range)": (
                    f"{statistics.median(speeds):.1f} ({min(speeds):.1f}-{max(speeds):.1f})"
                ),
                "/ without (median of pairs, range)": (
                    "1"
                    if name == "without"
                    else f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
                ),
                "AWS calls per hop": f"{sum(calls.values()):.2f}",
                "of which": ", ".join(f"{op} {n:.2f}" for op, n in sorted(calls.items())),
                "write units per hop": f"{cost['write units']:.2f}",
                "read units per hop": f"{cost['read units']:.2f}",
                "ledger item bytes (median)": f"{cost['item bytes']:.0f}",
            }
        )
    for name in ("without", "with"):
        fixed = {op: n for op, n in sorted(costs[name]["fixed calls"].items()) if n}
        rows.append(
            {"ledger": f"a job's own calls {name} the ledger (setup, teardown): {fixed}"}
            | dict.fromkeys(list(rows[0])[1:], "")
        )
    return rows


TITLE = (
    f"ledger cost: one-unit hops without and with ledger=, {ROUNDS} interleaved pairs of "
    f"{HOPS}-hop chains on one endpoint (moto in its own process); calls and DynamoDB write "
    f"units per hop from chains of {LENGTHS[0]} and {LENGTHS[1]} hops (embedded endpoint)"
)


def run_aws_latency() -> list[dict[str, Any]]:
    """The same chains with AWS's per-call latency (``LocalLambda(latency="aws")``): what the
    ledger's two writes cost beside the send when a write takes what it takes on DynamoDB
    (moto answers every call in about the same time, which no AWS service does)."""
    with LocalLambda(timeout_s=5.0, concurrency=1, latency=Latency.aws(seed=1)) as lam:
        plain, ledgered = paired(lam, AWS_ROUNDS, AWS_HOPS)
    ratios = sorted(w / p for p, w in zip(plain, ledgered, strict=True))
    return [
        {
            "ledger": name,
            "hops/s (median, range)": (
                f"{statistics.median(speeds):.1f} ({min(speeds):.1f}-{max(speeds):.1f})"
            ),
            "/ without (median of pairs, range)": (
                "1"
                if name == "without"
                else f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
            ),
        }
        for name, speeds in (("without", plain), ("with", ledgered))
    ]


def run_split() -> list[dict[str, Any]]:
    """The rows :func:`run` measured on its endpoint (its moto process is gone by now)."""
    return _split


AWS_HOPS = 100
AWS_ROUNDS = 5
SPLIT_ROUNDS = 4
_split: list[dict[str, Any]] = []
SECTIONS = [
    (TITLE, run),
    (
        f"where a hop's time goes: {SPLIT_ROUNDS} more interleaved chains of {HOPS} hops on "
        f"the same endpoint, each AWS call timed in botocore (wall: request, moto's answer, "
        f"response; client CPU: botocore's side, in the calling thread)",
        run_split,
    ),
    (
        f'ledger cost with AWS\'s latency: the same chains on LocalLambda(latency="aws") '
        f"(per-call latency drawn from AWS's published and measured figures; the embedded "
        f"endpoint), {AWS_ROUNDS} interleaved pairs of {AWS_HOPS}-hop chains",
        run_aws_latency,
    ),
]
