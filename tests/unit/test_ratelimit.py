"""Unit tests of RateLimit: pacing, the quota window, per-shard shares, and limits across hops."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from relaystate import DONE, ConfigurationError, RateLimit, RelayJob, RelayPacket
from relaystate import clock as relay_clock
from relaystate.budget import SEND_LATENCIES
from relaystate.ports import Backend
from tests.fakes import MemoryQueues, memory_backend, sqs_event


class WallClock:
    """A fake wall clock (seconds) whose sleep advances it, and a Lambda clock (ms) in step."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    @property
    def ms(self) -> float:
        return self.now * 1000.0

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    wall = WallClock()
    monkeypatch.setattr(relay_clock, "wall", lambda: wall.now)
    monkeypatch.setattr(relay_clock, "sleep", wall.sleep)
    SEND_LATENCIES.clear()
    return wall


class Context:
    def __init__(self, clock: WallClock, timeout_ms: float) -> None:
        self.clock = clock
        self.deadline = clock.ms + timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        return int(self.deadline - self.clock.ms)


def test_pacer_spaces_permits_by_one_over_the_rate() -> None:
    limiter = RateLimit(per_second=4, headroom=0.0).limiter(None)
    limiter.take(100.0)
    assert 0.25 == pytest.approx(limiter.wait_s(100.0))
    assert 0.0 == limiter.wait_s(100.25)


def test_burst_lets_that_many_permits_go_back_to_back() -> None:
    limiter = RateLimit(per_second=10, burst=3).limiter(None)
    waits = []
    for _ in range(4):
        waits.append(limiter.wait_s(50.0))
        if waits[-1] == 0:
            limiter.take(50.0)
    assert [0.0, 0.0, 0.0] == waits[:3]
    assert waits[3] > 0


def test_quota_blocks_until_the_next_window() -> None:
    limiter = RateLimit(per_day=2, window_s=100).limiter(None)
    limiter.take(1_005.0)
    limiter.take(1_006.0)
    assert 94.0 == pytest.approx(limiter.wait_s(1_006.0))
    assert 0.0 == limiter.wait_s(1_100.0)  # a new window


def test_a_daily_window_starts_at_midnight_utc() -> None:
    limiter = RateLimit(per_day=1).limiter(None)
    noon = 1_800_000_000.0 - 1_800_000_000.0 % 86_400 + 43_200
    limiter.take(noon)
    assert 43_200.0 == pytest.approx(limiter.wait_s(noon))


def test_fan_out_shards_share_the_limits() -> None:
    limiter = RateLimit(per_second=14, per_day=50_000).limiter(None, shards=4)
    assert (14 * 0.98 / 4, 12_500) == (limiter.rate, limiter.quota)


def test_shares_can_be_turned_off() -> None:
    limiter = RateLimit(per_second=14, per_shard=False).limiter(None, shards=4)
    assert 14 * 0.98 == limiter.rate


def test_state_round_trip_keeps_the_pace() -> None:
    first = RateLimit(per_second=2, headroom=0.0).limiter(None)
    first.take(10.0)
    second = RateLimit(per_second=2, headroom=0.0).limiter(first.state())
    assert 0.5 == pytest.approx(second.wait_s(10.0))


def test_delay_is_chained_in_steps_of_900_seconds() -> None:
    limiter = RateLimit(per_day=1).limiter(None)
    delays = (limiter.delay_for(40_000), limiter.delay_for(900), limiter.delay_for(0.2))
    assert (900, 900, 1) == delays


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"per_second": 0}, "per_second must be a number > 0 or None"),
        ({"per_day": -1}, "per_day must be a number > 0 or None"),
        ({"burst": 0}, "burst must be a number > 0, got 0"),
        ({"burst": None}, "burst must be a number > 0, got None"),
        ({"window_s": None}, "window_s must be a number > 0"),
        ({"per_second": True}, "per_second must be a number > 0 or None, got True"),
        ({"headroom": 1.0}, "headroom must be a number >= 0 and < 1"),
        ({"max_wait_s": -1}, "max_wait_s must be a number >= 0"),
        ({"per_shard": "yes"}, "per_shard must be True or False"),
    ],
)
def test_bad_limits_are_refused_with_what_is_allowed(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^RateLimit.{message}"):
        RateLimit(**bad)


def test_zero_headroom_and_zero_wait_are_allowed() -> None:
    limit = RateLimit(per_second=14, headroom=0, max_wait_s=0)
    assert 14 == limit.limiter(None).rate


# -- in a job --------------------------------------------------------------------------------


class Mailer(RelayJob):
    """Sends data["n"] mails; every mail is one unit and takes 1 ms."""

    function_name = "mailer-worker"
    rate_limit = RateLimit(per_second=10, per_day=30, window_s=3_600, max_wait_s=1.0)
    sent_at: ClassVar[list[float]] = []
    wall: ClassVar[WallClock]

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Mailer.sent_at.append(Mailer.wall.now)
        Mailer.wall.now += 0.001
        return DONE if cursor + 1 >= self.data["n"] else cursor + 1


def hop(backend: Backend, clock: WallClock, timeout_ms: float = 60_000) -> RelayPacket:
    queues = backend.queues
    assert isinstance(queues, MemoryQueues)
    (url,) = [u for u, q in queues.queues.items() if not q.name.endswith("-dlq")]
    body = queues.pop(url)
    Mailer.handle(sqs_event(body), Context(clock, timeout_ms), backend=backend)
    messages = queues.queues[url].messages if url in queues.queues else []
    return RelayPacket.from_json(messages[0][0]) if messages else RelayPacket.from_json(body)


def test_a_hop_waits_for_short_waits_and_never_exceeds_the_rate(clock: WallClock) -> None:
    Mailer.wall, Mailer.sent_at = clock, []
    backend = memory_backend()
    Mailer(data={"n": 25}, backend=backend).start()
    hop(backend, clock)
    gaps = [b - a for a, b in zip(Mailer.sent_at, Mailer.sent_at[1:], strict=False)]
    assert min(gaps) >= 0.1 - 1e-6
    assert 25 == len(Mailer.sent_at)


def test_a_spent_quota_relays_with_a_delay_instead_of_sleeping(clock: WallClock) -> None:
    Mailer.wall, Mailer.sent_at = clock, []
    backend = memory_backend()
    Mailer(data={"n": 100}, backend=backend).start()
    nxt = hop(backend, clock)
    assert 30 == len(Mailer.sent_at)  # the window's quota, then the hop ends
    queues = backend.queues
    assert isinstance(queues, MemoryQueues)
    (url,) = [u for u, q in queues.queues.items() if not q.name.endswith("-dlq")]
    (_, delay) = queues.queues[url].messages[0]
    assert 900 == delay  # the window ends in ~3,597 s: chained in 900-s steps
    assert 30 == nxt.rate["used"]


def test_a_delayed_hop_that_is_still_too_early_relays_again_without_a_unit(
    clock: WallClock,
) -> None:
    Mailer.wall, Mailer.sent_at = clock, []
    backend = memory_backend()
    Mailer(data={"n": 100}, backend=backend).start()
    hop(backend, clock)
    clock.now += 900
    nxt = hop(backend, clock)
    assert 30 == len(Mailer.sent_at)
    assert 0 == nxt.stats.units - 30


def test_the_quota_resets_in_the_next_window_and_the_job_finishes(clock: WallClock) -> None:
    Mailer.wall, Mailer.sent_at = clock, []
    backend = memory_backend()
    Mailer(data={"n": 45}, backend=backend).start()
    hop(backend, clock)
    clock.now += 3_600
    hop(backend, clock)
    assert 45 == len(Mailer.sent_at)
    queues = backend.queues
    assert isinstance(queues, MemoryQueues)
    assert {} == queues.queues  # finished and torn down


def test_the_rate_holds_across_hops(clock: WallClock) -> None:
    class Fast(Mailer):
        rate_limit = RateLimit(per_second=5, max_wait_s=1.0)

    Mailer.wall, Mailer.sent_at = clock, []
    backend = memory_backend()
    Fast(data={"n": 40}, backend=backend).start()
    queues = backend.queues
    assert isinstance(queues, MemoryQueues)
    while queues.queues:
        (url,) = [u for u, q in queues.queues.items() if not q.name.endswith("-dlq")]
        Fast.handle(sqs_event(queues.pop(url)), Context(clock, 1_500), backend=backend)
    gaps = [b - a for a, b in zip(Mailer.sent_at, Mailer.sent_at[1:], strict=False)]
    assert min(gaps) >= 0.2 - 1e-6  # no burst at the start of a hop
    assert 40 == len(Mailer.sent_at)
