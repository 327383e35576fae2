"""A job that waits for a person: it prepares, asks, waits for a signal, then goes on.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/approval.py

:class:`Refund` prepares a refund, then ``step()`` returns ``WaitFor("approved", ...)``: the
hop ends and the packet is parked in the progress ledger. Nothing runs, and nothing is billed,
while it waits. Whoever approves sends the signal -- here :func:`run` does, as
``relaystate signal JOB_ID approved --data '{"by": "ann"}' --ledger-table T`` would -- and the
next hop reads ``self.signals["approved"]``. After ``timeout_s`` without it, the job goes on
without it and cancels the refund.

What it shows:

* **WaitFor** needs a ledger: the job names one, and ``LocalLambda.ledger()`` makes it.
* **A handle on a running job**: ``Refund.attach(job_id)`` in the approver's process,
  then ``.signal(...)`` and ``.status()``.
* **A signal sent before the wait begins is kept**: :func:`run` with ``early=True`` signals
  before the job asks; the job then never waits.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from relaystate import DONE, JobState, RelayJob, WaitFor
from relaystate.local import LocalLambda

#: The ledger table the job uses (LocalLambda makes it on its endpoint).
LEDGER = "approvals"


class Refund(RelayJob):
    """Refund ``data["amount"]`` once approved; wait ``data["timeout_s"]`` at most (or for good)."""

    function_name = "refund-worker"
    ledger = LEDGER

    def plan(self) -> str:
        return "prepare"

    def step(self, cursor: str) -> Any:
        if cursor == "prepare":
            self.data["prepared"] = True
            return WaitFor("approved", "decide", timeout_s=self.data.get("timeout_s"))
        approval = self.signals.get("approved")
        self.result = {"refunded": approval is not None, "by": (approval or {}).get("by")}
        self.data["outcome"] = self.result
        return DONE


@dataclass(frozen=True)
class Decided:
    """What :func:`run` found after the job."""

    waited: bool  # the ledger showed the job waiting before the signal
    outcome: dict[str, Any]
    left_over: list[str]


def run(
    *,
    early: bool = False,
    approve: bool = True,
    timeout_s: float | None = None,
    skip_time: bool = False,
) -> Decided:
    """Start a :class:`Refund`, approve it (or not), and run it to its end.

    A wait with a timeout keeps a timer in the queue (a message delayed up to 900 s at a time),
    which the local runtime waits out: keep ``timeout_s`` short here, or leave it out -- or
    ``skip_time``, and the runtime skips to the timer at once (a timeout of hours takes
    seconds; the job then times out before :func:`run` can approve it).
    """
    with LocalLambda(timeout_s=2.0, skip_time=skip_time) as lam:
        lam.deploy(Refund)
        ledger = lam.ledger(LEDGER)
        data: dict[str, Any] = {"amount": 42}
        if timeout_s is not None:
            data["timeout_s"] = timeout_s
        job = Refund(data=data, backend=lam.backend)
        job.start()
        if early:  # the approver is quick: the signal is kept until the job asks
            Refund.attach(job.job_id, backend=lam.backend).signal("approved", {"by": "ann"})
        lam.run_until_idle(timeout_s=60)
        status = ledger.status(job.job_id)
        waited = status is not None and status.state is JobState.WAITING
        if approve and not early:
            Refund.attach(job.job_id, backend=lam.backend).signal("approved", {"by": "ann"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lam.run_until_idle(timeout_s=60)
            status = ledger.status(job.job_id)
            if status is not None and status.state is JobState.TORN_DOWN:
                break
            time.sleep(0.2)  # a timeout wakes it by a delayed message
        results = list(ledger.results(job.job_id))
        return Decided(waited=waited, outcome=results[0].result, left_over=lam.left_over())


def main() -> int:
    decided = run()
    print(
        f"waited for approval: {decided.waited}; outcome {decided.outcome}; left over: "
        f"{', '.join(decided.left_over) or 'none'}"
    )
    return 0 if decided.outcome == {"refunded": True, "by": "ann"} and not decided.left_over else 1


if __name__ == "__main__":
    sys.exit(main())
