"""The backend protocols: the few primitives a job needs from AWS.

:mod:`relaystate.lifecycle` holds the logic (names, order, rollback, waiting rules); a backend only
implements these primitives. :mod:`relaystate.aws` implements them with boto3;
:class:`relaystate.local.LocalLambda` supplies a backend whose mappings are its own poller registry.
The progress ledger (:class:`LedgerPort`) differs: its logic *is* its conditional writes, which
must be atomic where the data lives, so each adapter implements its operations whole; the rules
they share live in :mod:`relaystate.ledger`. Every method raises
:class:`~relaystate.errors.RelayError` subclasses only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from .ledger import Claim, JobStatus, Parked, ShardResult
    from .timeline import HopEntry

__all__ = [
    "Backend",
    "BlobInfo",
    "BlobPort",
    "LedgerPort",
    "MappingInfo",
    "MappingPort",
    "QueuePort",
    "QueueRef",
]


@attrs.frozen
class QueueRef:
    """A queue that exists: its URL and ARN."""

    url: str
    arn: str


@attrs.frozen
class MappingInfo:
    """What a backend knows of an event-source mapping."""

    id: str
    state: str
    queue_arn: str
    #: The function's ARN, as ``GetEventSourceMapping`` reports it (``FunctionArn``).
    function_name: str


class QueuePort(Protocol):
    """SQS queue primitives."""

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        """Create the queue (idempotent for identical attributes) and return it."""

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        """Set queue attributes (e.g. its ``Policy``)."""

    def delete(self, url: str) -> None:
        """Delete the queue; a queue that does not exist is not an error."""

    def describe(self, url: str) -> Mapping[str, str] | None:
        """The queue's attributes (``QueueArn``, counts...), or ``None`` if it does not exist."""

    def find(self, name: str) -> QueueRef | None:
        """The queue of that name in this account and region, or ``None`` (``GetQueueUrl``).

        A queue deleted less than 60 s ago may still be found: AWS takes that long.
        """

    def tags(self, url: str) -> Mapping[str, str]:
        """The queue's tags (``ListQueueTags``); empty for a queue that does not exist."""

    def list_named(self, prefix: str) -> list[QueueRef]:
        """Every queue whose name begins with ``prefix`` (``ListQueues``, page by page).

        AWS lists late: a queue made a moment ago may be missing, one deleted a moment ago
        (up to 60 s) may still be there. What finds a job's queues when no packet names them
        all (a resume, a teardown: :mod:`relaystate.job_queues`).
        """

    def receive(self, url: str, max_messages: int, visibility_s: int) -> list[tuple[str, str]]:
        """Up to ``max_messages`` (<= 10) visible messages as ``(body, receipt handle)``, hidden
        for ``visibility_s``; none if the queue is gone (what ``pause()`` parks)."""

    def delete_messages(self, url: str, receipts: Sequence[str]) -> None:
        """Delete received messages by receipt handle; a gone queue or receipt is not an error."""

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        """Send one message; return its message id."""

    def send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int = 0) -> list[str]:
        """Send up to 10 messages in one call; return their message ids in order.

        Raises :class:`~relaystate.errors.SendError` naming the entries that failed.
        """


class MappingPort(Protocol):
    """Lambda event-source-mapping and function primitives."""

    def function_timeout_s(self, function_name: str) -> int:
        """The function's configured timeout in seconds."""

    def create(
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        """Create a mapping from the queue to the function: ``Creating``, then ``Enabled`` (or
        ``Disabled`` when created with ``enabled=False``: nothing is delivered until it is
        enabled)."""

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        """Enable or disable the mapping (``UpdateEventSourceMapping``): ``Enabling`` then
        ``Enabled``, or ``Disabling`` then ``Disabled``. A disabled mapping delivers nothing;
        its queue keeps its messages.

        Raises:
            ResourceNotFoundError: the mapping does not exist.
            ResourceConflictError: the mapping is in a transition that refuses the update.
        """

    def get(self, mapping_id: str) -> MappingInfo | None:
        """The mapping's current state, or ``None`` if it does not exist."""

    def delete(self, mapping_id: str) -> None:
        """Start deleting the mapping; one that does not exist is not an error."""

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        """Every mapping whose event source is the queue (``Deleting`` ones too), any function.

        What finds the mappings of a queue when no packet names them (``relaystate ls``,
        ``reap``, ``cancel``).
        """

    def allow_recursion(self, function_name: str) -> None:
        """Let the function run in a Lambda-SQS-Lambda loop beyond 16 hops."""


class LedgerPort(Protocol):
    """The progress ledger: fenced hops, the outbox, the join, and the job's controls --
    signals, waits, pause, parked packets, shard results (see :mod:`relaystate.ledger`).

    Every write is conditional and atomic: of two writers that race, one wins and the other is
    told (a refused claim, :class:`~relaystate.errors.LeaseLostError`, ``False``). ``owner`` is
    the invocation that holds a hop or a teardown (its Lambda request id); a *lease* is a hold
    that ends at a time (``lease_ms`` from the claim, on the ledger's clock), after which
    another owner may take over. Every record a write touches expires
    (:func:`relaystate.ledger.expires_s`): far ahead while the job runs, 30 days after its
    teardown. Adapters: :class:`relaystate.aws.DynamoDBLedger`,
    :class:`relaystate.testing.MemoryLedger`.

    Example:
        >>> from relaystate.testing import MemoryLedger
        >>> ledger: LedgerPort = MemoryLedger()
        >>> ledger.open_job("j", shards=1, job_type="CopyRows", function_name="copy-worker")
        >>> ledger.claim("j", 0, 0, "request-a", lease_ms=60_000).outcome
        'run'
        >>> ledger.finish("j", 0, 0, "request-a", stats={"units": 3}, cursor_json="null")
        True
    """

    #: The ledger's name (its DynamoDB table): what a job's packets carry, so that its workers
    #: open the same ledger (``Backend.ledgers(table_name)``).
    table_name: str

    def open_job(
        self,
        job_id: str,
        *,
        shards: int,
        job_type: str,
        function_name: str,
        fingerprint: str = "",
    ) -> JobStatus | None:
        """Record a new job whose join counts to ``shards``; ``None`` when it was recorded.

        A job id the ledger knows is kept as it is (whatever its state, until its records
        expire): its status is returned instead, ``fingerprint`` included, so that a start can
        tell a retry of the same job from another job that wants the same id.
        """

    def abandon_job(self, job_id: str) -> None:
        """Forget a job whose start was rolled back: its record goes, if no shard has ended.

        A job that has begun (a shard ended) is kept; an unknown job is not an error.
        """

    def claim(
        self, job_id: str, shard: int, hop: int, owner: str, lease_ms: int, packet: str = ""
    ) -> Claim:
        """Claim hop ``hop`` of a shard for ``owner`` until ``lease_ms`` from now.

        Accepted (``run``) when the shard is unknown, behind ``hop``, or at ``hop`` and queued
        or waiting (a wait's next hop, woken by its signal or by its timer; a failed shard is
        queued again only by :meth:`reopen`), or running under an expired lease or for
        ``owner`` itself (a claim is idempotent for its owner, and renews its lease). An
        accepted claim confirms that the previous hop's packet was sent (it arrived), and
        drops its wait and wake-up time in the same write; that packet -- the hop's own, or
        ``packet`` (its JSON) when the ledger holds none, as for a shard's first hop -- is
        kept until the hop ends, so that :meth:`pending` has it if the hop's Lambda dies
        while its job is paused. Refused
        otherwise, with what the delivery should do instead
        (:func:`relaystate.ledger.refused_claim`): a redelivered hop whose successor is still
        unclaimed and queued gets ``resend``, with the outbox and its delay; one whose
        successor waits gets ``duplicate`` (a waiting outbox is sent only by a signal).
        """

    def checkpoint(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        outbox: str,
        stats: Mapping[str, int],
        cursor_json: str,
        delay_seconds: int = 0,
        waiting: str = "",
        wake_ms: int = 0,
        progress: Mapping[str, int] | None = None,
        timeline: HopEntry | None = None,
    ) -> None:
        """Hop ``hop`` is done: record its stats, cursor, progress mark (``progress``, see
        :mod:`relaystate.progress`; ``None`` keeps the one recorded) and the next packet
        (``outbox``, to be sent with ``delay_seconds``); the shard moves to hop ``hop + 1``,
        queued.

        With ``waiting`` (a signal's name) the shard moves to hop ``hop + 1`` *waiting* for
        that signal instead: its outbox is kept for :meth:`waiting_for`, and no duplicate
        re-sends it. ``wake_ms`` (ms since the epoch) is when the next hop is due -- a sleep's
        end, a wait's deadline -- as :meth:`status` shows it; 0: now.
        ``timeline``: the hop's :class:`~relaystate.timeline.HopEntry`, kept in the shard's
        record in the same write (its slot, :func:`relaystate.timeline.slot`).

        Raises:
            LeaseLostError: ``owner`` no longer holds hop ``hop`` (its lease ran out and another
                invocation claimed it); nothing is written.
            PacketTooLargeError: the outbox exceeds
                :data:`~relaystate.ledger.MAX_OUTBOX_BYTES`.
            ConfigurationError: ``waiting`` is not a signal's name
                (:func:`~relaystate.ledger.check_signal_name`).
        """

    def confirm_sent(self, job_id: str, shard: int, hop: int) -> None:
        """The outbox of hop ``hop`` (the packet its checkpoint recorded) was sent: a delivery
        of hop ``hop - 1`` that comes later is a duplicate and does not send it again.

        Written after a *delayed* send only (a sleep, a retry's delay, a rate limit's): such a
        packet waits in the queue long enough for duplicates of the hop before to come, and
        each would otherwise send another copy, a chain of its own. Written too once a wait
        has made its sends (its timer, or the packet at once when its signal came while it
        parked, or none): a duplicate then leaves the waiting packet to its signal. Nothing
        happens when hop ``hop`` is no longer queued or waiting (it was claimed: its claim
        confirmed the send).
        """

    def finish(
        self,
        job_id: str,
        shard: int,
        hop: int,
        owner: str,
        *,
        stats: Mapping[str, int],
        cursor_json: str,
        failed: bool = False,
        error: str = "",
        result_json: str = "",
        progress: Mapping[str, int] | None = None,
        timeline: HopEntry | None = None,
        keep_packet: bool = True,
    ) -> bool:
        """The shard ended at hop ``hop`` (done, or ``failed`` with ``error``): count it in the
        job, in one atomic write with the shard, which keeps the hop's packet (for
        :meth:`pending`; :meth:`reopen` drops it; ``keep_packet=False``: dropped, where it and
        the result together could outgrow the ledger's item) and records its result
        (``result_json``, JSON text; ``""``: none) for :meth:`results`, its last progress mark
        (``None``: keep the one recorded) and the hop's ``timeline`` entry as
        :meth:`checkpoint` does. True for the one shard that ended the job: of shards that end
        at once, exactly one sees it ended (the join).

        Raises:
            PacketTooLargeError: the result, compressed, exceeds
                :data:`~relaystate.ledger.MAX_OUTBOX_BYTES`; nothing is written.
            LeaseLostError: ``owner`` no longer holds hop ``hop``; nothing is counted.
            ResourceNotFoundError: the ledger does not know the job (never opened, expired).
            ResourceConflictError: the write kept meeting concurrent ones; nothing is counted.
        """

    def claim_teardown(self, job_id: str, owner: str, lease_ms: int | None = None) -> bool:
        """Take the job's teardown for ``owner``: True if it is ``owner``'s now.

        One owner at a time ever holds it; taking it again is idempotent for its owner. With
        ``lease_ms`` the hold ends that long from now (its Lambda may die before it is done),
        without one it is held for good. The teardown of a job the ledger does not know is
        not taken (``False``).
        """

    def mark_torn_down(self, job_id: str, *, tolerated: int = 0, owner: str | None = None) -> None:
        """The job's resources are gone: its state becomes ``failed`` if more than
        ``tolerated`` shards failed, else ``torn_down`` (:func:`~relaystate.ledger.ended_state`);
        it is no longer paused; its record expires :data:`~relaystate.ledger.FINISHED_TTL_S`
        from now. Idempotent.

        With ``owner`` (who claimed the teardown: :meth:`claim_teardown`) it is recorded only
        while ``owner`` still holds the teardown: a resume that reopened the job meanwhile
        (:meth:`reopen_job`, :meth:`reopen`) let it go, and the job runs on."""

    def reopen(self, job_id: str, shard: int) -> None:
        """A failed shard is resumed: queue it again at the hop it failed, uncount its failure,
        and let the job be torn down again -- in one atomic write.

        Only a shard that is failed is reopened: of a shard that is not (never failed, or
        reopened already) nothing changes, so reopening is idempotent.

        Raises:
            ResourceConflictError: the write kept meeting concurrent ones; nothing changed.
        """

    def reopen_job(self, job_id: str) -> bool:
        """A job cancelled while shards were at work is resumed: it runs again -- in one
        conditional write, True when this call reopened it.

        A job is reopened when its teardown was recorded (``torn_down`` or ``failed``) or taken
        (``tear_down()`` takes it for good) before every shard ended: its state becomes
        ``running``, its teardown is let go (the last shard's join takes it again) and its
        record expires as a running job's. Of a job that was not torn down (a running one,
        one reopened already, an unknown one) nothing changes (``False``): a second resume, or
        one of another shard, is harmless.

        Raises:
            JobEndedError: every shard of the job has ended and its teardown was taken or
                recorded (the job ran to its end, or its join runs now): there is nothing to
                resume, and nothing changes. A failed shard is resumed by :meth:`reopen`.
            ResourceConflictError: the write kept meeting concurrent ones; nothing changed.
        """

    def results(self, job_id: str) -> Iterator[ShardResult]:
        """How each shard ended, in shard order from 0 to ``shards - 1``: its status (``done``,
        ``failed``, or ``""`` for a shard that has not ended), its result and its error.

        Read as it is iterated, page by page, with consistent reads: a job's results are never
        held whole. An unknown job has none.
        """

    def put_signal(self, job_id: str, name: str, payload_json: str) -> bool:
        """Record signal ``name`` with its payload (JSON text) for the job, whether or not a
        shard waits for it yet: a signal sent before its wait begins is kept, not lost.

        True when it is recorded now; False when the same payload (the same JSON value) was
        recorded before: sending a signal again is idempotent. Only the first payload of a
        name stands.

        Raises:
            SignalConflictError: another payload is recorded for ``name``; it stands.
            ConfigurationError: the job is not in the ledger (never started with this ledger,
                or expired); ``name`` is not a signal's
                (:func:`~relaystate.ledger.check_signal_name`); the payload is not JSON.
            PacketTooLargeError: the payload, compressed, exceeds
                :data:`~relaystate.ledger.MAX_OUTBOX_BYTES`.
        """

    def signals(self, job_id: str) -> dict[str, Any]:
        """Every signal recorded for the job: name -> payload (parsed JSON); ``{}`` if none,
        or for an unknown job."""

    def waiting_for(self, job_id: str, name: str) -> list[Parked]:
        """The shards that wait for signal ``name`` now (status ``waiting``), in shard order,
        each with the packet that wakes it (sending it is the caller's). Consistent reads."""

    def pending(self, job_id: str) -> list[Parked]:
        """The shards whose next packet the ledger holds and no signal sends, in shard order:
        those ``queued`` (their outbox, due when its delay ends), those ``waiting`` with a
        deadline (their outbox is also the timer that ends the wait), and those ``running``
        whose lease ran out (their hop's own packet, kept from the checkpoint before: its
        Lambda died). Each comes with the delay
        left until it is due (:func:`~relaystate.sleep.delay_until`). ``unpause`` sends them
        again: a packet the queue dropped while the job was paused is not lost (a copy of one
        that is still there is a duplicate, which the next hop's claim refuses).

        Of a job whose every shard has ended but whose teardown is not recorded, the packet of
        the shard that ended last (kept by :meth:`finish`), with no delay: its delivery is
        refused with ``teardown`` and tears the job down, which its own redelivery would have
        done had the queue kept it."""

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Record the job paused, or not (:attr:`JobStatus.paused
        <relaystate.ledger.JobStatus.paused>`, and its state ``paused``). A job that has ended,
        or that the ledger does not know, is left as it is."""

    def claim_control(self, job_id: str, owner: str, lease_ms: int) -> bool:
        """Take the job's control -- the right to pause or unpause it -- for ``owner`` until
        ``lease_ms`` from now: True if it is ``owner``'s now (:mod:`relaystate.control_lease`).

        One owner at a time holds it; taking it again renews its owner's lease; another owner
        takes it once the lease has run out (its caller died). A job the ledger does not know
        has no control to hold: True, and nothing is written.
        """

    def release_control(self, job_id: str, owner: str) -> None:
        """Give the job's control up, if ``owner`` holds it; else nothing changes."""

    def park(self, job_id: str, bodies: Sequence[str]) -> None:
        """Keep packets (message bodies) in the ledger, compressed, as long as the job's
        records live -- e.g. those of a queue paused for longer than it keeps messages,
        and every shard's first packet, kept by the start (:mod:`relaystate.pause`).
        Idempotent per body: a body parked twice is kept once.

        Raises:
            PacketTooLargeError: a body, compressed, exceeds
                :data:`~relaystate.ledger.MAX_OUTBOX_BYTES`; none is written.
        """

    def parked(self, job_id: str) -> list[str]:
        """Every body parked for the job (in no particular order); they stay parked.

        Send them, then :meth:`forget_parked` what was sent: a caller that dies in between
        leaves them parked, to be sent again (a duplicate packet, which the claim fences),
        never lost.
        """

    def forget_parked(self, job_id: str, bodies: Sequence[str]) -> None:
        """Forget parked bodies (sent back to the queue); a body not parked is not an error."""

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state and each shard's hop, status, stats, cursor, wake-up time, the
        signal it waits for and its progress mark, whether it is paused, and its signals (and,
        for a job that keeps one, each shard's hop timeline); ``None`` if unknown."""


@attrs.frozen
class BlobInfo:
    """An object of a :class:`BlobPort`: its key, size and last write (ms since the epoch)."""

    key: str
    size: int
    modified_ms: int


class BlobPort(Protocol):
    """Objects in one bucket (S3): where :class:`~relaystate.S3Offload` keeps a job's data and
    cursors that are too large for its packets (see :mod:`relaystate.offload`).

    Keys are written once per value (a key names its content's digest), so a write never
    replaces an object that a packet in flight still names with other bytes.

    Example:
        >>> from relaystate.testing import MemoryBlobs
        >>> blobs: BlobPort = MemoryBlobs("bucket")
        >>> blobs.put("relaystate/j1/ab12", b"{}")
        >>> blobs.get("relaystate/j1/ab12"), blobs.get("relaystate/j1/none")
        (b'{}', None)
        >>> blobs.delete_prefix("relaystate/j1/")
        1
    """

    #: The bucket's name.
    bucket: str

    def put(self, key: str, body: bytes) -> None:
        """Write the object ``key`` (whole: S3 never shows a half-written object)."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or ``None`` if there is no such object."""

    def list(self, prefix: str) -> Iterable[BlobInfo]:
        """Every object whose key starts with ``prefix``, in key order, read page by page."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; how many there were. None is
        not an error, so deleting is idempotent."""


@attrs.frozen
class Backend:
    """The ports a job talks to: queues, mappings, and (optionally) ledgers.

    Example:
        >>> from relaystate.aws import aws_backend
        >>> backend = aws_backend(region_name="eu-west-1")  # doctest: +SKIP
    """

    queues: QueuePort
    mappings: MappingPort
    #: Makes the progress ledger for a table name, on the same account/endpoint (or ``None``:
    #: this backend has no ledger).
    ledgers: Callable[[str], LedgerPort] | None = attrs.field(default=None, eq=False)
    #: Makes the object store for a bucket name, on the same account/endpoint (or ``None``:
    #: this backend keeps no objects; a job with an ``offload`` then cannot start).
    blobs: Callable[[str], BlobPort] | None = attrs.field(default=None, eq=False)
    #: How long to wait for a mapping to become Enabled, or to be gone, in seconds.
    mapping_wait_s: float = 300.0
    #: First pause between mapping polls; doubles up to ``mapping_poll_max_s``.
    mapping_poll_s: float = 0.5
    mapping_poll_max_s: float = 5.0
