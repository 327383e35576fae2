"""RelayJob: the state machine, the hop loop, and setup / relay / teardown."""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import attrs
from transitions import EventData

from . import lifecycle
from .budget import AdaptiveBudget, Budget
from .clock import backoff_s
from .errors import (
    ConfigurationError,
    HopBusyError,
    HopLimitError,
    InvalidEventError,
    InvalidPacketError,
    LeaseLostError,
    ServiceUnavailableError,
    ThrottledError,
)
from .frozen import JsonValue, freeze, thaw
from .machine import build_machine
from .names import queue_name_of
from .packet import DEFAULT_MAX_MESSAGE_BYTES, RelayPacket, ShardPackets, Stats
from .ports import Backend, LedgerPort
from .retry import Retry

if TYPE_CHECKING:  # kept off the Lambda path's imports unless a job uses them
    from .ledger import JobStatus
    from .ratelimit import Limiter, RateLimit
    from .signing import PacketSigner
from .states import DONE, JobState

__all__ = ["RelayJob"]

log = logging.getLogger("relaystate")

# Wall clock and sleep for rate limits (hops run in different Lambdas); tests replace them.
_wall: Callable[[], float] = time.time
_sleep: Callable[[float], None] = time.sleep

# Relay-send latencies seen by this process, newest last: a warm Lambda's next hop learns them.
_send_ms_seen: list[float] = []
_SEND_SAMPLES = 20

# Kept for the queue and DLQ deletes of a teardown in a hop (see RelayJob._release), at most
# a quarter of the time left.
_TEARDOWN_RESERVE_S = 1.0
# Tries of a teardown step that AWS throttled (see _persist).
_TEARDOWN_TRIES = 5

# Room kept in the size guard for the queue URLs and mapping id, unknown before setup.
_RESOURCE_ALLOWANCE = 3 * 256


class _either:
    """A method callable on the class (``job`` is None) or on an instance (``job`` is it)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, cls: type[Any]) -> Callable[..., Any]:
        return functools.partial(self.func, cls, obj)


class RelayJob:
    """A long job run as a relay of Lambda hops through a private SQS queue.

    Subclass it: set :attr:`function_name` (the worker Lambda), write :meth:`step` (one unit of
    work: the next cursor, or :data:`~relaystate.DONE`), and optionally :meth:`plan` (the first
    cursor, or a list of cursors to fan out), :meth:`on_done` and :meth:`on_failed`.

    Each class attribute below is a default that the constructor can override by keyword.

    Args:
        data: the job's custom data, a JSON object; ``self.data`` in :meth:`step`, carried
            from hop to hop (changes made to it in a hop travel on).
        backend: where the queues and mappings live (default: real AWS, default session).
        job_id: the job's id (default: a new random one).
        options: a class attribute below, e.g. ``function_name=``, ``max_hops=``; JSON
            values, carried in the packet so that the worker applies them too.

    Example:
        >>> class Count(RelayJob):
        ...     function_name = "count-worker"
        ...     def plan(self):
        ...         return 0
        ...     def step(self, cursor):
        ...         return DONE if cursor >= 9 else cursor + 1
        >>> job = Count(data={"to": 10})
        >>> job.state
        <JobState.CREATED: 'created'>
    """

    #: The worker Lambda's name (or ARN) that the queue's mapping invokes.
    function_name: str | None = None
    #: The name packets carry to find this class on the worker (default: the class's name).
    job_type: ClassVar[str | None] = None
    #: Queue names are ``queue_prefix + job_id`` (the DLQ adds ``-dlq``); ``[A-Za-z0-9_-]``.
    queue_prefix: str = "relay-"
    #: A fixed queue name instead of prefix + job id.
    queue_name: str | None = None
    #: Guard-rail: a job that has not finished after this many hops fails instead of relaying.
    max_hops: int = 10_000
    #: Deliveries of one packet before SQS moves it to the DLQ.
    max_receive_count: int = 5
    #: The mapping's ``ScalingConfig.MaximumConcurrency`` (2..1000), or ``None``.
    max_concurrency: int | None = None
    #: The worker's timeout; ``None`` looks it up with ``GetFunctionConfiguration``.
    function_timeout_s: int | None = None
    #: The queue's ``MaximumMessageSize``; packets above it are refused before any AWS call.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: Call ``PutFunctionRecursionConfig(RecursiveLoop="Allow")`` at setup (else AWS stops the
    #: relay after 16 hops).
    allow_recursion: bool = True
    #: A hop's length when :meth:`handle` gets no Lambda context.
    hop_time_s: float = 60.0
    #: Makes the budget that decides, unit by unit, whether a hop may go on: called with the
    #: previous hop's ``timing`` state (a class, or a ``functools.partial``; set it on the class).
    budget: Callable[[Mapping[str, Any] | None], Budget] = AdaptiveBudget
    #: The progress ledger (exactly-once hops, fan-out join): a DynamoDB table name, or a
    #: :class:`~relaystate.ledger.DynamoDBLedger`; ``None`` runs without one (see README).
    ledger: str | LedgerPort | None = None
    #: With a ledger, a hop's lease lasts this long beyond its Lambda's remaining time (room for
    #: clock skew between Lambda hosts and DynamoDB) before another invocation may take over.
    lease_margin_s: float = 30.0
    #: Where hop records go: a ``logging.Logger`` or a Powertools ``Logger`` (default: the
    #: ``relaystate`` logger).
    logger: ClassVar[Any] = None
    #: Print one CloudWatch embedded-metric-format line per hop (Hops, Units, Utilization,
    #: Retries by JobType) to stdout, where Lambda turns it into metrics.
    metrics: ClassVar[bool] = False
    #: Sign every packet and run only validly signed ones (see :mod:`relaystate.signing`).
    signer: ClassVar[PacketSigner | None] = None
    #: What a hop does when a unit raises (see :class:`~relaystate.retry.Retry`).
    retry: ClassVar[Retry] = Retry()
    #: Limits on the unit rate (one unit = one call of a limited API) that hold across hops.
    rate_limit: ClassVar[RateLimit | None] = None
    #: The backend; ``None`` means real AWS through the default boto3 session.
    backend: Backend | None = None

    _OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "function_name",
            "queue_prefix",
            "queue_name",
            "max_hops",
            "max_receive_count",
            "max_concurrency",
            "function_timeout_s",
            "max_message_bytes",
            "allow_recursion",
            "hop_time_s",
            "ledger",
            "lease_margin_s",
        }
    )
    _registry: ClassVar[dict[str, type[RelayJob]]] = {}

    #: The job's state, kept by the machine.
    state: JobState

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        RelayJob._registry[cls.type_name()] = cls

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        backend: Backend | None = None,
        job_id: str | None = None,
        **options: Any,
    ) -> None:
        if options.get("ledger") is not None and not isinstance(options["ledger"], str):
            self.ledger = options.pop("ledger")  # an object: the worker must be given it too
        unknown = set(options) - self._OPTIONS
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) {sorted(unknown)}; known: {sorted(self._OPTIONS)}"
            )
        #: Options that travel in the packet, so the worker applies them too.
        self.options: dict[str, Any] = thaw(freeze(options, "options"))
        for name, value in options.items():
            setattr(self, name, value)
        if backend is not None:
            self.backend = backend
        self.job_id = job_id or uuid.uuid4().hex
        self.data: dict[str, Any] = thaw(freeze(data or {}, "data"))
        self.cursor: JsonValue = None
        self.stats = Stats()
        #: The latest snapshot (shard 0's after a fan-out start); ``None`` before ``start()``.
        self.packet: RelayPacket | None = None
        #: Every shard's first packet after ``start()`` (made on access: a fan-out of 100,000
        #: shards keeps only its cursors).
        self.packets: Sequence[RelayPacket] = ()
        self._resume_from: RelayPacket | None = None
        self._budget: Budget | None = None
        self._limiter: Limiter | None = None
        self._owner = ""
        self._lease_ms: int | None = None
        # The running hop's time left (ms), for a teardown that must end inside the Lambda.
        self._remaining: Callable[[], float] | None = None
        self._retries_at_start = 0
        self._attach_machine(JobState.CREATED)

    # -- the subclass contract ---------------------------------------------------------------

    def plan(self) -> Any:
        """The first cursor, or a list (or iterator) of first cursors, one shard each.

        The default starts one shard at cursor ``None``. To start one shard whose cursor is a
        list, return ``[that_list]``.
        """
        return None

    def step(self, cursor: Any) -> Any:
        """Do one unit of work from ``cursor``; return the next cursor, or ``DONE``.

        A unit should take well under the function timeout: the hop stops between units. If it
        raises, the hop's packet goes back to the queue unchanged and is delivered again later
        (to the DLQ after ``max_receive_count`` deliveries), so units of that hop run again.
        """
        raise NotImplementedError(f"{type(self).__name__} must define step(self, cursor)")

    def on_done(self) -> None:
        """Called when a shard's ``step`` returned ``DONE`` (after a single shard's teardown)."""

    def on_failed(self, error: BaseException | None) -> None:
        """Called when the job failed (hop cap reached, or :meth:`fail` called)."""

    # -- triggers (the machine binds these; see relaystate.states.TRANSITIONS) ---------------

    def enqueue(self) -> bool:
        """created -> queued: create queue, DLQ and mapping, send the first packet(s)."""
        raise _unbound()

    def begin_hop(self) -> bool:
        """queued | relaying -> running: a worker rebuilt the job from its packet."""
        raise _unbound()

    def relay(self, *, delay_seconds: int = 0, attempt: int = 0) -> bool:
        """running -> relaying: send the checkpoint (hop + 1) to the queue.

        ``attempt`` counts the hops in a row that ended in a unit error (see :class:`Retry`).
        """
        raise _unbound()

    def finish(self) -> bool:
        """running -> torn_down: ``step`` returned DONE; release the job's resources."""
        raise _unbound()

    def tear_down(self) -> bool:
        """Release mapping, queue and (empty) DLQ; idempotent; also on a rebuilt job."""
        raise _unbound()

    def fail(self, *, error: BaseException | None = None) -> bool:
        """queued | running | relaying -> failed: park the packet in the DLQ, call on_failed."""
        raise _unbound()

    # -- public API ---------------------------------------------------------------------------

    @_either
    def status(
        cls: type[RelayJob],
        job: RelayJob | None,
        job_id: str | None = None,
        *,
        ledger: str | LedgerPort | None = None,
        backend: Backend | None = None,
    ) -> JobStatus | None:
        """The job's state and, per shard, hop, status, stats and cursor -- from the ledger.

        Call it on a job (``job.status()``) or on the class with an id
        (``CopyRows.status(job_id, ledger="relaystate-ledger")``). ``None``: the ledger does
        not know the job.

        Raises:
            ConfigurationError: no ledger is configured or given.
        """
        probe = job if job is not None else cls.__new__(cls)
        if job is None:
            probe.backend = backend or cls.backend
            probe.ledger = ledger if ledger is not None else cls.ledger
        elif ledger is not None:
            probe.ledger = ledger
        found = probe._ledger()
        if found is None:
            raise ConfigurationError(
                "status() reads the progress ledger: give the job a ledger (ledger=...)"
            )
        the_id = job_id or (job.job_id if job is not None else "")
        if not the_id:
            raise ConfigurationError("status() on the class needs the job id")
        return found.status(the_id)

    @classmethod
    def type_name(cls) -> str:
        """The job type packets carry: :attr:`job_type`, or the class's qualified name."""
        return cls.job_type or cls.__qualname__

    def start(self) -> Self:
        """Set up the job's queue, DLQ and mapping and send the first packet(s): QUEUED.

        A start that fails half-way deletes what it created and re-raises; the job stays
        CREATED.
        """
        self.enqueue()
        return self

    @classmethod
    def from_packet(
        cls,
        packet: RelayPacket | Mapping[str, Any] | str | bytes,
        *,
        backend: Backend | None = None,
    ) -> Self:
        """The job as its packet left it (state included), to inspect or tear down.

        A packet given as JSON text or a mapping (read from a queue) must carry a valid
        signature when the job's class signs (:attr:`signer`).

        Raises:
            InvalidPacketError: the packet is malformed or belongs to another job type.
            InvalidSignatureError: the class signs and the packet's signature is missing or bad.
        """
        packet = cls._checked(packet)
        target = cls._class_for(packet)
        job = target.__new__(target)
        job._rebuild(packet, backend)
        if not isinstance(job, cls):  # pragma: no cover - _class_for guarantees it
            raise InvalidPacketError("job type mismatch", field="job_type")
        return job

    @classmethod
    def resume(
        cls,
        packet: RelayPacket | Mapping[str, Any] | str | bytes,
        *,
        backend: Backend | None = None,
    ) -> Self:
        """Go on from a checkpoint: re-create queue and mapping if gone, send the packet again.

        Works on a packet read from a DLQ, saved from ``job.packet``, or given as its JSON text.

        Example:
            >>> job = CopyRows.resume(dead_letter_body)  # doctest: +SKIP
            >>> job.state  # doctest: +SKIP
            <JobState.QUEUED: 'queued'>
        """
        packet = cls._checked(packet)
        if packet.state is JobState.TORN_DOWN:
            raise ConfigurationError(
                f"job {packet.job_id} shard {packet.shard} is finished (torn_down); "
                "there is nothing to resume"
            )
        job = cls.from_packet(packet, backend=backend)
        job._resume_from = packet
        job._attach_machine(JobState.CREATED)
        job.enqueue()
        return job

    @classmethod
    def handle(
        cls, event: Mapping[str, Any], context: Any = None, *, backend: Backend | None = None
    ) -> dict[str, list[dict[str, str]]]:
        """The worker Lambda's handler: run one hop for every record of the SQS event.

        Each record is resumed from its packet (RUNNING), works while time lasts, then relays
        (RELAYING) or, when ``step`` returns DONE, tears down (TORN_DOWN). A record whose hop
        raised, or that is not a packet of this job type, is reported in ``batchItemFailures``
        so that SQS delivers it again (and moves it to the DLQ in the end); the others are
        deleted.

        Example:
            >>> def handler(event, context):  # doctest: +SKIP
            ...     return CopyRows.handle(event, context)

        Raises:
            InvalidEventError: the event is not an SQS event (no ``Records`` list).
        """
        failures: list[dict[str, str]] = []
        for record in _records(event):
            message_id = record.get("messageId")
            try:
                if not isinstance(message_id, str):
                    raise InvalidEventError("an SQS record without a messageId")
                body = record.get("body")
                if not isinstance(body, str):
                    raise InvalidPacketError("the SQS record has no body text", field="body")
                job = cls._from_body(body, backend, record.get("eventSourceARN"))
                job._run_hop(context, _receive_count(record))
            except (HopBusyError, LeaseLostError) as exc:
                log.info("relaystate: message %s: %s", message_id, exc)
                if isinstance(message_id, str):
                    failures.append({"itemIdentifier": message_id})
            except Exception as exc:
                log.exception(
                    "relaystate: hop for message %s failed; it will be delivered again",
                    message_id,
                    extra={
                        "relaystate_hop": {
                            "message_id": message_id,
                            "outcome": "error",
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    },
                )
                if isinstance(message_id, str):
                    failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}

    # -- the hop ---------------------------------------------------------------------------------

    def _run_hop(self, context: Any, receive_count: int = 1) -> None:
        assert self.packet is not None
        remaining = self._remaining = _remaining_ms(context, self.hop_time_s)
        if not self._claim(context, remaining()):
            return
        self.begin_hop()
        self._retries_at_start = self.stats.retries
        budget = self._budget = self.budget(thaw(self.packet.timing) or None)
        if _send_ms_seen:
            budget.record_send(max(_send_ms_seen))
        budget.start(remaining())
        limiter = self._limiter = (
            self.rate_limit.limiter(thaw(self.packet.rate) or None, self.packet.shards)
            if self.rate_limit
            else None
        )
        cursor = self.packet.cursor
        units = 0
        work_ms = 0.0
        done = False
        delay = 0
        unit_error: Exception | None = None
        while units == 0 or budget.should_continue(remaining()):
            if limiter is not None:
                wait = limiter.wait_s(_wall())
                if wait > limiter.limit.max_wait_s:
                    delay = limiter.delay_for(wait)  # cheaper in the queue than in a Lambda
                    break
                if wait > 0:
                    if units and not budget.should_continue(remaining() - wait * 1000.0):
                        break
                    _sleep(wait)
                limiter.take(_wall())
            before = remaining()
            try:
                result = self._step_with_retries(cursor, budget, remaining)
            except Exception as exc:
                unit_error = exc
                break
            elapsed = max(before - remaining(), 0.0)
            budget.record_unit(elapsed)
            units += 1
            work_ms += elapsed
            if result is DONE:
                done = True
                break
            cursor = freeze(result, "cursor")
        old = self.stats  # the packet's, plus the retries made in this hop
        self.cursor = cursor
        self.stats = attrs.evolve(
            old,
            hops=old.hops + 1,
            units=old.units + units,
            work_ms=old.work_ms + round(work_ms),
            retries=old.retries + max(receive_count - 1, 0),
        )
        hop = self.packet.hop
        error: Exception | None = None
        if unit_error is not None:
            failed_hops = self.packet.attempt
            error = unit_error
            if failed_hops < self.retry.hop_retries:
                delay = self.retry.hop_delay(failed_hops)
                self.stats = attrs.evolve(self.stats, retries=self.stats.retries + 1)
                self.relay(delay_seconds=delay, attempt=failed_hops + 1)
                outcome = "retrying"
            else:
                self.fail(error=unit_error)
                outcome = "failed"
        elif done:
            self.finish()
            outcome = "finished"
        elif hop + 1 >= self.max_hops:
            error = HopLimitError(
                f"job {self.job_id} reached max_hops={self.max_hops} without finishing; "
                "raise max_hops if the job really needs more hops, or make units bigger"
            )
            self.fail(error=error)
            outcome = "failed"
        else:
            self.relay(delay_seconds=delay)
            outcome = "relayed"
        left = remaining()
        self._log_hop(
            hop=hop,
            outcome=outcome,
            units=units,
            work_ms=round(work_ms),
            remaining_ms=round(left),
            utilization=round(work_ms / max(work_ms + left, 1.0), 4),
            delay_s=delay,
            error=repr(error) if error else "",
        )

    def _step_with_retries(
        self, cursor: Any, budget: Budget, remaining: Callable[[], float]
    ) -> Any:
        """``step(cursor)``, tried again after a jittered pause while the policy and time allow."""
        tries = 0
        while True:
            try:
                return self.step(cursor)
            except Exception:
                tries += 1
                if tries >= self.retry.attempts:
                    raise
                pause = self.retry.pause_s(tries)
                if not budget.should_continue(remaining() - pause * 1000.0):
                    raise
                self.stats = attrs.evolve(self.stats, retries=self.stats.retries + 1)
                _sleep(pause)

    def _log_hop(self, **fields: Any) -> None:
        """One structured line per hop: JSON text, and the same dict as ``record.relaystate_hop``.

        Example of a line: ``relaystate hop {"job_id": "9f...", "shard": 0, "hop": 3,
        "outcome": "relayed", "units": 120, ...}``.
        """
        assert self.packet is not None
        record = {
            "job_id": self.job_id,
            "job_type": self.type_name(),
            "shard": self.packet.shard,
            "state": self.state.value,
            **fields,
        }
        level = logging.ERROR if fields.get("outcome") == "failed" else logging.INFO
        logger = self.logger if self.logger is not None else log
        if logger.isEnabledFor(level):
            text = json.dumps(record)
            logger.log(level, "relaystate hop %s", text, extra={"relaystate_hop": record})
        if self.metrics:
            from .metrics import emf_line

            retries = self.stats.retries - self._retries_at_start
            print(emf_line(record, retries=max(retries, 0)), flush=True)

    def _claim(self, context: Any, remaining_ms: float) -> bool:
        """With a ledger, claim this hop; False when the delivery is dealt with without a hop."""
        ledger = self._ledger()
        if ledger is None:
            return True
        assert self.packet is not None
        packet = self.packet
        self._owner = str(getattr(context, "aws_request_id", "") or uuid.uuid4().hex)
        # The lease outlives the Lambda's own timeout: a holder past it is surely dead.
        margin_ms = int(self.lease_margin_s * 1000)
        lease_ms = self._lease_ms = int(max(remaining_ms, 0)) + margin_ms
        claim = ledger.claim(packet.job_id, packet.shard, packet.hop, self._owner, lease_ms)
        if claim.outcome == "run":
            return True
        if claim.outcome == "busy":
            raise HopBusyError(
                f"hop {packet.hop} of job {packet.job_id} shard {packet.shard} is running in "
                "another invocation (a duplicate delivery); left for redelivery"
            )
        if claim.outcome == "resend":
            # The hop checkpointed, then died before (or while) sending its next packet.
            if claim.outbox:
                self._backend().queues.send(packet.queue_url, claim.outbox, claim.delay_seconds)
            log.info("relaystate: re-sent the next packet of %s", _where(packet))
        elif claim.outcome == "teardown":
            if not self._ledger_teardown(ledger):
                # Another invocation holds the teardown; if it dies, this delivery takes over.
                raise HopBusyError(f"the teardown of job {packet.job_id} runs elsewhere")
        else:
            log.info("relaystate: duplicate delivery of %s acknowledged", _where(packet))
        return False

    def _ledger(self) -> LedgerPort | None:
        if self.ledger is None or not isinstance(self.ledger, str):
            return self.ledger
        backend = self._backend()
        if backend.ledgers is None:
            raise ConfigurationError(
                f"ledger={self.ledger!r} but this backend has no ledgers; give the job a "
                "DynamoDBLedger object instead"
            )
        made: LedgerPort = backend.ledgers(self.ledger)
        self.ledger = made
        return made

    def _ledger_teardown(self, ledger: LedgerPort, *, parked: bool = False) -> bool:
        """The join: the shard that ends last releases the job's resources, exactly once.

        The teardown is claimed for this invocation under its lease, so that a duplicate
        delivery cannot run a second one beside it and a redelivery takes over when it died.
        False: another invocation holds it.
        """
        assert self.packet is not None
        packet = self.packet
        if not ledger.claim_teardown(packet.job_id, self._owner, self._lease_ms):
            return False
        self._release(packet, parked=parked)
        _persist(lambda: ledger.mark_torn_down(packet.job_id))
        log.info(
            "relaystate: job %s torn down by shard %d hop %d",
            packet.job_id,
            packet.shard,
            packet.hop,
        )
        return True

    # -- transition callbacks ----------------------------------------------------------------

    def _on_enqueue(self, event: EventData) -> None:
        backend = self._backend()
        if self._resume_from is not None:
            self._requeue(backend, self._resume_from)
            return
        if not self.function_name:
            raise ConfigurationError(
                f"{type(self).__name__} has no function_name: set it on the class or pass "
                "function_name= (the worker Lambda that runs the hops)"
            )
        cursors = _shards(self.plan())
        if not cursors:
            raise ConfigurationError(
                f"{type(self).__name__}.plan() returned no cursors: nothing to start"
            )
        template = RelayPacket(
            job_id=self.job_id,
            job_type=self.type_name(),
            function_name=self.function_name,
            shards=len(cursors),
            data=self.data,
            options={k: v for k, v in self.options.items() if k != "function_name"},
        )
        # The size guard, for every shard, before any AWS call.
        _check_sizes(template, cursors, self.max_message_bytes - _RESOURCE_ALLOWANCE)
        spec = self._spec(
            backend, lifecycle.queue_name_for(self.queue_prefix, self.job_id, self.queue_name)
        )
        ledger = self._ledger()
        with lifecycle.provision(backend, spec) as res:
            if ledger is not None:
                ledger.open_job(
                    self.job_id,
                    shards=len(cursors),
                    job_type=self.type_name(),
                    function_name=self.function_name,
                )
            template = template.evolve(
                queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id
            )
            packets = ShardPackets(template, cursors)
            lifecycle.send_packets(
                backend,
                res.queue_url,
                packets,
                max_message_bytes=self.max_message_bytes,
                signer=self.signer,
            )
        self.packets = packets
        self.packet = packets[0]
        self.cursor = self.packet.cursor

    def _requeue(self, backend: Backend, packet: RelayPacket) -> None:
        name = lifecycle.queue_name_for(
            self.queue_prefix, f"{self.job_id}-{secrets.token_hex(3)}", None
        )
        res = lifecycle.ensure(backend, packet, self._spec(backend, name))
        ledger = self._ledger()
        if ledger is not None:
            ledger.open_job(
                packet.job_id,
                shards=packet.shards,
                job_type=packet.job_type,
                function_name=packet.function_name,
            )
            if packet.state is JobState.FAILED:
                ledger.reopen(packet.job_id, packet.shard)
        fresh = packet.evolve(
            queue_url=res.queue_url,
            dlq_url=res.dlq_url,
            mapping_id=res.mapping_id,
            state=JobState.QUEUED,
            error="",
        )
        lifecycle.send_packets(
            backend,
            fresh.queue_url,
            [fresh],
            max_message_bytes=self.max_message_bytes,
            signer=self.signer,
        )
        self.packet = fresh
        self.packets = (fresh,)
        self._resume_from = None

    def _spec(self, backend: Backend, queue_name: str) -> lifecycle.QueueSpec:
        assert self.function_name
        if not self.allow_recursion and self.max_hops > 16:  # Lambda's count, 16 invocations
            log.warning(
                "relaystate: %s has allow_recursion=False: Lambda will stop the relay after 16 "
                "invocations and move its packet to the DLQ (resume it from there)",
                type(self).__name__,
            )
        timeout = self.function_timeout_s
        if timeout is None:
            timeout = backend.mappings.function_timeout_s(self.function_name)
        return lifecycle.QueueSpec(
            job_id=self.job_id,
            job_type=self.type_name(),
            function_name=self.function_name,
            queue_name=queue_name,
            visibility_timeout_s=lifecycle.visibility_for(timeout),
            max_receive_count=self.max_receive_count,
            max_concurrency=self.max_concurrency,
            allow_recursion=self.allow_recursion,
            max_message_bytes=self.max_message_bytes,
        )

    def _on_relay(self, event: EventData) -> None:
        assert self.packet is not None
        delay = lifecycle.check_delay(event.kwargs.get("delay_seconds", 0))
        stats = attrs.evolve(self.stats, relays=self.stats.relays + 1)
        nxt = self._snapshot(
            JobState.RELAYING,
            hop=self.packet.hop + 1,
            stats=stats,
            attempt=event.kwargs.get("attempt", 0),
        )
        ledger = self._ledger()
        if ledger is not None:
            # The outbox: the next packet is recorded before it is sent, so a crash between
            # the two is repaired by the redelivered hop instead of losing the chain.
            ledger.checkpoint(
                nxt.job_id,
                nxt.shard,
                self.packet.hop,
                self._owner,
                outbox=nxt.check_size(self.max_message_bytes, self.signer),
                stats=stats.to_dict(),
                cursor_json=json.dumps(thaw(nxt.cursor)),
                delay_seconds=delay,
            )
        sent_at = time.monotonic()
        lifecycle.send_packets(
            self._backend(),
            nxt.queue_url,
            [nxt],
            delay_seconds=delay,
            max_message_bytes=self.max_message_bytes,
            signer=self.signer,
        )
        # The next hop in this process (Lambda reuses warm ones) reserves time for its send.
        _send_ms_seen.append((time.monotonic() - sent_at) * 1000.0)
        del _send_ms_seen[:-_SEND_SAMPLES]
        self.stats = stats
        self.packet = nxt

    def _on_finish(self, event: EventData) -> None:
        assert self.packet is not None
        final = self._snapshot(JobState.TORN_DOWN)
        ledger = self._ledger()
        if ledger is not None:
            if self._end_shard(ledger, final):
                self._ledger_teardown(ledger)
        elif final.shards == 1:
            self._release(final)
        else:
            log.info(
                "relaystate: shard %d of %d of job %s finished; the queue stays until "
                "job.tear_down() (without a ledger a shard cannot know whether it is the last)",
                final.shard,
                final.shards,
                final.job_id,
            )
        self.packet = final

    def _end_shard(self, ledger: LedgerPort, final: RelayPacket, error: str = "") -> bool:
        """Count the shard as ended in the ledger; True if it was the last of the job."""
        assert self.packet is not None
        return ledger.finish(
            final.job_id,
            final.shard,
            self.packet.hop,
            self._owner,
            stats=final.stats.to_dict(),
            cursor_json=json.dumps(thaw(final.cursor)),
            failed=bool(error),
            error=error,
        )

    def _on_tear_down(self, event: EventData) -> None:
        assert self.packet is not None
        self._release(self.packet)
        ledger = self._ledger()
        if ledger is not None and ledger.claim_teardown(self.packet.job_id, "tear_down()"):
            ledger.mark_torn_down(self.packet.job_id)
        self.packet = self.packet.evolve(state=JobState.TORN_DOWN)

    def _on_fail(self, event: EventData) -> None:
        assert self.packet is not None
        error = event.kwargs.get("error")
        failed = self._snapshot(JobState.FAILED).evolve(error=repr(error) if error else "")
        backend = self._backend()
        if failed.dlq_url:
            # Parked where RelayJob.resume can pick it up; the DLQ is kept while it holds it.
            lifecycle.send_packets(
                backend,
                failed.dlq_url,
                [failed],
                max_message_bytes=self.max_message_bytes,
                signer=self.signer,
            )
        ledger = self._ledger()
        if ledger is not None and self._owner:
            if self._end_shard(ledger, failed, failed.error or "failed"):
                self._ledger_teardown(ledger, parked=bool(failed.dlq_url))
        elif failed.shards == 1:
            self._release(failed, parked=bool(failed.dlq_url))
        self.packet = failed
        self.on_failed(error)

    def _after_finish(self, event: EventData) -> None:
        self.on_done()

    # -- helpers -----------------------------------------------------------------------------

    def _snapshot(self, state: JobState, **changes: Any) -> RelayPacket:
        assert self.packet is not None
        changes.setdefault("stats", self.stats)
        if self._budget is not None:
            changes.setdefault("timing", self._budget.state())
        if self._limiter is not None:
            changes.setdefault("rate", self._limiter.state())
        return self.packet.evolve(state=state, cursor=self.cursor, data=self.data, **changes)

    def _release(self, packet: RelayPacket, *, parked: bool = False) -> None:
        """Delete the job's mapping and queues; ``parked``: a packet was just sent to the DLQ."""
        # In a hop, the queues must be deleted before the Lambda's timeout: a kill after the
        # mapping is gone would leave them with nothing to deliver their message again. So the
        # wait for a Deleting mapping to be gone ends in time for the queue deletes.
        until = None
        if self._remaining is not None:
            left_s = max(self._remaining(), 0.0) / 1000.0
            until = time.monotonic() + left_s - min(_TEARDOWN_RESERVE_S, left_s / 4)
        _persist(
            lambda: lifecycle.release(
                self._backend(),
                queue_url=packet.queue_url,
                dlq_url=packet.dlq_url,
                mapping_id=packet.mapping_id,
                until=until,
                dlq_has_packets=parked,
            )
        )

    def _backend(self) -> Backend:
        if self.backend is None:
            from .aws import default_backend

            self.backend = default_backend()
        return self.backend

    def _rebuild(self, packet: RelayPacket, backend: Backend | None) -> None:
        if backend is not None:
            self.backend = backend
        self.options = thaw(packet.options)
        for name, value in self.options.items():
            if name in self._OPTIONS:
                setattr(self, name, value)
        self.function_name = packet.function_name
        self.job_id = packet.job_id
        self.data = thaw(packet.data)
        self.cursor = packet.cursor
        self.stats = packet.stats
        self.packet = packet
        self.packets = (packet,)
        self._resume_from = None
        self._budget = None
        self._limiter = None
        self._owner = ""
        self._lease_ms = None
        self._remaining = None
        self._retries_at_start = 0
        self._attach_machine(packet.state)

    def _attach_machine(self, initial: JobState) -> None:
        self._machine = build_machine(
            self,
            initial,
            {
                "enqueue": {"before": self._on_enqueue},
                "relay": {"before": self._on_relay},
                "finish": {"before": self._on_finish, "after": self._after_finish},
                "tear_down": {"before": self._on_tear_down},
                "fail": {"after": self._on_fail},
            },
        )

    @classmethod
    def _from_body(cls, body: str, backend: Backend | None, source_arn: Any = None) -> RelayJob:
        """The job a message body carries, its signature checked when its class signs.

        A packet must have come from the queue it names: one that names another queue (forged,
        or copied by hand) would make this worker send to, or tear down, that queue.
        """
        packet = cls._checked(body)
        if isinstance(source_arn, str) and source_arn and packet.queue_url:
            arrived = queue_name_of(source_arn)
            named = queue_name_of(packet.queue_url)
            if arrived != named:
                raise InvalidPacketError(
                    f"the packet names queue {named!r} but arrived from {arrived!r}; it is "
                    "not run (a packet runs only from its own job's queue)",
                    field="queue_url",
                )
        return cls.from_packet(packet, backend=backend)

    @classmethod
    def _checked(cls, packet: RelayPacket | Mapping[str, Any] | str | bytes) -> RelayPacket:
        """The packet, parsed; its signature verified if it came as text or a mapping.

        A :class:`RelayPacket` object was made by this process and is taken as it is; anything
        read from outside (a queue, a file) must be signed when the job's class signs.
        """
        if isinstance(packet, RelayPacket):
            return packet
        raw: Any = packet
        if isinstance(packet, str | bytes):
            try:
                raw = json.loads(packet)
            except (ValueError, RecursionError) as exc:
                raise InvalidPacketError(
                    f"not a relay packet: the body is not JSON ({exc})"
                ) from exc
        parsed = RelayPacket.from_dict(raw)
        signer = cls._class_for(parsed).signer
        if signer is not None:
            signer.verify(raw)
        return parsed

    @classmethod
    def _class_for(cls, packet: RelayPacket) -> type[Self]:
        target = RelayJob._registry.get(packet.job_type)
        if target is None or not issubclass(target, cls):
            raise InvalidPacketError(
                f"packet of job {packet.job_id} is for job type {packet.job_type!r}, which this "
                f"worker does not handle (it handles {cls.type_name()!r}); set the same job_type "
                "on the class in the starter and the worker",
                field="job_type",
            )
        return target

    def __repr__(self) -> str:
        hop = self.packet.hop if self.packet else 0
        return f"<{type(self).__name__} {self.job_id} {self.state.value} hop={hop}>"


def _persist(call: Callable[[], None]) -> None:
    """Run a teardown step, again on throttling or an unreachable service (a few times).

    Once the mapping is deleted nothing redelivers the hop's message, so a teardown that
    fails after that point is not tried again by SQS: it must succeed here.
    """
    for attempt in range(_TEARDOWN_TRIES):
        try:
            call()
            return
        except (ThrottledError, ServiceUnavailableError) as exc:
            if attempt + 1 >= _TEARDOWN_TRIES:
                raise
            log.warning("relaystate: teardown step failed (%s); trying again", exc)
            _sleep(backoff_s(attempt))


def _where(packet: RelayPacket) -> str:
    return f"hop {packet.hop} of job {packet.job_id} shard {packet.shard}"


def _unbound() -> RuntimeError:
    return RuntimeError("trigger called before the job's state machine was attached")


def _check_sizes(template: RelayPacket, cursors: Sequence[Any], limit: int) -> None:
    """Refuse any shard whose packet would exceed ``limit``, without building every packet."""
    base = template.size_bytes() - len(b"null")
    for i, cursor in enumerate(cursors):
        text = json.dumps(thaw(freeze(cursor, f"plan()[{i}]")), separators=(",", ":"))
        if base + len(text.encode("utf-8")) + len(str(i)) > limit:
            template.evolve(shard=i, cursor=cursor).check_size(limit)


def _shards(planned: Any) -> list[Any]:
    if isinstance(planned, list | tuple | Iterator):
        return list(planned)
    if isinstance(planned, Iterable) and not isinstance(planned, str | bytes | Mapping):
        return list(planned)
    return [planned]


def _records(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise InvalidEventError(
            "handle() takes the SQS event that the job's event-source mapping delivers "
            f"(a dict with a 'Records' list); got {type(event).__name__} "
            f"{_preview(event)}"
        )
    return records


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _receive_count(record: Mapping[str, Any]) -> int:
    attributes = record.get("attributes")
    if isinstance(attributes, Mapping):
        try:
            return max(int(attributes.get("ApproximateReceiveCount", 1)), 1)
        except (TypeError, ValueError):
            return 1
    return 1


def _remaining_ms(context: Any, default_s: float) -> Callable[[], float]:
    """The time the hop has left, from the Lambda context or, without one, a fixed hop length."""
    get = getattr(context, "get_remaining_time_in_millis", None)
    if callable(get):
        return lambda: float(get())
    deadline = time.monotonic() + default_s
    return lambda: (deadline - time.monotonic()) * 1000.0
