"""A job that sleeps between units: one export a night, for as many nights as it takes.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/nightly.py

:class:`NightlyExport` exports one day, then ``step()`` returns ``Sleep(seconds, next_day)``:
the hop ends and the packet waits in the job's queue (``DelaySeconds``; a sleep longer than
SQS's 900 s is chained, one short wake-up every 15 minutes). No Lambda runs while it sleeps.
Here a "night" is ``data["night_s"]`` seconds (1 by default) so that the example ends soon; on
AWS it would be ``24 * 3600``. With ``run(night_s=24 * 3600, skip_time=True)`` it is, and the
example still ends in seconds: the local runtime skips the time in which nothing is due, on a
virtual clock that the job reads through ``relaystate.clock``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

from relaystate import DONE, RelayJob, Sleep, clock
from relaystate.local import LocalLambda


class NightlyExport(RelayJob):
    """Export ``data["nights"]`` days, one a night; each export records the time it ran."""

    function_name = "nightly-export-worker"

    def plan(self) -> int:
        self.data["exported"] = []
        return 0

    def step(self, day: int) -> Any:
        # relaystate's clock: the virtual one when the local runtime skips time.
        self.data["exported"].append([day, round(clock.wall(), 2)])
        if day + 1 >= self.data["nights"]:
            return DONE
        return Sleep(self.data.get("night_s", 1), day + 1)

    def on_done(self) -> None:
        Exported.last = [tuple(e) for e in self.data["exported"]]


class Exported:
    """Where the last job's exports are left for :func:`run` (on AWS: S3, a database)."""

    last: ClassVar[list[tuple[int, float]]] = []


@dataclass(frozen=True)
class Slept:
    """What :func:`run` found after the job."""

    exports: list[tuple[int, float]]
    invocations: int
    left_over: list[str]


def run(nights: int = 3, night_s: float = 1.0, *, skip_time: bool = False) -> Slept:
    """Run :class:`NightlyExport` for ``nights`` nights of ``night_s`` seconds each
    (``skip_time``: on a virtual clock that skips the nights)."""
    Exported.last = []
    with LocalLambda(timeout_s=2.0, skip_time=skip_time) as lam:
        lam.deploy(NightlyExport)
        NightlyExport(data={"nights": nights, "night_s": night_s}, backend=lam.backend).start()
        lam.run_until_idle(timeout_s=60 + (0 if skip_time else nights * night_s))
        return Slept(Exported.last, len(lam.invocations), lam.left_over())


def main() -> int:
    slept = run()
    gaps = [round(b[1] - a[1], 1) for a, b in pairwise(slept.exports)]
    print(
        f"{len(slept.exports)} exports, {gaps} s apart, in {slept.invocations} invocations; "
        f"left over: {', '.join(slept.left_over) or 'none'}"
    )
    return 0 if len(slept.exports) == 3 and not slept.left_over else 1


if __name__ == "__main__":
    sys.exit(main())
