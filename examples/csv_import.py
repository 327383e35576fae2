"""Import a CSV file far larger than one hop can read, resumed by byte offset.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/csv_import.py

A 50,000-line CSV of sales (``id,region,cents``) is generated in a temporary file, then
:class:`ImportCsv` reads it 500 lines a unit, with a 2-second function timeout, counting the
rows and adding up the cents per region.

What it shows:

* **The cursor is a byte offset.** A unit opens the file, seeks to the offset, reads up to 500
  lines and returns ``f.tell()``: the next hop seeks straight there, however far into the
  file. The file is opened in binary mode because a text file's ``tell()`` is an opaque
  cookie, not a byte count. (On Lambda the file would be an S3 object, read with a ranged
  ``GetObject`` from the offset.) Lines are cut at newlines, so quoted fields must not hold
  line breaks.
* **Running totals in ``self.data``.** Row count and sums live in ``self.data`` and travel in
  the packet, so they always match the cursor: a hop run again after a failure starts from
  its packet's offset with its packet's totals, and counts nothing twice.
* **Results out of the relay.** ``on_done`` runs in the worker after the last unit and writes
  the totals where the starter can read them (a JSON file here; S3 or a database on AWS).
* **Why each unit sleeps.** Parsing 500 local lines takes about a millisecond, so the whole
  file would fit in one hop. The 50 ms pause per unit stands in for streaming from S3.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaystate import DONE, RelayJob
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.local.latency import Latency

#: Lines read by one unit of work.
LINES = 500
#: Seconds each unit waits, standing in for reading from S3 (see above).
UNIT_DELAY_S = 0.05
REGIONS = ("north", "south", "east", "west")


class ImportCsv(RelayJob):
    """Count the rows of the CSV at ``data["path"]`` and sum their cents, per region.

    ``data``: ``path`` (the CSV file), ``result`` (where ``on_done`` writes the totals, as
    JSON), and optionally ``lines`` (per unit, default 500) and ``unit_delay_s`` (0.05).
    """

    function_name = "csv-import-worker"

    def plan(self) -> int:
        if "path" not in self.data:
            raise ValueError('ImportCsv needs data {"path": "<CSV file>", "result": "<file>"}')
        self.data.update(size=os.path.getsize(self.data["path"]), rows=0, cents={})
        with open(self.data["path"], "rb") as f:
            f.readline()  # the header
            return f.tell()

    def step(self, cursor: int) -> Any:
        with open(self.data["path"], "rb") as f:
            f.seek(cursor)
            lines = [f.readline() for _ in range(self.data.get("lines", LINES))]
            offset = f.tell()
        cents: dict[str, int] = self.data["cents"]
        for _id, region, amount in csv.reader(line.decode() for line in lines if line):
            cents[region] = cents.get(region, 0) + int(amount)
            self.data["rows"] += 1
        time.sleep(self.data.get("unit_delay_s", UNIT_DELAY_S))
        return DONE if offset >= self.data["size"] else offset

    def on_done(self) -> None:
        if "result" in self.data:
            totals = {
                "rows": self.data["rows"],
                "cents": self.data["cents"],
                "hops": self.stats.hops,
            }
            Path(self.data["result"]).write_text(json.dumps(totals))


def make_csv(path: str | Path, rows: int) -> tuple[int, dict[str, int]]:
    """Write a CSV of ``rows`` sales to ``path``; return the row count and cents per region."""
    cents: dict[str, int] = {}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "region", "cents"])
        for i in range(1, rows + 1):
            region, amount = REGIONS[i % len(REGIONS)], (i * 7919) % 10_000
            writer.writerow([i, region, amount])
            cents[region] = cents.get(region, 0) + amount
    return rows, cents


@dataclass(frozen=True)
class Imported:
    """What :func:`run` found after the job."""

    expected: tuple[int, dict[str, int]]  # rows and cents per region, as written
    imported: tuple[int, dict[str, int]]  # as the job counted them
    size: int  # the file's size in bytes
    hops: int
    left_over: list[str]


def run(
    rows: int = 50_000,
    *,
    timeout_s: float = 2.0,
    lines: int = LINES,
    unit_delay_s: float = UNIT_DELAY_S,
    latency: str | Latency | None = None,
    consistency: str | Consistency | None = None,
) -> Imported:
    """Write a CSV of ``rows`` rows and import it with :class:`ImportCsv`.

    ``latency`` and ``consistency``: AWS's, on the local runtime (see LocalLambda).
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalLambda(timeout_s=timeout_s, latency=latency, consistency=consistency) as lam,
    ):
        path, result = Path(tmp) / "sales.csv", Path(tmp) / "totals.json"
        expected = make_csv(path, rows)
        lam.deploy(ImportCsv)
        data = {
            "path": str(path),
            "result": str(result),
            "lines": lines,
            "unit_delay_s": unit_delay_s,
        }
        ImportCsv(data=data, backend=lam.backend).start()
        lam.run_until_idle(timeout_s=120)
        totals = json.loads(result.read_text())
        return Imported(
            expected=expected,
            imported=(totals["rows"], totals["cents"]),
            size=path.stat().st_size,
            # The job's own count: an invocation killed after its relay still made its hop.
            hops=totals["hops"],
            left_over=lam.left_over(),
        )


def main() -> int:
    result = run()
    rows, cents = result.imported
    print(
        f"imported {rows:,} rows ({result.size / 1e6:.1f} MB) in {result.hops} hops; "
        f"cents by region: {cents}; totals right: {result.imported == result.expected}; "
        f"left over: {', '.join(result.left_over) or 'none'}"
    )
    return 0 if result.imported == result.expected and not result.left_over else 1


if __name__ == "__main__":
    sys.exit(main())
