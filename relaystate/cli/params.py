"""Command-line values: job classes by ``MODULE:JobClass``, JSON objects, durations."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..job import RelayJob
from .output import one_line

__all__ = [
    "Duration",
    "concurrency_option",
    "import_module",
    "job_class_and_data",
    "job_class_param",
    "job_spec",
    "json_object",
    "load_job_class",
    "prefix_option",
    "queue_prefix",
    "timeout_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def is_missing(module_name: str, exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` says ``module_name`` itself (or a package above it) does not exist.

    False when the module exists but needs something missing: that error must not be hidden.

    Example:
        >>> is_missing("pkg.sql_pages", ModuleNotFoundError(name="pkg.sql"))
        False
    """
    return exc.name is not None and (
        module_name == exc.name or module_name.startswith(f"{exc.name}.")
    )


def import_module(module_name: str) -> ModuleType:
    """Import ``module_name`` as ``python -m`` would: from the cwd or the installed packages.

    Example:
        >>> import_module("examples.fan_out").__name__  # doctest: +SKIP
        'examples.fan_out'

    Raises:
        click.BadParameter: the module is missing or raised on import; the message says which.
    """
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current directory
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if is_missing(module_name, exc):
            raise click.BadParameter(
                f"no module named {exc.name!r} (looked in the current directory and the "
                "installed packages)"
            ) from None
        raise click.BadParameter(f"importing {module_name!r} failed: {one_line(exc)}") from None
    except Exception as exc:
        raise click.BadParameter(f"importing {module_name!r} failed: {one_line(exc)}") from None


def load_job_class(spec: str) -> type[RelayJob]:
    """The :class:`RelayJob` subclass named by ``MODULE:JobClass``, importable from the cwd.

    Example:
        >>> load_job_class("examples.fan_out:CountPrimes").function_name  # doctest: +SKIP
        'count-primes-worker'

    Raises:
        click.BadParameter: the spec is malformed, the module or class is missing, or the class
            is not a RelayJob subclass; the message says which.
    """
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise click.BadParameter(
            f"expected MODULE:JobClass, e.g. examples.fan_out:CountPrimes; got {spec!r}"
        )
    module = import_module(module_name)
    target = getattr(module, class_name, None)
    if target is None:
        found = ", ".join(_job_classes(module)) or "none"
        raise click.BadParameter(
            f"module {module_name!r} has no {class_name!r}; RelayJob classes in it: {found}"
        )
    if not (inspect.isclass(target) and issubclass(target, RelayJob)) or target is RelayJob:
        name = type(target).__name__
        article = "an" if name[:1].lower() in "aeiou" else "a"
        kind = "RelayJob itself" if target is RelayJob else f"{article} {name}"
        raise click.BadParameter(f"{spec} is {kind}, not a subclass of relaystate.RelayJob")
    return target


def _job_classes(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, RelayJob) and value is not RelayJob
    )


def job_spec(job_class: type[RelayJob]) -> str:
    """``MODULE:JobClass``, as ``run``, ``serve`` and ``resume --job`` take it.

    Example:
        >>> job_spec(RelayJob)
        'relaystate.job:RelayJob'
    """
    return f"{job_class.__module__}:{job_class.__qualname__}"


def job_class_param(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> type[RelayJob] | None:
    """A click callback: ``MODULE:JobClass`` -> the class (``None`` stays ``None``).

    Example:
        >>> @click.option("--job", callback=job_class_param)  # doctest: +SKIP
    """
    return None if value is None else load_job_class(value)


def json_value(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """A click callback: the option's JSON value -- inline, ``@FILE`` or ``-`` (stdin).

    Example:
        >>> json_value(None, None, '[1, 2]')  # type: ignore[arg-type]
        [1, 2]
    """
    if value == "-":
        text, source = sys.stdin.read(), "stdin"
    elif value.startswith("@"):
        path = value[1:]
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(
                f"cannot read {path!r}: {one_line(exc)} (@FILE reads the JSON from FILE)"
            ) from None
        source = path
    else:
        text, source = value, ""
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f" in {source}" if source else ""
        raise click.BadParameter(f"not valid JSON{where}: {exc}") from None


def job_class_and_data(command: F) -> F:
    """Add the ``MODULE:JobClass`` argument and ``--data JSON`` (``run``, ``simulate``).

    Example:
        >>> @click.command()  # doctest: +SKIP
        ... @job_class_and_data
        ... def run(job_class: type[RelayJob], data: dict[str, Any]) -> None: ...
    """
    data = click.option(
        "--data",
        default="{}",
        show_default=True,
        callback=json_object,
        help="The job's data (self.data): a JSON object, @FILE to read it from FILE, or - to read "
        "it from stdin.",
    )
    job_class = click.argument("job_class", metavar="MODULE:JobClass", callback=job_class_param)
    return job_class(data(command))


def json_object(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, Any]:
    """A click callback: the option's JSON object -- inline, ``@FILE`` or ``-`` (stdin).

    Example:
        >>> json_object(None, None, '{"to": 3}')  # type: ignore[arg-type]
        {'to': 3}
    """
    data = json_value(ctx, param, value)
    if not isinstance(data, dict):
        where = "" if value == "-" or not value.startswith("@") else f" in {value[1:]}"
        where = " in stdin" if value == "-" else where
        raise click.BadParameter(f"must be a JSON object ({{...}}){where}, got {_json_kind(data)}")
    return data


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


#: ``--timeout``: the function timeout of the jobs a local command runs (demo, run, serve).
timeout_option = click.option(
    "--timeout",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.5, max=900),
    help="The function timeout in seconds (Lambda's 900 at most): each hop gets this long.",
)

#: ``--concurrency``: how many hops a local command runs at once (run, serve).
concurrency_option = click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Hops that may run at once, over all jobs (the shards of a fan-out run in parallel).",
)


_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,76}")


def queue_prefix(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: a queue-name prefix, ``[A-Za-z0-9_-]``, at most 76 characters.

    Example:
        >>> queue_prefix(None, None, "relay-")  # type: ignore[arg-type]
        'relay-'
    """
    if not _PREFIX.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a queue-name prefix: use up to 76 characters of A-Z, a-z, 0-9, "
            "'-' and '_' (the jobs' queue_prefix, 'relay-' unless you changed it)"
        )
    return value


def prefix_option(help: str) -> Callable[[F], F]:
    """Add ``--prefix`` (the jobs' ``queue_prefix``, checked by :func:`queue_prefix`).

    Its default is :attr:`RelayJob.queue_prefix`, the prefix of jobs that did not change it.

    Example:
        >>> @click.command()  # doctest: +SKIP
        ... @prefix_option("The jobs' queue_prefix.")
        ... def ls(prefix: str) -> None: ...
    """
    return click.option(
        "--prefix",
        default=RelayJob.queue_prefix,
        show_default=True,
        callback=queue_prefix,
        help=help,
    )


_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


if TYPE_CHECKING:
    _FloatType = click.ParamType[float]
else:  # click < 8.4: not generic at run time
    _FloatType = click.ParamType


class Duration(_FloatType):
    """A duration: ``90s``, ``15m``, ``2h``, ``7d``, ``1w``, ``1h30m``, or plain seconds.

    Example:
        >>> Duration().convert("1h30m", None, None)
        5400.0
    """

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                self.fail(
                    f"{value!r} is not a duration: write e.g. 30m, 2h, 7d, 1h30m (s, m, h, d, w) "
                    "or a number of seconds",
                    param,
                    ctx,
                )
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r}: a duration must be a finite number >= 0", param, ctx)
        return seconds
