"""The relay packet's wire format: its version, the fields its JSON text may hold, and how a
packet's dict form is read back into :class:`~relaystate.packet.RelayPacket`'s arguments.

:meth:`RelayPacket.from_dict <relaystate.packet.RelayPacket.from_dict>` reads a packet the quick
way first (:func:`_plain_values`: every field of its exact wire type, ASCII text, as relaystate
writes them: the hop's hot path), and anything else field by field in wire order
(:func:`_checked_fields`), which names the first field at fault; a packet of the npm
``awsLambdaRelay`` helper is read by :func:`_npm_fields`. Writing is the packet's own
(:meth:`~relaystate.packet.RelayPacket.to_dict`), with this module's encoder and
:func:`sqs_safe`.

Example:
    >>> _plain_values({"v": 1, "job_id": "j1", "job_type": "T", "function": "f"}, {"hop": 0})
    {'hop': 0, 'version': 1, 'job_id': 'j1', 'job_type': 'T', 'function_name': 'f'}
    >>> _npm_fields({"QueueUrl": "https://sqs.example/1/relay-q", "n": 5})["data"]
    {'n': 5}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidPacketError
from .frozen import FrozenDict, freeze
from .names import queue_name_of
from .states import JobState
from .stats import _STATS_FIELDS, Stats, _trusted_stats

__all__ = ["WIRE_VERSION", "sqs_safe"]

#: The wire format this version writes and reads.
WIRE_VERSION = 1


#: What SQS refuses in a message body (``InvalidMessageContents``) and ``json.dumps`` with
#: ``ensure_ascii=False`` would still write raw: SQS allows only #x9, #xA, #xD, #x20-#xD7FF,
#: #xE000-#xFFFD and #x10000-#x10FFFF; JSON escapes the other control characters itself, and
#: lone surrogates are refused when a value is frozen.
_SQS_REFUSES = str.maketrans({"\ufffe": "\\ufffe", "\uffff": "\\uffff"})


def sqs_safe(text: str) -> str:
    r"""JSON text with the characters SQS refuses written as ``\uXXXX`` escapes: still the
    same JSON value, since they can only stand inside strings.

    Example:
        >>> sqs_safe(json.dumps({"a": "x" + chr(0xFFFF)}, ensure_ascii=False))
        '{"a": "x\\uffff"}'
    """
    if "\ufffe" not in text and "\uffff" not in text:  # nearly always: no copy made
        return text
    return text.translate(_SQS_REFUSES)


_REQUIRED = frozenset({"v", "job_id", "job_type", "function"})
_WIRE_FIELDS: tuple[tuple[str, str, type | tuple[type, ...] | None], ...] = (
    ("v", "version", int),
    ("job_id", "job_id", str),
    ("job_type", "job_type", str),
    ("function", "function_name", str),
    ("queue_url", "queue_url", str),
    ("dlq_url", "dlq_url", str),
    ("mapping_id", "mapping_id", str),
    ("shard", "shard", int),
    ("shards", "shards", int),
    ("hop", "hop", int),
    ("state", "state", str),
    ("cursor", "cursor", None),
    ("data", "data", dict),
    ("stats", "stats", dict),
    ("timing", "timing", dict),
    ("rate", "rate", dict),
    ("options", "options", dict),
    ("attempt", "attempt", int),
    ("finishing", "finishing", bool),
    ("wake_ms", "wake_ms", int),
    ("waiting", "waiting", str),
    ("signals", "signals", dict),
    ("result", "result", None),
    ("job_version", "job_version", str),
    ("error", "error", str),
    ("created_ms", "created_ms", int),
    ("updated_ms", "updated_ms", int),
    ("offloaded", "offloaded", dict),
    ("progress", "progress", dict),
    ("traceparent", "traceparent", str),
)
_WIRE_KEYS = frozenset(wire for wire, _, _ in _WIRE_FIELDS)
#: wire name -> (field name, the exact type relaystate writes it as; ``None``: any JSON).
_WIRE_SPECS = {wire: (name, kind) for wire, name, kind in _WIRE_FIELDS}
#: What :func:`_plain_values` reads by: :data:`_WIRE_SPECS`, and the signature (skipped).
_PLAIN_SPECS: dict[str, tuple[str, type | tuple[type, ...] | None] | None] = {
    **_WIRE_SPECS,
    "sig": None,
}


def _frozen_object(value: Any) -> Any:
    """The encoder's ``default``: a :class:`~relaystate.frozen.FrozenDict` is written as the
    dict it holds (a frozen array is a tuple, which JSON writes as a list), so that a packet is
    written without being thawed first; any other mapping (a subclass of ``FrozenDict``, which
    :func:`~relaystate.frozen.freeze` keeps as it is) as its items, as
    :func:`~relaystate.frozen.thaw` reads it."""
    if type(value) is FrozenDict:
        return value._data
    if isinstance(value, Mapping):
        return dict(value.items())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: What :meth:`RelayPacket.to_json` writes with: compact, UTF-8 as it is, frozen values too.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_frozen_object)


def _c_encoder() -> Callable[[Any], str] | None:
    """``_ENCODER.encode`` for a packet's dict as the C encoder writes it, made once:
    ``JSONEncoder.encode`` makes a C encoder (and its cycle-check dict) on every call. No
    cycle check: a packet's dict is a tree of frozen values, which cannot hold themselves
    (:func:`_frozen_object` writes its ``FrozenDict``). ``None`` where
    there is no C encoder."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return None
    encoder = _ENCODER
    chunks = make(
        None,
        encoder.default,
        json.encoder.encode_basestring,
        encoder.indent,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )
    return lambda raw: "".join(chunks(raw, 0))


#: A packet's dict as JSON text: the C encoder made once, else ``_ENCODER.encode``.
encode: Callable[[Any], str] = _c_encoder() or _ENCODER.encode
_KIND_NAMES: dict[Any, str] = {
    int: "a whole number",
    str: "a string",
    dict: "a JSON object",
    bool: "true or false",
}


#: The stats' wire names as relaystate writes them: its field names.
_STATS_KEYS = frozenset(_STATS_FIELDS)


def _stats_from(raw: Any, *, relays_key: str) -> Stats:
    if relays_key == "relays" and type(raw) is dict and raw.keys() <= _STATS_KEYS:
        for value in raw.values():
            if type(value) is not int or value < 0:
                break
        else:
            return _trusted_stats(raw)  # as relaystate writes them: the checks below would pass
    if not isinstance(raw, Mapping):
        raise InvalidPacketError("stats must be a JSON object", field="stats")
    names = {
        "hops": "hops",
        relays_key: "relays",
        "units": "units",
        "work_ms": "work_ms",
        "retries": "retries",
        "waits": "waits",
    }
    values = {}
    for wire, name in names.items():
        if wire in raw:
            value = raw[wire]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidPacketError(
                    f"stats.{wire} must be a whole number >= 0, got {value!r}",
                    field=f"stats.{wire}",
                )
            values[name] = value
    return Stats(**values)


def _plain_values(raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any] | None:
    """A packet's field values -- ``defaults`` (by field name) with the wire's fields over
    them, the stats read -- when every field is of its exact wire type with ASCII text (as
    relaystate writes them, no key but theirs and the signature); ``None`` for anything else,
    which :func:`_checked_fields` then reads field by field (and refuses with the same error).
    What needs converting (the JSON objects, the state) is left to the caller."""
    if not _REQUIRED <= raw.keys():
        return None
    values = dict(defaults)
    specs = _PLAIN_SPECS
    try:
        for wire, value in raw.items():
            spec = specs[wire]  # (a subscript: quicker than get() for the dozen keys a hop)
            if spec is None:
                continue  # the signature
            name, kind = spec
            if kind is not None and type(value) is not kind:
                return None
            if kind is str and not value.isascii():
                return None
            values[name] = value
    except KeyError:  # not a field of the wire: the checked way says so
        return None
    if "stats" in raw:
        values["stats"] = _stats_from(raw["stats"], relays_key="relays")
    return values


def _checked_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments of a packet, checked field by field in wire order.

    Raises:
        InvalidPacketError: the first field that is missing or of the wrong type.
    """
    kwargs: dict[str, Any] = {}
    for wire, name, kind in _WIRE_FIELDS:
        if wire not in raw:
            if wire in _REQUIRED:
                raise InvalidPacketError(f"missing field {wire!r}", field=wire)
            continue
        value = raw[wire]
        if kind is not None and not (
            isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        ):
            raise InvalidPacketError(
                f"field {wire!r} must be {_KIND_NAMES[kind]}, got {type(value).__name__}",
                field=wire,
            )
        kwargs[name] = value
    if "stats" in kwargs:
        kwargs["stats"] = _stats_from(kwargs["stats"], relays_key="relays")
    for name, value in kwargs.items():
        if isinstance(value, str):
            freeze(value, name)  # refuses a lone surrogate: it could never be sent
    return kwargs


_NPM_KEYS = frozenset({"QueueUrl", "UUID", "stats"})


def _npm_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments of a packet written by the npm ``awsLambdaRelay`` helper:
    QueueUrl, UUID, stats.sqsCount."""
    queue_url = raw["QueueUrl"]
    if not isinstance(queue_url, str) or not queue_url:
        raise InvalidPacketError("QueueUrl must be a non-empty string", field="QueueUrl")
    mapping_id = raw.get("UUID", "")
    if not isinstance(mapping_id, str):
        raise InvalidPacketError("UUID must be a string", field="UUID")
    freeze(queue_url, "QueueUrl")
    freeze(mapping_id, "UUID")
    stats = _stats_from(raw.get("stats", {}), relays_key="sqsCount")
    data = {key: value for key, value in raw.items() if key not in _NPM_KEYS}
    return {
        "job_id": queue_name_of(queue_url),
        "job_type": "npm",
        "function_name": str(raw.get("FunctionName", "")) or "unknown",
        "queue_url": queue_url,
        "mapping_id": mapping_id,
        "hop": stats.relays,
        "state": JobState.RELAYING if stats.relays else JobState.QUEUED,
        "data": data,
        "stats": stats,
    }
