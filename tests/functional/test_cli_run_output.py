"""What `relaystate run` says about a job that fails, waits or is interrupted (functional tier)."""

from __future__ import annotations

import _thread
import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from relaystate import DONE, RelayJob, Retry
from relaystate.cli import cli
from relaystate.cli.hoplog import HopLog
from relaystate.cli.instrument import instrumented


class Boom(RelayJob):
    """Three units, then a unit that looks up a key that is not there."""

    function_name = "boom-worker"
    retry = Retry(attempts=1, hop_retries=2, hop_delay_s=1)

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        if cursor >= 3:
            return {}["missing-key"]
        return cursor + 1


class SlowBoom(Boom):
    """Boom with the default policy's delays: 10 s, then 20 s."""

    function_name = "slow-boom-worker"
    retry = Retry(attempts=1, hop_retries=2)


class NotJson(RelayJob):
    """A unit whose next cursor could never travel in a packet."""

    function_name = "not-json-worker"

    def plan(self) -> int:
        return 0

    def step(self, cursor: Any) -> Any:
        return object()


class Endless(RelayJob):
    """Slow units that never end; tells the test when the first one ran."""

    function_name = "endless-slow-worker"
    started: ClassVar[threading.Event] = threading.Event()

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> int:
        Endless.started.set()
        time.sleep(0.05)
        return cursor + 1


class TooSlow(RelayJob):
    """A unit longer than the function timeout: every invocation times out."""

    function_name = "too-slow-worker"
    max_receive_count = 2

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        time.sleep(3)
        return DONE


class Counted(RelayJob):
    function_name = "counted-worker"

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        return DONE if cursor >= 9 else cursor + 1


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["run", *args])


def row(result: Result, name: str) -> str:
    """The value of a summary row (a row that wraps continues on the next lines)."""
    lines = result.stdout.splitlines()
    for i, line in enumerate(lines):
        cells = line.split("│")
        if len(cells) > 2 and cells[1].strip() == name:
            value = [cells[2].strip()]
            for more in lines[i + 1 :]:
                cont = more.split("│")
                if len(cont) < 3 or cont[1].strip():
                    break
                value.append(cont[2].strip())
            return " ".join(value)
    raise AssertionError(f"no row {name!r} in:\n{result.stdout}")


@pytest.fixture(scope="module")
def boom() -> Result:
    return run(f"{__name__}:Boom")


def test_a_failing_unit_says_each_retry_wait_and_what_shortens_it(boom: Result) -> None:
    assert 1 == boom.exit_code, boom.output
    text = " ".join(boom.stdout.split())
    assert (
        "shard 0 hop 0: KeyError('missing-key'); the job's Retry policy runs the unit again in "
        "1 s (hop retry 1 of 2; --retry-delay 0 shortens the wait)"
    ) in text
    assert "runs the unit again in 2 s (hop retry 2 of 2;" in text


def test_a_failed_job_shows_the_last_units_traceback_once(boom: Result) -> None:
    assert 1 == boom.stdout.count("Traceback (most recent call last)")
    assert 'return {}["missing-key"]' in boom.stdout
    assert "The last error (shard 0 hop 2):" in boom.stdout


def test_the_traceback_starts_at_the_jobs_own_code(boom: Result) -> None:
    shown = boom.stdout[boom.stdout.index("Traceback (most recent call last)") :]
    first_frame = shown.splitlines()[1]
    assert __file__ in first_frame
    assert "relaystate/cli/instrument.py" not in shown


def test_the_summary_counts_agree_with_the_outcome(boom: Result) -> None:
    assert "FAILED: 0 of 1 shard finished, 1 failed" == row(boom, "outcome")
    assert row(boom, "failed hops").startswith("3 (2 retried after a unit error, 1 failed")
    assert "2 (2 to retry a unit)" == row(boom, "relays")


def test_the_parked_packet_is_saved_with_the_commands_that_resume_it(boom: Result) -> None:
    text = " ".join(boom.stdout.split())
    found = re.search(r"the packet of shard 0 at hop 2, saved to (\S+\.json)", text)
    assert found, boom.stdout
    packet = json.loads(Path(found.group(1)).read_text())
    assert (0, 3) == (packet["shard"], packet["cursor"])
    assert f"relaystate serve {__name__}:Boom" in text
    assert (
        f"relaystate resume {found.group(1)} --job {__name__}:Boom "
        "--endpoint-url http://127.0.0.1:4566"
    ) in text
    assert "(see above for what to do)" in boom.stderr
    assert "shard 0 failed: KeyError('missing-key')" in boom.stderr


def test_retry_delay_0_shortens_the_jobs_retry_policy_too() -> None:
    result = run(f"{__name__}:SlowBoom", "--retry-delay", "0")

    assert 1 == result.exit_code, result.output
    # The policy's two hop retries (10 s and 20 s apart without the option), then the shard fails.
    assert "3" == row(result, "hops")
    assert "2 to retry a unit" in row(result, "relays")
    text = " ".join(result.stdout.split())
    assert "runs the unit again in 0 s (hop retry 1 of 2)" in text
    assert "--retry-delay 0 shortens" not in text


def test_a_cursor_that_is_not_json_fails_promptly_and_says_why() -> None:
    result = run(f"{__name__}:NotJson", "--retry-delay", "0")

    assert 1 == result.exit_code, result.output
    # The job's Retry policy, as for any unit error -- not SQS redelivering a raised hop until
    # its receive count parks the raw packet.
    assert "4" == row(result, "hops")
    assert "1 failed its shard for good" in row(result, "failed hops")
    assert "cursor: an object is not a JSON value" in result.stderr
    text = " ".join(result.stdout.split())
    assert "relaystate resume " in text
    assert f"--job {__name__}:NotJson --endpoint-url http://127.0.0.1:4566" in text


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's own Ctrl-C handler, whatever this process inherited: a process started in the
    background of a non-interactive shell ignores SIGINT, and then ``interrupt_main()`` does
    nothing (the run went on for ever)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_prints_the_summary_so_far_and_tears_down() -> None:
    Endless.started.clear()

    def interrupt() -> None:
        if Endless.started.wait(60):
            time.sleep(0.3)
            _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()

    result = run(f"{__name__}:Endless")

    assert 130 == result.exit_code, result.output
    assert "Traceback" not in result.output
    assert "interrupted (Ctrl-C)" in row(result, "outcome")
    assert "none" == row(result, "resources left")
    assert "interrupted (Ctrl-C) after" in result.stderr


def test_total_gives_the_bar_a_total() -> None:
    result = run(f"{__name__}:Counted", "--total", "10")

    assert 0 == result.exit_code, result.output
    assert "10/10 units" in result.stdout


def test_an_invocation_that_times_out_says_when_it_is_delivered_again() -> None:
    result = run(f"{__name__}:TooSlow", "--timeout", "1", "--retry-delay", "1")

    assert 1 == result.exit_code, result.output
    text = " ".join(result.stdout.split())
    assert (
        "an invocation of too-slow-worker timed out (Task timed out after 1.00 seconds); SQS "
        "delivers its packet again in 1 s (--retry-delay)"
    ) in text
    assert "2 (2 invocations failed and delivered again)" == row(result, "failed hops")
    assert "did not finish (last hop error: Task timed out after 1.00 seconds)" in (
        " ".join(result.stderr.split())
    )


# -- unit tier: the parts --------------------------------------------------------------------


def test_instrumented_counts_units_as_they_return_and_restores_the_class() -> None:
    original = Counted.__dict__["step"]
    job = Counted()

    with instrumented(Counted, hop_delay_s=None) as units:
        job.step(0)
        job.step(1)
        assert 2 == units.value
    assert original is Counted.__dict__["step"]


def test_instrumented_with_a_delay_sets_the_policys_hop_delay_for_the_run() -> None:
    with instrumented(Boom, hop_delay_s=0):
        assert 0 == Boom.retry.hop_delay_s
        assert 2 == Boom.retry.hop_retries
    assert 1 == Boom.retry.hop_delay_s
    assert "retry" not in Counted.__dict__


def test_the_hop_log_says_what_it_waits_for_and_how_long() -> None:
    now = [100.0]
    log = HopLog(Console(file=None, width=200), clock=lambda: now[0])

    log.wait(("shard", 0), 10, "the Retry policy of shard 0")
    now[0] += 3.5

    assert "waiting 7 s: the Retry policy of shard 0" == log.waiting()
    now[0] += 7
    assert "" == log.waiting()


def test_the_hop_log_says_when_a_failed_invocation_is_delivered_again() -> None:
    console = Console(record=True, width=300)
    log = HopLog(console)
    log.redelivery_s, log.redelivery_why = 30, "the queue's visibility timeout, as on AWS"
    log.retry_hint = "--retry-delay 0 shortens the wait"

    log.invocation_failed("boom-worker", "timeout", "Task timed out after 2.00 seconds")

    assert (
        "an invocation of boom-worker timed out (Task timed out after 2.00 seconds); SQS "
        "delivers its packet again in 30 s (the queue's visibility timeout, as on AWS; "
        "--retry-delay 0 shortens the wait)"
    ) in console.export_text()
    assert log.waiting().startswith("waiting 30 s")
