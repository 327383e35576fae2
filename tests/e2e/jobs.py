"""The worker of the e2e tier: the examples' job classes, made to run on AWS, and the handler.

This module is deployed (see :mod:`tests.e2e.bundle`) as the handler of the worker Lambda
``relay-e2e-<run id>-worker``, and imported by the tests that start the jobs: both sides must
know each class by the same type name. It imports only relaystate, the examples and the
standard library, as a worker must.

On AWS the starter cannot see the worker's files or memory, which is where the examples leave
their results (a temporary file, a class variable). So each class here keeps the example's
``step`` and changes only where the work's input comes from and where its result goes:

- input files (a SQLite table, a CSV file) are generated deterministically on each side, in the
  side's own temporary directory (a Lambda's ``/tmp``), so starter and worker read the same bytes;
- results are reported as one JSON line on stdout, which Lambda writes to CloudWatch Logs
  (:func:`report`); the classes run with a ledger also set them as ``self.result``, where
  ``ledger.results(job_id)`` reads them.

The handler also reports every hop it runs: when SQS got the packet, when the poller first
received it, when the hop started and ended, and whether the execution environment was cold.
``tests/e2e/.report/<run id>.json`` is made from these lines.

Example:
    >>> CopyRowsOnAws.type_name()
    'CopyRowsOnAws'
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

from examples import approval, csv_import, fan_out, nightly, rate_limited_api, sql_pages, sum_shards
from relaystate import DONE, RelayJob

__all__ = [
    "HOP",
    "RESULT",
    "CopyRowsOnAws",
    "CountPrimesOnAws",
    "ImportCsvOnAws",
    "NightlyOnAws",
    "SendMailsOnAws",
    "handler",
    "report",
]

#: The ``relay_e2e`` field of a report line: a hop's timings, or a shard's result.
HOP, RESULT = "hop", "result"

#: The example classes that run unchanged (their packets name them): imported so that the
#: worker knows them.
UNCHANGED = (approval.Refund, sum_shards.SumSquares)

#: Where report lines go: stdout (CloudWatch Logs on AWS); a test on this machine swaps it.
emit: Callable[[str], None] = print

#: False until this execution environment has run an invocation (its first one is cold).
_warm = False


def report(kind: str, job_id: str, shard: int, **fields: Any) -> None:
    """Write one report line: a JSON object whose ``relay_e2e`` field says what it is.

    Example:
        >>> report(RESULT, "9f2c", 0, result={"primes": 4})
        {"relay_e2e": "result", "job_id": "9f2c", "shard": 0, "result": {"primes": 4}}
    """
    line = {"relay_e2e": kind, "job_id": job_id, "shard": shard, **fields}
    emit(json.dumps(line))
    sys.stdout.flush()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """The worker Lambda's handler: every job class above, and one hop report per record."""
    global _warm
    cold, _warm = not _warm, True
    started_ms = int(time.time() * 1000)
    try:
        return RelayJob.handle(event, context)
    finally:
        ended_ms = int(time.time() * 1000)
        for record in event.get("Records", ()):
            _report_hop(record, cold=cold, started_ms=started_ms, ended_ms=ended_ms)


def _report_hop(record: Mapping[str, Any], *, cold: bool, started_ms: int, ended_ms: int) -> None:
    try:
        packet = json.loads(record["body"])
        job_id, shard, hop = packet["job_id"], packet.get("shard", 0), packet.get("hop", 0)
    except (KeyError, TypeError, ValueError):
        return  # not a packet: the hop reported it as a failure
    attributes = record.get("attributes", {})
    report(
        HOP,
        job_id,
        shard,
        hop=hop,
        job_type=packet.get("job_type", ""),
        # When the packet was made (the previous hop, or the starter), and when it was due
        # (a sleep's or a wait's end): its latency counts from the later of the two.
        made_ms=packet.get("updated_ms", 0),
        due_ms=packet.get("wake_ms", 0),
        sent_ms=int(attributes.get("SentTimestamp", 0)),
        received_ms=int(attributes.get("ApproximateFirstReceiveTimestamp", 0)),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        started_ms=started_ms,
        ended_ms=ended_ms,
        cold=cold,
    )


def _scratch(name: str) -> Path:
    """A file in this side's temporary directory (``/tmp`` on Lambda)."""
    return Path(tempfile.gettempdir(), name)


def _publish(path: Path, make: Callable[[Path], object]) -> Path:
    """``path``, made by ``make`` unless it exists; made under another name, then renamed, so
    that a reader never sees half a file."""
    if not path.exists():
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        partial.unlink(missing_ok=True)
        make(partial)
        os.replace(partial, path)
    return path


def source_db(rows: int) -> str:
    """A SQLite file with table ``source`` of ``rows`` rows (as the example makes it) and an empty
    table ``copy``, made once per side."""

    def make(path: Path) -> None:
        sql_pages.make_source(path, rows)
        with sql_pages.connect(path) as db:
            db.execute("CREATE TABLE copy (id INTEGER PRIMARY KEY, name, amount)")

    return str(_publish(_scratch(f"relay-e2e-source-{rows}.db"), make))


def sales_csv(rows: int) -> str:
    """The example's CSV of ``rows`` sales, made once per side (byte for byte the same)."""
    return str(
        _publish(_scratch(f"relay-e2e-sales-{rows}.csv"), lambda p: csv_import.make_csv(p, rows))
    )


class CopyRowsOnAws(sql_pages.CopyRows):
    """The SQL pages example. Each side has its own copy of the source table; the copy a relay
    makes is counted in ``data`` (rows and amounts of every page copied) because each Lambda
    execution environment has a ``/tmp`` of its own.

    ``data``: ``rows`` (the source's size), and the example's ``batch``, ``unit_delay_s``.
    """

    def plan(self) -> int:
        self.data["db"] = source_db(self.data["rows"])
        self.data.update(copied=0, copied_sum=0)
        return super().plan()

    def step(self, cursor: int) -> Any:
        self.data["db"] = source_db(self.data["rows"])
        after = super().step(cursor)
        last = self.data["last_id"] if after is DONE else after
        with closing(sqlite3.connect(self.data["db"])) as db:
            count, total = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM copy WHERE id > ? AND id <= ?",
                (cursor, last),
            ).fetchone()
        self.data["copied"] += count
        self.data["copied_sum"] += total
        return after

    def on_done(self) -> None:
        with closing(sqlite3.connect(self.data["db"])) as db:
            (source_sum,) = db.execute("SELECT SUM(amount) FROM source").fetchone()
        _report(
            self,
            {
                "rows": self.data["last_id"],
                "copied": self.data["copied"],
                "same_sum": self.data["copied_sum"] == source_sum,
                "hops": self.stats.hops,
                "relays": self.stats.relays,
                "units": self.stats.units,
            },
        )


class SendMailsOnAws(rate_limited_api.SendMails):
    """The rate-limited API example, its API replaced by a record of when each call was made
    (the example's API runs on the starter's machine, which a Lambda cannot reach): the test
    checks the calls' wall-clock times against the limit, across hops and hosts.

    ``data``: ``mails`` (how many).
    """

    def plan(self) -> int:
        self.data.setdefault("api", "record:")
        self.data["calls"] = []
        return super().plan()

    def step(self, cursor: int) -> Any:
        self.data["calls"].append(round(time.time(), 3))
        return DONE if cursor + 1 >= self.data["mails"] else cursor + 1

    def on_done(self) -> None:
        _report(self, {"calls": self.data["calls"], "hops": self.stats.hops})


class ImportCsvOnAws(csv_import.ImportCsv):
    """The CSV import example, on a CSV made on each side (``data["csv_rows"]`` rows).

    ``data``: ``csv_rows``, and the example's ``lines`` and ``unit_delay_s``.
    """

    def plan(self) -> int:
        self.data["path"] = sales_csv(self.data["csv_rows"])
        return super().plan()

    def step(self, cursor: int) -> Any:
        self.data["path"] = sales_csv(self.data["csv_rows"])
        return super().step(cursor)

    def on_done(self) -> None:
        result = {"rows": self.data["rows"], "cents": self.data["cents"]}
        _report(self, {**result, "size": self.data["size"], "hops": self.stats.hops})


class CountPrimesOnAws(fan_out.CountPrimes):
    """The fan-out example: each shard's count is its result (in the ledger, when the job has
    one: a result is set in ``step``) and is reported with its hops."""

    def step(self, cursor: tuple[int, int]) -> Any:
        after = super().step(cursor)
        if after is DONE:
            assert self.packet is not None
            self.result = {"shard": self.packet.shard, "primes": self.data["primes"]}
        return after

    def on_done(self) -> None:
        _report(self, {**self.result, "hops": self.stats.hops})


class NightlyOnAws(nightly.NightlyExport):
    """The nightly example: its exports (day, time) are its result, reported with its hops."""

    def step(self, day: int) -> Any:
        after = super().step(day)
        if after is DONE:
            self.result = {"exports": self.data["exported"]}
        return after

    def on_done(self) -> None:
        _report(self, {**self.result, "hops": self.stats.hops})


def _report(job: RelayJob, result: dict[str, Any]) -> None:
    """A shard's result, reported (``on_done`` runs after the shard's last packet is made: a
    result for the ledger must be set in ``step``)."""
    assert job.packet is not None
    report(RESULT, job.job_id, job.packet.shard, result=result)
