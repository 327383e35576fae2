"""What job control keeps in the ledger table: signals, parked packets, the pause flag and
the control lease.

:class:`JobControlTable` holds the ledger operations of ``WaitFor``, signals and pausing
(:mod:`relaystate.signals`, :mod:`relaystate.pause`); :class:`~relaystate.aws.DynamoDBLedger`
adds a job's and its shards' lifecycle on top. Each is written with
:class:`~relaystate.aws.dynamodb_table.LedgerTable`'s calls:

    put_signal            a signal item, put once in a transaction that checks the job exists
    signals, waiting_for  the job's signal items; its shard items that wait for one
    set_paused            the job record's ``paused``, unless the job has ended
    claim_control,        the job record's control lease (``control_owner``,
    release_control       ``control_until``): who pauses or unpauses it now
    park, parked,         parked-packet items, keyed by their body's SHA-256 (a body parked
    forget_parked         twice is kept once), 25 to a ``BatchWriteItem``

Example:
    >>> ledger = DynamoDBLedger("relaystate-ledger")  # doctest: +SKIP
    >>> ledger.put_signal(job_id, "approved", '{"by": "ana"}')  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..clock import now_ms
from ..errors import ConfigurationError, SignalConflictError
from ..ledger import (
    Parked,
    expires_s,
    pack_outbox,
    pack_signal,
    parked_key,
    same_payload,
    unpack_outbox,
)
from ..sleep import delay_until
from ..states import JobState
from .dynamodb_items import (
    JOB_SK,
    PARKED_PREFIX,
    SHARD_PREFIX,
    SIGNAL_PREFIX,
    job_teardown_due,
    key,
    n,
    number,
    payload_of,
    s,
    shard_sk,
    text,
)
from .dynamodb_table import LedgerTable, refused_item

__all__ = ["JobControlTable"]


class JobControlTable(LedgerTable):
    """The ledger table's signals, parked packets and pause flag (the base of
    :class:`~relaystate.aws.DynamoDBLedger`; its arguments are :class:`LedgerTable`'s).

    Example:
        >>> JobControlTable("relaystate-ledger").table_name
        'relaystate-ledger'
    """

    def put_signal(self, job_id: str, name: str, payload_json: str) -> bool:
        """Record a signal for the job; False if the same payload was recorded before."""
        packed = pack_signal(name, payload_json)
        now = now_ms()
        refused = self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": key(job_id, JOB_SK),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": self._spec(
                        job_id,
                        SIGNAL_PREFIX + name,
                        "SET payload = :payload, signal_name = :name, created_ms = :now, "
                        "#ttl = :ttl",
                        "attribute_not_exists(pk)",
                        {
                            ":payload": {"B": packed},
                            ":name": s(name),
                            ":now": n(now),
                            ":ttl": n(expires_s(now)),
                        },
                    )
                },
            ]
        )
        if refused is None:
            return True
        if refused_item(refused, 0):
            raise ConfigurationError(
                f"job {job_id} is not in the ledger table {self.table_name} (never started "
                "with it, or expired): it has no signals"
            )
        signal_key = key(job_id, SIGNAL_PREFIX + name)
        recorded = self._read(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.table_name, Key=signal_key, ConsistentRead=True
            ),
        ).get("Item", {})
        if same_payload(unpack_outbox(recorded["payload"]["B"]), payload_json):
            return False
        raise SignalConflictError(name, job_id)

    def signals(self, job_id: str) -> dict[str, Any]:
        """Every signal recorded for the job: name -> payload."""
        return {
            text(item, "signal_name"): payload_of(item)
            for item in self._query(
                job_id, "begins_with(sk, :prefix)", {":prefix": s(SIGNAL_PREFIX)}
            )
        }

    def waiting_for(self, job_id: str, name: str) -> list[Parked]:
        """The shards that wait for signal ``name`` now, with the packet that wakes each."""
        return [
            Parked(
                number(item, "shard_no"),
                number(item, "hop"),
                unpack_outbox(item["outbox"]["B"]),
                number(item, "outbox_delay"),
            )
            for item in self._query(
                job_id,
                "begins_with(sk, :prefix)",
                {":prefix": s(SHARD_PREFIX), ":waiting": s("waiting"), ":name": s(name)},
                filter="#status = :waiting AND waiting_for = :name AND attribute_exists(outbox)",
                projection="shard_no, hop, outbox, outbox_delay",
            )
        ]

    def pending(self, job_id: str) -> list[Parked]:
        """The shards whose next packet the ledger holds and no signal sends, or the packet
        whose delivery tears the job down (see :meth:`LedgerPort.pending`)."""
        job = self._item(job_id, JOB_SK)
        if job_teardown_due(job):
            # Every shard has ended, none is pending: only the teardown may be missing.
            last = self._item(job_id, shard_sk(number(job, "last_shard")))
            if "outbox" not in last:
                return []
            packet = unpack_outbox(last["outbox"]["B"])
            return [Parked(number(last, "shard_no"), number(last, "hop"), packet, 0)]
        now = now_ms()
        return [
            Parked(
                number(item, "shard_no"),
                number(item, "hop"),
                unpack_outbox(item["outbox"]["B"]),
                delay_until(
                    number(item, "wake_ms")
                    if text(item, "status") == "waiting"
                    else number(item, "updated_ms") + 1000 * number(item, "outbox_delay"),
                    now,
                ),
            )
            for item in self._query(
                job_id,
                "begins_with(sk, :prefix)",
                {
                    ":prefix": s(SHARD_PREFIX),
                    ":queued": s("queued"),
                    ":waiting": s("waiting"),
                    ":running": s("running"),
                    ":never": n(0),
                    ":now": n(now),
                },
                filter="attribute_exists(outbox) AND (#status = :queued OR "
                "(#status = :waiting AND wake_ms > :never) OR "
                "(#status = :running AND lease_until < :now))",
                projection="shard_no, hop, #status, outbox, outbox_delay, updated_ms, wake_ms",
            )
        ]

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Record the job paused, or not; one that has ended (or is unknown) is left as it is."""
        now = now_ms()
        self._update(  # refused when the job has ended or is unknown: then nothing changes
            job_id,
            JOB_SK,
            "SET paused = :paused, updated_ms = :now, #ttl = :ttl",
            "attribute_exists(pk) AND NOT #state IN (:torn_down, :failed)",
            {
                ":paused": {"BOOL": paused},
                ":now": n(now),
                ":ttl": n(expires_s(now)),
                ":torn_down": s(JobState.TORN_DOWN.value),
                ":failed": s(JobState.FAILED.value),
            },
        )

    def claim_control(self, job_id: str, owner: str, lease_ms: int) -> bool:
        """Take the job's control for ``owner`` until ``lease_ms`` from now; True if it is
        ``owner``'s (an unknown job's: True, nothing written)."""
        now = now_ms()
        refused = self._update(
            job_id,
            JOB_SK,
            "SET control_owner = :owner, control_until = :until",
            "attribute_exists(pk) AND (attribute_not_exists(control_owner) "
            "OR control_owner = :owner OR control_until < :now)",
            {":owner": s(owner), ":until": n(now + lease_ms), ":now": n(now)},
        )
        return refused is None or not refused  # refused with no item: the job is unknown

    def release_control(self, job_id: str, owner: str) -> None:
        """Give the job's control up, if ``owner`` holds it."""
        self._update(  # refused when another owner holds it (or none): then nothing changes
            job_id,
            JOB_SK,
            "REMOVE control_owner, control_until",
            "control_owner = :owner",
            {":owner": s(owner)},
        )

    def park(self, job_id: str, bodies: Sequence[str]) -> None:
        """Keep packets in the ledger; a body parked twice is kept once."""
        packed = {parked_key(body): pack_outbox(body) for body in bodies}
        ttl = n(expires_s(now_ms()))
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {
                            **key(job_id, PARKED_PREFIX + parked),
                            "body": {"B": data},
                            "ttl": ttl,
                        }
                    }
                }
                for parked, data in packed.items()
            ]
        )

    def parked(self, job_id: str) -> list[str]:
        """Every body parked for the job; they stay parked until :meth:`forget_parked`."""
        return [
            unpack_outbox(item["body"]["B"])
            for item in self._query(
                job_id, "begins_with(sk, :prefix)", {":prefix": s(PARKED_PREFIX)}
            )
        ]

    def forget_parked(self, job_id: str, bodies: Sequence[str]) -> None:
        """Forget parked bodies; one not parked is not an error."""
        keys = dict.fromkeys(parked_key(body) for body in bodies)
        self._batch_write(
            [{"DeleteRequest": {"Key": key(job_id, PARKED_PREFIX + parked)}} for parked in keys]
        )
