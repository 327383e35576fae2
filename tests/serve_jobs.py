"""Job classes that `relaystate serve tests.serve_jobs` serves in the tests of serve.

Each writes what it did to ``data["out"]`` when a shard finishes: the test, in another
process, reads it to know that the job ran to the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from relaystate import DONE, RelayJob, S3Offload


class Tally(RelayJob):
    """Counts to ``data["to"]``, ``data["unit_s"]`` a unit; writes its last cursor when done."""

    function_name = "tally-worker"

    def plan(self) -> Any:
        return 0

    def step(self, cursor: int) -> Any:
        time.sleep(float(self.data.get("unit_s", 0.01)))
        return DONE if cursor >= self.data["to"] else cursor + 1

    def on_done(self) -> None:
        Path(self.data["out"]).write_text(json.dumps({"cursor": self.cursor}))


class Spread(RelayJob):
    """Two shards of three units: a fan-out's queue stays until it is torn down (or reaped)."""

    function_name = "spread-worker"

    def plan(self) -> Any:
        return [0, 0]

    def step(self, cursor: int) -> Any:
        return DONE if cursor >= 2 else cursor + 1

    def on_done(self) -> None:
        with Path(self.data["out"]).open("a") as out:
            out.write("shard done\n")


class Heavy(Tally):
    """Tally over data too large for a packet: it travels through the endpoint's S3."""

    function_name = "heavy-worker"
    offload = S3Offload("serve-offload", threshold_bytes=1_000)
