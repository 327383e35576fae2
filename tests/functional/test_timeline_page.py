"""The timeline page: drawn for a local run and for a job in a ledger, and loaded in Chromium.

Functional: jobs run on LocalLambda (moto's server on 127.0.0.1); each page is loaded by
headless Chromium (Debian's ``chromium`` package), whose DOM after the load says whether a
script failed (the page records its own errors) and shows one bar per hop. Without Chromium
those checks are skipped, saying why.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from relaystate.cli import cli
from relaystate.cli.execution import execute
from relaystate.cli.timeline_model import Bar, Timeline, from_status
from relaystate.cli.timeline_page import render
from relaystate.local import LocalLambda
from tests.timeline_jobs import FlakyShards

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The flags headless Chromium needs here: root, no GPU, and no network of its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
FAST = {"unit_s": 0.02, "stall_s": 1.5}


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The page's DOM after it loaded in headless Chromium (skips the test without one)."""
    if CHROMIUM is None:
        pytest.skip(
            "headless Chromium is not installed (apt-get install chromium; .ci/run does it): "
            "the page was drawn but not loaded in a browser"
        )
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    return done.stdout


def body(dom: str) -> str:
    found = re.search(r"<body[^>]*>", dom)
    assert found is not None
    return found.group(0)


def bars(dom: str) -> list[tuple[int, int]]:
    """(shard, hop) of every hop bar in the DOM."""
    return [
        (int(shard), int(hop))
        for shard, hop in re.findall(
            r'<rect class="bar [^"]*"[^>]*data-shard="(\d+)" data-hop="(\d+)"', dom
        )
    ]


def test_a_local_runs_page_loads_without_script_errors_with_one_bar_per_hop(
    tmp_path: Path,
) -> None:
    result = execute(
        FlakyShards,
        FAST,
        console=Console(file=io.StringIO()),
        timeout_s=1.0,
        concurrency=4,
        max_wait_s=120,
        retry_delay_s=1,
        timeline=True,
    )
    assert result.timeline is not None
    page = tmp_path / "run.html"
    page.write_text(render(result.timeline), encoding="utf-8")
    dom = dump_dom(page, tmp_path)
    assert 'data-script-errors="0"' in body(dom)
    assert 'data-ready="1"' in body(dom)
    drawn = bars(dom)
    assert result.log.hops == len(drawn)
    assert {0, 1, 2, 3} == {shard for shard, _ in drawn}
    outcomes = {bar.outcome for bar in result.timeline.bars}
    assert {"retrying", "sleeping", "finished"} <= outcomes
    assert {"retry", "sleep"} <= {gap.kind for gap in result.timeline.gaps()}
    assert 1 <= dom.count('class="failed-invocation"')  # the timed-out invocation


def test_a_script_error_on_the_page_shows_in_its_dom(tmp_path: Path) -> None:
    timeline = Timeline(
        job_id="j",
        job_type="T",
        state="done",
        shards=1,
        bars=(Bar(shard=0, hop=0, started_ms=0, ended_ms=1_000, outcome="finished"),),
        totals=from_status_totals(),
        source="a test",
    )
    page = tmp_path / "broken.html"
    page.write_text(
        render(timeline).replace("</body>", "<script>notDefined();</script></body>"),
        encoding="utf-8",
    )
    assert 'data-script-errors="1"' in body(dump_dom(page, tmp_path))


def from_status_totals() -> Any:
    """The totals of an empty ledger job (for a page made by hand)."""
    from relaystate.ledger import JobStatus
    from relaystate.states import JobState

    status = JobStatus("j", JobState.TORN_DOWN, 1, 1, 0, "T", "f", 0, 0)
    return from_status(status, table="t").totals


@pytest.mark.lam(timeout_s=1.0, concurrency=4, retry_delay_s=1)
def test_relaystate_timeline_draws_a_job_from_its_ledger(lam: LocalLambda, tmp_path: Path) -> None:
    lam.deploy(FlakyShards)
    table = lam.ledger().table_name
    job = FlakyShards(data=FAST, backend=lam.backend, ledger=table).start()
    lam.run_until_idle(timeout_s=120)
    status = job.status()
    page = tmp_path / "timeline.html"
    done = CliRunner().invoke(
        cli,
        ["timeline", job.job_id, "-o", str(page), "--ledger-table", table],
        obj=lam.backend,
    )
    assert 0 == done.exit_code, done.output
    assert status is not None
    hops = sum(len(shard.timeline) for shard in status.shard_status)
    assert f"{hops} hops of 4 shards" in done.output
    dom = dump_dom(page, tmp_path)
    assert 'data-script-errors="0"' in body(dom)
    assert hops == len(bars(dom))
    assert "(estimated from the hop records)" in dom


def test_relaystate_timeline_says_when_the_job_kept_no_hops(
    lam: LocalLambda, tmp_path: Path
) -> None:
    table = lam.ledger().table_name
    job_id = f"quiet-{uuid.uuid4().hex[:8]}"
    lam.ledger().open_job(job_id, shards=1, job_type="T", function_name="f")
    done = CliRunner().invoke(
        cli,
        ["timeline", job_id, "-o", str(tmp_path / "t.html"), "--ledger-table", table],
        obj=lam.backend,
    )
    assert 1 == done.exit_code
    assert "timeline = True" in done.output


def test_relaystate_run_writes_the_timeline_of_a_local_run(tmp_path: Path) -> None:
    # A path longer than a terminal line is printed whole on one line (to copy it).
    page = tmp_path / f"{'a-long-file-name-' * 6}run.html"
    done = CliRunner().invoke(
        cli,
        [
            "run",
            "tests.timeline_jobs:FlakyShards",
            "--data",
            '{"unit_s": 0.01, "stall_s": 1.5}',
            "--timeout",
            "1",
            "--retry-delay",
            "0",
            "--timeline",
            str(page),
        ],
    )
    assert 0 == done.exit_code, done.output
    assert f"timeline: {page}" in done.output
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text.split("<footer>")[0])
