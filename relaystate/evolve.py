"""``attrs.evolve`` for the frozen records a hop makes anew every time: a packet, its stats.

``attrs.evolve`` is generic: it reads every field of the instance by name and calls the class's
``__init__`` with all of them, which converts and validates every field again -- a hop makes
its next packet that way, and the stats twice. The evolver of a frozen attrs class that keeps
its fields in ``__dict__`` (``slots=False``) copies that dict in one call and converts and
validates only what changes; the class's ``__attrs_post_init__`` (its checks across fields)
runs as in ``__init__``. Same result, same errors: a field name the class does not have raises
:class:`TypeError`, as ``attrs.evolve`` does.

Example:
    >>> import attrs
    >>> @attrs.frozen(slots=False)
    ... class Point:
    ...     x: int = attrs.field(converter=int)
    ...     y: int = 0
    >>> move = evolver(Point)
    >>> move(Point(x=1), {"x": "2"})
    Point(x=2, y=0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

__all__ = ["evolver"]

T = TypeVar("T")
#: How many sets of changed fields an evolver remembers what to do for.
MAX_PLANS = 256
#: What an evolve runs: the converters and the validators of the changed fields, in field
#: order, and the class's checks across fields if they run (else ``None``).
_Plan = tuple[
    tuple[tuple[str, Callable[[Any], Any]], ...],
    tuple[tuple[str, Any, Callable[[Any, Any, Any], Any]], ...],
    Callable[[Any], None] | None,
]


def evolver(
    cls: type[T], *, post_init_reads: frozenset[str] | None = None
) -> Callable[[T, Mapping[str, Any]], T]:
    """A function ``(instance, changes) -> new instance`` equal to ``attrs.evolve``'s.

    ``post_init_reads``: the only fields the class's ``__attrs_post_init__`` reads. When none
    of them changes, its checks would find what they found on ``instance``, which passed them:
    they are not run again (``None``: they run on every evolve).

    Raises:
        TypeError: ``cls`` keeps its fields in slots (there is no ``__dict__`` to copy), or
            has a converter that takes more than the value.
    """
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} keeps its fields in slots: declare it slots=False")
    fields = {field.name: field for field in attrs.fields(cls)}  # type: ignore[arg-type]
    converters: list[tuple[str, Callable[[Any], Any]]] = []  # in field order, as __init__
    for name, field in fields.items():
        if field.converter is None:
            continue
        if not callable(field.converter) or isinstance(field.converter, attrs.Converter):
            raise TypeError(f"{cls.__qualname__}.{name}: only plain one-argument converters")
        converters.append((name, field.converter))
    validators = [
        (name, field, field.validator) for name, field in fields.items() if field.validator
    ]
    post_init: Callable[[Any], None] | None = getattr(cls, "__attrs_post_init__", None)
    new_object = object.__new__
    # What an evolve with these changed fields runs, by their names in the order given: a
    # hop changes the same fields every time. Bounded: callers name their changes in code.
    plans: dict[tuple[str, ...], _Plan] = {}

    def plan_for(names: tuple[str, ...]) -> _Plan:
        if not set(names) <= fields.keys():
            unknown = [name for name in names if name not in fields]
            raise TypeError(f"{cls.__qualname__} has no field(s) {unknown}")
        plan = (
            tuple((name, convert) for name, convert in converters if name in names),
            tuple((name, field, validate) for name, field, validate in validators if name in names),
            post_init if post_init_reads is None or not post_init_reads.isdisjoint(names) else None,
        )
        if len(plans) < MAX_PLANS:
            plans[names] = plan
        return plan

    def evolve(instance: T, changes: Mapping[str, Any]) -> T:
        names = tuple(changes)
        plan = plans.get(names) or plan_for(names)
        new = new_object(type(instance))
        values = new.__dict__
        values.update(instance.__dict__)
        values.update(changes)
        # What __init__ does, in its order, for the fields that change: convert each, then
        # validate each once all are set.
        converting, validating, checks = plan
        for name, convert in converting:
            values[name] = convert(values[name])
        for name, field, validate in validating:
            validate(new, field, values[name])
        if checks is not None:
            checks(new)
        return new

    return evolve
