"""RelayJob: the facade users subclass -- the contract, the triggers, the verbs.

Where the rest lives: its settings (the class attributes, with their defaults) in
:mod:`relaystate.settings`; one hop's loop in :mod:`relaystate.hop`; an SQS event turned into
packets in :mod:`relaystate.intake`; what each transition does to the job's queues, mapping and
ledger in :mod:`relaystate.lifecycle`; the machine in :mod:`relaystate.machine`, built once from
the table in :mod:`relaystate.states`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from . import intake
from .errors import ConfigurationError, InvalidPacketError
from .frozen import EMPTY, JsonValue, freeze, thaw
from .options import OPTIONS, check_options, check_packet_options
from .packet import RelayPacket, Stats
from .settings import JobSettings
from .signals import send_signal
from .states import DONE, JobState  # noqa: F401  (DONE: the docstrings' examples use it)
from .triggers import Triggers

if TYPE_CHECKING:  # kept off the Lambda path's imports unless a job uses them
    from .hop_state import HopState
    from .ledger import JobStatus, ShardResult
    from .machine import JobMachine
    from .ports import Backend, LedgerPort

__all__ = ["RelayJob"]


class RelayJob(Triggers, JobSettings):
    """A long job run as a relay of Lambda hops through a private SQS queue.

    Subclass it: set :attr:`function_name` (the worker Lambda), write :meth:`step` (one unit of
    work: the next cursor, or :data:`~relaystate.DONE`), and optionally :meth:`plan` (the first
    cursor, or a list of cursors to fan out), :meth:`on_done` and :meth:`on_failed`.

    Its settings -- class attributes such as ``max_hops`` and ``ledger``, most of which the
    constructor can override by keyword -- are in :class:`~relaystate.settings.JobSettings`.

    Args:
        data: the job's custom data, a JSON object; ``self.data`` in :meth:`step`, carried
            from hop to hop (changes made to it in a hop travel on).
        backend: where the queues and mappings live (default: real AWS, default session).
        job_id: the job's id (default: a new random one).
        options: a setting that is an option, e.g. ``function_name=``, ``max_hops=``; JSON
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

    #: The job's state, kept by the machine.
    state: JobState
    #: The running hop's state (time left, budget, lease) while a hop runs, else ``None``.
    hop: HopState | None
    #: The packet ``resume()`` goes on from, while it enqueues.
    _resume_from: RelayPacket | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        intake.register(cls, cls.type_name())

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        backend: Backend | None = None,
        job_id: str | None = None,
        **options: Any,
    ) -> None:
        check_options(options)
        ledger = options.get("ledger")
        if ledger is not None and not isinstance(ledger, str):
            # An object: the starter uses it; its name travels, and the workers open it by name.
            options["ledger"] = ledger.table_name
        #: Options that travel in the packet, so the worker applies them too.
        self.options: dict[str, Any] = thaw(freeze(options, "options"))
        for name, value in options.items():
            setattr(self, name, value)
        if ledger is not None:
            self.ledger = ledger
        check_options({name: getattr(self, name) for name in OPTIONS})  # the class's too
        if backend is not None:
            self.backend = backend
        self.job_id = job_id or uuid.uuid4().hex
        self.data: dict[str, Any] = thaw(freeze(data or {}, "data"))
        self.cursor: JsonValue = None
        self.stats = Stats()
        #: The signals the job has received, by name (see :class:`~relaystate.WaitFor`).
        self.signals: dict[str, Any] = {}
        #: The shard's result (JSON): set it in ``step``; ``on_join`` gets every shard's.
        self.result: Any = None
        #: The latest snapshot (shard 0's after a fan-out start); ``None`` before ``start()``.
        self.packet: RelayPacket | None = None
        #: Every shard's first packet after ``start()`` (made on access: a fan-out of 100,000
        #: shards keeps only its cursors).
        self.packets: Sequence[RelayPacket] = ()
        self._reset(JobState.CREATED)

    # -- the subclass contract ---------------------------------------------------------------

    def plan(self) -> Any:
        """The first cursor, or a list (or iterator) of first cursors, one shard each.

        The default starts one shard at cursor ``None``. To start one shard whose cursor is a
        list, return ``[that_list]``.
        """
        return None

    def step(self, cursor: Any) -> Any:
        """Do one unit of work from ``cursor``; return the next cursor, or ``DONE``.

        A unit should take well under the function timeout: the hop stops between units. A unit
        that raises is handled by the job's :attr:`retry` policy: tried again in the hop, then
        in later hops (the packet relayed with a delay, the units before it kept), then the
        shard fails (:meth:`on_failed`, the packet parked in the DLQ).
        """
        raise NotImplementedError(f"{type(self).__name__} must define step(self, cursor)")

    def progress(self, cursor: Any) -> tuple[int, int] | None:
        """How far a shard is at ``cursor``: ``(done, total)`` in units of your choosing
        (rows, files); ``None`` (the default): unknown.

        Define it to have each hop's checkpoint record it: :meth:`status` then gives percent
        done, units per second and an ETA (see :mod:`relaystate.progress`), ``relaystate
        status JOB_ID --watch`` shows them live, and ``relaystate run`` draws a bar with a
        total. It is called at the end of every hop (and at a shard's first), so keep it
        cheap: arithmetic on the cursor, not a query. An error in it is logged, never raised.

        Example:
            >>> class Count(RelayJob):
            ...     function_name = "count-worker"
            ...     def step(self, cursor):
            ...         return DONE if cursor >= self.data["to"] else cursor + 1
            ...     def progress(self, cursor):
            ...         return cursor, self.data["to"]
            >>> Count(data={"to": 10}).progress(4)
            (4, 10)
        """
        return None

    @property
    def _measures_progress(self) -> bool:
        """Whether :meth:`progress` is the job's own (a hop does not ask the default, which
        says nothing)."""
        return type(self).progress is not RelayJob.progress or "progress" in self.__dict__

    def on_done(self) -> None:
        """Called when a shard's ``step`` returned ``DONE``, before its end is recorded and the
        job torn down: at least once, and once unless its hop dies right after it."""

    def on_failed(self, error: BaseException | None) -> None:
        """Called when a shard failed: its units kept raising past the :attr:`retry` policy,
        the hop cap was reached, or :meth:`fail` was called. ``error`` says why."""

    def on_join(self, results: Iterable[ShardResult]) -> None:
        """With a ledger: called once, on the shard that ends last, with every shard's
        :class:`~relaystate.ledger.ShardResult` (its ``self.result``, or its error) in shard
        order, read page by page. The job ends ``failed`` if more shards failed than
        :attr:`tolerated_failures` allows."""

    # -- public API ---------------------------------------------------------------------------

    def signal(self, name: str, payload: Any = None) -> int:
        """Send the job signal ``name`` with a JSON ``payload`` (see :mod:`relaystate.signals`);
        how many waiting shards it woke.

        Example:
            >>> CopyRows.attach(job_id, ledger="t").signal("ok", {"by": "ann"})  # doctest: +SKIP

        Raises:
            ConfigurationError: the job has no ledger (signals are kept in it), or a bad name.
            SignalConflictError: a signal of that name with another payload came first.
        """
        backend, ledger = self._ports()
        if ledger is None:
            raise ConfigurationError("signal() needs the job's ledger: give it one (ledger=...)")
        return send_signal(backend, ledger, self.job_id, name, payload)

    @classmethod
    def attach(
        cls,
        job_id: str,
        *,
        ledger: str | LedgerPort | None = None,
        backend: Backend | None = None,
        queue_prefix: str | None = None,
        queue_name: str | None = None,
    ) -> Self:
        """A handle on the job ``job_id``, in its current state: ``status()``, ``pause()``,
        ``unpause()``, ``signal()`` and ``tear_down()`` act on it (see :mod:`relaystate.attach`).

        ``queue_prefix`` / ``queue_name``: the ones the job was started with, when they were
        not the class's (its queue is found by its name).

        Raises:
            UnknownJobError: neither the ledger nor a queue knows the job.
        """
        probe = cls.__new__(cls)
        probe.backend = backend or cls.backend
        probe.ledger = ledger if ledger is not None else cls.ledger
        ports = probe._ports()
        from .attach import locate  # a starter's or operator's: not on a worker's import

        packet = locate(
            job_id,
            job_type=cls.type_name(),
            job_version=cls.version or "",
            queue_prefix=cls.queue_prefix if queue_prefix is None else queue_prefix,
            queue_name=cls.queue_name if queue_name is None else queue_name,
            backend=ports[0],
            ledger=ports[1],
        )
        job = cls.from_packet(packet, backend=ports[0])
        job.ledger = ports[1] if ports[1] is not None else job.ledger
        return job

    # -- public API ---------------------------------------------------------------------------

    def status(self) -> JobStatus | None:
        """The job's state and, per shard, hop, status, stats and cursor -- from the ledger.
        With a :meth:`progress` hook, ``status().progress`` gives percent done, units per
        second and an ETA.

        ``None``: the ledger does not know the job. For a job known by its id only, use
        :meth:`status_of`.

        Raises:
            ConfigurationError: the job has no ledger.
        """
        ledger = self._ports()[1]
        if ledger is None:
            raise ConfigurationError(
                "status() reads the progress ledger: give the job a ledger (ledger=...)"
            )
        return ledger.status(self.job_id)

    @classmethod
    def status_of(
        cls,
        job_id: str,
        *,
        ledger: str | LedgerPort | None = None,
        backend: Backend | None = None,
    ) -> JobStatus | None:
        """The status of the job ``job_id`` (see :meth:`status`), read from the ledger.

        Example:
            >>> CopyRows.status_of(job_id, ledger="relaystate-ledger")  # doctest: +SKIP

        Raises:
            ConfigurationError: no job id, or no ledger on the class or given.
        """
        if not job_id:
            raise ConfigurationError("status_of() needs the job id")
        probe = cls.__new__(cls)
        probe.backend = backend or cls.backend
        probe.ledger = ledger if ledger is not None else cls.ledger
        probe.job_id = job_id
        return probe.status()

    @classmethod
    def migrate(cls, packet: RelayPacket) -> RelayPacket:
        """A packet made by another :attr:`version` of this class, made fit to run here
        (e.g. ``return packet.evolve(cursor={"id": packet.cursor})``).

        Raises:
            VersionMismatchError: by default: the packet is not run, SQS parks it in the DLQ,
                and a worker that can run it resumes it from there.
        """
        raise intake.version_mismatch(cls, packet)

    @classmethod
    def type_name(cls) -> str:
        """The job type packets carry: :attr:`job_type` if this class sets it, else the class's
        qualified name (a subclass inherits its code, not its type: each class of a worker must
        have a type of its own, or its packets would run as another class)."""
        own = cls.__dict__.get("job_type")
        return own if isinstance(own, str) and own else cls.__qualname__

    def start(self, *, context: Any = None) -> Self:
        """Set up the job's queue, DLQ and mapping and send the first packet(s): QUEUED.

        A start that fails half-way deletes what it created and re-raises; the job stays
        CREATED. The job id is an idempotency key: a start with the id, class, data and
        options of a job that runs returns that job (QUEUED, touching nothing of it); another
        job with that id -- or a job that has ended -- raises :class:`JobConflictError`.

        Args:
            context: the Lambda context, when the starter itself runs in a Lambda (behind API
                Gateway it has 29 s): the wait for the new mapping then ends in time to roll
                back before that Lambda's timeout, instead of after up to 300 s.

        Example:
            >>> def start_handler(event, context):  # doctest: +SKIP
            ...     return CopyRows(data=event).start(context=context).job_id
        """
        self.enqueue(context=context)
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
        target, packet = intake.read(cls, packet)
        job = target._rebuilt(packet, backend)
        if not isinstance(job, cls):  # pragma: no cover - class_for guarantees it
            raise InvalidPacketError("job type mismatch", field="job_type")
        return job

    @classmethod
    def resume(
        cls,
        packet: RelayPacket | Mapping[str, Any] | str | bytes,
        *,
        backend: Backend | None = None,
        context: Any = None,
    ) -> Self:
        """Go on from a checkpoint: re-create queue and mapping if gone, send the packet again.

        Works on a packet read from a DLQ, saved from ``job.packet``, or given as its JSON text.
        ``context``: as for :meth:`start`. With a ledger the job is reopened there first: a
        failed shard's packet queues its shard again, and a job cancelled by
        :meth:`tear_down` while shards were at work runs again, to be torn down by its last
        shard's join; a copy of a hop that already ran whose job is not yet torn down (its
        last delivery died after the shard's end was recorded) finishes the job's teardown.
        Resuming the same packet twice runs no unit twice (the ledger fences the copy).

        Example:
            >>> job = CopyRows.resume(dead_letter_body)  # doctest: +SKIP
            >>> job.state  # doctest: +SKIP
            <JobState.QUEUED: 'queued'>

        Raises:
            ConfigurationError: the packet is a finished one (``torn_down``); or, with a
                ledger, the ledger shows the job torn down and the packet is a copy of a hop
                that already ran (its shard ended, or went past its hop): resumed, it would
                make a queue and a mapping that nothing removes -- the message says what to
                do instead.
            JobEndedError: the ledger records every shard of the job ended and the job torn
                down (or its teardown under way): nothing is left to resume; nothing was made
                or sent.
        """
        packet = intake.verified(cls, packet)
        if packet.state is JobState.TORN_DOWN:
            raise ConfigurationError(
                f"job {packet.job_id} shard {packet.shard} is finished (torn_down); "
                "there is nothing to resume"
            )
        job = cls.from_packet(packet, backend=backend)
        job._reset(JobState.CREATED)
        job._resume_from = packet
        job.enqueue(context=context)
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
        return intake.Intake(cls, backend).process(event, context)

    # -- helpers -----------------------------------------------------------------------------

    def _ports(self) -> tuple[Backend, LedgerPort | None]:
        """The job's backend (real AWS unless given) and ledger (made from its name on first
        use)."""
        if self.backend is None:
            from .aws import default_backend

            self.backend = default_backend()
        ledger = self.ledger
        if isinstance(ledger, str):
            if self.backend.ledgers is None:
                raise ConfigurationError(
                    f"ledger={ledger!r} but this backend has no ledgers; give the job a "
                    "ledger object (e.g. relaystate.aws.DynamoDBLedger) instead"
                )
            ledger = self.ledger = self.backend.ledgers(ledger)
        return self.backend, ledger

    @classmethod
    def _rebuilt(cls, packet: RelayPacket, backend: Backend | None) -> Self:
        """The job of ``packet`` as it is: already verified, of this class (see
        :func:`relaystate.intake.read`)."""
        job = cls.__new__(cls)
        job._rebuild(packet, backend)
        return job

    def _rebuild(self, packet: RelayPacket, backend: Backend | None) -> None:
        if backend is not None:
            self.backend = backend
        # The empty objects a packet mostly holds are the one EMPTY: known without a call.
        options = packet.options
        if options is EMPTY:
            self.options = {}
        else:
            check_packet_options(options)
            self.options = thaw(options)
            for name, value in self.options.items():
                setattr(self, name, value)
        self.function_name = packet.function_name
        self.job_id = packet.job_id
        self.data = thaw(packet.data)
        self.cursor = packet.cursor
        self.stats = packet.stats
        self.signals = {} if packet.signals is EMPTY else thaw(packet.signals)
        result = packet.result
        self.result = result if result is None else thaw(result)
        self.packet = packet
        self.packets = (packet,)
        self._reset(packet.state)

    def _reset(self, state: JobState) -> None:
        """Per-run state to its start, the machine attached in ``state``."""
        self._resume_from = None
        self.hop = None
        (_MACHINE or _machine()).attach(self, state)  # the call only until it is made

    def _release(self) -> None:
        """A worker is done with this job (its hop ended): unbind the machine's triggers, so
        that the job is freed at once instead of by the cyclic garbage collector."""
        (_MACHINE or _machine()).detach(self)

    def __repr__(self) -> str:
        hop = self.packet.hop if self.packet else 0
        return f"<{type(self).__name__} {self.job_id} {self.state.value} hop={hop}>"


def _machine() -> JobMachine:
    """The machine every job runs on. Imported on first use, not with relaystate: it brings
    transitions, which a worker's cold import would otherwise pay for; then kept (each hop
    attaches and releases a job: an import statement there costs a dict lookup and a lock)."""
    global _MACHINE
    if _MACHINE is None:
        from .callbacks import machine

        _MACHINE = machine()
    return _MACHINE


_MACHINE: JobMachine | None = None
