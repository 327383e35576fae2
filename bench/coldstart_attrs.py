"""What remains of relaystate's cold start: the attrs classes it builds, against the rest.

In fresh interpreters (boto3, attrs and transitions loaded first), times ``from relaystate
import RelayJob``, then the modules a first hop adds (the AWS backend's adapters, the machine,
the callbacks...; no ledger, no offload), and within both the time attrs spends building
classes (``attrs.define``, ``attrs.frozen``: timed around attrs' own builder). Run it with
``python -m bench coldstart_attrs``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from .coldstart import _ENV

RUNS = 15
_SCRIPT = """\
import json, time
import boto3, attrs, transitions
import attr._next_gen as next_gen
built, spent = [], [0.0]
_attrs = next_gen.attrs
def timed(*args, **kwargs):
    started = time.process_time()
    made = _attrs(*args, **kwargs)
    spent[0] += time.process_time() - started
    built.append(made)
    return made
next_gen.attrs = timed
started = time.process_time()
from relaystate import RelayJob
imported, imported_attrs, imported_n = time.process_time() - started, spent[0], len(built)
import relaystate.aws, relaystate.hop, relaystate.machine, relaystate.callbacks
import relaystate.control_lease, relaystate.pause
print(json.dumps({
    "import": [imported * 1e3, imported_attrs * 1e3, imported_n],
    "first hop": [(time.process_time() - started) * 1e3, spent[0] * 1e3, len(built)],
}))
"""


def run() -> list[dict[str, Any]]:
    samples: list[dict[str, list[float]]] = []
    for _ in range(RUNS + 1):
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, env=_ENV
        )
        samples.append(json.loads(done.stdout))
    samples = samples[1:]  # the first wrote the bytecode
    rows = []
    for what in ("import", "first hop"):
        total = [s[what][0] for s in samples]
        built = [s[what][1] for s in samples]
        count = int(samples[0][what][2])
        rows.append(
            {
                "relaystate's own": what,
                "CPU ms (median)": f"{statistics.median(total):.1f}",
                "attrs classes": count,
                "building them, ms (median)": f"{statistics.median(built):.1f}",
                "per class, ms": f"{statistics.median(built) / count:.2f}",
                "the rest (modules' own code, loading), ms": (
                    f"{statistics.median(t - b for t, b in zip(total, built, strict=True)):.1f}"
                ),
            }
        )
    return rows


TITLE = (
    f"cold start, what remains: attrs' class building in relaystate's own import time, "
    f"{RUNS} fresh interpreters, process CPU"
)
