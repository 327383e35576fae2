"""The messages a simulated queue holds, indexed so that a receive costs ``log n``: :class:`Held`.

A mapping of key to :class:`~relaystate.testing.sim.message.SimMessage`, in the order the
messages came (as a ``dict`` keeps them), with three indexes kept as the queue changes::

    visible     the slots (places in arrival order) of the visible messages, by rank: a
                receive draws "the i-th visible message" as it always did, from a Fenwick
                tree (:class:`~relaystate.testing.sim.ranks.Ranks`) instead of a list of
                every visible message made on each receive
    hidden      a heap of the messages not yet visible, by when they become visible, and how
                many of them are in flight (received) rather than delayed: the counts are
                read, not counted
    age         a heap of the messages by when they were first sent: what outlived the
                queue's retention is found from its top

Why not a list made on each receive: a fan-out of ``n`` shards puts ``n`` messages in one
queue, each receive scanned all of them and each change of the queue counted all of them
again, and 100,000 shards did not end in 600 s (issue 15).

Visibility moves on with the virtual clock: :meth:`Held.settle` shows what became visible up
to a time (every read does it). The clock of a run only goes forward; if it is ever read
backwards, the index is rebuilt from the messages, so that what it says stays exact.

A receive must pick among the messages visible when it began, as it always did, even if one
becomes visible while it goes on (a visibility of 0, a duplicate due at once): inside
:meth:`Held.receiving`, what becomes visible waits until the receive ends.

Example:
    >>> from relaystate.testing.sim.message import SimMessage
    >>> held = Held()
    >>> for key in (1, 2, 3):
    ...     held[key] = SimMessage(key, f"m-{key}", "x", sent_at=0.0, visible_at=key * 10.0)
    >>> held.counts(15.0)  # (visible, in flight, delayed)
    (1, 0, 2)
    >>> with held.receiving(25.0):
    ...     first = held.pick(1)  # the second visible message, in arrival order
    ...     first.receipt += 1
    ...     held.hide(first, 55.0)
    >>> first.key, held.counts(25.0), held.sent_by(0.0) == list(held.values())
    (2, (1, 1, 1), True)
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Iterator, MutableMapping, ValuesView

from .message import SimMessage
from .ranks import Ranks

__all__ = ["Held"]

#: The fewest slots an index is made with.
_MIN_SLOTS = 64


class Held(MutableMapping[int, SimMessage]):
    """A queue's messages by key, in arrival order, indexed (see the module's documentation).

    A message is put in with ``held[key] = message`` and taken out with ``del``, ``pop`` or
    ``clear``, as in a ``dict``; its visibility changes with :meth:`hide`.
    """

    def __init__(self) -> None:
        self._messages: dict[int, SimMessage] = {}
        #: The time the index is settled to: what is due by then is visible.
        self._now = float("-inf")
        #: key -> slot, the message's place in arrival order (slots are renumbered, in order,
        #: when they run out).
        self._slot: dict[int, int] = {}
        #: slot -> key (None: its message was deleted).
        self._keys: list[int | None] = []
        self._visible = Ranks(_MIN_SLOTS)
        #: key -> (its entry in _due, whether it is in flight) of every message not visible.
        self._hidden: dict[int, tuple[int, bool]] = {}
        self._in_flight = 0
        #: (visible_at, entry, key); an entry not in _hidden any more is stale.
        self._due: list[tuple[float, int, int]] = []
        #: (sent_at, entry, key, message); one whose message is not held any more is stale.
        self._by_age: list[tuple[float, int, int, SimMessage]] = []
        self._entries = itertools.count()
        #: Keys taken out of _visible during a receive, or shown during it (None: no receive).
        self._receiving: list[int] | None = None

    # -- the mapping ----------------------------------------------------------------------------

    def __getitem__(self, key: int) -> SimMessage:
        return self._messages[key]

    def __setitem__(self, key: int, message: SimMessage) -> None:
        slot = self._slot.get(key)
        if slot is not None:  # replaced: it keeps its place, as in a dict
            self._forget(key)
        else:
            slot = self._new_slot()
        self._slot[key] = slot
        self._keys[slot] = key
        self._messages[key] = message
        self._place(key, message)
        heapq.heappush(self._by_age, (message.sent_at, next(self._entries), key, message))

    def __delitem__(self, key: int) -> None:
        del self._messages[key]
        self._forget(key)
        self._keys[self._slot.pop(key)] = None

    def __iter__(self) -> Iterator[int]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def __contains__(self, key: object) -> bool:
        return key in self._messages

    def __repr__(self) -> str:
        return repr(self._messages)

    def get(self, key: int, default: SimMessage | None = None) -> SimMessage | None:  # type: ignore[override]
        """The message of ``key``, or ``default`` (as fast as a dict's)."""
        return self._messages.get(key, default)

    def values(self) -> ValuesView[SimMessage]:
        """The messages, in arrival order."""
        return self._messages.values()

    def clear(self) -> None:
        """Drop every message (DeleteQueue)."""
        self._messages.clear()
        self._slot.clear()
        self._keys.clear()
        self._visible = Ranks(_MIN_SLOTS)
        self._hidden.clear()
        self._in_flight = 0
        self._due.clear()
        self._by_age.clear()
        if self._receiving is not None:
            self._receiving.clear()

    # -- visibility -----------------------------------------------------------------------------

    def settle(self, now: float) -> None:
        """Show what became visible by ``now``."""
        if now < self._now:
            self._rebuild(now)
            return
        self._now = now
        due, hidden = self._due, self._hidden
        while due and due[0][0] <= now:
            _, entry, key = heapq.heappop(due)
            found = hidden.get(key)
            if found is None or found[0] != entry:
                continue  # stale: the message was received, hidden again or deleted since
            del hidden[key]
            if found[1]:
                self._in_flight -= 1
            self._show(key)

    def counts(self, now: float) -> tuple[int, int, int]:
        """``(visible, in flight, delayed)`` messages, exactly, at ``now``."""
        self.settle(now)
        hidden = len(self._hidden)
        return len(self._messages) - hidden, self._in_flight, hidden - self._in_flight

    def hide(self, message: SimMessage, until: float) -> None:
        """Make a held message visible (again) at ``until``; in flight if it has a receipt.

        Raises:
            KeyError: ``message`` is not held here.
        """
        key = message.key
        if self._messages.get(key) is not message:
            raise KeyError(key)
        self._unplace(key)
        message.visible_at = until
        self._place(key, message)

    @contextlib.contextmanager
    def receiving(self, now: float) -> Iterator[None]:
        """A receive at ``now``: :meth:`pick` draws among the messages visible as it began."""
        self.settle(now)
        self._receiving = []
        try:
            yield
        finally:
            shown, self._receiving = self._receiving, None
            for key in shown:
                slot = self._slot.get(key)
                if slot is not None and key not in self._hidden:
                    self._visible.add(slot)

    def visible(self) -> int:
        """How many messages a receive can still pick (all visible ones outside a receive)."""
        return len(self._visible)

    def pick(self, rank: int) -> SimMessage:
        """Take the visible message with ``rank`` visible ones before it in arrival order out
        of this receive's choices.

        Raises:
            IndexError: ``rank`` is not ``0 .. visible() - 1``.
        """
        slot = self._visible.select(rank)
        self._visible.discard(slot)
        key = self._keys[slot]
        assert key is not None, "a visible slot of a deleted message"
        if self._receiving is not None:
            self._receiving.append(key)  # back among the choices after it, if still visible
        return self._messages[key]

    # -- age ------------------------------------------------------------------------------------

    def sent_by(self, when: float) -> list[SimMessage]:
        """The messages first sent at or before ``when``, in arrival order."""
        by_age, messages = self._by_age, self._messages
        found: list[tuple[float, int, int, SimMessage]] = []
        while by_age and by_age[0][0] <= when:
            entry = heapq.heappop(by_age)
            if messages.get(entry[2]) is entry[3]:
                found.append(entry)
        for entry in found:  # still held: whoever asked decides what becomes of them
            heapq.heappush(by_age, entry)
        found.sort(key=lambda entry: self._slot[entry[2]])
        return [entry[3] for entry in found]

    # -- helpers --------------------------------------------------------------------------------

    def _place(self, key: int, message: SimMessage) -> None:
        if message.visible_at <= self._now:
            self._show(key)
            return
        entry = next(self._entries)
        in_flight = bool(message.receipt)
        self._hidden[key] = (entry, in_flight)
        self._in_flight += in_flight
        heapq.heappush(self._due, (message.visible_at, entry, key))

    def _unplace(self, key: int) -> None:
        found = self._hidden.pop(key, None)
        if found is not None:
            self._in_flight -= found[1]  # its entry in _due is stale now
            if len(self._due) > 2 * len(self._hidden) + _MIN_SLOTS:
                self._due = [
                    (self._messages[k].visible_at, e, k) for k, (e, _) in self._hidden.items()
                ]
                heapq.heapify(self._due)
        else:
            self._visible.discard(self._slot[key])

    def _forget(self, key: int) -> None:
        self._unplace(key)  # its entry in _by_age is stale now
        if len(self._by_age) > 2 * len(self._messages) + _MIN_SLOTS:
            # Stale entries keep deleted messages (their bodies) alive: drop them.
            entries = self._entries
            self._by_age = [(m.sent_at, next(entries), k, m) for k, m in self._messages.items()]
            heapq.heapify(self._by_age)

    def _show(self, key: int) -> None:
        if self._receiving is not None:
            self._receiving.append(key)  # not among this receive's choices
        else:
            self._visible.add(self._slot[key])

    def _new_slot(self) -> int:
        if len(self._keys) == self._visible.size:
            self._renumber()
        self._keys.append(None)
        return len(self._keys) - 1

    def _renumber(self) -> None:
        """Give the held messages the slots 0, 1, ... in arrival order, with room for as many
        again (slots of deleted messages are not reused: the order is the slots')."""
        visible = self._visible
        was = self._slot
        self._slot = {key: slot for slot, key in enumerate(self._messages)}
        shown = [self._slot[key] for key, slot in was.items() if slot in visible]
        size = max(_MIN_SLOTS, 2 * (len(self._messages) + 1))
        self._visible = Ranks(size, shown)
        self._keys = list(self._messages)

    def _rebuild(self, now: float) -> None:
        """The index as of ``now``, from the messages (the clock was read backwards)."""
        self._now = now
        self._visible = Ranks(self._visible.size)
        self._hidden.clear()
        self._in_flight = 0
        self._due.clear()
        for key, message in self._messages.items():
            self._place(key, message)
