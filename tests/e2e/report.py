"""What an e2e run measured, for a maintainer's notes: ``tests/e2e/.report/<run id>.json``.

Numbers moto cannot give: each hop's latencies as the worker reported them (see
:mod:`tests.e2e.jobs`), how long AWS took to make the deploy usable (IAM's propagation), and
what the tests recorded on the way (how far a queue's approximate count lagged a send). Nothing
here is asserted: the tests assert behaviour; timings vary and are only written down.

A hop's latencies, from its report line (ms since the epoch; clocks of different hosts):

    relay_ms   packet made (or due, after a sleep) -> hop started: what a relay costs
    queue_ms   SQS got the message -> the poller first received it
    invoke_ms  first received -> the handler started (cold starts show here)
    run_ms     the handler's own time

Example:
    >>> hop_latencies({"made_ms": 1000, "due_ms": 0, "sent_ms": 1010, "received_ms": 1050,
    ...                "started_ms": 1090, "ended_ms": 1590})
    {'relay_ms': 90, 'queue_ms': 40, 'invoke_ms': 40, 'run_ms': 500}
    >>> summary([30, 10, 20])
    {'n': 3, 'p50': 20, 'p95': 30, 'max': 30}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["REPORT_DIR", "Report", "hop_latencies", "summary"]

#: Where reports are written (gitignored).
REPORT_DIR = Path(__file__).parent / ".report"
_LATENCIES = ("relay_ms", "queue_ms", "invoke_ms", "run_ms")


def hop_latencies(hop: Mapping[str, Any]) -> dict[str, int]:
    """A hop report's latencies (see the module's docstring)."""
    since = max(hop.get("made_ms", 0), hop.get("due_ms", 0))
    return {
        "relay_ms": hop["started_ms"] - since,
        "queue_ms": hop["received_ms"] - hop["sent_ms"],
        "invoke_ms": hop["started_ms"] - hop["received_ms"],
        "run_ms": hop["ended_ms"] - hop["started_ms"],
    }


def summary(values: Sequence[float]) -> dict[str, float]:
    """Count, median, 95th percentile (nearest rank) and maximum of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def rank(p: float) -> float:
        return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]

    return {"n": len(ordered), "p50": rank(0.5), "p95": rank(0.95), "max": ordered[-1]}


class Report:
    """One run's report, filled as the run goes and written at its end.

    Example:
        >>> report = Report("0a1b2c3d", "eu-west-1")
        >>> report.note("queue_count_lag", {"polls": 2})
        >>> report.data["observations"]
        {'queue_count_lag': {'polls': 2}}
    """

    def __init__(self, run_id: str, region: str) -> None:
        self.run_id = run_id
        self.data: dict[str, Any] = {
            "run_id": run_id,
            "region": region,
            "started": _now(),
            "deploy": {},
            "observations": {},
            "jobs": {},
        }

    def note(self, name: str, value: Any) -> None:
        """Record what a test observed (JSON), under ``observations``."""
        self.data["observations"][name] = value

    def deployed(self, timings: Mapping[str, Any]) -> None:
        """Record what the deploy took."""
        self.data["deploy"].update(timings)

    def add_hops(self, jobs: Mapping[str, str], hops: Iterable[Mapping[str, Any]]) -> None:
        """Record the hop reports of the run's jobs (job id -> the test's name for it)."""
        by_job: dict[str, list[dict[str, Any]]] = {}
        for hop in hops:
            if hop.get("job_id") in jobs:
                entry = {k: hop[k] for k in ("shard", "hop", "receive_count", "cold") if k in hop}
                by_job.setdefault(hop["job_id"], []).append({**entry, **hop_latencies(hop)})
        every: list[dict[str, Any]] = []
        for job_id, label in jobs.items():
            found = sorted(by_job.get(job_id, []), key=lambda h: (h["shard"], h["hop"]))
            every.extend(found)
            key = label if label not in self.data["jobs"] else f"{label} {job_id}"
            self.data["jobs"][key] = {
                "job_id": job_id,
                "hops": found,
                **{name: summary([h[name] for h in found]) for name in _LATENCIES},
            }
        self.data["hops"] = {
            **{name: summary([h[name] for h in every]) for name in _LATENCIES},
            "cold": sum(1 for h in every if h.get("cold")),
        }

    def write(self, directory: Path = REPORT_DIR) -> Path:
        """Write the report as ``<directory>/<run id>.json``; its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.run_id}.json"
        self.data["finished"] = _now()
        path.write_text(json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n")
        return path


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
