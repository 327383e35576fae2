"""Cold-start benchmark: what importing relaystate adds to importing boto3 on the Lambda path.

Each figure is the wall time of the imports in a fresh interpreter, with compiled bytecode
for both (see _ENV) (``-X importtime`` lists the
modules; its totals add its own overhead, so the wall clock is used for the comparison).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import Any

RUNS = 15
_TIMED = "import time; t = time.perf_counter(); {imports}; print(time.perf_counter() - t)"


# As on Lambda, where a deployment package's modules are compiled: boto3's are (pip compiled
# them at install); an editable checkout's are not, and PYTHONDONTWRITEBYTECODE=1 would keep
# them that way, timing relaystate's compiler runs instead of its imports.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _import_ms(imports: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.format(imports=imports)],
        capture_output=True,
        text=True,
        check=True,
        env=_ENV,
    )
    return float(done.stdout.strip()) * 1000.0


def run() -> list[dict[str, Any]]:
    cases = [
        ("import boto3", "import boto3"),
        ("import boto3, relaystate", "import boto3, relaystate"),
        ("import relaystate (boto3 not yet imported)", "import relaystate"),
    ]
    _import_ms("import boto3, relaystate")  # writes relaystate's bytecode once
    medians = {}
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(RUNS):  # interleaved, so that drift of a shared machine hits every case
        for label, imports in cases:
            samples[label].append(_import_ms(imports))
    rows = []
    for label, _ in cases:
        times = samples[label]
        medians[label] = statistics.median(times)
        rows.append(
            {"what": label, "median ms": f"{medians[label]:.1f}", "min ms": f"{min(times):.1f}"}
        )
    added = medians["import boto3, relaystate"] - medians["import boto3"]
    least = {label: min(times) for label, times in samples.items()}
    added_min = least["import boto3, relaystate"] - least["import boto3"]
    rows.append(
        {
            "what": "added by relaystate to boto3 (share of boto3's own time)",
            "median ms": f"{added:.1f} ({100 * added / medians['import boto3']:.0f} %)",
            "min ms": f"{added_min:.1f} ({100 * added_min / least['import boto3']:.0f} %)",
        }
    )
    return rows


TITLE = (
    f"cold start: wall time of the imports in {RUNS} fresh interpreters each "
    "(the minimum is the steadier figure on a shared machine)"
)
