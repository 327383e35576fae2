"""The ledger table's items: where each record lives, and its attributes written and read.

One table serves all jobs of an account and region::

    pk = "job#<job id>", sk = "#job"          shards, done, failed, the shard that ended last,
                                              state, paused, teardown owner, ttl
    pk = "job#<job id>", sk = "parked#<sha>"  a parked packet (zlib, binary), keyed by the
                                              SHA-256 of its body; ttl
    pk = "job#<job id>", sk = "shard#<n>"     hop, status, lease owner and expiry, stats,
                                              cursor, outbox (the next packet, zlib, binary)
                                              and its delay, until the next hop's claim; the
                                              signal it waits for and when it wakes; its
                                              progress mark (JSON); its result (zlib,
                                              binary) and error once ended; ttl; with a
                                              timeline, its last 100 hops (tl00..tl99)
    pk = "job#<job id>", sk = "signal#<name>" a signal's payload (zlib, binary); ttl

The keys sort ``#job`` < ``parked#`` < ``shard#`` < ``signal#``: a job's status reads its
record and then every key from ``shard#`` on (its shards and signals), never its parked
packets; of those items it is sent only the attributes it shows (:data:`STATUS_PROJECTION`),
not a shard's kept packet or result. DynamoDB still bills the read by the whole items.

Attributes travel in DynamoDB's own wire form, ``{"S": "text"}`` and ``{"N": "12"}``: :func:`s`
and :func:`n` write them, :func:`text`, :func:`number` and :func:`flag` read them (an attribute
an item lacks reads as empty, 0 or False), and the rest read whole records.

Example:
    >>> key("j1", shard_sk(3))
    {'pk': {'S': 'job#j1'}, 'sk': {'S': 'shard#000003'}}
    >>> item = {"hop": n(4), "status": s("running")}
    >>> number(item, "hop"), text(item, "status"), number(item, "done"), flag(item, "paused")
    (4, 'running', 0, False)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..ledger import ShardResult, ShardStatus, parse_cursor, teardown_due, unpack_outbox
from ..timeline import TIMELINE_HOPS, HopEntry, entries, is_slot, slot

__all__ = [
    "JOB_SK",
    "PARKED_PREFIX",
    "SHARD_PREFIX",
    "SIGNAL_PREFIX",
    "STATUS_PROJECTION",
    "all_ended",
    "flag",
    "key",
    "n",
    "number",
    "outbox_of",
    "payload_of",
    "pk",
    "s",
    "shard_result_of",
    "shard_sk",
    "shard_status_of",
    "text",
]

#: The sort key of a job's own record.
JOB_SK = "#job"
#: Sort keys of a job's shards (``shard#000003``), signals and parked packets start so.
SHARD_PREFIX = "shard#"
SIGNAL_PREFIX = "signal#"
PARKED_PREFIX = "parked#"


def pk(job_id: str) -> dict[str, str]:
    """The partition key of the job's items."""
    return s(f"job#{job_id}")


def key(job_id: str, sk: str) -> dict[str, Any]:
    """The key of the job's item ``sk``."""
    return {"pk": pk(job_id), "sk": s(sk)}


def shard_sk(shard: int) -> str:
    """A shard's sort key, zero-padded so that the shards sort in order."""
    return f"{SHARD_PREFIX}{shard:06d}"


def s(value: str) -> dict[str, str]:
    """A string attribute."""
    return {"S": value}


def n(value: int | float) -> dict[str, str]:
    """A number attribute."""
    return {"N": str(value)}


def text(item: Mapping[str, Any], name: str, default: str = "") -> str:
    """A string attribute's value; ``default`` if the item has none."""
    return str(item.get(name, {}).get("S", default))


def number(item: Mapping[str, Any], name: str) -> int:
    """A whole number attribute's value; 0 if the item has none."""
    return int(item.get(name, {}).get("N", "0"))


def flag(item: Mapping[str, Any], name: str) -> bool:
    """A boolean attribute's value; False if the item has none."""
    return bool(item.get(name, {}).get("BOOL", False))


def all_ended(job: Mapping[str, Any]) -> bool:
    """Whether the job record counts every shard done or failed."""
    return number(job, "done") + number(job, "failed") >= number(job, "shards")


def job_teardown_due(job: Mapping[str, Any]) -> bool:
    """Whether the job record (``{}``: none) counts every shard ended and records no teardown
    (:func:`~relaystate.ledger.teardown_due`)."""
    return bool(job) and teardown_due(
        text(job, "state"),
        shards=number(job, "shards"),
        done=number(job, "done"),
        failed=number(job, "failed"),
    )


def outbox_of(item: Mapping[str, Any]) -> str | None:
    """A shard's next packet, if it holds one."""
    found = item.get("outbox")
    if found is None:
        return None
    if "B" in found:
        return unpack_outbox(found["B"])
    return str(found["S"])  # written by relaystate 0.1 (uncompressed); still read


def payload_of(item: Mapping[str, Any]) -> Any:
    """A signal's payload, parsed."""
    return json.loads(unpack_outbox(item["payload"]["B"]))


#: What a job's status reads of its shard items (:func:`shard_status_of`) and signal items
#: (:func:`payload_of`), and nothing else: a shard item also holds its kept packet and its
#: result, the bulk of it, which status does not show. Reserved words go as ``#name``.
STATUS_PROJECTION = ", ".join(
    [
        "shard_no, hop, #status, stats, #cursor, updated_ms, #error, wake_ms, waiting_for",
        "progress, signal_name, payload",
        *(slot(hop) for hop in range(TIMELINE_HOPS)),
    ]
)


def shard_status_of(item: Mapping[str, Any]) -> ShardStatus:
    """A shard item as :meth:`~relaystate.ports.LedgerPort.status` reports it."""
    return ShardStatus(
        shard=number(item, "shard_no"),
        hop=number(item, "hop"),
        status=text(item, "status"),
        stats=json.loads(text(item, "stats", "{}")),
        cursor=parse_cursor(text(item, "cursor", "null")),
        updated_ms=number(item, "updated_ms"),
        error=text(item, "error"),
        wake_ms=number(item, "wake_ms"),
        waiting=text(item, "waiting_for"),
        progress=json.loads(text(item, "progress", "null")),
        timeline=entries((name, text(item, name)) for name in item if is_slot(name)),
    )


def timeline_values(entry: HopEntry | None) -> tuple[str, dict[str, Any]]:
    """The ``SET`` clause and value that keep a hop's timeline entry in its slot (none
    without one): the same write as the hop's end, so a hop still costs two writes."""
    if entry is None:
        return "", {}
    return f", {slot(entry.hop)} = :timeline", {":timeline": s(entry.encode())}


def progress_values(progress: Mapping[str, int] | None) -> dict[str, Any]:
    """The ``:progress`` value of a write that records a progress mark (JSON), or none."""
    return {} if progress is None else {":progress": s(json.dumps(dict(progress)))}


def shard_result_of(item: Mapping[str, Any]) -> ShardResult:
    """How a shard item says its shard ended (status ``""``: it has not)."""
    status = text(item, "status")
    if status not in ("done", "failed"):
        return ShardResult(number(item, "shard_no"), "")
    found = item.get("result")
    result = None if found is None else json.loads(unpack_outbox(found["B"]))
    return ShardResult(number(item, "shard_no"), status, result, text(item, "error"))
