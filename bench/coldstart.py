"""Cold-start benchmark: what importing relaystate adds to importing boto3 on the Lambda path.

Each figure is the wall time of the imports in a fresh interpreter (``-X importtime`` lists the
modules; its totals add its own overhead, so the wall clock is used for the comparison).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any

RUNS = 9
_TIMED = "import time; t = time.perf_counter(); {imports}; print(time.perf_counter() - t)"


def _import_ms(imports: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.format(imports=imports)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip()) * 1000.0


def run() -> list[dict[str, Any]]:
    cases = [
        ("import boto3", "import boto3"),
        ("import boto3, relaystate", "import boto3, relaystate"),
        ("import relaystate (boto3 not yet imported)", "import relaystate"),
    ]
    medians = {}
    rows = []
    for label, imports in cases:
        times = [_import_ms(imports) for _ in range(RUNS)]
        medians[label] = statistics.median(times)
        rows.append(
            {"what": label, "median ms": f"{medians[label]:.1f}", "min ms": f"{min(times):.1f}"}
        )
    added = medians["import boto3, relaystate"] - medians["import boto3"]
    rows.append({"what": "added by relaystate to boto3", "median ms": f"{added:.1f}", "min ms": ""})
    return rows


TITLE = "cold start: wall time of the imports, median of 9 fresh interpreters"
