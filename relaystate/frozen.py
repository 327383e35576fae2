"""Deeply immutable JSON values, so that a frozen packet is frozen all the way down.

``attrs.evolve`` copies shallowly: a ``dict`` inside a frozen packet could still be changed through
any snapshot that shares it. :func:`freeze` turns JSON objects into :class:`FrozenDict` and arrays
into tuples; :func:`thaw` turns them back for ``json.dumps``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

from .errors import InvalidPacketError

__all__ = ["EMPTY", "FrozenDict", "JsonValue", "freeze", "thaw"]

#: Any value JSON can carry, as relaystate stores it (frozen) or accepts it (plain).
JsonValue: TypeAlias = Any


class FrozenDict(Mapping[str, Any]):
    """A read-only, hashable mapping of ``str`` keys to frozen JSON values.

    Example:
        >>> d = FrozenDict({"table": "users"})
        >>> d["table"]
        'users'
        >>> d["table"] = "x"
        Traceback (most recent call last):
        ...
        TypeError: 'FrozenDict' object does not support item assignment
    """

    __slots__ = ("_data", "_flat", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        items = dict(data or {})
        for key, value in items.items():
            if not isinstance(key, str):
                raise InvalidPacketError(f"JSON object keys must be strings, got {key!r}")
            items[key] = freeze(value, key)
        self._data: dict[str, Any] = items
        #: Every value is a scalar (a str, an int, a bool, None or a float): thawed by a copy.
        self._flat = False  # not worked out: thawed item by item
        self._hash: int | None = None

    @classmethod
    def _trusted(cls, items: dict[str, Any], flat: bool = False) -> FrozenDict:
        """Wrap a dict whose values are already frozen (and which nobody else holds);
        ``flat``: every value is a scalar (see :func:`thaw`)."""
        new = cls.__new__(cls)
        new._data = items
        new._flat = flat
        new._hash = None
        return new

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented


#: The empty JSON object, frozen: one serves every packet's empty object fields (the default
#: of each), so that a hop knows them by identity.
EMPTY = FrozenDict._trusted({}, flat=True)
#: How deep JSON values may nest in a packet (deeper ones are refused, not recursed into).
MAX_DEPTH = 64


def freeze(value: Any, where: str = "value", _depth: int = 0) -> Any:
    """Return ``value`` as a deeply immutable JSON value.

    Raises :class:`InvalidPacketError` naming ``where`` (a dotted path) when part of the value is
    not JSON: a non-``str`` key, a set, an object, NaN or infinity, a string that is not valid
    Unicode (a lone surrogate), or nesting deeper than :data:`MAX_DEPTH`.
    """
    kind = type(value)
    # The exact JSON types first (a hop freezes and thaws its packet's values every time): the
    # same answers as the general checks below, without their isinstance() of an ABC.
    if kind is int or kind is bool or value is None or kind is FrozenDict:
        return value
    if kind is dict and _depth < MAX_DEPTH:
        return _freeze_items(value, where, _depth)
    if kind is str or isinstance(value, str):
        if not value.isascii():  # only non-ASCII text can hold a lone surrogate
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidPacketError(
                    f"{where}: the string holds a lone surrogate, which is not valid Unicode",
                    field=where,
                ) from None
        return value
    if value is None or kind is int or kind is bool or kind is FrozenDict:
        return value
    if isinstance(value, bool | int | FrozenDict):
        return value
    if _depth >= MAX_DEPTH:
        raise InvalidPacketError(
            f"{where}: JSON nested deeper than {MAX_DEPTH} levels", field=where.split(".")[0]
        )
    if kind is float or (kind is not dict and isinstance(value, float)):
        if not math.isfinite(value):
            raise InvalidPacketError(f"{where}: {value!r} is not valid JSON", field=where)
        return value
    if kind is dict or isinstance(value, Mapping):
        return _freeze_items(value, where, _depth)
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return tuple(
            [
                item if _plain(item) else freeze(item, f"{where}[{i}]", _depth + 1)
                for i, item in enumerate(value)
            ]
        )
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    raise InvalidPacketError(
        f"{where}: {article} {name} is not a JSON value; use str, int, float, bool, "
        "None, lists and dicts",
        field=where,
    )


def _freeze_items(value: Mapping[Any, Any], where: str, _depth: int) -> FrozenDict:
    """A JSON object (``value``, at ``_depth``, not too deep) frozen: see :func:`freeze`."""
    items = {}
    flat = True
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidPacketError(
                f"{where}: JSON object keys must be strings, got {key!r}", field=where
            )
        if not key.isascii():
            freeze(key, where)  # a key must be valid Unicode too
        # A plain scalar is its own frozen form: no call, no path text to make for it.
        kind = type(item)
        if kind is int or kind is bool or item is None or (kind is str and item.isascii()):
            items[key] = item  # _plain(item), without a call for each value
        else:
            items[key] = frozen = freeze(item, f"{where}.{key}", _depth + 1)
            flat = flat and type(frozen) in _SCALARS
    frozen_dict = _new_frozen(FrozenDict)  # FrozenDict._trusted(items, flat), without a call
    frozen_dict._data, frozen_dict._flat, frozen_dict._hash = items, flat, None
    return frozen_dict


_new_frozen = object.__new__
#: The types of the JSON values that are their own plain form (what :func:`thaw` returns as
#: it is).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(item: Any) -> bool:
    """Whether ``freeze`` would return ``item`` as it is at any depth: an int, a bool, None or
    ASCII text (only non-ASCII text can hold a lone surrogate)."""
    kind = type(item)
    return kind is int or kind is bool or item is None or (kind is str and item.isascii())


def thaw(value: Any) -> Any:
    """The plain ``dict``/``list`` form of a frozen JSON value (for ``json.dumps``)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is FrozenDict:
        if value._flat:  # scalars only: the same dict, made by one copy
            return value._data.copy()
        return {key: thaw(item) for key, item in value._data.items()}
    if kind is tuple:
        return [thaw(item) for item in value]
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    return value
