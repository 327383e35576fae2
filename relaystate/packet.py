"""The relay packet: the checkpoint a hop hands to the next, and the size guard of its JSON.

:class:`RelayPacket` writes itself (:meth:`~RelayPacket.to_dict`, :meth:`~RelayPacket.to_json`);
what its JSON text may hold and how it is read back are :mod:`relaystate.wire`'s, and
:class:`Stats` is :mod:`relaystate.stats`'; both are importable from here too.

Example:
    >>> p = RelayPacket(job_id="j1", job_type="T", function_name="f", stats=Stats(units=3))
    >>> RelayPacket.from_json(p.to_json()).stats.units
    3
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import attrs
from attrs import NOTHING

from .clock import now_ms
from .errors import InvalidPacketError, PacketTooLargeError
from .evolve import evolver
from .frozen import EMPTY, FrozenDict, JsonValue, _freeze_items, freeze, thaw
from .states import JobState
from .stats import Stats, _non_negative
from .wire import (
    _WIRE_FIELDS,
    _WIRE_KEYS,
    WIRE_VERSION,
    _checked_fields,
    _npm_fields,
    _plain_values,
    encode,
    sqs_safe,
)

if TYPE_CHECKING:
    from .signing import PacketSigner

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "RelayPacket",
    "ShardPackets",
    "Stats",
    "sqs_safe",
]

#: SQS's largest message, the default ``MaximumMessageSize`` of new queues since 2025.
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576


def _state(value: JobState | str) -> JobState:
    if isinstance(value, JobState):
        return value
    try:
        return JobState(value)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise InvalidPacketError(
            f"state must be one of {names}; got {value!r}", field="state"
        ) from None


#: The default of an object field: one empty FrozenDict (immutable, so every packet can share it).
_EMPTY = EMPTY
#: The default of ``stats``: frozen too, so shared the same way.
_NO_STATS = Stats()
#: The fields a packet's JSON text may hold: the wire format's and its signature.
_SIGNED_KEYS = _WIRE_KEYS | {"sig"}
#: The fields that must be non-empty text.
_NAMED_BY = ("job_id", "job_type", "function_name")
#: Each state's wire text (``JobState.value`` is a property: one call per packet written).
_STATE_VALUES = {state: state.value for state in JobState}


def _as_is(value: Any) -> Any:
    """A frozen JSON value as the packet's encoder takes it (see :func:`relaystate.wire.encode`)."""
    return value


def _freeze_cursor(value: JsonValue) -> JsonValue:
    kind = type(value)
    if kind is int or kind is bool or value is None:  # freeze's first answer, without a call
        return value
    return freeze(value, "cursor")


def _freeze_object(value: Mapping[str, Any] | None, field: str) -> FrozenDict:
    if value is None or (type(value) is dict and not value):  # as frozen: the empty one
        return _EMPTY
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidPacketError(
            f"{field} must be a JSON object (a dict), got {type(value).__name__}", field=field
        )
    frozen: FrozenDict = freeze(value, field)
    return frozen


# One converter per object field, each a single call for a value that is frozen already (an
# evolved packet's unchanged fields, the defaults): a packet is made twice a hop.


def _freeze_data(value: Mapping[str, Any] | None) -> FrozenDict:
    kind = type(value)
    if kind is FrozenDict:
        return value  # type: ignore[return-value]  # it is one
    if kind is dict and value:  # the job's data, every hop: what _freeze_object would do
        return _freeze_items(value, "data", 0)
    return _freeze_object(value, "data")


def _freeze_timing(value: Mapping[str, Any] | None) -> FrozenDict:
    return value if type(value) is FrozenDict else _freeze_object(value, "timing")


def _freeze_rate(value: Mapping[str, Any] | None) -> FrozenDict:
    return value if type(value) is FrozenDict else _freeze_object(value, "rate")


def _freeze_options(value: Mapping[str, Any] | None) -> FrozenDict:
    return value if type(value) is FrozenDict else _freeze_object(value, "options")


def _freeze_result(value: JsonValue) -> JsonValue:
    return freeze(value, "result")


def _freeze_signals(value: Mapping[str, Any] | None) -> FrozenDict:
    return value if type(value) is FrozenDict else _freeze_object(value, "signals")


def _freeze_offloaded(value: Mapping[str, Any] | None) -> FrozenDict:
    return value if type(value) is FrozenDict else _freeze_object(value, "offloaded")


def _freeze_progress(value: Mapping[str, Any] | None) -> FrozenDict:
    return value if type(value) is FrozenDict else _freeze_object(value, "progress")


#: A W3C ``traceparent`` header: version, trace id, parent span id, flags (lower-case hex).
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _traceparent(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value and not (isinstance(value, str) and _TRACEPARENT.fullmatch(value)):
        raise InvalidPacketError(
            f"traceparent must be empty or a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>), "
            f"got {value!r}",
            field="traceparent",
        )


@attrs.frozen(kw_only=True, slots=False)  # fields in __dict__: evolve() copies it in one call
class RelayPacket:
    """An immutable snapshot of a relay job: what the next hop needs to go on.

    Each hop makes a new packet with :meth:`evolve`; ``cursor`` and ``data`` are deeply frozen
    (``FrozenDict`` and tuples), so no snapshot can change another.

    Example:
        >>> p = RelayPacket(job_id="j1", job_type="CopyRows", function_name="copy-rows-worker",
        ...                 queue_url="https://sqs.example/q", cursor=0, data={"table": "users"})
        >>> p2 = p.evolve(hop=p.hop + 1, cursor=100)
        >>> (p.cursor, p2.cursor, p2.data["table"])
        (0, 100, 'users')
        >>> RelayPacket.from_json(p2.to_json()) == p2
        True
    """

    version: int = WIRE_VERSION
    job_id: str
    job_type: str
    function_name: str
    queue_url: str = ""
    dlq_url: str = ""
    mapping_id: str = ""
    shard: int = attrs.field(default=0, validator=_non_negative)
    shards: int = 1
    hop: int = attrs.field(default=0, validator=_non_negative)
    state: JobState = attrs.field(default=JobState.QUEUED, converter=_state)
    cursor: JsonValue = attrs.field(default=None, converter=_freeze_cursor)
    data: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_data)
    stats: Stats = _NO_STATS
    #: What the hop budget learned (unit-time histogram, send latency), for the next hop.
    timing: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_timing)
    #: The rate limiter's state (next permit time, quota window and use), for the next hop.
    rate: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_rate)
    #: Job options given to the starter's constructor (``max_hops``...), applied on the worker.
    options: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_options)
    #: Hops in a row that ended in a unit error (the retry policy's count; 0 after a good hop).
    attempt: int = attrs.field(default=0, validator=_non_negative)
    #: The hop that sent this packet ended its work (``step`` returned DONE) with too little
    #: time left for the teardown: the next hop runs no unit, it only finishes.
    finishing: bool = False
    #: When the next unit is due, in ms since the epoch (a ``Sleep``, a ``WaitFor``'s deadline):
    #: a hop that gets the packet earlier runs no unit; it relays it on, delayed (0: no wait).
    wake_ms: int = attrs.field(default=0, validator=_non_negative)
    #: The signal the shard waits for (``WaitFor``), or ``""``.
    waiting: str = ""
    #: The signals the job has received, by name (what ``self.signals`` holds in ``step``).
    signals: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_signals)
    #: The version of the job class that made the packet (``RelayJob.version``).
    job_version: str = ""
    #: The shard's result so far (``self.result`` in ``step``), for ``on_join``.
    result: JsonValue = attrs.field(default=None, converter=_freeze_result)
    #: Why the job failed (``repr`` of the error), set on a FAILED packet.
    error: str = ""
    created_ms: int = attrs.field(factory=now_ms)
    updated_ms: int = attrs.field(factory=now_ms)
    # -- offload and progress (relaystate.offload, relaystate.progress) ------------------------
    #: The claim checks of what the job keeps in S3 (``S3Offload``), by field (``data``,
    #: ``cursor``): ``{"key", "sha256", "bytes"}``. A field named here is empty in the packet.
    offloaded: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_offloaded)
    #: The shard's progress when the packet was made (``RelayJob.progress``): ``{"done",
    #: "total", "since_ms", "since_done"}`` (see :mod:`relaystate.progress`).
    progress: FrozenDict = attrs.field(default=_EMPTY, converter=_freeze_progress)

    # -- tracing (relaystate.tracing) --
    #: The W3C ``traceparent`` of the span that sent this packet (the start, or the hop
    #: before): the next hop's span is its child, so that a job is one trace. ``""``: untraced.
    traceparent: str = attrs.field(default="", validator=_traceparent)

    def __attrs_post_init__(self) -> None:
        if self.version != WIRE_VERSION:
            raise InvalidPacketError(
                f"version {self.version!r} is not a wire version this relaystate reads "
                f"(it reads {WIRE_VERSION}); upgrade relaystate on the worker",
                field="version",
            )
        if not isinstance(self.shards, int) or self.shards < 1 or self.shard >= self.shards:
            raise InvalidPacketError(
                f"shard {self.shard!r} of {self.shards!r}: need 0 <= shard < shards",
                field="shards",
            )
        values = self.__dict__
        for name in _NAMED_BY:
            value = values[name]
            if not value or (type(value) is not str and not isinstance(value, str)):
                raise InvalidPacketError(f"{name} must be a non-empty string", field=name)

    def evolve(self, **changes: Any) -> RelayPacket:
        """A new snapshot with ``changes`` applied and ``updated_ms`` set to now."""
        return self._evolved(changes)

    def _evolved(self, changes: dict[str, Any]) -> RelayPacket:
        """:meth:`evolve`, the changes given as a dict (which it may add ``updated_ms`` to)."""
        if "updated_ms" not in changes:
            changes["updated_ms"] = now_ms()
        return _evolve(self, changes)

    # -- wire format -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The packet as plain JSON-ready values (``dict``/``list``)."""
        return self._fields(thaw)

    def _fields(self, plain: Callable[[Any], Any] | None) -> dict[str, Any]:
        """The packet's wire fields, each JSON value made ``plain``: thawed for
        :meth:`to_dict`, or (``None``) as it is for the encoder, which writes frozen values
        too."""
        cursor: Any = self.cursor
        data: Any = self.data
        if plain is None:  # every hop's: the cursor and data without a call each
            plain = _as_is
            if type(data) is FrozenDict:
                data = data._data  # what the encoder's default would hand it, without the call
        else:
            cursor, data = plain(cursor), plain(data)
        raw = {
            "v": self.version,
            "job_id": self.job_id,
            "job_type": self.job_type,
            "function": self.function_name,
            "queue_url": self.queue_url,
            "dlq_url": self.dlq_url,
            "mapping_id": self.mapping_id,
            "shard": self.shard,
            "shards": self.shards,
            "hop": self.hop,
            "state": _STATE_VALUES[self.state],
            "cursor": cursor,
            "data": data,
            "stats": self.stats.to_dict(),
        }
        # The optional fields only when set, in this order (the JSON text keeps it). An object
        # field is mostly the shared empty one: known by identity, without a call of __len__.
        if self.timing is not _EMPTY and self.timing:
            raw["timing"] = plain(self.timing)
        if self.rate is not _EMPTY and self.rate:
            raw["rate"] = plain(self.rate)
        if self.options is not _EMPTY and self.options:
            raw["options"] = plain(self.options)
        if self.attempt:
            raw["attempt"] = self.attempt
        if self.finishing:
            raw["finishing"] = True
        if self.wake_ms:
            raw["wake_ms"] = self.wake_ms
        if self.waiting:
            raw["waiting"] = self.waiting
        if self.signals is not _EMPTY and self.signals:
            raw["signals"] = plain(self.signals)
        if self.result is not None:
            raw["result"] = plain(self.result)
        if self.job_version:
            raw["job_version"] = self.job_version
        if self.error:
            raw["error"] = self.error
        raw["created_ms"] = self.created_ms
        raw["updated_ms"] = self.updated_ms
        if self.offloaded is not _EMPTY and self.offloaded:
            raw["offloaded"] = plain(self.offloaded)
        if self.progress is not _EMPTY and self.progress:
            raw["progress"] = plain(self.progress)
        if self.traceparent:
            raw["traceparent"] = self.traceparent
        return raw

    def to_json(self, signer: PacketSigner | None = None) -> str:
        """The packet as compact JSON text: what goes into the SQS message body.

        With a ``signer`` the text carries its HMAC signature (``sig``).
        """
        if signer is not None:
            return sqs_safe(encode(signer.sign(self.to_dict())))
        return sqs_safe(encode(self._fields(None)))

    def size_bytes(self) -> int:
        """The size of :meth:`to_json` in UTF-8 bytes, as SQS counts it."""
        return len(self.to_json().encode("utf-8"))

    def check_size(
        self, limit: int = DEFAULT_MAX_MESSAGE_BYTES, signer: PacketSigner | None = None
    ) -> str:
        """Return :meth:`to_json`, or raise :class:`PacketTooLargeError` if it exceeds ``limit``."""
        body = self.to_json(signer)
        size = len(body) if body.isascii() else len(body.encode("utf-8"))
        if size > limit:
            raise PacketTooLargeError(size, limit)
        return body

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RelayPacket:
        """Read a packet from its dict form (this library's or the npm library's).

        Raises:
            InvalidPacketError: naming the field at fault.
        """
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise InvalidPacketError(
                f"a relay packet is a JSON object, got {type(raw).__name__}", field=None
            )
        if "v" not in raw and "QueueUrl" in raw:
            return cls(**_npm_fields(raw))
        if "v" not in raw:
            raise InvalidPacketError("not a relay packet: no 'v' (wire version) field", field="v")
        # A signature is checked by the job. (A subset test first: no set made for a packet
        # with no field to name.)
        unknown = set() if raw.keys() <= _SIGNED_KEYS else set(raw) - _SIGNED_KEYS
        if unknown:
            raise InvalidPacketError(
                f"unknown field(s) {sorted(unknown)} in a version-{raw['v']!r} packet",
                field=sorted(unknown)[0],
            )
        quick = _plain_packet(raw)
        if quick is not None:
            return quick
        kwargs = _checked_fields(raw)  # something to refuse, or to look at closer
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - guarded by the checks above
            raise InvalidPacketError(str(exc)) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> RelayPacket:
        """Read a packet from its JSON text.

        Example:
            >>> RelayPacket.from_json('{"QueueUrl": "https://q", "UUID": "m-1", "n": 5}').data
            FrozenDict({'n': 5})

        Raises:
            InvalidPacketError: the text is not JSON, or not a packet; names the field at fault.
        """
        return cls.from_dict(cls.load_json(text))

    @staticmethod
    def load_json(text: str | bytes) -> Any:
        """The JSON value of a message body, before it is read as a packet.

        Raises:
            InvalidPacketError: the text is not JSON.
        """
        if type(text) is str and text[:1] == "{":  # as relaystate writes it: every hop's body
            try:
                value, end = _scan_once(text, 0)
            except (ValueError, StopIteration, RecursionError):
                value, end = None, -1  # json.loads says what is wrong with it
            if end == len(text):
                return value
        try:
            return json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise InvalidPacketError(f"not a relay packet: the body is not JSON ({exc})") from exc


#: json's scanner (its C one where there is one), called without ``json.loads``' two Python
#: layers around it: a body that is one JSON object and nothing after it is read by it alone.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
#: :meth:`RelayPacket.evolve` without its ``updated_ms``: what changes is converted and checked.
_evolve = evolver(
    RelayPacket, post_init_reads=frozenset({"version", "shard", "shards", *_NAMED_BY})
)
#: The fields a packet read from the wire starts from, in field order: their defaults (the
#: times are given, or set to now as their factories do; the named fields are always given).
_WIRE_DEFAULTS = {
    field.name: "" if field.default is NOTHING else field.default
    for field in attrs.fields(RelayPacket)
}
_WIRE_DEFAULTS.update(created_ms=0, updated_ms=0)
#: wire text -> state.
_STATE_OF: dict[Any, JobState] = {state.value: state for state in JobState}
#: The fields that hold JSON, frozen when read, in field order (the wire's order is the
#: fields'): (name, whether it holds an object) -- the wire's objects but the stats, and the
#: fields of any JSON value.
_JSON_FIELDS = tuple(
    (name, kind is dict)
    for _, name, kind in _WIRE_FIELDS
    if kind is None or (kind is dict and name != "stats")
)


def _plain_packet(raw: Mapping[str, Any]) -> RelayPacket | None:
    """The packet of ``raw`` when it is as relaystate writes it and passes every check (what
    ``RelayPacket(**fields)`` would make, its fields set at once: this is every hop's reading);
    ``None`` for anything else, which the checked way reads or refuses with its error."""
    values = _plain_values(raw, _WIRE_DEFAULTS)
    if values is None:
        return None
    state = values["state"]
    state = _STATE_OF.get(state) if type(state) is str else state
    if state is None:
        return None
    values["state"] = state
    # The converters, in field order as the constructor runs them (of two faulty values, the
    # one it names is named): JSON values frozen (a plain scalar is its own frozen form).
    for name, is_object in _JSON_FIELDS:
        value = values[name]
        if is_object:
            if type(value) is dict:  # _freeze_object's answer for a dict, without its calls
                values[name] = _freeze_items(value, name, 0) if value else _EMPTY
            continue
        kind = type(value)  # any JSON value: a plain scalar is its own frozen form
        if not (kind is int or kind is bool or value is None or (kind is str and value.isascii())):
            values[name] = freeze(value, name)
    # The validators and __attrs_post_init__, as checks: what fails them goes the checked way.
    shards = values["shards"]
    if (
        values["version"] != WIRE_VERSION
        or values["shard"] < 0
        or values["hop"] < 0
        or values["attempt"] < 0
        or values["wake_ms"] < 0
        or shards < 1
        or values["shard"] >= shards
        or not (values["job_id"] and values["job_type"] and values["function_name"])
        or (values["traceparent"] and not _TRACEPARENT.fullmatch(values["traceparent"]))
    ):
        return None
    if "created_ms" not in raw:
        values["created_ms"] = now_ms()
    if "updated_ms" not in raw:
        values["updated_ms"] = now_ms()
    packet = object.__new__(RelayPacket)
    packet.__dict__.update(values)
    return packet


class ShardPackets(Sequence[RelayPacket]):
    """The first packets of a fan-out, made on access from a template and the shards' cursors.

    Holds the cursors only, so 100,000 shards cost their cursors, not 100,000 packets.
    """

    def __init__(self, template: RelayPacket, cursors: Sequence[Any]) -> None:
        self.template = template
        self.cursors = cursors

    def __len__(self) -> int:
        return len(self.cursors)

    @overload
    def __getitem__(self, index: int) -> RelayPacket: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[RelayPacket]: ...
    def __getitem__(self, index: int | slice) -> RelayPacket | Sequence[RelayPacket]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return _evolve(
            self.template, {"shard": index, "shards": len(self), "cursor": self.cursors[index]}
        )

    def __iter__(self) -> Iterator[RelayPacket]:
        for index in range(len(self)):
            yield self[index]
