"""Run the benchmarks: ``python -m bench [NAME ...]``; print each table, write bench/results.md.

All of them rewrite the file; named ones replace their own tables in it and keep the others.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

NAMES = [
    "budget",
    "overhead",
    "hop_cpu",
    "fanout",
    "scaling",
    "ledger",
    "ledger_reads",
    "parked",
    "cost",
    "ratelimit",
    "coldstart",
    "coldstart_attrs",
]
RESULTS = Path(__file__).with_name("results.md")


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    heads = list(rows[0])
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(str(row[h]) for h in heads) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {NAMES} (default: all)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {NAMES}")
    sections = [
        "# relaystate benchmarks\n",
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}. Regenerate with `python -m bench`.\n",
    ]
    for name in args.names or NAMES:
        module = importlib.import_module(f"bench.{name}")
        # A module gives one table (TITLE, run) or several (SECTIONS).
        for title, run in getattr(module, "SECTIONS", [(module.TITLE, module.run)]):
            started = time.perf_counter()
            rows = run()
            took = time.perf_counter() - started
            text = f"## {title}\n\n{table(rows)}\n({took:.1f} s)\n"
            print(text, flush=True)
            sections.append(text)
    if args.names and RESULTS.exists():
        text = _merged(RESULTS.read_text(), sections[2:])
    else:
        text = "\n".join(sections)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


#: The line that ends a section's table: how long its run took.
_TOOK = re.compile(r"^\(\d+(?:\.\d+)? s\)$", re.MULTILINE)


def _merged(old: str, fresh: list[str]) -> str:
    """``old`` results with each of the ``fresh`` sections in place of the one of its title
    (a section new to the file goes at its end). What was written by hand after a replaced
    section's table (the notes below its ``(N s)`` line) is kept below the new table.
    """
    head, *kept = old.split("\n## ")
    parts = ["## " + part for part in kept]
    for section in fresh:
        title = section.split("\n", 1)[0]
        at = next((i for i, part in enumerate(parts) if part.split("\n", 1)[0] == title), None)
        if at is None:
            parts.append(section)
            continue
        took = _TOOK.search(parts[at])
        notes = parts[at][took.end() :] if took else ""
        parts[at] = section.rstrip("\n") + notes if notes.strip() else section
    return "\n".join([head, *parts])


if __name__ == "__main__":
    raise SystemExit(main())
