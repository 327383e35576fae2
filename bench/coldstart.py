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

RUNS = 40
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


_BOTO3 = "import boto3"
#: What `import relaystate` brings of its dependencies: attrs (transitions loads with the
#: machine, on a job's first use).
_DEPS = "import boto3, attrs"
_OURS = "import boto3, relaystate"
CASES = [
    ("import boto3", _BOTO3),
    ("import boto3, attrs (the dependency relaystate's import brings)", _DEPS),
    ("import boto3, relaystate", _OURS),
    ("import relaystate (boto3 not yet imported)", "import relaystate"),
]


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median": statistics.median(ordered),
        "p25": ordered[len(ordered) // 4],
        "min": ordered[0],
    }


def run() -> list[dict[str, Any]]:
    _import_ms(_OURS)  # writes relaystate's bytecode once
    samples: dict[str, list[float]] = {imports: [] for _, imports in CASES}
    for _ in range(RUNS):  # interleaved, so that drift of a shared machine hits every case
        for _, imports in CASES:
            samples[imports].append(_import_ms(imports))
    found = {imports: _stats(times) for imports, times in samples.items()}
    rows = [
        {"what": label} | {f"{k} ms": f"{v:.1f}" for k, v in found[imports].items()}
        for label, imports in CASES
    ]

    def share(label: str, over: str, under: str = _BOTO3) -> dict[str, Any]:
        row: dict[str, Any] = {"what": label}
        for key, base in found[_BOTO3].items():
            added = found[over][key] - found[under][key]
            row[f"{key} ms"] = f"{added:.1f} ({100 * added / base:.0f} %)"
        return row

    rows.append(share("added by relaystate to boto3 (share of boto3's own time)", _OURS))
    rows.append(share("  of which attrs", _DEPS))
    rows.append(share("  of which relaystate's own modules", _OURS, _DEPS))
    return rows


TITLE = (
    f"cold start: wall time of the imports in {RUNS} fresh interpreters each "
    "(the minimum and the first quartile are the steadier figures on a shared machine)"
)
