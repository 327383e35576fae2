"""What happened in one simulated run: units, commits, packets sent, hooks, deletes, faults.

The simulation's twins, its wrapper of the job class and its user (job control driven from
outside, :mod:`~relaystate.testing.sim.user`) write here as the run goes; the invariants
(:mod:`~relaystate.testing.sim.invariants`) read it when the run is over, with the world's final
state. Times are the run's virtual seconds; ``by`` names who did it: an invocation's number, 0
for the starter, -1 for AWS itself, -2 for the user.

Example:
    >>> record = Record()
    >>> record.say(1.5, 3, "killed before SendMessage")
    >>> record.story()
    ['    1.500 s  invocation 3: killed before SendMessage']
"""

from __future__ import annotations

import collections
import json
from typing import Any

import attrs

__all__ = [
    "Commit",
    "CrashPlan",
    "Expired",
    "HookCall",
    "Invocation",
    "PacketRef",
    "PauseSpan",
    "QueueDeleted",
    "Record",
    "Sent",
    "SignalRecorded",
    "SignalSent",
    "UnitRun",
    "packet_ref",
    "who",
]

#: ``by`` of the user: job control driven from outside (signals, pause, unpause).
USER = -2


def who(by: int) -> str:
    """Who did something: ``invocation 7``, ``the starter`` (0), ``AWS`` (-1) or ``the user``
    (-2).

    Example:
        >>> who(7), who(0), who(-1), who(-2)
        ('invocation 7', 'the starter', 'AWS', 'the user')
    """
    if by > 0:
        return f"invocation {by}"
    return {0: "the starter", USER: "the user"}.get(by, "AWS")


@attrs.frozen
class PacketRef:
    """What identifies a relay packet in a message body: its job, shard, hop and state."""

    job_id: str
    shard: int
    hop: int
    state: str


def packet_ref(body: str) -> PacketRef | None:
    """The packet a message body carries (``None``: not a relay packet).

    Example:
        >>> packet_ref('{"v": 1, "job_id": "j", "shard": 2, "hop": 5, "state": "relaying"}')
        PacketRef(job_id='j', shard=2, hop=5, state='relaying')
    """
    if not body.startswith("{"):
        return None
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("job_id"), str):
        return None
    shard, hop, state = raw.get("shard", 0), raw.get("hop", 0), raw.get("state", "")
    if not (isinstance(shard, int) and isinstance(hop, int) and isinstance(state, str)):
        return None
    return PacketRef(raw["job_id"], shard, hop, state)


@attrs.define(eq=False)
class CrashPlan:
    """Where an invocation is to be killed: at its ``at``-th AWS call or unit (``kind``);
    for a call, ``after`` it took effect or before it was made."""

    kind: str
    at: int
    after: bool = False


@attrs.define(eq=False)
class Invocation:
    """One invocation of the simulated Lambda, and how it went.

    ``outcome``: ``ok``, ``partial`` (some records failed), ``error`` (the handler raised),
    ``timeout`` or ``crash`` (killed).
    """

    id: int
    function: str
    mapping_id: str
    request_id: str
    message_ids: tuple[str, ...]
    depth: int
    crash: CrashPlan | None = None
    started: float = 0.0
    ended: float | None = None
    outcome: str = ""
    error: str = ""
    calls: int = 0
    units: int = 0
    unmapped: bool = False
    #: The last fault injected into it (a throttled call...), for the story.
    fault: str = ""
    #: When the poller received its batch (it is in flight from then on).
    received: float = 0.0
    #: The bodies of its batch (read by the checks that need to know which packets ran).
    bodies: tuple[str, ...] = ()

    @property
    def killed(self) -> bool:
        """Whether it was killed (a timeout or a crash)."""
        return self.outcome in ("timeout", "crash")

    def how(self) -> str:
        """How it ended, in a few words: ``crash: killed before SendMessage``."""
        why = self.error or self.fault
        return f"{self.outcome}: {why}" if why else self.outcome


@attrs.define(eq=False)
class UnitRun:
    """A call of ``step``: the shard and hop of the packet, the cursor, when and by whom;
    ``result`` (the next cursor, or DONE) once it ``completed`` (returned, not killed).

    A unit that returned a ``Sleep`` or a ``WaitFor`` keeps it in ``pause`` (its
    ``next_cursor`` is the ``result``). ``waited`` and ``wake_ms`` are the hop's packet's: the
    signal it waited for and when it was due (ms since the epoch; 0: now). ``signals`` are the
    job's signals as the unit saw them (``self.signals``), if it had any.
    """

    shard: int
    hop: int
    cursor: Any
    at: float
    by: int
    result: Any = None
    completed: bool = False
    ended: float = 0.0
    pause: Any = None
    waited: str = ""
    wake_ms: int = 0
    signals: Any = None


@attrs.frozen
class Commit:
    """A hop's end that became durable: with a ledger, its ``checkpoint`` or ``finish``
    (``fail``) accepted; without one, its next packet sent (``relay``), its failed packet
    parked (``fail``), or its ``on_done`` run (``finish``)."""

    shard: int
    hop: int
    kind: str
    at: float
    by: int


@attrs.frozen
class HookCall:
    """A call of ``on_done`` or ``on_failed`` (``kind``)."""

    kind: str
    shard: int
    hop: int
    at: float
    by: int


@attrs.frozen
class Sent:
    """A packet of the job sent to one of its queues (``role``: ``queue`` or ``dlq``);
    ``lost``: why it vanished (sent to a queue being deleted), else empty."""

    url: str
    role: str
    packet: PacketRef
    at: float
    by: int
    lost: str = ""


@attrs.frozen
class QueueDeleted:
    """A ``DeleteQueue`` of a queue that still answered, and the packets it took with it;
    ``effective``: the queue was live (not being deleted already)."""

    url: str
    role: str
    packets: tuple[PacketRef, ...]
    at: float
    by: int
    effective: bool = True


@attrs.frozen
class SignalSent:
    """The user's ``job.signal(name, payload)``, from ``at`` to ``ended``, and what came of it
    (``woke 1``, ``refused: ...``, ``failed: ...``)."""

    name: str
    payload: Any
    at: float
    ended: float
    outcome: str


@attrs.frozen
class SignalRecorded:
    """A signal the ledger recorded (the first of its name: the one that stands)."""

    name: str
    payload_json: str
    at: float


@attrs.define(eq=False)
class PauseSpan:
    """The user's ``job.pause()`` at ``at``, which returned at ``paused`` (``None``: it did not
    pause the job), and ``job.unpause()`` called at ``unpausing`` and returned at ``unpaused``
    (``None``: it did not unpause it), its call over at ``unpause_ended`` however it went;
    ``outcome`` says how each went."""

    at: float
    paused: float | None = None
    unpausing: float | None = None
    unpaused: float | None = None
    unpause_ended: float | None = None
    outcome: str = ""


@attrs.frozen
class Expired:
    """A message SQS dropped when it outlived the queue's ``MessageRetentionPeriod``: the
    packet it carried, when it was first sent (``enqueued``) and when it was dropped (``at``)."""

    url: str
    role: str
    packet: PacketRef
    enqueued: float
    at: float
    message_id: str = ""


@attrs.define
class Record:
    """Everything the invariants read of a run, and its story."""

    job_id: str = ""
    shards: int = 0
    #: Each shard's first cursor (frozen), as the starter planned it.
    first_cursors: list[Any] = attrs.Factory(list)
    ledgered: bool = False
    units: list[UnitRun] = attrs.Factory(list)
    commits: list[Commit] = attrs.Factory(list)
    sends: list[Sent] = attrs.Factory(list)
    hooks: list[HookCall] = attrs.Factory(list)
    deletes: list[QueueDeleted] = attrs.Factory(list)
    #: ``(time, by)`` of every ``mark_torn_down`` the ledger applied to a job not yet ended.
    marks: list[tuple[float, int]] = attrs.Factory(list)
    invocations: list[Invocation] = attrs.Factory(list)
    #: Faults injected, by kind: duplicate, crash, timeout, throttle, conflict, redrive...
    faults: collections.Counter[str] = attrs.Factory(collections.Counter)
    #: AWS calls that took effect, by operation.
    calls: collections.Counter[str] = attrs.Factory(collections.Counter)
    #: The user's signals, as sent; the ledger's, as recorded.
    signals_sent: list[SignalSent] = attrs.Factory(list)
    signals: list[SignalRecorded] = attrs.Factory(list)
    #: The user's pauses.
    pauses: list[PauseSpan] = attrs.Factory(list)
    #: ``(time, paused)`` each time the ledger's record of the job's ``paused`` changed.
    ledger_paused: list[tuple[float, bool]] = attrs.Factory(list)
    #: Packets of the job that SQS dropped (retention).
    expired: list[Expired] = attrs.Factory(list)
    _story: list[tuple[float, int, str]] = attrs.Factory(list)

    def say(self, at: float, by: int, text: str) -> None:
        """Add a line to the run's story."""
        self._story.append((at, by, text))

    def story(self) -> list[str]:
        """The run's story, one line an event, in virtual-time order."""
        return [
            f"{at:9.3f} s  {who(by)}: {text}"
            for at, by, text in sorted(self._story, key=lambda event: event[0])
        ]

    def by_invocation(self, by: int) -> Invocation | None:
        """Invocation number ``by`` (``None`` for the starter)."""
        if 1 <= by <= len(self.invocations):
            return self.invocations[by - 1]
        return None
