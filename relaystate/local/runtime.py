"""LocalLambda: the Lambda service's SQS poller, emulated in process, over a real SQS endpoint."""

from __future__ import annotations

import collections
import contextlib
import heapq
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self, cast

import attrs

from ..aws.dynamodb import DynamoDBLedger
from ..aws.sqs import SqsQueues
from ..errors import ConfigurationError, RelayError
from ..ports import Backend
from . import trace
from .errors import IdleTimeoutError, LocalLambdaClosedError
from .event import queue_region, sqs_event
from .faults import FaultInjector, Faults, InvocationFaults
from .invoke import HandlerRun, Outcome, run_handler
from .poller import QueuePoller
from .registry import Handler, LocalFunction, LocalMapping, MappingRegistry
from .server import LOCAL_REGION, EmbeddedSqs, local_client, sqs_client

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from ..job import RelayJob

__all__ = ["Invocation", "LocalLambda"]

log = logging.getLogger("relaystate.local")


@attrs.frozen
class Invocation:
    """One invocation (or, for ``dropped``, one batch Lambda refused to invoke for).

    Attributes:
        function_name: the function invoked.
        request_id: the invocation's ``aws_request_id``.
        message_ids: the SQS messages of its event, in order.
        duration_ms: wall time until the handler returned (or timed out, or crashed).
        outcome: ``ok``, ``partial``, ``error``, ``timeout``, ``crash`` (an injected crash,
            see :class:`~relaystate.local.Faults`) or ``dropped``.
        error: what went wrong (for ``crash``: where it died), empty for ``ok``.
        failed_message_ids: the messages left in the queue for redelivery.
        mapping_id: the event-source mapping that delivered them.
        chain_depth: how often this chain has invoked the function, this time included.

    Example:
        >>> [(i.outcome, i.chain_depth) for i in lam.invocations]  # doctest: +SKIP
        [('ok', 1), ('ok', 2), ('ok', 3)]
    """

    function_name: str
    request_id: str
    message_ids: tuple[str, ...]
    duration_ms: float
    outcome: Outcome
    error: str = ""
    failed_message_ids: tuple[str, ...] = ()
    mapping_id: str = ""
    chain_depth: int = 1


def _sqs_clients(
    endpoint_url: str, region_name: str, session: boto3.Session, *, count: int
) -> list[SQSClient]:
    """SQS clients on the endpoint with fake credentials, made from one session.

    One session loads botocore's data files once for all of them (a tenth of a second each).
    """
    return [sqs_client(endpoint_url, region_name, session=session) for _ in range(count)]


#: The longest a handled message waits for its delete (see LocalLambda._flush_deletes), unless
#: half its function's timeout since the receive comes sooner.
_DELETE_WAIT_S = 0.2


@attrs.define
class _Copies:
    """The invocations one received batch went to (a duplicate delivery): settled together."""

    left: int
    #: Receipt handles that some copy handled (a dict: ordered, no repeats).
    handled: dict[str, None] = attrs.field(factory=dict)


class _OneAtATime:
    """A boto3 client whose API calls run one at a time (the rest passes through as it is)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name.startswith("_") or not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return call


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
        mapping_transition_s: how long a mapping stays ``Creating``/``Deleting``.
        faults: duplicate deliveries, crashes and throttles to inject
            (:class:`~relaystate.local.Faults`); what was injected is counted in
            :attr:`faults_injected`. A duplicate delivery runs beside the original even when
            ``concurrency`` is reached, as another poller's receive would.

    Example:
        >>> with LocalLambda(timeout_s=2.0) as lam:  # doctest: +SKIP
        ...     lam.deploy(CopyRows)
        ...     CopyRows(data={"table": "users"}, backend=lam.backend).start()
        ...     lam.run_until_idle(timeout_s=120)
        ...     [i.outcome for i in lam.invocations]
        ['ok', 'ok', 'ok']
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
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(
                f"concurrency must be a whole number >= 1, got {concurrency!r}"
            )
        if retry_delay_s is not None and (
            isinstance(retry_delay_s, bool)
            or not isinstance(retry_delay_s, int | float)
            or not 0 <= retry_delay_s <= 43_200
        ):
            raise ConfigurationError(
                "retry_delay_s must be None or seconds 0..43200 (what "
                f"ChangeMessageVisibility accepts), got {retry_delay_s!r}"
            )
        if faults is not None and not isinstance(faults, Faults):
            raise ConfigurationError(
                f"faults must be a relaystate.local.Faults or None, got {faults!r}"
            )
        if poll_interval_s <= 0:
            raise ConfigurationError(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.concurrency = concurrency
        self.region = region_name
        self.retry_delay_s = retry_delay_s
        self.poll_interval_s = poll_interval_s

        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = False
        # (batch number, part) -> invocation: listed in the order batches were received.
        self._invocations: dict[tuple[int, int], Invocation] = {}
        self._batches = 0
        self._aws_calls: collections.Counter[str] = collections.Counter()
        self._poller_calls: collections.Counter[str] = collections.Counter()
        self._running: collections.Counter[str] = collections.Counter()
        # Batches received and not yet settled (handler running, or its messages being
        # deleted): run_until_idle waits for these; the concurrency limit counts only _running.
        self._unsettled = 0
        # queue URL -> [when they must be deleted by, receipt handles of handled messages]:
        # the poll loop deletes them (see _flush_deletes), so a relay's next hop does not wait.
        self._deletes: dict[str, tuple[float, list[str]]] = {}
        self._scopes: set[trace.Scope] = set()
        self._created_queues: dict[str, None] = {}
        # (due, sequence, queue URL, receipt handles): failed messages a fractional
        # retry_delay_s keeps in flight until they are due.
        self._retries: list[tuple[float, int, str, tuple[str, ...]]] = []
        self._retry_seq = 0
        #: The faults this runtime injects (all rates 0 unless ``faults=`` was given).
        self.faults = faults or Faults()
        self._injector = FaultInjector(self.faults)

        with contextlib.ExitStack() as stack:
            if endpoint_url is None:
                server = EmbeddedSqs().start()
                stack.callback(server.stop)
                endpoint_url = server.endpoint_url
            self.endpoint_url: str = endpoint_url
            import boto3

            self._session = boto3.session.Session()
            job_client, poller_client = _sqs_clients(
                endpoint_url, region_name, self._session, count=2
            )
            stack.callback(job_client.close)
            stack.callback(poller_client.close)
            trace.install(job_client, on_call=self._before_sqs_call, on_sent=self._wake.set)
            self._injector.install_sqs(job_client)
            job_client.meta.events.register("after-call.sqs.CreateQueue", self._queue_created)
            self._sqs_client = job_client
            self._poller = QueuePoller(poller_client, on_call=self._count_poller)
            self.mappings = MappingRegistry(
                region=region_name,
                queue_lookup=self._poller.lookup,
                on_call=self._registry_call,
                on_change=self._wake.set,
                transition_s=mapping_transition_s,
            )
            self._ledgers: dict[str, DynamoDBLedger] = {}
            self.backend = Backend(
                queues=SqsQueues(job_client),
                mappings=self.mappings,
                ledgers=self.ledger,
                mapping_wait_s=10.0,
                mapping_poll_s=0.01,
                mapping_poll_max_s=0.1,
            )
            # Duplicate deliveries run beside the originals: room for both. And a batch's
            # settling runs beside the next invocation: room for that.
            workers = 2 * concurrency * (2 if self.faults.duplicate_rate else 1)
            self._executor = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="relaystate-local"
            )
            stack.callback(self._stop_invocations)
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
        with self._lock:
            found = self._ledgers.get(table_name)
            if found is not None:
                return found
            client = local_client("dynamodb", self.endpoint_url, self.region, session=self._session)
            trace.install_alive_check(client, "dynamodb", on_call=self._before_dynamodb_call)
            self._injector.install_dynamodb(client)
            ledger = DynamoDBLedger(table_name, client=cast("DynamoDBClient", _OneAtATime(client)))
            ledger.create_table(wait_s=10.0)
            self._ledgers[table_name] = ledger
            return ledger

    # -- inspection ----------------------------------------------------------------------------

    @property
    def invocations(self) -> list[Invocation]:
        """Every invocation that has ended, in the order their messages were received."""
        with self._lock:
            return [self._invocations[key] for key in sorted(self._invocations)]

    @property
    def aws_calls(self) -> collections.Counter[str]:
        """AWS operations made through :attr:`backend` (by jobs, handlers and you), by name."""
        with self._lock:
            return collections.Counter(self._aws_calls)

    @property
    def faults_injected(self) -> collections.Counter[str]:
        """Faults injected so far: ``duplicate``, ``crash:<point>``, ``throttle``.

        Example:
            >>> lam.faults_injected  # doctest: +SKIP
            Counter({'duplicate': 14, 'throttle': 9, 'crash:unit': 2, 'crash:send': 1})
        """
        return self._injector.injected

    @property
    def poller_calls(self) -> collections.Counter[str]:
        """SQS operations the emulated Lambda service made itself (receive, delete...)."""
        with self._lock:
            return collections.Counter(self._poller_calls)

    def left_over(self) -> list[str]:
        """What still exists of the queues created and mappings made through :attr:`backend`.

        One line each, e.g. ``"queue relay-1f2e (1 message)"`` or
        ``"mapping 5d1c... (Enabled) relay-1f2e -> copy-rows-worker"``; empty when a job
        cleaned up after itself.

        Example:
            >>> assert [] == lam.left_over()  # doctest: +SKIP
        """
        self._check_open()
        found = [
            f"mapping {m.id} ({m.state}) {m.queue_arn.rsplit(':', 1)[-1]} -> {m.function_name}"
            for m in self.mappings.all()
        ]
        with self._lock:
            urls = list(self._created_queues)
        for url in urls:
            backlog = self._poller.backlog(url)
            if backlog is not None:
                held = sum(backlog)
                found.append(f"queue {url.rsplit('/', 1)[-1]} ({held} message{'s' * (held != 1)})")
        return found

    @property
    def sqs(self) -> SQSClient:
        """The SQS client behind :attr:`backend`: calls count in :attr:`aws_calls`, and messages
        sent with it from inside a handler carry the chain's trace header."""
        return self._sqs_client

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
        ``deploy("fn-name", handler)`` serves any ``handler(event, context)``. Deploying a
        name again replaces its code and settings but keeps its recursion setting.

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
        from ..job import RelayJob

        if isinstance(target, type) and issubclass(target, RelayJob):
            if handler is not None:
                raise ConfigurationError(
                    "deploy(JobClass) serves JobClass.handle; pass no handler (or use "
                    "deploy('name', JobClass) to serve it under another name)"
                )
            if not target.function_name:
                raise ConfigurationError(
                    f"{target.__name__} has no function_name to deploy it as; set it on the "
                    "class, or use lam.deploy('name', JobClass)"
                )
            name, served = target.function_name, self._job_handler(target)
        elif isinstance(target, str):
            if handler is None:
                raise ConfigurationError(
                    f"deploy({target!r}) needs a handler: lam.deploy({target!r}, handler) with "
                    "handler(event, context), or a RelayJob subclass"
                )
            if isinstance(handler, type) and issubclass(handler, RelayJob):
                served = self._job_handler(handler)
            else:
                served = handler
            name = target
        else:
            raise ConfigurationError(
                f"deploy() takes a RelayJob subclass or a function name, got {target!r}"
            )
        return self.mappings.deploy(
            name,
            served,
            timeout_s=self.timeout_s if timeout_s is None else timeout_s,
            memory_mb=self.memory_mb if memory_mb is None else memory_mb,
        )

    def _job_handler(self, job: type[RelayJob]) -> Handler:
        def handler(event: dict[str, Any], context: Any) -> object:
            return job.handle(event, context, backend=self.backend)

        handler.__qualname__ = f"{job.__qualname__}.handle"
        return handler

    # -- the poller ----------------------------------------------------------------------------

    def run_until_idle(self, timeout_s: float = 120.0) -> None:
        """Poll, invoke and retry until no mapped queue has work and nothing runs.

        Idle means: no invocation running, and every queue with a ``Creating`` or ``Enabled``
        mapping holds no visible, in-flight or delayed message (SQS's approximate counts,
        exact on moto). A failed message waits out its queue's visibility timeout (or
        ``retry_delay_s``) and is invoked again; SQS moves it to the dead-letter queue after
        ``maxReceiveCount`` receives.

        Raises:
            IdleTimeoutError: still busy after ``timeout_s``; the message says with what.
        """
        self._check_open()
        if timeout_s <= 0:
            raise ConfigurationError(f"timeout_s must be > 0, got {timeout_s!r}")
        deadline = time.monotonic() + timeout_s
        while True:
            self._wake.clear()
            self._release_due_retries()
            self._flush_deletes(overdue_only=True)  # before a receive could see them again
            dispatched = self._dispatch()
            next_delete = self._flush_deletes()
            if not dispatched and self._idle():
                return
            now = time.monotonic()
            if now >= deadline:
                self._flush_deletes(everything=True)
                raise IdleTimeoutError(self._busy_report(timeout_s))
            if not dispatched:
                wake_at = min(now + self.poll_interval_s, deadline, next_delete)
                self._wake.wait(max(0.0, wake_at - now))

    def _dispatch(self) -> bool:
        """Receive from every Enabled mapping that has room; start an invocation per batch."""
        started = False
        for mapping in self.mappings.active():
            function = self.mappings.function(mapping.function_name)
            if function is None:
                continue
            while self._has_room(mapping):
                current = self.mappings.mapping(mapping.id)
                if current is None or current.state != "Enabled":
                    break
                messages = self._poller.receive(mapping.queue_url, mapping.batch_size)
                if not messages:
                    break
                # Draws in delivery order, in this thread: a seed replays the same faults.
                plans = [self._injector.plan() for _ in range(self._injector.copies())]
                copies = _Copies(left=len(plans)) if len(plans) > 1 else None
                for plan in plans:
                    with self._lock:
                        self._running[mapping.id] += 1
                        self._unsettled += 1
                        self._batches += 1
                        batch = self._batches
                    self._executor.submit(
                        self._invoke, batch, mapping, messages, plan, time.monotonic(), copies
                    )
                started = True
        return started

    def _flush_deletes(self, *, overdue_only: bool = False, everything: bool = False) -> float:
        """Delete the messages of finished invocations, by tens (``DeleteMessageBatch``).

        While invocations run, a queue's receipts wait for a batch of 10 -- one call then
        deletes the messages of ten relay hops, and no hop waits for a delete -- but never past
        their deadline: :data:`_DELETE_WAIT_S` after the handler returned, and at most half the
        function's timeout after the receive (the queue's visibility timeout is at least that
        timeout), so a handled message is never received again. Returns the next deadline.
        """
        now = time.monotonic()
        with self._lock:
            running = sum(self._running.values())
            due = {
                url: receipts
                for url, (by, receipts) in self._deletes.items()
                if everything or now >= by or not (overdue_only or (running and len(receipts) < 10))
            }
            for url in due:
                del self._deletes[url]
            next_due = min((by for by, _ in self._deletes.values()), default=float("inf"))
        for queue_url, receipts in due.items():
            self._delete(queue_url, receipts)
        return next_due

    def _delete(self, queue_url: str, receipts: Sequence[str]) -> None:
        try:
            self._poller.delete(queue_url, receipts)
        except RelayError as exc:  # as on AWS: the messages come back after their timeout
            log.warning(
                "relaystate.local: could not delete %d handled message(s) of %s (%s); SQS will "
                "deliver them again after their visibility timeout",
                len(receipts),
                queue_url,
                exc,
            )

    def _release_due_retries(self) -> None:
        """Make visible again the failed messages whose fractional retry delay is over."""
        now = time.monotonic()
        due: list[tuple[str, tuple[str, ...]]] = []
        with self._lock:
            while self._retries and self._retries[0][0] <= now:
                _, _, url, receipts = heapq.heappop(self._retries)
                due.append((url, receipts))
        for url, receipts in due:
            self._poller.retry_later(url, receipts, 0)

    def _has_room(self, mapping: LocalMapping) -> bool:
        with self._lock:
            if sum(self._running.values()) >= self.concurrency:
                return False
            limit = mapping.max_concurrency
            return limit is None or self._running[mapping.id] < limit

    def _idle(self) -> bool:
        with self._lock:
            if self._unsettled or self._deletes:
                return False
        for queue_url in {m.queue_url for m in self.mappings.active()}:
            backlog = self._poller.backlog(queue_url)
            if backlog is not None and any(backlog):
                return False
        return True

    def _busy_report(self, timeout_s: float) -> str:
        with self._lock:
            running = sum(self._running.values())
        queues = []
        for mapping in self.mappings.active():
            backlog = self._poller.backlog(mapping.queue_url)
            if backlog is not None and any(backlog):
                visible, in_flight, delayed = backlog
                queues.append(
                    f"{mapping.queue_arn.rsplit(':', 1)[-1]} ({mapping.function_name}): "
                    f"{visible} visible, {in_flight} in flight, {delayed} delayed"
                )
        failures = [
            i for i in self.invocations if i.outcome in ("error", "timeout", "partial", "crash")
        ]
        last = f" (the last: {failures[-1].error or failures[-1].outcome})" if failures else ""
        return (
            f"LocalLambda was not idle after {timeout_s:g} s: {running} invocation(s) running; "
            f"{'; '.join(queues) or 'no messages waiting'}. {len(failures)} invocation(s) "
            f"failed so far{last}; see lam.invocations. Raise run_until_idle(timeout_s=...), "
            "make sure step() "
            "returns DONE in the end, and note that a failed message waits out its queue's "
            "VisibilityTimeout before it is retried unless LocalLambda(retry_delay_s=...) is set"
        )

    # -- one invocation --------------------------------------------------------------------------

    def _invoke(
        self,
        batch: int,
        mapping: LocalMapping,
        messages: Sequence[dict[str, Any]],
        plan: InvocationFaults | None = None,
        received_at: float | None = None,
        copies: _Copies | None = None,
    ) -> None:
        """The worker side: drop what a stopped loop sends, invoke the rest, settle.

        The batch's concurrency slot is freed as soon as its handler is done, before its
        messages are deleted: on AWS the function's concurrency counts running invocations,
        and the poller's delete does not hold up the next message of a relay.
        """
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._running[mapping.id] -= 1
                if self._running[mapping.id] <= 0:
                    del self._running[mapping.id]
            self._wake.set()

        try:
            function = self.mappings.function(mapping.function_name)
            if function is None:  # pragma: no cover - functions are never removed
                return
            key = trace.function_hash(function.arn)
            keep: list[tuple[dict[str, Any], trace.TraceHeader | None, int]] = []
            drop: list[dict[str, Any]] = []
            depth_dropped = 0
            for message in messages:
                attributes: Mapping[str, str] = message.get("Attributes") or {}
                header = trace.TraceHeader.parse(attributes.get("AWSTraceHeader"))
                depth = (header.count_for(key) if header else 0) + 1
                if depth > trace.MAX_CHAIN_INVOCATIONS and function.recursive_loop != "Allow":
                    drop.append(message)
                    depth_dropped = max(depth_dropped, depth)
                else:
                    keep.append((message, header, depth))
            if drop:
                self._drop((batch, 0), mapping, function, drop, depth_dropped)
            if keep:
                received = time.monotonic() if received_at is None else received_at
                self._run((batch, 1), mapping, function, keep, plan, release, received, copies)
        except Exception:
            log.exception("relaystate.local: the poller failed on a batch of %s", mapping.queue_url)
        finally:
            release()
            with self._lock:
                self._unsettled -= 1
            self._wake.set()

    def _drop(
        self,
        order: tuple[int, int],
        mapping: LocalMapping,
        function: LocalFunction,
        messages: Sequence[dict[str, Any]],
        depth: int,
    ) -> None:
        dlq_url = self._poller.dead_letter(mapping.queue_url, messages)
        where = f"moved to the dead-letter queue {dlq_url}" if dlq_url else "deleted (no DLQ)"
        error = (
            f"recursive loop stopped: {function.name} would be invoked for the {depth}th time "
            f"from one original event (Lambda stops after {trace.MAX_CHAIN_INVOCATIONS}) and "
            f"its recursive-loop setting is {function.recursive_loop!r}; the message was "
            f"{where}. Call allow_recursion({function.name!r}) "
            "(PutFunctionRecursionConfig RecursiveLoop=Allow) if the loop is intended"
        )
        log.warning("relaystate.local: %s", error)
        self._record(
            order,
            Invocation(
                function_name=function.name,
                request_id=str(uuid.uuid4()),
                message_ids=tuple(m["MessageId"] for m in messages),
                duration_ms=0.0,
                outcome="dropped",
                error=error,
                mapping_id=mapping.id,
                chain_depth=depth,
            ),
        )

    def _run(
        self,
        order: tuple[int, int],
        mapping: LocalMapping,
        function: LocalFunction,
        batch: Sequence[tuple[dict[str, Any], trace.TraceHeader | None, int]],
        plan: InvocationFaults | None,
        release: Callable[[], None],
        received_at: float,
        copies: _Copies | None,
    ) -> None:
        messages = [message for message, _, _ in batch]
        # The invocation continues the deepest chain in its batch (relays have batches of 1).
        _, header, depth = max(batch, key=lambda item: item[2])
        key = trace.function_hash(function.arn)
        request_id = str(uuid.uuid4())
        scope = trace.Scope(
            function_name=function.name,
            request_id=request_id,
            header=(header or trace.TraceHeader.new()).with_count(key, depth),
            faults=plan,
        )
        event = sqs_event(messages, mapping.queue_arn, queue_region(mapping.queue_arn, self.region))
        context = self._injector.context_class().start(
            function.name,
            region=self.region,
            timeout_s=function.timeout_s,
            memory_mb=function.memory_mb,
            request_id=request_id,
        )
        ids = [m["MessageId"] for m in messages]
        with self._lock:
            self._scopes.add(scope)
        try:
            run = run_handler(function, event, context, scope, ids)
        finally:
            with self._lock:
                self._scopes.discard(scope)
        self._injector.finished(scope)
        # Visible again at received_at + the queue's visibility timeout (>= the function's).
        self._settle(mapping, messages, run, received_at + function.timeout_s / 2, copies)
        release()
        self._record(
            order,
            Invocation(
                function_name=function.name,
                request_id=request_id,
                message_ids=tuple(ids),
                duration_ms=run.duration_ms,
                outcome=run.outcome,
                error=run.error,
                failed_message_ids=run.failed_ids,
                mapping_id=mapping.id,
                chain_depth=depth,
            ),
        )
        log.debug(
            "relaystate.local: %s request %s: %s in %.1f ms (%d message(s), chain depth %d)",
            function.name,
            request_id,
            run.outcome,
            run.duration_ms,
            len(ids),
            depth,
        )

    def _settle(
        self,
        mapping: LocalMapping,
        messages: Sequence[dict[str, Any]],
        run: HandlerRun,
        delete_by: float,
        copies: _Copies | None = None,
    ) -> None:
        """Have what succeeded deleted; hand the failed messages back (now, or after the delay).

        The deletes go to the poll loop (see :meth:`_flush_deletes`) if they can wait until
        ``delete_by``; else they are made at once. The copies of a duplicate delivery share
        their messages' receipt handles: the last copy to end settles for all of them -- a
        message any copy handled is deleted, and only one that every copy failed comes back.
        """
        failed = set(run.failed_ids)
        done = [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed]
        retry = [m["ReceiptHandle"] for m in messages if m["MessageId"] in failed]
        if copies is not None:
            with self._lock:
                copies.left -= 1
                copies.handled.update(dict.fromkeys(done))
                if copies.left:
                    return
                done = list(copies.handled)
                retry = [r for r in retry if r not in copies.handled]
        if done:
            by = min(time.monotonic() + _DELETE_WAIT_S, delete_by)
            if by <= time.monotonic() + 0.01:
                self._delete(mapping.queue_url, done)
            else:
                with self._lock:
                    due, receipts = self._deletes.get(mapping.queue_url, (by, []))
                    self._deletes[mapping.queue_url] = (min(due, by), [*receipts, *done])
        delay = self.retry_delay_s
        if not retry or delay is None:
            return
        if float(delay).is_integer():
            self._poller.retry_later(mapping.queue_url, retry, int(delay))
            return
        with self._lock:
            self._retry_seq += 1
            heapq.heappush(
                self._retries,
                (time.monotonic() + delay, self._retry_seq, mapping.queue_url, tuple(retry)),
            )

    def _record(self, order: tuple[int, int], invocation: Invocation) -> None:
        with self._lock:
            self._invocations[order] = invocation

    # -- call accounting -------------------------------------------------------------------------

    def _count_aws(self, operation: str) -> None:
        with self._lock:
            self._aws_calls[operation] += 1

    def _queue_created(self, parsed: Mapping[str, Any], **_: Any) -> None:
        url = parsed.get("QueueUrl")
        if isinstance(url, str):
            with self._lock:
                self._created_queues[url] = None

    def _count_poller(self, operation: str) -> None:
        with self._lock:
            self._poller_calls[operation] += 1

    def _registry_call(self, operation: str) -> None:
        trace.check_alive()
        self._injector.before_call(operation)
        self._count_aws(operation)

    def _before_sqs_call(self, operation: str) -> None:
        self._injector.before_call(operation)  # an injected crash: the call is not made
        self._count_aws(operation)
        self._injector.throttle("sqs", operation)  # made, and refused

    def _before_dynamodb_call(self, operation: str) -> None:
        self._injector.before_call(operation)
        self._count_aws(operation)
        self._injector.throttle("dynamodb", operation)

    # -- lifetime --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LocalLambdaClosedError(
                "this LocalLambda is closed; create a new one (or use it as a context manager "
                "and do the work inside the with block)"
            )

    def _stop_invocations(self) -> None:
        # Running invocations end within their timeouts; timed-out handler threads are cut off.
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for scope in self._scopes:
                scope.killed = True
        self._flush_deletes(everything=True)  # what the invocations that just ended handled

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
