"""Run the benchmarks: ``python -m bench [NAME ...]``; print each table, write bench/results.md."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from pathlib import Path
from typing import Any

NAMES = ["budget", "overhead", "fanout", "scaling", "ledger", "cost", "ratelimit", "coldstart"]
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
    RESULTS.write_text("\n".join(sections))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
