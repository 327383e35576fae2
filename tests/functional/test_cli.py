"""The ``relaystate`` command, through click's CliRunner, on the local Lambda runtime."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from relaystate import DONE, RelayJob, Retry, __version__
from relaystate.cli import cli


class Unnamed(RelayJob):
    """A job with no worker function: start() refuses it."""

    def step(self, cursor: Any) -> Any:
        return DONE


class Endless(RelayJob):
    """A job that never says DONE; max_hops stops it."""

    function_name = "endless-worker"
    max_hops = 1

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> int:
        return cursor + 1


class Broken(RelayJob):
    """A job whose every unit fails, retried not at all: FAILED, its packet parked in the DLQ."""

    function_name = "broken-worker"
    retry = Retry(attempts=1, hop_retries=0)

    def step(self, cursor: Any) -> Any:
        raise RuntimeError("the database is down")


class Unplannable(RelayJob):
    """A job whose plan() raises: the job's own error, not relaystate's."""

    function_name = "unplannable-worker"

    def plan(self) -> Any:
        raise ValueError("no table named users")

    def step(self, cursor: Any) -> Any:
        return DONE


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def demo() -> Result:
    return invoke("demo", "--rows", "2000", "--timeout", "1")


@pytest.fixture(scope="module")
def fan_out() -> Result:
    return invoke("run", "examples.fan_out:CountPrimes", "--data", json.dumps({"n": 40_000}))


def test_demo_exits_0(demo: Result) -> None:
    assert 0 == demo.exit_code, demo.output


def test_demo_copies_every_row(demo: Result) -> None:
    assert "2,000 of 2,000 (2,000 distinct)" in demo.output


def test_demo_says_no_resources_are_left(demo: Result) -> None:
    assert "resources left │ none" in demo.output


def test_demo_reports_hops_time_and_aws_calls(demo: Result) -> None:
    for label in ("hops", "relays", "Lambda time", "AWS calls", "wall time"):
        assert label in demo.output


def test_demo_output_has_no_control_codes_off_a_terminal(demo: Result) -> None:
    assert "\x1b" not in demo.output


def test_run_fan_out_finishes_every_shard(fan_out: Result) -> None:
    assert 0 == fan_out.exit_code, fan_out.output
    assert "4 of 4 shards finished" in fan_out.output


def test_run_fan_out_tears_down(fan_out: Result) -> None:
    assert "resources left │ none" in fan_out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "examples.fan_out"], "expected MODULE:JobClass"),
        (["run", "no_such_module_x:Job"], "no module named 'no_such_module_x'"),
        (["run", "examples.fan_out:Nope"], "RelayJob classes in it: CountPrimes"),
        (["run", "examples.fan_out:is_prime"], "is a function, not a subclass"),
        (["run", "relaystate:RelayJob"], "is RelayJob itself"),
        (["run", "examples.fan_out:CountPrimes", "--data", "{oops"], "not valid JSON"),
        (["run", "examples.fan_out:CountPrimes", "--data", "[1, 2]"], "must be a JSON object"),
        (["run", "examples.fan_out:CountPrimes", "--timeout", "0"], "--timeout"),
        (["demo", "--timeout", "901"], "0.5<=x<=900"),
        (["demo", "--rows", "0"], "--rows"),
        (["ls", "--endpoint-url", "notaurl"], "expected an http:// or https:// URL"),
        (["status", "j", "--endpoint-url", "ftp://x"], "expected an http:// or https:// URL"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = invoke(*args)

    assert 2 == result.exit_code
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_job_that_cannot_start_exits_1_with_one_line() -> None:
    result = invoke("run", f"{__name__}:Unnamed")

    assert 1 == result.exit_code
    assert "Error: ConfigurationError: Unnamed has no function_name" in result.output
    assert "Traceback" not in result.output


def test_an_error_in_the_jobs_plan_exits_1_with_that_error_as_it_is() -> None:
    result = invoke("run", f"{__name__}:Unplannable")

    assert 1 == result.exit_code
    assert "Error: ValueError: no table named users\n" == result.output


def test_a_job_that_fails_exits_1_and_names_the_error() -> None:
    result = invoke("run", f"{__name__}:Endless", "--timeout", "0.5")

    assert 1 == result.exit_code
    assert "HopLimitError" in result.stderr


def test_a_job_whose_hops_fail_exits_1_and_says_why() -> None:
    result = invoke("run", f"{__name__}:Broken", "--retry-delay", "0")

    assert 1 == result.exit_code
    assert "shard 0 failed: RuntimeError('the database is down')" in result.stderr
    assert "-dlq (1 message)" in result.stderr


def test_version_names_the_package_version() -> None:
    result = invoke("--version")

    assert 0 == result.exit_code
    assert f"relaystate, version {__version__}" in result.output


def test_help_lists_the_commands() -> None:
    result = invoke("--help")

    assert 0 == result.exit_code
    for command in ("demo", "run"):
        assert command in result.output


def test_an_installed_wheel_carries_the_demos_example() -> None:
    """`relaystate demo` imports relaystate._examples.sql_pages, which only the wheel has."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    extra = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert {"examples/sql_pages.py": "relaystate/_examples/sql_pages.py"} == extra
    assert (root / "examples" / "sql_pages.py").is_file()
    source = (root / "relaystate" / "cli" / "local_run.py").read_text()
    assert '"relaystate._examples.sql_pages"' in source


def test_demo_without_its_example_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from relaystate.cli import local_run

    monkeypatch.setattr(local_run, "_DEMO_EXAMPLE", ("nowhere_a.sql_pages", "nowhere_b.sql_pages"))

    result = CliRunner().invoke(cli, ["demo", "--rows", "10"])

    assert 1 == result.exit_code
    assert "reinstall relaystate, or run from a source checkout" in result.output


def test_demo_does_not_hide_an_import_error_inside_its_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from relaystate.cli import local_run

    package = tmp_path / "demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sql_pages.py").write_text("import demo_pkg.sql  # a module the example needs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(local_run, "_DEMO_EXAMPLE", ("demo_pkg.sql_pages",))

    result = CliRunner().invoke(cli, ["demo", "--rows", "10"])

    assert isinstance(result.exception, ModuleNotFoundError)
    assert "demo_pkg.sql" == result.exception.name


def test_run_reports_a_missing_import_inside_the_module_as_such(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    package = tmp_path / "run_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sql_pages.py").write_text("import run_pkg.sql\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    result = CliRunner().invoke(cli, ["run", "run_pkg.sql_pages:Job"])

    assert 2 == result.exit_code
    assert "importing 'run_pkg.sql_pages' failed" in result.output
    assert "run_pkg.sql" in result.output
