"""The progress ledger in one DynamoDB table: :class:`~relaystate.ports.LedgerPort` over boto3.

Every operation is one conditional ``UpdateItem`` (a shard's end, a reopen and a signal, one
``TransactWriteItems`` over the shard or the signal and the job; a job's reopen, a read and an
update on the condition that the item is as read), so DynamoDB decides each race; parked
packets are put and deleted 25 to a ``BatchWriteItem``. What the ledger means is explained in
:mod:`relaystate.ledger`. The adapter is four modules, each on what it holds::

    dynamodb.py          DynamoDBLedger: a job's and its shards' lifecycle -- open, claim,
                         checkpoint, finish, teardown, reopen (a shard's, a job's) -- and
                         its status and results
    dynamodb_control.py  what job control keeps: signals, parked packets, the pause flag
    dynamodb_table.py    reaching and creating the table; the calls every operation is made
                         of (conflicts retried, batches re-sent, queries paged, errors mapped)
    dynamodb_items.py    the table's layout (which item holds what) and its attributes
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..clock import now_ms
from ..errors import ResourceConflictError
from ..ledger import (
    CURSOR_CHARS,
    ERROR_CHARS,
    Claim,
    JobStatus,
    ShardResult,
    ShardStatus,
    WriteConflict,
    check_signal_name,
    ended_state,
    expires_s,
    job_state,
    lease_lost,
    pack_outbox,
    refused_claim,
    reopens,
    retry_conflicts,
    unknown_job,
)
from ..states import JobState
from ..timeline import HopEntry
from .dynamodb_control import JobControlTable
from .dynamodb_items import (
    JOB_SK,
    SHARD_PREFIX,
    STATUS_PROJECTION,
    all_ended,
    flag,
    job_teardown_due,
    key,
    n,
    number,
    outbox_of,
    payload_of,
    progress_values,
    s,
    shard_result_of,
    shard_sk,
    shard_status_of,
    text,
    timeline_values,
)
from .dynamodb_table import condition_failed, refused_item
from .errors import map_aws_errors

__all__ = ["DynamoDBLedger"]


class DynamoDBLedger(JobControlTable):
    """The ledger in one DynamoDB table (on-demand billing, TTL on finished jobs).

    Args:
        table_name: the table (make it once with :meth:`create_table`).
        session, client, config, client_kwargs: how to reach DynamoDB, as in
            :func:`relaystate.aws.aws_backend`.

    Example:
        >>> ledger = DynamoDBLedger("relaystate-ledger")  # doctest: +SKIP
        >>> ledger.create_table()  # once  # doctest: +SKIP
        >>> class CopyRows(RelayJob):  # doctest: +SKIP
        ...     ledger = "relaystate-ledger"
    """

    # -- a job and its shards ----------------------------------------------------------------

    def open_job(
        self,
        job_id: str,
        *,
        shards: int,
        job_type: str,
        function_name: str,
        fingerprint: str = "",
    ) -> JobStatus | None:
        """Record a new job; ``None``, or the status of the job that already has the id."""
        now = now_ms()
        refused = self._update(
            job_id,
            JOB_SK,
            "SET shards = :shards, done = :zero, failed = :zero, #state = :state, "
            "job_type = :type, #function = :function, created_ms = :now, updated_ms = :now, "
            "fingerprint = :fingerprint, #ttl = :ttl",
            "attribute_not_exists(pk)",
            {
                ":shards": n(shards),
                ":zero": n(0),
                ":state": s(JobState.QUEUED.value),
                ":type": s(job_type),
                ":function": s(function_name),
                ":fingerprint": s(fingerprint),
                ":now": n(now),
                ":ttl": n(expires_s(now)),
            },
        )
        return None if refused is None else self.status(job_id)

    def abandon_job(self, job_id: str) -> None:
        """Forget a job whose start was rolled back, if no shard has ended."""
        with map_aws_errors("dynamodb", "DeleteItem"):
            try:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=key(job_id, JOB_SK),
                    ConditionExpression="done = :zero AND failed = :zero",
                    ExpressionAttributeValues={":zero": n(0)},
                )
            except ClientError as exc:
                if not condition_failed(exc.response):
                    raise

    def claim(
        self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int, packet: str = ""
    ) -> Claim:
        """Claim hop ``hop`` of a shard for ``owner`` until ``lease_ms`` from now."""
        now = now_ms()
        kept = {":packet": {"B": pack_outbox(packet)}} if packet else {}
        old = self._update(
            job_id,
            shard_sk(shard),
            "SET #status = :running, #owner = :owner, lease_until = :until, hop = :hop, "
            "updated_ms = :now, shard_no = :shard, #ttl = :ttl"
            f"{', outbox = if_not_exists(outbox, :packet)' if kept else ''} "
            # The outbox (this hop's own packet) stays until the hop's end replaces it: a hop
            # whose Lambda died while the job was paused is sent again by unpause (pending).
            "REMOVE outbox_delay, outbox_sent, waiting_for, wake_ms",
            "attribute_not_exists(pk) OR hop < :hop OR (hop = :hop AND (#status IN (:queued, "
            ":waiting) OR (#status = :running AND (lease_until < :now OR #owner = :owner))))",
            {
                **kept,
                ":running": s("running"),
                ":queued": s("queued"),
                ":waiting": s("waiting"),
                ":owner": s(owner),
                ":until": n(now + lease_ms),
                ":hop": n(hop),
                ":now": n(now),
                ":shard": n(shard),
                ":ttl": n(expires_s(now)),
            },
        )
        if old is None:
            return Claim("run")
        return refused_claim(
            hop,
            found_hop=number(old, "hop"),
            found_status=text(old, "status"),
            outbox=outbox_of(old),
            delay_seconds=number(old, "outbox_delay"),
            sent=flag(old, "outbox_sent"),
            recorded_ms=number(old, "updated_ms"),
            now_ms=now,
            teardown_due=lambda: self._teardown_due(job_id),
        )

    def checkpoint(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        outbox: str,
        stats: Mapping[str, int],
        cursor_json: str,
        delay_seconds: int = 0,
        waiting: str = "",
        wake_ms: int = 0,
        progress: Mapping[str, int] | None = None,
        timeline: HopEntry | None = None,
    ) -> None:
        """Record the hop's checkpoint and the next packet (to be sent, or kept for a signal
        when the shard waits), fenced by the lease; the hop's timeline entry, if given."""
        if waiting:
            check_signal_name(waiting)
        now = now_ms()
        marked = progress_values(progress)
        keep, kept = timeline_values(timeline)
        refused = self._update(
            job_id,
            shard_sk(shard),
            "SET hop = :next, #status = :next_status, outbox = :outbox, outbox_delay = :delay, "
            "waiting_for = :waiting, wake_ms = :wake, "
            f"stats = :stats, #cursor = :cursor, updated_ms = :now, #ttl = :ttl{keep}"
            f"{', progress = :progress' if marked else ''} "
            "REMOVE #owner, lease_until, outbox_sent",
            "#owner = :owner AND hop = :hop AND #status = :running",
            {
                **marked,
                **kept,
                ":next": n(hop + 1),
                ":next_status": s("waiting" if waiting else "queued"),
                ":outbox": {"B": pack_outbox(outbox)},
                ":delay": n(delay_seconds),
                ":waiting": s(waiting),
                ":wake": n(wake_ms),
                ":stats": s(json.dumps(dict(stats))),
                ":cursor": s(cursor_json[:CURSOR_CHARS]),
                ":now": n(now),
                ":ttl": n(expires_s(now)),
                ":owner": s(owner),
                ":hop": n(hop),
                ":running": s("running"),
            },
        )
        if refused is not None:
            raise lease_lost(job_id, shard, hop)

    def confirm_sent(self, job_id: str, shard: int, hop: int) -> None:
        """The outbox of hop ``hop`` was sent (see :meth:`LedgerPort.confirm_sent`)."""
        self._update(
            job_id,
            shard_sk(shard),
            "SET outbox_sent = :sent",
            "hop = :hop AND #status IN (:queued, :waiting) AND attribute_exists(outbox)",
            {
                ":sent": {"BOOL": True},
                ":hop": n(hop),
                ":queued": s("queued"),
                ":waiting": s("waiting"),
            },
        )

    def finish(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        stats: Mapping[str, int],
        cursor_json: str,
        failed: bool = False,
        error: str = "",
        result_json: str = "",
        progress: Mapping[str, int] | None = None,
        timeline: HopEntry | None = None,
        keep_packet: bool = True,
    ) -> bool:
        """The shard is done (or failed), with its result; count it. True when every shard
        has ended and this one ended last."""
        result = {":result": {"B": pack_outbox(result_json)}} if result_json else {}
        marked = progress_values(progress)
        # A reopened shard that ends again keeps only its new result.
        set_result, remove_result = (", #result = :result", "") if result else ("", ", #result")
        keep, kept = timeline_values(timeline)
        now = now_ms()
        # The outbox (the hop's own packet) stays -- a job whose last shard ended but was never
        # torn down is torn down by a delivery of it (pending, unpause) -- unless it and the
        # result could outgrow the item (400 KB).
        drop = "" if keep_packet else ", outbox"
        refused = self._transact(
            [
                self._spec(
                    job_id,
                    shard_sk(shard),
                    "SET #status = :status, stats = :stats, #cursor = :cursor, "
                    f"updated_ms = :now, #error = :error, #ttl = :ttl{keep}"
                    f"{', progress = :progress' if marked else ''}"
                    f"{set_result} REMOVE #owner, lease_until, outbox_delay{drop}"
                    f"{remove_result}",
                    "#owner = :owner AND hop = :hop AND #status = :running",
                    {
                        **result,
                        **marked,
                        **kept,
                        ":status": s("failed" if failed else "done"),
                        ":stats": s(json.dumps(dict(stats))),
                        ":cursor": s(cursor_json[:CURSOR_CHARS]),
                        ":now": n(now),
                        ":error": s(error[:ERROR_CHARS]),
                        ":ttl": n(expires_s(now)),
                        ":owner": s(owner),
                        ":hop": n(hop),
                        ":running": s("running"),
                    },
                ),
                self._spec(
                    job_id,
                    JOB_SK,
                    f"ADD {'failed' if failed else 'done'} :one "
                    "SET updated_ms = :now, #ttl = :ttl, last_shard = :shard",
                    "attribute_exists(pk)",
                    {
                        ":one": n(1),
                        ":now": n(now),
                        ":ttl": n(expires_s(now)),
                        ":shard": n(shard),
                    },
                ),
            ]
        )
        if refused is not None:
            if refused_item(refused, 0):
                raise lease_lost(job_id, shard, hop)
            raise unknown_job(job_id, f"the ledger table {self.table_name}")
        # A transaction returns nothing: the counts are read back. Shards that ended at once
        # all read them complete; the one whose write came last is the one that ended last.
        job = self._job_item(job_id)
        return bool(job) and all_ended(job) and number(job, "last_shard") == shard

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        """Take the job's teardown for ``owner``; one owner at a time ever wins.

        ``owner`` is the invocation (its request id). With ``lease_ms`` the teardown can be
        taken over once that lease has run out (its Lambda died before it could finish);
        without one it is held for good.
        """
        now = now_ms()
        values = {":owner": s(owner), ":now": n(now)}
        if lease_ms is None:
            expression = "SET teardown_owner = :owner, updated_ms = :now REMOVE teardown_until"
        else:
            expression = "SET teardown_owner = :owner, teardown_until = :until, updated_ms = :now"
            values[":until"] = n(now + lease_ms)
        refused = self._update(
            job_id,
            JOB_SK,
            expression,
            # A job the ledger does not know has no teardown to take (nor a record to make).
            "attribute_exists(pk) AND (attribute_not_exists(teardown_owner) "
            "OR teardown_owner = :owner OR teardown_until < :now)",
            values,
        )
        return refused is None

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0, owner: str | None = None) -> None:
        """The job's resources are gone; its record expires in 30 days.

        Its state becomes ``failed`` if more than ``tolerated`` shards failed (the job item
        counts them), else ``torn_down``. With ``owner``: only while ``owner`` holds the
        teardown (a resume may have let it go: then nothing is written).
        """
        job = self._job_item(job_id)
        state = ended_state(number(job, "failed"), tolerated=tolerated)
        now = now_ms()
        condition = "attribute_exists(pk)"
        values = {
            ":state": s(state.value),
            ":now": n(now),
            ":ttl": n(expires_s(now, finished=True)),
        }
        if owner is not None:
            condition += " AND teardown_owner = :owner"
            values[":owner"] = s(owner)
        self._update(
            job_id,
            JOB_SK,
            "SET #state = :state, updated_ms = :now, #ttl = :ttl REMOVE paused",
            condition,
            values,
        )

    def reopen(self, job_id: str, shard: int) -> None:
        """A failed shard is resumed: queue it again, uncount its failure (once), and let the
        job be torn down again."""
        now = now_ms()
        self._transact(  # refused when the shard is not failed: then nothing changes
            [
                self._spec(
                    job_id,
                    shard_sk(shard),
                    "SET #status = :queued, updated_ms = :now, #ttl = :ttl REMOVE #error, outbox",
                    "#status = :failed",
                    {
                        ":queued": s("queued"),
                        ":failed": s("failed"),
                        ":now": n(now),
                        ":ttl": n(expires_s(now)),
                    },
                ),
                self._spec(
                    job_id,
                    JOB_SK,
                    "ADD failed :minus SET #state = :running, updated_ms = :now, #ttl = :ttl "
                    "REMOVE teardown_owner, teardown_until",
                    "attribute_exists(pk)",
                    {
                        ":minus": n(-1),
                        ":running": s(JobState.RUNNING.value),
                        ":now": n(now),
                        ":ttl": n(expires_s(now)),
                    },
                ),
            ]
        )

    def reopen_job(self, job_id: str) -> bool:
        """A job cancelled while shards were at work runs again; True when this call
        reopened it (:meth:`LedgerPort.reopen_job`).

        What to do is decided on the job's item as read (:func:`~relaystate.ledger.reopens`),
        and written on the condition that the item is still so: a shard's end, a teardown or
        another reopen in between makes it read and decide again.
        """

        def attempt() -> bool:
            job = self._job_item(job_id)
            owner = job.get("teardown_owner")
            if not job or not reopens(
                job_id,
                text(job, "state"),
                teardown_taken=owner is not None,
                shards=number(job, "shards"),
                done=number(job, "done"),
                failed=number(job, "failed"),
            ):
                return False
            now = now_ms()
            values = {
                ":state": job["state"],
                ":done": job["done"],
                ":failed": job["failed"],
                ":running": s(JobState.RUNNING.value),
                ":now": n(now),
                ":ttl": n(expires_s(now)),
            }
            held = "attribute_not_exists(teardown_owner)"
            if owner is not None:
                held, values[":owner"] = "teardown_owner = :owner", owner
            refused = self._update(
                job_id,
                JOB_SK,
                "SET #state = :running, updated_ms = :now, #ttl = :ttl "
                "REMOVE teardown_owner, teardown_until",
                f"#state = :state AND done = :done AND failed = :failed AND {held}",
                values,
            )
            if refused is not None:
                raise WriteConflict(
                    ResourceConflictError(
                        f"the reopen of job {job_id} kept meeting other writes of its record",
                        service="dynamodb",
                        operation="UpdateItem",
                        code="ConditionalCheckFailedException",
                    )
                )
            return True

        return retry_conflicts(attempt)

    def results(self, job_id: str) -> Iterator[ShardResult]:
        """How each shard ended, in shard order; ``""`` for a shard that has not. Read a
        Query page at a time."""
        shards = number(self._job_item(job_id), "shards")
        expected = 0
        for item in self._query(
            job_id,
            "begins_with(sk, :prefix)",
            {":prefix": s(SHARD_PREFIX)},
            projection="shard_no, #status, #result, #error",
        ):
            shard = number(item, "shard_no")
            for missing in range(expected, min(shard, shards)):
                yield ShardResult(missing, "")
            if expected <= shard < shards:
                yield shard_result_of(item)
                expected = shard + 1
        for missing in range(expected, shards):
            yield ShardResult(missing, "")

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state and each shard's hop, status, stats and cursor; None if unknown.

        Users poll it: of the shard items it asks only what it shows, not their packets and
        results (:data:`~relaystate.aws.dynamodb_items.STATUS_PROJECTION`).
        """
        job = self._job_item(job_id)
        if not job:
            return None
        shards: list[ShardStatus] = []
        signals: dict[str, Any] = {}
        for item in self._query(
            job_id, "sk >= :from", {":from": s(SHARD_PREFIX)}, projection=STATUS_PROJECTION
        ):
            if "shard_no" in item:
                shards.append(shard_status_of(item))
            elif "signal_name" in item:
                signals[text(item, "signal_name")] = payload_of(item)
        shards.sort(key=lambda shard: shard.shard)
        return JobStatus(
            job_id=job_id,
            state=job_state(
                text(job, "state", "queued"),
                (shard.status for shard in shards),
                paused=flag(job, "paused"),
                shards=number(job, "shards"),
            ),
            shards=number(job, "shards"),
            done=number(job, "done"),
            failed=number(job, "failed"),
            job_type=text(job, "job_type"),
            function_name=text(job, "function"),
            created_ms=number(job, "created_ms"),
            updated_ms=number(job, "updated_ms"),
            shard_status=tuple(shards),
            fingerprint=text(job, "fingerprint"),
            paused=flag(job, "paused"),
            signals=signals,
        )

    def _job_item(self, job_id: str) -> Mapping[str, Any]:
        return self._item(job_id, JOB_SK)

    def _teardown_due(self, job_id: str) -> bool:
        return job_teardown_due(self._job_item(job_id))
