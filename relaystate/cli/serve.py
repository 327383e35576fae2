"""``relaystate serve``: a long-lived local AWS endpoint that runs the given jobs' hops.

::

    relaystate serve [MODULE[:JobClass] ...] [--port 4566]

One port of 127.0.0.1 serves SQS, DynamoDB and S3 (moto's server) and the Lambda calls
relaystate makes (answered by a :class:`~relaystate.local.LocalLambda`'s registry, see
:mod:`relaystate.local.lambda_api`); the LocalLambda runs each given job class as its
``function_name`` (``MODULE`` alone: every RelayJob subclass defined in it). A starter script
in any process, run with ``AWS_ENDPOINT_URL`` set, starts jobs there with the default backend,
and the operating commands (``ls``, ``status``, ``resume``, ``cancel``, ``reap``) see them
with ``--endpoint-url``. Each hop is shown as one line. Ctrl-C (or SIGTERM) stops it cleanly:
running hops end, and what is left is listed -- the packets still in its queues saved to
files, with the command that resumes each, since the endpoint keeps everything in memory.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
from rich.console import Console

from ..errors import RelayError
from ..job import RelayJob
from .hoplog import listening
from .inventory import Inventory, JobView
from .output import Failure, guarded, job_traceback, one_line, plural
from .params import concurrency_option, import_module, job_spec, load_job_class, timeout_option
from .parked import save_parked

if TYPE_CHECKING:
    from ..local import LocalLambda

__all__ = ["load_targets", "serve"]

#: The region of the local endpoint's ARNs and the credentials it takes (any would do).
_ENVIRONMENT = "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={region}"


def load_targets(specs: tuple[str, ...]) -> list[type[RelayJob]]:
    """The job classes named by ``MODULE:JobClass`` or ``MODULE`` (every one defined in it).

    Example:
        >>> [c.__name__ for c in load_targets(("examples.fan_out",))]  # doctest: +SKIP
        ['CountPrimes']

    Raises:
        click.BadParameter: a spec names nothing servable, or two classes share a function name.
    """
    found: list[type[RelayJob]] = []
    for spec in specs:
        if ":" in spec:
            job_class = load_job_class(spec)
            if not job_class.function_name:
                raise click.BadParameter(
                    f"{spec} has no function_name to serve it as; set function_name on the class"
                )
            found.append(job_class)
            continue
        module = import_module(spec)
        defined = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, RelayJob)
            and value is not RelayJob
            and value.__module__ == module.__name__
            and value.function_name
        ]
        if not defined:
            raise click.BadParameter(
                f"module {spec!r} defines no RelayJob subclass with a function_name to serve"
            )
        found.extend(defined)
    by_name: dict[str, type[RelayJob]] = {}
    for job_class in found:
        name = str(job_class.function_name)
        other = by_name.setdefault(name, job_class)
        if other is not job_class:
            raise click.BadParameter(
                f"{job_spec(other)} and {job_spec(job_class)} are both served as {name!r}; name "
                "the one to serve with MODULE:JobClass"
            )
    return list(by_name.values())


@click.command()
@click.argument("targets", nargs=-1, metavar="[MODULE[:JobClass] ...]")
@click.option(
    "--port",
    default=4566,
    show_default=True,
    type=click.IntRange(0, 65_535),
    help="The port on 127.0.0.1 (0: a free one, printed).",
)
@timeout_option
@concurrency_option
@click.option(
    "--retry-delay",
    type=click.IntRange(0, 43_200),
    help="Deliver a failed invocation's packet again after this many seconds  [default: when "
    "the queue's visibility timeout ends, as on AWS]",
)
def serve(
    targets: tuple[str, ...],
    port: int,
    timeout: float,
    concurrency: int,
    retry_delay: int | None,
) -> None:
    """Serve a local AWS endpoint that runs the given jobs' hops, until Ctrl-C.

    SQS, DynamoDB and S3 (moto) and the Lambda calls relaystate makes (functions, event-source
    mappings, recursion settings) on one port of 127.0.0.1; each job class is deployed as its
    function_name (MODULE alone: every RelayJob subclass defined in it). Nothing reaches AWS;
    everything is kept in memory and goes when the command stops.

    \b
    In another terminal:
      export AWS_ENDPOINT_URL=http://127.0.0.1:4566
      export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
      python -c 'from count import Count; print(Count(data={"to": 1000}).start().job_id)'
      relaystate ls --endpoint-url http://127.0.0.1:4566

    Ctrl-C (or SIGTERM) lets running hops end, then lists the jobs left; the packets still
    in their queues are saved to files, with the command that resumes each on the next serve.
    """
    from ..local import LocalLambda
    from ..local.endpoint import LocalEndpoint

    jobs = load_targets(targets)
    console = Console(highlight=False, soft_wrap=True)
    try:
        endpoint = LocalEndpoint(port=port).start()
    except OSError as exc:
        raise Failure(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} -- is another relaystate "
            "serve (or LocalStack) running there? Pick another port with --port"
        ) from None
    try:
        with guarded(runs_job_code=True):
            lam = LocalLambda(
                timeout_s=timeout,
                concurrency=concurrency,
                endpoint_url=endpoint.url,
                retry_delay_s=retry_delay,
            )
        with listening(_HopLines(console)):
            try:
                endpoint.serve(lam)
                with guarded(runs_job_code=True):
                    for job_class in jobs:
                        lam.deploy(job_class)
                _banner(console, endpoint.url, lam.region, jobs, timeout)
                with _stop_signals() as stop:
                    _poll(lam, stop)
                console.print("stopping: running hops end first (at most their timeout)")
            finally:
                lam.close()
        _left_over(console, endpoint.url, lam, jobs)
    finally:
        endpoint.stop()


def _poll(lam: LocalLambda, stop: threading.Event) -> None:
    """Poll, invoke and retry until ``stop`` is set, a second at a time."""
    from ..local import IdleTimeoutError

    while not stop.is_set():
        try:
            lam.run_until_idle(timeout_s=1.0)
        except IdleTimeoutError:
            continue  # busy: go on polling
        stop.wait(0.1)  # idle: look again soon (a job may start at any time)


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C or SIGTERM; a second Ctrl-C stops at once."""
    stop = threading.Event()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in saved:
        signal.signal(sig, handle)
    try:
        yield stop
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


class _HopLines(logging.Handler):
    """Each hop record as one line; warnings and errors too; a failed shard's traceback."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        hop = getattr(record, "relaystate_hop", None)
        if isinstance(hop, dict) and "job_id" in hop:
            units = plural(int(hop.get("units", 0)), "unit")
            line = (
                f"{hop.get('job_type')} {str(hop.get('job_id'))[:8]} shard {hop.get('shard')} "
                f"hop {hop.get('hop')}: {hop.get('outcome')}, {units}"
            )
            if hop.get("delay_s"):
                line += f", next in {hop.get('delay_s')} s"
            if hop.get("error"):
                line += f" -- {hop.get('error')}"
        elif record.levelno >= logging.WARNING:
            line = record.getMessage().splitlines()[0].removeprefix("relaystate: ")
            if record.exc_info and record.exc_info[1] is not None:
                line += f" ({one_line(record.exc_info[1])})"
        else:
            return
        style = {logging.WARNING: "yellow", logging.ERROR: "red"}.get(record.levelno, "")
        self.console.print(f"[{style}]{line}[/]" if style else line, markup=bool(style))
        info = record.exc_info
        if record.levelno >= logging.ERROR and info and info[0] is not None and info[1]:
            self.console.print(job_traceback(info[0], info[1], info[2]), markup=False)


def _banner(
    console: Console, url: str, region: str, jobs: list[type[RelayJob]], timeout: float
) -> None:
    console.print(f"relaystate serve: a local AWS endpoint on {url}", markup=False)
    console.print(
        "  SQS, DynamoDB and S3 (moto) and the Lambda API, in memory; nothing reaches AWS"
    )
    for job_class in jobs:
        console.print(
            f"  function {job_class.function_name}: {job_spec(job_class)} (timeout {timeout:g} s)",
            markup=False,
        )
    if not jobs:
        console.print("  no functions: pass MODULE:JobClass to run jobs' hops here")
    console.print("Point boto3, the AWS CLI and relaystate at it (in another terminal):")
    console.print(f"  export AWS_ENDPOINT_URL={url}", markup=False)
    console.print(f"  export {_ENVIRONMENT.format(region=region)}", markup=False)
    console.print(f"  relaystate ls --endpoint-url {url}", markup=False)
    console.print("Ctrl-C stops it; what is left is listed then.")


def _left_over(console: Console, url: str, lam: LocalLambda, jobs: list[type[RelayJob]]) -> None:
    """List the relay jobs still on the endpoint, and save the packets their queues hold.

    The endpoint keeps everything in memory: what a job left goes with it. A packet saved to
    a file can be resumed on the next ``serve`` of the same job class.
    """
    from ..local.server import sqs_client

    sqs = sqs_client(url, lam.region)
    prefixes = sorted({job.queue_prefix for job in jobs} or {RelayJob.queue_prefix})
    found: list[JobView] = []
    with contextlib.suppress(RelayError):  # a listing that fails must not hide the shutdown
        for prefix in prefixes:
            found.extend(Inventory(sqs, lam.mappings, prefix=prefix).jobs())
    if not found:
        console.print("stopped; no relay job was left on the endpoint")
        return
    console.print(f"stopped; left on the endpoint, and gone with it ({plural(len(found), 'job')}):")
    specs = {job.type_name(): job_spec(job) for job in jobs}
    directory = Path(tempfile.mkdtemp(prefix="relaystate-left-"))
    saved = []
    for view in found:
        held = [q for q in view.all if q.held]
        parts = [f"{q.name} ({plural(q.held, 'message')})" for q in held]
        parts += [f"mapping {m.id} ({m.state})" for q in view.queues for m in q.mappings]
        what = ", ".join(parts) or "empty queues"
        console.print(f"  job {view.job_id} ({view.job_type or '?'}, {view.activity}): {what}")
        spec = specs.get(view.job_type, "MODULE:JobClass")
        saved += [(spec, p) for p in save_parked(sqs, [q.url for q in held], directory)]
    if not saved:
        return
    console.print("Their packets, saved; to go on from them, serve the job again and resume:")
    port = urlsplit(url).port
    for spec in sorted({spec for spec, _ in saved}):
        console.print(f"  relaystate serve {spec} --port {port}", markup=False)
    for spec, parked in saved:
        console.print(f"    {parked.what()}", markup=False)
        console.print(
            f"  relaystate resume {parked.path} --job {spec} --endpoint-url {url}", markup=False
        )
