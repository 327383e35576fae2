"""Command-line values: --data inline, from @FILE or from stdin; job-class specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from relaystate.cli import cli
from relaystate.cli.params import json_object

#: A module-level value that is not a job class: the spec error names its type.
NOT_A_JOB = 3


@click.command()
@click.option("--data", default="{}", callback=json_object)
def show(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, sort_keys=True))


def data_of(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(show, list(args), input=stdin)


def test_data_inline_is_read_as_json() -> None:
    result = data_of("--data", '{"to": 3}')

    assert 0 == result.exit_code, result.output
    assert '{"to": 3}\n' == result.output


def test_data_at_file_reads_the_file(tmp_path: Path) -> None:
    source = tmp_path / "data.json"
    source.write_text('{"table": "users", "to": 3}', encoding="utf-8")

    result = data_of("--data", f"@{source}")

    assert 0 == result.exit_code, result.output
    assert '{"table": "users", "to": 3}\n' == result.output


def test_data_dash_reads_stdin() -> None:
    result = data_of("--data", "-", stdin='{"to": 5}\n')

    assert 0 == result.exit_code, result.output
    assert '{"to": 5}\n' == result.output


def test_data_at_a_missing_file_says_which_file(tmp_path: Path) -> None:
    result = data_of("--data", f"@{tmp_path / 'nope.json'}")

    assert 2 == result.exit_code
    assert "cannot read" in result.output
    assert "nope.json" in result.output
    assert "Traceback" not in result.output


def test_data_from_a_file_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_text("{oops", encoding="utf-8")

    result = data_of("--data", f"@{source}")

    assert 2 == result.exit_code
    assert f"not valid JSON in {source}" in result.output


def test_data_that_is_not_an_object_names_what_it_is() -> None:
    result = data_of("--data", "-", stdin="[1, 2]")

    assert 2 == result.exit_code
    assert "must be a JSON object ({...}) in stdin, got an array" in result.output


def test_a_spec_naming_a_value_uses_the_right_article() -> None:
    result = CliRunner().invoke(cli, ["run", f"{__name__}:NOT_A_JOB"])

    assert 2 == result.exit_code
    assert f"{__name__}:NOT_A_JOB is an int, not a subclass of relaystate.RelayJob" in (
        result.output.replace("\n", " ")
    )
