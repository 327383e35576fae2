"""LocalLambda: the Lambda service's SQS poller, emulated in process, over a real SQS endpoint.

This module wires the parts together and hands ``run_until_idle`` to the poll loop; each part is
a module of its own, handed what it calls (none of them imports this one)::

    options.py      the options checked before anything starts
    clients.py      the runtime's SQS clients and ledgers, each hooked for its role
    registry.py     deployed functions and event-source mappings (the mapping port)
    deployment.py   what ``deploy`` serves: a job class's handle, or a handler
    poller.py       the service's own SQS calls: receive, delete, change visibility, DLQ move
    polling.py      the poll loop of ``run_until_idle``, over the four parts below
    dispatch.py     receiving for the mappings that have room; the invocations' threads
    slots.py        concurrency: which invocations run, which received batches are open
    invocation.py   one received batch: the recursion stop, the handler run, its record
    settling.py     deleting what was handled (by tens), handing back what failed
    remaining.py    whether the service is idle, what kept it busy, what a job left over
    accounting.py   the job's AWS calls and the service's own, counted apart
    faults.py       injected duplicate deliveries, crashes and throttles
    trace.py        the invocation's scope, the chain's trace header, the 16-hop stop
    isolation.py    while open: the process's AWS clients sent here, nothing off the machine
    latency.py      AWS's latency on the job's calls (``latency=``)
    consistency.py  AWS's eventual consistency of SQS and the mappings (``consistency=``)
    profiles.py     those two options' profiles by name, and the mapping transitions
    virtual_time.py the virtual clock of ``skip_time=True``, and where it may jump to"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from typing import TYPE_CHECKING, Self

from ..aws import override_default_backend
from ..aws.dynamodb import DynamoDBLedger
from ..aws.s3 import S3Blobs
from ..aws.sqs import SqsQueues
from ..errors import ConfigurationError
from ..ports import Backend
from . import isolation, virtual_time
from .accounting import CallAccounting
from .clients import RuntimeClients
from .consistency import Consistency
from .deployment import what_to_serve
from .errors import LocalLambdaClosedError
from .faults import FaultInjector, Faults
from .invocation import Invocation
from .latency import Latency
from .options import check_options
from .polling import PollLoop
from .profiles import consistency_of, latency_of, mapping_transitions
from .registry import Handler, LocalFunction, MappingRegistry
from .remaining import left_over
from .server import LOCAL_REGION, EmbeddedSqs
from .virtual_time import VirtualClock

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from ..job import RelayJob

__all__ = ["LocalLambda"]


class LocalLambda:
    """Run Lambda functions on this machine, invoked by SQS as an event-source mapping would.

    SQS is real (moto's server on 127.0.0.1, started here, or any SQS endpoint given as
    ``endpoint_url``); the Lambda service is emulated: deployed functions and mappings live in
    :attr:`mappings`, and :meth:`run_until_idle` polls the mapped queues, builds the SQS event and
    a Lambda context, invokes (``concurrency`` at a time, each mapping at most its
    ``MaximumConcurrency``), deletes what succeeded and leaves the rest for redelivery after
    the queue's visibility timeout. A handler that overruns its timeout fails; a chain of
    invocations through SQS is stopped after 16 for a function whose recursion setting is not
    ``Allow``, as on AWS.

    While it is open, every AWS client made in this process -- by relaystate's default
    backend or by a handler's own ``boto3.client("sqs")`` -- reaches its endpoint with fake
    credentials, and a request that would leave the machine is refused
    (:mod:`~relaystate.local.isolation`): ``deploy("name", handler)`` runs the module one
    deploys, unchanged. AWS's latency and eventual consistency are off by default, for speed;
    ``latency="aws"`` and ``consistency="aws"`` turn them on.

    Where this differs from AWS (for speed and because it is one process) the option says so:

    Args:
        timeout_s: default timeout of deployed functions; may have a fraction (AWS: whole
            seconds, default 3).
        memory_mb: default memory size (``context.memory_limit_in_mb``; not enforced).
        concurrency: invocations at once over all functions (AWS: the account's concurrency).
        endpoint_url: an SQS endpoint to use; default: start an embedded moto server.
        region_name: region of the SQS clients and of function ARNs.
        retry_delay_s: after a failed invocation, make its messages visible again after this
            many seconds instead of waiting out the queue's ``VisibilityTimeout`` (``None``,
            as AWS does). Whole seconds are set with ``ChangeMessageVisibility``; a fraction
            (e.g. ``0.2``) is waited out by the poller, which then makes them visible.
        poll_interval_s: pause between receives while nothing happens. Receives are short
            (``WaitTimeSeconds=0``); the poller wakes at once when an invocation ends, a
            mapping is created or a message is sent through :attr:`backend`.
        mapping_transition_s: how long a mapping stays ``Creating``/``Deleting`` (with a
            ``consistency`` profile, give its ``mapping_create_s``/``mapping_delete_s``
            instead).
        faults: duplicate deliveries, crashes and throttles to inject
            (:class:`~relaystate.local.Faults`); what was injected is counted in
            :attr:`faults_injected`. A duplicate delivery runs beside the original even when
            ``concurrency`` is reached, as another poller's receive would.
        latency: AWS's latency on the job's SQS, DynamoDB and Lambda API calls: ``"aws"``
            or a :class:`~relaystate.local.latency.Latency` (figures and sources there);
            ``None``: moto's speed.
        consistency: AWS's eventual consistency: counts that lag, queue deletion that takes
            effect late, ``QueueDeletedRecently``, mapping states that take time; ``"aws"`` or
            a :class:`~relaystate.local.consistency.Consistency`; ``None``: moto's, all at
            once.
        skip_time: run on a virtual clock that jumps ahead when nothing else is due -- no
            invocation running, nothing left to settle, no visible message in a polled queue
            -- to the next delayed or in-flight message (or mapping transition): a job that
            sleeps for a day, or waits hours for a signal that does not come, ends in
            seconds. Jobs read it through ``relaystate.clock`` (``wall()``, ``now_ms()``;
            ``time.time()`` stays real), and so do moto's SQS delays, visibility timeouts
            and timestamps, the contexts' ``deadline_ms`` and :attr:`invocations`'
            ``started_ms``/``ended_ms``; :meth:`now` and :attr:`skipped_s` tell a test. A
            hop's work, its function's timeout and ``run_until_idle``'s ``timeout_s`` stay
            real time. Needs moto in this process (the default endpoint, or an
            ``EmbeddedSqs``/``LocalEndpoint`` of this process) and one such LocalLambda
            at a time (:mod:`~relaystate.local.virtual_time`).

    Raises:
        ConfigurationError: an option AWS (or this runtime) would refuse, or ``skip_time``
            with an endpoint of another process or beside another one.

    Example:
        >>> with LocalLambda(timeout_s=2.0) as lam:  # doctest: +SKIP
        ...     lam.deploy(CopyRows)
        ...     CopyRows(data={"table": "users"}, backend=lam.backend).start()
        ...     lam.run_until_idle(timeout_s=120)
        ...     [i.outcome for i in lam.invocations]
        ['ok', 'ok', 'ok']

        A job that sleeps for a day (``step()`` returns ``Sleep(86_400, ...)``), in seconds:

        >>> with LocalLambda(skip_time=True) as lam:  # doctest: +SKIP
        ...     lam.deploy(NightlyExport)
        ...     NightlyExport(data={"nights": 2, "night_s": 86_400}, backend=lam.backend).start()
        ...     lam.run_until_idle(timeout_s=60)
        ...     round(lam.skipped_s / 3600)
        24
    """

    def __init__(
        self,
        timeout_s: float = 2.0,
        memory_mb: int = 128,
        concurrency: int = 4,
        endpoint_url: str | None = None,
        *,
        region_name: str = LOCAL_REGION,
        retry_delay_s: float | None = None,
        poll_interval_s: float = 0.05,
        mapping_transition_s: float = 0.0,
        faults: Faults | None = None,
        latency: str | Latency | None = None,
        consistency: str | Consistency | None = None,
        skip_time: bool = False,
    ) -> None:
        check_options(
            concurrency=concurrency,
            retry_delay_s=retry_delay_s,
            faults=faults,
            poll_interval_s=poll_interval_s,
            skip_time=skip_time,
        )
        #: Whether the runtime skips time (its clock is virtual).
        self.skip_time = skip_time
        self._virtual = VirtualClock() if skip_time else None
        monotonic = self._virtual.monotonic if self._virtual else time.monotonic
        #: AWS's latency on the job's calls (``None``: none), and its consistency.
        self.latency = latency_of(latency)
        self.consistency = consistency_of(consistency)
        create_s, delete_s = mapping_transitions(mapping_transition_s, self.consistency)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.concurrency = concurrency
        self.region = region_name
        self.retry_delay_s = retry_delay_s
        self.poll_interval_s = poll_interval_s

        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = False
        #: The faults this runtime injects (all rates 0 unless ``faults=`` was given).
        self.faults = faults or Faults()
        self._injector = FaultInjector(self.faults)
        self._accounting = CallAccounting(self._injector)

        with contextlib.ExitStack() as stack:
            if endpoint_url is None:
                server = EmbeddedSqs().start()
                stack.callback(server.stop)
                endpoint_url = server.endpoint_url
            elif skip_time:
                virtual_time.check_in_process(endpoint_url, region_name)
            if self._virtual is not None:
                # Pushed early, so undone last: after the invocations ended (see close()).
                stack.callback(virtual_time.install(self._virtual))
            #: Where the SQS (and DynamoDB, S3) of this runtime are; the embedded server
            #: serves them all on this one endpoint.
            self.endpoint_url: str = endpoint_url
            self._clients = RuntimeClients(
                endpoint_url,
                region_name,
                accounting=self._accounting,
                injector=self._injector,
                on_sent=self._wake.set,
                cleanup=stack,
                latency=self.latency,
                consistency=self.consistency,
                clock=monotonic,
            )
            self._poller = self._clients.poller
            self.mappings = MappingRegistry(
                region=region_name,
                queue_lookup=self._poller.lookup,
                on_call=self._clients.before_lambda_call,
                on_change=self._wake.set,
                transition_s=create_s,
                delete_transition_s=delete_s,
                clock=monotonic,
            )
            self.backend = Backend(
                queues=SqsQueues(self._clients.job_sqs),
                mappings=self.mappings,
                ledgers=self.ledger,
                blobs=self.blobs,
                mapping_wait_s=10.0,
                mapping_poll_s=0.01,
                mapping_poll_max_s=0.1,
            )
            self._loop = PollLoop(
                self.mappings,
                self._poller,
                self._injector,
                region=region_name,
                concurrency=concurrency,
                retry_delay_s=retry_delay_s,
                wake=self._wake,
                consistency=self._clients.sqs_consistency,
                virtual=self._virtual,
            )
            # While open, the process's AWS clients come here and nothing leaves the machine;
            # given back only once the invocations have ended (see close()).
            self._confinement = isolation.confine(endpoint_url, region_name)
            stack.callback(self._confinement.release)
            stack.callback(override_default_backend(self.backend))
            stack.callback(self._loop.stop)
            self._cleanup = stack.pop_all()

    def ledger(self, table_name: str = "relaystate-ledger") -> DynamoDBLedger:
        """A progress ledger in a DynamoDB table of this endpoint, created on first use.

        Jobs name it with ``ledger="<table>"`` (or take the object); their workers here get
        the same one. Its calls count in :attr:`aws_calls`. They are made one at a time:
        moto's server checks a write's condition and then writes, so two concurrent
        conditional writes to one item could both succeed, which DynamoDB never allows and
        the ledger's fencing relies on.

        Example:
            >>> with LocalLambda() as lam:  # doctest: +SKIP
            ...     job = CopyRows(data={}, backend=lam.backend, ledger=lam.ledger().table_name)
        """
        return self._clients.ledger(table_name)

    def blobs(self, bucket: str) -> S3Blobs:
        """The objects of an S3 bucket of this endpoint, the bucket created on first use.

        What the backend's ``blobs`` gives a job that offloads (:class:`~relaystate.S3Offload`):
        its calls count in :attr:`aws_calls` (the bucket's creation does not: on AWS the
        bucket is made beforehand, by whoever deploys), and :meth:`left_over` lists what
        stays in it.

        Example:
            >>> with LocalLambda() as lam:  # doctest: +SKIP
            ...     lam.blobs("my-bucket").put("relaystate/j1/ab12", b"{}")
        """
        return self._clients.blobs(bucket)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def invocations(self) -> list[Invocation]:
        """Every invocation that has ended, in the order their messages were received."""
        return self._loop.invocations

    @property
    def aws_calls(self) -> collections.Counter[str]:
        """AWS operations made through :attr:`backend` (by jobs, handlers and you), by name."""
        return self._accounting.aws_calls

    @property
    def faults_injected(self) -> collections.Counter[str]:
        """Faults injected so far: ``duplicate``, ``crash:<point>``, ``throttle``.

        Example:
            >>> lam.faults_injected  # doctest: +SKIP
            Counter({'duplicate': 14, 'throttle': 9, 'crash:unit': 2, 'crash:send': 1})
        """
        return self._injector.injected

    @property
    def hosts_contacted(self) -> collections.Counter[str]:
        """HTTP requests botocore sent in this process while this LocalLambda was open, by
        ``host:port`` -- every client's, this runtime's own included. A request that would
        have left the machine was refused
        (:class:`~relaystate.local.errors.OffMachineRequestError`) and is counted too.

        Example:
            >>> lam.hosts_contacted  # doctest: +SKIP
            Counter({'127.0.0.1:41517': 212})
        """
        return self._confinement.contacted

    def now(self) -> float:
        """Seconds since the epoch on this runtime's clock: the virtual one with ``skip_time``
        (real time plus :attr:`skipped_s`), else the real one.

        Example:
            >>> with LocalLambda(skip_time=True) as lam:  # doctest: +SKIP
            ...     ...  # a job that sleeps an hour, run until idle
            ...     lam.now() - time.time() >= 3600
            True
        """
        return self._virtual.wall() if self._virtual is not None else time.time()

    @property
    def skipped_s(self) -> float:
        """Seconds the clock has jumped ahead so far (always 0.0 without ``skip_time``)."""
        return self._virtual.skipped_s if self._virtual is not None else 0.0

    @property
    def poller_calls(self) -> collections.Counter[str]:
        """SQS operations the emulated Lambda service made itself (receive, delete...)."""
        return self._accounting.poller_calls

    def left_over(self) -> list[str]:
        """What still exists of the queues created and mappings made through :attr:`backend`,
        and the objects in the buckets it opened (:meth:`blobs`).

        One line each, e.g. ``"queue relay-1f2e (1 message)"``,
        ``"mapping 5d1c... (Enabled) relay-1f2e -> copy-rows-worker"`` or
        ``"object s3://bucket/relaystate/1f2e/9a0c..."``; empty when a job cleaned up after
        itself.

        Example:
            >>> assert [] == lam.left_over()  # doctest: +SKIP
        """
        self._check_open()
        return left_over(
            self.mappings,
            self._poller,
            self._accounting.created_queues,
            self._clients.opened_buckets(),
        )

    @property
    def sqs(self) -> SQSClient:
        """The SQS client behind :attr:`backend`: calls count in :attr:`aws_calls`, and messages
        sent with it from inside a handler carry the chain's trace header."""
        return self._clients.job_sqs

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- functions ---------------------------------------------------------------------------

    def deploy(
        self,
        target: type[RelayJob] | str,
        handler: Handler | type[RelayJob] | None = None,
        *,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
    ) -> LocalFunction:
        """Deploy a function: a job class (served as its ``function_name``) or a named handler.

        ``deploy(CopyRows)`` serves ``CopyRows.handle(event, context, backend=lam.backend)``;
        ``deploy("fn-name", handler)`` serves any ``handler(event, context)`` -- the module
        one deploys, unchanged: the clients it makes, and relaystate's default backend,
        reach this LocalLambda while it is open. Deploying a name again replaces its code
        and settings but keeps its recursion setting.

        Args:
            target: a :class:`~relaystate.RelayJob` subclass, or the function's name (or ARN).
            handler: with a name: the handler, or a job class to serve.
            timeout_s: the function's timeout (default: this LocalLambda's ``timeout_s``).
            memory_mb: the function's memory size (default: this LocalLambda's).

        Returns:
            The deployed :class:`~relaystate.local.registry.LocalFunction`.

        Example:
            >>> lam.deploy("echo", lambda event, context: None, timeout_s=1)  # doctest: +SKIP

        Raises:
            ConfigurationError: no name, no handler, or settings Lambda would refuse.
        """
        self._check_open()
        name, served = what_to_serve(target, handler, backend=self.backend)
        return self.mappings.deploy(
            name,
            served,
            timeout_s=self.timeout_s if timeout_s is None else timeout_s,
            memory_mb=self.memory_mb if memory_mb is None else memory_mb,
        )

    # -- the poller ----------------------------------------------------------------------------

    def run_until_idle(self, timeout_s: float = 120.0) -> None:
        """Poll, invoke and retry until no mapped queue has work and nothing runs.

        Idle means: no invocation running, no mapping still ``Deleting``, and every queue
        with a ``Creating`` or ``Enabled`` mapping holds no visible, in-flight or delayed
        message (counted as the service sees them: exact, whatever the consistency profile
        shows the job). A failed message waits out its queue's visibility timeout (or
        ``retry_delay_s``) and is invoked again; SQS moves it to the dead-letter queue after
        ``maxReceiveCount`` receives. With ``skip_time``, whenever nothing else is due the
        clock jumps to the next delayed or in-flight message instead; ``timeout_s`` is real
        time all the same.

        Raises:
            IdleTimeoutError: still busy after ``timeout_s``; the message says with what.
        """
        self._check_open()
        if timeout_s <= 0:
            raise ConfigurationError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._loop.run_until_idle(timeout_s, poll_interval_s=self.poll_interval_s)

    # -- lifetime --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LocalLambdaClosedError(
                "this LocalLambda is closed; create a new one (or use it as a context manager "
                "and do the work inside the with block)"
            )

    def close(self) -> None:
        """Wait for running invocations, close the clients, stop the embedded server.

        Idempotent; the context manager calls it.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._cleanup.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.mappings)} mapping(s)"
        return f"<LocalLambda {self.endpoint_url} {state}>"
