"""What the commands print: one-line failures, plurals, ages, JSON, tables."""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import RelayError

__all__ = [
    "Failure",
    "age_text",
    "console",
    "fact_table",
    "guarded",
    "iso_time",
    "job_traceback",
    "one_line",
    "plural",
    "print_json",
]


class Failure(click.ClickException):
    """The command could not do its work: one line on stderr, exit status 1.

    Example:
        >>> raise Failure("no relay queue of job 9f2c in us-east-1")  # doctest: +SKIP
    """


def one_line(exc: BaseException) -> str:
    """``TypeName: first line of the message``, for a one-line error.

    Example:
        >>> one_line(ValueError("bad\\nmore"))
        'ValueError: bad'
    """
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def job_traceback(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> str:
    """The error's traceback from the job's own code on, as text.

    relaystate's frames above the job's code (the hop's loop, a local run's unit counter)
    say nothing about the bug; they are left out. All of it is shown when the error was raised
    in relaystate itself (a cursor that is not JSON, the hop cap).

    Example:
        >>> print(job_traceback(type(exc), exc, exc.__traceback__))  # doctest: +SKIP
        Traceback (most recent call last):
          File "count.py", line 9, in step
        ...
    """
    shown = traceback.TracebackException(kind, error, tb)
    frames = list(shown.stack)
    first = next((i for i, f in enumerate(frames) if not _is_ours(f.filename)), None)
    if first:
        shown.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(shown.format()).rstrip()


def _is_ours(filename: str) -> bool:
    return Path(filename).resolve().is_relative_to(_PACKAGE)


_PACKAGE = Path(__file__).resolve().parent.parent


def plural(n: int, noun: str) -> str:
    """``"1 packet"``, ``"2 packets"``, with thousands separators.

    Example:
        >>> plural(1200, "hop")
        '1,200 hops'
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def age_text(seconds: float) -> str:
    """A short, rounded-down age: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``.

    Example:
        >>> age_text(3 * 86400 + 5 * 3600 + 59)
        '3d 5h'
    """
    s = max(int(seconds), 0)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3_600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{s}s"


def iso_time(epoch_s: float) -> str:
    """An epoch time as ISO 8601 UTC, to the second.

    Example:
        >>> iso_time(0)
        '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (``--json``).

    Example:
        >>> print_json({"activity": "idle"})
        {
          "activity": "idle"
        }
    """
    click.echo(json.dumps(value, indent=2))


def console() -> Console:
    """A rich console on stdout that keeps long ids whole when the output is not a terminal.

    Example:
        >>> console().print("[bold]3[/] jobs")  # doctest: +SKIP
    """
    return Console(soft_wrap=False, width=None if _is_tty() else 200)


def fact_table(title: str) -> Table:
    """A table of facts, one a row: the name in bold, then its value; no header.

    Example:
        >>> table = fact_table("job 9f2c")
        >>> table.add_row("state", "running")
        >>> console().print(table)  # doctest: +SKIP
    """
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    return table


def _is_tty() -> bool:
    return sys.stdout.isatty()


@contextlib.contextmanager
def guarded(*, runs_job_code: bool = False) -> Iterator[None]:
    """Turn any error but a click error into :class:`Failure`: one line, exit status 1.

    RelayError messages already say what to do; the type name tells which error it was.
    Any other error is relaystate's bug, and says so, unless the block runs the user's job code.

    Args:
        runs_job_code: the block runs a job class's own code (its constructor, ``plan()``), whose
            errors are the job's: they are shown as they are, not as unexpected.

    Example:
        >>> with guarded():  # doctest: +SKIP
        ...     conn = aws.connect()
    """
    try:
        yield
    except click.ClickException:
        raise
    except RelayError as exc:
        raise Failure(one_line(exc)) from exc
    except Exception as exc:
        unexpected = "" if runs_job_code else " (unexpected; please report it)"
        raise Failure(f"{one_line(exc)}{unexpected}") from exc
