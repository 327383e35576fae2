"""The simulated queue's index of its messages says what a scan of them says, always.

Unit tier: no endpoint. :class:`~relaystate.testing.sim.held.Held` answers the counts, the
receive's choices and what outlived the retention from indexes; here a scan of the same
messages (what the simulator did before issue 15) is run beside it through random puts,
deletes, receives, visibility changes and moves of the clock, and the two must agree at every
step.
"""

from __future__ import annotations

import random
import weakref

import pytest

from relaystate.testing.sim.held import Held
from relaystate.testing.sim.message import SimMessage
from relaystate.testing.sim.ranks import Ranks


def scanned_counts(messages: dict[int, SimMessage], now: float) -> tuple[int, int, int]:
    visible = sum(1 for m in messages.values() if m.visible_at <= now)
    in_flight = sum(1 for m in messages.values() if m.visible_at > now and m.receipt)
    return visible, in_flight, len(messages) - visible - in_flight


class Twin:
    """A :class:`Held` and a plain dict of the same messages, changed together."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.held = Held()
        self.plain: dict[int, SimMessage] = {}
        self.now = 0.0
        self.keys = 0

    def message(self, key: int) -> SimMessage:
        rng = self.rng
        found = SimMessage(
            key,
            f"m-{key}",
            "x",
            sent_at=self.now - rng.choice([0.0, rng.uniform(0, 50)]),
            visible_at=self.now + rng.choice([0.0, rng.uniform(-5, 20)]),
        )
        found.receipt = rng.choice([0, 0, 1])
        return found

    def put(self) -> None:
        self.keys += 1
        message = self.message(self.keys)
        self.held[message.key] = message
        self.plain[message.key] = message

    def replace(self) -> None:
        key = self.rng.choice(list(self.plain))
        message = self.message(key)
        self.held[key] = message
        self.plain[key] = message

    def delete(self) -> None:
        key = self.rng.choice(list(self.plain))
        if self.rng.random() < 0.5:
            del self.held[key]
        else:
            self.held.pop(key)
        del self.plain[key]

    def hide(self) -> None:
        message = self.rng.choice(list(self.plain.values()))
        self.held.hide(message, self.now + self.rng.uniform(0, 30))

    def receive(self) -> None:
        rng, now = self.rng, self.now
        choices = [m for m in self.plain.values() if m.visible_at <= now]
        with self.held.receiving(now):
            while choices and rng.random() < 0.8:
                assert len(choices) == self.held.visible()
                rank = rng.randrange(len(choices))
                message = choices.pop(rank)
                assert message is self.held.pick(rank)
                if rng.random() < 0.3:  # moved to a dead-letter queue
                    del self.held[message.key], self.plain[message.key]
                else:  # received: visible again after its visibility timeout (0 or more)
                    message.receipt += 1
                    self.held.hide(message, now + rng.choice([0.0, rng.uniform(0, 30)]))
                if rng.random() < 0.1:  # a copy due at once: not a choice of this receive
                    self.put()
                    self.held.hide(self.plain[self.keys], now)
                assert scanned_counts(self.plain, now) == self.held.counts(now)
        assert sum(1 for m in self.plain.values() if m.visible_at <= now) == self.held.visible()

    def check(self) -> None:
        assert scanned_counts(self.plain, self.now) == self.held.counts(self.now)
        assert list(self.plain) == list(self.held)
        cut = self.now - self.rng.uniform(0, 40)
        assert [m for m in self.plain.values() if m.sent_at <= cut] == self.held.sent_by(cut)


@pytest.mark.parametrize("seed", range(12))
def test_the_index_agrees_with_a_scan_of_the_messages(seed: int) -> None:
    rng = random.Random(seed)
    twin = Twin(rng)
    for _ in range(1_500):
        what = rng.random()
        if what < 0.35 or not twin.plain:
            twin.put()
        elif what < 0.45:
            twin.delete()
        elif what < 0.5:
            twin.replace()
        elif what < 0.6:
            twin.hide()
        elif what < 0.75:
            twin.receive()
        elif what < 0.98:
            twin.now += rng.uniform(0, 3)
        else:
            twin.now -= rng.uniform(0, 10)  # a clock read backwards: rebuilt, still exact
        twin.check()


def test_a_receive_picks_among_the_messages_visible_as_it_began() -> None:
    held = Held()
    for key in (1, 2, 3):
        held[key] = SimMessage(key, f"m-{key}", "x", sent_at=0.0, visible_at=0.0)

    with held.receiving(1.0):
        first = held.pick(0)
        held.hide(first, 1.0)  # a visibility timeout of 0: visible again at once
        held[4] = SimMessage(4, "m-4", "x", sent_at=1.0, visible_at=1.0)
        picks = [held.pick(held.visible() - 1).key, held.pick(0).key]

    assert (1, [3, 2]) == (first.key, picks)
    assert (4, (4, 0, 0)) == (held.visible(), held.counts(1.0))


def test_a_queue_that_takes_many_more_messages_than_it_holds_keeps_their_order() -> None:
    held = Held()
    for key in range(1, 20_001):  # its slots are renumbered many times over
        held[key] = SimMessage(key, f"m-{key}", "x", sent_at=0.0, visible_at=0.0)
        if key > 3:
            del held[key - 3]

    with held.receiving(0.0):
        picked = [held.pick(0).key for _ in range(3)]

    assert [19_998, 19_999, 20_000] == picked


def test_a_hidden_message_not_held_is_refused() -> None:
    held = Held()
    stranger = SimMessage(1, "m-1", "x", sent_at=0.0, visible_at=0.0)

    with pytest.raises(KeyError):
        held.hide(stranger, 5.0)


def test_ranks_find_the_ith_member_as_a_sorted_list_does() -> None:
    rng = random.Random(4)
    ranks, members = Ranks(300), set[int]()
    for _ in range(3_000):
        slot = rng.randrange(300)
        if rng.random() < 0.5:
            ranks.add(slot)
            members.add(slot)
        else:
            ranks.discard(slot)
            members.discard(slot)
        ordered = sorted(members)
        assert len(ordered) == len(ranks)
        if ordered:
            rank = rng.randrange(len(ordered))
            assert ordered[rank] == ranks.select(rank)
    assert sorted(members) == list(ranks)
    with pytest.raises(IndexError):
        ranks.select(len(members))


def test_deleted_messages_are_not_kept_alive_by_the_index() -> None:
    held = Held()
    gone = []
    for key in range(1, 5_001):
        message = SimMessage(key, f"m-{key}", "a body", sent_at=0.0, visible_at=float(key))
        held[key] = message
        held.hide(message, key + 30.0)
        if key % 10:
            gone.append(weakref.ref(message))
            del held[key]
    del message

    # Not at once (stale entries are dropped in bulk, when they outnumber the live ones), but
    # never more of them than the queue holds, give or take a few.
    assert sum(1 for ref in gone if ref() is not None) <= len(held) + 64
