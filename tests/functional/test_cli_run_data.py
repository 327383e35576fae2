"""relaystate run --data @FILE: the job runs on a LocalLambda with the file's JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from relaystate import DONE, RelayJob
from relaystate.cli import cli


class Echo(RelayJob):
    """Counts to data["to"]: its unit count shows the data arrived."""

    function_name = "echo-data-worker"

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        return DONE if cursor >= self.data["to"] else cursor + 1


@pytest.mark.functional
def test_run_takes_its_data_from_a_file(tmp_path: Path) -> None:
    source = tmp_path / "data.json"
    source.write_text('{"to": 3}', encoding="utf-8")

    result = CliRunner().invoke(cli, ["run", f"{__name__}:Echo", "--data", f"@{source}"])

    assert 0 == result.exit_code, result.output
    assert "units" in result.output
    (units,) = [line for line in result.output.splitlines() if "│ units " in line]
    assert "4" == units.split("│")[2].strip()
