"""``relaystate simulate``: run a job class under AWS's faults, seed after seed, in memory.

::

    relaystate simulate MODULE:JobClass [--data JSON] [--seeds N] [--seed-start S]
        [--duplicate-rate R] [--crash-rate R] [--throttle-rate R] [--conflict-rate R]
        [--shared-delete-rate R]
        [--ledger NAME | --no-ledger] [--timeout S] [--unit-ms MS]
        [--signal NAME[=JSON]@AT ...] [--pause AT:FOR ...] [--trace] [-v]

Each seed is one run of the job in a simulated AWS (:mod:`relaystate.testing.sim`): SQS,
Lambda and the ledger in memory, on a virtual clock, every choice drawn from the seed. A
progress bar shows the seeds done; then each invariant that some run broke, with the first
seed that breaks it and how to replay that seed; the last line is ``simulate: N seeds,
V violations`` (V counts one per invariant per seed). Exit status 0 only when V is 0.

``--signal`` and ``--pause`` script a user who controls the job from outside
(:mod:`relaystate.testing.sim.control`): each time is a duration after the start (``90s``,
``2h``, ``20d``) or a range ``LOW..HIGH`` from which each run draws its own.

Example:
    >>> main(["simulate", "examples.fan_out:CountPrimes", "--ledger", "t"])  # doctest: +SKIP
    simulate: 100 seeds, 0 violations
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import RelayError
from ..job import RelayJob
from ..testing.sim import SimFaults, SimRun, SimTiming, Simulation, SimulationError
from ..testing.sim.control import SimControl, SimPause, SimSignal, Span
from .output import Failure, guarded, plural
from .params import Duration, job_class_and_data

__all__ = ["simulate"]

F = TypeVar("F", bound=Callable[..., Any])
#: Options a replay line sets itself.
_NOT_REPLAYED = ("seeds", "seed_start", "trace", "verbose")


def _rate(name: str, default: float, help: str) -> Callable[[F], F]:
    return click.option(
        name, default=default, show_default=True, type=click.FloatRange(0.0, 1.0), help=help
    )


@click.command()
@job_class_and_data
@click.option(
    "--seeds",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many seeds to run (one run, in a fresh simulated AWS, each).",
)
@click.option(
    "--seed-start",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="The first seed (replay one seed with --seed-start S --seeds 1).",
)
@_rate("--duplicate-rate", 0.3, "Chance that a received message is delivered once more.")
@_rate("--crash-rate", 0.1, "Chance that an invocation is killed at an AWS call or a unit.")
@_rate("--throttle-rate", 0.05, "Chance that an AWS call of an invocation is throttled.")
@_rate("--conflict-rate", 0.05, "Chance that a ledger transaction meets a concurrent one.")
@_rate(
    "--shared-delete-rate",
    0.5,
    "Chance that deleting a duplicated message deletes its other copies too, one in flight "
    "included (SQS's delete reached the copy's server).",
)
@click.option(
    "--ledger",
    metavar="NAME",
    help="Run with a progress ledger of this table name  [default: the class's ledger]",
)
@click.option("--no-ledger", is_flag=True, help="Run without a ledger, whatever the class says.")
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(1, 900),
    help="The function's timeout in seconds, unless the class sets function_timeout_s.",
)
@click.option(
    "--unit-ms",
    default=100.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="The median time of one unit of work, in (virtual) milliseconds.",
)
@click.option(
    "--signal",
    "signals",
    multiple=True,
    metavar="NAME[=JSON]@AT",
    help="Send the job signal NAME with payload JSON (default null) AT after the start: a "
    "duration (90s, 2h) or a range LOW..HIGH drawn in each run. Repeat it to send more; a "
    "second of one name with another payload is refused (the first stands).",
)
@click.option(
    "--pause",
    "pauses",
    multiple=True,
    metavar="AT:FOR",
    help="Pause the job AT after the start and unpause it FOR later (each a duration or a "
    "range LOW..HIGH, e.g. 0..60s:15d). Repeat it to pause more often.",
)
@click.option("--trace", is_flag=True, help="Print what happened in each run (for one seed).")
@click.option("-v", "--verbose", is_flag=True, help="Print every violation, seed by seed.")
def simulate(
    job_class: type[RelayJob],
    data: dict[str, Any],
    seeds: int,
    seed_start: int,
    duplicate_rate: float,
    crash_rate: float,
    throttle_rate: float,
    conflict_rate: float,
    shared_delete_rate: float,
    ledger: str | None,
    no_ledger: bool,
    timeout: float,
    unit_ms: float,
    signals: tuple[str, ...],
    pauses: tuple[str, ...],
    trace: bool,
    verbose: bool,
) -> None:
    """Run a RelayJob subclass under faults, one simulated AWS per seed, and check each run.

    Nothing leaves this process: SQS, Lambda and the ledger are simulated in memory, on a
    virtual clock (a run of minutes takes milliseconds). Every run is checked: every unit ran,
    no unit of a committed hop ran again, one chain per shard, one teardown, on_done and
    on_failed once per outcome, nothing left but DLQs holding packets -- and for job control
    (--signal, --pause, a step that returns Sleep or WaitFor): no signal lost, a wait or sleep
    woken once and never early, no hop while paused, nothing lost to SQS's retention, at most
    one wake-up per 900 s of sleep. A broken invariant is printed with the seed that replays it.

    \b
    Examples:
      relaystate simulate examples.fan_out:CountPrimes --data '{"n": 20000}' --ledger t
      relaystate simulate jobs:CopyRows --seeds 1000 --crash-rate 0.2
      relaystate simulate jobs:CopyRows --seed-start 17 --seeds 1 --trace
      relaystate simulate examples.approval:Refund --signal 'approved={"by": "ann"}@0..1h'
      relaystate simulate jobs:CopyRows --ledger t --pause 0..60s:1h..3d

    Units run for real, once per call, with the given data: give data that keeps them fast
    (their time is drawn, not measured). Exit status: 0 when no run broke an invariant, 1
    when some did, 2 for bad arguments.
    """
    if ledger is not None and no_ledger:
        raise click.UsageError("give --ledger NAME or --no-ledger, not both")
    chosen: dict[str, Any] = {}
    if ledger is not None or no_ledger:
        chosen["ledger"] = None if no_ledger else ledger
    faults = SimFaults(
        duplicate_rate=duplicate_rate,
        crash_rate=crash_rate,
        throttle_rate=throttle_rate,
        conflict_rate=conflict_rate,
        shared_deletes=shared_delete_rate,
    )
    timing = SimTiming(function_timeout_s=timeout, unit_ms=unit_ms)
    control = SimControl(
        signals=[_signal(text) for text in signals], pauses=[_pause(text) for text in pauses]
    )
    sim = Simulation(job_class, data, faults=faults, timing=timing, control=control, **chosen)
    console = Console(stderr=True)
    first: dict[str, SimRun] = {}
    columns = (
        TextColumn(f"{job_class.__name__}, seeds {seed_start}+"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[violations]} violations"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("", total=seeds, violations=0)
        found = 0

        def each(run: SimRun) -> None:
            nonlocal found
            found += len(run.violations)
            for violation in run.violations:
                first.setdefault(violation.invariant, run)
                if verbose:
                    bar.console.print(str(violation), markup=False, soft_wrap=True)
            if trace:
                bar.console.print(f"seed {run.seed}:", markup=False)
                for line in run.story():
                    bar.console.print(line, markup=False, soft_wrap=True)
            bar.update(task, advance=1, violations=found)

        with guarded(runs_job_code=True):
            try:
                report = sim.run_many(range(seed_start, seed_start + seeds), each=each)
            except SimulationError as exc:
                raise Failure(str(exc)) from exc
    for invariant, violations in report.by_invariant().items():
        run = first[invariant]
        detail = next(v.detail for v in run.violations if v.invariant == invariant)
        click.echo(f"{invariant}: {plural(len(violations), 'seed')}, first seed {run.seed}")
        click.echo(f"  {detail}")
        click.echo(f"  replay: {_replay(run.seed)}")
    click.echo(
        f"{report.seeds_per_s:,.0f} seeds/s; {plural(report.invocations, 'invocation')}, "
        f"{plural(report.units, 'unit')}; faults: {_faults(report.faults)}"
    )
    click.echo(f"simulate: {report.seeds} seeds, {len(report.violations)} violations")
    if report.violations:
        raise SystemExit(1)


def _signal(text: str) -> SimSignal:
    """``NAME[=JSON]@AT`` as a scripted signal.

    Example:
        >>> _signal('approved={"by": "ann"}@10s..1h')
        SimSignal(name='approved', payload=FrozenDict({'by': 'ann'}), at_s=(10.0, 3600.0))
    """
    what, at, when = text.rpartition("@")
    name, _, payload = what.partition("=")
    if not at or not name:
        raise click.BadParameter(f"{text!r}: write NAME[=JSON]@AT", param_hint="--signal")
    try:
        value = json.loads(payload) if payload else None
    except ValueError as exc:
        why = f"{text!r}: the payload is not JSON ({exc})"
        raise click.BadParameter(why, param_hint="--signal") from None
    try:
        return SimSignal(name, value, _span(when, "--signal"))
    except RelayError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint="--signal") from None


def _pause(text: str) -> SimPause:
    """``AT:FOR`` as a scripted pause.

    Example:
        >>> _pause("0..60s:2d")
        SimPause(at_s=(0.0, 60.0), for_s=(172800.0, 172800.0))
    """
    at, colon, length = text.partition(":")
    if not colon:
        raise click.BadParameter(f"{text!r}: write AT:FOR", param_hint="--pause")
    return SimPause(_span(at, "--pause"), _span(length, "--pause"))


def _span(text: str, option: str) -> Span:
    """A duration, or a range ``LOW..HIGH`` of durations."""
    low, dots, high = text.partition("..")
    ends = (low, high) if dots else (low, low)
    try:
        first, last = (Duration().convert(end, None, None) for end in ends)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None
    if first > last:
        raise click.BadParameter(f"{text!r}: a range is LOW..HIGH", param_hint=option)
    return first, last


def _replay(seed: int) -> str:
    """The command line that replays ``seed``: this one's arguments, for that seed alone."""
    ctx = click.get_current_context()
    job_class = ctx.params["job_class"]
    words = ["relaystate", "simulate", f"{job_class.__module__}:{job_class.__qualname__}"]
    for param in ctx.command.params:
        name = param.name
        if not isinstance(param, click.Option) or name in _NOT_REPLAYED or name is None:
            continue
        if ctx.get_parameter_source(name) in (None, ParameterSource.DEFAULT):
            continue
        value = ctx.params[name]
        if param.is_flag:
            words += [param.opts[0]] if value else []
        elif param.multiple:
            words += [word for item in value for word in (param.opts[0], str(item))]
        else:
            words += [param.opts[0], json.dumps(value) if name == "data" else str(value)]
    return shlex.join([*words, "--seed-start", str(seed), "--seeds", "1", "--trace"])


def _faults(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items())) or "none"
