"""``diagram``: the RelayJob state machine, drawn by transitions' GraphMachine.

Built from :data:`relaystate.states.TRANSITIONS`, the table the jobs' machines are built from,
so the drawing cannot drift from the code (README shows this command's mermaid output, and a
test keeps the two equal). Mermaid is text and needs nothing else; PNG and SVG need Graphviz:
the ``graphviz`` Python package (``pip install 'relaystate[diagram]'``) and its ``dot``
program (a system package).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
from pathlib import Path
from typing import Any, Literal

import click

from ..states import TRANSITIONS, JobState
from .connect import json_option
from .output import Failure, print_json

__all__ = ["diagram_command", "draw", "graphviz_missing"]

FORMATS = ("mermaid", "svg", "png")


class _Model:
    """A bare model for the drawing machine (a RelayJob would bind its own triggers)."""


def _machine(engine: Literal["mermaid", "graphviz"]) -> Any:
    from transitions.extensions.diagrams import GraphMachine

    return GraphMachine(
        model=_Model(),
        states=[state.value for state in JobState],
        transitions=[
            {"trigger": trigger, "source": [s.value for s in sources], "dest": dest.value}
            for trigger, sources, dest in TRANSITIONS
        ],
        initial=JobState.CREATED.value,
        auto_transitions=False,
        graph_engine=engine,
        title="RelayJob",
    )


def graphviz_missing() -> str:
    """Why PNG/SVG cannot be drawn here (what to install), or ``""`` if they can.

    Example:
        >>> graphviz_missing()  # doctest: +SKIP
        "the graphviz Python package is not installed: pip install 'relaystate[diagram]'"
    """
    if importlib.util.find_spec("graphviz") is None:
        return "the graphviz Python package is not installed: pip install 'relaystate[diagram]'"
    if shutil.which("dot") is None:
        return (
            "Graphviz's dot program is not on the PATH (install Graphviz: apt-get install "
            "graphviz, brew install graphviz, or https://graphviz.org/download/)"
        )
    return ""


def draw(fmt: str = "mermaid") -> str | bytes:
    """The state machine as mermaid text, SVG text or PNG bytes.

    Example:
        >>> print(draw("mermaid"))  # doctest: +SKIP
        ---
        RelayJob
        ---
        stateDiagram-v2
        ...

    Raises:
        click.UsageError: ``svg``/``png`` asked for but Graphviz is missing (the message says
            what to install); an unknown format.
    """
    if fmt not in FORMATS:
        raise click.UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "mermaid":
        machine = _machine("mermaid")
        # A fresh graph: the model's own would mark its current state (created) as active.
        text: str = machine.graph_cls(machine).get_graph(title="RelayJob").draw(None)
        return text
    missing = graphviz_missing()
    if missing:
        raise click.UsageError(
            f"--format {fmt} needs Graphviz: {missing}; or use --format mermaid, which needs "
            "nothing else"
        )
    machine = _machine("graphviz")
    out = io.BytesIO()
    machine.graph_cls(machine).get_graph(title="RelayJob").draw(out, format=fmt, prog="dot")
    data = out.getvalue()
    return data.decode("utf-8") if fmt == "svg" else data


@click.command("diagram")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="mermaid",
    show_default=True,
    help="mermaid (text, needs nothing else), svg or png (need Graphviz).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the drawing to this file instead of stdout (required for png).",
)
@json_option
def diagram_command(fmt: str, output: Path | None, as_json: bool) -> None:
    """Draw the RelayJob state machine: states, and the triggers between them.

    The drawing is made from relaystate.states.TRANSITIONS, the table every job's machine
    is built from. Mermaid renders on GitHub and in most Markdown viewers:

    \b
      relaystate diagram > machine.mmd
      relaystate diagram --format svg -o machine.svg
    """
    if fmt == "png" and output is None:
        raise click.UsageError("png is binary: pass --output FILE (or use --format svg)")
    drawing = draw(fmt)
    if output is not None:
        try:
            if isinstance(drawing, bytes):
                output.write_bytes(drawing)
            else:
                output.write_text(drawing, encoding="utf-8")
        except OSError as exc:
            raise Failure(f"cannot write {output}: {exc.strerror or exc}") from None
    if as_json:
        payload: dict[str, Any] = {"format": fmt}
        if output is not None:
            payload["output"] = str(output)
        elif isinstance(drawing, str):
            payload["text"] = drawing
        print_json(payload)
    elif output is None:
        assert isinstance(drawing, str)
        click.echo(drawing, nl=not drawing.endswith("\n"))
    else:
        click.echo(f"wrote {output}", err=True)
