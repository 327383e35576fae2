"""The e2e scenarios: each example's ``run()``, done on a :class:`~tests.e2e.rig.Rig`.

Each function starts a job of :mod:`tests.e2e.jobs` through the rig, waits (bounded) for its
end, and returns what the example's own ``run()`` returns -- the same dataclass -- so that the
tests assert on AWS what ``tests/functional/test_examples.py`` asserts on LocalLambda. The
sizes are the examples' test sizes, stretched where a Lambda is faster than this machine so
that the work still outlasts a hop (the worker's timeout is 3 s: see :mod:`tests.e2e.deploy`).

Example:
    >>> shard_bounds(100, shards=4)
    [(0, 25), (25, 50), (50, 75), (75, 100)]
"""

from __future__ import annotations

import tempfile
import time
import types
from itertools import pairwise
from pathlib import Path
from typing import Any

import attrs

from examples import approval, csv_import, fan_out, nightly, rate_limited_api, sql_pages, sum_shards
from relaystate import JobState
from relaystate.ledger import JobStatus
from tests.e2e.jobs import (
    CopyRowsOnAws,
    CountPrimesOnAws,
    ImportCsvOnAws,
    NightlyOnAws,
    SendMailsOnAws,
)
from tests.e2e.rig import Rig, refused

__all__ = [
    "Ledgered",
    "Paused",
    "Woken",
    "copy_rows",
    "count_primes",
    "count_primes_ledgered",
    "decide",
    "export_nightly",
    "import_csv",
    "pause_nightly",
    "send_mails",
    "shard_bounds",
    "sum_squares",
    "wake",
]


def copy_rows(rig: Rig, rows: int = 2_000, *, unit_delay_s: float = 0.25) -> sql_pages.Copied:
    """The SQL pages example: ``rows`` rows, 100 a unit (20 units of ``unit_delay_s`` each)."""
    data = {"rows": rows, "unit_delay_s": unit_delay_s}
    job = rig.start(CopyRowsOnAws, data, "sql_pages")
    (done,) = rig.results(job.job_id)
    return sql_pages.Copied(
        rows=done["rows"],
        copied=done["copied"],
        same_sum=done["same_sum"],
        hops=done["hops"],
        relays=done["relays"],
        units=done["units"],
        left_over=rig.left_after(job.job_id),
    )


def send_mails(rig: Rig, mails: int = 60) -> rate_limited_api.Sent:
    """The rate-limited API example: ``mails`` calls at 14 a second (paced 10 % under)."""
    job = rig.start(SendMailsOnAws, {"mails": mails}, "rate_limited_api")
    (done,) = rig.results(job.job_id)
    times: list[float] = sorted(done["calls"])
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    limit = rate_limited_api.LIMIT_PER_S
    # The example's own count of the busiest second, made on the calls' times.
    calls: Any = types.SimpleNamespace(accepted=times)
    busiest = rate_limited_api.FakeMailApi.busiest_second(calls)
    return rate_limited_api.Sent(
        mails=mails,
        accepted=len(times) - refused(times, limit),
        rejected=refused(times, limit),
        limit=limit,
        busiest_second=busiest,
        rate_per_s=(len(times) - 1) / span if span else 0.0,
        hops=done["hops"],
        left_over=rig.left_after(job.job_id),
    )


def import_csv(
    rig: Rig, rows: int = 4_000, *, lines: int = 200, unit_delay_s: float = 0.25
) -> csv_import.Imported:
    """The CSV import example: ``rows`` lines, ``lines`` a unit."""
    data = {"csv_rows": rows, "lines": lines, "unit_delay_s": unit_delay_s}
    job = rig.start(ImportCsvOnAws, data, "csv_import")
    (done,) = rig.results(job.job_id)
    return csv_import.Imported(
        expected=_expected_sales(rows),
        imported=(done["rows"], done["cents"]),
        size=done["size"],
        hops=done["hops"],
        left_over=rig.left_after(job.job_id),
    )


def _expected_sales(rows: int) -> tuple[int, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        return csv_import.make_csv(Path(tmp, "sales.csv"), rows)


def count_primes(
    rig: Rig, n: int = 60_000, *, shards: int = 4, chunk: int = 1_000
) -> fan_out.Counted:
    """The fan-out example, as it runs: no ledger, so the starter tears the job down once every
    shard has reported and the queue is idle."""
    job = rig.start(CountPrimesOnAws, {"n": n, "shards": shards, "chunk": chunk}, "fan_out")
    results = rig.results(job.job_id, shards)
    rig.idle(job)
    job.tear_down()
    return fan_out.Counted(
        n=n,
        primes=sum(r["primes"] for r in results),
        shards_done=sorted(r["shard"] for r in results),
        hops=sum(r["hops"] for r in results),
        left_over=rig.left_after(job.job_id),
    )


@attrs.frozen
class Ledgered:
    """A fan-out with a ledger, as the ledger saw it end."""

    state: JobState
    #: ``(shard, status, result)`` of every shard, in shard order.
    shards: list[tuple[int, str, Any]]
    left_over: list[str]


def count_primes_ledgered(
    rig: Rig, n: int = 200_000, *, shards: int = 4, chunk: int = 2_000
) -> Ledgered:
    """The fan-out with a ledger: the shard that ends last tears the job down; every shard's
    result is in the ledger."""
    data = {"n": n, "shards": shards, "chunk": chunk}
    job = rig.start(CountPrimesOnAws, data, "fan_out_ledgered", ledger=True)
    status = rig.ended(job.job_id)
    return Ledgered(
        state=status.state,
        shards=[(r.shard, r.status, r.result) for r in rig.ledger.results(job.job_id)],
        left_over=rig.left_after(job.job_id),
    )


def shard_bounds(n: int, *, shards: int) -> list[tuple[int, int]]:
    """The ranges :class:`~examples.fan_out.CountPrimes` cuts ``range(n)`` into, one a shard."""
    bounds = [n * i // shards for i in range(shards + 1)]
    return list(pairwise(bounds))


def decide(
    rig: Rig, *, early: bool = False, approve: bool = True, timeout_s: float | None = None
) -> approval.Decided:
    """The approval example: a job that waits for a signal (sent early, on time, or never)."""
    data: dict[str, Any] = {"amount": 42}
    if timeout_s is not None:
        data["timeout_s"] = timeout_s
    label = f"approval{'_early' if early else ''}{'' if approve else '_timeout'}"
    job = rig.start(approval.Refund, data, label, ledger=True)
    if early:
        rig.attach(approval.Refund, job.job_id).signal("approved", {"by": "ann"})
    waited = False
    if approve and not early:
        waited = rig.reached(job.job_id, JobState.WAITING).state is JobState.WAITING
        rig.attach(approval.Refund, job.job_id).signal("approved", {"by": "ann"})
    rig.ended(job.job_id)
    (result,) = rig.ledger.results(job.job_id)
    return approval.Decided(
        waited=waited, outcome=result.result, left_over=rig.left_after(job.job_id)
    )


@attrs.frozen
class Woken:
    """A job that waited for a signal, and what the signal did."""

    waiting: JobState  # the ledger's state before the signal
    woken: int  # shards the signal woke
    state: JobState
    outcome: Any
    left_over: list[str]


def wake(rig: Rig) -> Woken:
    """The approval job, waiting with no timeout, woken by a signal sent through its handle."""
    job = rig.start(approval.Refund, {"amount": 7}, "signal", ledger=True)
    waiting = rig.reached(job.job_id, JobState.WAITING)
    woken = rig.attach(approval.Refund, job.job_id).signal("approved", {"by": "bo"})
    status = rig.ended(job.job_id)
    (result,) = rig.ledger.results(job.job_id)
    return Woken(waiting.state, woken, status.state, result.result, rig.left_after(job.job_id))


def export_nightly(rig: Rig, nights: int = 3, night_s: float = 1.0) -> nightly.Slept:
    """The nightly example: ``nights`` exports, ``night_s`` apart (a ``Sleep``)."""
    job = rig.start(NightlyOnAws, {"nights": nights, "night_s": night_s}, "nightly")
    (done,) = rig.results(job.job_id)
    left_over = rig.left_after(job.job_id)
    # The hop reports of the last hop follow its result: wait for as many as it counted.
    hops = rig.wait(
        f"the hop reports of job {job.job_id}",
        lambda: _at_least(rig.reports("hop", job.job_id), done["hops"]),
        lambda: f"{done['hops']} hops counted",
    )
    exports = [(day, at) for day, at in done["exports"]]
    return nightly.Slept(exports=exports, invocations=len(hops), left_over=left_over)


def _at_least(found: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return found if len(found) >= count else None


def sum_squares(
    rig: Rig, n: int = 20_000, *, shards: int = 4, broken: int | None = 2
) -> sum_shards.Summed:
    """The join example: shard results summed by the ledger's join, one failure tolerated."""
    data = {"n": n, "shards": shards, "broken": broken}
    job = rig.start(sum_shards.SumSquares, data, "sum_shards", ledger=True)
    status = rig.ended(job.job_id)
    results = list(rig.ledger.results(job.job_id))
    return sum_shards.Summed(
        total=sum(r.result for r in results if r.status == "done"),
        failed_shards=[r.shard for r in results if r.status == "failed"],
        state=status.state.value,
        left_over=rig.left_after(job.job_id, keep=1),
    )


@attrs.frozen
class Paused:
    """A nightly job paused in its first night and unpaused after it."""

    paused_state: JobState  # the ledger's state while paused
    units_while_paused: tuple[int, int]  # units done when paused, and when unpaused
    held_s: float  # how long it stayed paused
    exports: list[tuple[int, float]]
    state: JobState
    left_over: list[str]


def pause_nightly(rig: Rig, *, night_s: float = 10.0, hold_s: float = 30.0) -> Paused:
    """Two nightly exports with a ledger; the job is paused during the night between them and
    held paused ``hold_s`` past the night's end, then unpaused."""
    job = rig.start(NightlyOnAws, {"nights": 2, "night_s": night_s}, "pause", ledger=True)
    rig.wait(
        f"the first export of job {job.job_id}",
        lambda: True if _units(rig, job.job_id) >= 1 else None,
        lambda: str(rig.ledger.status(job.job_id)),
    )
    # The starter's own handle: ``attach`` finds a job's queue by the class's queue_prefix,
    # not by the one these jobs are given as an option, and would pause only the ledger.
    job.pause()
    paused_at = time.monotonic()
    before = rig.reached(job.job_id, JobState.PAUSED)

    def held_long_enough() -> JobStatus | None:
        if time.monotonic() - paused_at < night_s + hold_s:
            return None
        return rig.ledger.status(job.job_id)

    held = rig.wait("the pause to outlast the night", held_long_enough, lambda: "")
    job.unpause()
    held_s = time.monotonic() - paused_at
    status = rig.ended(job.job_id)
    (result,) = rig.ledger.results(job.job_id)
    return Paused(
        paused_state=held.state,
        units_while_paused=(before.units, held.units),
        held_s=held_s,
        exports=[(day, at) for day, at in result.result["exports"]],
        state=status.state,
        left_over=rig.left_after(job.job_id),
    )


def _units(rig: Rig, job_id: str) -> int:
    status = rig.ledger.status(job_id)
    return status.units if status is not None else 0
