"""A set of small whole numbers that finds its ``i``-th smallest member fast: :class:`Ranks`.

A receive of the simulated SQS picks "the ``i``-th visible message in the order they came",
``i`` drawn from the seed. A list of the visible messages, rebuilt on every receive, made a
fan-out of ``n`` shards cost ``n`` squared; a Fenwick tree over the messages' slots (their
places in arrival order) adds, removes and finds by rank in ``log n`` steps.

Example:
    >>> ranks = Ranks(8, [5, 1, 6])
    >>> ranks.select(0), ranks.select(2), len(ranks)
    (1, 6, 3)
    >>> ranks.discard(1); ranks.add(3)
    >>> [ranks.select(i) for i in range(len(ranks))], 5 in ranks, 1 in ranks
    ([3, 5, 6], True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["Ranks"]


class Ranks:
    """A set of the whole numbers ``0 .. size - 1`` (slots), ordered, indexed by rank.

    Args:
        size: how many slots there are; a slot outside them is an ``IndexError``.
        members: the slots in the set at first.
    """

    __slots__ = ("_count", "_has", "_size", "_top", "_tree")

    def __init__(self, size: int, members: Iterable[int] = ()) -> None:
        self._size = size
        self._has = bytearray(size)
        # 1-based: _tree[j] counts the members among the slots j - lowbit(j) .. j - 1.
        tree = [0] * (size + 1)
        for slot in members:
            if not self._has[slot]:
                self._has[slot] = 1
                tree[slot + 1] = 1
        self._count = sum(self._has)
        for j in range(1, size + 1 if self._count else 0):  # in one pass, not member by member
            parent = j + (j & -j)
            if parent <= size:
                tree[parent] += tree[j]
        self._tree = tree
        self._top = 1 << (size.bit_length() - 1) if size else 0

    @property
    def size(self) -> int:
        """How many slots there are."""
        return self._size

    def __len__(self) -> int:
        return self._count

    def __contains__(self, slot: object) -> bool:
        return isinstance(slot, int) and 0 <= slot < self._size and bool(self._has[slot])

    def __iter__(self) -> Iterator[int]:
        return (slot for slot, has in enumerate(self._has) if has)

    def add(self, slot: int) -> None:
        """Put ``slot`` in the set (no change if it is in it)."""
        if self._has[slot]:
            return
        self._has[slot] = 1
        self._count += 1
        self._bump(slot, 1)

    def discard(self, slot: int) -> None:
        """Take ``slot`` out of the set (no change if it is not in it)."""
        if not self._has[slot]:
            return
        self._has[slot] = 0
        self._count -= 1
        self._bump(slot, -1)

    def select(self, rank: int) -> int:
        """The member with ``rank`` smaller members.

        Raises:
            IndexError: ``rank`` is not ``0 .. len(self) - 1``.
        """
        if not 0 <= rank < self._count:
            raise IndexError(f"rank {rank} of a set of {self._count}")
        tree, size = self._tree, self._size
        found, step = 0, self._top
        while step:
            nxt = found + step
            if nxt <= size and tree[nxt] <= rank:
                found = nxt
                rank -= tree[nxt]
            step >>= 1
        return found

    def _bump(self, slot: int, by: int) -> None:
        tree, size = self._tree, self._size
        j = slot + 1
        while j <= size:
            tree[j] += by
            j += j & -j
