"""CloudWatch embedded-metric-format (EMF) lines for hops: metrics from logs, no API calls.

On Lambda, a JSON line printed to stdout with an ``_aws`` block becomes CloudWatch metrics.
A job with ``metrics = True`` prints one per hop: Hops, Units, Utilization, Retries, by JobType.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .clock import now_ms

__all__ = ["NAMESPACE", "emf_line"]

NAMESPACE = "relaystate"


def emf_line(hop: Mapping[str, Any], *, retries: int = 0, namespace: str = NAMESPACE) -> str:
    """The EMF JSON line for one hop record (as logged in ``record.relaystate_hop``).

    Example:
        >>> line = emf_line({"job_type": "CopyRows", "units": 7, "utilization": 0.97})
        >>> sorted(json.loads(line))
        ['Hops', 'JobType', 'Retries', 'Units', 'Utilization', '_aws']
    """
    return json.dumps(
        {
            "_aws": {
                "Timestamp": now_ms(),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["JobType"]],
                        "Metrics": [
                            {"Name": "Hops", "Unit": "Count"},
                            {"Name": "Units", "Unit": "Count"},
                            {"Name": "Utilization", "Unit": "Percent"},
                            {"Name": "Retries", "Unit": "Count"},
                        ],
                    }
                ],
            },
            "JobType": str(hop.get("job_type", "")),
            "Hops": 1,
            "Units": int(hop.get("units", 0)),
            "Utilization": round(100.0 * float(hop.get("utilization", 0.0)), 2),
            "Retries": retries,
        },
        separators=(",", ":"),
    )
