"""relaystate diagram: the machine drawn from relaystate.states.TRANSITIONS (unit tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relaystate.cli import cli, diagram
from relaystate.states import TRANSITIONS, JobState


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["diagram", *args])


def test_mermaid_draws_every_state_and_every_transition() -> None:
    result = invoke()

    assert 0 == result.exit_code, result.output
    assert "stateDiagram-v2" in result.stdout
    for state in JobState:
        assert f'state "{state.value}" as {state.value}' in result.stdout
    edges = [line.strip() for line in result.stdout.splitlines() if "-->" in line]
    for trigger, sources, dest in TRANSITIONS:
        for source in sources:
            (edge,) = [e for e in edges if e.startswith(f"{source.value} --> {dest.value}:")]
            assert trigger in edge.split(": ", 1)[1].split(" | ")
    assert "[*] --> created" in edges


def test_mermaid_marks_no_state_as_the_current_one() -> None:
    result = invoke()

    classes = [line.split()[-1] for line in result.stdout.splitlines() if "Class " in line]
    assert len(JobState) == len(classes)
    assert {"s_default"} == set(classes)


def test_json_carries_the_text() -> None:
    result = invoke("--json")

    assert 0 == result.exit_code, result.output
    found = json.loads(result.stdout)
    assert "mermaid" == found["format"]
    assert found["text"].startswith("---\nRelayJob\n---\nstateDiagram-v2")


def test_output_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "machine.mmd"

    result = invoke("--output", str(target))

    assert 0 == result.exit_code, result.output
    assert "stateDiagram-v2" in target.read_text()


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_svg_and_png_without_graphviz_say_what_to_install(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diagram, "graphviz_missing", lambda: "the graphviz package is missing")

    result = invoke("--format", fmt, "--output", str(tmp_path / f"m.{fmt}"))

    assert 2 == result.exit_code
    assert f"--format {fmt} needs Graphviz: the graphviz package is missing" in result.output
    assert "--format mermaid" in result.output
    assert "Traceback" not in result.output


def test_png_to_stdout_is_refused() -> None:
    result = invoke("--format", "png")

    assert 2 == result.exit_code
    assert "png is binary: pass --output FILE" in result.output


@pytest.mark.skipif(bool(diagram.graphviz_missing()), reason="Graphviz is not installed")
def test_svg_is_drawn_when_graphviz_is_installed() -> None:
    result = invoke("--format", "svg")

    assert 0 == result.exit_code, result.output
    assert "<svg" in result.stdout
    for state in JobState:
        assert state.value in result.stdout


def test_readme_shows_what_the_command_draws() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```mermaid\n") + len("```mermaid\n")
    shown = readme[start : readme.index("```", start)]

    drawn = invoke().stdout

    assert [line.rstrip() for line in drawn.splitlines()] == [
        line.rstrip() for line in shown.splitlines()
    ]


def test_svg_without_the_graphviz_package_names_the_extra_that_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diagram.importlib.util, "find_spec", lambda name: None)

    result = invoke("--format", "svg")

    assert 2 == result.exit_code
    assert "pip install 'relaystate[diagram]'" in result.output


def test_the_diagram_extra_installs_the_graphviz_package() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(requirement.startswith("graphviz") for requirement in extras["diagram"])
