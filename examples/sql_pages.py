"""Copy a SQL table page by page, as a relay of Lambda hops.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/sql_pages.py

A 10,000-row SQLite table is generated in a temporary file, then :class:`CopyRows` copies it
into a second table, 100 rows a unit, with a 2-second function timeout: each hop copies what
fits in its 2 seconds and relays the rest.

What it shows:

* **Keyset pagination.** The cursor is the last id copied, and a unit reads
  ``WHERE id > :cursor ORDER BY id LIMIT 100``. Unlike ``OFFSET``, every page is one index
  seek however deep into the table, and the cursor is a small JSON value for the packet.
* **Idempotent units.** SQS delivers at least once, and a hop that fails is run again from its
  packet, so a unit may run twice: ``INSERT OR IGNORE`` on the primary key copies no row twice.
* **Why each unit sleeps.** A local SQLite file copies 100 rows in well under a millisecond,
  so the whole table would fit in one hop and nothing would relay. The 50 ms pause per unit
  stands in for the round trip to a real database server: 100 units then need about 5 s of
  work, three hops or so of a 2-second function.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.local.latency import Latency

#: Rows copied by one unit of work.
BATCH = 100
#: Seconds each unit waits, standing in for a remote database's round trip (see above).
UNIT_DELAY_S = 0.05


class CopyRows(RelayJob):
    """Copy table ``source`` into table ``copy`` of a SQLite file, ``batch`` rows a unit.

    ``data``: ``db`` (the file's path), and optionally ``batch`` (rows a unit, default 100)
    and ``unit_delay_s`` (default 0.05).
    """

    function_name = "sql-pages-worker"

    def plan(self) -> int:
        # Runs once, in the starter: make the target table and note where the source ends,
        # so that the last unit can say DONE instead of needing one more, empty, read.
        if "db" not in self.data:
            raise ValueError('CopyRows needs data {"db": "<path of a SQLite file>"}')
        with connect(self.data["db"]) as db:
            db.execute("CREATE TABLE IF NOT EXISTS copy (id INTEGER PRIMARY KEY, name, amount)")
            (last_id,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM source").fetchone()
        self.data["last_id"] = last_id
        return 0  # ids start at 1: "after id 0" is the whole table

    def step(self, cursor: int) -> Any:
        with connect(self.data["db"]) as db:
            rows = db.execute(
                "SELECT id, name, amount FROM source WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, self.data.get("batch", BATCH)),
            ).fetchall()
            db.executemany("INSERT OR IGNORE INTO copy (id, name, amount) VALUES (?, ?, ?)", rows)
        time.sleep(self.data.get("unit_delay_s", UNIT_DELAY_S))
        if not rows or rows[-1][0] >= self.data["last_id"]:
            return DONE
        return rows[-1][0]

    def on_done(self) -> None:
        # Runs in the worker after the last unit: leave a record of what the relay did.
        with connect(self.data["db"]) as db:
            db.execute("CREATE TABLE IF NOT EXISTS relay (hops, relays, units, work_ms)")
            s = self.stats
            db.execute(
                "INSERT INTO relay VALUES (?, ?, ?, ?)", (s.hops, s.relays, s.units, s.work_ms)
            )


@contextmanager
def connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success, rolls back on error, and is always closed."""
    with closing(sqlite3.connect(path, timeout=30)) as db, db:
        yield db


def make_source(path: str | Path, rows: int) -> None:
    """Write table ``source`` (id 1..rows, name, amount) into the SQLite file ``path``."""
    with connect(path) as db:
        db.execute("CREATE TABLE source (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER)")
        db.executemany(
            "INSERT INTO source VALUES (?, ?, ?)",
            ((i, f"user-{i}", i % 97) for i in range(1, rows + 1)),
        )


@dataclass(frozen=True)
class Copied:
    """What :func:`run` found after the job."""

    rows: int  # rows in the source table
    copied: int  # rows in the copy
    same_sum: bool  # the copy's amounts add up to the source's
    hops: int
    relays: int
    units: int
    left_over: list[str]  # queues and mappings still there after the job (expect none)


def run(
    rows: int = 10_000,
    *,
    timeout_s: float = 2.0,
    unit_delay_s: float = UNIT_DELAY_S,
    latency: str | Latency | None = None,
    consistency: str | Consistency | None = None,
) -> Copied:
    """Generate a table of ``rows`` rows, copy it with :class:`CopyRows`, and check the copy.

    ``latency`` and ``consistency``: AWS's, on the local runtime (see LocalLambda).
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalLambda(timeout_s=timeout_s, latency=latency, consistency=consistency) as lam,
    ):
        db = Path(tmp) / "rows.db"
        make_source(db, rows)
        lam.deploy(CopyRows)
        job = CopyRows(data={"db": str(db), "unit_delay_s": unit_delay_s}, backend=lam.backend)
        job.start()
        # The last hop tears the job down itself: one shard knows when it is done.
        lam.run_until_idle(timeout_s=120)
        with connect(db) as conn:
            copied, copy_sum = conn.execute("SELECT COUNT(*), SUM(amount) FROM copy").fetchone()
            (source_sum,) = conn.execute("SELECT SUM(amount) FROM source").fetchone()
            hops, relays, units, _ = conn.execute("SELECT * FROM relay").fetchone()
        return Copied(rows, copied, copy_sum == source_sum, hops, relays, units, lam.left_over())


def main() -> int:
    result = run()
    print(
        f"copied {result.copied:,} of {result.rows:,} rows (sums match: {result.same_sum}) "
        f"in {result.units} units, {result.hops} hops, {result.relays} relays; "
        f"left over: {', '.join(result.left_over) or 'none'}"
    )
    ok = result.copied == result.rows and result.same_sum and not result.left_over
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
