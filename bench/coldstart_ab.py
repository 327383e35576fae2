"""Paired A/B of relaystate's cold start between two revisions: ``python -m bench.coldstart_ab
[--base REV] [--rounds N]`` (default: main against the working tree).

Each revision's ``relaystate`` is put in a directory of its own (``git archive``; the working
tree as it is), the children running in it, with it on ``PYTHONPATH``; each sample is a fresh
interpreter timing process CPU, with compiled bytecode, of the statement of a case; the trees
alternate, the order within a round alternating, and the difference is taken pair by pair.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .coldstart import _ENV

_DEPS = "import boto3, attrs, transitions"
CASES = {
    "import": f"{_DEPS}; from relaystate import RelayJob",
    # What a first relay hop of a job without a ledger or an offload imports on AWS.
    "first hop's modules": f"{_DEPS}; from relaystate import RelayJob; import relaystate.aws, "
    "relaystate.hop, relaystate.machine, relaystate.callbacks, relaystate.control_lease, "
    "relaystate.pause",
    "control (no relaystate)": _DEPS,
}
_TIMED = "import time\nstarted = time.process_time()\n{}\nprint(time.process_time() - started)"
_ROOT = Path(__file__).resolve().parent.parent


def _tree(rev: str | None, into: Path) -> Path:
    into.mkdir()
    if rev is None:
        shutil.copytree(_ROOT / "relaystate", into / "relaystate")
    else:
        archive = subprocess.run(
            ["git", "-C", str(_ROOT), "archive", rev, "relaystate"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _cpu_ms(tree: Path, statement: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.format(statement)],
        capture_output=True,
        text=True,
        check=True,
        env=_ENV | {"PYTHONPATH": str(tree)},
        cwd=tree,  # ``-c`` puts the current directory first on sys.path, ahead of PYTHONPATH
    )
    return float(done.stdout) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart_ab", description=__doc__)
    parser.add_argument("--base", default="main", help="the revision to compare against")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        base, ours = _tree(args.base, Path(scratch, "a")), _tree(None, Path(scratch, "b"))
        print(f"| case | {args.base} CPU ms | working tree | difference, pairs: median (IQR) |")
        print("|---|---|---|---|")
        for label, statement in CASES.items():
            for tree in (base, ours):  # writes the bytecode
                _cpu_ms(tree, statement)
            found: dict[Path, list[float]] = {base: [], ours: []}
            for r in range(args.rounds):
                for tree in (base, ours) if r % 2 else (ours, base):
                    found[tree].append(_cpu_ms(tree, statement))
            diff = sorted(o - b for b, o in zip(found[base], found[ours], strict=True))
            quarter = len(diff) // 4
            print(
                f"| {label} | {statistics.median(found[base]):.1f} "
                f"| {statistics.median(found[ours]):.1f} | {statistics.median(diff):+.1f} "
                f"({diff[quarter]:+.1f} to {diff[-1 - quarter]:+.1f}) |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
