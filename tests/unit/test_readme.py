"""README.md's test command is the one CI runs (.ci/run), word for word."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Run the tests**") :]
    command = re.search(r"```bash\n(.+?)\n```", section, re.DOTALL)
    assert command is not None
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command.group(1).strip() in ci_lines
